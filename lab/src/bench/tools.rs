//! The load generators of the throughput parts — wrk, oha and the lab's own clients — and the external tools the
//! bench uses but never needs (wrk, oha, nginx): where they are, their version, the command line of one run, and
//! what a run printed, read into one [`LoadRun`].
//!
//! Every generator runs as a child process of its own (like the matrix's clients), so its CPU time comes exact
//! from wait4's rusage and its work never competes with the lab's bookkeeping inside one process.

use crate::client::{ClientArgs, ClientReport};
use crate::records::bench::{LoadRun, PartStatus, ToolRecord};
use crate::records::run::Client;
use crate::records::run::Latency;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// An external program the bench can use, found or not.
#[derive(Debug, Clone)]
pub struct Tool {
    pub name: &'static str,
    pub path: Option<PathBuf>,
    pub version: Option<String>,
    /// The one line that installs it.
    pub install: &'static str,
}

impl Tool {
    /// `given` (a `--wrk PATH` flag) if it names a file; else the first `name` on PATH, then in `extra_dirs`.
    pub fn find(name: &'static str, given: Option<&Path>, extra_dirs: &[&str], install: &'static str) -> Tool {
        let path = match given {
            Some(path) => path.is_file().then(|| path.to_path_buf()),
            None => {
                let path_var = std::env::var_os("PATH").unwrap_or_default();
                std::env::split_paths(&path_var)
                    .chain(extra_dirs.iter().map(PathBuf::from))
                    .map(|dir| dir.join(name))
                    .find(|candidate| candidate.is_file())
            }
        };
        let version = path.as_deref().and_then(|p| version_line(p, if name == "nginx" { "-v" } else { "--version" }));
        Tool { name, path, version, install }
    }

    /// "wrk not installed (apt-get install wrk)".
    pub fn missing(&self) -> String {
        format!("{} not installed ({})", self.name, self.install)
    }

    pub fn record(&self) -> ToolRecord {
        ToolRecord {
            name: self.name.to_string(),
            path: self.path.as_ref().map(|p| p.display().to_string()),
            version: self.version.clone(),
            install: self.install.to_string(),
        }
    }
}

