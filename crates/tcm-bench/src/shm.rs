//! Shared memory at copy speed: the client-side cost of sending one 1×3×224×224 FP32 input
//! (150 528 values, 602 112 bytes, sent flat to the identity model) through shared memory, measured side by side with a plain
//! `memcpy` of the same bytes, and what shared memory gains end to end.
//!
//! In one loop, per call and in alternating order so that neither gets the other's warm cache:
//!
//! - `memcpy`: the values copied into a preallocated buffer of the same size;
//! - `SHM send`: a region leased from a warm [`RegionPool`], the values written into it, the
//!   inference built and encoded by the sans-IO core (as every client does) and written to the
//!   socket. The reply is read outside the window, then the lease is returned;
//! - `output decode`: the core reading that reply (150 528 FP32 values as JSON, TCM §9.7: the
//!   outputs never come back through shared memory) into typed outputs.
//!
//! Then the blocking client's identity call end to end, its inputs as JSON and through shared
//! memory, in alternating rounds: how much shared memory gains, and what share of the shared
//! memory call the output decode takes.

use std::hint::black_box;
use std::time::Duration;

use tcm_proto::{
    AuthContext, Connection, Event, InferenceRequest, Request, Response, Tensor, TensorData,
    Transmit,
};
use tcm_shm::{RegionPool, ShmTensor};
use tungstenite::Message;

use crate::clients::IDENTITY_VALUES;
use crate::report::{Row, Unit};
use crate::window::{Sample, Summary, Window};
use crate::{Outcome, Result};

/// The reference server's identity model takes one dimension: the image's values, flat.
const SHAPE: [usize; 1] = [IDENTITY_VALUES];
const SECTION: &str = "SHM 150528 FP32";

/// The inference whose input is `input`.
fn identity(input: tcm_proto::TensorInput) -> InferenceRequest {
    InferenceRequest::new("127.0.0.1", "c", "identity")
        .with_inputs(vec![input])
        .with_allow_transient(true)
}

/// A sans-IO core authenticated (with `shm`) on the raw socket `uuid` already opened.
fn core(uuid: &str) -> Connection {
    let now = std::time::Instant::now();
    let mut cfg = tcm_proto::Config::new(uuid);
    cfg.max_message_bytes = 16 << 20;
    cfg.keepalive = None;
    cfg.capabilities = vec!["json".into(), "shm".into()];
    // The frames go out on the raw socket authenticated under the same uuid.
    cfg.exact_first_uuid = true;
    let mut conn = Connection::new(cfg, AuthContext::anonymous());
    let _ = conn.poll_dial();
    conn.handle_connected(now);
    while conn.poll_transmit().is_some() {}
    conn.handle_text(
        now,
        r#"{"type":"auth.ok","payload":{"capability":["json","shm"]}}"#,
    );
    while conn.poll_event().is_some() {}
    conn
}

/// The figures of the client-side loop: one sample per call for each (their median is robust to
/// the calls a busy machine preempts).
struct ClientSide {
    memcpy: Vec<Sample>,
    /// Of `send`, the lease and the write alone.
    write: Vec<Sample>,
    send: Vec<Sample>,
    decode: Vec<Sample>,
}

/// `rounds` rounds of `calls` calls: memcpy, SHM send (then the reply, untimed) and decode.
fn client_side(url: &str, rounds: usize, calls: usize) -> Result<ClientSide> {
    let values: Vec<f32> = (0..IDENTITY_VALUES)
        .map(|i| (i % 1000) as f32 * 1e-3)
        .collect();
    let mut buffer = vec![0f32; IDENTITY_VALUES];
    let pool = RegionPool::default();
    let uuid = format!("bench-shm-{}", std::process::id());
    let mut ws = crate::raw::connect(url, &uuid)?;
    let mut conn = core(&uuid);
    let mut out = ClientSide {
        memcpy: Vec::with_capacity(rounds * calls),
        write: Vec::with_capacity(rounds * calls),
        send: Vec::with_capacity(rounds * calls),
        decode: Vec::with_capacity(rounds * calls),
    };
    for round in 0..=rounds {
        // Round 0 is not kept: the pool's region is created and mapped (once per client).
        let keep = round > 0;
        let record = |list: &mut Vec<Sample>, sample| {
            if keep {
                list.push(sample);
            }
        };
        for call in 0..calls {
            let copy = |buffer: &mut Vec<f32>| {
                let window = Window::start();
                buffer.copy_from_slice(black_box(&values));
                black_box(&buffer);
                window.finish(1)
            };
            let memcpy_first = call % 2 == 0;
            if memcpy_first {
                record(&mut out.memcpy, copy(&mut buffer));
            }
            let now = std::time::Instant::now();
            let window = Window::start();
            let lease_and_write = Window::start();
            let tensor = ShmTensor::from_slice_in(&pool, "INPUT0", &SHAPE, black_box(&values))?;
            let written = lease_and_write.finish(1);
            let request = Request::from(identity(tensor.as_input()));
            let id = conn.request(now, request, Some(Duration::from_secs(60)))?;
            let Some(Transmit::Text(frame)) = conn.poll_transmit() else {
                return Err("the core produced no frame for the inference".into());
            };
            ws.send(Message::text(frame))?;
            record(&mut out.send, window.finish(1));
            record(&mut out.write, written);
            if !memcpy_first {
                record(&mut out.memcpy, copy(&mut buffer));
            }
            let reply = loop {
                if let Message::Text(text) = ws.read()? {
                    break text;
                }
            };
            let window = Window::start();
            conn.handle_text(now, reply.as_str());
            let outcome = loop {
                match conn.poll_event() {
                    Some(Event::Finished { id: done, outcome }) if done == id => break outcome,
                    Some(_) => {}
                    None => return Err("the reply did not finish the inference".into()),
                }
            };
            record(&mut out.decode, window.finish(1));
            match outcome {
                Ok(Response::Inference { outputs, .. }) => {
                    let echoed = outputs.f32("OUTPUT0").ok().map(|o| o.values.len());
                    if echoed != Some(IDENTITY_VALUES) {
                        return Err(format!("the identity echoed {echoed:?} values").into());
                    }
                }
                other => return Err(format!("the SHM inference failed: {other:?}").into()),
            }
            // Back to the pool, for the next call.
            drop(tensor);
        }
    }
    let _ = ws.close(None);
    Ok(out)
}

