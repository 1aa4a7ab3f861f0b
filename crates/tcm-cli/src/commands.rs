//! The subcommands.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tcm_blocking::{CallOptions, Client, ClientOptions, Shm};
use tcm_proto::jsonrpc::Call;
use tcm_proto::management::ManagementResult;
use tcm_proto::{
    AuthContext, ClientIdentity, Config, GetQueueStats, InferenceRequest, InfoRequest,
    ManagementRequest, Protocol, Secret, StreamFrame, TensorInput,
};

use crate::cli::{self, Cli, Command, InferenceArgs, ProtocolArg};
use crate::failure::Failure;
use crate::inputs;
use crate::latency::{self, Latencies};
use crate::onnx;
use crate::output::{self, Format};
use crate::progress::Progress;

/// Runs the command line's subcommand.
pub fn run(cli: Cli) -> Result<(), Failure> {
    match &cli.command {
        Command::Serve {
            bind,
            profile,
            seed,
        } => serve(bind, profile, *seed),
        Command::Demo => demo(&cli),
        Command::Rpc {
            url,
            api_key,
            run_uuid,
            method,
            params,
        } => rpc(&cli, url, api_key, run_uuid.clone(), method, params),
        Command::Health => probe(&cli, "/health"),
        Command::Ready => probe(&cli, "/ready"),
        Command::QueueStats {
            repeat,
            concurrency,
        } => queue_stats(&cli, *repeat, *concurrency),
        Command::Management {
            action,
            payload,
            raw,
        } => management(&cli, action.as_deref(), payload, *raw),
        Command::InferenceHttp(args) => inference(
            &cli,
            &args.inference,
            args.protocol == ProtocolArg::Grpc,
            args.shm,
            false,
        ),
        Command::Stream(args) => inference(&cli, args, true, false, true),
        Command::ModelAnalyze {
            path,
            name,
            payload_template,
        } => model_analyze(cli.output, path, name, payload_template.as_deref()),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut cli::command(), "tcm", &mut script);
            // A reader that stops early (`| head`) is not an error.
            let _ = std::io::stdout().write_all(&script);
            Ok(())
        }
    }
}

fn model_analyze(
    format: Format,
    path: &Path,
    name: &str,
    template: Option<&Path>,
) -> Result<(), Failure> {
    let report = onnx::analyze(path, name)?;
    if let Some(out) = template {
        let text = onnx::payload_template(&report)?.to_text()?;
        std::fs::write(out, text)
            .map_err(|e| Failure::Usage(format!("cannot write {}: {e}", out.display())))?;
    }
    match format {
        Format::Json => output::json(&report),
        Format::Table => {
            println!("{}  ({})", report.name, report.path);
            let rows = report
                .inputs
                .iter()
                .map(|io| ("input", io))
                .chain(report.outputs.iter().map(|io| ("output", io)))
                .map(|(kind, io)| {
                    [
                        kind.to_owned(),
                        io.name.clone(),
                        io.dtype.clone(),
                        format!("{:?}", io.shape),
                    ]
                })
                .collect::<Vec<_>>();
            output::table(&["", "NAME", "DTYPE", "SHAPE"], &rows);
        }
    }
    Ok(())
}

/// One management action; the reply is printed typed for the actions with a known shape.
fn management(cli: &Cli, action: Option<&str>, payload: &Path, raw: bool) -> Result<(), Failure> {
    let text = read(payload)?;
    let (action, body) = management_body(&text, action, &payload.display().to_string())?;
    let client = connect(cli, false)?;
    let reply = {
        let _wait = Progress::spinner(format!("management {action}"));
        client.call(ManagementRequest::new(action.as_str(), body), timeout(cli)?)
    };
    client.close();
    let reply = reply?;
    if raw {
        output::print(cli.output, reply.data());
        return Ok(());
    }
    let result = reply
        .result()
        .map_err(|e| Failure::Request(format!("{e}; the reply's data: {}", reply.data())))?;
    print_management(cli.output, &result);
    Ok(())
}

