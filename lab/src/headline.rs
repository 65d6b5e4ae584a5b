//! The headline: the answer first. One row per server, grouped by concurrency model, with the few figures that
//! decide between thread-per-request, a pool and async — `io` wall time at 100 requests in flight (and at the
//! highest reach level), server CPU per request, the best throughput, memory and threads per in-flight
//! connection, the cost of a blocking call, and (from a capacity run) the open-loop capacity — then one
//! paragraph, generated from those figures, saying which model to choose for which work and why.
//!
//! Everything here is computed from the [`Run`] (so `lab report` rebuilds it) and read only from evidence cells
//! ([`noise::evidence`]): a client-saturated cell measured the client, never the server. Differences are judged
//! by the lab's one noise rule ([`noise::judge`]), so a tie is said as a tie.
//!
//! Companion runs (`--with FILE`): a `lab capacity` run fills the capacity columns, a `lab bench` run the reach
//! column. The figures taken are copied into the run's JSON ([`Companion`]) with their source file and commit.

use crate::format;
use crate::noise::{self, Metric, Verdict};
use crate::records::bench::{BenchRun, PartStatus};
use crate::records::capacity::CapacityRun;
use crate::records::header::{CodeTrees, RunHeader, RunKind};
use crate::records::run::{
    CapacityFigure, Cell, Client, ClientKind, Companion, CompanionKind, Engine, Model, ReachFigure, Run, ServerKind,
    Status, Workload,
};
use std::path::Path;

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

impl Held {
    /// `7,600 req/s`, or `≥ 40,000 req/s` when no rate failed.
    fn label(self) -> String {
        if self.client_bound {
            return format!("≥ {} (client-bound)", format::rate(self.rps));
        }
        match self.first_failed {
            Some(_) => format::rate(self.rps),
            None => format!("≥ {}", format::rate(self.rps)),
        }
    }
}

/// Reads a companion file: a `capacity-*.json` or a `bench-*.json` with a reach part, by the kind its header
/// names. Anything else is the user's input error, in one line.
pub fn load_companion(path: &Path) -> Result<Companion, crate::UsageError> {
    let err = |m: String| crate::UsageError(format!("--with {}: {m}", path.display()));
    let source = path.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned());
    match crate::export::json::kind_of(path)? {
        RunKind::Capacity => companion_of_capacity(&crate::export::json::load(path, "capacity")?, &source),
        RunKind::Bench => companion_of_bench(&crate::export::json::load(path, "bench")?, &source),
        RunKind::Primitives => {
            let run: crate::records::primitives::PrimitivesRun = crate::export::json::load(path, "primitives")?;
            Ok(crate::chain::companion(companion_head(CompanionKind::Primitives, &run.header, &source), &run))
        }
        other => Err(format!(
            "not a capacity, bench or primitives run (kind {other}); give a capacity-*.json, a bench-*.json or a \
             primitives-*.json"
        )),
    }
    .map_err(err)
}

/// The part of a companion every kind fills: where it came from and the code it measured.
fn companion_head(kind: CompanionKind, header: &RunHeader, source: &str) -> Companion {
    Companion {
        kind,
        source: source.to_string(),
        run_id: header.run_id.clone(),
        git_commit: header.environment.git_commit.clone(),
        git_dirty: header.environment.git_dirty,
        trees: header.environment.trees.clone(),
        client: None,
        capacity: vec![],
        reach: vec![],
        per_connection: vec![],
        primitives: None,
    }
}

/// The capacity figures of a `lab capacity` run.
fn companion_of_capacity(run: &CapacityRun, source: &str) -> Result<Companion, String> {
    let mut companion = companion_head(CompanionKind::Capacity, &run.header, source);
    companion.client = Some(run.settings.client.clone());
    companion.capacity = run
        .cells
        .iter()
        .map(|cell| CapacityFigure {
            server: cell.server.clone(),
            workload: cell.workload,
            capacity_rps: cell.capacity_rps,
            first_failed_rps: cell.first_failed_rps,
            status: cell.status,
            client_bound: cell.client_bound.clone(),
        })
        .collect();
    if companion.capacity.is_empty() {
        return Err("a capacity run without cells".into());
    }
    Ok(companion)
}

