//! `lab soak`: each server, one long-lived process, loaded for minutes by back-to-back client
//! runs of about a minute each — a time series of throughput, latency, RSS and threads, and a verdict on drift
//! (the last minute slower than the first) and growth (memory that only goes up: a leak).
//!
//! Concurrency idea: time is the variable here, not concurrency. The same server process serves every minute,
//! so whatever it accumulates (memory, threads, a growing queue) carries over from one minute to the next. Each
//! minute is a fresh client process (its own connections, its own histogram); the lab measures the server's
//! RSS and threads between two minutes, when it is idle, so that the points of the series are comparable.
//! The number of requests of a minute is sized from the throughput of the minute before.
//!
//! The command in order: the plan ([`SoakOptions`]: servers, workload, client, length), the measure (each server
//! verified, then soaked, in one [`Session`]), the record ([`SoakRun`]) and its files ([`markdown`]).

pub mod markdown;

use markdown::{point_name, points};

use crate::client::ClientArgs;
use crate::cost::Sampler;
use crate::export::{Exporter, Page};
use crate::fit::linear_fit;
use crate::format;
use crate::plan::{self, ServerSpec, WorkloadSettings};
use crate::process::{self, Server};
use crate::progress::Progress;
use crate::records::header::{CpuPlacement, RunHeader, RunKind};
use crate::records::run::{
    Analysis, Client, Failures, Measurement, Overhead, Settings, Status, Workload, WorkloadPaths, SCHEMA_VERSION,
};
use crate::records::soak::{Soak, SoakMinute, SoakRun, SoakServer};
use crate::run::{run_client, Fault, START_TIMEOUT, STOP_GRACE};
use crate::session::Session;
use harness::proc::{tree, ProcSample};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// How often the server is sampled while a minute runs (for its peaks).
const SAMPLE_INTERVAL: Duration = Duration::from_millis(100);
/// Drift: the last minute's p50 at least [`DRIFT_P50`] times the first minute's, or its p99 at least
/// [`DRIFT_P99`] times (a tail is noisier than a median on a shared machine).
pub const DRIFT_P50: f64 = 1.5;
pub const DRIFT_P99: f64 = 2.0;
/// Growth: RSS at the end at least this fraction above the end of minute 1, and by at least [`GROWTH_MIN_KIB`].
pub const GROWTH_FRACTION: f64 = 0.10;
pub const GROWTH_MIN_KIB: u64 = 2048;
/// Calibration runs grow ×4 until one lasts this long (or reaches [`CALIBRATION_MAX_REQUESTS`]).
const CALIBRATION_TARGET: Duration = Duration::from_secs(1);
const CALIBRATION_MAX_REQUESTS: u64 = 1 << 22;

/// How long to soak, from the command line.
#[derive(Debug, Clone, Copy)]
pub struct SoakSettings {
    /// How long each server is loaded (`--minutes`, default 10).
    pub minutes: f64,
    /// The length of one client run, one point of the series (`--chunk-s`, default 60 s).
    pub chunk: Duration,
}

impl Default for SoakSettings {
    fn default() -> Self {
        SoakSettings { minutes: 10.0, chunk: Duration::from_secs(60) }
    }
}

impl SoakSettings {
    /// Client runs per server: the soak's length in chunks, at least one.
    pub fn chunks(&self) -> u32 {
        ((self.minutes * 60.0 / self.chunk.as_secs_f64()).round() as u32).max(1)
    }
}

/// What `lab soak` was asked to do: one workload from one concurrent client at one concurrency, on each server.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    pub servers: Vec<ServerSpec>,
    pub workload: Workload,
    pub client: Client,
    pub concurrency: u64,
    /// The figures of the workload's paths (D, the /block sleep, n of /fact).
    pub load: WorkloadSettings,
    pub keep_alive: bool,
    /// The clients' per-request timeout; None = [`WorkloadSettings::client_timeout`].
    pub timeout: Option<Duration>,
    /// Verification's warnings count as failures.
    pub strict: bool,
    pub settings: SoakSettings,
    pub out: PathBuf,
    /// Prebuilt binaries; None = build release binaries first.
    pub bin_dir: Option<PathBuf>,
}

