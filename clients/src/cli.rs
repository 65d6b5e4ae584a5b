//! The command line shared by the three clients, and how bad input is turned away.
//!
//! Every client takes the same flags (`--url`, `-n`, `--timeout`, `--keep-alive`, `--warmup`, `--json`); the
//! ones that keep several requests in flight add `-c`. Invalid input never reaches the request loops: it is
//! rejected here with a one-line message and exit code 2.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, ValueEnum};
use url::Url;

/// The original article's first request.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8888/say/hello?name=Lucy";

/// The longest `--timeout` accepted (a day): deadlines are computed as `now + timeout`, which must not overflow.
const MAX_TIMEOUT_S: f64 = 86_400.0;

/// Exit code for bad arguments.
pub const EXIT_USAGE: u8 = 2;
/// Exit code when every request failed (or the run itself could not be carried out).
pub const EXIT_ALL_FAILED: u8 = 1;

/// Flags every client accepts.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// The URL to request (http:// only).
    #[arg(long, default_value = DEFAULT_URL, value_parser = parse_target)]
    pub url: Target,

    /// Requests to send and count.
    #[arg(short = 'n', long = "requests", default_value_t = 10, value_parser = parse_count)]
    pub requests: u64,

    /// Give up on a request after this many seconds (decimal allowed, e.g. 0.2).
    #[arg(long, default_value = "60", value_parser = parse_timeout)]
    pub timeout: Duration,

    /// Reuse connections between requests.
    #[arg(long, value_enum, default_value_t = OnOff::On)]
    pub keep_alive: OnOff,

    /// Requests to send first, over the same connections, without counting them.
    #[arg(long, default_value_t = 0)]
    pub warmup: u64,

    /// Print one JSON document (schema in clients/SCHEMA.md) instead of the human output.
    #[arg(long)]
    pub json: bool,
}

/// `-c`: how many requests are in flight at once.
#[derive(Debug, Clone, Args)]
pub struct ConcurrencyArgs {
    /// Requests in flight at once (pool-client: pool threads; async-client: per process).
    #[arg(short = 'c', long = "concurrency", default_value_t = 10, value_parser = parse_count_usize)]
    pub concurrency: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

impl OnOff {
    pub fn is_on(self) -> bool {
        self == OnOff::On
    }
}

/// A validated `--url`: an http URL whose host resolved at start-up.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: Url,
    /// The first address the host resolved to; the lean engine connects here directly.
    pub addr: SocketAddr,
}

impl Target {
    /// `host[:port]` as it goes in the `Host` header.
    pub fn host_header(&self) -> String {
        let host = self.url.host_str().unwrap_or_default();
        match self.url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        }
    }

    /// The request target: path and query.
    pub fn path_and_query(&self) -> String {
        match self.url.query() {
            Some(query) => format!("{}?{}", self.url.path(), query),
            None => self.url.path().to_string(),
        }
    }
}

fn parse_target(text: &str) -> Result<Target, String> {
    let url = Url::parse(text).map_err(|e| format!("not a URL ({e})"))?;
    if url.scheme() != "http" {
        return Err(format!("scheme '{}' is not supported; use http://", url.scheme()));
    }
    if !matches!(url.host_str(), Some(host) if !host.is_empty()) {
        return Err("the URL has no host".into());
    }
    let addr = url
        .socket_addrs(|| Some(80))
        .map_err(|e| format!("cannot resolve the host ({e})"))?
        .into_iter()
        .next()
        .ok_or("the host resolves to no address")?;
    Ok(Target { url, addr })
}

fn parse_count(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("not a whole number ({e})")),
    }
}

fn parse_count_usize(text: &str) -> Result<usize, String> {
    let n = parse_count(text)?;
    usize::try_from(n).map_err(|_| "too large".into())
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text.parse().map_err(|_| "not a number of seconds".to_string())?;
    if seconds.is_nan() || seconds <= 0.0 {
        return Err("must be more than 0 seconds".into());
    }
    if seconds > MAX_TIMEOUT_S {
        return Err(format!("must be at most {MAX_TIMEOUT_S} seconds"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Most executor threads per process: more would only contend for the same cores.
pub const MAX_THREADS: usize = 1024;
/// Most `--processes`.
pub const MAX_PROCESSES: usize = 256;

/// `--threads`: 1 to [`MAX_THREADS`].
pub fn parse_threads(text: &str) -> Result<usize, String> {
    parse_bounded(text, MAX_THREADS)
}

/// `--processes`: 1 to [`MAX_PROCESSES`].
pub fn parse_processes(text: &str) -> Result<usize, String> {
    parse_bounded(text, MAX_PROCESSES)
}

fn parse_bounded(text: &str, max: usize) -> Result<usize, String> {
    let n = parse_count_usize(text)?;
    if n > max {
        return Err(format!("must be at most {max}"));
    }
    Ok(n)
}

/// Parses the command line; on bad input prints one line (`NAME: what is wrong`) and exits with code 2.
/// `--help` and `--version` print as usual and exit 0.
pub fn parse_or_exit<T: Parser>() -> T {
    match T::try_parse() {
        Ok(args) => args,
        Err(err) => {
            use clap::error::ErrorKind;
            if matches!(err.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                err.exit();
            }
            let name = T::command().get_name().to_string();
            let text = err.to_string();
            let mut lines = text.lines();
            let first = lines.next().unwrap_or("invalid arguments").trim_start_matches("error: ");
            // clap lists the accepted values on the next line; keep them on the one line we print.
            match lines.next().map(str::trim).filter(|line| line.starts_with("[possible values")) {
                Some(values) => eprintln!("{name}: {first} {values}"),
                None => eprintln!("{name}: {first}"),
            }
            std::process::exit(i32::from(EXIT_USAGE));
        }
    }
}

/// Prints `NAME: message` on stderr and returns exit code 1: for a run that could not be carried out.
pub fn fail(name: &str, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("{name}: {message}");
    ExitCode::from(EXIT_ALL_FAILED)
}

/// Raises this process's open-file limit (soft) to its hard limit, so that `-c 10000` is not stopped by the
/// usual soft limit of 1024 descriptors. Returns the limit now in force (None if it could not be read).
pub fn raise_open_files_limit() -> Option<u64> {
    // SAFETY: getrlimit/setrlimit read and write a plain struct we own.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
        Some(limit.rlim_cur as u64)
    }
}

/// The default number of executor threads: one per CPU.
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = parse_target("http://127.0.0.1:8888/say/hello?name=Lucy").unwrap();
        assert_eq!(t.addr, "127.0.0.1:8888".parse().unwrap());
        assert_eq!(t.host_header(), "127.0.0.1:8888");
        assert_eq!(t.path_and_query(), "/say/hello?name=Lucy");
        let t = parse_target("http://127.0.0.1").unwrap();
        assert_eq!((t.addr.port(), t.path_and_query().as_str()), (80, "/"));
        assert!(parse_target("https://127.0.0.1/").unwrap_err().contains("scheme 'https'"));
        assert!(parse_target("ftp://x/").is_err());
        assert!(parse_target("not a url").unwrap_err().starts_with("not a URL"));
    }

    #[test]
    fn numbers() {
        assert!(parse_count("0").is_err());
        assert!(parse_count("-3").is_err());
        assert_eq!(parse_count("7"), Ok(7));
        assert_eq!(parse_timeout("0.2"), Ok(Duration::from_millis(200)));
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("NaN").is_err());
        assert!(parse_timeout("-1").is_err());
        assert!(parse_timeout("1e300").is_err());
    }
}
