//! Command-line arguments: a superset of the official `tcm-client-cli`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::Format;

/// A client for the Triton Client Manager (TCM) WebSocket API.
///
/// Exit codes: 0 ok, 1 the request failed, 2 usage, 3 connection or TLS failure.
#[derive(Debug, Parser)]
#[command(name = "tcm", version, arg_required_else_help = true)]
pub struct Cli {
    /// WebSocket URL of the server's /ws endpoint.
    #[arg(
        long,
        env = "TCM_WS_URI",
        default_value = "ws://127.0.0.1:8000/ws",
        global = true
    )]
    pub uri: String,
    /// Client uuid (each connection authenticates with a uuid derived from it).
    #[arg(
        long,
        env = "TCM_CLIENT_UUID",
        default_value = "tcm-client-cli",
        global = true
    )]
    pub uuid: String,
    /// Auth token (JWT or opaque), sent in the auth frame.
    #[arg(long, env = "TCM_CLIENT_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Client subject (simple-mode servers).
    #[arg(long, env = "TCM_CLIENT_SUB", global = true)]
    pub sub: Option<String>,
    /// Tenant id (simple-mode servers).
    #[arg(long, env = "TCM_CLIENT_TENANT_ID", global = true)]
    pub tenant_id: Option<String>,
    /// Comma-separated roles.
    #[arg(
        long,
        env = "TCM_CLIENT_ROLES",
        default_value = "inference,management",
        global = true
    )]
    pub roles: String,
    /// Deadline of each request, and of connecting, in seconds.
    #[arg(long, default_value_t = 30.0, global = true)]
    pub timeout: f64,
    /// Capability to request (repeatable or comma-separated), e.g. `json,shm`.
    #[arg(long, value_delimiter = ',', global = true)]
    pub capability: Vec<String>,
    /// Extra CA certificate(s) (PEM) to trust for wss:// URLs.
    #[arg(long, global = true)]
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
    /// Auth + info queue_stats, once or as a small load test (avg/p50/p95/p99).
    QueueStats {
        /// Number of requests.
        #[arg(long, default_value_t = 1)]
        repeat: usize,
        /// Requests in flight at once (pipelined on one connection).
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
    },
    /// A management action with a JSON payload (a payload body or a full envelope).
    Management {
        /// The action; defaults to the payload's own `action`, else `creation`.
        #[arg(long)]
        action: Option<String>,
        /// JSON file: the payload body, or a full `{uuid,type,payload}` envelope.
        #[arg(long)]
        payload: PathBuf,
    },
    /// One HTTP inference (or gRPC with --protocol grpc, printed whole).
    InferenceHttp(InferenceArgs),
    /// A gRPC streaming inference, printing frames as they come.
    Stream(InferenceArgs),
    /// GET /health on the server.
    Health,
    /// GET /ready on the server (exit 1 when not ready).
    Ready,
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

/// Flags of an inference, as in `tcm-client-cli` plus typed inputs.
#[derive(Debug, Args)]
pub struct InferenceArgs {
    /// VM id (accepted and ignored by the server).
    #[arg(long)]
    pub vm_id: Option<String>,
    /// Triton host.
    #[arg(long, env = "TCM_VM_IP")]
    pub vm_ip: Option<String>,
    /// Container id.
    #[arg(long)]
    pub container_id: String,
    /// Model name.
    #[arg(long)]
    pub model_name: String,
    /// JSON file of inputs: a list, `{inputs}` or `{request:{inputs}}`.
    #[arg(long)]
    pub payload: Option<PathBuf>,
    /// A typed input `name:shape:dtype=values`, e.g. `INPUT0:4:FP32=1,2,3,4` (repeatable).
    #[arg(long = "input")]
    pub inputs: Vec<String>,
    /// Let the server reach a Triton it has not registered.
    #[arg(long)]
    pub allow_transient: bool,
    /// Transport between the server and Triton.
    #[arg(long, value_enum, default_value = "http")]
    pub protocol: ProtocolArg,
    /// gRPC: the streamed output tensor.
    #[arg(long)]
    pub output_name: Option<String>,
    /// Send typed inputs through POSIX shared memory (needs the `shm` capability).
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
