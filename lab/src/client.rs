//! One client process per cell: its command line, and the JSON report (schema v1) it prints with `--json`.
//!
//! The lab never generates load itself: a client binary does, in a process of its own, so that the lab's
//! bookkeeping never competes with the instrument inside one process. Unknown fields of the report are ignored,
//! so the clients can add figures without breaking the lab.

use crate::plan::ClientSpec;
use crate::results::{Failures, Latency};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// What the lab asks of one client run.
#[derive(Debug, Clone)]
pub struct ClientArgs<'a> {
    pub client: &'a ClientSpec,
    pub urls: Vec<String>,
    pub requests: u64,
    pub concurrency: u64,
    pub warmup: u64,
    pub timeout: Duration,
    pub keep_alive: bool,
}

impl ClientArgs<'_> {
    /// `CLIENT --url U… -n N [-c C] --timeout S --keep-alive on|off --warmup W --json [--engine E]`.
    pub fn command(&self, bin_dir: &Path) -> Command {
        self.command_for(bin_dir, None)
    }

    /// [`ClientArgs::command`], or with a `duration`, `--duration SECONDS` in place of `-n N`: the client runs
    /// for that long after its warm-up, however many requests that takes.
    pub fn command_for(&self, bin_dir: &Path, duration: Option<Duration>) -> Command {
        let mut command = Command::new(bin_dir.join(&self.client.binary));
        for url in &self.urls {
            command.arg("--url").arg(url);
        }
        match duration {
            Some(duration) => command.arg("--duration").arg(duration.as_secs_f64().to_string()),
            None => command.arg("-n").arg(self.requests.to_string()),
        };
        if !self.client.is_sequential() {
            command.arg("-c").arg(self.concurrency.to_string());
        }
        command
            .arg("--timeout")
            .arg(self.timeout.as_secs().max(1).to_string())
            .arg("--keep-alive")
            .arg(if self.keep_alive { "on" } else { "off" })
            .arg("--warmup")
            .arg(self.warmup.to_string())
            .arg("--json");
        if let Some(engine) = &self.client.engine {
            command.arg("--engine").arg(engine.as_str());
        }
        command
    }
}

/// The client's `--json` document (schema v1). Fields the lab does not use are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct ClientReport {
    #[serde(default)]
    pub schema_version: u64,
    #[serde(default)]
    pub client: String,
    #[serde(default)]
    pub engine: Option<String>,
    #[serde(default)]
    pub requests: u64,
    #[serde(default)]
    pub succeeded: u64,
    #[serde(default)]
    pub failed: u64,
    #[serde(default)]
    pub failures: Failures,
    pub wall_s: f64,
    #[serde(default)]
    pub throughput_rps: f64,
    #[serde(default)]
    pub latency_us: ReportLatency,
    #[serde(default)]
    pub cost: Option<ReportedCost>,
    /// Open-loop runs (`--rate`): the offered rate and how many requests went out late; absent for closed-loop
    /// runs and from clients that predate it.
    #[serde(default)]
    pub open_loop: Option<OpenLoop>,
    /// The first failure's reason, for error messages; absent when nothing failed.
    #[serde(default)]
    pub first_failure: Option<String>,
    /// Connection setup times of the measured phase (µs); `null` or absent when the engine cannot time them.
    #[serde(default)]
    pub connect_us: Option<ConnectTime>,
}

/// How an open-loop client run kept its schedule (clients/SCHEMA.md, `open_loop`).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct OpenLoop {
    /// The offered rate, requests per second.
    #[serde(default)]
    pub rate_rps: f64,
    /// Requests sent more than `late_after_us` after their intended time (every connection was busy).
    #[serde(default)]
    pub late: u64,
    #[serde(default)]
    pub late_after_us: u64,
}

/// Connection setup, from the start of `connect()` to the established connection, in microseconds
/// (`clients/SCHEMA.md`). A SYN the server's kernel dropped costs a retransmission one second later, so it shows
/// here as a connect of over 1 s.
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

/// Latency percentiles; absent or null when nothing succeeded.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct ReportLatency {
    pub min: Option<f64>,
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub p999: Option<f64>,
    pub max: Option<f64>,
}

impl ReportLatency {
    pub fn to_latency(self) -> Latency {
        let v = |x: Option<f64>| x.unwrap_or(0.0);
        Latency {
            min: v(self.min),
            mean: v(self.mean),
            p50: v(self.p50),
            p90: v(self.p90),
            p99: v(self.p99),
            p999: v(self.p999),
            max: v(self.max),
        }
    }
}

