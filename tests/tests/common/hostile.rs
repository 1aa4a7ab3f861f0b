//! A hostile TCM server on loopback, for the scenarios where the peer misbehaves: it trickles
//! bytes, stops reading, reads slowly, drops every connection after `auth.ok`, sends frames
//! larger than any limit, or floods the client with unsolicited frames. Each connection runs on
//! a thread of its own; the server stops when dropped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Value, json};

/// How long the server waits between the bytes it trickles.
pub const TRICKLE: Duration = Duration::from_millis(200);

/// What the server does to its clients.
#[derive(Debug, Clone, Copy)]
pub enum Behaviour {
    /// Sends the `101` upgrade response one byte at a time.
    TrickleUpgrade,
    /// Upgrades at once, then sends `auth.ok` one byte at a time.
    TrickleAuthOk,
    /// Authenticates at once, then answers every request one byte at a time.
    TrickleReplies,
    /// Authenticates at once, then never reads again.
    NoRead,
    /// Authenticates at once, then reads this many bytes per second.
    SlowRead(usize),
    /// Closes every connection right after `auth.ok`.
    Flapping,
    /// Authenticates at once, then answers the first request with a frame of this many bytes.
    Huge(usize),
    /// Authenticates at once, sends this many unsolicited alerts, then answers info requests.
    Flood(usize),
    /// JSON-RPC: upgrades at once, then sends the session frame one byte at a time.
    RpcTrickleSession,
    /// JSON-RPC: sends the session frame at once, then answers every call one byte at a time.
    RpcTrickleReplies,
}

/// The server; dropping it stops it.
pub struct Hostile {
    port: u16,
    connections: Arc<AtomicUsize>,
    stop: Arc<Halt>,
}

/// The server's stop signal, which its connection threads wait on between the bytes they
/// pace, so a stop reaches them at once.
#[derive(Default)]
struct Halt {
    stopped: Mutex<bool>,
    changed: Condvar,
}

impl Halt {
    fn set(&self) {
        *self.stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.changed.notify_all();
    }

    fn is_set(&self) -> bool {
        *self.stopped.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits up to `pause` for the stop; whether it came.
    fn wait(&self, pause: Duration) -> bool {
        let stopped = self.stopped.lock().unwrap_or_else(PoisonError::into_inner);
        let (stopped, _) = self
            .changed
            .wait_timeout_while(stopped, pause, |stopped| !*stopped)
            .unwrap_or_else(PoisonError::into_inner);
        *stopped
    }

    /// Waits for the stop.
    fn wait_forever(&self) {
        let stopped = self.stopped.lock().unwrap_or_else(PoisonError::into_inner);
        drop(
            self.changed
                .wait_while(stopped, |stopped| !*stopped)
                .unwrap_or_else(PoisonError::into_inner),
        );
    }
}

impl Hostile {
    /// Starts a server that treats every client with `behaviour`.
    pub fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(Halt::default());
        let (count, halt) = (Arc::clone(&connections), Arc::clone(&stop));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if halt.is_set() {
                    break;
                }
                let Ok(stream) = stream else { continue };
                count.fetch_add(1, Ordering::Relaxed);
                let halt = Arc::clone(&halt);
                std::thread::spawn(move || serve(stream, behaviour, &halt));
            }
        });
        Self {
            port,
            connections,
            stop,
        }
    }

    /// The WebSocket URL.
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.set();
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A server → client text frame (unmasked), encoded by hand so it can be trickled.
fn frame(text: &str) -> Vec<u8> {
    frame_header(text.len())
        .into_iter()
        .chain(text.bytes())
        .collect()
}

