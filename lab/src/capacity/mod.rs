//! `lab capacity`: the highest request rate each server holds, per workload, with its p99 under a target —
//! what users compare servers by, measured open-loop so that the queue an overloaded server builds is seen.
//!
//! The concurrency idea: a closed-loop client (every matrix cell) waits for each answer before it sends the
//! next request, so an overloaded server slows the client down and its latency hides the queue (coordinated
//! omission). Here the client sends on a fixed schedule (`async-client --engine lean --rate R`, see
//! `clients::schedule`): past a server's capacity requests pile up, and the latency measured from when each was
//! due grows with the pile. For each server and workload the sweep doubles R from a start rate until a probe
//! fails, then bisects ([`search`]). A probe *holds* when its p99 is under the target (10 ms for baseline,
//! 100 ms for cpu and db, D + 50 ms for io) and no request failed or was given up unsent; a rate that fails is
//! tried a second time, whose verdict stands.
//!
//! One more cell shows coordinated omission itself: a server offered twice its capacity, for a short and a
//! four-times-longer run, open-loop and closed-loop (docs/capacity.md).

pub mod markdown;
pub mod search;
pub mod svg;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{anyhow, Context};
use clap::Args;

use crate::client::ClientReport;
use crate::export::{Exporter, Page};
use crate::plan::{ServerArgs, ServerSpec, WorkloadSettings};
use crate::process::{self, Server};
use crate::records::capacity::{
    CapacityCell, CapacityRun, CapacitySettings, CoRun, CoordinatedOmission, LoopMode, Probe, SCHEMA_VERSION,
};
use crate::records::run::Workload;
use crate::records::run::{Latency, Status, VerifyStatus};
use crate::run::{run_client, START_TIMEOUT, STOP_GRACE};
use crate::session::{Session, SessionArgs};
use crate::{verify, UsageError};

/// The workloads a capacity has a target for.
pub const WORKLOADS: [Workload; 4] = [Workload::Baseline, Workload::Cpu, Workload::Db, Workload::Io];

/// Most connections a probe opens: the cap (`-c`) grows with the rate (Little's law) up to this. High enough
/// that a server, not the cap, bounds the io sweep (io at 30,000 req/s with D = 0.1 s keeps 3,000 in flight;
/// twice that for the cap's margin); a figure that still meets it is marked client-bound ([`instrument_limit`]).
pub const MAX_CONNECTIONS: u64 = 16_384;

/// The share of an instrument's limit (its connection cap, its CPU) from which a capacity is the instrument's.
pub const INSTRUMENT_SHARE: f64 = 0.9;

/// What limited the load generator rather than the server at a cell's deciding probe — the first rate that
/// failed, or, when every rate held, the highest — if anything: its connections in flight within
/// [`INSTRUMENT_SHARE`] of its cap, or its CPU within that share of the `cpus` it could use. The figure is then
/// printed as a lower bound, "(client-bound)", never as the server's.
pub fn instrument_limit(probes: &[Probe], failed: Option<f64>, cpus: usize) -> Option<String> {
    let deciding = match failed {
        Some(rate) => probes.iter().rev().find(|p| p.rate_rps == rate),
        None => probes.iter().filter(|p| p.held).max_by(|a, b| a.rate_rps.total_cmp(&b.rate_rps)),
    }?;
    let in_flight = deciding.rate_rps * deciding.p50_us / 1e6;
    if deciding.connections >= MAX_CONNECTIONS && in_flight >= INSTRUMENT_SHARE * deciding.connections as f64 {
        return Some(format!("the client's connection cap ({})", deciding.connections));
    }
    let client_cores = deciding.client_cpu_ms_per_request * deciding.throughput_rps / 1000.0;
    (client_cores >= INSTRUMENT_SHARE * cpus as f64)
        .then(|| format!("the client's CPU ({client_cores:.2} of {cpus} cores)"))
}

/// `lab capacity` flags.
#[derive(Debug, Clone, Args)]
pub struct CapacityArgs {
    #[command(flatten)]
    pub servers: ServerArgs,
    /// Workloads, comma-separated: baseline, cpu, db, io.
    #[arg(long, default_value = "baseline,cpu,db,io")]
    pub workloads: String,
    /// Seconds of open-loop load per probe.
    #[arg(long, default_value_t = 3.0)]
    pub probe_s: f64,
    /// Bisection steps after the coarse doubling (each halves the bracket).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(0..=12))]
    pub bisect_steps: u32,
    /// The highest rate to offer, in requests per second.
    #[arg(long, default_value_t = 40_000.0)]
    pub max_rate: f64,
    /// D, the wait of /say/hello for io, in ms.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub hello_ms: u64,
    /// n for the cpu workload's n! (≤ 20000).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(0..=verify::FACT_MAX))]
    pub fact_n: u64,
    /// Seconds of the coordinated-omission cell's short runs (its long runs are four times as long); 0 skips it.
    #[arg(long, default_value_t = 2.0)]
    pub co_s: f64,
    #[command(flatten)]
    pub session: SessionArgs,
}

