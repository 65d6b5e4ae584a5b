//! Running the matrix: for each server, start it, verify it, then measure its cells one by one.
//!
//! Each repetition of a cell gets a fresh server process on a free port, so that its cost (peak RSS, threads,
//! CPU time, context switches) is the cell's alone and a crash costs only that cell. While the client process
//! runs, a sampler thread reads the server's /proc; the lab's main thread polls both children and the Ctrl-C
//! flag. Faults cost a cell, never the run: a server that fails to start, crashes mid-cell or stops answering
//! gets its cell recorded as failed with the reason and its stderr tail, and the next cell starts afresh.

use crate::client::{ClientArgs, ClientReport};
use crate::cost::Sampler;
use crate::limits::{self, Trouble};
use crate::model::{self, ConcurrencyModel};
use crate::plan::{CellSpec, MatrixConfig, ServerSpec, Workload};
use crate::process::{self, reaping, OutputTail, Server, Usage};
use crate::progress::Progress;
use crate::results::{
    Cell, ClientCost, Failures, Limits, Measurement, ServerCost, ServerKind, ServerRecord, Spread, Status,
    VerifyRecord, VerifyStatus,
};
use crate::verify;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// How long a server may take to print `listening on` (or answer /health).
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a server gets to exit after SIGTERM before SIGKILL.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(2);
/// How often the sampler reads /proc.
const SAMPLE_INTERVAL: Duration = Duration::from_millis(25);
/// How long a client may go on after its server died, to report its failures.
const AFTER_SERVER_DEATH: Duration = Duration::from_secs(3);
/// How often the main thread polls the children and the Ctrl-C flag while a client runs.
const POLL: Duration = Duration::from_millis(2);

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

/// What the runner hands back.
pub struct Outcome {
    pub servers: Vec<ServerRecord>,
    pub cells: Vec<Cell>,
    pub interrupted: bool,
}

/// Why a repetition produced no measurement.
pub(crate) struct Fault {
    pub reason: String,
    pub stderr_tail: Option<String>,
    /// Whatever the client reported before the fault (a server that died mid-cell leaves failures to count).
    pub partial: Option<Box<Measurement>>,
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

