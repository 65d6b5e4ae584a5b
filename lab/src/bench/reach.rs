//! Part 3, reach: every server at 1,000 … C connections opened at once, each request waiting D — and, when a
//! cell takes longer than D, what stopped it, named from evidence ([`crate::stopped`]).
//!
//! Each cell starts a fresh server, reads the kernel's TCP counters before and after, samples the server's
//! accept queues while the client runs ([`crate::kernel`]), and takes the client's connect-time percentiles from
//! its report. Next to the servers, the same levels are run through the floor ([`super::floor`]): a bare
//! connect/accept/wait/close loop with no HTTP, the least any server needs on this machine. A server is judged
//! against D (efficiency ≥ 0.8) and against the floor (wall within 10 % of it).
//!
//! Concurrency idea: with one request per connection and every connection opened at once, the whole burst of
//! connects reaches the server's kernel before the server has accepted much. What the kernel does with it — queue
//! it, or drop it and make the client retransmit a second later — is the first limit to C.

use super::floor;
use super::sweep::SweepRun;
use super::tools::shell_line;
use crate::client::{ClientArgs, ClientReport};
use crate::cost::Sampler;
use crate::format;
use crate::kernel::{CpuTimes, QueueSampler};
use crate::model::ConcurrencyModel;
use crate::plan::{MatrixConfig, ServerSpec};
use crate::process::Server;
use crate::records::bench::Floor;
use crate::records::bench::SweepHead;
use crate::records::bench::{AcceptQueue, TcpCounters};
use crate::records::bench::{ReachCell, ReachPart};
use crate::records::run::Workload;
use crate::records::{
    header::Limits,
    run::{Model, Status},
};
use crate::run;
use crate::stopped::{self, Evidence};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The client: the lab's cheapest per connection — the lean engine's bytes on an explicit event loop per thread,
/// each connection registered once, no task or shared reactor (a quarter less CPU per connection than the same
/// bytes as tasks: results/experiments/loop-client-burst.txt). Reach asks what the server needs; the less the
/// instrument takes of the shared cores, the less of its cost is counted against the server.
pub const CLIENT: &str = "async-client:loop";
/// Async servers at every level must finish with at least this efficiency (D ÷ wall), and no failure…
pub const REACH_EFFICIENCY: f64 = 0.8;
/// …or, where the floor itself cannot reach that on this machine, within this factor of the floor's wall.
pub const FLOOR_MARGIN: f64 = 1.10;
/// Reach: a completion loop at [`TARGET_LEVEL`] connections, at most this multiple of the same run's HTTP floor
/// (the floor with HTTP's bytes, where nothing but the connections and the bytes cost).
pub const COMPLETION_OVER_HTTP_FLOOR: f64 = 1.05;
/// The level the reach targets are set at, and the README's table shows.
pub const TARGET_LEVEL: u64 = 10_000;
/// Descriptors a process keeps for itself besides its connections (std streams, epoll, the database, threads).
const SPARE_DESCRIPTORS: u64 = 1_000;
/// Connections per client process at most (`--processes` splits a level over several).
pub(super) const CONNECTIONS_PER_CLIENT: u64 = 10_000;
/// How often the accept queues are sampled.
pub(super) const QUEUE_SAMPLE: Duration = Duration::from_millis(5);

/// The highest level one server process can hold: its descriptor limit less what it keeps for itself, in
/// whole thousands.
pub fn fd_max_level(limits: &Limits) -> u64 {
    limits.nofile_soft.saturating_sub(SPARE_DESCRIPTORS) / 1_000 * 1_000
}

/// Loopback source addresses to spread `connections` to one server over: past half of the `ports` ephemeral
/// ports to one address, `connect(2)` searches about a millisecond for each free port
/// (results/experiments/connect-port-search.txt), so each address keeps a margin below that.
pub fn source_addresses(connections: u64, ports: u64) -> u64 {
    if ports == 0 {
        return 1;
    }
    let per_address = (ports / 2).saturating_sub(2_000).max(1_000);
    connections.div_ceil(per_address).clamp(1, 254)
}

/// Client processes for `connections`: each holds at most `CONNECTIONS_PER_CLIENT`.
pub fn client_processes(connections: u64) -> u64 {
    connections.div_ceil(CONNECTIONS_PER_CLIENT).max(1)
}

/// The matrix runner's configuration of a reach cell (its server verified, its database, its timeout).
fn config(hello_ms: u64) -> MatrixConfig {
    super::sweep::io_config(vec![], CLIENT.parse().expect("a known client"), hello_ms)
}

