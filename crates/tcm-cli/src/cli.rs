//! Command-line arguments: a superset of the official `tcm-client-cli`.

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::output::Format;

/// The global options: accepted before or after the subcommand, as in `tcm-client-cli`.
const GLOBALS: [&str; 10] = [
    "uri",
    "uuid",
    "token",
    "sub",
    "tenant_id",
    "roles",
    "timeout",
    "capability",
    "ca_file",
    "output",
];

/// The global options each subcommand uses; the others are left out of its `--help` and
/// refused on its command line.
fn globals_used(subcommand: &str) -> &'static [&'static str] {
    match subcommand {
        "queue-stats" | "management" | "inference-http" | "stream" => &GLOBALS,
        "health" | "ready" => &["uri", "timeout", "ca_file", "output"],
        "rpc" => &["timeout", "ca_file", "output"],
        "demo" => &["timeout", "output"],
        "model-analyze" => &["output"],
        _ => &[],
    }
}

/// The command line's definition, with each subcommand's help listing only the global options
/// it uses: the others get a hidden local twin in that subcommand, which takes their place
/// (clap does not propagate a global option to a subcommand that has one of the same id).
pub fn command() -> clap::Command {
    let cmd = Cli::command();
    let globals: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter(|a| GLOBALS.contains(&a.get_id().as_str()))
        .cloned()
        .collect();
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    names.iter().fold(cmd, |cmd, name| {
        let used = globals_used(name);
        cmd.mut_subcommand(name, |sub| {
            globals
                .iter()
                .filter(|a| !used.contains(&a.get_id().as_str()))
                .fold(sub, |sub, a| sub.arg(a.clone().global(false).hide(true)))
        })
    })
}

/// Parses the process's arguments; exits with code 2 and clap's message on a usage error,
/// including a global option given to a subcommand that does not use it.
pub fn parse() -> Cli {
    let mut cmd = command();
    let matches = cmd.get_matches_mut();
    if let Some((name, sub)) = matches.subcommand() {
        if let Some(id) = unused_global(name, &matches).or_else(|| unused_global(name, sub)) {
            cmd.error(
                clap::error::ErrorKind::ArgumentConflict,
                format!("--{} is not used by `tcm {name}`", id.replace('_', "-")),
            )
            .exit();
        }
    }
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut cmd).exit())
}

fn unused_global(name: &str, matches: &ArgMatches) -> Option<&'static str> {
    let used = globals_used(name);
    GLOBALS
        .into_iter()
        .find(|id| !used.contains(id) && matches.value_source(id) == Some(ValueSource::CommandLine))
}