    pub fn run(&mut self, cells: &[CellSpec]) -> Outcome {
        let estimates: Vec<u64> = cells.iter().map(|c| self.estimate_ms(c, None)).collect();
        let mut progress = Progress::new(cells.len(), estimates.iter().sum());
        let mut servers = Vec::new();
        let mut results: Vec<Cell> = Vec::new();
        for spec in &self.config.servers {
            let mine: Vec<(usize, &CellSpec)> =
                cells.iter().enumerate().filter(|(_, c)| c.server.name() == spec.name()).collect();
            if self.is_interrupted() {
                servers.push(server_record(spec, verify::not_run("the run was interrupted"), None));
                for (i, cell) in mine {
                    results.push(unmeasured(cell, Status::Skipped, "the run was interrupted before this cell", None));
                    progress.finish_cell(estimates[i], &format!("skipped {}", cell.label()));
                }
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
            for (i, cell) in mine {
                if let Some((status, reason, tail)) = &verdict {
                    results.push(unmeasured(cell, *status, reason, tail.clone()));
                    progress.finish_cell(estimates[i], &format!("{status} {}", cell.label()));
                    continue;
                }
                if self.is_interrupted() {
                    results.push(unmeasured(cell, Status::Skipped, "the run was interrupted before this cell", None));
                    progress.finish_cell(estimates[i], &format!("skipped {}", cell.label()));
                    continue;
                }
                if let Some(skipped) = self.over_budget(cell, model) {
                    progress.finish_cell(estimates[i], &result_line(&skipped));
                    results.push(skipped);
                    continue;
                }
                progress.start_cell(&cell.label());
                let result = self.run_cell(cell, model);
                let line = result_line(&result);
                if let Some(hint) = &result.limit_hint {
                    progress.line(&format!("  limit: {hint}"));
                }
                results.push(result);
                progress.finish_cell(estimates[i], &line);
            }
        }
        progress.finish();
        Outcome { servers, cells: results, interrupted: self.is_interrupted() }
    }

    pub(crate) fn is_interrupted(&self) -> bool {
        self.interrupted.load(Ordering::Relaxed)
    }

    pub(crate) fn db_path(&self, server: &str) -> PathBuf {
        self.scratch.join(format!("{server}.sqlite"))
    }

    /// Starts the server once to read /health and run the correctness checks, then stops it. Returns the
    /// record, the concurrency model read from /health, and the stderr tail if it did not start.
    pub(crate) fn verify_server(&self, spec: &ServerSpec) -> (ServerRecord, ConcurrencyModel, Option<String>) {
        let mut server = match Server::start(spec, &self.bin_dir, &self.db_path(spec.name()), START_TIMEOUT) {
            Ok(server) => server,
            Err(e) => {
                let record = server_record(spec, verify::not_run(&e.message), None);
                return (record, ConcurrencyModel::Unknown, Some(e.stderr_tail));
            }
        };
        let health = crate::http::get(&crate::http::agent(Duration::from_secs(5)), &server.url("/health"))
            .ok()
            .filter(|r| r.status == 200)
            .and_then(|r| serde_json::from_str::<serde_json::Value>(&r.body).ok());
        let foreign = matches!(spec, ServerSpec::Foreign { .. });
        let verification = verify::verify(server.addr, foreign);
        server.stop(STOP_GRACE);
        let model = ConcurrencyModel::from_health(spec.name(), health.as_ref());
        (server_record(spec, verification, health), model, None)
    }

    /// Runs one cell `repeat` times and summarises it.
    fn run_cell(&mut self, cell: &CellSpec, model: ConcurrencyModel) -> Cell {
        let mut runs = Vec::new();
        let mut fault = None;
        for _ in 0..self.config.repeat.max(1) {
            match self.run_once(cell, model) {
                Ok(m) => runs.push(m),
                Err(f) => {
                    fault = Some(f);
                    break;
                }
            }
        }
        summarize_cell(cell, model, self.config, runs, fault, &self.limits)
    }

    /// One repetition: fresh server, client process, sampler; then the costs and the client's report.
    fn run_once(&mut self, cell: &CellSpec, model: ConcurrencyModel) -> Result<Measurement, Fault> {
        let mut server = Server::start(&cell.server, &self.bin_dir, &self.db_path(cell.server.name()), START_TIMEOUT)
            .map_err(|e| Fault {
            reason: format!("server did not start: {}", e.message),
            stderr_tail: Some(e.stderr_tail),
            partial: None,
        })?;
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
        let binary = self.bin_dir.join(&cell.client.binary);
        if !binary.exists() {
            server.stop(STOP_GRACE);
            return Err(Fault {
                reason: format!("client binary {} not found", binary.display()),
                stderr_tail: None,
                partial: None,
            });
        }
        let mut command = args.command(&self.bin_dir);
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        process::isolate(&mut command);

        let sampler = Sampler::start(server.pid(), SAMPLE_INTERVAL);
        let time_limit =
            Duration::from_millis(self.estimate_ms(cell, Some(model)) * 4) + args.timeout * 2 + Duration::from_secs(30);
        let client = match run_client(command, &mut server, time_limit, &self.interrupted) {
            Ok(client) => client,
            Err(e) => {
                sampler.finish();
                server.stop(STOP_GRACE);
                return Err(Fault {
                    reason: format!("cannot start {}: {e}", binary.display()),
                    stderr_tail: None,
                    partial: None,
                });
            }
        };
        self.measured += client.window;
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
        };
        client.outcome(&server, Some(server_cost))
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
                (cell.requests + cell.warmup) * 1000 / rps
            }
        };
        (once + 100) * repeat
    }
}

/// CPU time over a window, in cores.
fn cores(usage: Usage, window_s: f64) -> f64 {
    if window_s > 0.0 {
        (usage.user_s + usage.sys_s) / window_s
    } else {
        0.0
    }
}