/// Prints a typed management result: JSON keeps the server's key names (so a saved
/// `creation` result is an `inference-http --endpoint` file); a table lists the tensors.
fn print_management(format: Format, result: &ManagementResult) {
    match (format, result) {
        (Format::Table, ManagementResult::Model(m)) => {
            let rows: Vec<[String; 2]> = [
                ("vm_ip", m.vm_ip.as_deref()),
                ("container_id", m.container_id.as_deref()),
                ("model_name", Some(m.model_name.as_str())),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| [k.to_owned(), v.to_owned()]))
            .collect();
            output::table(&["", ""], &rows);
            let tensors: Vec<[String; 4]> = m
                .inputs
                .iter()
                .map(|t| ("input", t))
                .chain(m.outputs.iter().map(|t| ("output", t)))
                .map(|(kind, t)| {
                    [
                        kind.to_owned(),
                        t.name.clone(),
                        t.datatype()
                            .map_or_else(|| t.type_name.clone(), |d| d.as_str().to_owned()),
                        format!("{:?}", t.dims),
                    ]
                })
                .collect();
            if !tensors.is_empty() {
                println!();
                output::table(&["", "NAME", "DATATYPE", "DIMS"], &tensors);
            }
        }
        (_, ManagementResult::Untyped(data)) => output::print(format, data),
        (Format::Json, typed) => output::json(typed),
        (Format::Table, typed) => output::print(format, &json!(typed)),
    }
}

fn timeout(cli: &Cli) -> Result<Duration, Failure> {
    Duration::try_from_secs_f64(cli.timeout)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            Failure::Usage(format!(
                "--timeout must be a positive number of seconds, got {}",
                cli.timeout
            ))
        })
}

fn read(path: &std::path::Path) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))
}

fn options(cli: &Cli) -> Result<ClientOptions, Failure> {
    let t = timeout(cli)?;
    let mut o = ClientOptions::default()
        .with_connect_timeout(t)
        .with_http_timeout(t);
    if let Some(path) = &cli.ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?;
        o = o.with_ca_pem(pem);
    }
    Ok(o)
}

/// Credentials as the official SDK builds them: a client block when roles, a subject or a
/// tenant are given (the subject defaults to the uuid).
fn auth(cli: &Cli) -> AuthContext {
    let roles: Vec<String> = cli
        .roles
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect();
    let client = (!roles.is_empty() || cli.sub.is_some() || cli.tenant_id.is_some()).then(|| {
        ClientIdentity {
            sub: Some(cli.sub.clone().unwrap_or_else(|| cli.uuid.clone())),
            tenant_id: cli.tenant_id.clone(),
            roles,
        }
    });
    AuthContext {
        token: cli.token.clone().map(Secret::new),
        client,
    }
}

fn connect_to(cli: &Cli, url: &str, shm: bool) -> Result<Client, Failure> {
    let t = timeout(cli)?;
    let mut config = Config::new(cli.uuid.clone());
    if !cli.capability.is_empty() {
        config.capabilities = cli.capability.clone();
    }
    if shm && !config.capabilities.iter().any(|c| c == "shm") {
        config.capabilities.push("shm".to_owned());
    }
    config.timeouts.info = t;
    config.timeouts.management = t;
    config.timeouts.inference = t;
    config.timeouts.stream = t;
    config.auth_timeout = t;
    // One-shot commands fail fast instead of reconnecting.
    config.reconnect = None;
    Ok(Client::connect_with(url, auth(cli), config, options(cli)?)?)
}

fn connect(cli: &Cli, shm: bool) -> Result<Client, Failure> {
    connect_to(cli, cli.uri(), shm)
}

fn probe(cli: &Cli, path: &str) -> Result<(), Failure> {
    let response = tcm_blocking::probe(cli.uri(), path, &options(cli)?)?;
    let body: Value = serde_json::from_slice(&response.body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&response.body).into_owned()));
    output::print(
        cli.output,
        &json!({"status": response.status, "body": body}),
    );
    if response.status == 200 {
        Ok(())
    } else {
        Err(Failure::Request(format!(
            "GET {path} answered HTTP {}",
            response.status
        )))
    }
}

/// What the calls to one replica gave: latencies in milliseconds, and errors.
type Outcomes = (Mutex<Vec<f64>>, Mutex<Vec<String>>);

