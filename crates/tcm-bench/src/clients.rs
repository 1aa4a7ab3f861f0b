//! Our four clients under load, measured by one lock-step and one pipelined routine for the
//! async clients (generic over the client and its runtime) and their counterparts for the
//! blocking client (which pipelines with threads sharing one `Client`).

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use tcm_proto::{AuthContext, Config, InferenceRequest, Tensor, TensorData};

use crate::Result;
use crate::window::{Sample, Window, deadline};

/// Lock-step `queue_stats` calls made on every connection before its timed window.
pub const WARM_UP: u64 = 100;

/// The values of the identity inference: 1×3×224×224 FP32 (150 528 values, 588 KiB).
pub const IDENTITY_VALUES: usize = 3 * 224 * 224;

/// What one measured call does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `info.queue_stats`: the smallest round trip.
    QueueStats,
    /// An identity inference of [`IDENTITY_VALUES`] FP32 values, the inputs sent as JSON or
    /// (with `shm`) through shared memory; the outputs come back as JSON either way.
    Identity { shm: bool },
}

/// How a client is driven in one measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Load {
    /// One call at a time, the next sent when the last has returned.
    Lockstep(Op),
    /// This many `queue_stats` calls kept in flight on one client.
    Pipelined(usize),
}

impl Op {
    /// Untimed calls before the window: enough to fill caches and connections.
    fn warm_up(self) -> u64 {
        match self {
            Op::QueueStats => WARM_UP,
            Op::Identity { .. } => 3,
        }
    }
}

/// What the values of a 1×3×224×224 FP32 input look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Values {
    /// An image as vision models take it: 8-bit pixels (a fixed pseudo-random pattern) scaled
    /// to [0, 1] and normalised per channel with the ImageNet mean and deviation, so 256
    /// distinct values per channel.
    Image,
    /// Values that (nearly) never repeat: uniform in [-1, 1) with 24 significant bits.
    Distinct,
}

impl Values {
    /// The name the SDK bench script takes.
    pub fn name(self) -> &'static str {
        match self {
            Values::Image => "image",
            Values::Distinct => "distinct",
        }
    }

    /// The [`IDENTITY_VALUES`] values, made once (the SDK bench script makes the same ones).
    pub fn values(self) -> &'static [f32] {
        static IMAGE: std::sync::OnceLock<Vec<f32>> = std::sync::OnceLock::new();
        static DISTINCT: std::sync::OnceLock<Vec<f32>> = std::sync::OnceLock::new();
        const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
        const STD: [f32; 3] = [0.229, 0.224, 0.225];
        let hash = |i: usize| (i as u32).wrapping_mul(2_654_435_761);
        match self {
            Values::Image => IMAGE.get_or_init(|| {
                (0..IDENTITY_VALUES)
                    .map(|i| {
                        let c = i / (224 * 224);
                        let pixel = (hash(i) >> 24) as f32;
                        (pixel / 255.0 - MEAN[c]) / STD[c]
                    })
                    .collect()
            }),
            Values::Distinct => DISTINCT.get_or_init(|| {
                (0..IDENTITY_VALUES)
                    .map(|i| (hash(i) >> 8) as f32 / (1u32 << 23) as f32 - 1.0)
                    .collect()
            }),
        }
    }
}

/// The identity inference request, built afresh for each call (building it is part of a call),
/// with an image's values.
fn identity_request() -> InferenceRequest {
    let values = Values::Image.values().to_vec();
    InferenceRequest::new("127.0.0.1", "c", "identity")
        .with_input(Tensor::vector("INPUT0", TensorData::Fp32(values)))
        .with_allow_transient(true)
}

/// The client configuration: 16 MiB frames, no keepalive, JSON and shared memory offered.
fn config(uuid: &str) -> Config {
    let mut c = Config::new(uuid);
    c.max_message_bytes = 16 << 20;
    c.keepalive = None;
    c.capabilities = vec!["json".into(), "shm".into()];
    c
}

/// The uuid of one measured connection.
fn uuid(client: &str, what: &str) -> String {
    format!("bench-{client}-{what}-{}", std::process::id())
}