/// One client process, run to its end (or killed) against a running server.
pub(crate) struct ClientRun {
    pub status: ExitStatus,
    /// The client's exact CPU time and context switches (wait4's rusage).
    pub usage: Usage,
    pub stdout: String,
    pub stderr: OutputTail,
    /// From spawn to exit: the window the costs are taken over.
    pub window: Duration,
    /// Why the lab killed the client (Ctrl-C, the time limit), if it did.
    pub killed_for: Option<String>,
    /// The server's exit status and rusage, when it died while the client ran (it is reaped then).
    pub server_exit: Option<(ExitStatus, Usage)>,
}

/// Spawns `command` (a client with piped stdout/stderr, see [`process::isolate`]) and polls until it exits: the
/// client's exit, the server's death, Ctrl-C (`interrupted`) and `time_limit` after the start. The client is
/// killed on Ctrl-C or past the time limit, and a few seconds after its server died. The calling thread sleeps
/// between polls; two threads drain the pipes, so a chatty client never blocks on a full pipe.
pub(crate) fn run_client(
    mut command: Command,
    server: &mut Server,
    time_limit: Duration,
    interrupted: &AtomicBool,
) -> std::io::Result<ClientRun> {
    let started = Instant::now();
    let mut child = command.spawn()?;
    let mut stdout = child.stdout.take().expect("piped");
    let stdout_reader = thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let stderr = OutputTail::default();
    stderr.drain(child.stderr.take().expect("piped"), "");
    let client_pid = child.id();
    let mut deadline = started + time_limit;
    let mut server_exit: Option<(ExitStatus, Usage)> = None;
    let mut killed_for: Option<String> = None;
    let (status, usage) = loop {
        let (status, usage) = reaping(|| child.try_wait().ok().flatten());
        if let Some(status) = status {
            break (status, usage);
        }
        if killed_for.is_none() {
            if interrupted.load(Ordering::Relaxed) {
                killed_for = Some("interrupted (Ctrl-C) while the cell ran".to_string());
            } else if Instant::now() > deadline {
                killed_for = Some(format!(
                    "the client did not finish within {:.0} s; killed",
                    (deadline - started).as_secs_f64()
                ));
            }
            if killed_for.is_some() {
                process::signal_group(client_pid, process::Signal::KILL);
            }
        }
        if server_exit.is_none() {
            if let Some(exit) = server.try_wait() {
                server_exit = Some(exit);
                deadline = deadline.min(Instant::now() + AFTER_SERVER_DEATH);
            }
        }
        thread::sleep(POLL);
    };
    let window = started.elapsed();
    // The client's own children (if it forked workers) go with it.
    process::signal_group(client_pid, process::Signal::KILL);
    let stdout = stdout_reader.join().unwrap_or_default();
    Ok(ClientRun { status, usage, stdout, stderr, window, killed_for, server_exit })
}