/// The first non-empty line a program prints for `flag` (stdout, else stderr: nginx writes its version there).
fn version_line(path: &Path, flag: &str) -> Option<String> {
    let output = Command::new(path).arg(flag).output().ok()?;
    let text = format!("{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    text.lines().map(str::trim).find(|l| !l.is_empty()).map(str::to_string)
}

/// `s` as one word for `sh -c`: as it is when that is safe, else in single quotes.
pub fn quoted(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_./:=,@%+-".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A command as one shell line: the program's path and its arguments, quoted where needed.
pub fn shell_line(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|word| quoted(&word.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The tools, found once at the start of the bench.
#[derive(Debug, Clone)]
pub struct Tools {
    pub wrk: Tool,
    pub oha: Tool,
    pub nginx: Tool,
}

impl Tools {
    pub fn find(wrk: Option<&Path>, oha: Option<&Path>, nginx: Option<&Path>) -> Tools {
        Tools {
            wrk: Tool::find("wrk", wrk, &[], "apt-get install wrk"),
            oha: Tool::find("oha", oha, &[], "cargo install oha"),
            // Debian installs nginx in /usr/sbin, which is not on every user's PATH.
            nginx: Tool::find("nginx", nginx, &["/usr/sbin", "/usr/local/sbin"], "apt-get install nginx-light"),
        }
    }

    pub fn records(&self) -> Vec<ToolRecord> {
        vec![self.wrk.record(), self.oha.record(), self.nginx.record()]
    }
}

/// What loads a server in a throughput part.
#[derive(Debug, Clone)]
pub enum LoadGenerator {
    /// `wrk -t1 -cC -dDs --latency URL`: runs for a duration.
    Wrk(PathBuf),
    /// `oha -c C -z Ds --no-tui FORMAT-FLAGS URL`: runs for a duration; the flags that make it print JSON
    /// differ between versions and are read from its `--help`.
    Oha { path: PathBuf, json_flags: Vec<String>, no_tui: bool },
    /// One of the lab's clients: sends a number of requests (sized from the reference tool's rate).
    Client(Client),
}

/// What one run needs to know.
pub struct LoadSpec<'a> {
    pub url: &'a str,
    pub connections: u64,
    pub duration: Duration,
    /// `-n` of the lab's clients.
    pub requests: u64,
    pub bin_dir: &'a Path,
}

impl LoadGenerator {
    /// oha, with the JSON flags its `--help` lists; Err(reason) when it lists none.
    pub fn oha(path: &Path) -> Result<LoadGenerator, String> {
        let help = Command::new(path).arg("--help").output().map_err(|e| format!("cannot run oha --help: {e}"))?;
        let help = String::from_utf8_lossy(&help.stdout);
        let json_flags = if help.contains("--output-format") {
            vec!["--output-format".to_string(), "json".to_string()]
        } else if help.contains("--json") {
            vec!["--json".to_string()]
        } else {
            return Err("this oha has neither --output-format json nor --json".to_string());
        };
        Ok(LoadGenerator::Oha { path: path.to_path_buf(), json_flags, no_tui: help.contains("--no-tui") })
    }

    /// `wrk`, `oha`, `async-client:lean`.
    pub fn name(&self) -> String {
        match self {
            LoadGenerator::Wrk(_) => "wrk".to_string(),
            LoadGenerator::Oha { .. } => "oha".to_string(),
            LoadGenerator::Client(spec) => spec.label(),
        }
    }

    /// wrk and oha are the references the lab's clients are measured against.
    pub fn is_reference(&self) -> bool {
        !matches!(self, LoadGenerator::Client(_))
    }

    /// A run's own time limit: a duration tool stops by itself; a client may be slower than the reference.
    pub fn time_limit(&self, spec: &LoadSpec) -> Duration {
        spec.duration * 10 + Duration::from_secs(30)
    }

    pub fn command(&self, spec: &LoadSpec) -> Command {
        let secs = format!("{}s", spec.duration.as_secs().max(1));
        match self {
            LoadGenerator::Wrk(path) => {
                let mut command = Command::new(path);
                command.arg("-t1").arg(format!("-c{}", spec.connections)).arg(format!("-d{secs}"));
                command.arg("--latency").arg(spec.url);
                command
            }
            LoadGenerator::Oha { path, json_flags, no_tui } => {
                let mut command = Command::new(path);
                command.arg("-c").arg(spec.connections.to_string()).arg("-z").arg(secs);
                if *no_tui {
                    command.arg("--no-tui");
                }
                command.args(json_flags).arg(spec.url);
                command
            }
            LoadGenerator::Client(client) => {
                let mut command = ClientArgs {
                    client,
                    urls: vec![spec.url.to_string()],
                    requests: spec.requests,
                    concurrency: spec.connections,
                    warmup: client_warmup(spec.connections),
                    timeout: Duration::from_secs(10),
                    keep_alive: true,
                }
                .command(spec.bin_dir);
                // One event-loop thread, like `wrk -t1`: the same budget, and the other core stays the server's.
                if client.is_async() {
                    command.args(["--threads", "1"]);
                }
                command
            }
        }
    }

    /// Reads what a finished run printed on stdout.
    pub fn parse(&self, stdout: &str, connections: u64) -> Result<LoadRun, String> {
        match self {
            LoadGenerator::Wrk(_) => parse_wrk(stdout),
            LoadGenerator::Oha { .. } => parse_oha(stdout),
            LoadGenerator::Client(_) => {
                let report = ClientReport::parse(stdout)?;
                if report.succeeded == 0 {
                    return Err(report.failure_summary());
                }
                let latency = Latency::from(report.latency_us);
                Ok(LoadRun {
                    requests: report.succeeded,
                    errors: report.failed,
                    warmup: client_warmup(connections),
                    wall_s: report.wall_s,
                    rps: report.throughput_rps,
                    p50_us: Some(latency.p50),
                    p99_us: Some(latency.p99),
                    ..ok_run()
                })
            }
        }
    }
}

/// The lab's clients' warm-up: a few requests per connection, so that connections are open and code paths
/// paged in before counting (wrk and oha count from their first request).
pub fn client_warmup(connections: u64) -> u64 {
    connections * 4
}

fn ok_run() -> LoadRun {
    LoadRun { status: PartStatus::Ok, ..LoadRun::default() }
}

/// A failed round, with the reason.
pub fn failed_run(round: u32, reason: String) -> LoadRun {
    LoadRun { round, status: PartStatus::Failed, reason: Some(reason), ..LoadRun::default() }
}

/// `652.00us`, `1.03ms`, `2.1s` (wrk's latency units) in µs.
fn wrk_duration_us(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let factor = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        _ => return None,
    };
    Some(value * factor)
}

/// wrk's text report: `N requests in 5.00s, …`, `Requests/sec: R`, the latency distribution (`--latency`), and
/// the error lines it prints only when there were errors.
pub fn parse_wrk(stdout: &str) -> Result<LoadRun, String> {
    let mut run = ok_run();
    let mut total: Option<u64> = None;
    let mut rate: Option<f64> = None;
    let mut non_2xx = 0;
    for line in stdout.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [n, "requests", "in", wall, ..] => {
                total = n.parse().ok();
                run.wall_s = wrk_duration_us(wall.trim_end_matches(',')).map_or(0.0, |us| us / 1e6);
            }
            ["Requests/sec:", r] => rate = r.parse().ok(),
            ["50%", v] => run.p50_us = wrk_duration_us(v),
            ["99%", v] => run.p99_us = wrk_duration_us(v),
            ["Non-2xx", "or", "3xx", "responses:", n] => non_2xx = n.parse::<u64>().unwrap_or(0),
            ["Socket", "errors:", rest @ ..] => {
                // connect 0, read 3, write 0, timeout 0
                run.errors += rest.iter().filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok()).sum::<u64>()
            }
            _ => {}
        }
    }
    let (Some(total), Some(rate)) = (total, rate) else {
        return Err(format!(
            "wrk printed no `requests in` / `Requests/sec:` lines; it printed {:?}",
            stdout.chars().take(200).collect::<String>()
        ));
    };
    // Non-2xx answers are counted in wrk's total; socket errors are not.
    run.requests = total.saturating_sub(non_2xx);
    run.errors += non_2xx;
    run.rps = rate;
    if run.requests == 0 {
        return Err(format!("wrk got no successful response ({} errors)", run.errors));
    }
    Ok(run)
}

