//! The JSON-RPC handler worker: runs server → client requests and notifications off the
//! client's I/O thread or task, one at a time in arrival order, each under a deadline
//! and with panics caught.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use serde_json::Value;
use tcm_proto::jsonrpc::{RpcError, ServerMethod};

use super::handlers::SharedHandlers;

/// Work for the handler worker, in arrival order: a server request or notification.
#[derive(Debug)]
pub struct Job(Work);

#[derive(Debug)]
enum Work {
    /// A server request; its reply goes back with this id.
    Request { id: Value, method: ServerMethod },
    /// A server notification; never answered.
    Notification { method: String, params: Value },
}

impl Job {
    /// A server request; its reply goes back with this id.
    pub(crate) fn request(id: Value, method: ServerMethod) -> Self {
        Self(Work::Request { id, method })
    }

    /// A server notification; never answered.
    pub(crate) fn notification(method: String, params: Value) -> Self {
        Self(Work::Notification { method, params })
    }
}

type Task = Box<dyn FnOnce() -> Result<Value, RpcError> + Send>;

/// A thread that runs one task at a time. A task that overruns its deadline is abandoned with
/// its thread; the next task gets a fresh thread, so one stuck handler cannot block the queue.
struct Executor {
    tasks: Sender<Task>,
    results: Receiver<Result<Value, RpcError>>,
}

impl Executor {
    fn spawn() -> std::io::Result<Self> {
        let (tasks, task_rx) = mpsc::channel::<Task>();
        let (result_tx, results) = mpsc::channel();
        std::thread::Builder::new()
            .name("tcm-rpc-handler".to_owned())
            .spawn(move || {
                for task in task_rx {
                    let outcome = catch_unwind(AssertUnwindSafe(task))
                        .unwrap_or_else(|payload| Err(panicked(payload.as_ref())));
                    if result_tx.send(outcome).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Self { tasks, results })
    }
}

fn panicked(payload: &(dyn Any + Send)) -> RpcError {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    RpcError::internal(format!("handler panicked: {text}"))
}

fn run(
    executor: &mut Option<Executor>,
    timeout: Option<Duration>,
    task: Task,
) -> Result<Value, RpcError> {
    if executor.is_none() {
        match Executor::spawn() {
            Ok(e) => *executor = Some(e),
            Err(e) => {
                return Err(RpcError::internal(format!(
                    "cannot start a handler thread: {e}"
                )));
            }
        }
    }
    let Some(e) = executor.as_ref() else {
        return Err(RpcError::internal("no handler thread"));
    };
    if e.tasks.send(task).is_err() {
        *executor = None;
        return Err(RpcError::internal("the handler thread stopped"));
    }
    let outcome = match timeout {
        Some(t) => e.results.recv_timeout(t),
        None => e.results.recv().map_err(|_| RecvTimeoutError::Disconnected),
    };
    match outcome {
        Ok(result) => result,
        Err(RecvTimeoutError::Timeout) => {
            *executor = None;
            let t = timeout.unwrap_or_default();
            tracing::warn!(timeout = ?t, "handler timed out; its thread is abandoned");
            Err(RpcError::internal(format!("handler timed out after {t:?}")))
        }
        Err(RecvTimeoutError::Disconnected) => {
            *executor = None;
            Err(RpcError::internal("the handler thread stopped"))
        }
    }
}

/// Starts the worker thread. `client` yields a handle for the handlers (`None` once every
/// handle is gone); `reply` sends a request's outcome back to the I/O loop.
pub fn spawn<C, U, R>(
    jobs: async_channel::Receiver<Job>,
    handlers: SharedHandlers<C>,
    client: U,
    reply: R,
    timeout: Option<Duration>,
) -> std::io::Result<()>
where
    C: Send + 'static,
    U: Fn() -> Option<C> + Send + 'static,
    R: Fn(Value, Result<Value, RpcError>) + Send + 'static,
{
    std::thread::Builder::new()
        .name("tcm-rpc-worker".to_owned())
        .spawn(move || {
            let mut executor = None;
            while let Ok(Job(job)) = jobs.recv_blocking() {
                let current = handlers.current();
                match job {
                    Work::Request { id, method } => {
                        let name = method.name();
                        let outcome = match (current.request, client()) {
                            (Some(handler), Some(c)) => {
                                tracing::debug!(method = name, "running request handler");
                                run(
                                    &mut executor,
                                    timeout,
                                    Box::new(move || handler(&c, method)),
                                )
                            }
                            (None, _) => Err(RpcError::method_not_found(name)),
                            (Some(_), None) => Err(RpcError::internal("the client is closing")),
                        };
                        if let Err(e) = &outcome {
                            tracing::debug!(method = name, code = e.code, "request handler failed");
                        }
                        reply(id, outcome);
                    }
                    Work::Notification { method, params } => {
                        if let (Some(handler), Some(c)) = (current.notification, client()) {
                            let task: Task = Box::new(move || {
                                handler(&c, &method, &params);
                                Ok(Value::Null)
                            });
                            if let Err(e) = run(&mut executor, timeout, task) {
                                tracing::warn!(error = %e, "notification handler failed");
                            }
                        } else {
                            tracing::debug!(%method, "notification without a handler");
                        }
                    }
                }
            }
        })
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_and_overruns_become_internal_errors() {
        let mut ex = None;
        let e = run(&mut ex, None, Box::new(|| panic!("boom"))).unwrap_err();
        assert_eq!(e.code, -32603);
        assert_eq!(e.exception(), Some("handler panicked: boom"));
        let slow: Task = Box::new(|| {
            std::thread::sleep(Duration::from_millis(300));
            Ok(Value::Null)
        });
        let e = run(&mut ex, Some(Duration::from_millis(20)), slow).unwrap_err();
        assert!(e.exception().is_some_and(|t| t.contains("timed out")));
        let ok = run(
            &mut ex,
            Some(Duration::from_secs(1)),
            Box::new(|| Ok(Value::Bool(true))),
        );
        assert_eq!(ok, Ok(Value::Bool(true)));
    }
}
