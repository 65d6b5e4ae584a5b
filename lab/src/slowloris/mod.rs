//! `lab slowloris`: slow clients against every server — N connections that each send a request head one byte a
//! second, while `/no/param` is probed on fresh connections every 100 ms.
//!
//! Concurrency idea: the classic weakness of thread-per-connection. A slow client costs a thread-per-connection
//! server one blocked thread for as long as it dawdles, and a bounded pool one of its few workers; an async server
//! pays a small task and a buffer. The header timeout (`--header-timeout-s`) is what bounds the damage: the
//! server drops a connection whose head is not complete in time. This module measures both sides: what the probes
//! saw (latency, failures), when the server dropped the attack's connections, and what the attack cost the server
//! (peak threads and RSS). It writes `slowloris-<run-id>.json` and `.md`; the schema is in `lab/SCHEMA.md`.
//!
//! Bounded in count and time, loopback only: the attack opens at most `--connections` sockets to a server the lab
//! started itself on 127.0.0.1, for `--duration` seconds.

pub mod attack;
pub mod markdown;
pub mod probe;

use crate::export::{Exporter, Page};
use crate::format;
use crate::plan::ServerSpec;
use crate::process::Server;
use crate::records::run::Status;
use crate::records::slowloris::*;
use crate::run::START_TIMEOUT;
use crate::session::Session;
use attack::Fate;
use harness::proc::ProcSample;
use probe::{Outcome, Probe, Prober};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// How often the server's threads and RSS are read during the attack.
const SAMPLE_INTERVAL: Duration = Duration::from_millis(100);
/// Probes before the attack, for a baseline latency.
const BASELINE_PROBES: usize = 5;
/// The bar a server must meet: `/no/param` answers within this while the attack runs.
const ANSWER_WITHIN: Duration = Duration::from_secs(1);

/// What `lab slowloris` was asked to do.
#[derive(Debug, Clone)]
pub struct SlowlorisOptions {
    pub servers: Vec<ServerSpec>,
    /// Prebuilt binaries; None = build release binaries first.
    pub bin_dir: Option<PathBuf>,
    pub out: PathBuf,
    pub connections: u64,
    pub duration: Duration,
    /// Passed to the lab's servers as `--header-timeout-s`; None = their default.
    pub header_timeout_s: Option<f64>,
    pub probe_interval: Duration,
    pub probe_timeout: Duration,
}

/// Runs the attack on every server in turn and writes `slowloris-<run-id>.{json,md}` under `out`.
pub fn run(options: &SlowlorisOptions) -> anyhow::Result<(SlowlorisRun, Vec<PathBuf>)> {
    let session = Session::start(crate::records::header::RunKind::Slowloris, &options.out, options.bin_dir.clone())?;
    let mut notes = session.notes();
    if session.limits.nofile_soft < options.connections + 256 {
        notes.push(format!(
            "The file-descriptor limit ({}) is below {} connections plus the probes: some connects will fail.",
            session.limits.nofile_soft, options.connections
        ));
    }
    eprintln!(
        "lab: slowloris {}: {} connection(s) × {} on {} server(s), probing /no/param every {}",
        session.run_id,
        options.connections,
        format::seconds(options.duration.as_secs_f64()),
        options.servers.len(),
        format::seconds(options.probe_interval.as_secs_f64())
    );
    let mut servers = Vec::new();
    for spec in &options.servers {
        if session.is_interrupted() {
            servers.push(SlowlorisServer {
                server: spec.name().to_string(),
                status: Status::Skipped,
                reason: Some("the run was interrupted".into()),
                ..Default::default()
            });
            continue;
        }
        eprintln!("lab: attacking {}", spec.name());
        let result =
            attack_server(spec, &session.bin_dir, &session.db_path(spec.name()), options, &session.interrupted);
        eprintln!("lab: {}", result.verdict);
        servers.push(result);
    }
    let run = SlowlorisRun {
        header: session.header(SCHEMA_VERSION, notes),
        settings: SlowlorisSettings {
            connections: options.connections,
            duration_s: options.duration.as_secs_f64(),
            header_timeout_s: options.header_timeout_s,
            probe_interval_ms: options.probe_interval.as_millis() as u64,
            probe_timeout_s: options.probe_timeout.as_secs_f64(),
            head_prefix: String::from_utf8_lossy(attack::HEAD_PREFIX).into_owned(),
        },
        servers,
    };
    let files = crate::export::save_with_json(&run, report_exporters(), &session.out)?;
    Ok((run, files))
}

/// What `lab report` rebuilds from a slowloris JSON: the markdown.
pub fn report_exporters() -> Vec<Box<dyn Exporter<SlowlorisRun>>> {
    vec![Box::new(Page("md", markdown::render))]
}

