//! Conformance, part 2: every recorded TCM conversation replays against the test server.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tcm_testserver::{Config, TestServer, TestServerHandle};
use tcm_vectors::{ClientTarget, Conversation, ServerActions};

/// Conversations that cannot be reproduced faithfully, with the reason.
const SKIP: &[(&str, &str)] = &[];

/// How many conversations run at once (most of the time is spent in recorded silences).
const PARALLEL: usize = 24;

struct Actions<'a> {
    server: &'a mut TestServerHandle,
}

impl ServerActions for Actions<'_> {
    fn server_action(&mut self, action: &str) -> Result<(), String> {
        match action {
            "sigterm" => {
                self.server.shutdown_gracefully(Duration::from_secs(2));
                Ok(())
            }
            "sigterm_hold" => {
                self.server.begin_shutdown();
                Ok(())
            }
            "triton_server_state_change" => self
                .server
                .inject_alert(
                    "TritonServerStateChanged",
                    "[TritonThread] Server (10.0.0.5, 0123456789ab) state changed: ['status: ready -> unhealthy']",
                )
                .map(|_| ())
                .ok_or_else(|| "no connected client to alert".to_string()),
            other => Err(format!("unknown server action '{other}'")),
        }
    }
}

fn replay(conv: &Conversation) -> Result<(), String> {
    let config = Config::profile(&conv.server_profile).map_err(|e| e.to_string())?;
    let mut server = TestServer::start(config).map_err(|e| e.to_string())?;
    let target = ClientTarget {
        addr: server.addr(),
    };
    let result = tcm_vectors::play_client(
        conv,
        &target,
        &mut Actions {
            server: &mut server,
        },
    );
    server.stop();
    result.map(|_| ()).map_err(|f| f.to_string())
}

#[test]
fn every_recorded_conversation_replays_against_the_server() {
    let dir = tcm_vectors::tcm_conversations_dir();
    let conversations = Conversation::load_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot load vectors from {}: {e}", dir.display()));
    assert!(
        conversations.len() >= 100,
        "expected the recorded conversations in {}",
        dir.display()
    );
    let queue: Arc<Mutex<Vec<Conversation>>> = Arc::new(Mutex::new(
        conversations
            .into_iter()
            .filter(|c| !SKIP.iter().any(|(name, _)| *name == c.name))
            .collect(),
    ));
    let total = queue.lock().map(|q| q.len()).unwrap_or(0);
    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    let started = Instant::now();
    let threads: Vec<_> = (0..PARALLEL)
        .map(|_| {
            let queue = Arc::clone(&queue);
            let failures = Arc::clone(&failures);
            std::thread::spawn(move || {
                loop {
                    let Some(conv) = queue.lock().ok().and_then(|mut q| q.pop()) else {
                        return;
                    };
                    if let Err(e) = replay(&conv) {
                        if let Ok(mut f) = failures.lock() {
                            f.push(format!("{}: {e}", conv.name));
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("replay thread panicked");
    }
    let mut failures = failures.lock().map(|f| f.clone()).unwrap_or_default();
    failures.sort();
    eprintln!(
        "replayed {total} conversations in {:.1} s ({} skipped)",
        started.elapsed().as_secs_f64(),
        SKIP.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {total} conversations failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
