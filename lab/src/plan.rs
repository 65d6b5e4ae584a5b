//! What to measure: profiles, workloads, servers, clients, and the list of cells they expand to.
//!
//! A cell is one server × client × workload × concurrency × request count. The plan is built before anything
//! runs, so that progress can show "cell 7 of 40" with an estimate of what is left, and so that a run cut short
//! by Ctrl-C can still list the cells it did not reach.

use crate::records::header::CpuPlacement;
use crate::records::run::{Client, ClientKind, ProfileName, Workload};
use crate::UsageError;
use std::time::Duration;

/// The lab's own servers, in the order they are reported.
pub const BUILTIN_SERVERS: [&str; 8] = [
    "thread-server",
    "pool-server",
    "async-std-server",
    "smol-server",
    "tokio-server",
    "lean-server",
    "uring-server",
    "coroutine-server",
];

impl Workload {
    /// The request paths, cycled by the client in this order: `/path?query` for a GET, `POST /path?query` for a
    /// request that changes something (RFC 9110 §9.3.3), as the clients' `--url` takes it ([`url_for`]).
    pub fn paths(self, settings: &WorkloadSettings) -> Vec<String> {
        match self {
            Workload::Io => vec![format!("/say/hello?name=lab&ms={}", settings.hello_ms)],
            Workload::Cpu => vec![format!("/fact?n={}&cache=0", settings.fact_n)],
            Workload::Baseline => vec!["/no/param".to_string()],
            Workload::Db => vec!["POST /db/visit?name=lab".to_string()],
            Workload::Blocking => vec![format!("/block?ms={}", settings.block_ms)],
            Workload::Mixed => vec![
                format!("/say/hello?name=lab&ms={}", MIXED_HELLO_MS),
                format!("/fact?n={}&cache=0", settings.fact_n),
                "/no/param".to_string(),
                "/db/visits?name=lab".to_string(),
            ],
        }
    }

    pub fn description(self, settings: &WorkloadSettings) -> String {
        match self {
            Workload::Io => format!("waits D = {} ms without working (asynchronous wait)", settings.hello_ms),
            Workload::Cpu => format!("computes {}! without the cache", settings.fact_n),
            Workload::Baseline => "an empty 200: the cost of the server machinery".to_string(),
            Workload::Db => "increments a counter in SQLite".to_string(),
            Workload::Blocking => {
                format!("sleeps {} ms on the handler's own thread (blocking call)", settings.block_ms)
            }
            Workload::Mixed => format!(
                "cycles through a {MIXED_HELLO_MS} ms wait, {}! uncached, an empty 200 and a SQLite read",
                settings.fact_n
            ),
        }
    }
}

/// The client's `--url` for one of a workload's paths on the server at `origin` (`http://HOST:PORT`): the URL,
/// after the method when the path names one (`POST /db/visit` → `POST http://HOST:PORT/db/visit`).
pub fn url_for(origin: &str, path: &str) -> String {
    match path.split_once(' ') {
        Some((method, path)) => format!("{method} {origin}{path}"),
        None => format!("{origin}{path}"),
    }
}

/// How long the `/say/hello` part of `mixed` waits: short, so that mixed stays a throughput workload.
pub const MIXED_HELLO_MS: u64 = 20;

/// The figures that go into request paths.
#[derive(Debug, Clone, Copy)]
pub struct WorkloadSettings {
    pub hello_ms: u64,
    pub block_ms: u64,
    pub fact_n: u64,
}

impl WorkloadSettings {
    /// The per-request timeout given to clients by default: long enough for the slowest expected request, never
    /// less than 10 s.
    pub fn client_timeout(&self) -> Duration {
        let d = self.hello_ms.max(self.block_ms);
        Duration::from_millis((10 * d + 5_000).max(10_000))
    }
}

