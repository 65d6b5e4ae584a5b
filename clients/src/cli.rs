//! The command line shared by the three clients, and how bad input is turned away.
//!
//! Every client takes the same flags (`--url`, `-n`, `--timeout`, `--keep-alive`, `--warmup`, `--json`); the
//! ones that keep several requests in flight add `-c`. Invalid input never reaches the request loops: it is
//! rejected here with a one-line message and exit code 2.
//!
//! `--url` may be given several times (the lab's `mixed` workload): the requests then cycle through the URLs,
//! request `i` of the run going to URL `i mod len` ([`url_index`]). The URLs must share one origin
//! (scheme, host and port) because every engine keeps one pool of connections and sends any URL on any of them.
//!
//! A `--url` may start with the method, as a request line does: `--url 'POST http://host/db/visit?name=x'`
//! sends a POST with an empty body (`Content-Length: 0`); without one the method is GET. Every engine
//! honours it, so that a workload that changes something (the lab's `db`) is sent with the method meant for
//! that (RFC 9110 §9.3.3) rather than a GET a cache or a prefetcher may repeat.
//!
//! `--rate R` turns any client into an open-loop load generator ([`crate::schedule`]).

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
    /// The URL to request (http:// only), optionally after its method: `POST http://…` (GET or POST; GET if
    /// none). Repeat it to cycle through several.
    ///
    /// With K URLs, request i of the run (numbered from 0 over every slot, thread and process, in the order the
    /// requests start) goes to URL number i mod K, in the order given: each URL gets an equal share (exactly
    /// n/K each when K divides -n) and the requests in flight at any moment are spread over all of them. Every
    /// URL must have the first one's scheme, host and port: they share connections. Warm-up requests cycle the
    /// same way, numbered from 0 in each process.
    #[arg(long = "url", value_name = "URL", default_value = DEFAULT_URL, value_parser = parse_target)]
    pub urls: Vec<Target>,

    /// Requests to send and count.
    #[arg(short = 'n', long = "requests", default_value_t = 10, value_parser = parse_count, conflicts_with = "duration")]
    pub requests: u64,

    /// Run for this many seconds (decimal allowed) instead of a number of requests: every connection keeps
    /// sending until the deadline, none starts after it, and the ones in flight finish (or time out).
    ///
    /// With --rate the schedule is RATE × SECONDS requests long. Warm-up (--warmup) comes first and is not
    /// counted. The report says which bound the run had and how many requests completed.
    #[arg(long, value_name = "SECONDS", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Give up on a request after this many seconds (decimal allowed, e.g. 0.2).
    #[arg(long, default_value = "60", value_parser = parse_timeout)]
    pub timeout: Duration,

    /// Reuse connections between requests.
    #[arg(long, value_enum, default_value_t = OnOff::On)]
    pub keep_alive: OnOff,

    /// Requests to send first, over the same connections, without counting them.
    #[arg(long, default_value_t = 0)]
    pub warmup: u64,

    /// Open-loop load: send requests on a fixed schedule of this many per second in total (decimal allowed),
    /// whatever the server does; -c caps the connections in flight.
    ///
    /// Request i is due i/RATE seconds after the start; latency counts from that intended time, so waiting for
    /// a busy connection is part of it (coordinated omission corrected, as wrk2 does). A request sent more than
    /// 1 ms after it was due counts as late; one still waiting --timeout after it was due is given up unsent.
    /// Without --rate the load is closed-loop: each connection sends its next request when the previous
    /// response has arrived.
    #[arg(long, value_name = "RATE", value_parser = crate::schedule::parse_rate)]
    pub rate: Option<f64>,

    /// Print one JSON document (schema in clients/SCHEMA.md) instead of the human output.
    #[arg(long)]
    pub json: bool,

    /// Add each request's send and response times to the JSON report (`timeline`, the first 100 requests by
    /// send time): what a picture of a small run is drawn from. One process only (not with --processes).
    #[arg(long)]
    pub timeline: bool,
}