/// The p99 a rate must stay under, in ms.
pub fn target_p99_ms(workload: Workload, hello_ms: u64) -> f64 {
    match workload {
        Workload::Baseline => 10.0,
        Workload::Io => hello_ms as f64 + 50.0,
        _ => 100.0,
    }
}

/// Where the doubling starts, in requests per second: well under what any of the lab's servers holds.
fn start_rate(workload: Workload) -> f64 {
    match workload {
        Workload::Baseline => 500.0,
        Workload::Io => 100.0,
        _ => 50.0,
    }
}

/// `-c` for a probe at `rate`: twice what Little's law puts in flight at the target latency, so that the cap is
/// not what fails a probe a server could hold.
pub fn connections_for(rate: f64, target_ms: f64) -> u64 {
    ((rate * target_ms / 1000.0 * 2.0).ceil() as u64 + 8).min(MAX_CONNECTIONS)
}

/// Runs `lab capacity` and prints the files written. Bad arguments are a [`UsageError`] (exit 2, mapped in
/// main); the exit code is 0, or 130 when interrupted.
pub fn command(args: CapacityArgs) -> anyhow::Result<u8> {
    let options = Options::from_args(args)?;
    let (run, files) = run(&options)?;
    Ok(crate::session::say_written(&files, run.interrupted))
}

/// Validated settings.
pub struct Options {
    pub servers: Vec<ServerSpec>,
    pub workloads: Vec<Workload>,
    pub settings: CapacitySettings,
    pub co_s: f64,
    pub bin_dir: Option<PathBuf>,
    pub strict: bool,
    pub out: PathBuf,
}