/// The floors a cell is compared with: measured at its level, in its round.
#[derive(Debug, Clone, Copy, Default)]
pub struct Floors<'a> {
    pub bare: Option<&'a Floor>,
    pub http: Option<&'a Floor>,
}

/// A server as the reach part runs it: verified once, then measured at every level in every round.
struct Entrant {
    name: String,
    model: Model,
    /// The server's listen backlog from its `/health` (0: unknown).
    backlog: u64,
    /// Why it is not measured at all.
    skip: Option<Skip>,
}

/// Why a server has no reach cells.
enum Skip {
    /// It failed its verification (the reason).
    Verify(String),
    /// A pool of this many workers: C requests of D each through W workers take C/W rounds of D, which is not a
    /// reach question.
    Pool(u64),
}

impl Skip {
    fn reason(&self, level: u64) -> String {
        match self {
            Skip::Verify(why) => format!("failed verify: {why}"),
            Skip::Pool(workers) => {
                format!("a pool of {workers} workers needs {} rounds of D for this level", level / workers.max(&1))
            }
        }
    }
}

/// Runs the reach part in `rounds` rounds. Each round measures, level by level, the floor and then every server
/// at that level, so that each cell is compared with a floor measured moments before it, in the same machine
/// state (load, sockets in TIME_WAIT): a floor measured once at the start would be compared with cells run
/// minutes later. A cell's figures are those of its median round by wall time; its ÷ floor is the median of its
/// rounds' ratios, each against its own round's floor. A cell that fails, overflows or retransmits in a round
/// already misses its target, with its cause named, and is not measured again.
pub fn run(plan: SweepRun, rounds: u64) -> ReachPart {
    let config = config(plan.hello_ms);
    let client_spec = CLIENT.parse().expect("a known client");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let rounds = rounds.max(1);
    let mut part = ReachPart {
        head: SweepHead {
            client: CLIENT.to_string(),
            hello_ms: plan.hello_ms,
            levels: plan.levels.to_vec(),
            client_command: client_command(&config, &client_spec, plan.bin_dir),
            ..SweepHead::default()
        },
        cores,
        somaxconn: plan.limits.somaxconn,
        nofile: plan.limits.nofile_soft,
        rounds,
        ..ReachPart::default()
    };
    let wait = Duration::from_millis(plan.hello_ms);
    let lab = std::env::current_exe().unwrap_or_else(|_| plan.bin_dir.join("lab"));
    let runner = plan.runner(&config);
    let entrants: Vec<Entrant> = plan
        .servers
        .iter()
        .map(|name| {
            let (record, model, _) = runner.verify_server(&ServerSpec::Builtin(name.clone()));
            let skip = if record.verify.status != crate::records::run::VerifyStatus::Passed {
                Some(Skip::Verify(record.verify.reason.clone().unwrap_or_default()))
            } else if let ConcurrencyModel::Pool { workers } = model {
                Some(Skip::Pool(workers))
            } else {
                None
            };
            let backlog = record.health.as_ref().and_then(|h| h.get("backlog")).and_then(|b| b.as_u64());
            Entrant { name: name.clone(), model: record.model, backlog: backlog.unwrap_or(0), skip }
        })
        .collect();
    // floors[level][round] and measured[entrant][level][round].
    let mut floors: Vec<Vec<Floor>> = vec![Vec::new(); plan.levels.len()];
    let mut http_floors: Vec<Vec<Floor>> = vec![Vec::new(); plan.levels.len()];
    let mut measured: Vec<Vec<Vec<ReachCell>>> = vec![vec![Vec::new(); plan.levels.len()]; entrants.len()];
    for round in 1..=rounds {
        for (l, &level) in plan.levels.iter().enumerate() {
            if plan.interrupted.load(Ordering::Relaxed) {
                break;
            }
            let at = format!("round {round}/{rounds}, {} connections", format::thousands(level));
            let sources = source_addresses(level, plan.limits.ephemeral_ports.unwrap_or(0));
            let [floor, http_floor] = [false, true].map(|http| {
                let which = if http { "the floor with HTTP's bytes" } else { "the floor" };
                eprintln!("lab: reach: {at}: {which}");
                floor::measure(&lab, level, wait, cores, sources, http)
                    .map_err(|e| eprintln!("lab: reach: {which}, {at}: {e}"))
                    .ok()
            });
            for (entrant, runs) in entrants.iter().zip(measured.iter_mut()) {
                let runs = &mut runs[l];
                if entrant.skip.is_some() || runs.iter().any(|c| !c.clean()) || plan.interrupted.load(Ordering::Relaxed)
                {
                    continue;
                }
                eprintln!("lab: reach: {at}: {}", entrant.name);
                let mut cell = ReachCell {
                    server: entrant.name.clone(),
                    model: entrant.model,
                    connections: level,
                    client_processes: client_processes(level),
                    ..ReachCell::default()
                };
                let spec = ServerSpec::Builtin(entrant.name.clone());
                let floors = Floors { bare: floor.as_ref(), http: http_floor.as_ref() };
                measure_cell(&spec, &mut cell, entrant.backlog, &plan, cores, floors);
                runs.push(cell);
            }
            floors[l].extend(floor);
            http_floors[l].extend(http_floor);
        }
    }
    part.floors = floors.into_iter().filter_map(Floor::median_round).collect();
    part.http_floors = http_floors.into_iter().filter_map(Floor::median_round).collect();
    for (entrant, runs) in entrants.iter().zip(measured) {
        for (&level, runs) in plan.levels.iter().zip(runs) {
            let cell = match (&entrant.skip, ReachCell::median_round(runs)) {
                (None, Some(cell)) => cell,
                (skip, _) => ReachCell {
                    server: entrant.name.clone(),
                    model: entrant.model,
                    connections: level,
                    client_processes: client_processes(level),
                    status: Status::Skipped,
                    reason: Some(skip.as_ref().map_or("interrupted".to_string(), |why| why.reason(level))),
                    ..ReachCell::default()
                },
            };
            part.cells.push(cell);
        }
    }
    let any_ok = part.cells.iter().any(|c| c.status == Status::Ok);
    part.finish(any_ok);
    part
}

