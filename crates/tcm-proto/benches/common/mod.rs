//! Setup shared by the benches.

use std::time::Instant;

use tcm_proto::{AuthContext, Config, Connection};

/// A connection that has dialled and received a legacy `auth.ok`, with its outputs drained.
pub fn open(config: Config) -> (Connection, Instant) {
    let now = Instant::now();
    let mut conn = Connection::new(config, AuthContext::anonymous());
    let _ = conn.poll_dial();
    conn.handle_connected(now);
    while conn.poll_transmit().is_some() {}
    conn.handle_text(now, r#"{"type":"auth.ok"}"#);
    while conn.poll_event().is_some() {}
    (conn, now)
}
