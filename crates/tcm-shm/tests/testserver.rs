//! End to end against the reference server: SHM identity requests sent through a
//! `tcm_proto::Connection` over a plain blocking WebSocket, with the outputs checked.

use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use tcm_proto::{
    AuthContext, Config, Connection, Dial, Event, InferenceRequest, Outputs, Request, RequestError,
    Response, Tensor, TensorData, Transmit,
};
use tcm_shm::{
    ConvertOptions, InputTransport, RegionPool, ShmError, ShmRegion, choose_transport,
    generate_key, to_shm_request, to_shm_request_in,
};
use tcm_testserver::TestServer;
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// The longest any exchange in these tests may take.
const WAIT: Duration = Duration::from_secs(10);

/// A `Connection` driven by hand over one blocking socket.
struct Client {
    conn: Connection,
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    events: Vec<Event>,
}

impl Client {
    /// Connects to `url` asking for `capabilities`, and waits for `auth.ok`.
    fn connect(url: &str, capabilities: &[&str]) -> Client {
        let mut config = Config::new("tcm-shm-it");
        config.capabilities = capabilities.iter().map(|c| c.to_string()).collect();
        config.reconnect = None;
        config.keepalive = None;
        let mut conn = Connection::new(config, AuthContext::anonymous());
        assert!(matches!(conn.poll_dial(), Some(Dial::Connect { .. })));
        let (ws, _) = tungstenite::connect(url).expect("websocket upgrade");
        if let MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        }
        conn.handle_connected(Instant::now());
        let mut client = Client {
            conn,
            ws,
            events: Vec::new(),
        };
        client.run_until(|e| matches!(e, Event::Authenticated { .. }));
        client
    }

    /// Writes every pending transmit, then reads one frame (or times out) and feeds it in.
    fn turn(&mut self) {
        while let Some(t) = self.conn.poll_transmit() {
            match t {
                Transmit::Text(text) => self.ws.send(Message::text(text)).expect("send"),
                Transmit::Secret(text) => {
                    let text = text.expose().to_owned();
                    self.ws.send(Message::text(text)).expect("send");
                }
                Transmit::Ping(p) => self.ws.send(Message::Ping(p)).expect("ping"),
                Transmit::Close { code, reason } => {
                    let _ = self.ws.close(Some(CloseFrame {
                        code: CloseCode::from(code),
                        reason: reason.into(),
                    }));
                    let _ = self.ws.flush();
                }
            }
        }
        while let Some(e) = self.conn.poll_event() {
            self.events.push(e);
        }
        let now = Instant::now();
        match self.ws.read() {
            Ok(Message::Text(text)) => self.conn.handle_text(now, text.as_str()),
            Ok(Message::Ping(_) | Message::Pong(_)) => self.conn.handle_pong(now),
            Ok(Message::Close(frame)) => {
                let code = frame.map(|f| u16::from(f.code));
                self.conn.handle_closed(now, code, "");
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => self.conn.handle_closed(now, None, &e.to_string()),
        }
        if self
            .conn
            .poll_timeout()
            .is_some_and(|t| t <= Instant::now())
        {
            self.conn.handle_timeout(Instant::now());
        }
    }

    /// Turns until an event matching `done` arrives, and returns it.
    fn run_until(&mut self, done: impl Fn(&Event) -> bool) -> Event {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(i) = self.events.iter().position(&done) {
                return self.events.remove(i);
            }
            assert!(
                Instant::now() < deadline,
                "no matching event; got {:?}",
                self.events
            );
            self.turn();
        }
    }

    /// Sends `request` and waits for its outcome.
    fn infer(&mut self, request: InferenceRequest) -> Result<Response, RequestError> {
        let id = self
            .conn
            .request(Instant::now(), Request::Inference(request.into()), None)?;
        match self.run_until(|e| matches!(e, Event::Finished { id: i, .. } if *i == id)) {
            Event::Finished { outcome, .. } => outcome,
            _ => unreachable!(),
        }
    }

    /// The capabilities granted in `auth.ok`.
    fn capabilities(&self) -> tcm_proto::Capabilities {
        self.conn.capabilities().cloned().expect("authenticated")
    }
}

