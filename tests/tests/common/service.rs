//! Pools that follow a service name, and the counters of clients and pools: scenarios over
//! every client, against reference servers on loopback behind a resolver the test controls.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tcm_adapter::{PoolOptions, PoolStats, ReplicaStats};
use tcm_proto::{AuthContext, Backoff, ReconnectPolicy};
use tcm_testserver::TestServerHandle;

use super::{
    Adapter, CallFailure, Opts, StopOnDrop, client_config, eventually, identity, output0,
    pool_load, server, tls,
};

/// A resolver whose answer the test sets: `tcm.test` resolves to whatever it was last told.
#[derive(Clone, Default)]
struct Answer(Arc<Mutex<Vec<SocketAddr>>>);

impl Answer {
    fn set(&self, servers: &[&TestServerHandle]) {
        self.set_addresses(servers.iter().map(|s| s.addr()).collect());
    }

    fn set_addresses(&self, addresses: Vec<SocketAddr>) {
        if let Ok(mut a) = self.0.lock() {
            *a = addresses;
        }
    }

    fn resolver(&self) -> impl Fn(&str, u16) -> std::io::Result<Vec<SocketAddr>> + use<> {
        let answer = Arc::clone(&self.0);
        move |host: &str, _port: u16| {
            assert_eq!(host, "tcm.test", "the URL's host is what is resolved");
            Ok(answer.lock().map(|a| a.clone()).unwrap_or_default())
        }
    }
}

/// The stats of the replica at `server`, if it is in the pool.
fn replica(stats: &PoolStats, server: &TestServerHandle) -> Option<ReplicaStats> {
    let name = server.addr().to_string();
    stats.replicas.iter().find(|r| r.url == name).cloned()
}

fn service_config<A: Adapter>(tag: &str) -> tcm_proto::Config {
    let mut config = client_config(&format!("{}-{tag}", A::NAME));
    config.reconnect = Some(ReconnectPolicy::forever(Backoff {
        initial: Duration::from_millis(20),
        cap: Duration::from_millis(200),
    }));
    config
}

/// `tcm.test` resolves to servers A and B, then A, B and C, then B and C, while a load of
/// inferences runs (every output checked): no call fails; C gets members only once its
/// `/ready` says so, then gets traffic; A is drained, closed, and gets nothing more; B keeps
/// the two connections it had from the start (no reconnect storm).
pub fn a_pool_follows_a_service_name_as_replicas_come_and_go<A: Adapter>() {
    let (a, b, c) = (server(), server(), server());
    let answer = Answer::default();
    answer.set(&[&a, &b]);
    let pool = PoolOptions::new(2)
        .resolve_every(Duration::from_millis(20))
        .resolver(answer.resolver());
    let pool = A::pool_connect_service(
        "ws://tcm.test:8000/ws",
        service_config::<A>("svc"),
        pool,
        &Opts::default(),
    )
    .expect("connects to the replicas the name resolves to");
    let stats = A::pool_stats(&pool);
    assert_eq!(stats.replicas.len(), 2, "{stats:?}");
    assert_eq!(replica(&stats, &a).map(|r| r.members), Some(2));
    assert_eq!(replica(&stats, &b).map(|r| r.members), Some(2));

    let (stop, calls, failures) = (
        AtomicBool::new(false),
        AtomicUsize::new(0),
        Mutex::new(Vec::new()),
    );
    std::thread::scope(|s| {
        s.spawn(|| pool_load::<A>(&pool, &stop, &calls, &failures));
        let _stop = StopOnDrop(&stop);

        // C appears, but is not ready yet: it is probed, and gets no member.
        c.set_ready(false);
        answer.set(&[&a, &b, &c]);
        assert!(
            eventually(Duration::from_secs(10), || c.stats().http_requests >= 2),
            "C's /ready is probed"
        );
        assert!(replica(&A::pool_stats(&pool), &c).is_none());
        assert!(
            c.connected_uuids().is_empty(),
            "no connection to C before it is ready"
        );

        // C is ready: it joins with two members and takes calls.
        c.set_ready(true);
        assert!(
            eventually(Duration::from_secs(10), || {
                replica(&A::pool_stats(&pool), &c).is_some_and(|r| r.ready == 2)
            }),
            "C joined: {:?}",
            A::pool_stats(&pool)
        );
        assert!(
            eventually(Duration::from_secs(30), || {
                replica(&A::pool_stats(&pool), &c).is_some_and(|r| r.attempts >= 12)
            }),
            "C takes calls: {:?}",
            A::pool_stats(&pool)
        );

        // A goes: it leaves the pool, its connections close once idle, and it gets nothing more.
        answer.set(&[&b, &c]);
        assert!(
            eventually(Duration::from_secs(10), || replica(
                &A::pool_stats(&pool),
                &a
            )
            .is_none()),
            "A left the pool: {:?}",
            A::pool_stats(&pool)
        );
        assert!(
            eventually(Duration::from_secs(30), || a.connected_uuids().is_empty()),
            "A's connections were closed once drained: {:?}",
            a.connected_uuids()
        );
        let a_frames = a.stats().frames_received;
        let before = calls.load(Ordering::Relaxed);
        assert!(
            eventually(Duration::from_secs(30), || calls.load(Ordering::Relaxed)
                >= before + 48),
            "calls go on over B and C"
        );
        assert_eq!(
            a.stats().frames_received,
            a_frames,
            "A got no call after it went"
        );
    });
    let failures = failures.into_inner().unwrap_or_default();
    assert!(failures.is_empty(), "failed calls: {failures:?}");
    let stats = A::pool_stats(&pool);
    assert!(stats.calls > 0 && stats.failed == 0, "{stats:?}");
    let b_stats = replica(&stats, &b).expect("B stays");
    assert_eq!(
        (b_stats.connects, b_stats.reconnects, b_stats.disconnects),
        (2, 0, 0),
        "B's members were never reconnected: {stats:?}"
    );
    assert_eq!(b.stats().auth_successes, 2, "B saw its two members once");
    A::pool_close(&pool);
}

