//! Per-uuid queues (10/5/10), the 10 ms fair-scheduling pass and the worker pools
//! (info 2, management 1, inference 5), with reorderable completion.

use crate::faults::FaultState;
use crate::frames::{self, QueueStats};
use crate::inference::{self, Failure, TritonError};
use crate::management;
use crate::registry::Outbound;
use crate::server::Shared;
use crate::session::{self, Job, JobKind, Submit};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KINDS: [JobKind; 3] = [JobKind::Info, JobKind::Management, JobKind::Inference];

fn index(kind: JobKind) -> usize {
    match kind {
        JobKind::Info => 0,
        JobKind::Management => 1,
        JobKind::Inference => 2,
    }
}

/// Per-uuid queue capacity.
pub fn queue_capacity(kind: JobKind) -> usize {
    [10, 5, 10][index(kind)]
}

/// Worker threads per pool.
pub fn workers(kind: JobKind) -> usize {
    [2, 1, 5][index(kind)]
}

/// Executor slots (running + waiting) per pool.
pub fn executor_slots(kind: JobKind) -> u64 {
    [100, 50, 200][index(kind)]
}

/// Dispatches per tenant and scheduler pass.
pub fn pass_budget(kind: JobKind) -> usize {
    [10, 4, 5][index(kind)]
}

type SharedReceiver = Arc<Mutex<Receiver<Job>>>;

const QUEUE_IDLE_EXPIRY: Duration = Duration::from_secs(900);
const ADVISORY_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct UserQueue {
    tenant: String,
    items: VecDeque<Job>,
    last_used: Instant,
    seq: u64,
}

#[derive(Debug, Default)]
struct Queues {
    map: HashMap<(String, JobKind), UserQueue>,
    advisories: HashMap<(String, JobKind), Instant>,
    seq: u64,
}

#[derive(Debug)]
struct Pool {
    tx: Mutex<Option<Sender<Job>>>,
    pending: AtomicU64,
}

/// The job dispatcher: queues, scheduler pass and worker pools.
#[derive(Debug)]
pub struct Dispatcher {
    queues: Mutex<Queues>,
    pools: [Pool; 3],
    receivers: Mutex<Vec<(JobKind, SharedReceiver)>>,
}

impl Default for Dispatcher {
    fn default() -> Self {
        Self::new()
    }
}

impl Dispatcher {
    /// A dispatcher whose pools are created but not yet running (see `start`).
    pub fn new() -> Self {
        let mut receivers = Vec::new();
        let pools = KINDS.map(|kind| {
            let (tx, rx) = channel();
            receivers.push((kind, Arc::new(Mutex::new(rx))));
            Pool {
                tx: Mutex::new(Some(tx)),
                pending: AtomicU64::new(0),
            }
        });
        Dispatcher {
            queues: Mutex::new(Queues::default()),
            pools,
            receivers: Mutex::new(receivers),
        }
    }

    /// Queues a job for its uuid, or reports a full queue.
    pub fn submit(&self, job: Job) -> Submit {
        let Ok(mut q) = self.queues.lock() else {
            return Submit::QueueFull;
        };
        q.seq += 1;
        let seq = q.seq;
        let key = (job.uuid.clone(), job.kind);
        let entry = q.map.entry(key).or_insert_with(|| UserQueue {
            tenant: job.tenant.clone(),
            items: VecDeque::new(),
            last_used: Instant::now(),
            seq,
        });
        entry.last_used = Instant::now();
        if entry.items.len() >= queue_capacity(job.kind) {
            return Submit::QueueFull;
        }
        entry.items.push_back(job);
        Submit::Queued
    }

    /// The 14 queue counters.
    pub fn stats(&self) -> QueueStats {
        let mut s = QueueStats::default();
        if let Ok(q) = self.queues.lock() {
            let mut users = std::collections::HashSet::new();
            for ((uuid, kind), uq) in &q.map {
                users.insert(uuid.clone());
                let n = uq.items.len() as u64;
                match kind {
                    JobKind::Info => {
                        s.info_users += 1;
                        s.info_total_queued += n;
                    }
                    JobKind::Management => {
                        s.management_users += 1;
                        s.management_total_queued += n;
                    }
                    JobKind::Inference => {
                        s.inference_users += 1;
                        s.inference_total_queued += n;
                    }
                }
            }
            s.total_users = users.len() as u64;
            s.total_queued =
                s.info_total_queued + s.management_total_queued + s.inference_total_queued;
        }
        let pending = |k: JobKind| self.pools[index(k)].pending.load(Ordering::SeqCst);
        s.executor_info_pending = pending(JobKind::Info);
        s.executor_management_pending = pending(JobKind::Management);
        s.executor_inference_pending = pending(JobKind::Inference);
        s.executor_info_available =
            executor_slots(JobKind::Info).saturating_sub(s.executor_info_pending);
        s.executor_management_available =
            executor_slots(JobKind::Management).saturating_sub(s.executor_management_pending);
        s.executor_inference_available =
            executor_slots(JobKind::Inference).saturating_sub(s.executor_inference_pending);
        s
    }

