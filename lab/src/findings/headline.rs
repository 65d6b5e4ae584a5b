//! The headline's figures: one row per server, grouped by concurrency model, with the few figures that decide
//! between thread-per-request, a pool and async — `io` wall time at 100 requests in flight (and at the highest
//! reach level), server CPU per request, the best throughput, memory and threads per in-flight connection, the
//! cost of a blocking call, and (from a capacity run) the open-loop capacity — each with its ratio to the best.
//!
//! Everything here is computed from the [`Run`] (so `lab report` rebuilds it) and read only from evidence cells
//! ([`noise::evidence`]): a client-saturated cell measured the client, never the server. Differences are judged
//! by the lab's one noise rule ([`noise::judge`]), so a tie is a tie. Companion runs (`crate::companion`) fill
//! the reach and capacity columns; the writers' table is `export::prose::headline`.

use crate::noise::{self, Metric, Verdict};
use crate::records::run::{
    Cell, Client, ClientKind, Companion, CompanionKind, Model, Run, ServerKind, Status, Workload,
};

/// The `io` level the headline reads first: 100 requests in flight at once.
pub const HEADLINE_LEVEL: u64 = 100;

/// A capacity figure as the headline shows it: the rate held and the lowest that failed, if any.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Held {
    pub rps: f64,
    pub first_failed: Option<f64>,
    /// The load generator, not the server, set the figure: a lower bound on the server's capacity.
    pub client_bound: bool,
}

/// How the headline groups servers: by concurrency model, and a foreign server (tornado, nginx) on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    ThreadPerRequest,
    Pool,
    Async,
    Coroutine,
    Completion,
    Foreign,
    Unknown,
}

impl Group {
    pub fn name(self) -> &'static str {
        match self {
            Group::ThreadPerRequest => "thread-per-request",
            Group::Pool => "pool",
            Group::Async => "async",
            Group::Coroutine => "coroutine",
            Group::Completion => "completion",
            Group::Foreign => "foreign",
            Group::Unknown => "unknown model",
        }
    }
}

/// The group of a server of the run.
pub fn group_of(run: &Run, server: &str) -> Group {
    match run.servers.iter().find(|s| s.name == server) {
        Some(s) if s.kind == ServerKind::Foreign => Group::Foreign,
        Some(s) => match s.model {
            Model::ThreadPerRequest => Group::ThreadPerRequest,
            Model::Pool => Group::Pool,
            Model::Async => Group::Async,
            Model::Coroutine => Group::Coroutine,
            Model::Completion => Group::Completion,
            Model::Unknown => Group::Unknown,
        },
        None => Group::Unknown,
    }
}

/// One figure with its repetitions' range, and how it stands against the best of its column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranked {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// None: a tie with the best (or the best itself); Some(f): `f`× worse than the best, beyond the noise.
    pub worse_by: Option<f64>,
}

/// One row of the headline table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub server: String,
    pub group: Group,
    /// Worker or executor threads, when the server has a fixed number.
    pub worker_threads: Option<u64>,
    /// `io` wall time at [`Headline::level`] requests in flight.
    pub io: Option<Ranked>,
    /// `io` wall time at [`Headline::far_level`], requests that failed there, and what stopped it (bench).
    pub io_far: Option<(f64, u64, Option<String>)>,
    /// Server CPU µs per request on `baseline` and `cpu`, and the level read (see [`cpu_per_request`]).
    pub cpu_us_baseline: Option<(f64, u64)>,
    pub cpu_us_cpu: Option<(f64, u64)>,
    /// `cpu` throughput at the headline level, ranked against the other servers: one like-for-like figure.
    pub cpu_rps: Option<Ranked>,
    /// The server says (`/health`) that it runs factorials and SQLite on a worker pool, off its event loops.
    pub offloads_cpu_work: bool,
    /// Memory and threads per waiting connection, from a fit with its quality.
    pub memory: Option<Memory>,
    /// `blocking` wall at [`Headline::blocking_level`] concurrent requests, and the model's expectation.
    pub blocking: Option<(f64, Option<f64>)>,
    /// (workload, the rate held or None) from the capacity companion.
    pub capacity: Vec<(Workload, Option<Held>)>,
}