/// A replica that drops its connections shows in its counters: its members' transports were
/// lost and came back, while the other replica's were untouched.
pub fn a_pool_counts_the_reconnects_of_each_replica<A: Adapter>() {
    let (a, b) = (server(), server());
    let answer = Answer::default();
    answer.set(&[&a, &b]);
    let pool = A::pool_connect_service(
        "ws://tcm.test:8000/ws",
        service_config::<A>("svc-count"),
        PoolOptions::new(1).resolver(answer.resolver()),
        &Opts::default(),
    )
    .expect("connects");
    a.drop_on_next_inference(u32::MAX);
    let outputs = A::pool_infer_many(&pool, (0..8).map(|i| identity(vec![i as f32])).collect());
    for (i, out) in outputs.into_iter().enumerate() {
        let out = out.expect("replayed on B when A drops it");
        assert_eq!(output0(&out), vec![i as f32]);
    }
    a.drop_on_next_inference(0);
    assert!(
        eventually(Duration::from_secs(10), || {
            replica(&A::pool_stats(&pool), &a).is_some_and(|r| r.reconnects >= 1 && r.ready == 1)
        }),
        "A's member reconnected: {:?}",
        A::pool_stats(&pool)
    );
    let stats = A::pool_stats(&pool);
    let (ra, rb) = (replica(&stats, &a).unwrap(), replica(&stats, &b).unwrap());
    assert!(ra.disconnects >= 1, "{ra:?}");
    assert_eq!(
        ra.connects,
        ra.reconnects + 1,
        "one member: its first connect, then reconnects"
    );
    assert_eq!(
        (rb.connects, rb.reconnects, rb.disconnects),
        (1, 0, 0),
        "{rb:?}"
    );
    assert!(stats.replays >= 1, "{stats:?}");
    A::pool_close(&pool);
}

/// A name is kept for TLS when its address is dialled: a `wss://localhost` URL on a port where
/// nothing listens reaches the TLS proxy at the resolved address, and the proxy's `localhost`
/// certificate is checked against the name — by a pool following the name, and by a client
/// told where to connect.
pub fn a_service_name_is_kept_for_tls_when_its_addresses_are_dialled<A: Adapter>() {
    let backend = server();
    let proxy = tls::TlsProxy::start(backend.addr());
    let opts = Opts {
        ca_pem: Some(proxy.ca_pem.clone().into_bytes()),
        ..Opts::default()
    };
    let proxy_addr = proxy.addr;
    let to_proxy = move |host: &str, _port: u16| {
        assert_eq!(host, "localhost");
        Ok(vec![proxy_addr])
    };
    // Port 1: nothing listens there; only the resolved address leads to the proxy.
    let url = "wss://localhost:1/ws";
    let pool = A::pool_connect_service(
        url,
        service_config::<A>("svc-tls"),
        PoolOptions::new(1).resolver(to_proxy),
        &opts,
    )
    .expect("the pool connects over TLS to the resolved address");
    let out = A::pool_infer_many(&pool, vec![identity(vec![4.0])]);
    assert_eq!(
        output0(out[0].as_ref().expect("inference over TLS")),
        vec![4.0]
    );
    A::pool_close(&pool);

    let direct = Opts {
        connect_to: Some(proxy_addr),
        ..opts
    };
    let client = A::connect(
        url,
        AuthContext::anonymous(),
        service_config::<A>("tls-direct"),
        &direct,
    )
    .expect("a client told where to connect keeps the name for TLS");
    A::queue_stats(&client).expect("queue_stats over TLS");
    assert_eq!(A::health(&client), Ok(200), "probes go to the address too");
    A::close(&client);
}