/// A client for the Triton Client Manager (TCM) WebSocket API.
///
/// Exit codes: 0 ok, 1 the request failed, 2 usage, 3 connection or TLS failure.
#[derive(Debug, Parser)]
#[command(name = "tcm", version, arg_required_else_help = true)]
pub struct Cli {
    /// WebSocket URL of the server's /ws endpoint. `queue-stats --repeat` takes several (the
    /// replicas of one service; repeat the flag or separate them with commas) and reports each.
    #[arg(
        long,
        env = "TCM_WS_URI",
        default_value = "ws://127.0.0.1:8000/ws",
        global = true,
        action = clap::ArgAction::Append,
        value_delimiter = ',',
        help_heading = "Connection"
    )]
    pub uri: Vec<String>,
    /// Client uuid (each connection authenticates with a uuid derived from it).
    #[arg(
        long,
        env = "TCM_CLIENT_UUID",
        default_value = "tcm-client-cli",
        global = true,
        help_heading = "Connection"
    )]
    pub uuid: String,
    /// Auth token (JWT or opaque), sent in the auth frame.
    #[arg(
        long,
        env = "TCM_CLIENT_TOKEN",
        hide_env_values = true,
        global = true,
        help_heading = "Connection"
    )]
    pub token: Option<String>,
    /// Client subject (simple-mode servers).
    #[arg(
        long,
        env = "TCM_CLIENT_SUB",
        global = true,
        help_heading = "Connection"
    )]
    pub sub: Option<String>,
    /// Tenant id (simple-mode servers).
    #[arg(
        long,
        env = "TCM_CLIENT_TENANT_ID",
        global = true,
        help_heading = "Connection"
    )]
    pub tenant_id: Option<String>,
    /// Comma-separated roles.
    #[arg(
        long,
        env = "TCM_CLIENT_ROLES",
        default_value = "inference,management",
        global = true,
        help_heading = "Connection"
    )]
    pub roles: String,
    /// Deadline of each request, and of connecting, in seconds.
    #[arg(
        long,
        default_value_t = 30.0,
        global = true,
        help_heading = "Connection"
    )]
    pub timeout: f64,
    /// Capability to request (repeatable or comma-separated), e.g. `json,shm`.
    #[arg(
        long,
        value_delimiter = ',',
        global = true,
        help_heading = "Connection"
    )]
    pub capability: Vec<String>,
    /// Extra CA certificate(s) (PEM) to trust for wss:// URLs.
    #[arg(long, global = true, help_heading = "Connection")]
    pub ca_file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "json", global = true)]
    pub output: Format,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Auth + info queue_stats, once or as a small load test (latency avg/p50/p90/p95/p99/max;
    /// a progress bar on a terminal; a histogram with `--output table`).
    QueueStats {
        /// Number of requests.
        #[arg(long, default_value_t = 1)]
        repeat: usize,
        /// Requests in flight at once (pipelined on one connection).
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
    },
    /// A management action with a JSON payload (a payload body or a full envelope).
    ///
    /// Replies of `creation`, `create_server`, `create_vm` and `deletion` are printed typed; a
    /// saved `creation` reply feeds `inference-http --endpoint`.
    Management {
        /// Print the reply's `data` exactly as the server sent it.
        #[arg(long)]
        raw: bool,
        /// The action; defaults to the payload's own `action`, else `creation`.
        #[arg(long)]
        action: Option<String>,
        /// JSON file: the payload body, or a full `{uuid,type,payload}` envelope.
        #[arg(long)]
        payload: PathBuf,
    },
    /// One HTTP inference (or gRPC with --protocol grpc, printed whole).
    InferenceHttp(HttpInferenceArgs),
    /// A gRPC streaming inference, printing frames as they come.
    Stream(InferenceArgs),
    /// GET /health on the server.
    Health,
    /// GET /ready on the server (exit 1 when not ready).
    Ready,
    /// Read an ONNX model and print its inputs and outputs (as `tcm-client-cli model-analyze`).
    ModelAnalyze {
        /// Path to an ONNX model file.
        #[arg(long)]
        path: PathBuf,
        /// Logical model name to include in the report.
        #[arg(long)]
        name: String,
        /// Also write an `inference-http --payload` file with zero-filled inputs (symbolic
        /// dimensions set to 1).
        #[arg(long, value_name = "FILE")]
        payload_template: Option<PathBuf>,
    },
    /// Print a shell completion script, e.g. `tcm completions bash > ~/.local/share/bash-completion/completions/tcm`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Run the bundled reference server until interrupted.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8000")]
        bind: String,
        /// Server profile (e.g. dev-simple, dev-simple-stock, strict-claims-only).
        #[arg(long, default_value = "dev-simple")]
        profile: String,
        /// Seed of the reply-reordering generator.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Start the reference server in-process and run real requests against it.
    Demo,
    /// Call a method on a Tellurio JSON-RPC endpoint and print its result.
    Rpc {
        /// The JSON-RPC WebSocket URL.
        #[arg(
            long,
            env = "TELLURIO_WS_URL",
            default_value = "ws://127.0.0.1:8000/ws/v0/rpc/"
        )]
        url: String,
        /// The Tellurio API key, sent as `Authorization: Api-Key <key>`.
        #[arg(long, env = "TELLURIO_API_KEY", hide_env_values = true)]
        api_key: String,
        /// The active run, added to the call as `params.run_uuid`.
        #[arg(long, env = "TELLURIO_RUN_UUID")]
        run_uuid: Option<String>,
        /// The method, e.g. `create_variable`.
        method: String,
        /// Named params as a JSON object.
        #[arg(long, default_value = "{}")]
        params: String,
    },
}

/// The target and inputs of an inference, as in `tcm-client-cli` plus typed inputs.
#[derive(Debug, Args)]
pub struct InferenceArgs {
    /// VM id (accepted and ignored by the server).
    #[arg(long)]
    pub vm_id: Option<String>,
    /// Triton host.
    #[arg(long, env = "TCM_VM_IP")]
    pub vm_ip: Option<String>,
    /// Container id.
    #[arg(long, required_unless_present = "endpoint")]
    pub container_id: Option<String>,
    /// Model name.
    #[arg(long, required_unless_present = "endpoint")]
    pub model_name: Option<String>,
    /// JSON file naming the target: the output of a successful `tcm management` creation (or
    /// the server's `data`), read for `vm_ip`, `container_id` and `model_name`. Flags override it.
    #[arg(long, value_name = "FILE")]
    pub endpoint: Option<PathBuf>,
    /// JSON file of inputs: a list, `{inputs}` or `{request:{inputs}}` (see `model-analyze
    /// --payload-template`).
    #[arg(long)]
    pub payload: Option<PathBuf>,
    /// A typed input (repeatable): `name:shape:dtype=values` (e.g. `INPUT0:4:FP32=1,2,3,4`),
    /// `name=@file.npy`, or `name:shape:dtype=@file` for raw little-endian values.
    #[arg(long = "input")]
    pub inputs: Vec<String>,
    /// Let the server reach a Triton it has not registered.
    #[arg(long)]
    pub allow_transient: bool,
    /// gRPC: the streamed output tensor.
    #[arg(long)]
    pub output_name: Option<String>,
}

/// Flags of `inference-http`: an inference, its transport, and shared-memory inputs.
#[derive(Debug, Args)]
pub struct HttpInferenceArgs {
    /// The target and inputs.
    #[command(flatten)]
    pub inference: InferenceArgs,
    /// Transport between the server and Triton.
    #[arg(long, value_enum, default_value = "http")]
    pub protocol: ProtocolArg,
    /// Send the inputs through POSIX shared memory (asks for the `shm` capability): for tensors
    /// too large for a 64 KiB JSON frame. HTTP only.
    #[arg(long)]
    pub shm: bool,
}

/// `--protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProtocolArg {
    /// One reply.
    Http,
    /// A stream.
    Grpc,
}

impl Cli {
    /// The (first) server URL.
    pub fn uri(&self) -> &str {
        self.uri
            .first()
            .map_or("ws://127.0.0.1:8000/ws", String::as_str)
    }
}
