//! The raw tungstenite peer: one blocking socket sending the same `queue_stats` frames as our
//! clients, with none of their machinery (no I/O thread, no decoding of the replies). It is the
//! floor our clients are measured against.

use std::net::TcpStream;

use tungstenite::{Message, WebSocket, stream::MaybeTlsStream};

use crate::Result;
use crate::window::{Sample, Window, deadline};

/// A raw, authenticated WebSocket.
pub type Raw = WebSocket<MaybeTlsStream<TcpStream>>;

/// Connects with `TCP_NODELAY` (as our clients do), authenticates as `uuid` and reads `auth.ok`.
pub fn connect(url: &str, uuid: &str) -> Result<Raw> {
    let (mut ws, _) = tungstenite::connect(url)?;
    if let MaybeTlsStream::Plain(s) = ws.get_mut() {
        s.set_nodelay(true)?;
    }
    ws.send(Message::text(format!(
        r#"{{"uuid":"{uuid}","type":"auth","payload":{{}}}}"#
    )))?;
    let _ = ws.read()?;
    Ok(ws)
}

/// The `n`th `queue_stats` request of `uuid`.
fn queue_stats(uuid: &str, n: u64) -> Message {
    Message::text(format!(
        r#"{{"uuid":"{uuid}","type":"info","payload":{{"action":"queue_stats","job_id":"j{n}"}}}}"#
    ))
}

/// One request at a time for `seconds`: send, read the reply, repeat.
pub fn lockstep(url: &str, seconds: f64) -> Result<Sample> {
    let uuid = format!("raw-l-{}", std::process::id());
    let mut ws = connect(url, &uuid)?;
    for n in 0..crate::clients::WARM_UP {
        ws.send(queue_stats(&uuid, n))?;
        let _ = ws.read()?;
    }
    let end = deadline(seconds);
    let window = Window::start();
    let mut n = 0;
    while std::time::Instant::now() < end {
        ws.send(queue_stats(&uuid, n))?;
        let _ = ws.read()?;
        n += 1;
    }
    let sample = window.finish(n);
    let _ = ws.close(None);
    Ok(sample)
}

/// Keeps `in_flight` requests outstanding on one socket for `seconds`: each reply read is
/// answered by a new request.
pub fn pipelined(url: &str, in_flight: usize, seconds: f64) -> Result<Sample> {
    let uuid = format!("raw-p{in_flight}-{}", std::process::id());
    let mut ws = connect(url, &uuid)?;
    let end = deadline(seconds);
    let window = Window::start();
    let mut sent = 0u64;
    for _ in 0..in_flight {
        sent += 1;
        ws.write(queue_stats(&uuid, sent))?;
    }
    ws.flush()?;
    let mut done = 0u64;
    while std::time::Instant::now() < end {
        let _ = ws.read()?;
        done += 1;
        sent += 1;
        ws.write(queue_stats(&uuid, sent))?;
        ws.flush()?;
    }
    let sample = window.finish(done);
    let _ = ws.close(None);
    Ok(sample)
}
