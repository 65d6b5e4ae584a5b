//! The JSON document a client prints with `--json`: schema version 1, documented in `clients/SCHEMA.md`.
//!
//! This is the contract between the clients and whoever reads them: the clients write it, and `lab merge` reads
//! and merges it ([`crate::merge`]) with these same structs. Every figure in it is computed once, at the end of a
//! run (the clients' `report::from_run`).

use serde::{Deserialize, Serialize};

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

/// How an open-loop run (`--rate`) kept its schedule (the clients' `schedule` module).
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

impl ClientReport {
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
