//! The prediction each cell is measured against, and the bottleneck flag.
//!
//! Waiting work (`io`) costs no CPU, so its ideal wall time is set by how many requests can wait at once:
//! D × ceil(requests ÷ effective concurrency), the effective concurrency being the smaller of the client's and
//! the server's. A thread-per-request server and an async server can wait on any number of requests at once; a
//! pool-server only on as many as it has worker threads. Blocking work (`/block`) turns an async server into a
//! pool of its executor threads: a task that blocks holds its thread, so only that many requests progress.
//! The same holds for stackful coroutines (a coroutine that calls a blocking function holds its worker thread)
//! and for completion loops (a loop that sleeps submits nothing and reaps nothing): for the model they are
//! async servers with their own names, so that the tables and verdicts keep them apart.

use crate::records::run::Workload;
use crate::records::run::{Bottleneck, Model};
use serde_json::Value;

/// How a server runs requests concurrently, as far as the model is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConcurrencyModel {
    /// One OS thread per request: unbounded waiting and blocking (until a system limit).
    ThreadPerRequest,
    /// A fixed pool of worker threads (× processes).
    Pool { workers: u64 },
    /// An async executor with this many threads (× processes): unbounded waiting, blocking bounded by threads.
    Async { executor_threads: u64 },
    /// Stackful coroutines on this many scheduler threads (× processes): as `Async` for the model.
    Coroutine { worker_threads: u64 },
    /// Completion loops (io_uring), this many (× processes): as `Async` for the model.
    Completion { loops: u64 },
    /// A foreign server without `/health`: unbounded waiting assumed, no blocking prediction.
    Unknown,
}

impl ConcurrencyModel {
    /// Reads the model from a `/health` document, falling back on the server's name.
    pub fn from_health(name: &str, health: Option<&Value>) -> ConcurrencyModel {
        let field = |key: &str| health.and_then(|h| h.get(key));
        let threads = field("threads").and_then(Value::as_u64);
        let processes = field("processes").and_then(Value::as_u64).unwrap_or(1).max(1);
        let model = field("model").and_then(Value::as_str).unwrap_or("").to_lowercase();
        let says = |words: &[&str]| words.iter().any(|w| model.contains(w) || name.contains(w));
        match threads {
            Some(0) => ConcurrencyModel::ThreadPerRequest,
            Some(t) if says(&["coroutine"]) => ConcurrencyModel::Coroutine { worker_threads: t * processes },
            Some(t) if says(&["completion", "uring"]) => ConcurrencyModel::Completion { loops: t * processes },
            Some(t) if says(&["async", "smol", "executor", "task", "event"]) => {
                ConcurrencyModel::Async { executor_threads: t * processes }
            }
            Some(t) if says(&["pool", "worker"]) => ConcurrencyModel::Pool { workers: t * processes },
            Some(_) if says(&["thread-per", "thread per", "thread-server"]) => ConcurrencyModel::ThreadPerRequest,
            Some(t) => ConcurrencyModel::Pool { workers: t * processes },
            None if health.is_some() && says(&["thread-per", "thread-server"]) => ConcurrencyModel::ThreadPerRequest,
            None => ConcurrencyModel::Unknown,
        }
    }

    /// The model a measured instance reported on `/health` (`fallback` when it said too little).
    pub fn of_instance(instance: crate::records::run::Instance, fallback: ConcurrencyModel) -> ConcurrencyModel {
        match (instance.model, instance.worker_threads) {
            (Model::ThreadPerRequest, _) => ConcurrencyModel::ThreadPerRequest,
            (Model::Pool, Some(workers)) => ConcurrencyModel::Pool { workers },
            (Model::Async, Some(executor_threads)) => ConcurrencyModel::Async { executor_threads },
            (Model::Coroutine, Some(worker_threads)) => ConcurrencyModel::Coroutine { worker_threads },
            (Model::Completion, Some(loops)) => ConcurrencyModel::Completion { loops },
            _ => fallback,
        }
    }

