//! Parts 1 (instrument) and 2 (servers): requests per second on `/no/param`, keep-alive, 64 connections, every
//! contender in turn, round after round, and ratios taken round by round.
//!
//! Concurrency idea: on a shared, noisy machine an absolute figure drifts by a third from one minute to the next,
//! so nothing here is compared across time. Contenders alternate (A B C, A B C, …) so that each round's figures
//! share the machine's mood, each run gets a fresh server process (no run inherits another's heap or
//! connections), and a ratio is computed inside each round before the median is taken over the rounds.

use super::nginx;
use super::tools::{failed_run, shell_line, LoadGenerator, LoadSpec, Tools};
use crate::plan::ServerSpec;
use crate::process::{self, Server, StartError};
use crate::progress::Progress;
use crate::records::bench::{Contender, LoadRun, PartStatus, Ratio, ThroughputPart};
use crate::records::run::Client;
use crate::run::{run_client, START_TIMEOUT, STOP_GRACE};
use harness::proc::ProcSample;
use harness::stats::median;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// The path both parts load: an empty 200, the cost of the server machinery itself.
pub const PATH: &str = "/no/param";
/// The performance targets.
pub const LEAN_OVER_WRK: f64 = 0.9;
pub const LEAN_OVER_OHA: f64 = 1.0;
pub const BEST_OVER_NGINX: f64 = 0.8;
/// The deployed stack's target: tokio-server with one worker against one nginx worker.
pub const TOKIO_OVER_NGINX: f64 = 0.8;
/// The floor's target: lean-server's one event loop against one nginx worker.
pub const LEAN_SERVER_OVER_NGINX: f64 = 1.0;
/// Completion-based I/O against readiness: uring-server's one completion loop against one nginx worker.
pub const URING_OVER_NGINX: f64 = 1.1;
/// … and the server CPU it spends per request, against nginx's.
pub const URING_CPU_OVER_NGINX: f64 = 0.9;
/// The lab's clients in part 1, the fast engine first (the target is its); then its bytes on an explicit event
/// loop, the library engine and the thread pool.
pub const CLIENTS: [&str; 4] = ["async-client:lean", "async-client:loop", "async-client:surf", "pool-client"];
/// `-n` of the lab's clients when no reference run gave a rate to size it from (requests per second).
const FALLBACK_RATE: u64 = 20_000;

/// What every run of a part shares.
pub struct Bench<'a> {
    pub bin_dir: &'a Path,
    /// Holds the servers' SQLite files and nginx's temp dir.
    pub scratch: &'a Path,
    pub interrupted: &'a AtomicBool,
    pub duration: Duration,
    pub connections: u64,
    pub rounds: u32,
}

/// How a server of a throughput part is started.
#[derive(Debug, Clone)]
pub struct ServerPlan {
    pub spec: ServerSpec,
    /// Arguments after the lab's usual ones: `--threads 1`.
    pub extra: Vec<&'static str>,
    pub note: Option<String>,
}

impl ServerPlan {
    /// One of the lab's servers with one worker thread; thread-server has no worker count to set.
    pub fn one_worker(name: &str) -> ServerPlan {
        let spec = ServerSpec::Builtin(name.to_string());
        if name == "thread-server" {
            let note = "thread-server has no --threads (one thread per connection): run as it is".to_string();
            ServerPlan { spec, extra: vec![], note: Some(note) }
        } else {
            ServerPlan { spec, extra: vec!["--threads", "1"], note: None }
        }
    }

    pub fn name(&self) -> &str {
        self.spec.name()
    }

    /// The command line, with the placeholders the lab fills in.
    pub fn command(&self, bin_dir: &Path) -> String {
        match &self.spec {
            ServerSpec::Builtin(name) => {
                let extra: String = self.extra.iter().map(|a| format!(" {a}")).collect();
                format!("{} --host 127.0.0.1 --port 0 --quiet --db PATH{extra}", bin_dir.join(name).display())
            }
            ServerSpec::Foreign { command, .. } => command.replace("{port}", "PORT"),
            ServerSpec::Remote { origin, .. } => origin.clone(),
        }
    }

    fn start(&self, bench: &Bench) -> Result<Server, StartError> {
        let db = bench.scratch.join(format!("{}.sqlite", self.name()));
        match &self.spec {
            ServerSpec::Builtin(name) => Server::start_builtin(name, bench.bin_dir, &db, &self.extra, START_TIMEOUT),
            foreign => Server::start(foreign, bench.bin_dir, &db, START_TIMEOUT),
        }
    }
}

/// One contender: a server and what loads it.
pub struct Entry {
    pub server: ServerPlan,
    pub load: LoadGenerator,
}

