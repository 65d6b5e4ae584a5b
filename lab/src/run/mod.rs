//! Running the matrix: for each server, start it, verify it, then measure its cells one by one.
//!
//! Each repetition of a cell gets a fresh server process on a free port, so that its cost (peak RSS, threads,
//! CPU time, context switches) is the cell's alone and a crash costs only that cell. While the client process
//! runs, a sampler thread reads the server's /proc; the lab's main thread polls both children and the Ctrl-C
//! flag. Faults cost a cell, never the run: a server that fails to start, crashes mid-cell or stops answering
//! gets its cell recorded as failed with the reason and its stderr tail, and the next cell starts afresh.

//!
//! The module in three parts: this file is the loop (servers in turn, each verified, then its cells one by one);
//! `client` runs one client process against a running server and reads what it reports; `summary` turns the
//! repetitions of a cell into the cell's record (median, spread, prediction, limit hint).

mod client;
mod summary;

use client::cores;
pub(crate) use client::{run_client, Fault};
#[cfg(test)]
pub(crate) use summary::synthetic_cell;
pub use summary::unmeasured;
use summary::{result_line, summarize_cell};
pub(crate) use summary::{server_record, unverified};

use crate::client::ClientArgs;
use crate::cost::Sampler;
use crate::model::{self, ConcurrencyModel};
use crate::plan::{CellSpec, MatrixConfig, ServerSpec};
use crate::process::{self, Server};
use crate::progress::Progress;
use crate::records::run::Workload;
use crate::records::{
    header::Limits,
    run::{Cell, Instance, Measurement, ServerCost, ServerRecord, Status},
};
use crate::verify;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a server may take to print `listening on` (or answer /health).
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a server gets to exit after SIGTERM before SIGKILL.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(2);
/// How often the sampler reads /proc.
const SAMPLE_INTERVAL: Duration = Duration::from_millis(25);

/// Runs cells and collects what they measured.
pub struct Runner<'a> {
    pub config: &'a MatrixConfig,
    pub bin_dir: PathBuf,
    /// Holds the servers' SQLite files; removed when the run ends.
    pub scratch: PathBuf,
    pub limits: Limits,
    /// Set by SIGINT/SIGTERM: stop after killing the running children, and write what was measured.
    pub interrupted: Arc<AtomicBool>,
    /// Sum of the client processes' lifetimes: the run's measured time.
    pub measured: Duration,
}

/// Why a server's cells are not measured: their status, the reason, and the server's stderr tail.
type NotMeasured = (Status, String, Option<String>);

/// A measured cell's repetitions so far, and the fault that ended them.
struct Repetitions {
    model: ConcurrencyModel,
    runs: Vec<Measurement>,
    fault: Option<Fault>,
}

/// What the runner hands back.
pub struct Outcome {
    pub servers: Vec<ServerRecord>,
    pub cells: Vec<Cell>,
    pub interrupted: bool,
}