fn queue_stats(cli: &Cli, repeat: usize, concurrency: usize) -> Result<(), Failure> {
    if repeat == 0 || concurrency == 0 {
        return Err(Failure::Usage(
            "--repeat and --concurrency must be at least 1".into(),
        ));
    }
    let t = timeout(cli)?;
    if repeat == 1 {
        let client = connect(cli, false)?;
        let data = client.call(InfoRequest::queue_stats(), t);
        client.close();
        output::print(cli.output, &data?);
        return Ok(());
    }
    // One connection per replica; call `n` goes to replica `n % replicas`.
    let clients = cli
        .uri
        .iter()
        .map(|uri| connect_to(cli, uri, false))
        .collect::<Result<Vec<_>, _>>()?;
    let replicas: Vec<Outcomes> = clients
        .iter()
        .map(|_| (Mutex::new(Vec::new()), Mutex::new(Vec::new())))
        .collect();
    let next = AtomicUsize::new(0);
    let progress = Progress::bar(repeat as u64, "requests");
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..concurrency.min(repeat) {
            let (clients, replicas, next, progress) = (&clients, &replicas, &next, &progress);
            s.spawn(move || {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= repeat {
                        break;
                    }
                    let r = n % clients.len();
                    let t0 = Instant::now();
                    match clients[r].call(GetQueueStats, t) {
                        Ok(_) => lock(&replicas[r].0).push(t0.elapsed().as_secs_f64() * 1e3),
                        Err(e) => lock(&replicas[r].1).push(e.to_string()),
                    }
                    progress.step();
                }
            });
        }
    });
    let elapsed = start.elapsed().as_secs_f64();
    drop(progress);
    clients.iter().for_each(Client::close);
    let per_replica: Vec<(Latencies, Vec<String>)> = replicas
        .iter()
        .map(|(l, e)| {
            let latencies = Latencies::new(std::mem::take(&mut *lock(l)));
            (latencies, std::mem::take(&mut *lock(e)))
        })
        .collect();
    let latencies = Latencies::new(
        per_replica
            .iter()
            .flat_map(|(l, _)| l.samples().iter().copied())
            .collect(),
    );
    let errors: Vec<String> = per_replica.iter().flat_map(|(_, e)| e.clone()).collect();
    let succeeded = repeat - errors.len();
    let throughput = latency::sig3(succeeded as f64 / elapsed.max(1e-9));
    let several = cli.uri.len() > 1;
    match cli.output {
        Format::Json => {
            let mut summary = json!({
                "requests": repeat,
                "succeeded": succeeded,
                "failed": errors.len(),
                "concurrency": concurrency,
                "throughput_per_s": throughput,
                "latency_ms": latencies.to_json(),
            });
            if several {
                summary["replicas"] = cli
                    .uri
                    .iter()
                    .zip(&per_replica)
                    .map(|(uri, (l, e))| {
                        json!({"uri": uri, "succeeded": l.len(), "failed": e.len(), "latency_ms": l.to_json()})
                    })
                    .collect();
            }
            output::print(cli.output, &json!({"queue_stats_summary": summary}));
        }
        Format::Table => {
            let mut rows = vec![
                ["requests".to_owned(), repeat.to_string()],
                ["succeeded".to_owned(), succeeded.to_string()],
                ["failed".to_owned(), errors.len().to_string()],
                ["concurrency".to_owned(), concurrency.to_string()],
                ["throughput".to_owned(), format!("{throughput} /s")],
            ];
            for (label, ms) in latencies.stats() {
                rows.push([format!("latency {label}"), latency::human(ms)]);
            }
            output::table(&["", ""], &rows);
            if several {
                println!("\nper replica");
                let rows: Vec<[String; 4]> = cli
                    .uri
                    .iter()
                    .zip(&per_replica)
                    .map(|(uri, (l, e))| {
                        let p50 = if l.is_empty() {
                            "-".to_owned()
                        } else {
                            latency::human(l.percentile(0.5))
                        };
                        [uri.clone(), l.len().to_string(), e.len().to_string(), p50]
                    })
                    .collect();
                output::table(&["replica", "succeeded", "failed", "p50"], &rows);
            }
            let histogram = latencies.histogram(8, 30);
            if !histogram.is_empty() {
                println!("\nlatency histogram");
                for row in histogram {
                    println!("  {row}");
                }
            }
        }
    }
    match errors.first() {
        None => Ok(()),
        Some(first) => Err(Failure::Request(format!(
            "{} of {repeat} requests failed; first: {first}",
            errors.len()
        ))),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The action and payload body of a management command: the file holds a payload body or a
/// full `{uuid, type:"management", payload}` envelope.
fn management_body(
    text: &str,
    action: Option<&str>,
    path: &str,
) -> Result<(String, Map<String, Value>), Failure> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Failure::Usage(format!("{path}: invalid JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(Failure::Usage(format!(
            "{path}: expected a JSON object (a payload body or a full envelope)"
        )));
    };
    let mut body = match (obj.get("type"), obj.get("payload")) {
        (Some(Value::String(t)), Some(Value::Object(p))) if t == "management" => p.clone(),
        (Some(_), Some(_)) => {
            return Err(Failure::Usage(format!(
                "{path}: an envelope must have type \"management\" and an object payload"
            )));
        }
        _ => obj,
    };
    let own = body
        .remove("action")
        .and_then(|a| a.as_str().map(str::to_owned));
    let action = action
        .map(str::to_owned)
        .or(own)
        .unwrap_or_else(|| "creation".to_owned());
    Ok((action, body))
}

