//! `tcm-bench`: our four clients (blocking, smol, async-std, tokio) measured side by side with
//! a raw tungstenite client and the official Python SDK, in one run against one reference
//! server (`tcm_testserver`, in a child process so that this process's CPU clock counts the
//! clients alone):
//!
//! 1. lock-step `queue_stats` round trips per second and CPU time per call: every client, raw
//!    tungstenite, raw async-tungstenite on smol and on tokio (the floor of an async client on
//!    each runtime), raw tungstenite with a bounded wait and a typed decode of each reply (the
//!    floor of a blocking client) and the SDK;
//! 2. pipelined throughput with W requests in flight (1, 16, 64, 256): every client (W tasks
//!    sharing one async client; W threads sharing one blocking client) and raw tungstenite;
//! 3. the encode-and-send time of one 1×3×224×224 FP32 inference, an image's values and values
//!    that never repeat: ours and the SDK's;
//! 4. end to end, the same 150 528 FP32 values through the server's identity model, sent as
//!    JSON and through shared memory (the outputs come back as JSON either way): every client,
//!    and the SDK as JSON.
//!
//! Each measurement runs its contenders in turn, `--repeats` rounds; every figure is the median
//! of its rounds, with its ratios to raw tungstenite and to the SDK and its CPU time per call.
//!
//! Usage: `tcm-bench [--seconds S] [--repeats N] [--python PATH] [--json FILE] [--only LIST]`,
//! where `LIST` names the measurements to run, comma-separated, from `lockstep`, `pipelined`,
//! `shm` (shared memory against `memcpy`, see the `shm` module), `encode` and `e2e` (default:
//! all).

mod clients;
mod encode;
mod raw;
mod report;
mod sdk;
mod server;
mod shm;
mod window;

use std::path::PathBuf;

use clients::{AsyncStd, Load, Op, Smol, Values};
use report::{Row, Unit};
use window::{Sample, Summary};

/// Any failure of a measurement, reported and ending the run.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The bench's result type.
pub type Result<T> = std::result::Result<T, BoxError>;
/// A contender's figures, or why it failed.
pub type Outcome<T = Summary> = std::result::Result<T, String>;

const USAGE: &str = "usage: tcm-bench [--seconds S] [--repeats N] [--python PATH] [--json FILE] \
     [--only lockstep,pipelined,shm,encode,e2e]";

/// The measurements, as `--only` names them.
const SECTIONS: [&str; 5] = ["lockstep", "pipelined", "shm", "encode", "e2e"];

struct Args {
    seconds: f64,
    repeats: usize,
    python: Option<PathBuf>,
    json: Option<PathBuf>,
    /// The measurements to run (names from [`SECTIONS`]).
    only: Vec<String>,
}

impl Args {
    /// Whether the measurement `section` runs.
    fn runs(&self, section: &str) -> bool {
        self.only.iter().any(|s| s == section)
    }
}

fn parse_args(args: impl Iterator<Item = String>) -> std::result::Result<Args, String> {
    let mut parsed = Args {
        seconds: 1.0,
        repeats: 3,
        python: std::env::var_os("TCM_PYTHON")
            .map(PathBuf::from)
            .or_else(|| {
                let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
                venv.exists().then_some(venv)
            }),
        json: None,
        only: SECTIONS.map(String::from).to_vec(),
    };
    let mut it = args;
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--seconds" => parsed.seconds = value()?.parse().map_err(|_| "bad --seconds")?,
            "--repeats" => parsed.repeats = value()?.parse().map_err(|_| "bad --repeats")?,
            "--python" => parsed.python = Some(PathBuf::from(value()?)),
            "--json" => parsed.json = Some(PathBuf::from(value()?)),
            "--only" => {
                parsed.only = value()?.split(',').map(str::to_owned).collect();
                if let Some(bad) = parsed.only.iter().find(|s| !SECTIONS.contains(&s.as_str())) {
                    return Err(format!("unknown measurement '{bad}' in --only\n{USAGE}"));
                }
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument '{other}'\n{USAGE}")),
        }
    }
    if parsed.repeats == 0 || !parsed.seconds.is_finite() || parsed.seconds <= 0.0 {
        return Err("--seconds and --repeats must be positive".into());
    }
    Ok(parsed)
}