    /// Removes every waiting job (shutdown drain), in the order info, management, inference.
    pub fn take_waiting(&self) -> Vec<Job> {
        let mut out = Vec::new();
        if let Ok(mut q) = self.queues.lock() {
            for kind in KINDS {
                let mut keys: Vec<(u64, (String, JobKind))> = q
                    .map
                    .iter()
                    .filter(|((_, k), _)| *k == kind)
                    .map(|(key, uq)| (uq.seq, key.clone()))
                    .collect();
                keys.sort();
                for (_, key) in keys {
                    if let Some(uq) = q.map.get_mut(&key) {
                        out.extend(uq.items.drain(..));
                    }
                }
            }
        }
        out
    }

    /// Whether no job is waiting or running.
    pub fn idle(&self) -> bool {
        let waiting = self
            .queues
            .lock()
            .map(|q| q.map.values().all(|uq| uq.items.is_empty()))
            .unwrap_or(true);
        waiting
            && self
                .pools
                .iter()
                .all(|p| p.pending.load(Ordering::SeqCst) == 0)
    }

    /// Closes the pools: workers exit once their current job is done.
    pub fn close(&self) {
        for p in &self.pools {
            if let Ok(mut tx) = p.tx.lock() {
                tx.take();
            }
        }
    }

    /// One scheduler pass: moves up to the per-tenant budget of each kind into the pools;
    /// returns the advisory frames to send as `(uuid, frame)`.
    fn pass(&self, advisories_enabled: bool) -> Vec<(String, String)> {
        let mut advisories = Vec::new();
        let mut dispatch: Vec<Job> = Vec::new();
        let Ok(mut q) = self.queues.lock() else {
            return advisories;
        };
        let now = Instant::now();
        q.map.retain(|_, uq| {
            !uq.items.is_empty() || now.duration_since(uq.last_used) < QUEUE_IDLE_EXPIRY
        });
        for kind in [JobKind::Inference, JobKind::Management, JobKind::Info] {
            let mut by_tenant: HashMap<String, Vec<(u64, String)>> = HashMap::new();
            for ((uuid, k), uq) in &q.map {
                if *k == kind && !uq.items.is_empty() {
                    by_tenant
                        .entry(uq.tenant.clone())
                        .or_default()
                        .push((uq.seq, uuid.clone()));
                }
            }
            let mut tenants: Vec<_> = by_tenant.into_iter().collect();
            tenants.sort();
            for (tenant, mut uuids) in tenants {
                uuids.sort();
                let mut budget = pass_budget(kind);
                let mut progressed = true;
                while budget > 0 && progressed {
                    progressed = false;
                    for (_, uuid) in &uuids {
                        if budget == 0 {
                            break;
                        }
                        if let Some(job) = q
                            .map
                            .get_mut(&(uuid.clone(), kind))
                            .and_then(|uq| uq.items.pop_front())
                        {
                            dispatch.push(job);
                            budget -= 1;
                            progressed = true;
                        }
                    }
                }
                let left = uuids.iter().find(|(_, u)| {
                    q.map
                        .get(&(u.clone(), kind))
                        .is_some_and(|uq| !uq.items.is_empty())
                });
                if let (Some((_, uuid)), true) = (left, advisories_enabled) {
                    let key = (tenant.clone(), kind);
                    let due = q
                        .advisories
                        .get(&key)
                        .is_none_or(|t| now.duration_since(*t) >= ADVISORY_INTERVAL);
                    if due {
                        q.advisories.insert(key, now);
                        advisories.push((
                            uuid.clone(),
                            frames::insufficient_budget(kind.as_str(), &tenant),
                        ));
                    }
                }
            }
        }
        drop(q);
        for job in dispatch {
            let pool = &self.pools[index(job.kind)];
            pool.pending.fetch_add(1, Ordering::SeqCst);
            let sent = pool
                .tx
                .lock()
                .ok()
                .and_then(|tx| tx.as_ref().map(|tx| tx.send(job).is_ok()))
                .unwrap_or(false);
            if !sent {
                pool.pending.fetch_sub(1, Ordering::SeqCst);
            }
        }
        advisories
    }
}

