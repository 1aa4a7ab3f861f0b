//! Keepalive: ask for a ping when the link has been idle, declare the peer dead when nothing
//! comes back in time.

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::event::Transmit;

/// Keepalive timings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepaliveConfig {
    /// Idle time (nothing received) after which a ping is sent.
    pub interval: Duration,
    /// Time to wait for any frame after a ping before the peer is declared dead.
    pub timeout: Duration,
}

impl Default for KeepaliveConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(10),
        }
    }
}

/// What the keepalive timer asks for when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeepaliveAction {
    /// Not due yet.
    Nothing,
    /// Send a ping now.
    Ping,
    /// The peer is dead.
    Dead,
}

/// Keepalive state of one open connection.
#[derive(Debug, Clone)]
pub(crate) struct Keepalive {
    config: KeepaliveConfig,
    last_rx: Instant,
    ping_sent: Option<Instant>,
}

impl Keepalive {
    pub(crate) fn new(config: KeepaliveConfig, now: Instant) -> Self {
        Self {
            config,
            last_rx: now,
            ping_sent: None,
        }
    }

    /// Anything arrived: the peer is alive.
    pub(crate) fn on_receive(&mut self, now: Instant) {
        self.last_rx = now;
        self.ping_sent = None;
    }

    /// When the timer must fire next.
    pub(crate) fn deadline(&self) -> Instant {
        match self.ping_sent {
            Some(sent) => sent + self.config.timeout,
            None => self.last_rx + self.config.interval,
        }
    }

    pub(crate) fn on_timeout(&mut self, now: Instant) -> KeepaliveAction {
        if now < self.deadline() {
            return KeepaliveAction::Nothing;
        }
        match self.ping_sent {
            Some(_) => KeepaliveAction::Dead,
            None => {
                self.ping_sent = Some(now);
                KeepaliveAction::Ping
            }
        }
    }
}

/// Fires the keepalive timer of an open session: queues a ping, or, when the peer is dead,
/// queues the close frame and returns `true` so the caller disconnects.
pub(crate) fn fire(
    keepalive: &mut Option<Keepalive>,
    now: Instant,
    transmits: &mut impl Extend<Transmit>,
) -> bool {
    let action = keepalive
        .as_mut()
        .map_or(KeepaliveAction::Nothing, |k| k.on_timeout(now));
    match action {
        KeepaliveAction::Nothing => false,
        KeepaliveAction::Ping => {
            transmits.extend([Transmit::Ping(Bytes::from_static(b"keepalive"))]);
            false
        }
        KeepaliveAction::Dead => {
            transmits.extend([Transmit::Close {
                code: 1001,
                reason: "keepalive timeout".to_owned(),
            }]);
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_link_gets_a_ping_then_dies_without_an_answer() {
        let t0 = Instant::now();
        let cfg = KeepaliveConfig::default();
        let mut k = Keepalive::new(cfg, t0);
        assert_eq!(
            k.on_timeout(t0 + Duration::from_secs(1)),
            KeepaliveAction::Nothing
        );
        assert_eq!(k.deadline(), t0 + cfg.interval);
        assert_eq!(k.on_timeout(t0 + cfg.interval), KeepaliveAction::Ping);
        assert_eq!(k.deadline(), t0 + cfg.interval + cfg.timeout);
        assert_eq!(
            k.on_timeout(t0 + cfg.interval + cfg.timeout),
            KeepaliveAction::Dead
        );
    }

    #[test]
    fn any_frame_answers_the_ping() {
        let t0 = Instant::now();
        let cfg = KeepaliveConfig::default();
        let mut k = Keepalive::new(cfg, t0);
        assert_eq!(k.on_timeout(t0 + cfg.interval), KeepaliveAction::Ping);
        let t1 = t0 + cfg.interval + Duration::from_secs(1);
        k.on_receive(t1);
        assert_eq!(k.deadline(), t1 + cfg.interval);
    }
}
