//! A minimal blocking WebSocket client for the integration tests.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

/// What the next read produced.
#[derive(Debug, PartialEq)]
pub enum Next {
    /// A JSON text frame.
    Frame(Value),
    /// A close frame with this code.
    Closed(u16, String),
    /// The TCP connection ended without a close frame.
    Dropped,
    /// Nothing within the wait.
    Silent,
}

pub struct Client {
    pub ws: WebSocket<TcpStream>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        Self::connect_path(addr, "/ws").expect("upgrade accepted")
    }

    pub fn connect_path(addr: SocketAddr, path: &str) -> Result<Client, tungstenite::Error> {
        let stream = TcpStream::connect(addr).expect("tcp connect");
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let (ws, _) =
            tungstenite::client(format!("ws://{addr}{path}"), stream).map_err(|e| match e {
                tungstenite::HandshakeError::Failure(f) => f,
                tungstenite::HandshakeError::Interrupted(_) => tungstenite::Error::ConnectionClosed,
            })?;
        ws.get_ref()
            .set_read_timeout(Some(Duration::from_millis(20)))
            .ok();
        Ok(Client { ws })
    }

    /// Connects and authenticates with `payload`, expecting `auth.ok`.
    pub fn authed(addr: SocketAddr, uuid: &str, payload: Value) -> Client {
        let mut c = Self::connect(addr);
        c.send(&json!({"uuid": uuid, "type": "auth", "payload": payload}));
        match c.next(Duration::from_secs(5)) {
            Next::Frame(f) if f["type"] == "auth.ok" => c,
            other => panic!("auth failed: {other:?}"),
        }
    }

    pub fn send(&mut self, v: &Value) {
        self.ws.send(Message::text(v.to_string())).expect("send");
    }

    pub fn send_text(&mut self, t: &str) {
        self.ws.send(Message::text(t.to_string())).expect("send");
    }

    pub fn next(&mut self, wait: Duration) -> Next {
        let deadline = Instant::now() + wait;
        loop {
            match self.ws.read() {
                Ok(Message::Text(t)) => {
                    return Next::Frame(
                        serde_json::from_str(t.as_str()).expect("server sent JSON"),
                    );
                }
                Ok(Message::Close(f)) => {
                    let (code, reason) = f
                        .map(|f| (u16::from(f.code), f.reason.to_string()))
                        .unwrap_or((1005, String::new()));
                    return Next::Closed(code, reason);
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if Instant::now() >= deadline {
                        return Next::Silent;
                    }
                }
                Err(_) => return Next::Dropped,
            }
        }
    }

    /// The next frame, which must arrive within 5 s.
    pub fn frame(&mut self) -> Value {
        match self.next(Duration::from_secs(5)) {
            Next::Frame(f) => f,
            other => panic!("expected a frame, got {other:?}"),
        }
    }
}

/// A plain HTTP GET; returns (status, body).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

pub fn identity_request(uuid: &str, values: &[f64]) -> Value {
    json!({"uuid": uuid, "type": "inference", "payload": {
        "vm_id": "vm-1", "vm_ip": "127.0.0.1", "container_id": "ctr-1", "model_name": "identity",
        "request": {"protocol": "http", "allow_transient": true,
            "inputs": [{"name": "INPUT0", "shape": [values.len()], "datatype": "FP32", "data": values}]}}})
}