    pub fn name(self) -> &'static str {
        self.kind().as_str()
    }

    /// The model without its thread count, as the run JSON records it.
    pub fn kind(self) -> Model {
        match self {
            ConcurrencyModel::ThreadPerRequest => Model::ThreadPerRequest,
            ConcurrencyModel::Pool { .. } => Model::Pool,
            ConcurrencyModel::Async { .. } => Model::Async,
            ConcurrencyModel::Coroutine { .. } => Model::Coroutine,
            ConcurrencyModel::Completion { .. } => Model::Completion,
            ConcurrencyModel::Unknown => Model::Unknown,
        }
    }

    /// Threads bounding the server's concurrency (pool workers, executor threads); None when unbounded/unknown.
    pub fn threads(self) -> Option<u64> {
        match self {
            ConcurrencyModel::Pool { workers } => Some(workers),
            ConcurrencyModel::Async { executor_threads } => Some(executor_threads),
            ConcurrencyModel::Coroutine { worker_threads } => Some(worker_threads),
            ConcurrencyModel::Completion { loops } => Some(loops),
            _ => None,
        }
    }

    /// How many requests of `workload` the server can have in progress at once; None = unbounded.
    /// Some(None) vs None: the outer Option says whether the model predicts this workload at all.
    pub fn server_concurrency(self, workload: Workload) -> Option<Option<u64>> {
        match (workload, self) {
            (Workload::Io, ConcurrencyModel::Pool { workers }) => Some(Some(workers)),
            (Workload::Io, _) => Some(None),
            (Workload::Blocking, ConcurrencyModel::ThreadPerRequest) => Some(None),
            (Workload::Blocking, ConcurrencyModel::Pool { workers }) => Some(Some(workers)),
            (Workload::Blocking, ConcurrencyModel::Async { executor_threads }) => Some(Some(executor_threads)),
            (Workload::Blocking, ConcurrencyModel::Coroutine { worker_threads }) => Some(Some(worker_threads)),
            (Workload::Blocking, ConcurrencyModel::Completion { loops }) => Some(Some(loops)),
            _ => None,
        }
    }
}

/// The model's prediction for one cell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    pub expected_wall_s: f64,
    pub effective_concurrency: u64,
}

/// D × ceil(requests ÷ min(client concurrency, server concurrency)), for io and blocking; None otherwise.
pub fn predict(
    model: ConcurrencyModel,
    workload: Workload,
    wait_ms: u64,
    client_concurrency: u64,
    requests: u64,
) -> Option<Prediction> {
    let server = model.server_concurrency(workload)?;
    let client = client_concurrency.clamp(1, requests.max(1));
    let effective = server.map_or(client, |s| s.max(1).min(client));
    let rounds = requests.div_ceil(effective);
    Some(Prediction { expected_wall_s: rounds as f64 * wait_ms as f64 / 1000.0, effective_concurrency: effective })
}

/// A core is "full" from this fraction on: the client is the limit when it burns this much and the server doesn't.
pub const FULL_CORE: f64 = 0.85;

/// `client-bound` when the client burned close to a full core while the server did not; `server-bound` when the
/// server did; else `none` (the cell waited, as io should).
/// The fraction of its own CPU set a side must use to count as saturated.
pub const SATURATED: f64 = 0.85;

/// Which side used its CPU set to the full, from each side's utilisation of its own set.
pub fn saturation(server_utilisation: f64, client_utilisation: f64) -> crate::records::run::Saturation {
    use crate::records::run::Saturation;
    match (server_utilisation >= SATURATED, client_utilisation >= SATURATED) {
        (true, true) => Saturation::Both,
        (true, false) => Saturation::Server,
        (false, true) => Saturation::Client,
        (false, false) => Saturation::None,
    }
}