impl CommonArgs {
    /// The first `--url`: where connections go (every URL shares its origin), and the report's `url`.
    pub fn first_url(&self) -> &Target {
        self.urls.first().expect("clap supplies the default URL when --url is absent")
    }

    /// Request numbers the measured phase may take: `-n`; with `--duration`, the schedule's length under
    /// `--rate` (rate × duration, at least 1) or no limit in closed loop (the deadline ends it).
    pub fn request_limit(&self) -> u64 {
        match (self.duration, self.rate) {
            (None, _) => self.requests,
            (Some(duration), Some(rate)) => ((rate * duration.as_secs_f64()).round() as u64).max(1),
            (Some(_), None) => u64::MAX,
        }
    }

    /// The measured phase's length when the deadline (not a count) ends it: `--duration` in closed loop.
    pub fn deadline_after(&self) -> Option<Duration> {
        self.duration.filter(|_| self.rate.is_none())
    }

    /// Every `--url`, in the order given, as text: `URL`, or `POST URL` for a POST (what `--url` takes back).
    pub fn url_strings(&self) -> Vec<String> {
        self.urls.iter().map(Target::to_string).collect()
    }

    /// What clap cannot check one value at a time: every `--url` has the first one's scheme, host and port.
    pub fn check(&self) -> Result<(), String> {
        let first = self.first_url();
        match self.urls.iter().find(|target| target.url.origin() != first.url.origin()) {
            None => Ok(()),
            Some(other) => Err(format!(
                "--url {}: not on the first URL's origin {} (all URLs share its connections, so they need the \
                 same scheme, host and port)",
                other.url,
                first.url.origin().ascii_serialization()
            )),
        }
    }
}

/// The cycling rule of a repeated `--url`: request number `request` (0-based, counted over the whole run) goes
/// to `urls[url_index(request, urls.len())]`. Consecutive requests go to consecutive URLs, so the URLs get equal
/// shares and the requests started together — the ones in flight together — are spread over all of them.
pub fn url_index(request: u64, urls: usize) -> usize {
    // The remainder is below `urls`, itself a usize.
    (request % urls.max(1) as u64) as usize
}

/// A command line that embeds [`CommonArgs`]: lets [`parse_or_exit`] check them after clap has parsed.
pub trait WithCommonArgs {
    fn common(&self) -> &CommonArgs;
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

/// The methods a client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    /// With an empty body: whatever the request carries is in its URL's query.
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// A validated `--url`: a method and an http URL whose host resolved at start-up.
#[derive(Debug, Clone)]
pub struct Target {
    pub method: Method,
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

/// `URL` for a GET, `POST URL` otherwise: the form `--url` takes.
impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.method {
            Method::Get => write!(f, "{}", self.url),
            method => write!(f, "{} {}", method.as_str(), self.url),
        }
    }
}