/// What one waiting connection costs a server: slopes over the levels of a fit, and the fit's r² (RSS).
#[derive(Debug, Clone, PartialEq)]
pub struct Memory {
    pub rss_kib: f64,
    /// `KernelStack` + `Slab` per connection, when the fit's cells had kernel figures.
    pub kernel_kib: Option<f64>,
    pub r2: f64,
    /// The concurrency levels the fit went through.
    pub levels: Vec<u64>,
    pub threads: f64,
}

/// Where the reach column comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum FarSource {
    /// The run's own io cells at its highest level.
    Run,
    /// A bench run's reach part: (file, commit, client, whether it measured this run's code).
    Bench { source: String, commit: String, client: String, same_code: bool },
}

/// The whole headline: the table's rows and what its columns were read from.
#[derive(Debug, Clone, PartialEq)]
pub struct Headline {
    /// The concurrent client every matrix column reads.
    pub client: Client,
    pub level: u64,
    /// The `io` level of the reach column, and where it comes from (None: no column).
    pub far_level: Option<(u64, FarSource)>,
    /// The capacity companion's file, commit and client, and its workloads in order.
    pub capacity_source: Option<(String, String, String, bool)>,
    pub capacity_workloads: Vec<Workload>,
    pub block_s: f64,
    /// The `blocking` level the penalty is read at.
    pub blocking_level: u64,
    pub rows: Vec<Row>,
}

/// An evidence cell of `server` × `client` × `workload` at `level`: the one with the most requests.
fn cell_at<'a>(run: &'a Run, server: &str, client: Client, workload: Workload, level: u64) -> Option<&'a Cell> {
    run.cells
        .iter()
        .filter(|c| c.server == server && c.client == client && c.workload == workload && c.concurrency == level)
        .filter(|c| noise::evidence(c))
        .max_by_key(|c| c.requests)
}

/// Ranks one figure per row against the best by the noise rule.
fn rank(cells: &[Option<&Cell>], metric: Metric) -> Vec<Option<Ranked>> {
    let best = cells.iter().flatten().min_by(|a, b| metric.key(a).total_cmp(&metric.key(b))).copied();
    cells
        .iter()
        .map(|cell| {
            let cell = (*cell)?;
            let range = noise::Range::of(cell, metric)?;
            let worse_by = match noise::judge(best?, cell, metric)? {
                Verdict::Tie => None,
                Verdict::Differ { factor, .. } => Some(factor),
            };
            Some(Ranked { median: range.median, min: range.min, max: range.max, worse_by })
        })
        .collect()
}

/// Server CPU µs per request of `workload` and the level it was read at: the headline level, or the highest
/// level below it with an evidence cell (a client-saturated cell at c=100 leaves the c=10 one). None for a foreign
/// server run through a wrapper (`sh -c` with a child process): the lab's rusage covers the wrapper only.
fn cpu_per_request(run: &Run, server: &str, client: Client, workload: Workload, level: u64) -> Option<(f64, u64)> {
    run.cells
        .iter()
        .filter(|c| c.server == server && c.client == client && c.workload == workload && c.concurrency <= level)
        .filter(|c| noise::evidence(c))
        .filter(|c| server_cpu_us(run, c).is_some())
        .max_by_key(|c| (c.concurrency, c.requests))
        .and_then(|c| Some((server_cpu_us(run, c)?, c.concurrency)))
}

/// A cell's server CPU µs per request, unless its server is a foreign one run through a wrapper process (`sh -c`
/// with a child): the lab's rusage then covers the wrapper only, and the figure would be near zero.
pub fn server_cpu_us(run: &Run, cell: &Cell) -> Option<f64> {
    let wrapped = group_of(run, &cell.server) == Group::Foreign
        && cell.server_cost.as_ref().is_some_and(|k| k.peak_processes > 1);
    cell.server_cpu_us_per_request.filter(|_| !wrapped)
}