impl Entry {
    /// How it appears in tables: the load generator in part 1, the server in part 2.
    fn name(&self, by_server: bool) -> String {
        if by_server {
            self.server.name().to_string()
        } else {
            self.load.name()
        }
    }
}

impl Bench<'_> {
    fn spec<'s>(&'s self, url: &'s str, requests: u64) -> LoadSpec<'s> {
        LoadSpec { url, connections: self.connections, duration: self.duration, requests, bin_dir: self.bin_dir }
    }

    /// One run: a fresh server, the load, the server's CPU time from /proc around it, the server stopped.
    fn measure(&self, entry: &Entry, round: u32, requests: u64) -> LoadRun {
        let mut server = match entry.server.start(self) {
            Ok(server) => server,
            Err(e) => return failed_run(round, format!("{} did not start: {}", entry.server.name(), e.message)),
        };
        let url = server.url(PATH);
        let spec = self.spec(&url, requests);
        let mut command = entry.load.command(&spec);
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        process::isolate(&mut command);
        let before = tree_cpu_s(server.pid());
        // Blocks this thread until the load generator exits (or is killed: time limit, Ctrl-C, server death).
        let outcome = run_client(command, &mut server, entry.load.time_limit(&spec), self.interrupted);
        let after = tree_cpu_s(server.pid());
        let server_tail = server.stderr_tail(3);
        server.stop(STOP_GRACE);
        let client = match outcome {
            Ok(client) => client,
            Err(e) => return failed_run(round, format!("cannot start {}: {e}", entry.load.name())),
        };
        if let Some(reason) = &client.killed_for {
            return failed_run(round, reason.clone());
        }
        if let Some((status, _)) = client.server_exit {
            return failed_run(round, format!("the server exited during the run ({status}): {server_tail}"));
        }
        match entry.load.parse(&client.stdout, self.connections) {
            Ok(mut run) => {
                run.round = round;
                run.server_cpu_s = before.zip(after).map(|(b, a)| (a - b).max(0.0));
                run.load_cpu_s = Some(client.usage.user_s + client.usage.sys_s);
                run
            }
            Err(e) => {
                let said = client.stderr.tail(1);
                let reason = if said.is_empty() { e } else { format!("{e}; it said: {said}") };
                failed_run(round, format!("{} exited with {}: {reason}", entry.load.name(), client.status))
            }
        }
    }

    /// Every entry once per round, `rounds` times. Returns one contender per entry, and the `-n` the lab's
    /// clients were given: the first reference run's rate × the duration, so that they send about as many
    /// requests as the reference does (None when no client ran).
    pub fn round_robin(&self, title: &str, entries: &[Entry], by_server: bool) -> (Vec<Contender>, Option<u64>) {
        let per_run_ms = self.duration.as_millis() as u64 + 300;
        let total = entries.len() * self.rounds as usize;
        let mut progress = Progress::new(total, per_run_ms * total as u64);
        let mut runs: Vec<Vec<LoadRun>> = entries.iter().map(|_| Vec::new()).collect();
        let mut client_requests: Option<u64> = None;
        let mut used_requests: Option<u64> = None;
        for round in 1..=self.rounds {
            for (entry, runs) in entries.iter().zip(runs.iter_mut()) {
                let label = format!("{title} round {round}/{}: {}", self.rounds, entry.name(by_server));
                if self.interrupted.load(std::sync::atomic::Ordering::Relaxed) {
                    runs.push(failed_run(round, "interrupted before this run".to_string()));
                    progress.finish_cell(per_run_ms, &format!("{label}: interrupted"));
                    continue;
                }
                let requests = client_requests.unwrap_or(FALLBACK_RATE * self.duration.as_secs().max(1));
                if !entry.load.is_reference() {
                    used_requests.get_or_insert(requests);
                }
                progress.start_cell(&label);
                let run = self.measure(entry, round, requests);
                if entry.load.is_reference() && run.status == PartStatus::Ok && client_requests.is_none() {
                    client_requests = Some((run.rps * self.duration.as_secs_f64()).round().max(1.0) as u64);
                }
                progress.finish_cell(per_run_ms, &format!("{label}: {}", run_line(&run)));
                runs.push(run);
            }
        }
        progress.finish();
        let contenders = entries
            .iter()
            .zip(runs)
            .map(|(entry, runs)| {
                let url = format!("http://127.0.0.1:PORT{PATH}");
                let requests = used_requests.unwrap_or(0);
                let load_command = shell_line(&entry.load.command(&self.spec(&url, requests)));
                summarize(entry.name(by_server), &entry.server, self.bin_dir, load_command, runs)
            })
            .collect();
        (contenders, used_requests)
    }
}

/// CPU time (user + sys) of a process and its descendants so far, from /proc. A process's figure includes its
/// threads that have already exited (thread-server's), so the difference of two readings is exact.
fn tree_cpu_s(pid: u32) -> Option<f64> {
    ProcSample::read_tree(pid).ok().map(|s| s.utime_s + s.stime_s)
}