impl ClientRun {
    /// The measurement from the client's report, or the fault that cost it: the server died, the client was
    /// killed, every request failed, or the client printed no report.
    pub(crate) fn outcome(&self, server: &Server, server_cost: Option<ServerCost>) -> Result<Measurement, Fault> {
        let window_s = self.window.as_secs_f64();
        let report = ClientReport::parse(&self.stdout);
        let reported = report.as_ref().ok().and_then(|r| r.cost);
        let client_cost = ClientCost {
            user_s: self.usage.user_s,
            sys_s: self.usage.sys_s,
            cpu_cores: cores(self.usage, window_s),
            voluntary_ctxt: self.usage.voluntary_ctxt,
            nonvoluntary_ctxt: self.usage.nonvoluntary_ctxt,
            peak_threads: reported.and_then(|c| c.peak_threads),
            peak_rss_kib: reported.and_then(|c| c.peak_rss_kib),
        };
        let measurement = report.as_ref().ok().map(|r| Measurement {
            wall_s: r.wall_s,
            throughput_rps: r.throughput_rps,
            latency_us: r.latency_us.to_latency(),
            succeeded: r.succeeded,
            failed: r.failed,
            failures: r.failures,
            window_s,
            server_cost,
            client_cost: Some(client_cost),
        });
        let tails = || {
            let server_tail = server.stderr_tail(20);
            let client_tail = self.stderr.tail(20);
            let mut parts = Vec::new();
            if !server_tail.is_empty() {
                parts.push(format!("server stderr:\n{server_tail}"));
            }
            if !client_tail.is_empty() {
                parts.push(format!("client stderr:\n{client_tail}"));
            }
            (!parts.is_empty()).then(|| parts.join("\n"))
        };
        if let Some((status, _)) = self.server_exit {
            return Err(Fault {
                reason: format!("the server exited during the cell ({status})"),
                stderr_tail: tails(),
                partial: measurement.map(Box::new),
            });
        }
        if let Some(reason) = &self.killed_for {
            return Err(Fault { reason: reason.clone(), stderr_tail: tails(), partial: measurement.map(Box::new) });
        }
        match (report, measurement) {
            (Ok(report), Some(m)) if m.succeeded == 0 && report.failed > 0 => {
                Err(Fault { reason: report.failure_summary(), stderr_tail: tails(), partial: Some(Box::new(m)) })
            }
            (Ok(_), Some(m)) => Ok(m),
            (Err(e), _) => Err(Fault {
                reason: match last_line(&self.stderr.tail(5)) {
                    Some(said) => format!("client exited with {}: {e}; it said: {said}", self.status),
                    None => format!("client exited with {}: {e}", self.status),
                },
                stderr_tail: tails(),
                partial: None,
            }),
            (Ok(_), None) => unreachable!("a parsed report always gives a measurement"),
        }
    }
}

pub(crate) fn server_record(
    spec: &ServerSpec,
    verify: VerifyRecord,
    health: Option<serde_json::Value>,
) -> ServerRecord {
    let model = ConcurrencyModel::from_health(spec.name(), health.as_ref());
    let (kind, command) = match spec {
        ServerSpec::Builtin(name) => {
            (ServerKind::Builtin, format!("{name} --host 127.0.0.1 --port 0 --quiet --db PATH"))
        }
        ServerSpec::Foreign { command, .. } => (ServerKind::Foreign, command.clone()),
    };
    ServerRecord {
        name: spec.name().to_string(),
        kind,
        command,
        verify,
        health,
        model: model.kind(),
        worker_threads: model.threads(),
    }
}

/// Why a server's cells (or its soak) are not measured, from its verification: None when it passed; skipped
/// when it answered wrongly; failed when it did not start.
pub(crate) fn unverified(verify: &VerifyRecord) -> Option<(Status, String)> {
    let reason = verify.reason.clone().unwrap_or_default();
    match verify.status {
        VerifyStatus::Passed => None,
        VerifyStatus::Failed => Some((Status::Skipped, format!("failed verify: {reason}"))),
        VerifyStatus::NotRun => Some((Status::Failed, format!("server did not start: {reason}"))),
    }
}

/// A cell that was not measured: skipped (verify failed, interrupted) or failed before it ran.
pub fn unmeasured(cell: &CellSpec, status: Status, reason: &str, stderr_tail: Option<String>) -> Cell {
    Cell {
        id: cell.id(),
        server: cell.server.name().to_string(),
        client: cell.client.label(),
        workload: cell.workload.name().to_string(),
        concurrency: cell.concurrency,
        requests: cell.requests,
        warmup: cell.warmup,
        keep_alive: true,
        status,
        reason: Some(reason.to_string()),
        stderr_tail,
        limit_hint: None,
        wall_s: None,
        throughput_rps: None,
        latency_us: None,
        succeeded: 0,
        failed: 0,
        failures: Failures::default(),
        server_cost: None,
        client_cost: None,
        spread: None,
        expected_wall_s: None,
        effective_concurrency: None,
        efficiency: None,
        bottleneck: None,
        runs: vec![],
    }
}

