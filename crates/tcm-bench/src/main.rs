//! `tcm-bench`: measures, in one run against one reference server,
//!
//! 1. lock-step `queue_stats` round trips per second: our blocking and smol clients, the official
//!    Python SDK, and a raw tungstenite client sending the same frames;
//! 2. pipelined throughput with W requests in flight (1, 16, 64, 256): our smol and async-std
//!    clients and the raw tungstenite client;
//! 3. the encode-and-send time of one 1×3×224×224 FP32 inference: ours and the SDK's;
//! 4. end to end, the same 150 528 FP32 values through the server's identity model, sent as
//!    JSON and through shared memory (the outputs come back as JSON either way).
//!
//! Every figure is the median of several repeats; the table gives ratios to the peers.
//!
//! Usage: `tcm-bench [--seconds S] [--repeats N] [--python PATH] [--json FILE]`

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tcm_proto::{
    AuthContext, Config, Connection, InferenceRequest, Request, Tensor, TensorData, Transmit,
};
use tungstenite::{Message, WebSocket, stream::MaybeTlsStream};

struct Args {
    seconds: f64,
    repeats: usize,
    python: Option<PathBuf>,
    json: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        seconds: 1.0,
        repeats: 5,
        python: std::env::var_os("TCM_PYTHON")
            .map(PathBuf::from)
            .or_else(|| {
                let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
                venv.exists().then_some(venv)
            }),
        json: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--seconds" => args.seconds = value()?.parse().map_err(|_| "bad --seconds")?,
            "--repeats" => args.repeats = value()?.parse().map_err(|_| "bad --repeats")?,
            "--python" => args.python = Some(PathBuf::from(value()?)),
            "--json" => args.json = Some(PathBuf::from(value()?)),
            "-h" | "--help" => {
                return Err(
                    "usage: tcm-bench [--seconds S] [--repeats N] [--python PATH] [--json FILE]"
                        .into(),
                );
            }
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    if args.repeats == 0 || args.seconds <= 0.0 {
        return Err("--seconds and --repeats must be positive".into());
    }
    Ok(args)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs `f` (which returns operations completed in about `seconds`) `repeats` times and returns
/// the median rate per second.
fn rate(repeats: usize, mut f: impl FnMut() -> (u64, f64)) -> f64 {
    median(
        (0..repeats)
            .map(|_| {
                let (n, secs) = f();
                n as f64 / secs
            })
            .collect(),
    )
}

fn config(uuid: &str) -> Config {
    let mut c = Config::new(uuid);
    c.max_message_bytes = 16 << 20;
    c.keepalive = None;
    c
}

// ----- raw tungstenite ------------------------------------------------------------------------

type Raw = WebSocket<MaybeTlsStream<std::net::TcpStream>>;

fn raw_connect(url: &str, uuid: &str) -> Raw {
    let (mut ws, _) = tungstenite::connect(url).expect("raw connect");
    if let MaybeTlsStream::Plain(s) = ws.get_mut() {
        let _ = s.set_nodelay(true);
    }
    ws.send(Message::text(format!(
        r#"{{"uuid":"{uuid}","type":"auth","payload":{{}}}}"#
    )))
    .expect("auth");
    let _ = ws.read().expect("auth.ok");
    ws
}

fn raw_info(uuid: &str, n: u64) -> Message {
    Message::text(format!(
        r#"{{"uuid":"{uuid}","type":"info","payload":{{"action":"queue_stats","job_id":"j{n}"}}}}"#
    ))
}

/// Keeps `window` requests in flight on one raw socket for `seconds`.
fn raw_pipelined(url: &str, window: usize, seconds: f64) -> (u64, f64) {
    let uuid = format!("raw-p{window}-{}", std::process::id());
    let mut ws = raw_connect(url, &uuid);
    let mut sent = 0u64;
    for _ in 0..window {
        sent += 1;
        ws.write(raw_info(&uuid, sent)).expect("write");
    }
    ws.flush().expect("flush");
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let mut done = 0u64;
    while Instant::now() < deadline {
        let _ = ws.read().expect("read");
        done += 1;
        sent += 1;
        ws.write(raw_info(&uuid, sent)).expect("write");
        ws.flush().expect("flush");
    }
    let secs = start.elapsed().as_secs_f64();
    let _ = ws.close(None);
    (done, secs)
}

// ----- the measurements -----------------------------------------------------------------------

fn lockstep_blocking(url: &str, seconds: f64) -> (u64, f64) {
    let client =
        tcm_blocking::Client::connect(url, AuthContext::anonymous(), config("bench-blocking"))
            .expect("connect");
    for _ in 0..100 {
        client.queue_stats().expect("warm-up");
    }
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let mut n = 0;
    while Instant::now() < deadline {
        client.queue_stats().expect("queue_stats");
        n += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    client.close();
    (n, secs)
}

fn lockstep_smol(url: &str, seconds: f64) -> (u64, f64) {
    smol::block_on(async {
        let client = tcm_smol::Client::connect(url, AuthContext::anonymous(), config("bench-smol"))
            .await
            .expect("connect");
        for _ in 0..100 {
            client.queue_stats().await.expect("warm-up");
        }
        let start = Instant::now();
        let deadline = start + Duration::from_secs_f64(seconds);
        let mut n = 0;
        while Instant::now() < deadline {
            client.queue_stats().await.expect("queue_stats");
            n += 1;
        }
        let secs = start.elapsed().as_secs_f64();
        client.close().await;
        (n, secs)
    })
}

fn lockstep_raw(url: &str, seconds: f64) -> (u64, f64) {
    let uuid = format!("raw-l-{}", std::process::id());
    let mut ws = raw_connect(url, &uuid);
    for i in 0..100 {
        ws.send(raw_info(&uuid, i)).expect("send");
        let _ = ws.read().expect("read");
    }
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let mut n = 0;
    while Instant::now() < deadline {
        ws.send(raw_info(&uuid, n)).expect("send");
        let _ = ws.read().expect("read");
        n += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    let _ = ws.close(None);
    (n, secs)
}

fn python(python: &PathBuf, mode: &str, url: &str, arg: &str) -> Option<Value> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/sdk_bench.py");
    let out = Command::new(python)
        .arg(script)
        .args([mode, url, arg])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "tcm-bench: the Python SDK run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// Keeps `window` `queue_stats` calls in flight on one async client for `seconds`, with `window`
/// tasks of the given runtime sharing it.
macro_rules! pipelined_async {
    ($name:ident, $client:ty, $block_on:path, $spawn:path, $tag:literal) => {
        fn $name(url: &str, window: usize, seconds: f64) -> (u64, f64) {
            $block_on(async {
                let uuid = format!("bench-{}-w{window}", $tag);
                let client = <$client>::connect(url, AuthContext::anonymous(), config(&uuid))
                    .await
                    .expect("connect");
                let start = Instant::now();
                let deadline = start + Duration::from_secs_f64(seconds);
                let tasks: Vec<_> = (0..window)
                    .map(|_| {
                        let c = client.clone();
                        $spawn(async move {
                            let mut n = 0u64;
                            while Instant::now() < deadline {
                                c.queue_stats().await.expect("queue_stats");
                                n += 1;
                            }
                            n
                        })
                    })
                    .collect();
                let mut total = 0;
                for t in tasks {
                    total += t.await;
                }
                let secs = start.elapsed().as_secs_f64();
                client.close().await;
                (total, secs)
            })
        }
    };
}

pipelined_async!(
    pipelined_smol,
    tcm_smol::Client,
    smol::block_on,
    smol::spawn,
    "smol"
);
pipelined_async!(
    pipelined_async_std,
    tcm_async_std::Client,
    async_std::task::block_on,
    async_std::task::spawn,
    "as"
);

/// Our encode-and-send path for one big inference: the core builds and encodes the frame (as
/// the clients do) and it is written to a raw socket. Returns milliseconds per sample.
fn encode_send_ours(url: &str, repeats: usize) -> Vec<f64> {
    let values = vec![0.123_456_7f32; 3 * 224 * 224];
    let uuid = format!("enc-{}", std::process::id());
    let mut ws = raw_connect(url, &uuid);
    let now = Instant::now();
    let mut cfg = config(&uuid);
    // The frames go out on the raw socket authenticated above, under the same uuid.
    cfg.exact_first_uuid = true;
    let mut conn = Connection::new(cfg, AuthContext::anonymous());
    let _ = conn.poll_dial();
    conn.handle_connected(now);
    while conn.poll_transmit().is_some() {}
    conn.handle_text(now, r#"{"type":"auth.ok"}"#);
    while conn.poll_event().is_some() {}
    let mut samples = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let data = values.clone();
        let t0 = Instant::now();
        let tensor =
            Tensor::new("INPUT0", vec![1, 3, 224, 224], TensorData::Fp32(data)).expect("shape");
        let req = {
            let mut r = InferenceRequest::new("127.0.0.1", "c", "identity")
                .with_inputs(vec![tensor.into()])
                .with_allow_transient(true);
            r.vm_id = Some("vm".into());
            r
        };
        let id = conn
            .request(now, Request::from(req), Some(Duration::from_secs(60)))
            .expect("accepted");
        let Some(Transmit::Text(frame)) = conn.poll_transmit() else {
            panic!("no frame")
        };
        ws.send(Message::text(frame)).expect("send");
        samples.push(t0.elapsed().as_secs_f64() * 1e3);
        let _ = ws.read();
        conn.cancel(now, id);
        while conn.poll_event().is_some() {}
        // The cancelled inference orphans the slot; its reply was read above.
        conn.handle_text(now, &format!(r#"{{"type":"inference","uuid":"{}","payload":{{"data":"x","status":"FAILED","model_name":null}}}}"#, conn.uuid()));
        while conn.poll_event().is_some() {}
    }
    let _ = ws.close(None);
    samples
}

/// Median milliseconds of one identity inference of 3×224×224 FP32 values, as JSON and
/// through shared memory, on one blocking client.
fn json_vs_shm(url: &str, repeats: usize) -> (f64, f64) {
    let mut cfg = config("bench-shm");
    cfg.capabilities = vec!["json".into(), "shm".into()];
    let client =
        tcm_blocking::Client::connect(url, AuthContext::anonymous(), cfg).expect("connect");
    let values = vec![0.123_456_7f32; 3 * 224 * 224];
    let request = || {
        InferenceRequest::new("127.0.0.1", "c", "identity")
            .with_inputs(vec![
                Tensor::vector("INPUT0", TensorData::Fp32(values.clone())).into(),
            ])
            .with_allow_transient(true)
    };
    let time = |shm: bool| {
        median(
            (0..repeats)
                .map(|_| {
                    let r = request();
                    let t0 = Instant::now();
                    let out = if shm {
                        client.infer_shm(r, false)
                    } else {
                        client.infer(r)
                    };
                    out.expect("identity inference");
                    t0.elapsed().as_secs_f64() * 1e3
                })
                .collect(),
        )
    };
    let json_ms = time(false);
    let shm_ms = time(true);
    client.close();
    (json_ms, shm_ms)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mut cfg = tcm_testserver::Config::profile("dev-simple").expect("profile");
    cfg.bind = ([127, 0, 0, 1], 0).into();
    cfg.max_message_bytes = 16 << 20;
    cfg.inference_latency_ms = (0, 0);
    let server = tcm_testserver::TestServer::start(cfg).expect("server");
    let url = server.ws_url();
    let (s, r) = (args.seconds, args.repeats);
    eprintln!("tcm-bench: server {url}; {r} repeats of {s} s each");

    let mut report = serde_json::Map::new();
    let mut rows: Vec<(String, String, String)> = Vec::new();

    // 1. lock-step
    let blocking = rate(r, || lockstep_blocking(&url, s));
    let smol_rate = rate(r, || lockstep_smol(&url, s));
    let raw = rate(r, || lockstep_raw(&url, s));
    let sdk = args.python.as_ref().and_then(|py| {
        let runs: Option<Vec<f64>> = (0..r)
            .map(|_| {
                let v = python(py, "lockstep", &url, &s.to_string())?;
                Some(v["count"].as_f64()? / v["seconds"].as_f64()?)
            })
            .collect();
        runs.map(median)
    });
    let ratio = |a: f64, b: Option<f64>| b.map_or("n/a".to_owned(), |b| format!("{:.2}×", a / b));
    for (name, v) in [
        ("tcm-blocking", blocking),
        ("tcm-smol", smol_rate),
        ("raw tungstenite", raw),
    ] {
        rows.push((
            format!("lock-step queue_stats, {name}"),
            format!("{v:.0} /s"),
            format!("{} the SDK; {:.2}× raw", ratio(v, sdk), v / raw),
        ));
    }
    rows.push((
        "lock-step queue_stats, Python SDK".into(),
        sdk.map_or("not run".into(), |v| format!("{v:.0} /s")),
        String::new(),
    ));
    report.insert(
        "lockstep_per_s".into(),
        json!({"blocking": blocking, "smol": smol_rate, "raw": raw, "python_sdk": sdk}),
    );

    // 2. pipelined
    let mut pipelined = serde_json::Map::new();
    for w in [1usize, 16, 64, 256] {
        let raw_w = rate(r, || raw_pipelined(&url, w, s));
        let smol_w = rate(r, || pipelined_smol(&url, w, s));
        let as_w = rate(r, || pipelined_async_std(&url, w, s));
        rows.push((
            format!("pipelined W={w}, raw tungstenite"),
            format!("{raw_w:.0} /s"),
            String::new(),
        ));
        rows.push((
            format!("pipelined W={w}, tcm-smol"),
            format!("{smol_w:.0} /s"),
            format!("{:.2}× raw", smol_w / raw_w),
        ));
        rows.push((
            format!("pipelined W={w}, tcm-async-std"),
            format!("{as_w:.0} /s"),
            format!("{:.2}× raw", as_w / raw_w),
        ));
        pipelined.insert(
            w.to_string(),
            json!({"raw": raw_w, "smol": smol_w, "async_std": as_w}),
        );
    }
    report.insert("pipelined_per_s".into(), Value::Object(pipelined));

    // 3. encode and send of a 1x3x224x224 FP32 inference
    let n = (r * 2).max(5);
    let ours = median(encode_send_ours(&url, n));
    let sdk_enc = args.python.as_ref().and_then(|py| {
        let v = python(py, "encode", &url, &n.to_string())?;
        let samples: Vec<f64> = v["samples_ms"]
            .as_array()?
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        Some(median(samples))
    });
    rows.push((
        "encode+send 1x3x224x224 FP32, ours".into(),
        format!("{ours:.1} ms"),
        sdk_enc.map_or("n/a".into(), |v| {
            format!("{:.1}× faster than the SDK", v / ours)
        }),
    ));
    rows.push((
        "encode+send 1x3x224x224 FP32, Python SDK".into(),
        sdk_enc.map_or("not run".into(), |v| format!("{v:.1} ms")),
        String::new(),
    ));
    report.insert(
        "encode_send_ms".into(),
        json!({"ours": ours, "python_sdk": sdk_enc}),
    );

    // 4. end to end: JSON vs shared memory for the same tensor
    let (json_ms, shm_ms) = json_vs_shm(&url, n);
    rows.push((
        "identity 150528 FP32 end to end, JSON".into(),
        format!("{json_ms:.1} ms"),
        String::new(),
    ));
    rows.push((
        "identity 150528 FP32 end to end, SHM".into(),
        format!("{shm_ms:.1} ms"),
        format!("{:.2}× faster than JSON", json_ms / shm_ms),
    ));
    report.insert(
        "end_to_end_ms".into(),
        json!({"json": json_ms, "shm": shm_ms}),
    );

    server.stop();
    let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
    println!(
        "| {:<w0$} | {:>w1$} | ratio |",
        "measurement (median)", "value"
    );
    println!("|{}|{}|---|", "-".repeat(w0 + 2), "-".repeat(w1 + 2));
    for (a, b, c) in rows {
        println!("| {a:<w0$} | {b:>w1$} | {c} |");
    }
    if let Some(path) = args.json {
        if let Err(e) = std::fs::write(
            &path,
            serde_json::to_string_pretty(&Value::Object(report)).unwrap_or_default(),
        ) {
            eprintln!("tcm-bench: cannot write {}: {e}", path.display());
        }
    }
}