fn run_line(run: &LoadRun) -> String {
    match run.status {
        PartStatus::Ok => format!(
            "{} ({} requests, {} errors)",
            crate::format::rate(run.rps),
            crate::format::thousands(run.requests),
            run.errors
        ),
        _ => format!("failed: {}", run.reason.clone().unwrap_or_default()),
    }
}

/// The medians and the spread of one contender's rounds.
fn summarize(name: String, server: &ServerPlan, bin_dir: &Path, load_command: String, runs: Vec<LoadRun>) -> Contender {
    let ok: Vec<&LoadRun> = runs.iter().filter(|r| r.status == PartStatus::Ok).collect();
    let rates: Vec<f64> = ok.iter().map(|r| r.rps).collect();
    let per_request = |cpu: fn(&LoadRun) -> Option<f64>| {
        median(
            &ok.iter().filter_map(|r| Some(cpu(r)? * 1e6 / (r.requests + r.warmup).max(1) as f64)).collect::<Vec<_>>(),
        )
    };
    let median_rps = median(&rates);
    let min_rps = rates.iter().cloned().reduce(f64::min);
    let max_rps = rates.iter().cloned().reduce(f64::max);
    Contender {
        name,
        server_command: server.command(bin_dir),
        load_command,
        status: if ok.is_empty() { PartStatus::Failed } else { PartStatus::Ok },
        reason: if ok.is_empty() { runs.iter().find_map(|r| r.reason.clone()) } else { None },
        note: server.note.clone(),
        spread: median_rps.zip(min_rps.zip(max_rps)).map(|(m, (lo, hi))| if m > 0.0 { (hi - lo) / m } else { 0.0 }),
        median_rps,
        min_rps,
        max_rps,
        server_cpu_us_per_request: per_request(|r| r.server_cpu_s),
        load_cpu_us_per_request: per_request(|r| r.load_cpu_s),
        runs,
    }
}

/// A contender that could not run (its tool is missing).
fn not_run(name: &str, reason: String) -> Contender {
    Contender { name: name.to_string(), status: PartStatus::NotRun, reason: Some(reason), ..Contender::default() }
}

/// `numerator ÷ denominator`, round by round, then the median over the rounds that measured both.
pub fn ratio(contenders: &[Contender], numerator: &str, denominator: &str, target: Option<f64>) -> Ratio {
    let find = |name: &str| contenders.iter().find(|c| c.name == name);
    let per_round: Vec<f64> = match (find(numerator), find(denominator)) {
        (Some(a), Some(b)) => a
            .runs
            .iter()
            .filter(|r| r.status == PartStatus::Ok)
            .filter_map(|ra| {
                let rb = b.runs.iter().find(|rb| rb.round == ra.round && rb.status == PartStatus::Ok)?;
                (rb.rps > 0.0).then(|| ra.rps / rb.rps)
            })
            .collect(),
        _ => vec![],
    };
    let value = median(&per_round);
    Ratio {
        numerator: numerator.to_string(),
        denominator: denominator.to_string(),
        value,
        min: per_round.iter().cloned().reduce(f64::min),
        max: per_round.iter().cloned().reduce(f64::max),
        target,
        met: target.and_then(|t| value.map(|v| v >= t)),
    }
}

fn part(contenders: Vec<Contender>, ratios: Vec<Ratio>) -> ThroughputPart {
    let measured = contenders.iter().any(|c| c.status == PartStatus::Ok);
    ThroughputPart {
        status: if measured { PartStatus::Ok } else { PartStatus::Failed },
        reason: (!measured).then(|| "no contender was measured".to_string()),
        contenders,
        ratios,
        ..ThroughputPart::default()
    }
}

pub fn not_run_part(reason: String) -> ThroughputPart {
    ThroughputPart { status: PartStatus::NotRun, reason: Some(reason), ..ThroughputPart::default() }
}