/// The cell's figures: the median repetition by wall time, the spread, the prediction and the flags.
fn summarize_cell(
    spec: &CellSpec,
    model: ConcurrencyModel,
    config: &MatrixConfig,
    mut runs: Vec<Measurement>,
    fault: Option<Fault>,
    limits: &Limits,
) -> Cell {
    let mut cell = unmeasured(spec, Status::Ok, "", None);
    cell.keep_alive = config.keep_alive;
    cell.reason = None;
    let mut all = runs.clone();
    if let Some(fault) = &fault {
        cell.status = Status::Failed;
        cell.reason = Some(fault.reason.clone());
        cell.stderr_tail = fault.stderr_tail.clone();
        all.extend(fault.partial.as_deref().cloned());
    }
    if runs.is_empty() {
        runs = all.clone();
    }
    runs.sort_by(|a, b| a.wall_s.total_cmp(&b.wall_s));
    if let Some(median) = runs.get(runs.len().saturating_sub(1) / 2).cloned() {
        cell.wall_s = Some(median.wall_s);
        cell.throughput_rps = Some(median.throughput_rps);
        cell.latency_us = Some(median.latency_us);
        cell.succeeded = median.succeeded;
        cell.failed = median.failed;
        cell.failures = median.failures;
        cell.server_cost = median.server_cost.clone();
        cell.client_cost = median.client_cost.clone();
        let walls: Vec<f64> = runs.iter().map(|r| r.wall_s).collect();
        let rates: Vec<f64> = runs.iter().map(|r| r.throughput_rps).collect();
        let min = |v: &[f64]| v.iter().cloned().fold(f64::INFINITY, f64::min);
        let max = |v: &[f64]| v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        cell.spread = Some(Spread {
            repeats: runs.len() as u64,
            wall_s_min: min(&walls),
            wall_s_max: max(&walls),
            throughput_min: min(&rates),
            throughput_max: max(&rates),
            relative: if median.wall_s > 0.0 { (max(&walls) - min(&walls)) / median.wall_s } else { 0.0 },
        });
        let wait_ms = if spec.workload == Workload::Io { config.settings.hello_ms } else { config.settings.block_ms };
        if let Some(p) = model::predict(model, spec.workload, wait_ms, spec.concurrency, spec.requests) {
            cell.expected_wall_s = Some(p.expected_wall_s);
            cell.effective_concurrency = Some(p.effective_concurrency);
            if median.wall_s > 0.0 && median.succeeded > 0 {
                cell.efficiency = Some(p.expected_wall_s / median.wall_s);
            }
        }
        if let (Some(c), Some(s)) = (&median.client_cost, &median.server_cost) {
            cell.bottleneck = Some(model::bottleneck(c.cpu_cores, s.cpu_cores));
        }
    }
    cell.runs = all;
    if cell.failed > 0 || cell.status == Status::Failed {
        let stderr = cell.stderr_tail.clone().unwrap_or_default();
        cell.limit_hint = limits::hint(
            limits,
            &Trouble {
                concurrency: spec.concurrency,
                thread_per_connection: model == ConcurrencyModel::ThreadPerRequest,
                connect_failures: cell.failures.connect,
                timeout_failures: cell.failures.timeout,
                stderr: &stderr,
            },
        );
    }
    cell
}

/// The last non-empty line of `text`, cut to 200 characters.
fn last_line(text: &str) -> Option<String> {
    let line = text.lines().rev().map(str::trim).find(|l| !l.is_empty())?;
    Some(line.chars().take(200).collect())
}

fn result_line(cell: &Cell) -> String {
    let label =
        format!("{} × {} {} c={} n={}", cell.server, cell.client, cell.workload, cell.concurrency, cell.requests);
    match (cell.status, cell.wall_s) {
        (Status::Ok, Some(wall)) => {
            let mut line = format!(
                "{label}: {} · {} · p99 {}",
                crate::format::seconds(wall),
                crate::format::rate(cell.throughput_rps.unwrap_or(0.0)),
                crate::format::micros(cell.latency_us.map(|l| l.p99).unwrap_or(0.0))
            );
            if let Some(e) = cell.efficiency {
                line.push_str(&format!(" · efficiency {e:.2}"));
            }
            if cell.failed > 0 {
                line.push_str(&format!(" · {} failed", cell.failed));
            }
            line
        }
        (status, _) => format!("{label}: {status}: {}", cell.reason.clone().unwrap_or_default()),
    }
}