/// Measures `cell` (its server, connections and client processes set) on a fresh server started from `spec`,
/// whose listen backlog is `backlog` (0: unknown), on a machine of `cores` CPUs; compares its wall with the
/// `floors` measured just before it, and names what stopped it when it missed D.
pub fn measure_cell(
    spec: &ServerSpec,
    cell: &mut ReachCell,
    backlog: u64,
    plan: &SweepRun,
    cores: u64,
    floors: Floors,
) {
    let config = config(plan.hello_ms);
    let runner = plan.runner(&config);
    let fail = |cell: &mut ReachCell, reason: String| {
        cell.status = Status::Failed;
        cell.reason = Some(reason);
    };
    // The lab's servers refuse connections beyond `--max-connections` (16,384 by default) with a 503: a policy,
    // not a capacity, so it is raised to the level here, where capacity is the question.
    let db = runner.db_path(spec.name());
    let cap = cell.connections.to_string();
    let started = match spec {
        ServerSpec::Builtin(name) => {
            Server::start_builtin(name, plan.bin_dir, &db, &["--max-connections", &cap], Duration::from_secs(15))
        }
        _ => Server::start(spec, plan.bin_dir, &db, Duration::from_secs(15)),
    };
    let mut server = match started {
        Ok(server) => server,
        Err(e) => return fail(cell, format!("server did not start: {}", e.message)),
    };
    let processes = cell.client_processes;
    let per_process = cell.connections.div_ceil(processes);
    let client_spec = CLIENT.parse().expect("a known client");
    let args = ClientArgs {
        client: &client_spec,
        urls: Workload::Io.paths(&runner.config.settings).iter().map(|p| server.url(p)).collect(),
        requests: per_process * processes,
        concurrency: per_process,
        warmup: 0,
        timeout: runner.config.client_timeout(),
        keep_alive: true,
    };
    let mut command = args.command(plan.bin_dir);
    command.arg("--processes").arg(processes.to_string());
    let sources = source_addresses(cell.connections, plan.limits.ephemeral_ports.unwrap_or(0));
    command.arg("--source-addresses").arg(sources.to_string());
    cell.source_addresses = sources;
    command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    crate::process::isolate(&mut command);

    cell.time_wait_before = crate::kernel::time_wait_sockets();
    let before = TcpCounters::read();
    let cpu_before = CpuTimes::read();
    let queues = QueueSampler::start(server.addr, QUEUE_SAMPLE);
    let peaks = Sampler::start(server.pid(), Duration::from_millis(25));
    let time_limit = Duration::from_millis(plan.hello_ms) * 4 + args.timeout * 2 + Duration::from_secs(30);
    let client = run::run_client(command, &mut server, time_limit, &plan.interrupted);
    let accept_queue = queues.finish();
    let peaks = peaks.finish();
    let killed = matches!(&client, Ok(c) if c.server_exit.as_ref().is_some_and(|(status, _)| {
        std::os::unix::process::ExitStatusExt::signal(status) == Some(rustix::process::Signal::KILL.as_raw())
    }));
    let server_usage = match &client {
        Ok(c) if c.server_exit.is_some() => c.server_exit.as_ref().map(|(_, u)| *u).unwrap_or_default(),
        _ => server.stop(run::STOP_GRACE),
    };
    cell.kernel = TcpCounters::read().since(&before);
    cell.machine_busy = CpuTimes::read().busy_since(&cpu_before);
    cell.accept_queue = AcceptQueue { backlog, ..accept_queue };
    cell.server_cpu_s = server_usage.user_s + server_usage.sys_s;
    cell.server_peak_threads = peaks.peak_threads;
    cell.server_peak_rss_kib = peaks.peak_rss_kib;
    let client = match client {
        Ok(client) => client,
        Err(e) => return fail(cell, format!("cannot start the client: {e}")),
    };
    cell.client_cpu_s = client.usage.user_s + client.usage.sys_s;
    let mut stderr = format!("{}\n{}", server.stderr_tail(50), client.stderr.tail(50));
    match ClientReport::parse(&client.stdout) {
        Ok(report) => {
            let d = plan.hello_ms as f64 / 1000.0;
            cell.wall_s = Some(report.wall_s);
            cell.efficiency = (report.wall_s > 0.0).then(|| d / report.wall_s);
            cell.succeeded = report.succeeded;
            cell.failed = report.failed;
            cell.failures = report.failures.into();
            cell.latency_p50_us = (report.succeeded > 0).then_some(report.latency_us.p50);
            cell.latency_p99_us = (report.succeeded > 0).then_some(report.latency_us.p99);
            cell.connect_us = report.connect_us;
            if let Some(first) = &report.first_failure {
                stderr = format!("{stderr}\nfirst failure: {first}");
            }
            let ratio = |floor: Option<&Floor>| floor.filter(|f| f.wall_s > 0.0).map(|f| report.wall_s / f.wall_s);
            cell.vs_floor = ratio(floors.bare);
            cell.vs_http_floor = ratio(floors.http);
            let (status, reason) = match (&client.killed_for, &client.server_exit) {
                (Some(why), _) => (Status::Failed, Some(why.clone())),
                (None, Some((status, _))) => {
                    (Status::Failed, Some(format!("the server exited during the cell ({status})")))
                }
                (None, None) if report.succeeded == 0 => (Status::Failed, report.first_failure.clone()),
                (None, None) => (Status::Ok, None),
            };
            cell.status = status;
            cell.reason = reason;
        }
        Err(e) => fail(cell, format!("the client printed no report ({e}); exit {}", client.status)),
    }
    let missed =
        cell.failed > 0 || cell.status != Status::Ok || !matches!(cell.efficiency, Some(e) if e >= REACH_EFFICIENCY);
    if missed {
        let evidence = Evidence {
            d_s: plan.hello_ms as f64 / 1000.0,
            wall_s: cell.wall_s.unwrap_or(0.0),
            kernel: cell.kernel,
            backlog: cell.accept_queue.backlog,
            connect_max_us: cell.connect_us.map(|c| c.us.max),
            server_cpu_s: cell.server_cpu_s,
            client_cpu_s: cell.client_cpu_s,
            cores,
            machine_busy: cell.machine_busy,
            stderr,
            killed,
            nofile: plan.limits.nofile_soft,
            ephemeral_ports: plan.limits.ephemeral_ports.unwrap_or(0),
            connections: cell.connections,
            time_wait: cell.time_wait_before,
            status_failures: cell.failures.status,
        };
        cell.stopped = Some(stopped::classify(&evidence));
    }
}