impl SoakOptions {
    /// The defaults: moderate keep-alive load on every server — `mixed` (its wait D = 100 ms) from async-client
    /// at concurrency 32, for [`SoakSettings::default`].
    pub fn new(out: PathBuf) -> SoakOptions {
        SoakOptions {
            servers: plan::builtin_specs(),
            workload: Workload::Mixed,
            client: "async-client".parse().expect("a client of the lab"),
            concurrency: 32,
            load: WorkloadSettings { hello_ms: 100, block_ms: 100, fact_n: 2000 },
            keep_alive: true,
            timeout: None,
            strict: false,
            settings: SoakSettings::default(),
            out,
            bin_dir: None,
        }
    }

    fn client_timeout(&self) -> Duration {
        self.timeout.unwrap_or_else(|| self.load.client_timeout())
    }
}

/// What `lab report` rebuilds from a soak JSON: the markdown (and the CSV, a header: a soak has no cell).
pub fn report_exporters() -> Vec<Box<dyn Exporter<SoakRun>>> {
    vec![Box::new(Page("md", markdown::render)), Box::new(Page("csv", markdown::csv))]
}

/// `lab soak`: every server soaked in turn in one [`Session`], then the document, written as JSON, markdown and
/// CSV. Returns the document and the files written.
pub fn run(options: &SoakOptions) -> anyhow::Result<(SoakRun, Vec<PathBuf>)> {
    let session = Session::start(RunKind::Soak, &options.out, options.bin_dir.clone())?;
    eprintln!(
        "lab: run {}: soak of {} server(s), {} × {} min of {} at concurrency {}",
        session.run_id,
        options.servers.len(),
        options.client.label(),
        options.settings.minutes,
        options.workload,
        options.concurrency
    );
    let mut soaker = Soaker { options, session: &session, measured: Duration::ZERO };
    let (servers, soak) = soaker.soak_all();
    let verdicts = soak.servers.iter().map(|s| s.verdict.clone()).collect();
    let cpus = CpuPlacement::Shared { cpus: harness::process::allowed_cpus() };
    let run = SoakRun {
        header: RunHeader { cpus: Some(cpus), ..session.header(SCHEMA_VERSION, session.notes()) },
        profile: Default::default(),
        settings: settings_of(options),
        servers,
        cells: [],
        analysis: Analysis { narrative: verdicts, ..Analysis::default() },
        overhead: Overhead::of(session.elapsed(), soaker.measured),
        soak,
    };
    let files = crate::export::save_with_json(&run, report_exporters(), &session.out)?;
    Ok((run, files))
}

/// The load every client run sends, in the words of a matrix run's `settings` (one workload, client and
/// concurrency).
fn settings_of(o: &SoakOptions) -> Settings {
    Settings {
        hello_ms: o.load.hello_ms,
        block_ms: o.load.block_ms,
        fact_n: o.load.fact_n,
        repeat: 1,
        keep_alive: o.keep_alive,
        timeout_s: o.client_timeout().as_secs_f64(),
        cell_budget_s: 0.0,
        servers: o.servers.iter().map(|s| s.name().to_string()).collect(),
        clients: vec![o.client],
        workloads: vec![o.workload],
        concurrency: vec![o.concurrency],
        workload_paths: vec![WorkloadPaths {
            workload: o.workload,
            paths: o.workload.paths(&o.load),
            description: o.workload.description(&o.load),
        }],
    }
}

/// The soak in progress: what was asked, the session's binaries and Ctrl-C flag, the time client runs took.
struct Soaker<'a> {
    options: &'a SoakOptions,
    session: &'a Session,
    /// Sum of the client processes' lifetimes: the run's measured time.
    measured: Duration,
}