impl<'a> Runner<'a> {
    /// A runner for `config`'s cells in `session` (its binaries, scratch directory, limits and Ctrl-C flag).
    pub fn new(config: &'a MatrixConfig, session: &crate::session::Session) -> Runner<'a> {
        Runner {
            config,
            bin_dir: session.bin_dir.clone(),
            scratch: session.scratch.path().to_path_buf(),
            limits: session.limits.clone(),
            interrupted: session.interrupted.clone(),
            measured: Duration::ZERO,
        }
    }

    /// Verifies every server, then measures the cells in rounds over the whole run: the cells that differ only
    /// by server form a group, and each round runs one repetition of every group's cells in turn (a, b, c, a, b,
    /// c — never a, a, a). Drift within a group's few seconds hits every server alike; drift over the run's
    /// minutes lands inside each cell's range, which is what a comparison with another run must allow for.
    pub fn run(&mut self, cells: &[CellSpec]) -> Outcome {
        let estimates: Vec<u64> = cells.iter().map(|c| self.estimate_ms(c, None)).collect();
        let mut progress = Progress::new(cells.len(), estimates.iter().sum());
        let mut servers = Vec::new();
        // What each server's cells get instead of a measurement (None: measure them), and its model.
        let mut verdicts: Vec<(Option<NotMeasured>, ConcurrencyModel)> = Vec::new();
        for spec in &self.config.servers {
            if self.is_interrupted() {
                servers.push(server_record(spec, verify::not_run("the run was interrupted"), None, &self.flags(spec)));
                let reason = "the run was interrupted before this cell".to_string();
                verdicts.push((Some((Status::Skipped, reason, None)), ConcurrencyModel::Unknown));
                continue;
            }
            progress.line(&format!("verifying {}", spec.name()));
            let (record, model, start_tail) = self.verify_server(spec);
            // A server that failed verify is skipped; one that did not start has failed (with its stderr).
            let verdict = unverified(&record.verify).map(|(status, reason)| {
                let tail = if status == Status::Failed { start_tail } else { None };
                (status, reason, tail)
            });
            match &verdict {
                None => progress.line(&format!(
                    "{}: verify passed ({} checks), model {}",
                    spec.name(),
                    record.verify.passed,
                    record.model
                )),
                Some((_, reason, _)) => {
                    progress.line(&format!("{}: {reason} — its cells are not measured", spec.name()))
                }
            }
            servers.push(record);
            verdicts.push((verdict, model));
        }
        let server_index = |cell: &CellSpec| self.config.servers.iter().position(|s| s.name() == cell.server.name());
        let groups = interleave_groups(cells);
        let rounds = self.config.repeat.max(1);
        let mut results: Vec<Option<Cell>> = vec![None; cells.len()];
        // The cells that are measured, with their repetitions so far and first fault; the others get their record
        // now (their server failed verify, or the model puts them over the cell budget).
        let mut live: Vec<Option<Repetitions>> = cells.iter().map(|_| None).collect();
        for &i in groups.iter().flatten() {
            let cell = &cells[i];
            let (verdict, model) = match server_index(cell).and_then(|s| verdicts.get(s)) {
                Some((verdict, model)) => (verdict.clone(), *model),
                None => (None, ConcurrencyModel::Unknown),
            };
            let record = match verdict {
                Some((status, reason, tail)) => unmeasured(cell, status, &reason, tail),
                None => match self.over_budget(cell, model) {
                    Some(skipped) => skipped,
                    None => {
                        live[i] = Some(Repetitions { model, runs: Vec::new(), fault: None });
                        continue;
                    }
                },
            };
            progress.finish_cell(estimates[i], &result_line(&record));
            results[i] = Some(record);
        }
        let label = |i: usize| cells[i].label();
        for (round, group) in schedule(groups.len(), rounds) {
            if self.is_interrupted() {
                break;
            }
            let group = &groups[group];
            let running: Vec<usize> =
                group.iter().copied().filter(|&i| live[i].as_ref().is_some_and(|r| r.fault.is_none())).collect();
            if !running.is_empty() {
                let labels = running.iter().map(|&i| label(i)).collect::<Vec<_>>().join(" | ");
                progress.start_repetition(round + 1, rounds, &labels);
            }
            for &i in &running {
                if self.is_interrupted() {
                    break;
                }
                let repetitions = live[i].as_mut().expect("a running cell is live");
                match self.run_once(&cells[i], repetitions.model) {
                    Ok(m) => {
                        // The instance measured, not the one verified, sets the model of the cell's prediction.
                        if let Some(instance) = m.instance {
                            repetitions.model = ConcurrencyModel::of_instance(instance, repetitions.model);
                        }
                        repetitions.runs.push(m)
                    }
                    Err(f) => repetitions.fault = Some(f),
                }
                progress.advance(estimates[i] / u64::from(rounds));
            }
            // After the last round, each of the group's cells has all its repetitions: its record is final.
            if round + 1 == rounds {
                for &i in group {
                    if let Some(repetitions) = live[i].take() {
                        let record = self.finish(&cells[i], repetitions);
                        if let Some(hint) = &record.limit_hint {
                            progress.line(&format!("  limit: {hint}"));
                        }
                        progress.finish_cell(0, &result_line(&record));
                        results[i] = Some(record);
                    }
                }
            }
        }
        // Interrupted: what the unfinished cells measured so far, or why they have nothing.
        for (i, repetitions) in live.into_iter().enumerate() {
            if let Some(repetitions) = repetitions {
                results[i] = Some(self.finish(&cells[i], repetitions));
            }
        }
        progress.finish();
        let cells = results
            .into_iter()
            .zip(cells)
            .map(|(r, c)| r.unwrap_or_else(|| unmeasured(c, Status::Skipped, "not reached", None)))
            .collect();
        Outcome { servers, cells, interrupted: self.is_interrupted() }
    }

    /// A measured cell's record from its repetitions (median, spread, prediction), with its limit hint.
    fn finish(&self, cell: &CellSpec, repetitions: Repetitions) -> Cell {
        let Repetitions { model, runs, fault } = repetitions;
        if runs.is_empty() && fault.is_none() {
            return unmeasured(cell, Status::Skipped, "the run was interrupted before this cell", None);
        }
        summarize_cell(cell, model, self.config, runs, fault, &self.limits)
    }

    pub(crate) fn is_interrupted(&self) -> bool {
        self.interrupted.load(Ordering::Relaxed)
    }

    pub(crate) fn db_path(&self, server: &str) -> PathBuf {
        self.scratch.join(format!("{server}.sqlite"))
    }

    /// The server's CPUs (None: not pinned) and the executor size the lab gives it (None: one per CPU).
    fn placement(&self) -> (Option<&[usize]>, Option<u64>) {
        (self.config.cpus.pins().map(|p| p.0), self.config.server_threads)
    }

    /// The flags the lab adds to `spec` when it starts it for this run.
    fn flags(&self, spec: &ServerSpec) -> Vec<String> {
        let (cpus, threads) = self.placement();
        Server::builtin_flags(spec.name(), threads, cpus)
    }

    /// Starts `spec` as every start of this run does: on the server's CPUs, with the lab's executor size.
    fn start(&self, spec: &ServerSpec) -> Result<Server, process::StartError> {
        let (cpus, threads) = self.placement();
        Server::start_on(spec, &self.bin_dir, &self.db_path(spec.name()), START_TIMEOUT, cpus, threads)
    }

    /// [`verify_server`], placed as this run's cells will be.
    pub(crate) fn verify_server(&self, spec: &ServerSpec) -> (ServerRecord, ConcurrencyModel, Option<String>) {
        let (cpus, threads) = self.placement();
        verify_server(spec, &self.bin_dir, &self.db_path(spec.name()), self.config.strict, cpus, threads)
    }

    /// One repetition: fresh server, client process, sampler; then the costs and the client's report.
    fn run_once(&mut self, cell: &CellSpec, model: ConcurrencyModel) -> Result<Measurement, Fault> {
        // The server on its CPU set, the client on the other (`--cpus`): each side's figures are its own.
        let pins = self.config.cpus.pins();
        let mut server = self.start(&cell.server).map_err(|e| Fault {
            reason: format!("server did not start: {}", e.message),
            stderr_tail: Some(e.stderr_tail),
            partial: None,
        })?;
        // What this instance says of itself, before any load: the model its repetition is held against.
        let instance = health_of(&server).map(|h| ConcurrencyModel::from_health(cell.server.name(), Some(&h)));
        let model = instance.unwrap_or(model);
        let record = instance.map(|m| Instance { model: m.kind(), worker_threads: m.threads() });
        let tag = move |m: Result<Measurement, Fault>| m.map(|m| Measurement { instance: record, ..m });
        let settings = &self.config.settings;
        let args = ClientArgs {
            client: &cell.client,
            urls: cell.workload.paths(settings).iter().map(|p| server.url(p)).collect(),
            requests: cell.requests,
            concurrency: cell.concurrency,
            warmup: cell.warmup,
            timeout: self.cell_timeout(cell, model),
            keep_alive: self.config.keep_alive,
        };
        let binary = self.bin_dir.join(cell.client.binary());
        if !binary.exists() {
            server.stop(STOP_GRACE);
            return Err(Fault {
                reason: format!("client binary {} not found", binary.display()),
                stderr_tail: None,
                partial: None,
            });
        }
        let mut command = args.command_for(&self.bin_dir, cell.duration);
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        process::isolate(&mut command);
        if let Some((_, client_cpus)) = pins {
            harness::process::pin(&mut command, client_cpus);
        }

        // A remote target's process is on another machine: nothing to sample (its cost stays `None`).
        let sampler = (!cell.server.is_remote()).then(|| Sampler::start(server.pid(), SAMPLE_INTERVAL));
        let time_limit =
            Duration::from_millis(self.estimate_ms(cell, Some(model)) * 4) + args.timeout * 2 + Duration::from_secs(30);
        let client = match run_client(command, &mut server, time_limit, &self.interrupted) {
            Ok(client) => client,
            Err(e) => {
                if let Some(sampler) = sampler {
                    sampler.finish();
                }
                server.stop(STOP_GRACE);
                return Err(Fault {
                    reason: format!("cannot start {}: {e}", binary.display()),
                    stderr_tail: None,
                    partial: None,
                });
            }
        };
        self.measured += client.window;
        let Some(sampler) = sampler else { return tag(client.outcome(&server, None)) };
        let peaks = sampler.finish();
        let server_usage = match client.server_exit {
            Some((_, usage)) => usage,
            None => server.stop(STOP_GRACE),
        };
        let window_s = client.window.as_secs_f64();
        let server_cost = ServerCost {
            peak_rss_kib: peaks.peak_rss_kib,
            hwm_kib: peaks.hwm_kib,
            start_rss_kib: peaks.start_rss_kib,
            peak_threads: peaks.peak_threads,
            peak_processes: peaks.peak_processes,
            user_s: server_usage.user_s,
            sys_s: server_usage.sys_s,
            cpu_cores: cores(server_usage, window_s),
            voluntary_ctxt: server_usage.voluntary_ctxt,
            nonvoluntary_ctxt: server_usage.nonvoluntary_ctxt,
            samples: peaks.samples,
            kernel_growth: peaks.kernel_at_peak.zip(peaks.start_kernel).map(|(peak, start)| peak.since(start)),
        };
        tag(client.outcome(&server, Some(server_cost)))
    }

    /// A skipped cell when the model predicts it would take longer than the cell budget (warm-up included).
    /// The original experiment's cells (10 requests or fewer) always run.
    fn over_budget(&self, cell: &CellSpec, model: ConcurrencyModel) -> Option<Cell> {
        if cell.requests <= 10 {
            return None;
        }
        let settings = &self.config.settings;
        let wait = if cell.workload == Workload::Blocking { settings.block_ms } else { settings.hello_ms };
        let measured = model::predict(model, cell.workload, wait, cell.concurrency, cell.requests)?;
        let warmup = model::predict(model, cell.workload, wait, cell.concurrency, cell.warmup)?;
        let total = measured.expected_wall_s + warmup.expected_wall_s;
        let budget = self.config.cell_budget.as_secs_f64();
        if total <= budget {
            return None;
        }
        let reason = format!(
            "not run: the model predicts {} ({} + {} warm-up) at effective concurrency {}, over the {} cell budget \
             (--cell-budget)",
            crate::format::seconds(total),
            crate::format::seconds(measured.expected_wall_s),
            crate::format::seconds(warmup.expected_wall_s),
            measured.effective_concurrency,
            crate::format::seconds(budget)
        );
        let mut skipped = unmeasured(cell, Status::Skipped, &reason, None);
        skipped.expected_wall_s = Some(measured.expected_wall_s);
        skipped.effective_concurrency = Some(measured.effective_concurrency);
        Some(skipped)
    }

    /// The per-request timeout for a cell: the configured one, or longer when the model expects requests to
    /// queue (a pool of 2 workers answers the last of 100 io requests after 50 D).
    pub fn cell_timeout(&self, cell: &CellSpec, model: ConcurrencyModel) -> Duration {
        let base = self.config.client_timeout();
        if self.config.timeout.is_some() {
            return base;
        }
        let settings = &self.config.settings;
        let wait = if cell.workload == Workload::Blocking { settings.block_ms } else { settings.hello_ms };
        let queued = model::predict(model, cell.workload, wait, cell.concurrency, cell.requests.max(cell.warmup))
            .map_or(Duration::ZERO, |p| Duration::from_secs_f64(p.expected_wall_s * 2.0 + 5.0));
        base.max(queued)
    }

    /// A rough duration of one cell in ms (all repetitions), for progress and deadlines.
    pub fn estimate_ms(&self, cell: &CellSpec, model: Option<ConcurrencyModel>) -> u64 {
        let settings = &self.config.settings;
        let repeat = u64::from(self.config.repeat.max(1));
        let once = match cell.workload {
            Workload::Io | Workload::Blocking => {
                let wait = if cell.workload == Workload::Io { settings.hello_ms } else { settings.block_ms };
                let model = model.unwrap_or(ConcurrencyModel::Unknown);
                let measured = model::predict(model, cell.workload, wait, cell.concurrency, cell.requests)
                    .map(|p| (p.expected_wall_s * 1000.0) as u64)
                    .unwrap_or(wait * cell.requests.div_ceil(cell.concurrency.max(1)));
                let warmup = model::predict(model, cell.workload, wait, cell.concurrency, cell.warmup)
                    .map(|p| (p.expected_wall_s * 1000.0) as u64)
                    .unwrap_or(wait * cell.warmup.div_ceil(cell.concurrency.max(1)));
                measured + warmup
            }
            w => {
                // Rough release-build rates on a small machine; only the ETA depends on them.
                let rps = match w {
                    Workload::Baseline => 10_000,
                    Workload::Cpu => 1_000,
                    Workload::Db => 2_000,
                    _ => 1_000,
                };
                let measured = match cell.duration {
                    Some(duration) => duration.as_millis() as u64,
                    None => cell.requests * 1000 / rps,
                };
                measured + cell.warmup * 1000 / rps
            }
        };
        (once + 100) * repeat
    }
}

/// Starts the server once (on `cpus`, with `threads` executor threads, as its measured instances will be), reads
/// /health and runs the correctness checks, then stops it. Returns the record, the concurrency model read from
/// /health, and the stderr tail if it did not start. Each measured instance of the matrix reads its own /health
/// again: the record is checked against what ran, not assumed.
pub(crate) fn verify_server(
    spec: &ServerSpec,
    bin_dir: &std::path::Path,
    db: &std::path::Path,
    strict: bool,
    cpus: Option<&[usize]>,
    threads: Option<u64>,
) -> (ServerRecord, ConcurrencyModel, Option<String>) {
    let flags = Server::builtin_flags(spec.name(), threads, cpus);
    let mut server = match Server::start_on(spec, bin_dir, db, START_TIMEOUT, cpus, threads) {
        Ok(server) => server,
        Err(e) => {
            let record = server_record(spec, verify::not_run(&e.message), None, &flags);
            return (record, ConcurrencyModel::Unknown, Some(e.stderr_tail));
        }
    };
    let health = health_of(&server);
    let foreign = !matches!(spec, ServerSpec::Builtin(_));
    let verification = verify::before_measuring(&server.url(""), foreign, strict);
    server.stop(STOP_GRACE);
    let model = ConcurrencyModel::from_health(spec.name(), health.as_ref());
    (server_record(spec, verification, health, &flags), model, None)
}

/// A running server's `/health` document, if it answers one.
fn health_of(server: &Server) -> Option<serde_json::Value> {
    crate::http::get(&crate::http::agent(Duration::from_secs(5)), &server.url("/health"))
        .ok()
        .filter(|r| r.status == 200)
        .and_then(|r| serde_json::from_str::<serde_json::Value>(&r.body).ok())
}

/// The cells in groups that differ only by server (same client, workload, concurrency and requests), in the
/// plan's order of first appearance; within a group, the plan's (the servers') order. Indexes into `cells`.
fn interleave_groups(cells: &[CellSpec]) -> Vec<Vec<usize>> {
    let key = |c: &CellSpec| (c.client.label(), c.workload, c.concurrency, c.requests);
    let groups = crate::records::grouped(cells.iter().enumerate().map(|(i, cell)| (key(cell), i)));
    groups.into_iter().map(|(_, members)| members).collect()
}

/// The order of the measurements: round by round over the whole run, each round one repetition of every group
/// (`(round, group)` pairs). A cell's repetitions are thus spread over the run's whole length, so that the
/// machine's slow drift (minutes) lands inside each cell's min–max range instead of between two runs.
fn schedule(groups: usize, rounds: u32) -> impl Iterator<Item = (u32, usize)> {
    (0..rounds).flat_map(move |round| (0..groups).map(move |group| (round, group)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::run::ProfileName;

    #[test]
    fn each_round_runs_every_group_once_before_any_cell_repeats() {
        let order: Vec<(u32, usize)> = schedule(3, 4).collect();
        assert_eq!(order.len(), 12);
        for (step, &(round, group)) in order.iter().enumerate() {
            // Rounds outermost: a cell's next repetition comes only after every other group has had its turn.
            assert_eq!((round as usize, group), (step / 3, step % 3), "{order:?}");
        }
        assert_eq!(schedule(5, 1).count(), 5);
    }

    #[test]
    fn groups_interleave_the_servers_of_one_point() {
        let config = MatrixConfig::for_profile(ProfileName::Quick);
        let cells = config.cells();
        let groups = interleave_groups(&cells);
        // Every cell in exactly one group.
        let mut all: Vec<usize> = groups.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..cells.len()).collect::<Vec<_>>());
        for group in &groups {
            // One cell per server, each server at most once, all at the same point.
            let servers: Vec<&str> = group.iter().map(|&i| cells[i].server.name()).collect();
            let mut unique = servers.clone();
            unique.dedup();
            assert_eq!(servers, unique);
            let first = &cells[group[0]];
            for &i in group {
                let c = &cells[i];
                assert_eq!(
                    (c.client.label(), c.workload, c.concurrency, c.requests),
                    (first.client.label(), first.workload, first.concurrency, first.requests)
                );
            }
        }
        // The quick profile's three servers share every point, so each group has all three.
        assert!(groups.iter().all(|g| g.len() == config.servers.len()), "{groups:?}");
    }
}