/// A name that resolves to nothing, or to replicas none of which is ready, is a typed
/// connect error.
pub fn a_service_without_a_ready_replica_is_a_connect_error<A: Adapter>() {
    let nothing = |_: &str, _: u16| Ok(Vec::new());
    let r = A::pool_connect_service(
        "ws://tcm.test:8000/ws",
        service_config::<A>("svc-none"),
        PoolOptions::new(1).resolver(nothing),
        &Opts::default(),
    );
    assert!(
        matches!(&r, Err(super::ConnectFailure::Other(m)) if m.contains("tcm.test")),
        "{:?}",
        r.err()
    );
    let down = server();
    down.set_ready(false);
    let answer = Answer::default();
    answer.set(&[&down]);
    let r = A::pool_connect_service(
        "ws://tcm.test:8000/ws",
        service_config::<A>("svc-down"),
        PoolOptions::new(1).resolver(answer.resolver()),
        &Opts::default(),
    );
    assert!(
        matches!(&r, Err(super::ConnectFailure::Other(m)) if m.contains("503")),
        "{:?}",
        r.err()
    );
    assert!(down.connected_uuids().is_empty(), "no session is opened");
}

/// A client's counters: calls by kind and outcome, none left in flight, a latency, and a
/// lost transport counted as a disconnect and a reconnect.
pub fn a_client_counts_its_calls_and_reconnects<A: Adapter>() {
    let server = server();
    let client = A::connect(
        &server.ws_url(),
        AuthContext::anonymous(),
        service_config::<A>("count"),
        &Opts::default(),
    )
    .expect("connects");
    let fresh = A::stats(&client);
    assert_eq!((fresh.calls, fresh.connects, fresh.reconnects), (0, 1, 0));

    A::queue_stats(&client).expect("queue_stats");
    A::queue_stats(&client).expect("queue_stats");
    let out = A::infer(&client, identity(vec![1.0]), None).expect("inference");
    assert_eq!(output0(&out), vec![1.0]);
    server.drop_on_next_inference(1);
    let dropped = A::infer(&client, identity(vec![2.0]), None);
    assert!(
        matches!(dropped, Err(CallFailure::Request(_))),
        "{dropped:?}"
    );
    assert!(
        eventually(Duration::from_secs(10), || A::stats(&client).reconnects
            == 1),
        "the client came back: {:?}",
        A::stats(&client)
    );
    let out = A::infer(&client, identity(vec![3.0]), None).expect("inference after reconnect");
    assert_eq!(output0(&out), vec![3.0]);

    let stats = A::stats(&client);
    assert_eq!(
        (stats.calls, stats.failed, stats.in_flight),
        (5, 1, 0),
        "{stats:?}"
    );
    assert_eq!(
        stats.by_kind,
        vec![("info", 2, 0), ("management", 0, 0), ("inference", 3, 1)]
    );
    assert_eq!(
        stats.by_outcome,
        vec![
            ("ok", 4),
            ("server_error", 0),
            ("timeout", 0),
            ("disconnected", 1),
            ("cancelled", 0),
            ("refused", 0)
        ],
        "the dropped inference ended disconnected"
    );
    assert_eq!(
        (stats.connects, stats.reconnects, stats.disconnects),
        (2, 1, 1),
        "{stats:?}"
    );
    assert!(stats.mean_latency_us > 0, "{stats:?}");
    A::close(&client);
    assert_eq!(
        A::stats(&client).disconnects,
        1,
        "a close asked for is not a lost transport"
    );
}