impl Soaker<'_> {
    /// Verifies and soaks every server in turn. Returns the server records (verification) and the soak.
    fn soak_all(&mut self) -> (Vec<crate::records::run::ServerRecord>, Soak) {
        let o = self.options;
        let (workload, client, concurrency, settings) = (o.workload, o.client, o.concurrency, o.settings);
        let chunk_ms = settings.chunk.as_millis() as u64;
        let per_server_ms = chunk_ms * u64::from(settings.chunks()) + 3_000;
        let mut progress = Progress::new(o.servers.len(), per_server_ms * o.servers.len() as u64);
        let mut records = Vec::new();
        let mut soaked = Vec::new();
        for spec in &o.servers {
            let label = format!("{} × {} {workload} c={concurrency} soak", spec.name(), client.label());
            if self.session.is_interrupted() {
                let flags = Server::builtin_flags(spec.name(), None, None);
                let not_run = crate::verify::not_run("the run was interrupted");
                records.push(crate::run::server_record(spec, not_run, None, &flags));
                soaked.push(unmeasured(spec, Status::Skipped, "the run was interrupted before this server", None));
                progress.finish_cell(per_server_ms, &format!("skipped {label}"));
                continue;
            }
            progress.line(&format!("verifying {}", spec.name()));
            // Not pinned, with the servers' default executor size: as the soaked instance starts.
            let db = self.session.db_path(spec.name());
            let (record, _, start_tail) =
                crate::run::verify_server(spec, &self.session.bin_dir, &db, o.strict, None, None);
            let verdict = crate::run::unverified(&record.verify);
            records.push(record);
            let result = match verdict {
                Some((status, reason)) => unmeasured(spec, status, &reason, start_tail),
                None => {
                    progress.start_cell(&label);
                    self.soak_server(spec, &progress)
                }
            };
            let line = format!("{label}: {}", result.verdict);
            soaked.push(result);
            progress.finish_cell(per_server_ms, &line);
        }
        progress.finish();
        let soak = Soak {
            workload,
            client,
            concurrency,
            minutes: settings.minutes,
            chunk_s: settings.chunk.as_secs_f64(),
            drift_p50: DRIFT_P50,
            drift_p99: DRIFT_P99,
            growth_fraction: GROWTH_FRACTION,
            growth_min_kib: GROWTH_MIN_KIB,
            servers: soaked,
        };
        (records, soak)
    }

    /// One client run against the long-lived `server`: the measurement or the fault, and the server's peaks.
    fn client_run(
        &mut self,
        server: &mut Server,
        requests: u64,
        time_limit: Duration,
    ) -> (Result<Measurement, Fault>, crate::cost::Peaks) {
        let o = self.options;
        let bin_dir = &self.session.bin_dir;
        let args = ClientArgs {
            client: &o.client,
            urls: o.workload.paths(&o.load).iter().map(|p| server.url(p)).collect(),
            requests,
            concurrency: o.concurrency,
            // One request per connection opens them; the rest of the minute is measured.
            warmup: o.concurrency,
            timeout: o.client_timeout(),
            keep_alive: o.keep_alive,
        };
        let mut command = args.command(bin_dir);
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        process::isolate(&mut command);
        let sampler = Sampler::start(server.pid(), SAMPLE_INTERVAL);
        // The lab's thread blocks here, polling the client and the server, until the client exits.
        let result = match run_client(command, server, time_limit + args.timeout * 2, &self.session.interrupted) {
            Ok(run) => {
                self.measured += run.window;
                run.outcome(server, None)
            }
            Err(e) => Err(Fault {
                reason: format!("cannot start {}: {e}", bin_dir.join(args.client.binary()).display()),
                stderr_tail: None,
                partial: None,
            }),
        };
        (result, sampler.finish())
    }

    /// Starts the server once and loads it chunk after chunk; stops at the first chunk that measures nothing.
    fn soak_server(&mut self, spec: &ServerSpec, progress: &Progress) -> SoakServer {
        let settings = self.options.settings;
        let mut soaked = SoakServer { server: spec.name().to_string(), status: Status::Ok, ..Default::default() };
        let db = self.session.db_path(spec.name());
        let mut server = match Server::start(spec, &self.session.bin_dir, &db, START_TIMEOUT) {
            Ok(server) => server,
            Err(e) => {
                return unmeasured(
                    spec,
                    Status::Failed,
                    &format!("server did not start: {}", e.message),
                    Some(e.stderr_tail),
                )
            }
        };
        let pid = server.pid();
        let idle = || ProcSample::read_pids(&tree(pid));
        soaked.start_rss_kib = idle().map(|s| s.rss_kib);
        // A chunk that takes three times its length (or a hung server) is killed.
        let time_limit = settings.chunk * 3 + Duration::from_secs(30);

        // Calibration (also the server's warm-up): ×4 requests until a run lasts a second.
        let concurrency = self.options.concurrency;
        let mut requests = (concurrency * 4).max(32);
        let rate = loop {
            let (result, _) = self.client_run(&mut server, requests, time_limit);
            match result {
                Ok(m) if m.window_s >= CALIBRATION_TARGET.as_secs_f64() || requests >= CALIBRATION_MAX_REQUESTS => {
                    break (m.succeeded + m.failed) as f64 / m.window_s.max(1e-3);
                }
                Ok(_) => requests *= 4,
                Err(fault) => {
                    server.stop(STOP_GRACE);
                    soaked.status = Status::Failed;
                    soaked.reason = Some(format!("calibration: {}", fault.reason));
                    soaked.stderr_tail = fault.stderr_tail;
                    soaked.verdict = format!("{}: failed before the first minute — {}", spec.name(), fault.reason);
                    return soaked;
                }
            }
        };
        soaked.calibration_rps = Some(rate);

        let started = Instant::now();
        let mut rate = rate;
        for minute in 1..=settings.chunks() {
            if self.session.is_interrupted() {
                soaked.status = Status::Failed;
                soaked.reason = Some(format!("interrupted before minute {minute}"));
                break;
            }
            let requests = ((rate * settings.chunk.as_secs_f64()) as u64).max(concurrency);
            let start_s = started.elapsed().as_secs_f64();
            let (result, peaks) = self.client_run(&mut server, requests, time_limit);
            let end = if server.try_wait().is_none() { idle() } else { None };
            let mut point = SoakMinute {
                minute,
                start_s,
                requests,
                status: Status::Ok,
                rss_end_kib: end.map(|s| s.rss_kib),
                threads_end: end.map(|s| s.threads),
                peak_rss_kib: peaks.peak_rss_kib,
                peak_threads: peaks.peak_threads,
                ..Default::default()
            };
            let (measured, fault) = match result {
                Ok(m) => (Some(m), None),
                Err(mut fault) => (fault.partial.take().map(|m| *m), Some(fault)),
            };
            if let Some(m) = &measured {
                point.window_s = m.window_s;
                point.succeeded = m.succeeded;
                point.failed = m.failed;
                point.failures = m.failures;
                point.throughput_rps = Some(m.throughput_rps);
                point.latency_us = (m.succeeded > 0).then_some(m.latency_us);
                if m.window_s > 0.0 {
                    rate = (m.succeeded + m.failed) as f64 / m.window_s;
                }
            }
            progress.line(&minute_line(spec.name(), &point, settings.chunk.as_secs_f64()));
            if let Some(fault) = fault {
                point.status = Status::Failed;
                point.reason = Some(fault.reason.clone());
                soaked.status = Status::Failed;
                soaked.reason = Some(format!("minute {minute}: {}", fault.reason));
                soaked.stderr_tail = fault.stderr_tail;
                soaked.minutes.push(point);
                break;
            }
            soaked.minutes.push(point);
        }
        server.stop(STOP_GRACE);
        summarize(&mut soaked, settings.chunk.as_secs_f64());
        soaked
    }
}