fn identity(model: &str, input: Tensor) -> InferenceRequest {
    InferenceRequest::new("127.0.0.1", "shm-test", model)
        .with_inputs(vec![input.into()])
        .with_allow_transient(true)
}

fn outputs(outcome: Result<Response, RequestError>) -> Outputs {
    match outcome {
        Ok(Response::Inference { outputs, .. }) => outputs,
        other => panic!("expected a completed inference, got {other:?}"),
    }
}

fn exists(key: &str) -> bool {
    Path::new("/dev/shm")
        .join(key.trim_start_matches('/'))
        .exists()
}

/// Sends `request` over SHM and returns the outputs, checking the regions live exactly as long
/// as the request.
fn infer_over_shm(client: &mut Client, request: &InferenceRequest) -> Outputs {
    let transport = choose_transport(&client.capabilities(), request.protocol, false).unwrap();
    assert_eq!(transport, InputTransport::Shm);
    let (request, regions) = to_shm_request(request).unwrap();
    assert!(request.inputs.iter().all(|i| i.is_shm()));
    let keys: Vec<String> = regions.keys().map(str::to_owned).collect();
    let out = outputs(client.infer(request));
    assert!(keys.iter().all(|k| exists(k)), "alive until the reply");
    drop(regions);
    assert!(keys.iter().all(|k| !exists(k)), "gone after the guard");
    out
}

#[test]
fn fp32_and_int32_identity_requests_over_shm_return_their_inputs() {
    let server = TestServer::start(tcm_testserver::Config::default()).unwrap();
    let mut client = Client::connect(&server.ws_url(), &["json", "shm"]);
    assert!(client.capabilities().shm(), "the server grants shm");

    let values = vec![0.5f32, -1.25, 3.0, 1e6];
    let request = identity(
        "identity",
        Tensor::vector("INPUT0", TensorData::Fp32(values.clone())),
    );
    let out = infer_over_shm(&mut client, &request);
    let output = out.f32("OUTPUT0").unwrap();
    assert_eq!(output.shape, [4]);
    assert_eq!(output.values, values);

    let ints = vec![i32::MIN, -7, 0, 42, i32::MAX];
    let request = identity(
        "identity_int32",
        Tensor::vector("INPUT0", TensorData::Int32(ints.clone())),
    );
    let out = infer_over_shm(&mut client, &request);
    let output = out.i64("OUTPUT0").unwrap();
    assert_eq!(output.shape, [5]);
    assert_eq!(
        output.values,
        ints.iter().map(|v| i64::from(*v)).collect::<Vec<_>>()
    );

    server.stop();
}

#[test]
fn a_tensor_too_large_for_a_json_frame_goes_through_shm() {
    let server = TestServer::start(tcm_testserver::Config::default()).unwrap();
    let mut client = Client::connect(&server.ws_url(), &["json", "shm"]);
    // 50 000 FP32 values: about 200 KB raw, far over the 64 KiB frame limit as JSON.
    let values: Vec<f32> = (0..50_000).map(|i| i as f32 * 0.5).collect();
    let request = identity(
        "identity",
        Tensor::vector("INPUT0", TensorData::Fp32(values.clone())),
    );
    assert!(matches!(
        client.infer(request.clone()),
        Err(RequestError::TooLarge { .. })
    ));
    let out = infer_over_shm(&mut client, &request);
    assert_eq!(out.f32("OUTPUT0").unwrap().values, values);
    server.stop();
}

