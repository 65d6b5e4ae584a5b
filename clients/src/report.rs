//! The JSON document a client prints with `--json`: schema version 1, documented in `clients/SCHEMA.md`.
//!
//! This is the contract between the clients and the lab: the lab runs a client, parses this document with the
//! same struct, and never reads the human output. Every figure here is computed once, at the end of a run, from
//! the merged per-worker `Recorder`s — nothing is shared while requests are in
//! flight.

use serde::{Deserialize, Serialize};

use crate::histogram;
use crate::recorder::Recorder;
use crate::schedule::LATE_AFTER;

/// Bumped whenever a field changes meaning or disappears (adding a field does not bump it).
pub const SCHEMA_VERSION: u32 = 1;

/// One run of one client, as printed with `--json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientReport {
    /// Always [`SCHEMA_VERSION`] for documents written by this crate; the lab refuses versions it does not know.
    pub schema_version: u32,
    /// Which binary ran: `blocking-client`, `pool-client` or `async-client`.
    pub client: String,
    /// Which HTTP implementation sent the requests: `ureq`, `surf` or `lean`.
    pub engine: String,
    /// The first `--url` (the only one, unless the run mixed several).
    pub url: String,
    /// Every `--url` in the order given; requests cycled through them (request i went to `urls[i mod len]`).
    /// Absent from documents written before it was added.
    #[serde(default)]
    pub urls: Vec<String>,
    /// Requests counted (warm-up requests excluded): `-n`, or with `--duration` the requests that completed
    /// (succeeded or failed) — under `--rate`, the schedule's rate × duration.
    pub requests: u64,
    /// What ended the run: `requests` (`-n`) or `duration` (`--duration`). Absent from documents written before
    /// it was added, which were all bounded by `-n`.
    #[serde(default)]
    pub bound: Bound,
    /// `--duration` in seconds; `null` when `-n` bounded the run.
    #[serde(default)]
    pub duration_s: Option<f64>,
    /// Requests in flight at once, per process (1 for blocking-client).
    pub concurrency: u64,
    /// OS processes that shared the requests (async-client `--processes`; 1 otherwise).
    pub processes: u64,
    /// Whether connections were reused between requests.
    pub keep_alive: bool,
    /// Requests answered with a 2xx status and a complete body.
    pub succeeded: u64,
    /// Requests that did not succeed; equals the sum of `failures`.
    pub failed: u64,
    /// Failed requests by kind.
    pub failures: Failures,
    /// Wall time of the measured phase, from the first request sent to the last response read, in seconds.
    pub wall_s: f64,
    /// `succeeded / wall_s`.
    pub throughput_rps: f64,
    /// Latency of succeeded requests, in microseconds. Open loop: from each request's intended send time.
    pub latency_us: Latency,
    /// The histogram behind `latency_us`: HdrHistogram V2 deflate encoding, base64 ([`crate::histogram`]), so
    /// that reports can be merged exactly ([`crate::merge`]). Absent from documents written before it was added.
    #[serde(default)]
    pub latency_histogram_us: Option<String>,
    /// Open-loop load (`--rate`): the schedule and how well it was kept; `null` for closed-loop runs.
    #[serde(default)]
    pub open_loop: Option<OpenLoop>,
    /// What the client itself cost the machine.
    pub cost: Cost,
    /// The first failure's reason, for error messages (`null` when nothing failed).
    #[serde(default)]
    pub first_failure: Option<String>,
    /// Connection setup time of the measured phase, in microseconds; `null` when the engine cannot time it or
    /// opened no connection in the measured phase. Absent from documents written before it was added.
    #[serde(default)]
    pub connect_us: Option<ConnectTime>,
}

/// What ended a run's measured phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bound {
    /// A number of requests (`-n`).
    #[default]
    Requests,
    /// A duration (`--duration`): closed loop, no request started after the deadline; open loop, the schedule
    /// was rate × duration long.
    Duration,
}