fn unmeasured(spec: &ServerSpec, status: Status, reason: &str, stderr_tail: Option<String>) -> SoakServer {
    SoakServer {
        server: spec.name().to_string(),
        status,
        reason: Some(reason.to_string()),
        stderr_tail,
        verdict: format!("{}: {status} — {reason}", spec.name()),
        ..SoakServer::default()
    }
}

fn minute_line(server: &str, m: &SoakMinute, chunk_s: f64) -> String {
    let latency = m
        .latency_us
        .map_or("—".to_string(), |l| format!("p50 {} · p99 {}", format::micros(l.p50), format::micros(l.p99)));
    format!(
        "  {server} {} {}: {} · {latency} · {} failed · RSS {} · {} threads",
        point_name(chunk_s),
        m.minute,
        format::rate(m.throughput_rps.unwrap_or(0.0)),
        m.failed,
        m.rss_end_kib.map_or("—".to_string(), format::kib),
        m.threads_end.map_or("—".to_string(), |t| t.to_string())
    )
}

/// Totals, drift and growth from the points of the series (client runs of `chunk_s` each), and the verdict.
pub fn summarize(s: &mut SoakServer, chunk_s: f64) {
    s.requests = s.minutes.iter().map(|m| m.succeeded + m.failed).sum();
    s.succeeded = s.minutes.iter().map(|m| m.succeeded).sum();
    s.failed = s.minutes.iter().map(|m| m.failed).sum();
    s.failures = s.minutes.iter().fold(Failures::default(), |a, m| Failures {
        connect: a.connect + m.failures.connect,
        timeout: a.timeout + m.failures.timeout,
        status: a.status + m.failures.status,
        other: a.other + m.failures.other,
        unsent: a.unsent + m.failures.unsent,
    });
    s.peak_threads = s.minutes.iter().map(|m| m.peak_threads).max().unwrap_or(0);
    s.peak_rss_kib = s.minutes.iter().map(|m| m.peak_rss_kib).max().unwrap_or(0);

    let measured: Vec<&SoakMinute> = s.minutes.iter().filter(|m| m.latency_us.is_some()).collect();
    if let (Some(first), Some(last)) = (measured.first(), measured.last()) {
        let (a, b) = (first.latency_us.unwrap_or_default(), last.latency_us.unwrap_or_default());
        let ratio = |x: f64, y: f64| (x > 0.0).then(|| y / x);
        s.p50_ratio = ratio(a.p50, b.p50);
        s.p99_ratio = ratio(a.p99, b.p99);
        s.throughput_ratio = ratio(first.throughput_rps.unwrap_or(0.0), last.throughput_rps.unwrap_or(0.0));
    }
    let rss: Vec<(f64, u64)> =
        s.minutes.iter().filter_map(|m| m.rss_end_kib.map(|r| ((m.start_s + m.window_s) / 60.0, r))).collect();
    s.rss_minute1_kib = rss.first().map(|p| p.1);
    s.rss_end_kib = rss.last().map(|p| p.1);
    s.rss_growth_kib = rss.first().zip(rss.last()).map(|(a, b)| b.1 as i64 - a.1 as i64);
    let points: Vec<(f64, f64)> = rss.iter().map(|&(t, r)| (t, r as f64)).collect();
    s.rss_slope_kib_per_min = linear_fit(&points).map(|(slope, _)| slope);
    let threads: Vec<u64> = s.minutes.iter().filter_map(|m| m.threads_end).collect();
    s.threads_minute1 = threads.first().copied();
    s.threads_end = threads.last().copied();

    s.drift = s.p50_ratio.is_some_and(|r| r >= DRIFT_P50) || s.p99_ratio.is_some_and(|r| r >= DRIFT_P99);
    s.growth = match (s.rss_minute1_kib, s.rss_growth_kib) {
        (Some(base), Some(growth)) => growth >= GROWTH_MIN_KIB as i64 && growth as f64 >= GROWTH_FRACTION * base as f64,
        _ => false,
    };
    s.verdict = verdict(s, chunk_s);
}