/// oha's JSON report, the part the bench reads: `summary.requestsPerSec`, `summary.total` (s),
/// `latencyPercentiles.p50/p99` (s), `statusCodeDistribution` and `errorDistribution` (counts by status and by
/// error message).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OhaReport {
    #[serde(default)]
    summary: OhaSummary,
    #[serde(default)]
    latency_percentiles: OhaPercentiles,
    #[serde(default)]
    status_code_distribution: BTreeMap<String, u64>,
    #[serde(default)]
    error_distribution: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OhaSummary {
    total: Option<f64>,
    requests_per_sec: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
struct OhaPercentiles {
    p50: Option<f64>,
    p99: Option<f64>,
}

/// A [`LoadRun`] from oha's JSON report (`--json`).
pub fn parse_oha(stdout: &str) -> Result<LoadRun, String> {
    let start = stdout.find('{').ok_or("oha printed no JSON report")?;
    let report: OhaReport =
        serde_json::from_str(&stdout[start..]).map_err(|e| format!("oha's JSON report is malformed: {e}"))?;
    let count = |by_status: &BTreeMap<String, u64>, ok: fn(&str) -> bool| -> u64 {
        by_status.iter().filter(|(k, _)| ok(k)).map(|(_, n)| n).sum()
    };
    let succeeded = count(&report.status_code_distribution, |status| status.starts_with('2'));
    let non_2xx = count(&report.status_code_distribution, |status| !status.starts_with('2'));
    let errors = count(&report.error_distribution, |_| true);
    let wall_s = report.summary.total.ok_or("oha's report has no summary.total")?;
    if succeeded == 0 {
        return Err(format!("oha got no successful response ({} errors)", errors + non_2xx));
    }
    Ok(LoadRun {
        requests: succeeded,
        errors: errors + non_2xx,
        wall_s,
        rps: report.summary.requests_per_sec.unwrap_or(succeeded as f64 / wall_s.max(1e-9)),
        p50_us: report.latency_percentiles.p50.map(|s| s * 1e6),
        p99_us: report.latency_percentiles.p99.map(|s| s * 1e6),
        ..ok_run()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK: &str = "Running 3s test @ http://127.0.0.1:36265/no/param
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   807.79us  445.44us   7.30ms   86.16%
    Req/Sec    74.85k    12.28k  101.08k    63.33%
  Latency Distribution
     50%  652.00us
     75%    1.03ms
     90%    1.18ms
     99%    2.21ms
  222988 requests in 3.00s, 29.13MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 8
Requests/sec:  74276.92
Transfer/sec:      9.70MB
";

    #[test]
    fn reads_wrk() {
        let run = parse_wrk(WRK).unwrap();
        assert_eq!(run.requests, 222_980);
        assert_eq!(run.errors, 11);
        assert_eq!(run.rps, 74276.92);
        assert_eq!(run.wall_s, 3.0);
        assert_eq!(run.p50_us, Some(652.0));
        assert!((run.p99_us.unwrap() - 2210.0).abs() < 1e-6);
        assert!(parse_wrk("unable to connect to 127.0.0.1:1 Connection refused").unwrap_err().contains("wrk printed"));
    }

    #[test]
    fn reads_oha() {
        let json = r#"{"summary":{"successRate":1.0,"total":5.001,"slowest":0.01,"fastest":0.0001,
            "average":0.001,"requestsPerSec":40123.5,"totalData":0,"sizePerRequest":0,"sizePerSec":0},
            "latencyPercentiles":{"p10":0.0002,"p50":0.0009,"p99":0.004},
            "statusCodeDistribution":{"200":200000,"503":3},"errorDistribution":{"aborted due to deadline":64}}"#;
        let run = parse_oha(json).unwrap();
        assert_eq!((run.requests, run.errors), (200_000, 67));
        assert_eq!(run.rps, 40123.5);
        assert!((run.p50_us.unwrap() - 900.0).abs() < 1e-6);
        assert!(parse_oha("error: connection refused").is_err());
    }

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(quoted("a'b"), r"'a'\''b'");
        assert_eq!(quoted("http://127.0.0.1:80/no/param"), "http://127.0.0.1:80/no/param");
        assert_eq!(quoted("/say/hello?name=lab&ms=1"), "'/say/hello?name=lab&ms=1'");
        let mut command = Command::new("/usr/bin/wrk");
        command.args(["-t1", "a b"]);
        assert_eq!(shell_line(&command), "/usr/bin/wrk -t1 'a b'");
    }

    #[test]
    fn a_tool_given_as_a_missing_path_is_not_found() {
        let tool = Tool::find("wrk", Some(Path::new("/nonexistent/wrk")), &[], "apt-get install wrk");
        assert!(tool.path.is_none());
        assert_eq!(tool.missing(), "wrk not installed (apt-get install wrk)");
    }
}