/// The headline of a run; None when it has no concurrent client's cells to read.
pub fn headline(run: &Run) -> Option<Headline> {
    let client = crate::analysis::experiment_client(run).or_else(|| {
        run.cells.iter().find(|c| c.client.kind != ClientKind::BlockingClient && noise::evidence(c)).map(|c| c.client)
    })?;
    let mut servers = run.server_names();
    servers.retain(|s| run.cells.iter().any(|c| &c.server == s && c.client == client));
    // Grouped by model, the run's order kept within a group.
    servers.sort_by_key(|s| group_of(run, s));
    let io_levels: Vec<u64> =
        run.cells.iter().filter(|c| c.workload == Workload::Io && c.client == client).map(|c| c.concurrency).collect();
    let level = if io_levels.contains(&HEADLINE_LEVEL) {
        HEADLINE_LEVEL
    } else {
        io_levels.iter().copied().filter(|&l| l <= HEADLINE_LEVEL).max().or(io_levels.iter().copied().max())?
    };
    let top = io_levels.iter().copied().max().unwrap_or(level);
    let reach = run.companions.iter().rev().find(|c| c.kind == CompanionKind::Reach);
    let far_level = match reach {
        Some(r) => r.reach.iter().map(|f| f.connections).max().map(|l| {
            let source = FarSource::Bench {
                source: r.source.clone(),
                commit: r.git_commit.clone(),
                client: r.client.clone().unwrap_or_else(|| "?".into()),
                same_code: measured_this_code(r, run),
            };
            (l, source)
        }),
        None => (top > level).then_some((top, FarSource::Run)),
    };
    let capacity = run.companions.iter().rev().find(|c| c.kind == CompanionKind::Capacity);
    let capacity_workloads = crate::records::first_seen(capacity.iter().flat_map(|c| &c.capacity).map(|f| f.workload));
    let blocking_level = run
        .cells
        .iter()
        .filter(|c| c.workload == Workload::Blocking && c.client == client && c.concurrency <= 10)
        .map(|c| c.concurrency)
        .max()
        .unwrap_or(10);
    let block_s = run.settings.block_ms as f64 / 1000.0;

    let io_cells: Vec<Option<&Cell>> = servers.iter().map(|s| cell_at(run, s, client, Workload::Io, level)).collect();
    let io_ranked = rank(&io_cells, Metric::Wall);
    let cpu_cells: Vec<Option<&Cell>> = servers.iter().map(|s| cell_at(run, s, client, Workload::Cpu, level)).collect();
    let cpu_ranked = rank(&cpu_cells, Metric::Throughput);
    let rows = servers
        .iter()
        .enumerate()
        .map(|(i, server)| {
            let record = run.servers.iter().find(|s| &s.name == server);
            let io_far = match &far_level {
                Some((l, FarSource::Bench { .. })) => {
                    reach.and_then(|r| r.reach.iter().find(|f| &f.server == server && f.connections == *l)).and_then(
                        |f| f.wall_s.filter(|_| f.status == Status::Ok).map(|w| (w, f.failed, f.stopped.clone())),
                    )
                }
                Some((l, FarSource::Run)) => {
                    cell_at(run, server, client, Workload::Io, *l).and_then(|c| Some((c.wall_s?, c.failed, None)))
                }
                None => None,
            };
            let cpu_us = |w: Workload| cpu_per_request(run, server, client, w, level);
            // Memory per connection: the bench's fit over hundreds to thousands of connections when a bench
            // companion gives one, else this run's over its io sweep.
            let fit = match reach.filter(|r| !r.per_connection.is_empty()) {
                Some(r) => r.per_connection.iter().find(|p| &p.server == server),
                None => run.analysis.per_connection.iter().find(|p| &p.server == server && p.client == client),
            };
            let blocking = cell_at(run, server, client, Workload::Blocking, blocking_level)
                .and_then(|c| Some((c.wall_s?, c.expected_wall_s)));
            // The executor size the measured instances reported; the verified instance's when none did.
            let measured_threads = run
                .cells
                .iter()
                .filter(|c| &c.server == server)
                .flat_map(|c| &c.runs)
                .find_map(|m| m.instance)
                .map(|i| i.worker_threads);
            let health_model = record.and_then(|r| r.health.as_ref()).and_then(|h| h.get("model")?.as_str());
            Row {
                server: server.clone(),
                group: group_of(run, server),
                worker_threads: measured_threads.unwrap_or_else(|| record.and_then(|r| r.worker_threads)),
                io: io_ranked[i],
                io_far,
                cpu_us_baseline: cpu_us(Workload::Baseline),
                cpu_us_cpu: cpu_us(Workload::Cpu),
                cpu_rps: cpu_ranked[i],
                offloads_cpu_work: health_model.is_some_and(|m| m.contains("worker pool")),
                memory: fit.map(|f| Memory {
                    rss_kib: f.rss_kib_per_connection,
                    // The machine's kernel memory moves by more than a hundred connections' worth on its own:
                    // its slope is read only from a fit that reaches a thousand connections.
                    kernel_kib: f.kernel_kib_per_connection.filter(|_| f.points.iter().any(|p| p.0 >= 1000)),
                    r2: f.rss_r2,
                    levels: f.points.iter().map(|p| p.0).collect(),
                    threads: f.threads_per_connection,
                }),
                blocking,
                capacity: capacity_workloads
                    .iter()
                    .map(|w| {
                        let held = capacity
                            .and_then(|c| c.capacity.iter().find(|f| &f.server == server && f.workload == *w))
                            .and_then(|f| {
                                f.capacity_rps.map(|rps| Held {
                                    rps,
                                    first_failed: f.first_failed_rps,
                                    client_bound: f.client_bound.is_some(),
                                })
                            });
                        (*w, held)
                    })
                    .collect(),
            }
        })
        .collect();
    Some(Headline {
        client,
        level,
        far_level,
        capacity_source: capacity.map(|c| {
            (c.source.clone(), c.git_commit.clone(), c.client.clone().unwrap_or_else(|| "?".into()), {
                measured_this_code(c, run)
            })
        }),
        capacity_workloads,
        block_s,
        blocking_level,
        rows,
    })
}