/// Where an inference goes: the flags, else the `--endpoint` file (a saved `creation` result
/// or the server's `data` of one).
fn target(args: &InferenceArgs) -> Result<(Option<String>, String, String), Failure> {
    let endpoint = match &args.endpoint {
        None => Value::Null,
        Some(p) => {
            let shown = p.display().to_string();
            let value: Value = serde_json::from_str(&read(p)?)
                .map_err(|e| Failure::Usage(format!("{shown}: invalid JSON: {e}")))?;
            // A saved `tcm management --raw` reply may still be a whole envelope.
            match value.pointer("/payload/data") {
                Some(data) => data.clone(),
                None => value,
            }
        }
    };
    let field = |flag: &Option<String>, key: &str| {
        flag.clone()
            .or_else(|| endpoint.get(key).and_then(Value::as_str).map(str::to_owned))
    };
    let missing = |key: &str| {
        Failure::Usage(format!(
            "no {key}: give --{} or an --endpoint file with `{key}`",
            key.replace('_', "-")
        ))
    };
    Ok((
        field(&args.vm_ip, "vm_ip"),
        field(&args.container_id, "container_id").ok_or_else(|| missing("container_id"))?,
        field(&args.model_name, "model_name").ok_or_else(|| missing("model_name"))?,
    ))
}

/// One inference: over gRPC when `grpc` (frames printed as they come when `live`), through
/// shared memory when `shm`.
fn inference(
    cli: &Cli,
    args: &InferenceArgs,
    grpc: bool,
    shm: bool,
    live: bool,
) -> Result<(), Failure> {
    if shm && grpc {
        return Err(Failure::Usage(
            "--shm works over HTTP only: the server refuses shared memory on gRPC".into(),
        ));
    }
    let (vm_ip, container_id, model_name) = target(args)?;
    let mut inputs: Vec<TensorInput> = match &args.payload {
        Some(p) => {
            let shown = p.display().to_string();
            let raw = inputs::from_payload(&read(p)?, &shown)?;
            if shm {
                // Shared memory takes typed tensors: the payload's values are read as such.
                raw.into_iter()
                    .map(|i| inputs::typed(i, &shown))
                    .collect::<Result<_, _>>()?
            } else {
                raw
            }
        }
        None => Vec::new(),
    };
    for spec in &args.inputs {
        inputs.push(inputs::parse_spec(spec)?.into());
    }
    if inputs.is_empty() {
        return Err(Failure::Usage(
            "no inputs: give --payload FILE or --input name:shape:dtype=values".into(),
        ));
    }
    let request = {
        let mut r = InferenceRequest::for_container(container_id, model_name)
            .with_inputs(inputs)
            .with_allow_transient(args.allow_transient);
        r.vm_ip = vm_ip;
        r.output_name = args.output_name.clone();
        r.vm_id = args.vm_id.clone();
        r.protocol = if grpc { Protocol::Grpc } else { Protocol::Http };
        r.pipeline = None;
        r
    };
    let client = connect(cli, shm)?;
    let t = Some(timeout(cli)?);
    let result = if grpc {
        print_stream(&client, request, t, cli.output, live)
    } else {
        let reply = {
            let _wait = Progress::spinner("inference".to_owned());
            if shm {
                infer_shm(&client, request, t)
            } else {
                client.call(request, t)
            }
        };
        reply.map_err(Failure::from).map(|out| {
            output::print(
                cli.output,
                &json!({"model_name": out.model_name, "outputs": Value::Object(out.outputs.to_json())}),
            );
        })
    };
    client.close();
    result
}

#[cfg(unix)]
fn infer_shm(
    client: &Client,
    request: InferenceRequest,
    t: Option<Duration>,
) -> Result<tcm_blocking::InferenceOutput, tcm_blocking::Error> {
    client.call(request, CallOptions::from(t).shm(Shm::Required))
}

#[cfg(not(unix))]
fn infer_shm(
    _: &Client,
    _: InferenceRequest,
    _: Option<Duration>,
) -> Result<tcm_blocking::InferenceOutput, tcm_blocking::Error> {
    Err(tcm_blocking::Error::UnexpectedResponse(
        "shared memory needs a Unix host",
    ))
}