fn parse_target(text: &str) -> Result<Target, String> {
    let (method, text) = match text.trim().split_once(' ') {
        Some(("GET", url)) => (Method::Get, url.trim_start()),
        Some(("POST", url)) => (Method::Post, url.trim_start()),
        Some((other, _)) if other.bytes().all(|b| b.is_ascii_uppercase()) => {
            return Err(format!("method {other:?} is not supported; use GET or POST"))
        }
        _ => (Method::Get, text),
    };
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
    Ok(Target { method, url, addr })
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

/// The longest `--duration` accepted (a day).
const MAX_DURATION_S: f64 = 86_400.0;

fn parse_duration(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text.parse().map_err(|_| "not a number of seconds".to_string())?;
    if seconds.is_nan() || seconds <= 0.0 {
        return Err("must be more than 0 seconds".into());
    }
    if seconds > MAX_DURATION_S {
        return Err(format!("must be at most {MAX_DURATION_S} seconds"));
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
pub fn parse_or_exit<T: Parser + WithCommonArgs>() -> T {
    let name = || T::command().get_name().to_string();
    match T::try_parse() {
        Ok(args) => match args.common().check() {
            Ok(()) => {
                if args.common().timeline {
                    crate::recorder::record_timelines();
                }
                args
            }
            Err(message) => {
                eprintln!("{}: {message}", name());
                std::process::exit(i32::from(EXIT_USAGE));
            }
        },
        Err(err) => {
            use clap::error::ErrorKind;
            if matches!(err.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                err.exit();
            }
            let name = name();
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
    Some(harness::limits::raise_nofile().soft)
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
    fn a_target_may_name_its_method() {
        let post = parse_target("POST http://127.0.0.1:8888/db/visit?name=x").unwrap();
        assert_eq!((post.method, post.path_and_query().as_str()), (Method::Post, "/db/visit?name=x"));
        assert_eq!(post.to_string(), "POST http://127.0.0.1:8888/db/visit?name=x");
        assert_eq!(parse_target(&post.to_string()).unwrap().method, Method::Post, "what --url gets back");
        let get = parse_target("GET http://127.0.0.1:8888/a").unwrap();
        assert_eq!((get.method, get.to_string().as_str()), (Method::Get, "http://127.0.0.1:8888/a"));
        assert_eq!(parse_target("http://127.0.0.1:8888/a").unwrap().method, Method::Get);
        assert_eq!(
            parse_target("DELETE http://127.0.0.1/").unwrap_err(),
            r#"method "DELETE" is not supported; use GET or POST"#
        );
        assert!(parse_target("post http://127.0.0.1/").is_err(), "methods are case-sensitive (RFC 9110 §9.1)");
    }

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        common: CommonArgs,
    }

    fn common(args: &[&str]) -> CommonArgs {
        Cli::try_parse_from(std::iter::once("client").chain(args.iter().copied())).unwrap().common
    }

    #[test]
    fn repeated_urls_share_one_origin() {
        let one = common(&[]);
        assert_eq!(one.url_strings(), [DEFAULT_URL]);
        assert_eq!(one.check(), Ok(()));
        let mixed = common(&["--url", "http://127.0.0.1:9/a", "--url", "http://127.0.0.1:9/b?x=1"]);
        assert_eq!(mixed.url_strings(), ["http://127.0.0.1:9/a", "http://127.0.0.1:9/b?x=1"]);
        assert_eq!(mixed.first_url().path_and_query(), "/a");
        assert_eq!(mixed.check(), Ok(()));
        // The default port is the same port.
        assert_eq!(common(&["--url", "http://127.0.0.1/a", "--url", "http://127.0.0.1:80/b"]).check(), Ok(()));
        for other in ["http://127.0.0.1:10/b", "http://127.0.0.2:9/b", "http://localhost:9/b"] {
            let error = common(&["--url", "http://127.0.0.1:9/a", "--url", other]).check().unwrap_err();
            assert!(error.starts_with(&format!("--url {other}: ")) && error.contains("http://127.0.0.1:9"), "{error}");
            assert!(!error.contains('\n'), "{error}");
        }
    }

    #[test]
    fn requests_cycle_through_the_urls() {
        let picks: Vec<usize> = (0..7).map(|i| url_index(i, 3)).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2, 0]);
        assert!((0..5).all(|i| url_index(i, 1) == 0));
        assert_eq!(url_index(u64::MAX, 4), 3);
    }

    #[test]
    fn duration_bounds_the_run() {
        let counted = common(&["-n", "7"]);
        assert_eq!((counted.request_limit(), counted.deadline_after()), (7, None));
        let timed = common(&["--duration", "1.5"]);
        assert_eq!((timed.request_limit(), timed.deadline_after()), (u64::MAX, Some(Duration::from_millis(1500))));
        // Open loop: the duration is the schedule's length.
        let scheduled = common(&["--duration", "2", "--rate", "150"]);
        assert_eq!((scheduled.request_limit(), scheduled.deadline_after()), (300, None));
        let both = Cli::try_parse_from(["client", "-n", "5", "--duration", "1"]).unwrap_err().to_string();
        assert!(both.contains("cannot be used with"), "{both}");
        assert!(parse_duration("0").is_err() && parse_duration("-1").is_err() && parse_duration("1e9").is_err());
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