/// The client's command line with `PORT`, `C` and `P` as placeholders.
fn client_command(config: &MatrixConfig, client: &crate::records::run::Client, bin_dir: &Path) -> String {
    use super::sweep::MARK;
    let mut command = super::sweep::marked_command(config, client, bin_dir, 0);
    command.arg("--processes").arg("P").arg("--source-addresses").arg("S");
    shell_line(&command).replace(&format!("-n {MARK}"), "-n C×P").replace(&MARK.to_string(), "C")
}

/// The levels to run: those asked for, and the highest the descriptor limit allows.
pub fn levels_with_fd_max(asked: &[u64], limits: &Limits) -> Vec<u64> {
    let mut levels = asked.to_vec();
    let max = fd_max_level(limits);
    if max > 0 && !levels.contains(&max) && levels.iter().all(|&l| l < max) {
        levels.push(max);
    }
    levels
}

impl ReachCell {
    /// One record for a server at a level from its rounds (in order): the first round that was not clean if any
    /// (its target is missed whatever the others did), else the round with the median wall; with the wall of
    /// every round and the median of their ratios to their rounds' floors. None for no rounds.
    pub fn median_round(rounds: Vec<ReachCell>) -> Option<ReachCell> {
        let walls: Vec<f64> = rounds.iter().filter_map(|c| c.wall_s).collect();
        let ratios: Vec<f64> = rounds.iter().filter_map(|c| c.vs_floor).collect();
        let http_ratios: Vec<f64> = rounds.iter().filter_map(|c| c.vs_http_floor).collect();
        let chosen = match rounds.iter().position(|c| !c.clean()) {
            Some(first_unclean) => first_unclean,
            // Clean rounds all have a wall.
            None => harness::stats::median_position(&walls)?,
        };
        let mut cell = rounds.into_iter().nth(chosen)?;
        cell.vs_floor = harness::stats::median(&ratios).or(cell.vs_floor);
        cell.vs_http_floor = harness::stats::median(&http_ratios).or(cell.vs_http_floor);
        cell.round_walls_s = walls;
        Some(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_end_at_what_the_descriptors_allow() {
        let limits = Limits { nofile_soft: 20_000, ..Limits::default() };
        assert_eq!(fd_max_level(&limits), 19_000);
        assert_eq!(levels_with_fd_max(&[1_000, 5_000, 10_000], &limits), vec![1_000, 5_000, 10_000, 19_000]);
        assert_eq!(levels_with_fd_max(&[1_000, 30_000], &limits), vec![1_000, 30_000]);
        assert_eq!((client_processes(10_000), client_processes(19_000), client_processes(1)), (1, 2, 1));
        // 28,232 ports: half is 14,116; each address keeps 2,000 below it.
        assert_eq!((source_addresses(10_000, 28_232), source_addresses(19_000, 28_232)), (1, 2));
        assert_eq!((source_addresses(30_000, 28_232), source_addresses(19_000, 0)), (3, 1));
    }

    fn round(wall: f64, floor: f64) -> ReachCell {
        ReachCell { status: Status::Ok, wall_s: Some(wall), vs_floor: Some(wall / floor), ..ReachCell::default() }
    }

    #[test]
    fn a_cell_is_its_median_round_and_its_ratio_the_median_ratio() {
        // Walls 1.30, 1.20, 1.25 against floors 1.20, 1.00, 1.25: the median wall is 1.25 (round 3); the ratios
        // are 1.083, 1.20, 1.00, whose median, 1.083, is round 1's — each ratio against its own round's floor.
        let cell = ReachCell::median_round(vec![round(1.30, 1.20), round(1.20, 1.00), round(1.25, 1.25)]).unwrap();
        assert_eq!(cell.wall_s, Some(1.25));
        assert!((cell.vs_floor.unwrap() - 1.30 / 1.20).abs() < 1e-12, "{:?}", cell.vs_floor);
        assert_eq!(cell.round_walls_s, vec![1.30, 1.20, 1.25]);
        // Two rounds: the lower middle, a wall that was measured, not an average.
        assert_eq!(ReachCell::median_round(vec![round(1.4, 1.0), round(1.2, 1.0)]).unwrap().wall_s, Some(1.2));
        assert!(ReachCell::median_round(vec![]).is_none());
    }

    #[test]
    fn a_round_with_a_failure_or_an_overflow_is_the_one_shown() {
        let mut overflowed = round(1.10, 1.15);
        overflowed.kernel.listen_overflows = 3;
        let cell = ReachCell::median_round(vec![round(1.30, 1.20), overflowed.clone(), round(1.25, 1.2)]).unwrap();
        assert_eq!((cell.wall_s, cell.kernel.listen_overflows), (Some(1.10), 3));
        assert!(!cell.clean());
        let mut failed = round(1.2, 1.2);
        failed.failed = 1;
        assert!(!ReachCell::median_round(vec![failed, round(1.2, 1.2)]).unwrap().clean());
    }

    #[test]
    fn the_floor_is_its_median_round() {
        let floor = |wall: f64| Floor { wall_s: wall, round_walls_s: vec![wall], ..Floor::default() };
        let median = Floor::median_round(vec![floor(1.2), floor(1.1), floor(1.3)]).unwrap();
        assert_eq!((median.wall_s, median.round_walls_s), (1.2, vec![1.2, 1.1, 1.3]));
    }
}