pub fn bottleneck(client_cpu_cores: f64, server_cpu_cores: f64) -> Bottleneck {
    if client_cpu_cores >= FULL_CORE && server_cpu_cores < FULL_CORE {
        Bottleneck::ClientBound
    } else if server_cpu_cores >= FULL_CORE {
        Bottleneck::ServerBound
    } else {
        Bottleneck::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_models_from_health() {
        let h = json!({"server":"thread-server","model":"thread-per-request","pid":1,"threads":0,"processes":1});
        assert_eq!(ConcurrencyModel::from_health("thread-server", Some(&h)), ConcurrencyModel::ThreadPerRequest);
        let h = json!({"server":"pool-server","model":"thread pool","pid":1,"threads":4,"processes":2});
        assert_eq!(ConcurrencyModel::from_health("pool-server", Some(&h)), ConcurrencyModel::Pool { workers: 8 });
        let h = json!({"server":"smol-server","model":"async (smol)","pid":1,"threads":2,"processes":1});
        assert_eq!(
            ConcurrencyModel::from_health("smol-server", Some(&h)),
            ConcurrencyModel::Async { executor_threads: 2 }
        );
        let h = json!({"server":"tokio-server","model":"async tasks on a tokio runtime (hyper)","threads":1});
        assert_eq!(
            ConcurrencyModel::from_health("tokio-server", Some(&h)),
            ConcurrencyModel::Async { executor_threads: 1 }
        );
        // Event loops block on /block like executor threads do; the worker pool they hand blocking calls to
        // does not make them a pool server.
        let h = json!({"server":"lean-server","model":"event loops on mio, one per thread (own HTTP/1.1), factorials and SQLite on a worker pool","threads":2});
        assert_eq!(
            ConcurrencyModel::from_health("lean-server", Some(&h)),
            ConcurrencyModel::Async { executor_threads: 2 }
        );
        // A coroutine scheduler and completion loops are models of their own, whatever else their words say.
        let h = json!({"server":"coroutine-server","model":"stackful coroutines on may, one per connection, on a worker pool","threads":2,"processes":2});
        assert_eq!(
            ConcurrencyModel::from_health("coroutine-server", Some(&h)),
            ConcurrencyModel::Coroutine { worker_threads: 4 }
        );
        let h = json!({"server":"uring-server","model":"completion loops on io_uring, one per thread (own HTTP/1.1), factorials and SQLite on a worker pool","threads":1});
        assert_eq!(ConcurrencyModel::from_health("uring-server", Some(&h)), ConcurrencyModel::Completion { loops: 1 });
        assert_eq!(ConcurrencyModel::from_health("tornado", None), ConcurrencyModel::Unknown);
    }

    #[test]
    fn coroutines_and_completion_loops_wait_unbounded_and_block_their_threads() {
        // Ten sleeps of 100 ms on one coroutine worker or one completion loop: one at a time (the thread is held);
        // on two, two at a time. Ten waits of 1 s at once: 1 s on either, as on any async server.
        for one in [ConcurrencyModel::Coroutine { worker_threads: 1 }, ConcurrencyModel::Completion { loops: 1 }] {
            assert_eq!(predict(one, Workload::Blocking, 100, 10, 10).unwrap().expected_wall_s, 1.0);
            assert_eq!(predict(one, Workload::Io, 1000, 10, 10).unwrap().expected_wall_s, 1.0);
        }
        let two = ConcurrencyModel::Coroutine { worker_threads: 2 };
        assert_eq!(predict(two, Workload::Blocking, 100, 10, 10).unwrap().expected_wall_s, 0.5);
        assert_eq!(two.kind(), Model::Coroutine);
        assert_eq!(ConcurrencyModel::Completion { loops: 3 }.threads(), Some(3));
    }

    #[test]
    fn the_original_experiment() {
        let smol = ConcurrencyModel::Async { executor_threads: 1 };
        // One request ≈ D; ten one at a time ≈ 10 D; ten at once ≈ D.
        assert_eq!(predict(smol, Workload::Io, 1000, 1, 1).unwrap().expected_wall_s, 1.0);
        assert_eq!(predict(smol, Workload::Io, 1000, 1, 10).unwrap().expected_wall_s, 10.0);
        assert_eq!(predict(smol, Workload::Io, 1000, 10, 10).unwrap().expected_wall_s, 1.0);
        // A blocking call serialises the single-threaded executor.
        assert_eq!(predict(smol, Workload::Blocking, 100, 10, 10).unwrap().expected_wall_s, 1.0);
        // A pool of 4 waits on 4 at a time.
        let pool = ConcurrencyModel::Pool { workers: 4 };
        let p = predict(pool, Workload::Io, 1000, 100, 100).unwrap();
        assert_eq!((p.expected_wall_s, p.effective_concurrency), (25.0, 4));
        assert!(predict(pool, Workload::Cpu, 1000, 10, 10).is_none());
        assert!(predict(ConcurrencyModel::Unknown, Workload::Blocking, 100, 10, 10).is_none());
    }

    #[test]
    fn bottleneck_flags() {
        assert_eq!(bottleneck(0.95, 0.3), Bottleneck::ClientBound);
        assert_eq!(bottleneck(0.95, 0.95), Bottleneck::ServerBound);
        assert_eq!(bottleneck(0.1, 0.1), Bottleneck::None);
    }
}