/// Starts the scheduler thread and the worker pools.
pub(crate) fn start(shared: &Arc<Shared>) -> Vec<std::thread::JoinHandle<()>> {
    let mut handles = Vec::new();
    let receivers = shared
        .dispatcher
        .receivers
        .lock()
        .map(|r| r.clone())
        .unwrap_or_default();
    for (kind, rx) in receivers {
        for i in 0..workers(kind) {
            let shared = Arc::clone(shared);
            let rx = Arc::clone(&rx);
            let h = std::thread::Builder::new()
                .name(format!("tcm-{}-{i}", kind.as_str()))
                .spawn(move || worker(shared, rx));
            if let Ok(h) = h {
                handles.push(h);
            }
        }
    }
    let s = Arc::clone(shared);
    if let Ok(h) = std::thread::Builder::new()
        .name("tcm-scheduler".into())
        .spawn(move || {
            while !s.stopping.load(Ordering::SeqCst) {
                std::thread::sleep(s.config.scheduler_tick);
                for (uuid, frame) in s.dispatcher.pass(s.config.budget_advisories) {
                    s.registry.send(&uuid, Outbound::Text(frame));
                }
            }
        })
    {
        handles.push(h);
    }
    handles
}

fn worker(shared: Arc<Shared>, rx: Arc<Mutex<Receiver<Job>>>) {
    loop {
        let job = match rx.lock() {
            Ok(r) => r.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let kind = job.kind;
        run_job(&shared, job);
        shared.dispatcher.pools[index(kind)]
            .pending
            .fetch_sub(1, Ordering::SeqCst);
    }
}

/// Sends a worker reply through the fault switches (discard, delay) and the uuid routing.
pub(crate) fn respond(shared: &Shared, uuid: &str, frame: String) {
    let delay = match shared.faults.lock() {
        Ok(mut f) => {
            if FaultState::take(&mut f.discard_replies) {
                return;
            }
            f.reply_delay
        }
        Err(_) => Duration::ZERO,
    };
    if !delay.is_zero() {
        std::thread::sleep(delay);
    }
    shared.registry.send(uuid, Outbound::Text(frame));
}

enum InferenceFault {
    None,
    Silent,
    DropConnection,
    Fail(String),
}

fn run_job(shared: &Arc<Shared>, job: Job) {
    match job.kind {
        JobKind::Info => {
            let action = session::info_action(&job.payload);
            let job_id = job.payload.get("job_id").cloned().unwrap_or(Value::Null);
            respond(
                shared,
                &job.uuid,
                frames::info_not_implemented(&job_id, &action),
            );
        }
        JobKind::Management => {
            if !shared.config.management_latency.is_zero() {
                std::thread::sleep(shared.config.management_latency);
            }
            respond(shared, &job.uuid, management::response(&job));
        }
        JobKind::Inference => run_inference(shared, job),
    }
}

fn run_inference(shared: &Arc<Shared>, job: Job) {
    let fault = match shared.faults.lock() {
        Ok(mut f) => {
            if shared.config.never_answer_inference || f.never_answer_inference {
                InferenceFault::Silent
            } else if FaultState::take(&mut f.drop_on_inference) {
                InferenceFault::DropConnection
            } else if let Some(code) = f.fail_inferences.pop_front() {
                InferenceFault::Fail(code)
            } else {
                InferenceFault::None
            }
        }
        Err(_) => InferenceFault::None,
    };
    let (lo, hi) = shared.config.inference_latency_ms;
    let latency = shared.rng.lock().map(|mut r| r.range(lo, hi)).unwrap_or(lo);
    std::thread::sleep(Duration::from_millis(latency));
    let uuid = job.uuid.clone();
    match fault {
        InferenceFault::Silent => {}
        InferenceFault::DropConnection => {
            shared.registry.send(&uuid, Outbound::Drop);
        }
        InferenceFault::Fail(code) => {
            let model = job
                .payload
                .get("model_name")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string();
            let f = Failure::Direct(TritonError::new(&code, &model, "injected fault"));
            respond(
                shared,
                &uuid,
                inference::failed_frame(&uuid, &f, shared.config.error_style),
            );
        }
        InferenceFault::None => {
            let flag = shared.cancel_flag(&uuid);
            flag.store(false, Ordering::SeqCst);
            let cancelled = || flag.load(Ordering::SeqCst);
            inference::run(
                &uuid,
                &job.payload,
                &shared.config,
                &shared.breakers,
                &shared.shm_mappings,
                &mut |frame| respond(shared, &uuid, frame),
                &cancelled,
            );
        }
    }
}

/// A per-uuid stream cancel flag.
pub type CancelFlag = Arc<AtomicBool>;