#[test]
fn without_shm_in_the_auth_the_choice_falls_back_to_json_or_fails() {
    let server = TestServer::start(tcm_testserver::Config::default()).unwrap();
    let mut client = Client::connect(&server.ws_url(), &["json"]);
    let caps = client.capabilities();
    let request = identity(
        "identity",
        Tensor::vector("INPUT0", TensorData::Fp32(vec![2.0])),
    );
    assert!(matches!(
        choose_transport(&caps, request.protocol, false),
        Err(ShmError::NotNegotiated)
    ));
    assert_eq!(
        choose_transport(&caps, request.protocol, true).unwrap(),
        InputTransport::Json
    );
    // The connection itself refuses SHM inputs it did not negotiate.
    let (shm, _regions) = to_shm_request(&request).unwrap();
    assert!(matches!(
        client.infer(shm),
        Err(RequestError::CapabilityMissing(c)) if c == "shm"
    ));
    let out = outputs(client.infer(request));
    assert_eq!(out.f32("OUTPUT0").unwrap().values, [2.0]);
    server.stop();
}

/// A reference server on which `127.0.0.1` / `shm-test` is a registered Triton server, whose
/// client caches its shared-memory mappings per `(shm_key, byte_size)` as TCM does.
fn registered_server() -> tcm_testserver::TestServerHandle {
    TestServer::start(tcm_testserver::Config {
        registered_servers: vec![("127.0.0.1".into(), "shm-test".into())],
        ..tcm_testserver::Config::default()
    })
    .unwrap()
}

/// An identity request whose one input is the region `key` read as FP32[`n`].
fn by_reference(key: &str, n: usize) -> InferenceRequest {
    let reference = tcm_proto::ShmReference {
        name: "INPUT0".into(),
        shm_key: key.into(),
        offset: 0,
        byte_size: (n * 4) as u64,
        shape: vec![n as u64],
        dtype: "FP32".into(),
    };
    InferenceRequest::new("127.0.0.1", "shm-test", "identity")
        .with_inputs(vec![tcm_proto::TensorInput::Shm(reference)])
}

fn fp32_region(key: &str, values: &[f32]) -> ShmRegion {
    let mut region = ShmRegion::create(key, values.len() * 4).unwrap();
    for (chunk, v) in region.as_mut_slice().chunks_exact_mut(4).zip(values) {
        chunk.copy_from_slice(&v.to_le_bytes());
    }
    region
}

#[test]
fn a_region_unlinked_and_recreated_under_the_same_key_is_read_stale_by_the_server() {
    let server = registered_server();
    let mut client = Client::connect(&server.ws_url(), &["json", "shm"]);
    let key = generate_key();

    let first = fp32_region(&key, &[1.0, 2.0]);
    let out = outputs(client.infer(by_reference(&key, 2)));
    assert_eq!(out.f32("OUTPUT0").unwrap().values, [1.0, 2.0]);
    drop(first);

    // What a pool must never do: a new object under a key the server has mapped.
    let _second = fp32_region(&key, &[3.0, 4.0]);
    let out = outputs(client.infer(by_reference(&key, 2)));
    assert_eq!(
        out.f32("OUTPUT0").unwrap().values,
        [1.0, 2.0],
        "the server still reads the memory it mapped first"
    );
    server.stop();
}

#[test]
fn a_pooled_region_reused_across_calls_is_read_fresh_every_time() {
    let server = registered_server();
    let mut client = Client::connect(&server.ws_url(), &["json", "shm"]);
    let pool = RegionPool::default();
    let mut keys = std::collections::BTreeSet::new();
    for call in 0..20u16 {
        // 3000 values: beyond one JSON frame, one 16 KiB region of the pool.
        let values: Vec<f32> = (0..3000u16)
            .map(|i| f32::from(call) * 1e4 + f32::from(i))
            .collect();
        let request = InferenceRequest::new("127.0.0.1", "shm-test", "identity")
            .with_input(Tensor::vector("INPUT0", TensorData::Fp32(values.clone())));
        let (request, regions) =
            to_shm_request_in(&pool, &request, ConvertOptions::default()).unwrap();
        keys.extend(regions.keys().map(str::to_owned));
        let out = outputs(client.infer(request));
        assert_eq!(out.f32("OUTPUT0").unwrap().values, values, "call {call}");
        drop(regions);
    }
    assert_eq!(keys.len(), 1, "one region, reused by every call");
    assert_eq!(pool.stats().created, 1);
    assert_eq!(pool.stats().reused, 19);
    server.stop();
}