impl Options {
    pub fn from_args(args: CapacityArgs) -> Result<Options, UsageError> {
        let servers = args.servers.specs(crate::plan::builtin_specs())?;
        let workloads = split(&args.workloads)
            .map(|name| match name.parse::<Workload>() {
                Ok(w) if WORKLOADS.contains(&w) => Ok(w),
                Ok(w) => Err(format!("--workloads: {w} has no capacity target (use baseline, cpu, db, io)")),
                Err(e) => Err(format!("--workloads: {e}")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if workloads.is_empty() {
            return Err("--workloads: none given".into());
        }
        if !(args.probe_s.is_finite() && (0.2..=600.0).contains(&args.probe_s)) {
            return Err("--probe-s must be between 0.2 and 600 seconds".into());
        }
        if !(args.max_rate.is_finite() && (1.0..=1_000_000.0).contains(&args.max_rate)) {
            return Err("--max-rate must be between 1 and 1000000 requests per second".into());
        }
        if !(args.co_s.is_finite() && (0.0..=600.0).contains(&args.co_s)) {
            return Err("--co-s must be between 0 (skip) and 600 seconds".into());
        }
        Ok(Options {
            servers,
            workloads,
            settings: CapacitySettings {
                probe_s: args.probe_s,
                bisect_steps: args.bisect_steps,
                max_rate: args.max_rate,
                hello_ms: args.hello_ms,
                fact_n: args.fact_n,
                client: "async-client --engine lean --rate R".into(),
            },
            co_s: args.co_s,
            out: args.session.out_dir(),
            bin_dir: args.session.bin_dir,
            strict: args.servers.strict,
        })
    }

    fn workload_settings(&self) -> WorkloadSettings {
        WorkloadSettings { hello_ms: self.settings.hello_ms, block_ms: 0, fact_n: self.settings.fact_n }
    }
}

fn split(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// One open-loop (or, for the coordinated-omission cell, closed-loop) client run.
struct Load<'a> {
    bin_dir: &'a Path,
    urls: Vec<String>,
    requests: u64,
    connections: u64,
    rate: Option<f64>,
    timeout_s: f64,
}

impl Load<'_> {
    /// Runs the client against `server`; the report, or why there is none.
    fn run(&self, server: &mut Server, interrupted: &AtomicBool) -> anyhow::Result<ClientReport> {
        let mut command = std::process::Command::new(self.bin_dir.join("async-client"));
        for url in &self.urls {
            command.arg("--url").arg(url);
        }
        command
            .args(["--engine", "lean", "--json"])
            .arg("-n")
            .arg(self.requests.to_string())
            .arg("-c")
            .arg(self.connections.to_string())
            .arg("--warmup")
            .arg(self.connections.min(200).to_string())
            .arg("--timeout")
            .arg(self.timeout_s.to_string());
        if let Some(rate) = self.rate {
            command.arg("--rate").arg(rate.to_string());
        }
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        process::isolate(&mut command);
        let limit =
            Duration::from_secs_f64(self.requests as f64 / self.rate.unwrap_or(1.0) + self.timeout_s * 3.0 + 30.0);
        // The calling thread blocks here, polling, until the client exits (or is killed).
        let run = run_client(command, server, limit, interrupted).context("cannot run async-client")?;
        if let Some(why) = run.killed_for {
            return Err(anyhow!(why));
        }
        if let Some((status, _)) = run.server_exit {
            return Err(anyhow!("the server exited ({status})"));
        }
        ClientReport::parse(&run.stdout)
            .map_err(|e| anyhow!("{e}; stderr: {}", run.stderr.tail(3).replace('\n', " | ")))
    }
}

/// Runs the sweep for every server and workload, then the coordinated-omission cell, in one [`Session`]; writes
/// `capacity-<run-id>.{json,md,svg}` (and `capacity-latest.md`) in `options.out`.
pub fn run(options: &Options) -> anyhow::Result<(CapacityRun, Vec<PathBuf>)> {
    let session = Session::start(crate::records::header::RunKind::Capacity, &options.out, options.bin_dir.clone())?;
    eprintln!(
        "lab: capacity {}: {} server(s) × {} workload(s), {} s per probe",
        session.run_id,
        options.servers.len(),
        options.workloads.len(),
        options.settings.probe_s
    );
    let mut notes = session.notes();
    let mut cells = Vec::new();
    for spec in &options.servers {
        for &workload in &options.workloads {
            let cell = sweep_cell(options, &session, spec, workload);
            eprintln!("lab: {}", markdown::cell_line(&cell));
            cells.push(cell);
        }
    }
    let mut coordinated_omission = None;
    if options.co_s > 0.0 && !session.is_interrupted() {
        match coordinated_omission_cell(options, &session, &cells) {
            Ok(cell) => coordinated_omission = Some(cell),
            Err(e) => notes.push(format!("coordinated-omission cell not run: {e:#}")),
        }
    }
    let run = CapacityRun {
        header: session.header(SCHEMA_VERSION, notes),
        settings: options.settings.clone(),
        cells,
        coordinated_omission,
    };
    let files = crate::export::save_with_json(&run, report_exporters(), &session.out)?;
    Ok((run, files))
}

/// What `lab report` rebuilds from a capacity JSON: the markdown and the chart.
pub fn report_exporters() -> Vec<Box<dyn Exporter<CapacityRun>>> {
    vec![Box::new(Page("md", markdown::render)), Box::new(svg::CapacitySvg)]
}

/// Starts and verifies the server, then searches its capacity for `workload`.
fn sweep_cell(options: &Options, session: &Session, spec: &ServerSpec, workload: Workload) -> CapacityCell {
    let settings = &options.settings;
    let (bin_dir, interrupted) = (session.bin_dir.as_path(), session.interrupted.as_ref());
    let target_ms = target_p99_ms(workload, settings.hello_ms);
    let paths = workload.paths(&options.workload_settings());
    let mut cell = CapacityCell {
        server: spec.name().to_string(),
        workload,
        paths: paths.clone(),
        target_p99_ms: target_ms,
        capacity_rps: None,
        first_failed_rps: None,
        client_bound: None,
        status: Status::Failed,
        reason: None,
        probes: Vec::new(),
    };
    if session.is_interrupted() {
        cell.status = Status::Skipped;
        cell.reason = Some("interrupted".into());
        return cell;
    }
    let db = session.scratch.path().join(format!("{}-{workload}.sqlite", spec.name()));
    let mut server = match Server::start(spec, bin_dir, &db, START_TIMEOUT) {
        Ok(server) => server,
        Err(e) => {
            cell.reason = Some(format!("the server did not start: {}", e.message));
            return cell;
        }
    };
    let verified = verify::before_measuring(&server.url(""), !matches!(spec, ServerSpec::Builtin(_)), options.strict);
    if verified.status == VerifyStatus::Failed {
        cell.reason = Some(format!("verification failed: {}", verified.reason.unwrap_or_default()));
        server.stop(STOP_GRACE);
        return cell;
    }
    let urls: Vec<String> = paths.iter().map(|p| server.url(p)).collect();
    let timeout_s = (target_ms * 10.0 / 1000.0).max(1.0);
    let mut fault = None;
    let found = search::search(start_rate(workload), settings.max_rate, settings.bisect_steps, |rate| {
        if fault.is_some() || session.is_interrupted() {
            return false;
        }
        let connections = connections_for(rate, target_ms);
        let load = Load {
            bin_dir,
            urls: urls.clone(),
            requests: ((rate * settings.probe_s).round() as u64).max(20),
            connections,
            rate: Some(rate),
            timeout_s,
        };
        // A rate that fails is tried once more, and the second verdict stands: on a shared machine one stall of
        // another process can push a short probe's p99 over the target, and the search below a failure never
        // comes back up. Both probes are recorded.
        for _attempt in 0..2 {
            match load.run(&mut server, interrupted) {
                Ok(report) => {
                    let probe = probe_of(&report, rate, connections, target_ms);
                    let held = probe.held;
                    cell.probes.push(probe);
                    if held || session.is_interrupted() {
                        return held;
                    }
                }
                Err(e) => {
                    fault = Some(e);
                    return false;
                }
            }
        }
        false
    });
    server.stop(STOP_GRACE);
    match fault {
        Some(reason) => cell.reason = Some(format!("{reason:#}")),
        None if session.is_interrupted() => {
            cell.status = Status::Skipped;
            cell.reason = Some("interrupted".into());
        }
        None => {
            cell.status = Status::Ok;
            cell.capacity_rps = found.held;
            cell.first_failed_rps = found.failed;
            cell.client_bound = instrument_limit(&cell.probes, found.failed, harness::process::allowed_cpus().len());
        }
    }
    cell
}

/// A probe's figures and verdict from the client's report.
pub fn probe_of(report: &ClientReport, rate: f64, connections: u64, target_ms: f64) -> Probe {
    let l = Latency::from(report.latency_us);
    let late = report.open_loop.map_or(0, |o| o.late);
    let cpu_s = report.cost.user_s + report.cost.sys_s;
    let verdict = if report.failures.unsent > 0 {
        format!(
            "{} unsent: the server fell {:.1} s behind",
            report.failures.unsent,
            (target_ms * 10.0 / 1000.0).max(1.0)
        )
    } else if report.failed > 0 {
        format!("{} failed ({})", report.failed, report.first_failure.as_deref().unwrap_or("unknown"))
    } else if l.p99 > target_ms * 1000.0 {
        format!("p99 {:.1} ms > {target_ms} ms", l.p99 / 1000.0)
    } else {
        format!("held: p99 {:.1} ms", l.p99 / 1000.0)
    };
    Probe {
        rate_rps: rate,
        requests: report.requests,
        connections,
        succeeded: report.succeeded,
        failed: report.failed,
        unsent: report.failures.unsent,
        late,
        throughput_rps: report.throughput_rps,
        p50_us: l.p50,
        p99_us: l.p99,
        max_us: l.max,
        client_cpu_ms_per_request: if report.requests > 0 { cpu_s * 1000.0 / report.requests as f64 } else { 0.0 },
        held: report.failed == 0 && report.succeeded == report.requests && l.p99 <= target_ms * 1000.0,
        verdict,
    }
}

/// The coordinated-omission cell: a server offered twice what it answers closed-loop, open-loop, and the same
/// connections closed-loop, for `co_s` and `4 × co_s` seconds. The cell is taken where the server, not the
/// client, is the bottleneck: cpu if it was swept (a factorial costs the server far more than the request costs
/// the client), else db, baseline, io.
fn coordinated_omission_cell(
    options: &Options,
    session: &Session,
    cells: &[CapacityCell],
) -> anyhow::Result<CoordinatedOmission> {
    let (bin_dir, interrupted) = (session.bin_dir.as_path(), session.interrupted.as_ref());
    // A capacity the server bounded (a higher rate failed), not the sweep's maximum.
    let measured = |w: Workload| {
        cells.iter().find(|c| c.workload == w && c.capacity_rps.is_some() && c.first_failed_rps.is_some())
    };
    let Some(cell) = [Workload::Cpu, Workload::Db, Workload::Baseline, Workload::Io].into_iter().find_map(measured)
    else {
        return Err(anyhow!("no cell has a capacity bounded by its server"));
    };
    let capacity = cell.capacity_rps.expect("checked");
    let spec = options.servers.iter().find(|s| s.name() == cell.server).expect("a cell's server is in the list");
    let db = session.scratch.path().join("coordinated-omission.sqlite");
    let mut server = Server::start(spec, bin_dir, &db, START_TIMEOUT).map_err(|e| anyhow!(e.message))?;
    let urls: Vec<String> = cell.paths.iter().map(|p| server.url(p)).collect();
    let connections = connections_for(capacity, cell.target_p99_ms);
    let mut runs: Vec<CoRun> = Vec::new();
    let mut load = |seconds: f64, requests: u64, rate: Option<f64>| -> anyhow::Result<f64> {
        let mode = if rate.is_some() { LoopMode::Open } else { LoopMode::Closed };
        let load = Load { bin_dir, urls: urls.clone(), requests, connections, rate, timeout_s: 120.0 };
        let report = load.run(&mut server, interrupted)?;
        let latency = Latency::from(report.latency_us);
        runs.push(CoRun {
            mode,
            seconds,
            requests,
            wall_s: report.wall_s,
            throughput_rps: report.throughput_rps,
            p50_us: latency.p50,
            p99_us: latency.p99,
            failed: report.failed,
        });
        Ok(report.throughput_rps)
    };
    let (short, long) = (options.co_s, 4.0 * options.co_s);
    // Closed loop first: what the server answers at most over these connections; the open-loop rate is twice it.
    let answered = load(short, ((capacity * short).round() as u64).max(20), None)?;
    let rate = (2.0 * answered).round().max(2.0);
    load(short, ((rate * short).round() as u64).max(20), Some(rate))?;
    load(long, ((answered * long).round() as u64).max(20), None)?;
    load(long, ((rate * long).round() as u64).max(20), Some(rate))?;
    server.stop(STOP_GRACE);
    // Short runs first; open loop before closed loop in each.
    runs.sort_by(|a, b| a.seconds.total_cmp(&b.seconds).then(a.mode.cmp(&b.mode)));
    Ok(CoordinatedOmission {
        server: cell.server.clone(),
        workload: cell.workload,
        rate_rps: rate,
        capacity_rps: capacity,
        closed_loop_rps: answered,
        connections,
        runs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A probe at `rate` with `connections`, a p50 of `p50_ms` and the client's CPU per request.
    fn probe(rate: f64, connections: u64, p50_ms: f64, client_cpu_ms: f64, held: bool) -> Probe {
        Probe {
            rate_rps: rate,
            requests: 1000,
            connections,
            succeeded: 1000,
            failed: u64::from(!held),
            unsent: 0,
            late: 0,
            throughput_rps: rate,
            p50_us: p50_ms * 1000.0,
            p99_us: p50_ms * 2000.0,
            max_us: p50_ms * 3000.0,
            client_cpu_ms_per_request: client_cpu_ms,
            held,
            verdict: String::new(),
        }
    }

    #[test]
    fn a_capacity_near_an_instrument_limit_is_the_clients() {
        // Little's law: 40,000 req/s × 0.4 s keeps 16,000 in flight, 98 % of a 16,384 cap.
        let at_cap = [probe(20_000.0, 16_384, 400.0, 0.01, true), probe(40_000.0, MAX_CONNECTIONS, 400.0, 0.01, false)];
        let limit = instrument_limit(&at_cap, Some(40_000.0), 2).unwrap();
        assert!(limit.contains("connection cap (16384)"), "{limit}");
        // The same rate with room under the cap (100 ms: 4,000 in flight): the server's figure.
        let room = [probe(40_000.0, MAX_CONNECTIONS, 100.0, 0.01, false)];
        assert_eq!(instrument_limit(&room, Some(40_000.0), 2), None);
        // Every rate held, the client spending 1.9 of 2 cores (0.095 ms × 20,000 req/s): the client's CPU.
        let busy = [probe(10_000.0, 100, 1.0, 0.095, true), probe(20_000.0, 200, 1.0, 0.095, true)];
        let limit = instrument_limit(&busy, None, 2).unwrap();
        assert!(limit.contains("client's CPU (1.90 of 2 cores)"), "{limit}");
        assert_eq!(instrument_limit(&busy, None, 4), None);
    }
}
