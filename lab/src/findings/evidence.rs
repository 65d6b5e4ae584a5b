//! The cells the narrative's sentences rest on beyond the rankings, each chosen by a rule: the pool's bound on
//! `io`, what thread-per-request paid beside async at one concurrency, and what a blocking call did to every
//! server that waits without a thread. Figures and names; the sentences are `export::prose::narrative`'s.

use super::misses::ModelMiss;
use crate::records::run::{Cell, Model, Run, Workload};

/// From this ratio of RSS on, thread-per-request is said to pay in memory too, not only in threads.
pub const MEMORY_PAID: f64 = 1.2;

/// A cell measured cleanly: ok, no request failed, a wall time.
fn good(cell: &&Cell) -> bool {
    cell.is_ok() && cell.failed == 0 && cell.wall_s.is_some()
}

/// A pool's bound: its `io` cell at the highest concurrency above its workers that the model predicted.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolBound {
    pub server: String,
    pub workers: u64,
    pub requests: u64,
    pub concurrency: u64,
    pub wall_s: f64,
    pub expected_s: f64,
}

pub fn pool_bound(run: &Run) -> Option<PoolBound> {
    let pool = run.servers.iter().find(|s| s.model == Model::Pool)?;
    let workers = pool.worker_threads?;
    let cell = run
        .cells_of(Workload::Io)
        .filter(good)
        .filter(|c| c.server == pool.name && c.concurrency > workers && c.expected_wall_s.is_some())
        .max_by_key(|c| c.concurrency)?;
    let (requests, concurrency) = (cell.requests, cell.concurrency);
    Some(PoolBound {
        server: pool.name.clone(),
        workers,
        requests,
        concurrency,
        wall_s: cell.wall_s?,
        expected_s: cell.expected_wall_s?,
    })
}

/// A server's peak threads and RSS in one cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Footprint {
    pub server: String,
    pub threads: u64,
    pub rss_kib: u64,
}

/// A thread-per-request and an async server on `io` at the highest concurrency (10 or more) where one client
/// measured both, with their cost.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryPair {
    pub concurrency: u64,
    pub threaded: Footprint,
    pub asynchronous: Footprint,
}

impl MemoryPair {
    /// The thread-per-request server's RSS ÷ the async server's.
    pub fn rss_ratio(&self) -> f64 {
        self.threaded.rss_kib as f64 / self.asynchronous.rss_kib.max(1) as f64
    }
}

pub fn memory_pair(run: &Run) -> Option<MemoryPair> {
    let of = |model: Model| -> Vec<&str> {
        run.servers.iter().filter(|s| s.model == model).map(|s| s.name.as_str()).collect()
    };
    let (threaded, asyncs) = (of(Model::ThreadPerRequest), of(Model::Async));
    let io: Vec<&Cell> = run.cells_of(Workload::Io).filter(good).filter(|c| c.server_cost.is_some()).collect();
    let mut best: Option<(&Cell, &Cell)> = None;
    for t in io.iter().filter(|c| threaded.contains(&c.server.as_str())) {
        for a in io.iter().filter(|c| asyncs.contains(&c.server.as_str())) {
            if a.client == t.client
                && a.concurrency == t.concurrency
                && a.requests == t.requests
                && best.is_none_or(|(b, _)| t.concurrency > b.concurrency)
            {
                best = Some((t, a));
            }
        }
    }
    let (t, a) = best.filter(|(t, _)| t.concurrency >= 10)?;
    let footprint = |c: &Cell| {
        let cost = c.server_cost.as_ref()?;
        Some(Footprint { server: c.server.clone(), threads: cost.peak_threads, rss_kib: cost.peak_rss_kib })
    };
    Some(MemoryPair { concurrency: t.concurrency, threaded: footprint(t)?, asynchronous: footprint(a)? })
}

/// What a blocking call did to one server that waits without a thread: its `blocking` cell at the highest
/// concurrency above 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Stall {
    pub server: String,
    pub model: Model,
    pub requests: u64,
    pub wall_s: f64,
    pub block_s: f64,
    /// The threads the measured instance reported, else the verified one's.
    pub threads: Option<u64>,
    /// The requests took twice the sleep or more: the sleeps queued on the server's few threads.
    pub stalled: bool,
    /// The cell is a model miss.
    pub missed: bool,
    /// A thread-per-request server's cell for the same requests (client and concurrency): its name and wall time.
    pub threaded: Option<(String, f64)>,
}

pub fn stalls(run: &Run, misses: &[ModelMiss]) -> Vec<Stall> {
    let block_s = run.settings.block_ms as f64 / 1000.0;
    let model_of = |name: &str| run.servers.iter().find(|s| s.name == name).map(|s| s.model);
    run.servers
        .iter()
        .filter(|s| s.model.waits_without_a_thread())
        .filter_map(|server| {
            let blocking = || run.cells_of(Workload::Blocking).filter(good);
            let cell =
                blocking().filter(|c| c.server == server.name && c.concurrency > 1).max_by_key(|c| c.concurrency)?;
            let wall_s = cell.wall_s?;
            let threaded = blocking().find(|c| {
                c.concurrency == cell.concurrency
                    && c.client == cell.client
                    && model_of(&c.server) == Some(Model::ThreadPerRequest)
            });
            Some(Stall {
                server: server.name.clone(),
                model: server.model,
                requests: cell.requests,
                wall_s,
                block_s,
                threads: cell.runs.iter().find_map(|m| m.instance).map_or(server.worker_threads, |i| i.worker_threads),
                stalled: wall_s >= 2.0 * block_s,
                missed: misses.iter().any(|m| m.cell == cell.id),
                threaded: threaded.and_then(|t| Some((t.server.clone(), t.wall_s?))),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::headline::fixture;
    use crate::records::run::ServerCost;

    #[test]
    fn the_narrative_rests_on_the_cells_its_rules_choose() {
        let mut run = fixture();
        // pool-server's 16 workers bound io: its predicted cell above them is c=100.
        let pool = pool_bound(&run).expect("the pool's io cell above its workers");
        assert_eq!((pool.workers, pool.concurrency, pool.wall_s, pool.expected_s), (16, 100, 7.02, 7.0));
        // smol-server's ten 0.2 s sleeps took 2.0 s, twice the sleep or more: a stall, and thread-server's 0.201 s
        // for the same requests beside it. It carries no prediction, so no miss.
        let stalls = stalls(&run, &[]);
        assert_eq!(stalls.len(), 1, "{stalls:?}");
        assert_eq!((stalls[0].server.as_str(), stalls[0].stalled, stalls[0].missed), ("smol-server", true, false));
        assert_eq!(stalls[0].threaded, Some(("thread-server".to_string(), 0.201)));
        // No cost sampled: nothing to say of memory. With it, the highest concurrency both models reached.
        assert_eq!(memory_pair(&run), None);
        for c in run.cells.iter_mut().filter(|c| c.workload == Workload::Io) {
            let rss = if c.server == "thread-server" { 3000 } else { 1000 };
            c.server_cost = Some(ServerCost { peak_threads: c.concurrency, peak_rss_kib: rss, ..Default::default() });
        }
        let pair = memory_pair(&run).expect("thread-server and smol-server at c=100");
        assert_eq!(
            (pair.concurrency, pair.threaded.server.as_str(), pair.asynchronous.server.as_str()),
            (100, "thread-server", "smol-server")
        );
        assert_eq!(pair.rss_ratio(), 3.0);
    }
}
