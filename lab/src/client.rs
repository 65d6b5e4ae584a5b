//! One client process per cell: its command line, and the JSON report (schema v1) it prints with `--json`.
//!
//! The lab never generates load itself: a client binary does, in a process of its own, so that the lab's
//! bookkeeping never competes with the instrument inside one process. The report is read with the clients' own
//! types ([`harness::report`]), which ignore unknown fields, so the clients can add figures without breaking the
//! lab; here it becomes the run JSON's records.

use crate::records::run::Client;
use crate::records::run::{Failures, Latency};
use harness::report;
pub use harness::report::{ClientReport, ConnectTime};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Cells of at most this many requests (the article's experiment, the `/block` cell) ask the client for its
/// `--timeline`: each request's send and response, drawn by the HTML report.
pub const TIMELINE_MAX_REQUESTS: u64 = 10;

/// What the lab asks of one client run.
#[derive(Debug, Clone)]
pub struct ClientArgs<'a> {
    pub client: &'a Client,
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
    /// for that long after its warm-up, however many requests that takes. A run of at most
    /// [`TIMELINE_MAX_REQUESTS`] requests also asks for `--timeline`.
    pub fn command_for(&self, bin_dir: &Path, duration: Option<Duration>) -> Command {
        let mut command = Command::new(bin_dir.join(self.client.binary()));
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
        if duration.is_none() && self.requests <= TIMELINE_MAX_REQUESTS {
            command.arg("--timeline");
        }
        if let Some(engine) = &self.client.engine {
            command.arg("--engine").arg(engine.as_str());
        }
        command
    }
}

impl From<report::Latency> for Latency {
    /// The client's latency summary as the run JSON records it (every figure a float, lab/SCHEMA.md).
    fn from(l: report::Latency) -> Latency {
        Latency {
            min: l.min as f64,
            mean: l.mean,
            p50: l.p50 as f64,
            p90: l.p90 as f64,
            p99: l.p99 as f64,
            p999: l.p999 as f64,
            max: l.max as f64,
        }
    }
}

impl From<report::Failures> for Failures {
    fn from(f: report::Failures) -> Failures {
        Failures { connect: f.connect, timeout: f.timeout, status: f.status, other: f.other, unsent: f.unsent }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reports_records_become_the_run_jsons() {
        let l = report::Latency { min: 900, mean: 1001.5, p50: 1000, p90: 1002, p99: 1003, p999: 1004, max: 1005 };
        let expected =
            Latency { min: 900.0, mean: 1001.5, p50: 1000.0, p90: 1002.0, p99: 1003.0, p999: 1004.0, max: 1005.0 };
        assert_eq!(Latency::from(l), expected);
        let f = report::Failures { connect: 1, timeout: 2, status: 3, other: 4, unsent: 5 };
        assert_eq!(Failures::from(f), Failures { connect: 1, timeout: 2, status: 3, other: 4, unsent: 5 });
    }

    #[test]
    fn sequential_clients_get_no_concurrency_flag() {
        let blocking: Client = "blocking-client".parse().unwrap();
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
            "--url http://a/ --url http://b/ -n 5 --timeout 10 --keep-alive on --warmup 1 --json --timeline"
        );
        // A larger cell, or one bounded by a duration, does not ask for a timeline.
        let large = ClientArgs { requests: TIMELINE_MAX_REQUESTS + 1, ..args.clone() };
        assert!(!large.command(Path::new("/bin")).get_args().any(|a| a == "--timeline"));
        let timed = args.command_for(Path::new("/bin"), Some(Duration::from_secs(2)));
        assert!(!timed.get_args().any(|a| a == "--timeline"));
    }
}