/// Whether a companion measured the code of `run` (companions embedded before the lab checked this may not have).
fn measured_this_code(companion: &Companion, run: &Run) -> bool {
    crate::companion::same_code(companion, run.environment.trees.as_ref(), run.environment.git_dirty).is_ok()
}

/// The fixture run of these tests and its helpers, for the tests of the modules that read the headline.
#[cfg(test)]
pub(crate) use tests::{cell, fixture, row};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::run::{ConnectionCost, Saturation, ServerRecord};
    use crate::run::synthetic_cell;

    fn server(name: &str, model: Model, kind: ServerKind, threads: Option<u64>) -> ServerRecord {
        ServerRecord { kind, ..ServerRecord::passed(name, model, threads) }
    }

    /// A measured cell at `level`, with `requests`, its median and range (wall time), and server CPU per request.
    pub(crate) fn cell(
        server: &str,
        workload: &str,
        level: u64,
        median: f64,
        lo: f64,
        hi: f64,
        cpu_us: Option<f64>,
    ) -> Cell {
        let mut c = synthetic_cell(server, workload, median, lo, hi, 3);
        c.concurrency = level;
        c.requests = level;
        c.throughput_rps = Some(level as f64 / median);
        if let Some(s) = c.spread.as_mut() {
            s.throughput_min = level as f64 / hi;
            s.throughput_max = level as f64 / lo;
        }
        c.server_cpu_us_per_request = cpu_us;
        c
    }

    /// Four servers, one per group: thread-server and smol-server tie on io at c=100, the pool is bounded.
    pub(crate) fn fixture() -> Run {
        let mut run = Run::default();
        run.settings.hello_ms = 1000;
        run.settings.block_ms = 200;
        run.servers = vec![
            server("thread-server", Model::ThreadPerRequest, ServerKind::Builtin, None),
            server("pool-server", Model::Pool, ServerKind::Builtin, Some(16)),
            server("smol-server", Model::Async, ServerKind::Builtin, Some(2)),
            server("tornado", Model::Async, ServerKind::Foreign, Some(1)),
        ];
        let mut pool_io = cell("pool-server", "io", 100, 7.02, 7.01, 7.05, None);
        pool_io.expected_wall_s = Some(7.0);
        run.cells = vec![
            // The original experiment's async cell (names the concurrent client).
            cell("thread-server", "io", 10, 1.0, 1.0, 1.0, None),
            cell("thread-server", "io", 100, 1.01, 1.005, 1.015, None),
            pool_io,
            cell("smol-server", "io", 100, 1.00, 0.999, 1.002, None),
            // 2 % slower, disjoint range: still a tie by the minimum effect size.
            cell("tornado", "io", 100, 1.02, 1.019, 1.021, None),
            // cpu at c=100: 100 requests in 0.025 s = 4,000 req/s; thread-server 2,000 req/s.
            cell("thread-server", "cpu", 100, 0.05, 0.049, 0.051, Some(100.0)),
            cell("pool-server", "cpu", 100, 0.026, 0.025, 0.027, Some(12.0)),
            cell("smol-server", "cpu", 100, 0.025, 0.0248, 0.0252, Some(10.0)),
            cell("thread-server", "baseline", 100, 0.01, 0.0099, 0.0101, Some(90.0)),
            cell("smol-server", "baseline", 100, 0.02, 0.0199, 0.0201, Some(8.0)),
            cell("thread-server", "blocking", 10, 0.201, 0.2, 0.202, None),
            cell("smol-server", "blocking", 10, 2.0, 1.99, 2.01, None),
        ];
        // tornado's cpu cell was client-saturated: 50,000 req/s that measured the client — never evidence.
        let mut saturated = cell("tornado", "cpu", 100, 0.002, 0.0019, 0.0021, Some(5.0));
        saturated.saturation = Some(Saturation::Client);
        run.cells.push(saturated);
        run.analysis.per_connection = vec![ConnectionCost {
            server: "thread-server".into(),
            client: "async-client".parse().unwrap(),
            workload: Workload::Io,
            points: vec![(1, 100, 3), (100, 900, 102)],
            rss_kib_per_connection: 8.1,
            threads_per_connection: 1.0,
            rss_r2: 1.0,
            kernel_stack_kib_per_connection: None,
            slab_kib_per_connection: None,
            kernel_kib_per_connection: None,
            total_kib_per_connection: None,
        }];
        run
    }

    pub(crate) fn row<'a>(h: &'a Headline, server: &str) -> &'a Row {
        h.rows.iter().find(|r| r.server == server).unwrap()
    }

    #[test]
    fn computes_the_figures_of_a_fixture_run() {
        let h = headline(&fixture()).unwrap();
        assert_eq!(h.client.label(), "async-client");
        assert_eq!(h.level, 100);
        assert_eq!(h.far_level, None);
        // Grouped by model: thread-per-request, pool, async, foreign.
        let order: Vec<&str> = h.rows.iter().map(|r| r.server.as_str()).collect();
        assert_eq!(order, ["thread-server", "pool-server", "smol-server", "tornado"]);
        assert_eq!(row(&h, "tornado").group, Group::Foreign);
        // io: smol 1.00 is best; thread-server and tornado tie with it; the pool is 7.02× worse.
        assert_eq!(row(&h, "smol-server").io.unwrap().worse_by, None);
        assert_eq!(row(&h, "thread-server").io.unwrap().worse_by, None);
        assert_eq!(row(&h, "tornado").io.unwrap().worse_by, None);
        let pool = row(&h, "pool-server").io.unwrap().worse_by.unwrap();
        assert!((pool - 7.02).abs() < 1e-9, "{pool}");
        // CPU per request and the blocking call's wall (10 × 0.2 s on one executor thread; in parallel).
        assert_eq!(row(&h, "thread-server").cpu_us_cpu, Some((100.0, 100)));
        assert_eq!(row(&h, "smol-server").cpu_us_baseline, Some((8.0, 100)));
        assert_eq!(row(&h, "smol-server").blocking.map(|b| b.0), Some(2.0));
        assert_eq!(row(&h, "thread-server").blocking.map(|b| b.0), Some(0.201));
        // cpu: smol 4,000 req/s best; the pool's 3,846 is 4 % behind → tie; thread-server 2× fewer.
        assert_eq!(row(&h, "pool-server").cpu_rps.unwrap().worse_by, None);
        assert!((row(&h, "thread-server").cpu_rps.unwrap().worse_by.unwrap() - 2.0).abs() < 1e-9);
        // Per connection, from the analysis's fit, with its quality.
        assert_eq!(row(&h, "thread-server").memory.as_ref().map(|m| m.rss_kib), Some(8.1));
        assert_eq!(row(&h, "smol-server").memory, None);
    }

    #[test]
    fn a_client_saturated_cell_is_left_out() {
        let h = headline(&fixture()).unwrap();
        let tornado = row(&h, "tornado");
        // Its 50,000 req/s cpu cell is neither its CPU figure nor the cpu column's best, nor in any ranking.
        assert_eq!(tornado.cpu_us_cpu, None);
        assert_eq!(tornado.cpu_rps, None);
        assert_eq!(row(&h, "smol-server").cpu_rps.unwrap().worse_by, None);
        let f = crate::findings::Findings::of(&fixture());
        let cpu = f.claims.iter().find(|c| c.topic == crate::findings::Topic::CpuWork).and_then(|c| c.ranking.as_ref());
        let standings: Vec<&str> =
            cpu.expect("a cpu ranking").tiers.iter().flatten().map(|s| s.server.as_str()).collect();
        assert!(!standings.contains(&"tornado"), "{standings:?}");
    }
}