/// One contender of a measurement: a name and how to take one sample.
type Contender<'a> = (&'a str, Box<dyn FnMut() -> Result<Sample> + 'a>);

/// Runs the contenders in turn, `repeats` rounds (so that drift in the machine's load spreads
/// over all of them), and summarises each one's samples. A contender that fails is reported,
/// left out of the later rounds and shown as failed; the others go on.
fn side_by_side(repeats: usize, mut contenders: Vec<Contender<'_>>) -> Vec<Outcome> {
    let mut samples: Vec<Outcome<Vec<Sample>>> =
        vec![Ok(Vec::with_capacity(repeats)); contenders.len()];
    for _ in 0..repeats {
        for ((name, run), out) in contenders.iter_mut().zip(&mut samples) {
            let Ok(list) = out else { continue };
            match run() {
                Ok(sample) => list.push(sample),
                Err(e) => {
                    eprintln!("tcm-bench: {name} failed: {e}");
                    *out = Err(e.to_string());
                }
            }
        }
    }
    samples
        .into_iter()
        .map(|s| s.map(|s| Summary::of(&s)))
        .collect()
}

/// Names of our clients, in table order.
const CLIENTS: [&str; 4] = ["tcm-blocking", "tcm-smol", "tcm-async-std", "tcm-tokio"];
const RAW: &str = "raw tungstenite";
/// The same loop as [`RAW`] over async-tungstenite, on smol and on tokio.
const RAW_ASYNC: [&str; 2] = [
    "raw async-tungstenite, smol",
    "raw async-tungstenite, tokio",
];
/// [`RAW`] with a deadline-bounded wait and a typed decode of each reply (the floor of a
/// blocking client).
const RAW_BOUNDED: &str = "raw tungstenite + bounded wait + typed decode";
const SDK: &str = "Python SDK";

/// A note for a measurement whose longest window ran far past its `seconds` (calls stalled).
fn stalled(figure: &Summary, seconds: f64) -> String {
    if figure.longest > 2.0 * seconds + 0.5 {
        format!("calls stalled: a window took {:.1} s", figure.longest)
    } else {
        String::new()
    }
}

/// Our four clients under `load`, in [`CLIENTS`] order.
fn ours<'a>(
    tokio: &'a tokio::runtime::Runtime,
    url: &'a str,
    load: Load,
    s: f64,
) -> Vec<Contender<'a>> {
    let [blocking, smol, async_std, tokio_name] = CLIENTS;
    vec![
        (
            blocking,
            Box::new(move || clients::drive_blocking(url, load, s)),
        ),
        (
            smol,
            Box::new(move || clients::drive::<tcm_smol::Client>(&Smol, smol, url, load, s)),
        ),
        (
            async_std,
            Box::new(move || {
                clients::drive::<tcm_async_std::Client>(&AsyncStd, async_std, url, load, s)
            }),
        ),
        (
            tokio_name,
            Box::new(move || clients::drive::<tcm_tokio::Client>(tokio, tokio_name, url, load, s)),
        ),
    ]
}