/// Starts one server, attacks it while probing, stops it.
fn attack_server(
    spec: &ServerSpec,
    bin_dir: &std::path::Path,
    db: &std::path::Path,
    options: &SlowlorisOptions,
    interrupted: &Arc<AtomicBool>,
) -> SlowlorisServer {
    let mut result = SlowlorisServer { server: spec.name().to_string(), status: Status::Ok, ..Default::default() };
    let timeout_arg = options.header_timeout_s.map(|s| s.to_string());
    let started = match spec {
        ServerSpec::Builtin(name) => {
            let mut extra = vec![];
            if let Some(t) = &timeout_arg {
                extra = vec!["--header-timeout-s", t.as_str()];
            }
            result.command = format!("{name} --host 127.0.0.1 --port 0 --quiet --db PATH {}", extra.join(" "))
                .trim_end()
                .to_string();
            Server::start_builtin(name, bin_dir, db, &extra, START_TIMEOUT)
        }
        ServerSpec::Foreign { command, .. } | ServerSpec::Remote { origin: command, .. } => {
            result.command = command.clone();
            Server::start(spec, bin_dir, db, START_TIMEOUT)
        }
    };
    let mut server = match started {
        Ok(server) => server,
        Err(e) => {
            result.status = Status::Failed;
            result.reason = Some(format!("server did not start: {}", e.message));
            result.stderr_tail = Some(e.stderr_tail);
            result.verdict = format!("{}: did not start — {}", spec.name(), e.message);
            return result;
        }
    };
    let url = server.url("/no/param");
    let agent = crate::http::agent(options.probe_timeout);
    let mut baseline: Vec<f64> = (0..BASELINE_PROBES)
        .map(|_| probe::probe_once(&agent, &url))
        .filter(|(_, outcome)| *outcome == Outcome::Ok)
        .map(|(latency, _)| latency.as_secs_f64() * 1e6)
        .collect();
    baseline.sort_by(f64::total_cmp);
    result.baseline_probe_us = baseline.get(baseline.len() / 2).copied();

    let pid = server.pid();
    let mut tree = harness::proc::tree(pid);
    let before = ProcSample::read_pids(&tree).unwrap_or_default();
    let start = Instant::now();
    let attack = {
        let (addr, count, duration, stop) =
            (server.addr, options.connections, options.duration, Arc::clone(interrupted));
        thread::Builder::new()
            .name("slowloris".into())
            .spawn(move || attack::run(addr, count, start, duration, &stop))
            .expect("spawn the attack thread")
    };
    let prober = Prober::start(url.clone(), start, options.probe_interval, options.probe_timeout);
    // The main thread samples the server until the attack ends, and watches for its death.
    let mut samples: Vec<(Duration, u64, u64)> = Vec::new();
    let mut died = None;
    while !attack.is_finished() {
        if samples.len() % 10 == 9 {
            tree = harness::proc::tree(pid);
        }
        if let Some(s) = ProcSample::read_pids(&tree) {
            samples.push((start.elapsed(), s.threads, s.rss_kib));
        }
        if died.is_none() {
            died = server.try_wait().map(|(status, _)| status);
        }
        thread::sleep(SAMPLE_INTERVAL);
    }
    let outcome = attack.join().unwrap_or_default();
    let probes = prober.finish();
    let (after_latency, after) = probe::probe_once(&agent, &url);
    if died.is_none() {
        died = server.try_wait().map(|(status, _)| status);
    }
    result.after_ok = Some(after == Outcome::Ok);
    result.after_latency_us = (after == Outcome::Ok).then_some(after_latency.as_secs_f64() * 1e6);
    let tail = server.stderr_tail(20);
    server.stop(Duration::from_secs(2));
    if let Some(status) = died {
        result.status = Status::Failed;
        result.reason = Some(format!("the server exited during the attack ({status})"));
        result.stderr_tail = Some(tail);
    }
    result.server_cost = AttackCost {
        start_rss_kib: before.rss_kib,
        start_threads: before.threads,
        peak_rss_kib: samples.iter().map(|s| s.2).max().unwrap_or(0),
        peak_threads: samples.iter().map(|s| s.1).max().unwrap_or(0),
        samples: samples.len() as u64,
    };
    result.attack = summarize_attack(&outcome, options.connections);
    result.probes = summarize_probes(&probes);
    result.timeline = timeline(&outcome, &probes, &samples, options.duration);
    result.verdict = verdict(&result, options);
    result
}

use harness::stats::quantile;