fn verdict(s: &SoakServer, chunk_s: f64) -> String {
    let n = s.minutes.len();
    let span = match n {
        0 => return format!("{}: {} — {}", s.server, s.status, s.reason.clone().unwrap_or_default()),
        1 => format!("in its one {}", points(1, chunk_s).trim_start_matches("1 ")),
        _ => format!("from the first to the last of {}", points(n, chunk_s)),
    };
    let ratio = |r: Option<f64>| r.map_or("—".to_string(), format::factor);
    let latency = format!("p50 {}, p99 {}", ratio(s.p50_ratio), ratio(s.p99_ratio));
    let drift = if n < 2 {
        format!("no drift measurable {span}")
    } else if s.drift {
        format!("latency drifted ({latency} {span})")
    } else {
        format!("no latency drift ({latency} {span})")
    };
    let kib = |k: Option<u64>| k.map_or("—".to_string(), format::kib);
    let grew = s
        .rss_growth_kib
        .map_or(String::new(), |g| format!(", {}{}", if g < 0 { "−" } else { "+" }, format::kib(g.unsigned_abs())));
    let slope = s.rss_slope_kib_per_min.map_or(String::new(), |v| format!(", {v:+.0} KiB/min"));
    let memory = format!("RSS {} → {}{grew}{slope}", kib(s.rss_minute1_kib), kib(s.rss_end_kib));
    let threads = match (s.threads_minute1, s.threads_end) {
        (Some(a), Some(b)) if b > a => format!("; threads grew {a} → {b}"),
        (Some(a), Some(b)) => format!("; threads {a} → {b}"),
        _ => String::new(),
    };
    let growth = if n < 2 {
        format!("no growth measurable ({memory})")
    } else if s.growth {
        format!("memory GREW ({memory}): a leak, or a cache still filling")
    } else {
        format!("no memory growth ({memory})")
    };
    let failed = if s.failed > 0 {
        let f = s.failures;
        format!(
            ", {} failed (connect {}, timeout {}, status {}, other {})",
            format::thousands(s.failed),
            f.connect,
            f.timeout,
            f.status,
            f.other
        )
    } else {
        ", none failed".to_string()
    };
    let stopped = match (s.status, &s.reason) {
        (Status::Failed, Some(reason)) => format!(" The soak stopped early: {reason}."),
        _ => String::new(),
    };
    format!("{}: {drift}; {growth}{threads}. {} requests{failed}.{stopped}", s.server, format::thousands(s.requests))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::run::Latency;

    fn minute(i: u32, p50: f64, p99: f64, rss: u64) -> SoakMinute {
        SoakMinute {
            minute: i,
            start_s: f64::from(i - 1) * 60.0,
            window_s: 60.0,
            requests: 1000,
            status: Status::Ok,
            succeeded: 1000,
            throughput_rps: Some(1000.0 / 60.0),
            latency_us: Some(Latency { p50, p99, ..Latency::default() }),
            rss_end_kib: Some(rss),
            threads_end: Some(3),
            peak_rss_kib: rss,
            peak_threads: 3,
            ..SoakMinute::default()
        }
    }

    fn soaked(minutes: Vec<SoakMinute>) -> SoakServer {
        let mut s = SoakServer { server: "x".into(), status: Status::Ok, minutes, ..Default::default() };
        summarize(&mut s, 60.0);
        s
    }

    #[test]
    fn points_are_named_by_their_length() {
        assert_eq!(points(6, 60.0), "6 minutes");
        assert_eq!(points(6, 20.0), "6 runs of 20.0 s");
        assert_eq!(point_name(20.0), "run");
        let mut s = SoakServer {
            server: "x".into(),
            status: Status::Ok,
            minutes: (1..=6).map(|i| minute(i, 1000.0, 3000.0, 8000)).collect(),
            ..Default::default()
        };
        summarize(&mut s, 20.0);
        assert!(s.verdict.contains("from the first to the last of 6 runs of 20.0 s"), "{}", s.verdict);
        assert!(!s.verdict.contains("minutes"), "{}", s.verdict);
    }

    #[test]
    fn flat_series_shows_neither_drift_nor_growth() {
        let s = soaked((1..=5).map(|i| minute(i, 1000.0, 3000.0, 8000 + u64::from(i % 2) * 100)).collect());
        assert!(!s.drift && !s.growth, "{}", s.verdict);
        assert_eq!(s.requests, 5000);
        assert_eq!(s.p99_ratio, Some(1.0));
        assert!(s.rss_slope_kib_per_min.unwrap().abs() < 50.0);
        assert!(s.verdict.contains("no latency drift") && s.verdict.contains("no memory growth"), "{}", s.verdict);
    }

    #[test]
    fn a_leak_and_a_slowdown_are_flagged() {
        let s = soaked((1..=5).map(|i| minute(i, 1000.0 * f64::from(i), 3000.0, 8000 + u64::from(i) * 1024)).collect());
        assert!(s.drift && s.growth, "{}", s.verdict);
        assert_eq!(s.p50_ratio, Some(5.0));
        assert_eq!(s.rss_growth_kib, Some(4 * 1024));
        let slope = s.rss_slope_kib_per_min.unwrap();
        assert!((slope - 1024.0).abs() < 1.0, "{slope}");
        assert!(s.verdict.contains("latency drifted") && s.verdict.contains("memory GREW"), "{}", s.verdict);
    }

    #[test]
    fn one_minute_measures_no_trend() {
        let s = soaked(vec![minute(1, 1000.0, 3000.0, 8000)]);
        assert!(!s.drift && !s.growth);
        assert_eq!(s.rss_slope_kib_per_min, None);
        assert!(s.verdict.contains("no drift measurable"), "{}", s.verdict);
    }

    #[test]
    fn chunks_round_to_at_least_one() {
        let s = |minutes: f64, chunk: u64| SoakSettings { minutes, chunk: Duration::from_secs(chunk) }.chunks();
        assert_eq!(s(10.0, 60), 10);
        assert_eq!(s(0.25, 5), 3);
        assert_eq!(s(0.01, 60), 1);
    }
}