fn run(args: &Args) -> Result<Vec<Row>> {
    let server = server::ServerProcess::spawn()?;
    let url = server.url();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let sdk = args.python.clone().map(sdk::Sdk::new);
    let (s, r) = (args.seconds, args.repeats);
    eprintln!("tcm-bench: server {url}; {r} rounds of {s} s each");
    let mut rows = Vec::new();
    let row = |section: &str, contender: &str, unit, figure: &Outcome, raw, sdk| Row {
        section: section.into(),
        contender: contender.into(),
        unit,
        note: figure.as_ref().map_or(String::new(), |f| stalled(f, s)),
        figure: figure.clone(),
        raw,
        sdk,
    };

    // 1. lock-step queue_stats
    let mut sdk_l = None;
    if args.runs("lockstep") {
        let mut contenders = ours(&tokio, url, Load::Lockstep(Op::QueueStats), s);
        contenders.push((RAW, Box::new(|| raw::lockstep(url, s))));
        let [raw_smol, raw_tokio] = RAW_ASYNC;
        contenders.push((raw_smol, Box::new(|| raw::lockstep_smol(url, s))));
        contenders.push((raw_tokio, Box::new(|| raw::lockstep_tokio(&tokio, url, s))));
        contenders.push((RAW_BOUNDED, Box::new(|| raw::lockstep_bounded(url, s))));
        if let Some(sdk) = &sdk {
            contenders.push((SDK, Box::new(|| sdk.lockstep(url, s))));
        }
        eprintln!("tcm-bench: lock-step queue_stats");
        let lockstep = side_by_side(r, contenders);
        let ok = |i: usize| lockstep.get(i).and_then(|f| f.as_ref().ok()).copied();
        let raw_l = ok(4);
        sdk_l = ok(8);
        let section = "lock-step queue_stats";
        let names = CLIENTS
            .iter()
            .chain([&RAW])
            .chain(&RAW_ASYNC)
            .chain([&RAW_BOUNDED]);
        for (i, (name, figure)) in names.zip(&lockstep).enumerate() {
            let raw = raw_l.filter(|_| *name != RAW);
            let mut line = row(section, name, Unit::PerSecond, figure, raw, sdk_l);
            // Every client against the floor of its I/O model.
            let floor = match i {
                0 => ok(7).map(|f| (f, "raw bounded+decode")),
                1 | 2 => ok(5).map(|f| (f, "raw async on smol")),
                3 => ok(6).map(|f| (f, "raw async on tokio")),
                _ => None,
            };
            if let (Ok(ours), Some((floor, name))) = (figure, floor) {
                let cpu = ours.cpu_us.zip(floor.cpu_us).map(|(a, b)| a / b);
                line.note = format!(
                    "{:.2}× the rate, {} the CPU of {name}",
                    ours.rate / floor.rate,
                    cpu.map_or("?".to_owned(), |c| format!("{c:.2}×")),
                );
            }
            rows.push(line);
        }
        if let Some(sdk_figure) = lockstep.get(8) {
            rows.push(row(section, SDK, Unit::PerSecond, sdk_figure, raw_l, None));
        }
    }

    // 2. pipelined queue_stats
    let windows: &[usize] = if args.runs("pipelined") {
        &[1, 16, 64, 256]
    } else {
        &[]
    };
    for &w in windows {
        eprintln!("tcm-bench: pipelined W={w}");
        let mut contenders = ours(&tokio, url, Load::Pipelined(w), s);
        contenders.push((RAW, Box::new(move || raw::pipelined(url, w, s))));
        let figures = side_by_side(r, contenders);
        let section = format!("pipelined W={w} queue_stats");
        for (name, figure) in CLIENTS.iter().chain([&RAW]).zip(&figures) {
            let raw = figures[4].as_ref().ok().copied().filter(|_| *name != RAW);
            rows.push(row(&section, name, Unit::PerSecond, figure, raw, sdk_l));
        }
    }

    // Shared memory against memcpy, and its end-to-end gain (see `shm`).
    if args.runs("shm") {
        eprintln!("tcm-bench: shared memory vs memcpy");
        rows.extend(shm::rows(url, r));
    }

    // 3. encode and send of a 1×3×224×224 FP32 inference
    if !args.runs("encode") && !args.runs("e2e") {
        drop(server);
        return Ok(rows);
    }
    let n = (r * 2).max(5);
    eprintln!("tcm-bench: encode+send and identity inferences");
    let failed = |e: BoxError| e.to_string();
    let sdk_id = sdk
        .as_ref()
        .map(|sdk| sdk.identity(url, n, Values::Image).map_err(failed));
    let (sdk_enc, sdk_call): (Option<Outcome>, Option<Outcome>) = match sdk_id {
        Some(Ok(id)) => (
            Some(Ok(Summary::of(&id.encode))),
            Some(Ok(Summary::of(&id.call))),
        ),
        Some(Err(e)) => (Some(Err(e.clone())), Some(Err(e))),
        None => (None, None),
    };
    let ok = |f: &Option<Outcome>| f.as_ref().and_then(|f| f.as_ref().ok()).copied();
    let core = "tcm (the core of all four)";
    if args.runs("encode") {
        for values in [Values::Image, Values::Distinct] {
            let section = format!("encode+send 1x3x224x224 FP32, {} values", values.name());
            let theirs = match (values, &sdk) {
                (Values::Image, _) => sdk_enc.clone(),
                (Values::Distinct, Some(sdk)) => Some(
                    sdk.identity(url, n, values)
                        .map(|id| Summary::of(&id.encode))
                        .map_err(failed),
                ),
                (Values::Distinct, None) => None,
            };
            let ours_enc = encode::encode_send(url, n, values)
                .map(|s| Summary::of(&s))
                .map_err(failed);
            rows.push(row(
                &section,
                core,
                Unit::Millis,
                &ours_enc,
                None,
                ok(&theirs),
            ));
            if let Some(theirs) = &theirs {
                rows.push(row(&section, SDK, Unit::Millis, theirs, None, None));
            }
        }
    }

    // 4. the identity inference end to end, JSON and shared memory
    if !args.runs("e2e") {
        drop(server);
        return Ok(rows);
    }
    let (json, shm) = (Op::Identity { shm: false }, Op::Identity { shm: true });
    let mut contenders = ours(&tokio, url, Load::Lockstep(json), s);
    contenders.extend(ours(&tokio, url, Load::Lockstep(shm), s));
    let figures = side_by_side(r, contenders);
    let (json_section, shm_section) = (
        "identity 150528 FP32 end to end, JSON",
        "identity 150528 FP32 end to end, SHM",
    );
    for (i, name) in CLIENTS.iter().enumerate() {
        let (j, m) = (&figures[i], &figures[i + CLIENTS.len()]);
        rows.push(row(
            json_section,
            name,
            Unit::Millis,
            j,
            None,
            ok(&sdk_call),
        ));
        let mut shm_row = row(shm_section, name, Unit::Millis, m, None, ok(&sdk_call));
        if let (Ok(j), Ok(m)) = (j, m) {
            let faster = format!("{:.2}× faster than its JSON", m.rate / j.rate);
            shm_row.note = [faster, shm_row.note].join(" ").trim_end().to_owned();
        }
        rows.push(shm_row);
    }
    if let Some(sdk_call) = &sdk_call {
        rows.push(row(json_section, SDK, Unit::Millis, sdk_call, None, None));
    }
    drop(server);
    Ok(rows)
}