// ----- the async clients -------------------------------------------------------------------

/// A task's outcome: the calls it completed.
type Count = Pin<Box<dyn Future<Output = Result<u64>> + Send>>;

/// An async runtime: runs a future to completion on the calling thread and spawns tasks.
pub trait Runtime {
    /// Runs `future` on the calling thread until it completes.
    fn block_on<F: Future>(&self, future: F) -> F::Output;
    /// Spawns `task` on the runtime's executor; the returned future resolves to its outcome.
    fn spawn<F: Future<Output = Result<u64>> + Send + 'static>(&self, task: F) -> Count;
}

/// smol's `block_on` and global executor.
pub struct Smol;

impl Runtime for Smol {
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        smol::block_on(future)
    }
    fn spawn<F: Future<Output = Result<u64>> + Send + 'static>(&self, task: F) -> Count {
        Box::pin(smol::spawn(task))
    }
}

/// async-std's `block_on` and global executor.
pub struct AsyncStd;

impl Runtime for AsyncStd {
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        async_std::task::block_on(future)
    }
    fn spawn<F: Future<Output = Result<u64>> + Send + 'static>(&self, task: F) -> Count {
        Box::pin(async_std::task::spawn(task))
    }
}

/// A tokio runtime, as a tokio application would build one (`#[tokio::main]`'s multi-thread
/// runtime); the tokio client is connected from within it.
impl Runtime for tokio::runtime::Runtime {
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        tokio::runtime::Runtime::block_on(self, future)
    }
    fn spawn<F: Future<Output = Result<u64>> + Send + 'static>(&self, task: F) -> Count {
        let handle = tokio::runtime::Runtime::spawn(self, task);
        Box::pin(async move { handle.await? })
    }
}

/// What the measurements need of an async client.
pub trait AsyncClient: Clone + Send + Sync + Sized + 'static {
    /// Connects anonymously with `config`.
    fn open(url: &str, config: Config) -> impl Future<Output = Result<Self>>;
    /// Makes one call of the given kind and drops its result.
    fn run(&self, op: Op) -> impl Future<Output = Result<()>> + Send;
    /// Closes the connection.
    fn shut(&self) -> impl Future<Output = ()>;
}

macro_rules! async_client {
    ($($client:ty),*) => {$(
        impl AsyncClient for $client {
            async fn open(url: &str, config: Config) -> Result<Self> {
                Ok(<$client>::connect(url, AuthContext::anonymous(), config).await?)
            }
            async fn run(&self, op: Op) -> Result<()> {
                match op {
                    Op::QueueStats => drop(self.queue_stats().await?),
                    Op::Identity { shm: false } => drop(self.infer(identity_request()).await?),
                    Op::Identity { shm: true } => {
                        drop(self.infer_shm(identity_request(), false).await?)
                    }
                }
                Ok(())
            }
            async fn shut(&self) {
                self.close().await
            }
        }
    )*};
}

async_client!(tcm_smol::Client, tcm_async_std::Client, tcm_tokio::Client);

/// An async client of type `C` under `load` for `seconds`.
pub fn drive<C: AsyncClient>(
    runtime: &impl Runtime,
    name: &str,
    url: &str,
    load: Load,
    seconds: f64,
) -> Result<Sample> {
    match load {
        Load::Lockstep(op) => lockstep::<C>(runtime, name, url, op, seconds),
        Load::Pipelined(in_flight) => pipelined::<C>(runtime, name, url, in_flight, seconds),
    }
}

/// The blocking client under `load` for `seconds`.
pub fn drive_blocking(url: &str, load: Load, seconds: f64) -> Result<Sample> {
    match load {
        Load::Lockstep(op) => lockstep_blocking(url, op, seconds),
        Load::Pipelined(in_flight) => pipelined_blocking(url, in_flight, seconds),
    }
}

