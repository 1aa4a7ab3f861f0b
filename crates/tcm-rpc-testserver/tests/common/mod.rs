//! A plain tungstenite client for the tests: connect with or without a key, send requests with
//! `run_uuid`, and read frames up to a deadline while answering server requests.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tcm_rpc_testserver::{RpcServerConfig, RpcServerHandle, RpcTestServer};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::HandshakeError;
use tungstenite::http::HeaderValue;
use tungstenite::{Message, WebSocket};

pub const KEY: &str = "test-key";
pub const RUN: &str = "00000000-0000-4000-8000-000000000001";
pub const WAIT: Duration = Duration::from_secs(5);

pub fn server() -> RpcServerHandle {
    RpcTestServer::start(RpcServerConfig::default()).expect("server starts")
}

pub fn server_with(cfg: RpcServerConfig) -> RpcServerHandle {
    RpcTestServer::start(cfg).expect("server starts")
}

/// What reading produced.
#[derive(Debug, PartialEq)]
pub enum Got {
    Frame(Value),
    Text(String),
    Close(Option<u16>),
    Dropped,
    Timeout,
}

pub struct Client {
    ws: WebSocket<TcpStream>,
    next: u64,
}

/// Upgrade `path` with an optional key; `Err(status)` when refused.
pub fn connect_path(addr: SocketAddr, path: &str, key: Option<&str>) -> Result<Client, u16> {
    let stream = TcpStream::connect(addr).expect("tcp connect");
    stream.set_nodelay(true).ok();
    stream.set_read_timeout(Some(WAIT)).ok();
    let mut req = format!("ws://{addr}{path}")
        .into_client_request()
        .expect("request");
    if let Some(k) = key {
        req.headers_mut().insert(
            "Authorization",
            HeaderValue::from_str(&format!("Api-Key {k}")).expect("header"),
        );
    }
    let cfg = tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(None)
        .max_frame_size(None);
    match tungstenite::client::client_with_config(req, stream, Some(cfg)) {
        Ok((ws, _)) => Ok(Client { ws, next: 0 }),
        Err(HandshakeError::Failure(tungstenite::Error::Http(r))) => Err(r.status().as_u16()),
        Err(e) => panic!("handshake failed: {e}"),
    }
}

pub fn connect(server: &RpcServerHandle, key: Option<&str>) -> Result<Client, u16> {
    connect_path(server.addr(), "/ws/v0/rpc/", key)
}

/// Connect with the good key and read the session frame.
pub fn session(server: &RpcServerHandle) -> Client {
    let mut c = connect(server, Some(KEY)).expect("upgrade");
    let first = c.recv(WAIT);
    assert!(
        matches!(&first, Got::Frame(v) if v["result"]["session_id"].is_string()),
        "session frame first, got {first:?}"
    );
    c
}

impl Client {
    pub fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text.to_string())).expect("send");
    }

    pub fn send(&mut self, v: &Value) {
        self.send_text(&v.to_string());
    }

    /// Sends a request with `run_uuid` added; returns its id.
    pub fn request(&mut self, method: &str, mut params: Value) -> String {
        self.next += 1;
        let id = format!("0b6f7c9e-3c1e-4d0a-9a57-{:012x}", self.next);
        params["run_uuid"] = json!(RUN);
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params, "id": id}));
        id
    }

    /// The next frame within `timeout`.
    pub fn recv(&mut self, timeout: Duration) -> Got {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Got::Timeout;
            }
            self.ws.get_mut().set_read_timeout(Some(left)).ok();
            match self.ws.read() {
                Ok(Message::Text(t)) => {
                    return match serde_json::from_str(t.as_str()) {
                        Ok(v) => Got::Frame(v),
                        Err(_) => Got::Text(t.as_str().to_string()),
                    };
                }
                Ok(Message::Binary(b)) => {
                    return Got::Text(String::from_utf8_lossy(&b).into_owned());
                }
                Ok(Message::Close(f)) => {
                    let _ = self.ws.flush();
                    return Got::Close(f.map(|f| u16::from(f.code)));
                }
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Got::Timeout;
                }
                Err(_) => return Got::Dropped,
            }
        }
    }

    /// The next JSON frame (panics on anything else).
    pub fn frame(&mut self) -> Value {
        match self.recv(WAIT) {
            Got::Frame(v) => v,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    /// Calls `method` and reads until its response, answering server requests with `answer`
    /// and collecting every other frame (requests and notifications) in arrival order.
    pub fn call_with(
        &mut self,
        method: &str,
        params: Value,
        answer: &mut dyn FnMut(&Value) -> Value,
    ) -> (Value, Vec<Value>) {
        let id = self.request(method, params);
        let mut seen = Vec::new();
        loop {
            let f = self.frame();
            if f.get("method").is_some() {
                if let Some(sid) = f.get("id").filter(|i| !i.is_null()) {
                    let reply = answer(&f);
                    let mut out = json!({"jsonrpc": "2.0", "id": sid});
                    if reply.get("code").is_some() {
                        out["error"] = reply;
                    } else {
                        out["result"] = reply;
                    }
                    self.send(&out);
                }
                seen.push(f);
            } else if f["id"] == json!(id) {
                return (f, seen);
            } else {
                seen.push(f);
            }
        }
    }

    /// [`call_with`](Self::call_with) answering every server request with `{"message":"Ok"}`.
    pub fn call(&mut self, method: &str, params: Value) -> (Value, Vec<Value>) {
        self.call_with(method, params, &mut |_| json!({"message": "Ok"}))
    }

    /// The result of a call that must succeed.
    pub fn ok(&mut self, method: &str, params: Value) -> Value {
        let (resp, _) = self.call(method, params);
        assert!(resp.get("error").is_none(), "{method} failed: {resp}");
        resp["result"].clone()
    }

    /// Closes with 1000.
    pub fn close(mut self) {
        let _ = self.ws.close(None);
        let _ = self.ws.flush();
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline {
            if self.ws.read().is_err() {
                break;
            }
        }
    }
}

pub fn vref(id: &Value) -> Value {
    json!({"__variable__": true, "variable_id": id})
}