fn summarize_attack(outcome: &attack::AttackOutcome, requested: u64) -> AttackSummary {
    let conns = &outcome.connections;
    let mut drops: Vec<f64> = conns.iter().filter_map(|c| c.ended_at).map(|d| d.as_secs_f64()).collect();
    drops.sort_by(f64::total_cmp);
    let mut lifetimes: Vec<f64> =
        conns.iter().filter_map(|c| c.ended_at.map(|e| (e - c.opened_at).as_secs_f64())).collect();
    lifetimes.sort_by(f64::total_cmp);
    let opened = conns.len() as u64;
    // "Half" and "most" of the opened connections, not of those dropped: null until that many were.
    let nth_drop = |fraction: f64| {
        let needed = ((fraction * opened as f64).ceil() as usize).max(1);
        drops.get(needed - 1).copied()
    };
    let count = |fate: Fate| conns.iter().filter(|c| c.fate == fate).count() as u64;
    AttackSummary {
        requested,
        opened,
        connect_failures: outcome.connect_failures,
        first_connect_error: outcome.first_connect_error.clone(),
        opened_in_s: outcome.opened_in.as_secs_f64(),
        dropped: drops.len() as u64,
        closed: count(Fate::Closed),
        reset: count(Fate::Reset),
        answered: conns.iter().filter(|c| c.answered).count() as u64,
        open_at_end: count(Fate::Open),
        first_drop_s: drops.first().copied(),
        half_dropped_s: nth_drop(0.5),
        most_dropped_s: nth_drop(0.9),
        last_drop_s: drops.last().copied(),
        median_lifetime_s: quantile(&lifetimes, 0.5),
    }
}

fn summarize_probes(probes: &[Probe]) -> ProbeSummary {
    let mut summary = ProbeSummary { sent: probes.len() as u64, ..Default::default() };
    let mut latencies = Vec::new();
    for p in probes {
        match p.outcome {
            Outcome::Ok => {
                summary.ok += 1;
                latencies.push(p.latency.as_secs_f64() * 1e6);
                if p.latency <= ANSWER_WITHIN {
                    summary.within_1s += 1;
                }
            }
            Outcome::Connect => summary.failures.connect += 1,
            Outcome::Timeout => summary.failures.timeout += 1,
            Outcome::Status(_) => summary.failures.status += 1,
            Outcome::Other => summary.failures.other += 1,
        }
    }
    summary.failed = summary.sent - summary.ok;
    latencies.sort_by(f64::total_cmp);
    summary.p50_us = quantile(&latencies, 0.5);
    summary.p99_us = quantile(&latencies, 0.99);
    summary.max_us = latencies.last().copied();
    // Stalls: runs of consecutive probes that failed or were slow.
    let mut run_start: Option<Duration> = None;
    for p in probes {
        let bad = p.outcome != Outcome::Ok || p.latency > ANSWER_WITHIN;
        if bad {
            let from = *run_start.get_or_insert(p.sent_at);
            summary.longest_stall_s = summary.longest_stall_s.max((p.sent_at + p.latency - from).as_secs_f64());
        } else {
            run_start = None;
        }
    }
    summary
}

fn timeline(
    outcome: &attack::AttackOutcome,
    probes: &[Probe],
    samples: &[(Duration, u64, u64)],
    duration: Duration,
) -> Vec<Second> {
    let seconds = duration.as_secs_f64().ceil() as u64;
    (0..seconds)
        .map(|second| {
            let (from, to) = (Duration::from_secs(second), Duration::from_secs(second + 1));
            let in_second = |d: Duration| d >= from && d < to;
            let sent: Vec<&Probe> = probes.iter().filter(|p| in_second(p.sent_at)).collect();
            let sampled: Vec<&(Duration, u64, u64)> = samples.iter().filter(|s| in_second(s.0)).collect();
            Second {
                second,
                attack_open: outcome
                    .connections
                    .iter()
                    .filter(|c| c.opened_at < to && c.ended_at.is_none_or(|e| e >= to))
                    .count() as u64,
                probes: sent.len() as u64,
                probes_ok: sent.iter().filter(|p| p.outcome == Outcome::Ok).count() as u64,
                probe_max_ms: sent.iter().map(|p| p.latency.as_secs_f64() * 1e3).reduce(f64::max),
                server_threads: sampled.iter().map(|s| s.1).max(),
                server_rss_kib: sampled.iter().map(|s| s.2).max(),
            }
        })
        .collect()
}