/// The client's own account of its cost.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct ReportedCost {
    pub peak_threads: Option<u64>,
    pub peak_rss_kib: Option<u64>,
    pub user_s: Option<f64>,
    pub sys_s: Option<f64>,
}

impl ClientReport {
    /// Parses the report from the client's stdout: the whole output, or else its last line that is a JSON object.
    pub fn parse(stdout: &str) -> Result<ClientReport, String> {
        if let Ok(report) = serde_json::from_str::<ClientReport>(stdout.trim()) {
            return Ok(report);
        }
        let last_object = stdout.lines().rev().find(|l| l.trim_start().starts_with('{'));
        match last_object {
            Some(line) => {
                serde_json::from_str(line.trim()).map_err(|e| format!("the client's JSON report is malformed: {e}"))
            }
            None => Err(if stdout.trim().is_empty() {
                "the client printed no JSON report".to_string()
            } else {
                format!(
                    "the client printed no JSON report; stdout began {:?}",
                    stdout.chars().take(80).collect::<String>()
                )
            }),
        }
    }

    /// One line: "all 10 requests failed (connect 10)".
    pub fn failure_summary(&self) -> String {
        let f = self.failures;
        let kinds: Vec<String> = [
            ("connect", f.connect),
            ("timeout", f.timeout),
            ("status", f.status),
            ("other", f.other),
            ("unsent", f.unsent),
        ]
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{k} {n}"))
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

    #[test]
    fn parses_schema_v1_and_ignores_extra_fields() {
        let json = r#"{"schema_version":1,"client":"async-client","engine":"surf","url":"http://x/","requests":10,
            "concurrency":10,"processes":1,"keep_alive":true,"succeeded":9,"failed":1,
            "failures":{"connect":1,"timeout":0,"status":0,"other":0},"wall_s":1.02,"throughput_rps":9.8,
            "latency_us":{"min":1000,"mean":1001,"p50":1000,"p90":1002,"p99":1003,"p999":1003,"max":1003},
            "cost":{"peak_threads":3,"peak_rss_kib":4000,"user_s":0.01,"sys_s":0.02},"something_new":[1,2]}"#;
        let r = ClientReport::parse(&format!("warming up\n{}\n", json.replace('\n', ""))).unwrap();
        assert_eq!((r.succeeded, r.failed, r.failures.connect), (9, 1, 1));
        assert_eq!(r.latency_us.to_latency().p99, 1003.0);
        assert_eq!(r.cost.unwrap().peak_threads, Some(3));
        assert_eq!(r.failure_summary(), "1 of 10 requests failed (connect 1)");
        assert!(r.open_loop.is_none() && r.first_failure.is_none());
    }

    #[test]
    fn parses_the_open_loop_fields() {
        // As clients/SCHEMA.md documents them: `open_loop`, `failures.unsent` (counted in `failed`),
        // `first_failure`.
        let json = r#"{"wall_s":1.0,"requests":10,"succeeded":7,"failed":3,
            "failures":{"connect":0,"timeout":1,"status":0,"other":0,"unsent":2},
            "open_loop":{"rate_rps":100.0,"late":4,"late_after_us":1000},"first_failure":"timed out"}"#;
        let r = ClientReport::parse(&json.replace('\n', "")).unwrap();
        let open = r.open_loop.expect("open_loop");
        assert_eq!((open.rate_rps, open.late, r.failures.unsent), (100.0, 4, 2));
        assert_eq!(r.first_failure.as_deref(), Some("timed out"));
        assert_eq!(r.failure_summary(), "3 of 10 requests failed (timeout 1, unsent 2)");
    }

    #[test]
    fn null_latency_when_everything_failed() {
        let r = ClientReport::parse(r#"{"wall_s":0.1,"failed":3,"latency_us":{"p50":null}}"#).unwrap();
        assert_eq!(r.latency_us.to_latency(), Latency::default());
        assert!(ClientReport::parse("").unwrap_err().contains("no JSON"));
    }

    #[test]
    fn sequential_clients_get_no_concurrency_flag() {
        let blocking: ClientSpec = "blocking-client".parse().unwrap();
        let args = ClientArgs {
            client: &blocking,
            urls: vec!["http://a/".into(), "http://b/".into()],
            requests: 5,
            concurrency: 1,
            warmup: 1,
            timeout: Duration::from_secs(10),
            keep_alive: true,
        };
        let cmd = args.command(Path::new("/bin"));
        let argv: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(
            argv.join(" "),
            "--url http://a/ --url http://b/ -n 5 --timeout 10 --keep-alive on --warmup 1 --json"
        );
    }
}