/// A server to measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerSpec {
    /// A binary of the `servers` package, started as `NAME --host 127.0.0.1 --port 0 --db PATH --quiet`.
    Builtin(String),
    /// `--server NAME='COMMAND with {port}'`: run through `sh -c` with `{port}` replaced by a free port.
    Foreign { name: String, command: String },
    /// `--target NAME=URL`: a server the lab does not start (another machine, a container): verified and
    /// loaded like the others, but its cost cannot be sampled. `origin` is `http://HOST:PORT`, without a path.
    Remote { name: String, origin: String },
}

impl ServerSpec {
    pub fn name(&self) -> &str {
        match self {
            ServerSpec::Builtin(name) => name,
            ServerSpec::Foreign { name, .. } | ServerSpec::Remote { name, .. } => name,
        }
    }

    /// True for a `--target`: the lab neither starts nor samples it.
    pub fn is_remote(&self) -> bool {
        matches!(self, ServerSpec::Remote { .. })
    }

    /// Parses `NAME=URL` (the value of `--target`): an `http://HOST[:PORT][/]` URL, kept as its origin (the port
    /// defaults to 80). The workloads' paths are the server's contract, so a path or query is refused.
    pub fn parse_target(spec: &str) -> Result<ServerSpec, UsageError> {
        let (name, url) = spec.split_once('=').ok_or_else(|| format!("--target {spec:?}: expected NAME=URL"))?;
        let name = check_name("--target", spec, name)?;
        let uri: ureq::http::Uri =
            url.trim().parse().map_err(|e| format!("--target {name}: {url:?} is not a URL ({e})"))?;
        if uri.scheme_str() != Some("http") {
            return Err(
                format!("--target {name}: {url:?} must start with http:// (the clients speak plain HTTP/1.1)").into()
            );
        }
        let authority = uri.authority().filter(|a| !a.host().is_empty());
        let Some(authority) = authority else { return Err(format!("--target {name}: {url:?} has no host").into()) };
        if authority.as_str().contains('@') {
            return Err(format!("--target {name}: {url:?}: credentials in the URL are not supported").into());
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(format!(
                "--target {name}: {url:?} has a path; give the server's origin (http://HOST:PORT), the lab adds the \
                 workloads' paths"
            )
            .into());
        }
        let port = match authority.as_str().strip_prefix(authority.host()) {
            Some("") => 80,
            _ => authority
                .port_u16()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("--target {name}: {url:?}: not a URL (bad port)"))?,
        };
        let origin = format!("http://{}:{port}", authority.host());
        Ok(ServerSpec::Remote { name: name.to_string(), origin })
    }

    /// Parses `NAME=COMMAND` (the value of `--server`).
    pub fn parse_foreign(spec: &str) -> Result<ServerSpec, UsageError> {
        let (name, command) =
            spec.split_once('=').ok_or_else(|| format!("--server {spec:?}: expected NAME='COMMAND with {{port}}'"))?;
        let name = check_name("--server", spec, name)?;
        if !command.contains("{port}") {
            return Err(
                format!("--server {name}: the command must contain {{port}} (the lab picks a free port)").into()
            );
        }
        Ok(ServerSpec::Foreign { name: name.to_string(), command: command.to_string() })
    }
}

/// A server's name as given to `--server` or `--target`: it names cells (`server/client/…`), so no '/', ','
/// or spaces.
fn check_name<'a>(flag: &str, spec: &str, name: &'a str) -> Result<&'a str, UsageError> {
    let name = name.trim();
    if name.is_empty() || name.contains(['/', ' ', ',']) {
        return Err(format!("{flag} {spec:?}: the name must be non-empty, without '/', ',' or spaces").into());
    }
    Ok(name)
}

