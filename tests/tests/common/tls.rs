//! A TLS-terminating proxy in front of the plain test server, with a CA generated at test time.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// A running proxy; dropping it stops accepting and ends the relays.
pub struct TlsProxy {
    /// The proxy's address on loopback.
    pub addr: SocketAddr,
    /// The CA certificate that signed the proxy's `localhost` certificate, in PEM.
    pub ca_pem: String,
    stop: Arc<AtomicBool>,
}

impl TlsProxy {
    /// `wss://localhost:PORT/ws`.
    pub fn wss_url(&self) -> String {
        format!("wss://localhost:{}/ws", self.addr.port())
    }

    /// Starts a proxy relaying TLS clients to `backend` in plain TCP.
    pub fn start(backend: SocketAddr) -> Self {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "tcm test CA");
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA cert");
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().expect("leaf key");
        let leaf_params =
            CertificateParams::new(vec!["localhost".to_owned()]).expect("leaf params");
        let leaf = leaf_params
            .signed_by(&leaf_key, &issuer)
            .expect("leaf cert");

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone(), ca_cert.der().clone()], key)
            .expect("server config");
        let config = Arc::new(config);

        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(tcp) = conn else { continue };
                let config = Arc::clone(&config);
                let stop3 = Arc::clone(&stop2);
                std::thread::spawn(move || {
                    let _ = relay(tcp, backend, config, &stop3);
                });
            }
        });
        Self {
            addr,
            ca_pem: ca_cert.pem(),
            stop,
        }
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Relays one client until either side closes (bounded by the stop flag).
fn relay(
    tcp: TcpStream,
    backend: SocketAddr,
    config: Arc<ServerConfig>,
    stop: &AtomicBool,
) -> io::Result<()> {
    let tick = Some(Duration::from_millis(2));
    tcp.set_read_timeout(tick)?;
    let mut client = StreamOwned::new(
        ServerConnection::new(config).map_err(io::Error::other)?,
        tcp,
    );
    let mut server = TcpStream::connect(backend)?;
    server.set_read_timeout(tick)?;
    server.set_nodelay(true)?;
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::SeqCst) {
        match client.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => server.write_all(&buf[..n])?,
            Err(e) if is_timeout(&e) => {}
            Err(_) => break,
        }
        match server.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                client.write_all(&buf[..n])?;
                client.flush()?;
            }
            Err(e) if is_timeout(&e) => {}
            Err(_) => break,
        }
    }
    client.conn.send_close_notify();
    let _ = client.flush();
    Ok(())
}
