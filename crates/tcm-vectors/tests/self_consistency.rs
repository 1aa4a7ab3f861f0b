//! The runner agrees with itself in both directions: for every conversation, `play_server`
//! emits the recorded server frames and checks the client's, while `play_client`, connected to
//! it, sends the recorded client frames and checks the server's. Both must pass.

use std::net::TcpListener;
use std::sync::Mutex;
use std::time::Instant;

use tcm_vectors::{
    ClientTarget, Conversation, IgnoreServerActions, PassiveClient, Report, StepKind, play_client,
    play_server, tcm_conversations_dir, tellurio_dir,
};

/// Pairs run at the same time; the runs mostly sleep through silences.
const PARALLEL: usize = 12;

fn quiet_ms(conv: &Conversation) -> u64 {
    conv.steps
        .iter()
        .map(|s| match s.kind {
            StepKind::ExpectSilenceMs(ms) | StepKind::WaitMs(ms) | StepKind::NoSendMs(ms) => ms,
            _ => 0,
        })
        .sum()
}

fn play_pair(conv: &Conversation) -> Result<(Report, Report), String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    std::thread::scope(|scope| {
        let server = scope.spawn(|| play_server(conv, listener, &mut PassiveClient));
        let client = play_client(conv, &ClientTarget { addr }, &mut IgnoreServerActions);
        let server = server
            .join()
            .map_err(|_| format!("{}: server role panicked", conv.name))?;
        match (client, server) {
            (Ok(c), Ok(s)) => Ok((c, s)),
            (c, s) => {
                let mut why = Vec::new();
                if let Err(e) = c {
                    why.push(format!("client role: {e}"));
                }
                if let Err(e) = s {
                    why.push(format!("server role: {e}"));
                }
                Err(format!("{}:\n    {}", conv.name, why.join("\n    ")))
            }
        }
    })
}

#[test]
fn both_roles_agree_on_every_conversation() {
    let started = Instant::now();
    let mut convs = Conversation::load_dir(&tcm_conversations_dir()).expect("TCM vectors");
    convs.extend(Conversation::load_dir(&tellurio_dir()).expect("Tellurio vectors"));
    // Sorted shortest first: workers pop from the end, so the longest pairs start first.
    convs.sort_by_key(quiet_ms);
    let total = convs.len();
    let queue = Mutex::new(convs);
    let failures = Mutex::new(Vec::new());
    let steps = Mutex::new(0usize);
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().map(|mut q| q.pop()).unwrap_or(None);
                    let Some(conv) = next else { break };
                    match play_pair(&conv) {
                        Ok((client, server)) => {
                            assert_eq!(client.steps_run, conv.steps.len());
                            assert_eq!(server.steps_run, conv.steps.len());
                            if let Ok(mut n) = steps.lock() {
                                *n += client.steps_run;
                            }
                        }
                        Err(e) => {
                            if let Ok(mut f) = failures.lock() {
                                f.push(e);
                            }
                        }
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().expect("failures");
    assert!(
        failures.is_empty(),
        "{} of {total} conversations failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "{total} conversations, {} steps, both roles, in {:?}",
        steps.into_inner().unwrap_or(0),
        started.elapsed()
    );
}