/// The article's own server (`examples/tornado/app.py`), as a foreign server, when `python3` can import
/// tornado; otherwise None, and the caller says how to get it.
pub fn tornado_spec(workspace: &std::path::Path) -> Option<ServerSpec> {
    let app = workspace.join("examples/tornado/app.py");
    let importable = std::process::Command::new("python3")
        .args(["-c", "import tornado"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    (importable && app.is_file()).then(|| ServerSpec::Foreign {
        name: "tornado".into(),
        command: format!("python3 '{}' --port={{port}} --quiet", app.display()),
    })
}

/// What the lab says when the article's tornado app cannot run.
pub const TORNADO_MISSING: &str =
    "the article's tornado app is left out: python3 cannot import tornado (pip install tornado)";

impl CpuPlacement {
    /// The default on these CPUs: with two or more, the server on the first half (rounded down, at least one)
    /// and the client on the rest; with one, shared.
    pub fn split_of(allowed: &[usize]) -> CpuPlacement {
        if allowed.len() < 2 {
            return CpuPlacement::Shared { cpus: allowed.to_vec() };
        }
        let half = allowed.len() / 2;
        CpuPlacement::Split { server: allowed[..half].to_vec(), client: allowed[half..].to_vec() }
    }

    /// `shared`, or `server=LIST,client=LIST` with LIST like `0`, `0-1` or `0+2` (CPUs joined by `+`).
    pub fn parse(s: &str, allowed: &[usize]) -> Result<CpuPlacement, UsageError> {
        if s == "shared" {
            return Ok(CpuPlacement::Shared { cpus: allowed.to_vec() });
        }
        let (mut server, mut client) = (None, None);
        for part in s.split(',') {
            let (side, list) =
                part.split_once('=').ok_or_else(|| format!("--cpus {s:?}: expected shared or server=0,client=1"))?;
            let cpus = parse_cpus(list).map_err(|e| format!("--cpus {s:?}: {e}"))?;
            if let Some(cpu) = cpus.iter().find(|c| !allowed.contains(c)) {
                return Err(
                    format!("--cpus {s:?}: CPU {cpu} is not available to the lab (allowed: {allowed:?})").into()
                );
            }
            match side.trim() {
                "server" => server = Some(cpus),
                "client" => client = Some(cpus),
                other => return Err(format!("--cpus {s:?}: {other:?} is neither server nor client").into()),
            }
        }
        match (server, client) {
            (Some(server), Some(client)) => Ok(CpuPlacement::Split { server, client }),
            _ => Err(format!("--cpus {s:?}: name both sides, e.g. server=0,client=1").into()),
        }
    }
}

/// `0`, `0-1`, `0+2`: a sorted, deduplicated CPU list.
fn parse_cpus(list: &str) -> Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for item in list.split('+').map(str::trim) {
        let number = |t: &str| t.trim().parse::<usize>().map_err(|_| format!("{t:?} is not a CPU number"));
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (number(a)?, number(b)?);
                if a > b {
                    return Err(format!("{item:?}: empty range"));
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(number(item)?),
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

/// Everything the matrix needs to expand into cells. A profile fills it; command-line flags override fields.
#[derive(Debug, Clone)]
pub struct MatrixConfig {
    pub profile: ProfileName,
    pub servers: Vec<ServerSpec>,
    pub clients: Vec<Client>,
    pub workloads: Vec<Workload>,
    /// The concurrency sweep of every concurrent client.
    pub concurrency: Vec<u64>,
    /// Extra io concurrency levels for async clients only (the `full` profile's 1,000 and 10,000).
    pub io_high_concurrency: Vec<u64>,
    /// Concurrency levels of the `blocking` workload (kept small: a blocked executor serialises it).
    pub blocking_concurrency: Vec<u64>,
    /// Requests per throughput cell (cpu, baseline, db, mixed); None = the profile's value per workload. io and
    /// blocking always send one request per connection (plus the original experiment's 1 and 10).
    pub requests: Option<u64>,
    /// How long each repetition of a throughput cell runs after its warm-up; None = a count (`requests`).
    pub duration: Option<Duration>,
    pub settings: WorkloadSettings,
    pub repeat: u32,
    pub keep_alive: bool,
    /// Per-request timeout for the clients; None = derived from D.
    pub timeout: Option<Duration>,
    /// Where the server and the client run; `lab matrix` splits the CPUs by default (see `main.rs`).
    pub cpus: CpuPlacement,
    /// Executor (or event-loop) threads of each server that takes `--threads` (`lab matrix --threads`); None =
    /// one per CPU the server runs on. pool-server keeps its pool; thread-server has no fixed number.
    pub server_threads: Option<u64>,
    /// Verification's warnings (protocol details) count as failures: a server with any is not measured.
    pub strict: bool,
    /// A cell whose predicted duration (warm-up included) exceeds this is skipped with the prediction as its
    /// reason: a pool of 2 workers needs 50 D for 100 io requests, and the model already says so.
    pub cell_budget: Duration,
}

impl MatrixConfig {
    pub fn for_profile(profile: ProfileName) -> MatrixConfig {
        let all_clients = ClientKind::ALL.iter().map(|&kind| Client { kind, engine: None }).collect();
        match profile {
            // CI's reproduction: the original experiment's shape on every server the lab has (the article's tornado
            // app joins them when tornado is installed, see `main.rs`), with D small enough to stay near a minute.
            ProfileName::Quick => MatrixConfig {
                clients: vec!["blocking-client".parse().unwrap(), "async-client".parse().unwrap()],
                workloads: vec![Workload::Io, Workload::Baseline, Workload::Blocking],
                concurrency: vec![10, 100],
                blocking_concurrency: vec![10],
                settings: WorkloadSettings { hello_ms: 200, block_ms: 100, fact_n: 2000 },
                cell_budget: Duration::from_secs(15),
                duration: Some(QUICK_DURATION),
                repeat: 1,
                ..MatrixConfig::for_profile(ProfileName::Default)
            }
            .with_profile(ProfileName::Quick),
            // The reference run: every server and workload, each cell 4 times in rounds over the whole run, so that
            // every comparison has a range (the noise rule of `noise.rs`: at 4 repetitions two identical cells
            // have disjoint ranges by chance in 2.9 % of comparisons, at 3 in 10 %). To keep it near half an hour it drops the combination that repeats another: pool-client's concurrency sweep measures the same
            // servers at the same points as async-client's (the client-vs-client question is the bench's and the
            // full profile's). blocking-client stays: it is the original experiment and the c=1 reference.
            ProfileName::Default => MatrixConfig {
                profile,
                servers: builtin_specs(),
                clients: vec!["blocking-client".parse().unwrap(), "async-client".parse().unwrap()],
                workloads: Workload::ALL.to_vec(),
                concurrency: vec![1, 10, 100],
                io_high_concurrency: vec![],
                blocking_concurrency: vec![1, 10],
                requests: None,
                duration: Some(DEFAULT_DURATION),
                settings: WorkloadSettings { hello_ms: 1000, block_ms: 200, fact_n: 2000 },
                repeat: 4,
                cpus: CpuPlacement::Shared { cpus: harness::process::allowed_cpus() },
                server_threads: None,
                keep_alive: true,
                timeout: None,
                strict: false,
                cell_budget: Duration::from_secs(12),
            },
            // The default one with every client (pool-client's sweep too) and io at 1,000 and 10,000 connections.
            ProfileName::Full => MatrixConfig {
                clients: all_clients,
                io_high_concurrency: vec![1000, 10000],
                cell_budget: Duration::from_secs(60),
                ..MatrixConfig::for_profile(ProfileName::Default)
            }
            .with_profile(ProfileName::Full),
            ProfileName::Original => MatrixConfig {
                workloads: vec![Workload::Io, Workload::Blocking],
                concurrency: vec![10],
                blocking_concurrency: vec![10],
                ..MatrixConfig::for_profile(ProfileName::Default)
            }
            .with_profile(ProfileName::Original),
        }
    }

    fn with_profile(mut self, profile: ProfileName) -> MatrixConfig {
        self.profile = profile;
        self
    }

    /// Requests per throughput cell of `workload` when `--requests` is not given. With a duration, still the
    /// base of the cell's warm-up ([`warmup_for`]).
    fn throughput_requests(&self, workload: Workload) -> u64 {
        if let Some(n) = self.requests {
            return n;
        }
        let quick = self.profile == ProfileName::Quick;
        match workload {
            Workload::Baseline => {
                if quick {
                    3000
                } else {
                    20000
                }
            }
            Workload::Cpu => {
                if quick {
                    200
                } else {
                    1000
                }
            }
            Workload::Db => {
                if quick {
                    300
                } else {
                    1000
                }
            }
            Workload::Mixed => {
                if quick {
                    200
                } else {
                    1000
                }
            }
            Workload::Io | Workload::Blocking => unreachable!("wait workloads send one request per connection"),
        }
    }

    /// The per-request timeout given to clients: `--timeout`, else [`WorkloadSettings::client_timeout`].
    pub fn client_timeout(&self) -> Duration {
        self.timeout.unwrap_or_else(|| self.settings.client_timeout())
    }

    /// Expands the configuration into the ordered list of cells.
    ///
    /// io and blocking send one request per connection (requests = concurrency), plus the original experiment's
    /// cells: blocking-client with 1 and 10 requests, and the first concurrent client with 10 at concurrency 10.
    pub fn cells(&self) -> Vec<CellSpec> {
        let mut cells = Vec::new();
        for server in &self.servers {
            for &workload in &self.workloads {
                for client in &self.clients {
                    for (concurrency, requests) in self.points(workload, client) {
                        // Throughput cells run for the configured duration; the warm-up stays what the request
                        // count made it.
                        let duration = self.duration.filter(|_| !workload.is_wait());
                        let spec = CellSpec {
                            server: server.clone(),
                            client: *client,
                            workload,
                            concurrency,
                            requests: if duration.is_some() { 0 } else { requests },
                            warmup: warmup_for(workload, concurrency, requests),
                            duration,
                        };
                        if !cells.iter().any(|c: &CellSpec| c.id() == spec.id()) {
                            cells.push(spec);
                        }
                    }
                }
            }
        }
        cells
    }

    /// (concurrency, requests) points of one client on one workload.
    fn points(&self, workload: Workload, client: &Client) -> Vec<(u64, u64)> {
        let mut points = Vec::new();
        match workload {
            Workload::Io if client.is_sequential() => {
                // The original experiment: one request ≈ D, ten one after another ≈ 10 D.
                points.push((1, 1));
                points.push((1, 10));
            }
            Workload::Io => {
                if self.is_experiment_client(client) {
                    // Ten at once ≈ D: the experiment's async half.
                    points.push((10, 10));
                }
                let mut levels = self.concurrency.clone();
                if client.is_async() {
                    levels.extend(&self.io_high_concurrency);
                }
                for c in levels {
                    points.push((c, c));
                }
            }
            Workload::Blocking if client.is_sequential() => points.push((1, 10)),
            Workload::Blocking => {
                for &c in &self.blocking_concurrency {
                    points.push((c, c));
                }
            }
            _ if client.is_sequential() => points.push((1, self.throughput_requests(workload))),
            _ => {
                for &c in &self.concurrency {
                    points.push((c, self.throughput_requests(workload).max(c)));
                }
            }
        }
        points.sort();
        points.dedup();
        points
    }

    /// The concurrent client that plays "ten async requests" in the original experiment: the first async-client
    /// of the list, or else the first concurrent client.
    pub fn is_experiment_client(&self, client: &Client) -> bool {
        let chosen =
            self.clients.iter().find(|c| c.is_async()).or_else(|| self.clients.iter().find(|c| !c.is_sequential()));
        chosen == Some(client)
    }
}

/// Warm-up requests before a cell, discarded: enough to open the connections and page in the code paths,
/// but for wait workloads one round at most, since each round costs D.
pub fn warmup_for(workload: Workload, concurrency: u64, requests: u64) -> u64 {
    if workload.is_wait() || workload == Workload::Mixed {
        concurrency.clamp(1, 10)
    } else {
        (requests / 10).clamp(1, 1000).max(concurrency.min(requests))
    }
}

/// One cell to run.
#[derive(Debug, Clone)]
pub struct CellSpec {
    pub server: ServerSpec,
    pub client: Client,
    pub workload: Workload,
    pub concurrency: u64,
    /// Requests per repetition; 0 when `duration` bounds the cell instead.
    pub requests: u64,
    pub warmup: u64,
    /// Throughput cells: each repetition runs this long after its warm-up (the client's `--duration`).
    pub duration: Option<Duration>,
}

impl CellSpec {
    /// `server/client/workload/cC/nN`, or `…/cC/dSs` for a cell bounded by a duration of S seconds.
    pub fn id(&self) -> String {
        let (server, client, workload, c) =
            (self.server.name(), self.client.label(), self.workload.as_str(), self.concurrency);
        match self.duration {
            Some(d) => format!("{server}/{client}/{workload}/c{c}/d{}s", d.as_secs_f64()),
            None => cell_id(server, &client, workload, c, self.requests),
        }
    }

    /// `n=N`, or `2 s` for a cell bounded by a duration.
    pub fn bound_label(&self) -> String {
        match self.duration {
            Some(d) => format!("{} s", d.as_secs_f64()),
            None => format!("n={}", self.requests),
        }
    }

    /// A short human label for progress lines.
    pub fn label(&self) -> String {
        format!(
            "{} × {} {} c={} {}",
            self.server.name(),
            self.client.label(),
            self.workload,
            self.concurrency,
            self.bound_label()
        )
    }
}

/// How long each repetition of a throughput cell runs after warm-up in the default (and full) profile: long
/// enough that start-up, connection set-up and the last requests' tail are a small part of it.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(2);
/// The quick profile's: CI's run keeps its length (its baseline cells used to take about this long each).
pub const QUICK_DURATION: Duration = Duration::from_millis(300);

pub fn cell_id(server: &str, client: &str, workload: &str, concurrency: u64, requests: u64) -> String {
    format!("{server}/{client}/{workload}/c{concurrency}/n{requests}")
}

/// The lab's own servers as the commands start them, in [`BUILTIN_SERVERS`]' order.
pub fn builtin_specs() -> Vec<ServerSpec> {
    BUILTIN_SERVERS.iter().map(|s| ServerSpec::Builtin(s.to_string())).collect()
}

/// Which servers a command verifies and measures: the flags `lab matrix`, `soak`, `slowloris`, `verify` and
/// `capacity` share.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ServerArgs {
    /// The lab's servers to include, comma-separated, or `none` (default: the profile's for matrix, all of them
    /// otherwise).
    #[arg(long)]
    pub servers: Option<String>,
    /// A foreign server: NAME='COMMAND with {port}', run with sh -c on a free port. Repeatable.
    #[arg(long = "server", value_name = "NAME=COMMAND")]
    pub foreign: Vec<String>,
    /// A server the lab does not start (another machine, a container): NAME=http://HOST:PORT (docs/distributed.md).
    /// Verified and measured like the others; its cost is not sampled. Repeatable. Not for soak or slowloris,
    /// which sample the server's process.
    #[arg(long = "target", value_name = "NAME=URL")]
    pub targets: Vec<String>,
    /// Verification's warnings (protocol details such as a 405 without Allow) count as failures, and the framing
    /// catalogue and corpus run too (RFC 9112's message framing, request smuggling): a server that fails is not
    /// measured.
    #[arg(long)]
    pub strict: bool,
}

impl ServerArgs {
    /// The servers named, over the command's `defaults` ([`server_specs`]).
    pub fn specs(&self, defaults: Vec<ServerSpec>) -> Result<Vec<ServerSpec>, UsageError> {
        server_specs(self.servers.as_deref(), &self.foreign, &self.targets, defaults)
    }
}

/// The servers of a command line: `--servers LIST` (the lab's, comma-separated, or `none`; absent = `defaults`)
/// plus each `--server NAME='COMMAND'` and each `--target NAME=URL`. An unknown or repeated name, a bad URL, or
/// no server at all, is the user's error.
pub fn server_specs(
    list: Option<&str>,
    foreign: &[String],
    targets: &[String],
    defaults: Vec<ServerSpec>,
) -> Result<Vec<ServerSpec>, UsageError> {
    let mut servers = match list {
        None => defaults,
        Some("none") | Some("") => vec![],
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                if BUILTIN_SERVERS.contains(&s) {
                    Ok(ServerSpec::Builtin(s.to_string()))
                } else {
                    Err(format!(
                        "unknown server {s:?} (known: {}; add others with --server NAME='COMMAND')",
                        BUILTIN_SERVERS.join(", ")
                    ))
                }
            })
            .collect::<Result<_, _>>()?,
    };
    let added =
        foreign.iter().map(|s| ServerSpec::parse_foreign(s)).chain(targets.iter().map(|t| ServerSpec::parse_target(t)));
    for spec in added {
        let spec = spec?;
        if servers.iter().any(|s| s.name() == spec.name()) {
            return Err(format!("two servers are named {}", spec.name()).into());
        }
        servers.push(spec);
    }
    if servers.is_empty() {
        return Err("no server to run (--servers none and no --server or --target)".into());
    }
    Ok(servers)
}

/// Parses `1,10,100` into a sorted, deduplicated list of positive numbers.
pub fn parse_number_list(s: &str) -> Result<Vec<u64>, String> {
    let mut values = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let v: u64 = part.parse().map_err(|_| format!("{part:?} is not a positive whole number"))?;
        if v == 0 {
            return Err("0 is not a valid count".to_string());
        }
        values.push(v);
    }
    if values.is_empty() {
        return Err("the list is empty".to_string());
    }
    values.sort_unstable();
    values.dedup();
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_db_workload_posts_and_the_others_get() {
        let settings = WorkloadSettings { hello_ms: 1000, block_ms: 100, fact_n: 1000 };
        let origin = "http://127.0.0.1:9";
        let urls = |w: Workload| w.paths(&settings).iter().map(|p| url_for(origin, p)).collect::<Vec<_>>();
        assert_eq!(urls(Workload::Db), ["POST http://127.0.0.1:9/db/visit?name=lab"]);
        assert_eq!(urls(Workload::Baseline), ["http://127.0.0.1:9/no/param"]);
        // mixed only reads the database: GETs throughout.
        assert!(urls(Workload::Mixed).iter().all(|u| u.starts_with("http://")), "{:?}", urls(Workload::Mixed));
    }

    #[test]
    fn quick_profile_contains_the_original_experiment() {
        let config = MatrixConfig::for_profile(ProfileName::Quick);
        let ids: Vec<String> = config.cells().iter().map(CellSpec::id).collect();
        for server in BUILTIN_SERVERS {
            assert!(ids.contains(&format!("{server}/blocking-client/io/c1/n1")), "{ids:?}");
            assert!(ids.contains(&format!("{server}/blocking-client/io/c1/n10")));
            assert!(ids.contains(&format!("{server}/async-client/io/c10/n10")));
        }
        // ids are unique
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len());
    }

    #[test]
    fn throughput_cells_run_for_a_duration_wait_cells_for_a_count() {
        let config = MatrixConfig::for_profile(ProfileName::Default);
        let cells = config.cells();
        for cell in &cells {
            if cell.workload.is_wait() {
                assert_eq!(cell.duration, None, "{}", cell.id());
                assert!(cell.requests > 0 && cell.id().contains("/n"), "{}", cell.id());
            } else {
                assert_eq!((cell.duration, cell.requests), (Some(DEFAULT_DURATION), 0), "{}", cell.id());
                assert!(cell.id().ends_with("/d2s") && cell.label().ends_with(" 2 s"), "{}", cell.id());
                // The warm-up is what the request count made it: a tenth of 20,000 empty answers, at most 1,000.
                if cell.workload == Workload::Baseline {
                    assert_eq!(cell.warmup, 1000, "{}", cell.id());
                }
            }
        }
        assert!(cells.iter().any(|c| c.id() == "smol-server/async-client/baseline/c100/d2s"));
        let quick = MatrixConfig::for_profile(ProfileName::Quick).cells();
        assert!(quick.iter().any(|c| c.id() == "smol-server/async-client/baseline/c10/d0.3s"), "{quick:?}");
        // `--requests` turns the duration off: counts again.
        let counted = MatrixConfig { requests: Some(500), duration: None, ..config };
        assert!(counted.cells().iter().all(|c| c.duration.is_none() && c.requests > 0));
        assert!(counted.cells().iter().any(|c| c.id() == "smol-server/async-client/baseline/c10/n500"));
    }

    #[test]
    fn full_profile_adds_high_concurrency_io_for_async_clients_only() {
        let config = MatrixConfig::for_profile(ProfileName::Full);
        let cells = config.cells();
        assert!(cells.iter().any(|c| c.workload == Workload::Io && c.concurrency == 10000 && c.client.is_async()));
        assert!(!cells.iter().any(|c| c.concurrency == 10000 && !c.client.is_async()));
        assert!(!cells.iter().any(|c| c.concurrency == 10000 && c.workload != Workload::Io));
    }

    #[test]
    fn client_and_server_specs_parse_or_say_why_not() {
        assert_eq!(
            "async-client:lean".parse::<Client>().unwrap(),
            Client { kind: ClientKind::AsyncClient, engine: Some(crate::records::run::Engine::Lean) }
        );
        assert!("pool-client:lean".parse::<Client>().is_err());
        assert!("curl".parse::<Client>().is_err());
        assert!(ServerSpec::parse_foreign("py=python3 app.py --port {port}").is_ok());
        assert!(ServerSpec::parse_foreign("py=python3 app.py").unwrap_err().0.contains("{port}"));
        assert!(ServerSpec::parse_foreign("python3 app.py").is_err());
        let target = |s: &str| ServerSpec::parse_target(s);
        let remote = |name: &str, origin: &str| ServerSpec::Remote { name: name.into(), origin: origin.into() };
        assert_eq!(target("far=http://10.0.0.7:8000"), Ok(remote("far", "http://10.0.0.7:8000")));
        assert_eq!(target("far=http://box.example/"), Ok(remote("far", "http://box.example:80")));
        assert_eq!(target("v6=http://[::1]:9/"), Ok(remote("v6", "http://[::1]:9")));
        for (bad, why) in [
            ("http://h:1", "NAME=URL"),
            ("far=https://h:1", "http://"),
            ("far=h:1", "http://"),
            ("far=http://h:1/api", "path"),
            ("far=http://h:1/?x=1", "path"),
            ("far=http://h:99999", "not a URL"),
            ("far=http://h:0", "not a URL"),
            ("far=http://u:p@h:1", "credentials"),
            ("a/b=http://h:1", "name"),
            ("far=not a url", "not a URL"),
        ] {
            let error = target(bad).unwrap_err().0;
            assert!(error.contains(why) && !error.contains('\n'), "{bad}: {error}");
        }
        assert_eq!(parse_number_list("100, 1,10,10").unwrap(), vec![1, 10, 100]);
        assert!(parse_number_list("1,x").is_err());
        assert!(parse_number_list("0").is_err());
    }

    #[test]
    fn cpu_placements_split_or_share() {
        let split = CpuPlacement::split_of(&[0, 1]);
        assert_eq!(split, CpuPlacement::Split { server: vec![0], client: vec![1] });
        assert_eq!(CpuPlacement::split_of(&[0, 1, 2, 3]).server(), &[0, 1]);
        assert!(CpuPlacement::split_of(&[0]).pins().is_none());
        assert_eq!(CpuPlacement::parse("server=0,client=1", &[0, 1]).unwrap(), split);
        assert_eq!(CpuPlacement::parse("server=0-1,client=2+3", &[0, 1, 2, 3]).unwrap().client(), &[2, 3]);
        assert!(CpuPlacement::parse("shared", &[0, 1]).unwrap().pins().is_none());
        assert!(CpuPlacement::parse("server=0", &[0, 1]).unwrap_err().0.contains("both sides"));
        assert!(CpuPlacement::parse("server=0,client=7", &[0, 1]).unwrap_err().0.contains("not available"));
        assert!(CpuPlacement::parse("server=x,client=1", &[0, 1]).is_err());
    }
}