/// The blocking client's identity call, JSON and SHM in alternating rounds of `calls` calls.
fn end_to_end(url: &str, rounds: usize, calls: usize) -> Result<(Vec<Sample>, Vec<Sample>)> {
    let mut cfg = tcm_proto::Config::new(format!("bench-shm-e2e-{}", std::process::id()));
    cfg.max_message_bytes = 16 << 20;
    cfg.keepalive = None;
    cfg.capabilities = vec!["json".into(), "shm".into()];
    let client = tcm_blocking::Client::connect(url, AuthContext::anonymous(), cfg)?;
    let values = vec![0.123_456_7f32; IDENTITY_VALUES];
    let request = || {
        let tensor = Tensor::new("INPUT0", SHAPE.to_vec(), TensorData::Fp32(values.clone()));
        tensor.map(|t| identity(t.into()))
    };
    let (mut json, mut shm) = (Vec::new(), Vec::new());
    for round in 0..=rounds {
        for use_shm in [round % 2 == 0, round % 2 != 0] {
            let window = Window::start();
            for _ in 0..calls {
                if use_shm {
                    client.infer_shm(request()?, false)?;
                } else {
                    client.infer(request()?)?;
                }
            }
            let sample = window.finish(calls as u64);
            // Round 0 warms the connection, the server and the client's region pool.
            if round > 0 {
                if use_shm { &mut shm } else { &mut json }.push(sample);
            }
        }
    }
    client.close();
    Ok((json, shm))
}

/// Microseconds per call of a summary.
fn us(s: &Summary) -> f64 {
    1e6 / s.rate
}

/// The rows of this measurement: `rounds` rounds each.
pub fn rows(url: &str, rounds: usize) -> Vec<Row> {
    let row = |contender: &str, figure: Outcome, note: String| Row {
        section: SECTION.into(),
        contender: contender.into(),
        unit: Unit::Millis,
        figure,
        raw: None,
        sdk: None,
        note,
    };
    let failed = |e: crate::BoxError| e.to_string();
    let mut rows = Vec::new();
    let client = client_side(url, rounds, 20).map_err(failed);
    let summary = |pick: fn(&ClientSide) -> &[Sample]| -> Outcome {
        client
            .as_ref()
            .map(|c| Summary::of(pick(c)))
            .map_err(Clone::clone)
    };
    let memcpy = summary(|c| &c.memcpy);
    let write = summary(|c| &c.write);
    let send = summary(|c| &c.send);
    let decode = summary(|c| &c.decode);
    let e2e = end_to_end(url, rounds, 5).map_err(failed);
    let (json, shm) = match &e2e {
        Ok((j, s)) => (Ok(Summary::of(j)), Ok(Summary::of(s))),
        Err(e) => (Err(e.clone()), Err(e.clone())),
    };

    let note = memcpy
        .as_ref()
        .map_or(String::new(), |m| format!("{:.1} µs", us(m)));
    rows.push(row("memcpy of 602112 bytes", memcpy.clone(), note));
    let note = match (&send, &memcpy) {
        (Ok(s), Ok(m)) => format!("{:.1} µs: {:.2}× the memcpy", us(s), us(s) / us(m)),
        _ => String::new(),
    };
    rows.push(row("client side: lease, write, frame, send", send, note));
    let note = match (&write, &memcpy) {
        (Ok(w), Ok(m)) => format!("{:.1} µs: {:.2}× the memcpy", us(w), us(w) / us(m)),
        _ => String::new(),
    };
    rows.push(row("of which lease and write", write, note));
    let note = match (&json, &shm) {
        (Ok(j), Ok(s)) => format!("SHM {:.2}× faster than JSON", s.rate / j.rate),
        _ => String::new(),
    };
    rows.push(row("end to end, tcm-blocking, JSON", json, String::new()));
    rows.push(row("end to end, tcm-blocking, SHM", shm.clone(), note));
    let note = match (&decode, &shm) {
        (Ok(d), Ok(s)) => format!(
            "{:.0} µs: {:.0}% of the SHM call",
            us(d),
            100.0 * us(d) / us(s)
        ),
        _ => String::new(),
    };
    rows.push(row("output decode of the JSON reply", decode, note));
    rows
}