/// The reach figures and the cost per connection of a `lab bench` run.
fn companion_of_bench(run: &BenchRun, source: &str) -> Result<Companion, String> {
    let mut companion = companion_head(CompanionKind::Reach, &run.header, source);
    let reach = &run.reach;
    if reach.status == PartStatus::NotRequested {
        return Err("a bench run without its reach part (--parts reach)".into());
    }
    companion.client = Some(reach.client.clone());
    companion.reach = reach
        .cells
        .iter()
        .map(|cell| ReachFigure {
            server: cell.server.clone(),
            connections: cell.connections,
            wall_s: cell.wall_s,
            failed: cell.failed,
            status: cell.status,
            stopped: cell.stopped.as_ref().map(|cause| cause.word().to_string()),
        })
        .collect();
    if companion.reach.is_empty() {
        return Err("a bench run whose reach part has no cells".into());
    }
    companion.per_connection = run.cost.per_connection.clone();
    Ok(companion)
}

/// Refuses a companion that measured other code than the run it joins (`trees`, `dirty`: that run's): one answer
/// comes from one code. The reason in one line, for `--with`'s error.
pub fn same_code(companion: &Companion, trees: Option<&CodeTrees>, dirty: bool) -> Result<(), String> {
    let commit = &companion.git_commit;
    if dirty {
        return Err("this run's tree has uncommitted changes, so no companion can be shown to measure the same code: \
                    commit, then run both from that commit"
            .into());
    }
    if companion.git_dirty {
        return Err(format!(
            "it was made from a tree with uncommitted changes (commit {commit}): rerun it from a clean tree"
        ));
    }
    let Some(theirs) = &companion.trees else {
        return Err(format!(
            "it does not record the code it measured (commit {commit}, made before runs recorded their trees): rerun it"
        ));
    };
    let Some(ours) = trees else {
        return Err("this run does not record the code it measured, so nothing can be held against it".into());
    };
    match theirs.first_difference(ours) {
        None => Ok(()),
        Some(part) => Err(format!(
            "it measured other code: its {part}/ differs from this run's (commit {commit}): rerun it from this run's commit"
        )),
    }
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

/// A client as the tables name it: its engine and its threads. The async client's threads are the most OS
/// threads it was seen using in this run (its executor threads and the main thread, `client_cost.peak_threads`).
pub fn client_name(run: &Run, client: Client) -> String {
    let peak = run
        .cells
        .iter()
        .filter(|c| c.client == client)
        .filter_map(|c| c.client_cost.as_ref().and_then(|k| k.peak_threads))
        .max();
    let threads = |n: u64| if n == 1 { "1 thread".to_string() } else { format!("{n} threads") };
    match client.kind {
        ClientKind::BlockingClient => "blocking-client (one request at a time, 1 thread)".to_string(),
        ClientKind::PoolClient => "pool-client (one thread per connection)".to_string(),
        ClientKind::AsyncClient => {
            let engine = client.engine.unwrap_or(Engine::Surf);
            match peak {
                Some(n) => format!("async-client ({engine}, {})", threads(n)),
                None => format!("async-client ({engine})"),
            }
        }
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
    let value = |c: &Cell| match metric {
        Metric::Wall => c.wall_s.unwrap_or(f64::MAX),
        Metric::Throughput => -c.throughput_rps.unwrap_or(0.0),
    };
    let best = cells.iter().flatten().min_by(|a, b| value(a).total_cmp(&value(b))).copied();
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
    let mut servers: Vec<String> = run.servers.iter().map(|s| s.name.clone()).collect();
    for c in &run.cells {
        if !servers.contains(&c.server) {
            servers.push(c.server.clone());
        }
    }
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
    let mut capacity_workloads: Vec<Workload> = Vec::new();
    for f in capacity.iter().flat_map(|c| &c.capacity) {
        if !capacity_workloads.contains(&f.workload) {
            capacity_workloads.push(f.workload);
        }
    }
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

/// The headline as a markdown table of at most seven columns — server, model, waiting at the headline level and
/// at scale, CPU work, memory per connection, a blocking call — with a line naming the source of every column.
/// Capacity figures, when a companion gave them, follow in a table of their own.
pub fn table(run: &Run, h: &Headline) -> String {
    use crate::export::table::Table;
    let client = client_name(run, h.client);
    let io_head = format!("waiting: io, {} at once", h.level);
    let far_head = h.far_level.as_ref().map(|(l, _)| format!("waiting: io, {} at once", format::thousands(*l)));
    let cpu_head = format!("CPU work: cpu, {} at once", h.level);
    let blocking_head = format!("blocking call: {} × /block at once", h.blocking_level);
    let mut header: Vec<&str> = vec!["server", "model", &io_head];
    if let Some(f) = &far_head {
        header.push(f);
    }
    header.extend([cpu_head.as_str(), "memory per waiting connection", &blocking_head]);
    let mut t = Table::new(&header);
    let opt = |v: Option<String>| v.unwrap_or_else(|| "—".into());
    // Each figure with its range and its ratio to the column's best: the ratio is what carries to another machine.
    let best_io = h.rows.iter().filter_map(|r| r.io.map(|x| x.median)).fold(f64::INFINITY, f64::min);
    let best_cpu = h.rows.iter().filter_map(|r| r.cpu_rps.map(|x| x.median)).fold(0.0, f64::max);
    let ranged = |r: &Ranked, show: fn(f64) -> String, best: f64| {
        let ratio = format!("{:.2}×", r.median / best);
        if show(r.min) == show(r.max) {
            format!("{} · {ratio}", show(r.median))
        } else {
            format!("{} ({}) · {ratio}", show(r.median), span(&[r.min, r.max], show))
        }
    };
    for r in &h.rows {
        let mut model = r.group.name().to_string();
        match r.worker_threads {
            Some(1) => model.push_str(" · 1 thread"),
            Some(n) => model.push_str(&format!(" · {n} threads")),
            None => {}
        }
        if r.offloads_cpu_work {
            model.push_str(" · CPU work on a worker pool");
        }
        let mut cells = vec![r.server.clone(), model, opt(r.io.map(|x| ranged(&x, format::seconds, best_io)))];
        if h.far_level.is_some() {
            cells.push(opt(r.io_far.as_ref().map(|(w, failed, stopped)| {
                let mut text = format::seconds(*w);
                if let Some(cause) = stopped {
                    text.push_str(&format!(" · stopped by {cause}"));
                }
                if *failed > 0 {
                    text.push_str(&format!(" · ⚠ {} failed", format::thousands(*failed)));
                }
                text
            })));
        }
        cells.push(opt(r.cpu_rps.map(|x| {
            let mut text = ranged(&x, format::rate, best_cpu);
            if let Some((us, c)) = r.cpu_us_cpu.filter(|(_, c)| *c == h.level) {
                let _ = c;
                text.push_str(&format!(" · {us:.0} µs CPU/request"));
            }
            text
        })));
        cells.push(opt(r.memory.as_ref().map(|m| {
            let mut text = crate::analysis::fit_text(m.rss_kib, m.r2, m.levels.len());
            if m.r2 >= crate::analysis::FIT_R2_MIN {
                if let Some(kernel) = m.kernel_kib {
                    text = format!("{text} + {kernel:.1} KiB kernel");
                }
                if m.threads >= 0.5 {
                    text = format!("{text} + {:.1} threads", m.threads);
                }
            }
            text
        })));
        cells.push(opt(r.blocking.map(|(wall, expected)| match expected {
            Some(e) => format!("{} (predicted {})", format::seconds(wall), format::seconds(e)),
            None => format::seconds(wall),
        })));
        t.row(cells);
    }
    let mut md = String::new();
    t.write(&mut md);
    md.push_str(&format!(
        "\nSources: this run's {client} (its threads: the most OS threads the client was seen using), median of the \
         repetitions (range in brackets) and its ratio to the column's best (×: the figure that carries to another \
         machine), evidence cells only (a client-saturated cell is left out). Model and \
         threads: what each measured instance said on `/health`. CPU work: req/s and the server's CPU time per \
         request. Memory: the slope of peak server RSS (and of the machine's kernel memory, where recorded) over {}, \
         with its r² and points (below r² {} the fit says nothing). Blocking call: the wall time of {} concurrent `/block` requests that each sleep {}.",
        memory_levels(h),
        crate::analysis::FIT_R2_MIN,
        h.blocking_level,
        format::seconds(h.block_s)
    ));
    if let Some((l, source)) = &h.far_level {
        match source {
            FarSource::Run => md.push_str(&format!(" Waiting at {}: this run's cells.", format::thousands(*l))),
            FarSource::Bench { source, commit, client, same_code } => md.push_str(&format!(
                " Waiting at {}: from `{source}` (lab bench reach, commit {commit}, {}, {client}).",
                format::thousands(*l),
                code_note(*same_code)
            )),
        }
    }
    md.push('\n');
    if let Some((source, commit, client, same_code)) = &h.capacity_source {
        let heads: Vec<String> = h.capacity_workloads.iter().map(|w| format!("capacity {w}")).collect();
        let mut header: Vec<&str> = vec!["server"];
        header.extend(heads.iter().map(String::as_str));
        let mut t = Table::new(&header);
        for r in &h.rows {
            let mut cells = vec![r.server.clone()];
            cells.extend(r.capacity.iter().map(|(_, held)| opt(held.map(Held::label))));
            t.row(cells);
        }
        md.push_str(&format!(
            "\nOpen-loop capacity: the highest rate held with p99 under the target, from `{source}` (lab capacity, \
             commit {commit}, {}, {client}); \"≥\" where no offered rate failed, \"(client-bound)\" \
             where the load generator, not the server, set the figure.\n\n",
            code_note(*same_code)
        ));
        t.write(&mut md);
    }
    md
}

/// `250, 500, 1,000, 2,000 and 4,000 waiting connections (the bench's cost part)`, or this run's io sweep.
pub fn memory_levels(h: &Headline) -> String {
    let Some(m) = h.rows.iter().find_map(|r| r.memory.as_ref()) else { return "the io sweep".into() };
    let levels: Vec<String> = m.levels.iter().map(|l| format::thousands(*l)).collect();
    let source = match &h.far_level {
        Some((_, FarSource::Bench { source, .. })) if m.levels.iter().any(|&l| l > h.level) => {
            format!(" (`{source}`'s cost part)")
        }
        _ => " (this run's io sweep)".into(),
    };
    format!("{} waiting connections{source}", levels.join(", "))
}

/// Whether a companion measured the code of `run` (companions embedded before the lab checked this may not have).
fn measured_this_code(companion: &Companion, run: &Run) -> bool {
    same_code(companion, run.environment.trees.as_ref(), run.environment.git_dirty).is_ok()
}

/// How a table's source line says whether a companion measured this run's code.
fn code_note(same_code: bool) -> &'static str {
    if same_code {
        "the same servers/, clients/ and harness/ as this run"
    } else {
        "⚠ not shown to be this run's code: its figures may describe older servers"
    }
}

pub(crate) fn names(groups: &[Group]) -> String {
    let n: Vec<&str> = groups.iter().map(|g| g.name()).collect();
    match n.len() {
        0 => String::new(),
        1 => n[0].to_string(),
        _ => format!("{} and {}", n[..n.len() - 1].join(", "), n[n.len() - 1]),
    }
}

/// `1.00–1.02 s`: the lowest and highest of `values`, the unit said once when both ends share it.
pub(crate) fn span(values: &[f64], show: impl Fn(f64) -> String) -> String {
    let lo = show(values.iter().copied().fold(f64::MAX, f64::min));
    let hi = show(values.iter().copied().fold(f64::MIN, f64::max));
    if lo == hi {
        return lo;
    }
    match (lo.rsplit_once(' '), hi.rsplit_once(' ')) {
        (Some((l, lu)), Some((_, hu))) if lu == hu => format!("{l}–{hi}"),
        _ => format!("{lo}–{hi}"),
    }
}

/// The fixture run of these tests, for the tests of the modules that read the headline.
#[cfg(test)]
pub(crate) use tests::fixture;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::capacity::CapacityCell;
    use crate::records::run::{ConnectionCost, Saturation, ServerRecord};
    use crate::run::synthetic_cell;

    fn server(name: &str, model: Model, kind: ServerKind, threads: Option<u64>) -> ServerRecord {
        ServerRecord { kind, ..ServerRecord::passed(name, model, threads) }
    }

    /// A measured cell at `level`, with `requests`, its median and range (wall time), and server CPU per request.
    fn cell(server: &str, workload: &str, level: u64, median: f64, lo: f64, hi: f64, cpu_us: Option<f64>) -> Cell {
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

    fn row<'a>(h: &'a Headline, server: &str) -> &'a Row {
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
        // Its 50,000 req/s cpu cell is neither its CPU figure nor the cpu column's best, nor in any claim.
        assert_eq!(tornado.cpu_us_cpu, None);
        assert_eq!(tornado.cpu_rps, None);
        assert_eq!(row(&h, "smol-server").cpu_rps.unwrap().worse_by, None);
        let claims = crate::findings::findings(&fixture()).claims;
        assert!(claims.iter().all(|c| !c.text.contains("50,000")), "{claims:?}");
    }

    #[test]
    fn the_claims_say_the_tiers_like_for_like() {
        let claim = |run: &Run, topic: crate::findings::Topic| {
            crate::findings::findings(run).claims.into_iter().find(|c| c.topic == topic).expect("the claim").text
        };
        use crate::findings::Topic;
        let run = fixture();
        let waiting = claim(&run, Topic::Waiting);
        assert!(waiting.contains("smol-server, thread-server, tornado 1.00–1.02 s > pool-server 7.02 s"), "{waiting}");
        assert!(waiting.contains("no model wins: thread-per-request, async and foreign share the best tier"));
        // cpu: smol 4,000 and the pool's 3,846 tie; thread-server 2,000 below both — no model beats all others.
        let cpu = claim(&run, Topic::CpuWork);
        assert!(cpu.contains("smol-server, pool-server 3,846–4,000 req/s > thread-server 2,000 req/s"), "{cpu}");
        assert!(cpu.contains("no model wins: pool and async share the best tier"), "{cpu}");
        let blocking = claim(&run, Topic::BlockingCall);
        assert!(blocking.contains("thread-server 0.201 s > smol-server 2.00 s"), "{blocking}");
        // If thread-server had been slow on io too, it would be in a tier of its own.
        let mut run = fixture();
        let slow = run.cells.iter_mut().find(|c| c.server == "thread-server" && c.concurrency == 100).unwrap();
        *slow = cell("thread-server", "io", 100, 2.0, 1.99, 2.01, None);
        let waiting = claim(&run, Topic::Waiting);
        assert!(waiting.contains("smol-server, tornado 1.00–1.02 s > thread-server 2.00 s > pool-server"), "{waiting}");
    }

    /// A capacity run of `cells` (server, io capacity, first failed rate), as `lab capacity` records it.
    fn capacity_run(run_id: &str, commit: &str, cells: &[(&str, f64, f64)]) -> CapacityRun {
        let mut run = CapacityRun::default();
        run.header.written_by = Some(RunKind::Capacity);
        run.header.run_id = run_id.into();
        run.header.environment.git_commit = commit.into();
        run.settings.client = "async-client:lean".into();
        run.cells = cells
            .iter()
            .map(|&(server, rps, failed)| CapacityCell {
                server: server.into(),
                workload: Workload::Io,
                paths: vec![],
                target_p99_ms: 100.0,
                capacity_rps: Some(rps),
                first_failed_rps: Some(failed),
                client_bound: None,
                status: Status::Ok,
                reason: None,
                probes: vec![],
            })
            .collect();
        run
    }

    /// Writes `document` as JSON under `dir` and reads it back as a companion.
    fn companion_from_file(dir: &Path, name: &str, document: &impl serde::Serialize) -> Result<Companion, String> {
        let path = dir.join(name);
        std::fs::write(&path, serde_json::to_string(document).unwrap()).unwrap();
        load_companion(&path).map_err(|e| e.to_string())
    }

    #[test]
    fn companions_fill_reach_and_capacity_with_their_source() {
        use crate::records::bench::{Cause, ReachCell};
        let capacity = capacity_run("R1", "abc1234", &[("smol-server", 950.0, 1000.0), ("pool-server", 15.5, 16.0)]);
        let mut bench = BenchRun::default();
        bench.header.written_by = Some(RunKind::Bench);
        bench.header.run_id = "R2".into();
        bench.header.environment.git_commit = "def5678".into();
        bench.reach.head.status = PartStatus::Ok;
        bench.reach.head.client = "async-client:lean".into();
        let reach = |server: &str, connections: u64, wall_s: f64, failed: u64, stopped: Option<Cause>| ReachCell {
            server: server.into(),
            connections,
            wall_s: Some(wall_s),
            failed,
            status: Status::Ok,
            stopped,
            ..ReachCell::default()
        };
        bench.reach.cells = vec![
            reach("smol-server", 1000, 1.05, 0, None),
            reach("smol-server", 10_000, 1.3, 0, None),
            reach("thread-server", 10_000, 5.4, 2, Some(Cause::FdLimit { limit: 20_000 })),
        ];
        let dir = tempfile::tempdir().unwrap();
        let mut run = fixture();
        run.companions = vec![
            companion_from_file(dir.path(), "capacity-R1.json", &capacity).unwrap(),
            companion_from_file(dir.path(), "bench-R2.json", &bench).unwrap(),
        ];
        let h = headline(&run).unwrap();
        assert!(matches!(&h.far_level, Some((10_000, FarSource::Bench { source, .. })) if source == "bench-R2.json"));
        assert_eq!(row(&h, "smol-server").io_far, Some((1.3, 0, None)));
        assert_eq!(row(&h, "thread-server").io_far, Some((5.4, 2, Some("fd-limit".to_string()))));
        assert_eq!(
            row(&h, "smol-server").capacity,
            vec![(Workload::Io, Some(Held { rps: 950.0, first_failed: Some(1_000.0), client_bound: false }))]
        );
        let md = table(&run, &h);
        // Neither companion records its code trees: the table says it cannot vouch for them.
        assert!(md.contains("`bench-R2.json` (lab bench reach, commit def5678, ⚠ not shown"), "{md}");
        assert!(md.contains("`capacity-R1.json` (lab capacity, commit abc1234, ⚠ not shown"), "{md}");
        assert!(md.contains("| capacity io |"), "{md}");
        assert!(md.contains("| 5.40 s · stopped by fd-limit · ⚠ 2 failed |"), "{md}");
        // The figures survive the run's JSON: a report made from the JSON alone shows them.
        let back: Run = serde_json::from_str(&serde_json::to_string(&run).unwrap()).unwrap();
        assert_eq!(headline(&back).as_ref(), Some(&h));
        let mut at_max = run.clone();
        at_max.companions[0].capacity[0].first_failed_rps = None;
        assert!(table(&at_max, &headline(&at_max).unwrap()).contains("| ≥ 950 req/s |"));
        // Neither kind: a one-line error.
        let e = companion_from_file(dir.path(), "x.json", &fixture()).unwrap_err();
        assert!(e.contains("not a capacity, bench or primitives run (kind matrix)"), "{e}");
        bench.reach.head.status = PartStatus::NotRequested;
        let e = companion_from_file(dir.path(), "b.json", &bench).unwrap_err();
        assert!(e.contains("without its reach part"), "{e}");
        let e = companion_from_file(dir.path(), "c.json", &capacity_run("R3", "abc1234", &[])).unwrap_err();
        assert!(e.contains("a capacity run without cells"), "{e}");
    }

    #[test]
    fn reads_a_capacity_run_as_lab_capacity_writes_it() {
        let mut run = capacity_run("R9", "0123abc", &[("smol-server", 3_000.0, 3_100.0)]);
        run.cells[0].workload = Workload::Cpu;
        run.cells[0].first_failed_rps = None;
        run.cells[0].client_bound = Some("the client's connection cap (16384)".into());
        let dir = tempfile::tempdir().unwrap();
        let companion = companion_from_file(dir.path(), "capacity-R9.json", &run).unwrap();
        assert_eq!(companion.kind, CompanionKind::Capacity);
        assert_eq!((companion.source.as_str(), companion.run_id.as_str()), ("capacity-R9.json", "R9"));
        assert_eq!(companion.git_commit, "0123abc");
        assert_eq!(companion.client.as_deref(), Some("async-client:lean"));
        let figure = &companion.capacity[0];
        assert_eq!(
            (figure.server.as_str(), figure.workload, figure.capacity_rps),
            ("smol-server", Workload::Cpu, Some(3_000.0))
        );
        assert_eq!((figure.first_failed_rps, figure.status), (None, Status::Ok));
        assert_eq!(figure.client_bound.as_deref(), Some("the client's connection cap (16384)"));
    }

    #[test]
    fn clients_are_named_with_engine_and_threads() {
        let mut run = fixture();
        run.cells[0].client_cost =
            Some(crate::records::run::ClientCost { peak_threads: Some(2), ..Default::default() });
        assert_eq!(client_name(&run, "async-client".parse().unwrap()), "async-client (surf, 2 threads)");
        assert_eq!(client_name(&run, "async-client:lean".parse().unwrap()), "async-client (lean)");
        assert!(client_name(&run, "blocking-client".parse().unwrap()).contains("1 thread"));
    }
}