fn main() {
    let mut argv = std::env::args().skip(1).peekable();
    if argv.peek().map(String::as_str) == Some(server::SERVE_FLAG) {
        if let Err(e) = server::serve() {
            eprintln!("tcm-bench --serve: {e}");
            std::process::exit(1);
        }
        return;
    }
    let args = match parse_args(argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let rows = match run(&args) {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("tcm-bench: {e}");
            std::process::exit(1);
        }
    };
    print!("{}", report::markdown(&rows));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report::json(&rows, args.seconds, args.repeats))
            .unwrap_or_default();
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("tcm-bench: cannot write {}: {e}", path.display());
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> std::result::Result<Args, String> {
        parse_args(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn the_flags_set_the_run() {
        let args = parse(&["--seconds", "0.5", "--repeats", "7", "--json", "out.json"]);
        let args = args.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((args.seconds, args.repeats), (0.5, 7));
        assert_eq!(args.json, Some(PathBuf::from("out.json")));
        assert!(
            SECTIONS.iter().all(|s| args.runs(s)),
            "every measurement runs by default"
        );
        let only = parse(&["--only", "lockstep,e2e"]).unwrap_or_else(|e| panic!("{e}"));
        assert!(only.runs("lockstep") && only.runs("e2e") && !only.runs("pipelined"));
    }

    #[test]
    fn zero_or_malformed_values_are_refused() {
        for bad in [
            &["--repeats", "0"][..],
            &["--seconds", "0"],
            &["--seconds", "NaN"],
            &["--seconds", "x"],
            &["--seconds"],
            &["--warp"],
            &["--only", "lockstep,warp"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