/// Connection setup: from the start of `connect()` to the established connection, in microseconds, over every
/// connection the measured phase opened (failed connects are counted in `failures.connect` instead). A SYN the
/// server's kernel dropped costs a retransmission one second later, so it shows here as a connect of over 1 s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnectTime {
    /// Connections timed.
    pub connections: u64,
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

/// How an open-loop run (`--rate`) kept its schedule ([`crate::schedule`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct OpenLoop {
    /// Offered rate: requests per second, over every process.
    pub rate_rps: f64,
    /// Requests sent more than `late_after_us` after their intended time: every connection (`-c`) was busy
    /// when they were due. Their latency includes that wait. (Given-up requests are `failures.unsent`.)
    pub late: u64,
    /// The lateness threshold, in microseconds.
    pub late_after_us: u64,
}

/// Failed requests, by why they failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failures {
    /// The TCP connection could not be opened (refused, unreachable).
    pub connect: u64,
    /// No complete response within `--timeout`.
    pub timeout: u64,
    /// A complete response whose status was not 2xx.
    pub status: u64,
    /// Anything else: a reset mid-response, a malformed response, a truncated body.
    pub other: u64,
    /// Open loop only: requests given up unsent, because every connection stayed busy until `--timeout` after
    /// their intended send time. Absent from documents written before it was added.
    #[serde(default)]
    pub unsent: u64,
}

impl Failures {
    pub fn total(&self) -> u64 {
        self.connect + self.timeout + self.status + self.other + self.unsent
    }

    pub fn add(&mut self, other: &Failures) {
        self.connect += other.connect;
        self.timeout += other.timeout;
        self.status += other.status;
        self.other += other.other;
        self.unsent += other.unsent;
    }
}

/// Latency summary in microseconds; every field is 0 when nothing succeeded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

/// The client's own cost: a load generator that eats the CPU it shares with the server skews what it measures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    /// Most OS threads seen at once (sampled every 10 ms; the sampling thread itself is not counted).
    /// With `--processes`, the sum over the parent and its children.
    pub peak_threads: u64,
    /// Peak resident set size in KiB (`ru_maxrss`); with `--processes`, the sum over the parent and its children.
    pub peak_rss_kib: u64,
    /// CPU time spent in user mode, in seconds, for the whole run (warm-up and start-up included).
    pub user_s: f64,
    /// CPU time spent in the kernel, in seconds, for the whole run.
    pub sys_s: f64,
}

impl Cost {
    /// Adds another process's cost: used by async-client `--processes` to account for its children.
    pub fn add(&mut self, other: &Cost) {
        self.peak_threads += other.peak_threads;
        self.peak_rss_kib += other.peak_rss_kib;
        self.user_s += other.user_s;
        self.sys_s += other.sys_s;
    }
}

/// The URLs of a run in one line: `http://h:1/a` for one; `http://h:1/a, /b, /c in turn` for several (they
/// share the first one's origin, so the others are shown by path and query).
pub fn describe_urls(urls: &[String]) -> String {
    let Some((first, rest)) = urls.split_first() else { return String::new() };
    if rest.is_empty() {
        return first.clone();
    }
    let mut text = first.clone();
    for url in rest {
        text += ", ";
        match url::Url::parse(url) {
            Ok(parsed) => {
                text += parsed.path();
                if let Some(query) = parsed.query() {
                    text += "?";
                    text += query;
                }
            }
            Err(_) => text += url,
        }
    }
    text + " in turn"
}

/// What a run was asked to do: the parts of the report that do not come from measuring.
#[derive(Debug, Clone)]
pub struct RunMeta {
    pub client: &'static str,
    pub engine: &'static str,
    /// Every `--url`, in order (at least one).
    pub urls: Vec<String>,
    /// Requests the run may send: `-n`, rate × duration, or `u64::MAX` when only the deadline ends it.
    pub requests: u64,
    /// `--duration`, when it bounded the run.
    pub duration: Option<std::time::Duration>,
    pub concurrency: u64,
    pub processes: u64,
    pub keep_alive: bool,
    /// `--rate`: open-loop load at this many requests per second in total; `None` for closed loop.
    pub rate: Option<f64>,
}

