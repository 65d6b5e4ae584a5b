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
    /// `--timeline` only: each measured request's send and response, as offsets from the first send, ordered by
    /// send time and capped at [`TIMELINE_CAP`] requests. Absent without the flag and from older documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Vec<TimelineEntry>>,
}

/// The most requests a `timeline` holds: enough to draw a small experiment, small enough for any report.
pub const TIMELINE_CAP: usize = 100;

/// One request of a `timeline`: when it was sent and when its response ended, in µs from the first send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// The request's number (0-based, warm-up excluded): which URL it went to.
    pub request: u64,
    pub start_us: u64,
    pub end_us: u64,
    /// Whether it succeeded (a 2xx response read to the end).
    pub ok: bool,
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
    /// Their setup times, summarised as latencies are (the fields sit beside `connections` in the JSON).
    #[serde(flatten)]
    pub us: Latency,
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

impl ClientReport {
    /// Reads a client's report from what it printed on stdout (or a saved copy): the whole text as one JSON
    /// document, or else its last line that is a JSON object (a wrapper or an older client may print other lines
    /// first). Fields this crate does not know are ignored, fields added within the version may be absent; a
    /// missing report, a malformed one or another `schema_version` is an error that says which.
    pub fn parse(stdout: &str) -> Result<ClientReport, String> {
        let report = match serde_json::from_str::<ClientReport>(stdout.trim()) {
            Ok(report) => report,
            // Output that starts with `{` always has such a line, so "no line" means no JSON at all.
            Err(_) => match stdout.lines().rev().find(|l| l.trim_start().starts_with('{')) {
                Some(line) => serde_json::from_str(line.trim())
                    .map_err(|e| format!("the client's JSON report is malformed (clients/SCHEMA.md): {e}"))?,
                None if stdout.trim().is_empty() => return Err("the client printed no JSON report".to_string()),
                None => {
                    return Err(format!(
                        "the client printed no JSON report; stdout began {:?}",
                        stdout.chars().take(80).collect::<String>()
                    ))
                }
            },
        };
        if report.schema_version != SCHEMA_VERSION {
            return Err(format!(
                "the client's report has schema_version {}; this reads version {SCHEMA_VERSION} (clients/SCHEMA.md)",
                report.schema_version
            ));
        }
        Ok(report)
    }

    /// One line: "10 of 10 requests failed (connect 10)".
    pub fn failure_summary(&self) -> String {
        let f = &self.failures;
        let kinds: Vec<String> = [
            ("connect", f.connect),
            ("timeout", f.timeout),
            ("status", f.status),
            ("other", f.other),
            ("unsent", f.unsent),
        ]
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(kind, n)| format!("{kind} {n}"))
        .collect();
        format!(
            "{} of {} requests failed ({})",
            self.failed,
            self.requests.max(self.succeeded + self.failed),
            kinds.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report as clients/SCHEMA.md documents it, with `extra` fields spliced in (one line).
    fn document(extra: &str) -> String {
        format!(
            r#"{{"schema_version":1,"client":"async-client","engine":"surf","url":"http://x/","requests":10,
            "concurrency":10,"processes":1,"keep_alive":true,"succeeded":9,"failed":1,
            "failures":{{"connect":1,"timeout":0,"status":0,"other":0}},"wall_s":1.02,"throughput_rps":9.8,
            "latency_us":{{"min":1000,"mean":1001.5,"p50":1000,"p90":1002,"p99":1003,"p999":1003,"max":1003}},
            "cost":{{"peak_threads":3,"peak_rss_kib":4000,"user_s":0.01,"sys_s":0.02}}{extra}}}"#
        )
        .replace('\n', "")
    }

    #[test]
    fn reads_the_last_json_line_and_ignores_unknown_fields() {
        let stdout = format!("warming up\n{}\n", document(r#","something_new":[1,2]"#));
        let r = ClientReport::parse(&stdout).unwrap();
        assert_eq!((r.succeeded, r.failed, r.failures.connect, r.failures.unsent), (9, 1, 1, 0));
        assert_eq!((r.latency_us.p99, r.cost.peak_threads), (1003, 3));
        assert!(r.open_loop.is_none() && r.first_failure.is_none() && r.connect_us.is_none());
        assert_eq!(r.failure_summary(), "1 of 10 requests failed (connect 1)");
        // The whole output as one (pretty-printed) document reads too.
        let pretty = serde_json::to_string_pretty(&r).unwrap();
        assert_eq!(ClientReport::parse(&pretty).unwrap(), r);
    }

    #[test]
    fn reads_the_open_loop_fields() {
        let extra = r#","open_loop":{"rate_rps":100.0,"late":4,"late_after_us":1000},"first_failure":"timed out""#;
        let json = document(extra).replace(r#""other":0}"#, r#""other":0,"unsent":2}"#);
        let r = ClientReport::parse(&json).unwrap();
        let open = r.open_loop.expect("open_loop");
        assert_eq!((open.rate_rps, open.late, r.failures.unsent), (100.0, 4, 2));
        assert_eq!(r.first_failure.as_deref(), Some("timed out"));
        assert_eq!(r.failure_summary(), "1 of 10 requests failed (connect 1, unsent 2)");
    }

    #[test]
    fn connect_times_sit_flat_beside_their_count() {
        // clients/SCHEMA.md: `connect_us` is `{"connections", "min", "mean", "p50", "p90", "p99", "p999", "max"}`.
        let extra =
            r#","connect_us":{"connections":40,"min":50,"mean":80.5,"p50":70,"p90":90,"p99":120,"p999":130,"max":140}"#;
        let r = ClientReport::parse(&document(extra)).unwrap();
        let c = r.connect_us.expect("connect_us");
        assert_eq!((c.connections, c.us.min, c.us.mean, c.us.p99, c.us.max), (40, 50, 80.5, 120, 140));
        let written = serde_json::to_value(c).unwrap();
        let keys: Vec<&str> = written.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 8, "{written}");
        assert!(["connections", "min", "mean", "p50", "p90", "p99", "p999", "max"].iter().all(|k| keys.contains(k)));
    }

    #[test]
    fn says_why_there_is_no_report() {
        assert_eq!(ClientReport::parse(" \n").unwrap_err(), "the client printed no JSON report");
        assert!(ClientReport::parse("panicked at x\n").unwrap_err().contains(r#"stdout began "panicked at x"#));
        let cut = &document("")[..60];
        assert!(ClientReport::parse(cut).unwrap_err().contains("malformed"), "{cut}");
        let missing = document("").replace(r#""wall_s":1.02,"#, "");
        assert!(ClientReport::parse(&missing).unwrap_err().contains("missing field `wall_s`"));
        let future = document("").replace(r#""schema_version":1"#, r#""schema_version":2"#);
        assert!(ClientReport::parse(&future).unwrap_err().contains("schema_version 2"));
    }
}