fn print_stream(
    client: &Client,
    request: InferenceRequest,
    t: Option<Duration>,
    format: Format,
    live: bool,
) -> Result<(), Failure> {
    let mut frames = client.stream(request, t)?;
    let mut text = String::new();
    let mut out = std::io::stdout();
    for frame in frames.by_ref() {
        match frame? {
            StreamFrame::Start if live && format == Format::Json => {
                println!("{}", json!({"status": "START"}))
            }
            StreamFrame::Start => {}
            StreamFrame::Chunk(c) => {
                if live {
                    match format {
                        Format::Json => println!("{}", json!({"status": "ONGOING", "data": c})),
                        Format::Table => print!("{c}"),
                    }
                    let _ = out.flush();
                }
                text.push_str(&c);
            }
        }
    }
    let model = match frames.completion() {
        Some(tcm_proto::Response::Inference { model_name, .. }) => model_name.clone(),
        _ => None,
    };
    match (live, format) {
        (true, Format::Json) => println!("{}", json!({"status": "COMPLETED", "model_name": model})),
        (true, Format::Table) => println!(),
        (false, _) => output::print(format, &json!({"model_name": model, "text": text})),
    }
    Ok(())
}

fn serve(bind: &str, profile: &str, seed: Option<u64>) -> Result<(), Failure> {
    let mut config = tcm_testserver::Config::profile(profile).map_err(|e| {
        Failure::Usage(format!(
            "{e}; known profiles: {}",
            tcm_testserver::Config::PROFILES.join(", ")
        ))
    })?;
    config.bind = bind
        .parse()
        .map_err(|_| Failure::Usage(format!("invalid --bind address '{bind}'")))?;
    if let Some(s) = seed {
        config.seed = s;
    }
    let server = tcm_testserver::TestServer::start(config)
        .map_err(|e| Failure::Connection(e.to_string()))?;
    println!("{}", server.ws_url());
    eprintln!(
        "tcm: serving profile '{profile}' at {} (Ctrl-C to stop)",
        server.ws_url()
    );
    loop {
        std::thread::park();
    }
}

/// One JSON-RPC call. Server → client requests during the call get -32601 (no handlers).
fn rpc(
    cli: &Cli,
    url: &str,
    api_key: &str,
    run_uuid: Option<String>,
    method: &str,
    params: &str,
) -> Result<(), Failure> {
    use tcm_blocking::RpcConnectError;
    use tcm_proto::jsonrpc::{CallError, RpcConfig};
    let params: Value = serde_json::from_str(params)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| Failure::Usage("--params must be a JSON object".into()))?;
    if run_uuid.is_none() {
        return Err(Failure::Usage(
            "no active run: give --run-uuid or TELLURIO_RUN_UUID".into(),
        ));
    }
    let t = timeout(cli)?;
    let mut config = RpcConfig::new(api_key);
    config.run_uuid = run_uuid;
    config.default_timeout = t;
    config.session_timeout = t;
    config.reconnect = None;
    let options = tcm_blocking::RpcOptions::default().with_transport(options(cli)?);
    let client = tcm_blocking::RpcClient::connect_with(
        url,
        config,
        options,
        tcm_blocking::RpcHandlers::new(),
    )
    .map_err(|e| match e {
        RpcConnectError::Endpoint(e) => Failure::Usage(e.to_string()),
        RpcConnectError::Unauthorized { .. } => Failure::Request(e.to_string()),
        other => Failure::Connection(other.to_string()),
    })?;
    let result = client.send(Call::new(method, params), t);
    client.close();
    match result {
        Ok(v) => {
            output::print(cli.output, &v);
            Ok(())
        }
        Err(CallError::Rpc(e)) => Err(Failure::Request(match e.exception() {
            Some(x) => format!("{e} ({x})"),
            None => e.to_string(),
        })),
        Err(e @ (CallError::Disconnected(_) | CallError::NotConnected)) => {
            Err(Failure::Connection(e.to_string()))
        }
        Err(e) => Err(Failure::Request(e.to_string())),
    }
}