/// One call at a time on one client for `seconds`, driven by `runtime`'s `block_on`.
fn lockstep<C: AsyncClient>(
    runtime: &impl Runtime,
    name: &str,
    url: &str,
    op: Op,
    seconds: f64,
) -> Result<Sample> {
    runtime.block_on(async {
        let client = C::open(url, config(&uuid(name, "l"))).await?;
        for _ in 0..op.warm_up() {
            client.run(op).await?;
        }
        let end = deadline(seconds);
        let window = Window::start();
        let mut n = 0;
        while Instant::now() < end {
            client.run(op).await?;
            n += 1;
        }
        let sample = window.finish(n);
        client.shut().await;
        Ok(sample)
    })
}

/// `in_flight` tasks of `runtime` sharing one client, each making `queue_stats` calls one
/// after the other for `seconds`.
fn pipelined<C: AsyncClient>(
    runtime: &impl Runtime,
    name: &str,
    url: &str,
    in_flight: usize,
    seconds: f64,
) -> Result<Sample> {
    runtime.block_on(async {
        let client = C::open(url, config(&uuid(name, &format!("p{in_flight}")))).await?;
        for _ in 0..WARM_UP {
            client.run(Op::QueueStats).await?;
        }
        let end = deadline(seconds);
        let window = Window::start();
        let tasks: Vec<Count> = (0..in_flight)
            .map(|_| {
                let client = client.clone();
                runtime.spawn(async move {
                    let mut n = 0;
                    while Instant::now() < end {
                        client.run(Op::QueueStats).await?;
                        n += 1;
                    }
                    Ok(n)
                })
            })
            .collect();
        let mut n = 0;
        for task in tasks {
            n += task.await?;
        }
        let sample = window.finish(n);
        client.shut().await;
        Ok(sample)
    })
}

// ----- the blocking client -----------------------------------------------------------------

/// Makes one call of the given kind on the blocking client.
fn run_blocking(client: &tcm_blocking::Client, op: Op) -> Result<()> {
    match op {
        Op::QueueStats => drop(client.queue_stats()?),
        Op::Identity { shm: false } => drop(client.infer(identity_request())?),
        Op::Identity { shm: true } => drop(client.infer_shm(identity_request(), false)?),
    }
    Ok(())
}

fn connect_blocking(url: &str, what: &str) -> Result<tcm_blocking::Client> {
    let config = config(&uuid("tcm-blocking", what));
    Ok(tcm_blocking::Client::connect(
        url,
        AuthContext::anonymous(),
        config,
    )?)
}

/// One call at a time on the blocking client for `seconds`.
fn lockstep_blocking(url: &str, op: Op, seconds: f64) -> Result<Sample> {
    let client = connect_blocking(url, "l")?;
    for _ in 0..op.warm_up() {
        run_blocking(&client, op)?;
    }
    let end = deadline(seconds);
    let window = Window::start();
    let mut n = 0;
    while Instant::now() < end {
        run_blocking(&client, op)?;
        n += 1;
    }
    let sample = window.finish(n);
    client.close();
    Ok(sample)
}

/// `in_flight` threads sharing one blocking client, each making `queue_stats` calls one after
/// the other for `seconds`. Starting the threads is inside the window, as spawning tasks is for
/// the async clients.
fn pipelined_blocking(url: &str, in_flight: usize, seconds: f64) -> Result<Sample> {
    let client = connect_blocking(url, &format!("p{in_flight}"))?;
    for _ in 0..WARM_UP {
        run_blocking(&client, Op::QueueStats)?;
    }
    let end = deadline(seconds);
    let window = Window::start();
    let n = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..in_flight)
            .map(|_| {
                scope.spawn(|| {
                    let mut n = 0u64;
                    while Instant::now() < end {
                        run_blocking(&client, Op::QueueStats)?;
                        n += 1;
                    }
                    Ok::<_, crate::BoxError>(n)
                })
            })
            .collect();
        threads.into_iter().try_fold(0, |total, t| {
            let n = t.join().map_err(|_| "a calling thread panicked")??;
            Ok::<_, crate::BoxError>(total + n)
        })
    })?;
    let sample = window.finish(n);
    client.close();
    Ok(sample)
}