/// Part 2: each of our servers with one worker, and nginx with one worker, loaded by wrk.
pub fn servers(bench: &Bench, tools: &Tools, names: &[String]) -> ThroughputPart {
    let Some(wrk) = &tools.wrk.path else { return not_run_part(tools.wrk.missing()) };
    let mut entries: Vec<Entry> = names
        .iter()
        .map(|name| Entry { server: ServerPlan::one_worker(name), load: LoadGenerator::Wrk(wrk.clone()) })
        .collect();
    let mut nginx_missing = None;
    match &tools.nginx.path {
        Some(path) => match nginx::server_spec(path, &bench.scratch.join("nginx")) {
            Ok(spec) => entries.push(Entry {
                server: ServerPlan { spec, extra: vec![], note: Some("one worker process, empty 200".to_string()) },
                load: LoadGenerator::Wrk(wrk.clone()),
            }),
            Err(e) => nginx_missing = Some(format!("cannot write nginx's config: {e}")),
        },
        None => nginx_missing = Some(tools.nginx.missing()),
    }
    let (mut contenders, _) = bench.round_robin("servers", &entries, true);
    if let Some(reason) = nginx_missing {
        contenders.push(not_run("nginx", reason));
    }
    let best = fastest(&contenders, names);
    let ratios = names
        .iter()
        .map(|name| {
            let target = match name.as_str() {
                "lean-server" => Some(LEAN_SERVER_OVER_NGINX),
                "tokio-server" => Some(TOKIO_OVER_NGINX),
                "uring-server" => Some(URING_OVER_NGINX),
                name => (best.as_deref() == Some(name)).then_some(BEST_OVER_NGINX),
            };
            ratio(&contenders, name, "nginx", target)
        })
        .collect();
    part(contenders, ratios)
}

/// The contender among `names` with the highest median requests/s.
pub fn fastest(contenders: &[Contender], names: &[String]) -> Option<String> {
    contenders
        .iter()
        .filter(|c| names.contains(&c.name))
        .filter_map(|c| Some((c.name.clone(), c.median_rps?)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(name, _)| name)
}

/// Part 1: the lab's clients against wrk (and oha, when installed), all loading `server` with one worker.
pub fn instrument(bench: &Bench, tools: &Tools, server: &str, why: String) -> ThroughputPart {
    let plan = ServerPlan::one_worker(server);
    let mut entries = Vec::new();
    let mut missing = Vec::new();
    match &tools.wrk.path {
        Some(path) => entries.push(Entry { server: plan.clone(), load: LoadGenerator::Wrk(path.clone()) }),
        None => missing.push(not_run("wrk", tools.wrk.missing())),
    }
    match tools.oha.path.as_deref().map(LoadGenerator::oha) {
        Some(Ok(oha)) => entries.push(Entry { server: plan.clone(), load: oha }),
        Some(Err(reason)) => missing.push(not_run("oha", reason)),
        None => missing.push(not_run("oha", tools.oha.missing())),
    }
    if entries.is_empty() {
        return not_run_part(format!("{} and {}", tools.wrk.missing(), tools.oha.missing()));
    }
    for client in CLIENTS {
        let spec: Client = client.parse().expect("a known client");
        entries.push(Entry { server: plan.clone(), load: LoadGenerator::Client(spec) });
    }
    let (mut contenders, client_requests) = bench.round_robin("instrument", &entries, false);
    contenders.extend(missing);
    let mut ratios = vec![
        ratio(&contenders, CLIENTS[0], "wrk", Some(LEAN_OVER_WRK)),
        ratio(&contenders, CLIENTS[0], "oha", Some(LEAN_OVER_OHA)),
    ];
    for client in &CLIENTS[1..] {
        ratios.push(ratio(&contenders, client, "wrk", None));
    }
    ThroughputPart {
        server: Some(server.to_string()),
        server_reason: Some(why),
        client_requests,
        ..part(contenders, ratios)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contender(name: &str, rates: &[Option<f64>]) -> Contender {
        let runs = rates
            .iter()
            .enumerate()
            .map(|(i, rate)| match rate {
                Some(rps) => LoadRun { round: i as u32 + 1, status: PartStatus::Ok, rps: *rps, ..LoadRun::default() },
                None => failed_run(i as u32 + 1, "x".into()),
            })
            .collect();
        Contender { name: name.into(), status: PartStatus::Ok, runs, ..Contender::default() }
    }

    #[test]
    fn ratios_are_taken_round_by_round() {
        // The machine slows down by half in round 2: each round's ratio is still 0.5.
        let a = contender("a", &[Some(50.0), Some(25.0), None]);
        let b = contender("b", &[Some(100.0), Some(50.0), Some(80.0)]);
        let r = ratio(&[a, b], "a", "b", Some(0.9));
        assert_eq!((r.value, r.min, r.max, r.met), (Some(0.5), Some(0.5), Some(0.5), Some(false)));
        let none = ratio(&[], "a", "b", Some(1.0));
        assert_eq!((none.value, none.met), (None, None));
    }

    #[test]
    fn thread_server_gets_no_threads_flag() {
        assert!(ServerPlan::one_worker("thread-server").extra.is_empty());
        assert_eq!(ServerPlan::one_worker("smol-server").extra, vec!["--threads", "1"]);
        let command = ServerPlan::one_worker("smol-server").command(Path::new("/b"));
        assert_eq!(command, "/b/smol-server --host 127.0.0.1 --port 0 --quiet --db PATH --threads 1");
    }
}