/// The README's first command: a reference server in this process and a real session with it.
fn demo(cli: &Cli) -> Result<(), Failure> {
    let mut config =
        tcm_testserver::Config::profile("dev-simple").map_err(|e| Failure::Usage(e.to_string()))?;
    config.bind = ([127, 0, 0, 1], 0).into();
    let server = tcm_testserver::TestServer::start(config)
        .map_err(|e| Failure::Connection(e.to_string()))?;
    let url = server.ws_url();
    eprintln!("tcm: reference server listening at {url}");
    let client = connect_to(cli, &url, false)?;
    let t = Some(timeout(cli)?);
    let caps = client
        .capabilities()
        .map(|c| c.as_slice().to_vec())
        .unwrap_or_default();
    let stats = client.call(InfoRequest::queue_stats(), t)?;
    let target = |model: &str, inputs: Vec<TensorInput>| {
        InferenceRequest::new("127.0.0.1", "demo", model)
            .with_inputs(inputs)
            .with_allow_transient(true)
    };
    let identity = client.call(
        target(
            "identity",
            vec![inputs::parse_spec("INPUT0:4:FP32=1,2,3,4")?.into()],
        ),
        t,
    )?;
    let add = client.call(
        target(
            "add",
            vec![
                inputs::parse_spec("INPUT0:4:FP32=1,2,3,4")?.into(),
                inputs::parse_spec("INPUT1:4:FP32=10,20,30,40")?.into(),
            ],
        ),
        t,
    )?;
    let mut stream_req = target(
        "stream",
        vec![inputs::parse_spec("INPUT0:1:FP32=3")?.into()],
    );
    stream_req.protocol = Protocol::Grpc;
    let text = client.stream(stream_req, t)?.collect_text()?;
    client.close();
    server.stop();
    output::print(
        cli.output,
        &json!({
            "server": url,
            "capabilities": caps,
            "queue_stats": stats,
            "identity": Value::Object(identity.outputs.to_json()),
            "add": Value::Object(add.outputs.to_json()),
            "stream": text,
        }),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn management_files_may_be_a_body_or_an_envelope() {
        let (a, b) = management_body(
            r#"{"action":"create_vm","openstack":{"name":"x"}}"#,
            None,
            "p",
        )
        .unwrap();
        assert_eq!(a, "create_vm");
        assert!(b.contains_key("openstack") && !b.contains_key("action"));
        let env = r#"{"uuid":"user-123","type":"management","payload":{"action":"deletion","vm_id":"v"}}"#;
        let (a, b) = management_body(env, None, "p").unwrap();
        assert_eq!(
            (a.as_str(), b.get("vm_id")),
            ("deletion", Some(&json!("v")))
        );
        let (a, _) = management_body("{}", Some("creation"), "p").unwrap();
        assert_eq!(a, "creation");
        assert!(management_body("[1]", None, "p").is_err());
        assert!(management_body(r#"{"type":"info","payload":{}}"#, None, "p").is_err());
    }

    #[test]
    fn a_printed_creation_result_is_an_endpoint_file() {
        use clap::Parser;
        let data = json!({
            "vm_ip": "192.0.2.10", "container_id": "abc", "model_name": "resnet",
            "inputs": [{"name": "INPUT__0", "type": "TYPE_FP32", "dims": [-1, 3]}],
            "outputs": []
        });
        let result = tcm_proto::management::ManagementReply::new("creation", data)
            .result()
            .unwrap();
        let printed = serde_json::to_string_pretty(&result).unwrap();
        let path = std::env::temp_dir().join(format!("tcm-endpoint-{}.json", std::process::id()));
        std::fs::write(&path, printed).unwrap();
        let endpoint = path.to_str().unwrap();
        let cli = Cli::try_parse_from(["tcm", "inference-http", "--endpoint", endpoint]).unwrap();
        let Command::InferenceHttp(args) = &cli.command else {
            panic!("inference-http");
        };
        assert_eq!(
            target(&args.inference).unwrap(),
            (Some("192.0.2.10".into()), "abc".into(), "resnet".into())
        );
        // The server's whole reply envelope works too, and flags win over the file.
        let envelope = json!({"type": "management", "payload": {"status": true, "data":
            {"vm_ip": "192.0.2.11", "container_id": "def", "model_name": "m"}}});
        std::fs::write(&path, envelope.to_string()).unwrap();
        let cli = Cli::try_parse_from([
            "tcm",
            "inference-http",
            "--endpoint",
            endpoint,
            "--model-name",
            "other",
        ])
        .unwrap();
        let Command::InferenceHttp(args) = &cli.command else {
            panic!("inference-http");
        };
        assert_eq!(
            target(&args.inference).unwrap(),
            (Some("192.0.2.11".into()), "def".into(), "other".into())
        );
    }
}