impl ClientReport {
    /// Builds the report of a finished run from the merged recorder.
    pub fn new(meta: &RunMeta, recorder: &Recorder, wall_s: f64, cost: Cost) -> ClientReport {
        let succeeded = recorder.succeeded();
        let failures = *recorder.failures();
        ClientReport {
            schema_version: SCHEMA_VERSION,
            client: meta.client.to_string(),
            engine: meta.engine.to_string(),
            url: meta.urls.first().cloned().unwrap_or_default(),
            urls: meta.urls.clone(),
            // A duration-bound run counts what completed; a count-bound one records every request it numbered.
            requests: if meta.duration.is_some() { succeeded + failures.total() } else { meta.requests },
            bound: if meta.duration.is_some() { Bound::Duration } else { Bound::Requests },
            duration_s: meta.duration.map(|d| d.as_secs_f64()),
            concurrency: meta.concurrency,
            processes: meta.processes,
            keep_alive: meta.keep_alive,
            succeeded,
            failed: failures.total(),
            failures,
            wall_s,
            throughput_rps: if wall_s > 0.0 { succeeded as f64 / wall_s } else { 0.0 },
            latency_us: recorder.latency(),
            latency_histogram_us: Some(histogram::encode(recorder.histogram())),
            open_loop: meta.rate.map(|rate_rps| OpenLoop {
                rate_rps,
                late: recorder.late(),
                late_after_us: LATE_AFTER.as_micros() as u64,
            }),
            cost,
            first_failure: recorder.first_failure().map(str::to_string),
            connect_us: recorder.connect_time(),
        }
    }

    /// True when requests were sent and not one of them succeeded: the client then exits with status 1.
    pub fn all_failed(&self) -> bool {
        self.requests > 0 && self.succeeded == 0
    }

    /// The one-line reason printed on stderr when every request failed.
    pub fn all_failed_reason(&self) -> String {
        let f = &self.failures;
        format!(
            "all {} requests to {} failed (connect {}, timeout {}, status {}, other {}, unsent {}); first: {}",
            self.requests,
            describe_urls(if self.urls.is_empty() { std::slice::from_ref(&self.url) } else { &self.urls }),
            f.connect,
            f.timeout,
            f.status,
            f.other,
            f.unsent,
            self.first_failure.as_deref().unwrap_or("unknown")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_one_line() {
        let urls = |list: &[&str]| list.iter().map(|u| u.to_string()).collect::<Vec<_>>();
        assert_eq!(describe_urls(&urls(&["http://h:1/a?x=1"])), "http://h:1/a?x=1");
        assert_eq!(
            describe_urls(&urls(&["http://h:1/a", "http://h:1/b?n=5", "http://h:1/"])),
            "http://h:1/a, /b?n=5, / in turn"
        );
        assert_eq!(describe_urls(&[]), "");
    }

    #[test]
    fn documents_without_urls_still_parse() {
        let meta = RunMeta {
            client: "blocking-client",
            engine: "ureq",
            urls: vec!["http://h:1/a".into(), "http://h:1/b".into()],
            requests: 2,
            duration: None,
            concurrency: 1,
            processes: 1,
            keep_alive: true,
            rate: None,
        };
        let report = ClientReport::new(&meta, &Recorder::new(false), 0.5, Cost::default());
        assert_eq!((report.url.as_str(), report.urls.len()), ("http://h:1/a", 2));
        let mut json: serde_json::Value = serde_json::to_value(&report).unwrap();
        assert_eq!(json["urls"], serde_json::json!(["http://h:1/a", "http://h:1/b"]));
        json.as_object_mut().unwrap().remove("urls");
        json.as_object_mut().unwrap().remove("bound");
        json.as_object_mut().unwrap().remove("duration_s");
        let old: ClientReport = serde_json::from_value(json).unwrap();
        assert!(old.urls.is_empty());
        assert_eq!((old.bound, old.duration_s), (Bound::Requests, None));
        assert!(
            old.all_failed_reason().starts_with("all 2 requests to http://h:1/a failed"),
            "{}",
            old.all_failed_reason()
        );
    }
}