fn frame_header(len: usize) -> Vec<u8> {
    let mut out = vec![0x81];
    match len {
        0..=125 => out.push(len as u8),
        126..=0xFFFF => {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out
}

/// Reads one client frame (masked); `None` when the stream ends or fails.
fn read_frame(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).ok()?;
    let len = match head[1] & 0x7F {
        126 => {
            let mut b = [0u8; 2];
            stream.read_exact(&mut b).ok()?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            stream.read_exact(&mut b).ok()?;
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    let mut mask = [0u8; 4];
    stream.read_exact(&mut mask).ok()?;
    let mut payload = vec![0u8; usize::try_from(len).ok()?];
    stream.read_exact(&mut payload).ok()?;
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
    Some(payload)
}

/// Reads the next client text frame as JSON, skipping control frames.
fn read_json(stream: &mut TcpStream) -> Option<Value> {
    loop {
        let payload = read_frame(stream)?;
        if let Ok(v) = serde_json::from_slice(&payload) {
            return Some(v);
        }
    }
}

fn trickle(stream: &mut TcpStream, bytes: &[u8], halt: &Halt) {
    for b in bytes {
        if halt.is_set() || stream.write_all(&[*b]).is_err() || halt.wait(TRICKLE) {
            return;
        }
    }
}

/// Holds the connection open, doing nothing, until the server stops or the client goes.
fn hold(_stream: &TcpStream, halt: &Halt) {
    halt.wait_forever();
}

fn upgrade_response(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut request = Vec::new();
    let mut byte = [0u8; 1];
    while !request.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).ok()?;
        request.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&request);
    let key = text.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("sec-websocket-key")
            .then(|| value.trim().to_owned())
    })?;
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    Some(
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        )
        .into_bytes(),
    )
}

fn info_reply(request: &Value) -> String {
    json!({"type": "info_response", "payload": {
        "job_id": request["payload"]["job_id"],
        "request_type": "queue_stats",
        "status": "success",
        "data": {"total_queued": 0}
    }})
    .to_string()
}

fn serve(mut stream: TcpStream, behaviour: Behaviour, halt: &Halt) {
    let _ = stream.set_nodelay(true);
    let Some(response) = upgrade_response(&mut stream) else {
        return;
    };
    if let Behaviour::TrickleUpgrade = behaviour {
        trickle(&mut stream, &response, halt);
        return hold(&stream, halt);
    }
    if stream.write_all(&response).is_err() {
        return;
    }
    let session = frame(r#"{"jsonrpc":"2.0","result":{"session_id":"hostile"}}"#);
    match behaviour {
        Behaviour::RpcTrickleSession => {
            trickle(&mut stream, &session, halt);
            return hold(&stream, halt);
        }
        Behaviour::RpcTrickleReplies => {
            if stream.write_all(&session).is_err() {
                return;
            }
            while let Some(call) = read_json(&mut stream) {
                let reply = json!({"jsonrpc": "2.0", "id": call["id"], "result": {}});
                trickle(&mut stream, &frame(&reply.to_string()), halt);
            }
            return;
        }
        _ => {}
    }
    if read_json(&mut stream).is_none() {
        return;
    }
    let auth_ok = frame(r#"{"type":"auth.ok"}"#);
    if let Behaviour::TrickleAuthOk = behaviour {
        trickle(&mut stream, &auth_ok, halt);
        return hold(&stream, halt);
    }
    if stream.write_all(&auth_ok).is_err() {
        return;
    }
    match behaviour {
        Behaviour::TrickleReplies => {
            while let Some(request) = read_json(&mut stream) {
                trickle(&mut stream, &frame(&info_reply(&request)), halt);
            }
        }
        Behaviour::NoRead => hold(&stream, halt),
        Behaviour::SlowRead(per_second) => {
            let mut chunk = vec![0u8; (per_second / 10).max(1)];
            while stream.read(&mut chunk).is_ok_and(|n| n > 0) {
                if halt.wait(Duration::from_millis(100)) {
                    return;
                }
            }
        }
        Behaviour::Huge(len) => {
            if read_json(&mut stream).is_some() {
                let _ = stream.write_all(&frame_header(len));
                let block = vec![b' '; 64 * 1024];
                let mut left = len;
                while left > 0 && !halt.is_set() {
                    let n = left.min(block.len());
                    if stream.write_all(&block[..n]).is_err() {
                        return;
                    }
                    left -= n;
                }
            }
            hold(&stream, halt);
        }
        Behaviour::Flood(count) => {
            let alert = frame(
                r#"{"type":"alert","error_type":"TritonServerStateChanged","message":"flood","timestamp":1.0}"#,
            );
            let mut burst = Vec::with_capacity(alert.len() * 1000);
            for sent in 0..count {
                burst.extend_from_slice(&alert);
                if (sent + 1) % 1000 == 0 || sent + 1 == count {
                    if stream.write_all(&burst).is_err() {
                        return;
                    }
                    burst.clear();
                }
            }
            while let Some(request) = read_json(&mut stream) {
                if stream.write_all(&frame(&info_reply(&request))).is_err() {
                    return;
                }
            }
        }
        // Flapping: the connection ends right after auth.ok.
        _ => {}
    }
}
