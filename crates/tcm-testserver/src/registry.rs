//! The uuid → connection map (§13): responses are routed by uuid at send time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::mpsc::Sender;
use std::time::Instant;

/// A command for a connection's socket loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// Write a text frame.
    Text(String),
    /// Close with this code and reason.
    Close(u16, String),
    /// Drop the TCP connection without a close frame.
    Drop,
    /// Forget the connection's auth context while keeping the socket open (Q12).
    ForgetAuth,
}

#[derive(Debug, Clone)]
struct Entry {
    conn_id: u64,
    tx: Sender<Outbound>,
    connected_at: Instant,
    tenant: String,
}

/// Registered uuids plus every open WebSocket connection.
#[derive(Debug, Default)]
pub struct Registry {
    by_uuid: Mutex<HashMap<String, Entry>>,
    conns: Mutex<HashMap<u64, (Sender<Outbound>, Instant)>>,
}

impl Registry {
    /// Records an open connection (authenticated or not).
    pub fn open(&self, conn_id: u64, tx: Sender<Outbound>) {
        if let Ok(mut c) = self.conns.lock() {
            c.insert(conn_id, (tx, Instant::now()));
        }
    }

    /// Forgets a connection and releases its uuid if it still holds it.
    pub fn close(&self, conn_id: u64, uuid: Option<&str>) {
        if let Ok(mut c) = self.conns.lock() {
            c.remove(&conn_id);
        }
        if let (Some(uuid), Ok(mut m)) = (uuid, self.by_uuid.lock()) {
            // Q11: the empty uuid's slot is never released.
            if !uuid.is_empty() && m.get(uuid).is_some_and(|e| e.conn_id == conn_id) {
                m.remove(uuid);
            }
        }
    }

    /// Registers `uuid` for a connection; false if another connection holds it.
    pub fn register(&self, uuid: &str, conn_id: u64, tx: Sender<Outbound>, tenant: &str) -> bool {
        let Ok(mut m) = self.by_uuid.lock() else {
            return false;
        };
        if m.contains_key(uuid) {
            return false;
        }
        let connected_at = self
            .conns
            .lock()
            .ok()
            .and_then(|c| c.get(&conn_id).map(|(_, t)| *t))
            .unwrap_or_else(Instant::now);
        m.insert(
            uuid.to_string(),
            Entry {
                conn_id,
                tx,
                connected_at,
                tenant: tenant.to_string(),
            },
        );
        true
    }

    /// Sends to whoever holds `uuid` now; false if nobody does (the frame is dropped).
    pub fn send(&self, uuid: &str, out: Outbound) -> bool {
        let tx = match self.by_uuid.lock() {
            Ok(m) => m.get(uuid).map(|e| e.tx.clone()),
            Err(_) => None,
        };
        tx.is_some_and(|tx| tx.send(out).is_ok())
    }

    /// Removes `uuid` from the map whoever holds it; returns the holder's sender.
    pub fn unregister(&self, uuid: &str) -> Option<Sender<Outbound>> {
        self.by_uuid.lock().ok()?.remove(uuid).map(|e| e.tx)
    }

    /// The uuid of the longest-connected registered client.
    pub fn oldest(&self) -> Option<String> {
        let m = self.by_uuid.lock().ok()?;
        m.iter()
            .min_by_key(|(_, e)| e.connected_at)
            .map(|(u, _)| u.clone())
    }

    /// Some registered uuid of `tenant` (the longest-connected one).
    pub fn any_of_tenant(&self, tenant: &str) -> Option<String> {
        let m = self.by_uuid.lock().ok()?;
        m.iter()
            .filter(|(_, e)| e.tenant == tenant)
            .min_by_key(|(_, e)| e.connected_at)
            .map(|(u, _)| u.clone())
    }

    /// Registered uuids.
    pub fn uuids(&self) -> Vec<String> {
        self.by_uuid
            .lock()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Sends to every open connection.
    pub fn broadcast(&self, out: &Outbound) {
        if let Ok(c) = self.conns.lock() {
            for (tx, _) in c.values() {
                let _ = tx.send(out.clone());
            }
        }
    }

    /// Number of open WebSocket connections.
    pub fn open_count(&self) -> usize {
        self.conns.lock().map(|c| c.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    #[test]
    fn responses_follow_the_uuid_to_a_new_connection() {
        let r = Registry::default();
        let (tx1, rx1) = channel();
        r.open(1, tx1.clone());
        assert!(r.register("u", 1, tx1, "unknown"));
        let (tx2, rx2) = channel();
        r.open(2, tx2.clone());
        assert!(!r.register("u", 2, tx2.clone(), "unknown"));
        r.close(1, Some("u"));
        assert!(!r.send("u", Outbound::Drop), "nobody holds the uuid");
        assert!(r.register("u", 2, tx2, "unknown"));
        assert!(r.send("u", Outbound::Text("x".into())));
        assert!(rx1.try_recv().is_err());
        assert_eq!(rx2.try_recv().ok(), Some(Outbound::Text("x".into())));
    }

    #[test]
    fn a_stale_close_does_not_release_a_newer_holder() {
        let r = Registry::default();
        let (tx, _rx) = channel();
        assert!(r.register("u", 2, tx, "unknown"));
        r.close(1, Some("u"));
        assert_eq!(r.uuids(), vec!["u".to_string()]);
    }
}