/// One sentence per server: how many slow connections it held, when it dropped them, and what the probes saw.
fn verdict(s: &SlowlorisServer, options: &SlowlorisOptions) -> String {
    let a = &s.attack;
    let p = &s.probes;
    let mut text = format!("{}: {} slow connection(s) opened", s.server, format::thousands(a.opened));
    if a.connect_failures > 0 {
        text.push_str(&format!(" ({} failed to connect)", format::thousands(a.connect_failures)));
    }
    match (a.first_drop_s, a.most_dropped_s) {
        (Some(first), Some(most)) => text.push_str(&format!(
            "; the server dropped {} of them{}, the first at {}, 90 % by {} (median lifetime {})",
            format::thousands(a.dropped),
            if a.answered > 0 {
                format!(" ({} with an answer first)", format::thousands(a.answered))
            } else {
                String::new()
            },
            format::seconds(first),
            format::seconds(most),
            format::seconds(a.median_lifetime_s.unwrap_or(0.0))
        )),
        (Some(first), None) => text.push_str(&format!(
            "; the server dropped only {} of them (the first at {}), {} were still open after {}",
            format::thousands(a.dropped),
            format::seconds(first),
            format::thousands(a.open_at_end),
            format::seconds(options.duration.as_secs_f64())
        )),
        _ => {
            text.push_str(&format!("; the server dropped none in {}", format::seconds(options.duration.as_secs_f64())))
        }
    }
    text.push_str(&format!(
        "; it peaked at {} threads and {} (from {} and {})",
        s.server_cost.peak_threads,
        format::kib(s.server_cost.peak_rss_kib),
        s.server_cost.start_threads,
        format::kib(s.server_cost.start_rss_kib)
    ));
    let us = |v: Option<f64>| v.map_or("—".to_string(), format::micros);
    let held = p.sent > 0 && p.within_1s == p.sent;
    text.push_str(&format!(
        ". Meanwhile /no/param answered {} of {} probes within 1 s (p50 {}, p99 {}, max {}{}){}",
        p.within_1s,
        p.sent,
        us(p.p50_us),
        us(p.p99_us),
        us(p.max_us),
        if p.failed > 0 { format!(", {} failed", p.failed) } else { String::new() },
        if held {
            ": the attack did not stop it".to_string()
        } else {
            format!(": stalled for up to {}", format::seconds(p.longest_stall_s))
        }
    ));
    if s.after_ok == Some(false) {
        text.push_str("; it did NOT answer after the attack");
    }
    if let Some(reason) = &s.reason {
        text.push_str(&format!(" ({reason})"));
    }
    text.push('.');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(at_ms: u64, latency_ms: u64, outcome: Outcome) -> Probe {
        Probe { sent_at: Duration::from_millis(at_ms), latency: Duration::from_millis(latency_ms), outcome }
    }

    #[test]
    fn probe_figures_and_stalls() {
        let probes = vec![
            probe(0, 2, Outcome::Ok),
            probe(100, 1500, Outcome::Ok),
            probe(200, 5000, Outcome::Timeout),
            probe(300, 1200, Outcome::Ok),
            probe(400, 3, Outcome::Ok),
            probe(500, 1, Outcome::Connect),
        ];
        let s = summarize_probes(&probes);
        assert_eq!((s.sent, s.ok, s.failed, s.within_1s), (6, 4, 2, 2));
        assert_eq!((s.failures.timeout, s.failures.connect), (1, 1));
        assert_eq!(s.max_us, Some(1_500_000.0));
        // From the probe sent at 0.1 s to the end of the one sent at 0.2 s (5 s later).
        assert!((s.longest_stall_s - 5.1).abs() < 1e-9, "{}", s.longest_stall_s);
    }

    #[test]
    fn drop_times_count_the_opened_connections() {
        let conn = |open_ms: u64, end_ms: Option<u64>| attack::Connection {
            opened_at: Duration::from_millis(open_ms),
            ended_at: end_ms.map(Duration::from_millis),
            fate: if end_ms.is_some() { Fate::Closed } else { Fate::Open },
            sent: 3,
            answered: false,
        };
        let outcome = attack::AttackOutcome {
            connections: vec![conn(0, Some(10_000)), conn(10, Some(10_020)), conn(20, None), conn(30, None)],
            ..Default::default()
        };
        let a = summarize_attack(&outcome, 4);
        assert_eq!((a.opened, a.dropped, a.open_at_end), (4, 2, 2));
        assert_eq!(a.first_drop_s, Some(10.0));
        assert_eq!(a.half_dropped_s, Some(10.02));
        assert_eq!(a.most_dropped_s, None, "90 % of 4 were never dropped");
        assert_eq!(a.median_lifetime_s, Some(10.0));
        let t = timeline(&outcome, &[], &[], Duration::from_secs(11));
        assert_eq!(t.len(), 11);
        assert_eq!(t[9].attack_open, 4);
        assert_eq!(t[10].attack_open, 2);
    }
}
