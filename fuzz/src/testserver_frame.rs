//! `testserver_frame`: arbitrary text fed to the test server's per-frame session logic, before
//! and after auth, and to the inference and management paths. The property: nothing panics,
//! and every answer is JSON.

use std::sync::Arc;
use std::time::Duration;
use tcm_testserver::session::{Action, JobKind, MemoryEnv, Session};
use tcm_testserver::{Config, inference, management};

fn config() -> Arc<Config> {
    Arc::new(Config {
        stream_chunk_interval: Duration::ZERO,
        shm_dir: "/nonexistent-tcm-fuzz-shm".into(),
        max_request_payload_mb: 1,
        ..Config::default()
    })
}

fn check(actions: &[Action]) {
    for a in actions {
        if let Action::Send(text) = a {
            assert!(
                serde_json::from_str::<serde_json::Value>(text).is_ok(),
                "server frame is not JSON: {text}"
            );
        }
    }
}

/// The target body.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let cfg = config();

    // Before auth: the input is the first frame.
    let mut env = MemoryEnv::default();
    let mut fresh = Session::new(Arc::clone(&cfg));
    check(&fresh.on_text(&text, &mut env));

    // After auth: every line is one frame.
    let mut env = MemoryEnv::default();
    let mut authed = Session::new(Arc::clone(&cfg));
    check(&authed.on_text(r#"{"uuid":"fz","type":"auth","payload":{}}"#, &mut env));
    for line in text.split('\n') {
        check(&authed.on_text(line, &mut env));
    }

    // Jobs that reached the dispatcher run through the inference and management logic.
    for job in &env.submitted {
        match job.kind {
            JobKind::Inference => {
                inference::run(
                    &job.uuid,
                    &job.payload,
                    &cfg,
                    &inference::CircuitBreakers::default(),
                    &tcm_testserver::tensor::ShmMappings::default(),
                    &mut |f| {
                        assert!(serde_json::from_str::<serde_json::Value>(&f).is_ok());
                    },
                    &|| false,
                );
            }
            JobKind::Management => {
                let f = management::response(job);
                assert!(serde_json::from_str::<serde_json::Value>(&f).is_ok());
            }
            JobKind::Info => {}
        }
    }
}
