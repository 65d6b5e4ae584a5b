//! The run document (`RUN-ID.json`): what one `lab matrix` measured, versioned and documented in
//! `lab/SCHEMA.md`.
//!
//! Everything the lab prints (markdown, CSV, charts, comparisons) is rebuilt from this one document, so it holds
//! the raw figures of every repetition, not only the medians. Bump [`SCHEMA_VERSION`] on any change that renames,
//! removes or re-types a field; adding an optional field is not a change of version. The words shared by every
//! document (`Status`, `Failures`, `Latency`, the concurrency `Model`…) live here too.

use super::header::{CodeTrees, RunHeader};
use serde::{Deserialize, Serialize};

word_enum! {
    /// What became of a cell, a soaked server, a minute of a soak, an attacked server.
    Status {
        /// Measured.
        #[default]
        Ok = "ok",
        /// Tried and failed: `reason` says how.
        Failed = "failed",
        /// Not tried: `reason` says why (failed verify, interrupted, over the cell budget).
        Skipped = "skipped",
    }
}

word_enum! {
    /// The outcome of a server's verification.
    VerifyStatus {
        #[default]
        Passed = "passed",
        Failed = "failed",
        /// The server did not start, or the run was interrupted.
        NotRun = "not-run",
    }
}

word_enum! {
    /// One check of the verification.
    CheckOutcome {
        #[default]
        Pass = "pass",
        Fail = "fail",
        /// An optional check a foreign server does not implement.
        Skip = "skip",
        /// A protocol detail the server gets wrong (a missing `Allow`, `Date` or `Server`, another
        /// `Content-Type`): recorded and shown, but the server is measured (unless `--strict`).
        Warn = "warn",
    }
}

word_enum! {
    /// Where a server comes from.
    ServerKind {
        /// A binary of the `servers` package.
        #[default]
        Builtin = "builtin",
        /// `--server NAME='COMMAND'`.
        Foreign = "foreign",
        /// `--target NAME=URL`: a server the lab does not start; `command` holds its URL.
        Remote = "remote",
    }
}

word_enum! {
    /// How a server runs requests concurrently, as the model uses it (see `model::ConcurrencyModel`).
    Model {
        ThreadPerRequest = "thread-per-request",
        Pool = "pool",
        Async = "async",
        /// Stackful coroutines on a user-space scheduler (coroutine-server).
        Coroutine = "coroutine",
        /// Completion-based I/O: the kernel does the reads and writes and reports them done (uring-server).
        Completion = "completion",
        #[default]
        Unknown = "unknown",
    }
}

impl Model {
    /// Whether a waiting request holds no thread: async tasks, stackful coroutines and completion loops wait on
    /// any number of requests with a few threads, and a blocking call holds one of those few.
    pub fn waits_without_a_thread(self) -> bool {
        matches!(self, Model::Async | Model::Coroutine | Model::Completion)
    }

    /// What one of the server's few threads is called in a sentence: "executor thread", …
    pub fn thread_word(self) -> &'static str {
        match self {
            Model::Coroutine => "scheduler thread",
            Model::Completion => "loop thread",
            _ => "executor thread",
        }
    }
}

word_enum! {
    /// async-client's HTTP engine (`--engine`), part of a client's label: `async-client:lean`.
    Engine {
        #[default]
        Surf = "surf",
        Lean = "lean",
        /// The lean engine's bytes on an explicit event loop per thread: the cheapest instrument.
        Loop = "loop",
    }
}

word_enum! {
    /// The lab's client binaries (clients/src/bin/).
    ClientKind {
        /// One request at a time: no `-c`.
        BlockingClient = "blocking-client",
        PoolClient = "pool-client",
        #[default]
        AsyncClient = "async-client",
    }
}

/// A client of a cell: one of the lab's client binaries, with async-client's engine (`--engine`; None = the
/// client's default). In the JSON and the tables, its label: `async-client` or `async-client:lean`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Client {
    pub kind: ClientKind,
    pub engine: Option<Engine>,
}

impl Client {
    /// The client binary `kind` with its default engine.
    pub const fn plain(kind: ClientKind) -> Client {
        Client { kind, engine: None }
    }

    /// The name used in tables and cell ids: `async-client` or `async-client:lean`.
    pub fn label(&self) -> String {
        self.to_string()
    }

    /// The binary's file name.
    pub fn binary(&self) -> &'static str {
        self.kind.as_str()
    }

    /// blocking-client sends one request at a time and takes no `-c`.
    pub fn is_sequential(&self) -> bool {
        self.kind == ClientKind::BlockingClient
    }

    pub fn is_async(&self) -> bool {
        self.kind == ClientKind::AsyncClient
    }
}

impl std::fmt::Display for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.engine {
            Some(engine) => write!(f, "{}:{engine}", self.kind),
            None => f.write_str(self.kind.as_str()),
        }
    }
}

impl std::str::FromStr for Client {
    type Err = String;
    /// `blocking-client`, `pool-client`, `async-client`, or `async-client:ENGINE`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (binary, engine) = match s.split_once(':') {
            Some((b, e)) => (b, Some(e)),
            None => (s, None),
        };
        let kind: ClientKind = binary.parse()?;
        let engine = match engine {
            None => None,
            Some(e) => match Engine::from_word(e) {
                Some(engine) if kind == ClientKind::AsyncClient => Some(engine),
                _ => return Err(format!("client {s:?}: only async-client has engines (surf, lean, loop)")),
            },
        };
        Ok(Client { kind, engine })
    }
}

impl TryFrom<String> for Client {
    type Error = String;
    fn try_from(label: String) -> Result<Self, String> {
        label.parse()
    }
}

impl From<Client> for String {
    fn from(client: Client) -> String {
        client.label()
    }
}

word_enum! {
    /// Which side used (nearly) all of its own CPU set: `model::SATURATED` of it.
    Saturation {
        /// The server's CPUs were busy and the client's were not: the figure is the server's.
        Server = "server-saturated",
        /// The client's CPUs were busy and the server's were not: the figure is the client's ceiling, never
        /// evidence about the server.
        Client = "client-saturated",
        /// Both sides were busy: the figure is the machine's.
        Both = "both-saturated",
        #[default]
        None = "none",
    }
}

word_enum! {
    /// Which side of a cell kept a whole core busy.
    Bottleneck {
        /// The client used a full core and the server did not: the figure is the client's ceiling.
        ClientBound = "client-bound",
        /// The server used a full core.
        ServerBound = "server-bound",
        #[default]
        None = "none",
    }
}

word_enum! {
    /// The kinds of work a request does. Each is one route of the workload contract (mixed cycles through several).
    /// Declared in the order a profile runs them (and the run lists their paths).
    Workload {
        /// `/say/hello?ms=D`: waiting, not working. Where async should shine.
        #[default]
        Io = "io",
        /// `/no/param`: an empty 200, the cost of the server machinery itself.
        Baseline = "baseline",
        /// `/fact?n=N&cache=0`: pure computation on the handler's thread.
        Cpu = "cpu",
        /// `POST /db/visit`: a write to SQLite.
        Db = "db",
        /// `/block?ms=D`: a blocking sleep inside the handler — the anti-pattern on an async server.
        Blocking = "blocking",
        /// A blend: one short wait, one factorial, one empty 200, one database read, in turn.
        Mixed = "mixed",
    }
}

impl Workload {
    /// Wall-time workloads are read as "how long did N requests take" (io, blocking); the others as throughput.
    pub fn is_wait(self) -> bool {
        matches!(self, Workload::Io | Workload::Blocking)
    }
}

/// `KernelStack` and `Slab` of `/proc/meminfo`, KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelMemory {
    pub kernel_stack_kib: u64,
    pub slab_kib: u64,
}

impl KernelMemory {
    /// Each figure's larger value.
    pub fn max(self, other: KernelMemory) -> KernelMemory {
        KernelMemory {
            kernel_stack_kib: self.kernel_stack_kib.max(other.kernel_stack_kib),
            slab_kib: self.slab_kib.max(other.slab_kib),
        }
    }

    /// Growth from `start` to `self`, each figure at least 0.
    pub fn since(self, start: KernelMemory) -> KernelMemory {
        KernelMemory {
            kernel_stack_kib: self.kernel_stack_kib.saturating_sub(start.kernel_stack_kib),
            slab_kib: self.slab_kib.saturating_sub(start.slab_kib),
        }
    }

    pub fn total_kib(self) -> u64 {
        self.kernel_stack_kib + self.slab_kib
    }
}

word_enum! {
    /// A named set of defaults of the matrix (`lab matrix --profile`).
    #[derive(clap::ValueEnum)]
    ProfileName {
        Quick = "quick",
        #[default]
        Default = "default",
        Full = "full",
        /// The article's experiment alone (io and blocking, one and ten requests) on every server, the article's
        /// own tornado app among them when tornado is installed.
        Original = "original",
    }
}

word_enum! {
    /// What kind of run a companion file is.
    CompanionKind {
        /// `lab capacity`: the highest open-loop rate each server held per workload.
        #[default]
        Capacity = "capacity",
        /// `lab bench`'s reach part: io at thousands of connections.
        Reach = "reach",
        /// `lab primitives`: what a thread, a task, a coroutine and an idle connection cost (`lab::chain`).
        Primitives = "primitives",
    }
}

/// The figures taken from a companion run, embedded in the matrix run so that its markdown does not need the file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Companion {
    pub kind: CompanionKind,
    /// The file name it was read from (`capacity-RUN-ID.json`).
    pub source: String,
    pub run_id: String,
    pub git_commit: String,
    pub git_dirty: bool,
    /// The code it measured (`environment.trees` of its run); absent in runs made before the lab recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trees: Option<CodeTrees>,
    /// The client that loaded the servers, as that run names it.
    pub client: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capacity: Vec<CapacityFigure>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reach: Vec<ReachFigure>,
    /// A bench run's cost per connection: the fits over its levels of waiting connections (its cost part).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_connection: Vec<ConnectionCost>,
    /// A primitives run's figures, for the chain primitive → model → server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primitives: Option<PrimitiveFigures>,
}

/// What the chain primitive → model → server takes from a `lab primitives` run (`lab::chain`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PrimitiveFigures {
    /// The CPU set the thread creation was timed on (the first: one CPU, as the matrix's server has).
    pub cpus: String,
    /// The median create-and-join of an OS thread there, ns.
    pub thread_create_ns: Option<f64>,
    /// An idle thread, task and coroutine (`unit`: the primitive's word), then idle keep-alive connections
    /// (`unit`: the server's name, or `listener` for the two sockets alone).
    pub units: Vec<UnitMemory>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connections: Vec<UnitMemory>,
}

/// The memory of one idle unit or connection: the slopes whose lines were clear (r² at the bar), KiB.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UnitMemory {
    pub unit: String,
    pub user_kib: Option<f64>,
    /// `KernelStack` + `Slab`; machine-wide, both ends of a connection.
    pub kernel_kib: Option<f64>,
}

/// One server × workload of a capacity run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CapacityFigure {
    pub server: String,
    pub workload: Workload,
    /// req/s held with p99 under the target; None when it held no rate (see `status`).
    pub capacity_rps: Option<f64>,
    /// The lowest rate that failed; None when every rate offered held (the capacity is then at least
    /// `capacity_rps`: the sweep's bound, not the server's). The true capacity lies in
    /// [`capacity_rps`, `first_failed_rps`). Absent from runs embedded before it was read.
    #[serde(default)]
    pub first_failed_rps: Option<f64>,
    pub status: Status,
    /// What bounded the load generator instead of the server, if anything: the figure is the client's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_bound: Option<String>,
}

/// One server × level of a bench run's reach part.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReachFigure {
    pub server: String,
    pub connections: u64,
    pub wall_s: Option<f64>,
    pub failed: u64,
    pub status: Status,
    /// What the bench found stopped the level from reaching D (`cpu`, `fd-limit`, `listen-overflow`), if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// The version of the run JSON this lab writes (top-level `schema_version`).
pub const SCHEMA_VERSION: u32 = 4;

/// One run of the matrix.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Run {
    /// Run id, times, build, environment, interrupted, notes: what every command's document starts with. Its
    /// fields read as the run's own (`run.run_id`), through `Deref`.
    #[serde(flatten)]
    pub header: RunHeader,
    /// `quick`, `default`, `full` or `original`.
    pub profile: ProfileName,
    pub settings: Settings,
    /// Every server of the run, with the outcome of its verification.
    pub servers: Vec<ServerRecord>,
    pub cells: Vec<Cell>,
    pub analysis: Analysis,
    pub overhead: Overhead,
    /// Figures taken from companion runs (`--with capacity-*.json`, `--with bench-*.json`) for the headline, with
    /// their source file and commit (added in schema 3; absent when none was given).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub companions: Vec<Companion>,
}

document!(Run, Matrix, 1..=SCHEMA_VERSION);

impl std::ops::DerefMut for Run {
    fn deref_mut(&mut self) -> &mut RunHeader {
        &mut self.header
    }
}

/// The knobs the matrix ran with.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Settings {
    /// D: how long `/say/hello` waits, for `io` (ms).
    pub hello_ms: u64,
    /// How long `/block` sleeps on the handler's thread, for `blocking` (ms).
    pub block_ms: u64,
    /// n for `/fact?n=N&cache=0`, the `cpu` workload.
    pub fact_n: u64,
    /// Measured repetitions of each cell (the cell reports the median and the spread).
    pub repeat: u32,
    pub keep_alive: bool,
    /// The per-request timeout given to the clients (s).
    pub timeout_s: f64,
    /// Cells the model predicts to take longer (warm-up included) are skipped (s).
    #[serde(default)]
    pub cell_budget_s: f64,
    pub servers: Vec<String>,
    pub clients: Vec<Client>,
    pub workloads: Vec<Workload>,
    pub concurrency: Vec<u64>,
    /// The paths of each workload, in the order the clients cycle through them.
    pub workload_paths: Vec<WorkloadPaths>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkloadPaths {
    pub workload: Workload,
    pub paths: Vec<String>,
    pub description: String,
}

/// A server of the run: the lab's own or a foreign one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerRecord {
    pub name: String,
    /// `builtin` (a binary of the `servers` package), `foreign` (`--server NAME='COMMAND'`) or `remote`
    /// (`--target NAME=URL`).
    pub kind: ServerKind,
    /// What the lab ran; for a remote target, the URL it measured (`http://HOST:PORT`).
    pub command: String,
    /// Why the server's cost (CPU, RSS, threads, saturation) is absent from its cells (`server_cost` null):
    /// set for a remote target, whose process the lab cannot see. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_not_sampled: Option<String>,
    pub verify: VerifyRecord,
    /// The server's `/health` document, when it has one, verbatim: its fields are the server's own (a foreign
    /// server's differ), so it is the one untyped part of a record; `model` and `verify` read what they need of it.
    pub health: Option<serde_json::Value>,
    /// How it runs requests concurrently, as the model uses it: `thread-per-request`, `pool`, `async` or `unknown`.
    pub model: Model,
    /// Worker or executor threads × processes, from `/health` (None when unknown or unbounded).
    pub worker_threads: Option<u64>,
}

#[cfg(test)]
impl ServerRecord {
    /// A built-in server that passed its verification, for tests.
    pub fn passed(name: &str, model: Model, worker_threads: Option<u64>) -> ServerRecord {
        ServerRecord {
            name: name.into(),
            kind: ServerKind::Builtin,
            command: String::new(),
            cost_not_sampled: None,
            verify: VerifyRecord {
                status: VerifyStatus::Passed,
                passed: 1,
                failed: 0,
                warnings: 0,
                reason: None,
                checks: vec![],
            },
            health: None,
            model,
            worker_threads,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerifyRecord {
    /// `passed`, `failed` or `not-run` (the server did not start, or the run was interrupted). A server with
    /// warnings and no failure has passed, unless the run was `--strict`.
    pub status: VerifyStatus,
    pub passed: u64,
    pub failed: u64,
    /// Checks whose outcome is `warn` (added in schema 2 of this record; absent in older runs).
    #[serde(default)]
    pub warnings: u64,
    /// The first failed check, in one line; None when passed.
    pub reason: Option<String>,
    pub checks: Vec<CheckRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckRecord {
    pub name: String,
    /// `pass`, `fail`, `warn` (a protocol detail: the server is still measured) or `skip` (an optional check a
    /// foreign server does not implement).
    pub outcome: CheckOutcome,
    pub detail: String,
}

word_enum! {
    /// What bounded each repetition of a cell.
    Bound {
        /// A number of requests (`requests`): "how long do N requests take" (io, blocking; any cell of a run made
        /// with `--requests`, and every cell of runs before schema version 4).
        #[default]
        Requests = "requests",
        /// A duration (`duration_s`, after warm-up): "how many requests per second" (the throughput workloads).
        Duration = "duration",
    }
}

/// One cell: a server × client × workload × concurrency × request count (or duration), measured `repeat` times.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Cell {
    /// `server/client/workload/cC/nN` (`…/cC/dSs` for a cell bounded by S seconds): unique in a run, and how
    /// `lab compare` matches cells of two runs.
    pub id: String,
    pub server: String,
    /// The client as named on the command line, with its engine: `async-client:lean`.
    pub client: Client,
    pub workload: Workload,
    pub concurrency: u64,
    /// Requests per repetition when `bound` is `requests`; 0 when a duration bounded the cell.
    pub requests: u64,
    /// What bounded each repetition: `requests` or `duration`. Absent before schema version 4 (`requests`).
    #[serde(default)]
    pub bound: Bound,
    /// Seconds each repetition ran after its warm-up, when `bound` is `duration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    /// Requests that completed (succeeded or failed) in the median repetition: `requests` for a count-bound
    /// cell that ran to the end; what the duration let through for a duration-bound one.
    #[serde(default)]
    pub requests_completed: u64,
    /// Requests sent before measuring, discarded.
    pub warmup: u64,
    pub keep_alive: bool,
    /// `ok`, `failed` (see `reason`) or `skipped` (see `reason`).
    pub status: Status,
    pub reason: Option<String>,
    /// The last lines of the server's (or client's) stderr when the cell failed.
    pub stderr_tail: Option<String>,
    /// Which system limit probably stopped the cell, when one did.
    pub limit_hint: Option<String>,
    /// The median repetition's figures (by wall time).
    pub wall_s: Option<f64>,
    pub throughput_rps: Option<f64>,
    pub latency_us: Option<Latency>,
    pub succeeded: u64,
    pub failed: u64,
    pub failures: Failures,
    pub server_cost: Option<ServerCost>,
    pub client_cost: Option<ClientCost>,
    /// Spread of the repetitions; with one repetition min = max.
    pub spread: Option<Spread>,
    /// The prediction, for `io` and `blocking`: D × ceil(requests ÷ effective concurrency).
    pub expected_wall_s: Option<f64>,
    pub effective_concurrency: Option<u64>,
    /// expected ÷ measured wall time: 1.0 is the model's ideal.
    pub efficiency: Option<f64>,
    /// `client-bound`, `server-bound` or `none`.
    pub bottleneck: Option<Bottleneck>,
    /// The server's CPU time (user + system) per successful request in µs, of the median repetition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_cpu_us_per_request: Option<f64>,
    /// Each side's CPU use ÷ the number of CPUs of its own set (`cpus` in the run header): 1.0 = all busy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_utilisation: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_utilisation: Option<f64>,
    /// Which side's CPU set was saturated (from the two utilisations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saturation: Option<Saturation>,
    /// Every repetition's raw figures.
    pub runs: Vec<Measurement>,
}

/// One repetition of a cell.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measurement {
    pub wall_s: f64,
    pub throughput_rps: f64,
    pub latency_us: Latency,
    pub succeeded: u64,
    pub failed: u64,
    pub failures: Failures,
    /// From the client process's start to its exit, warm-up included: the window the costs are taken over.
    pub window_s: f64,
    pub server_cost: Option<ServerCost>,
    pub client_cost: Option<ClientCost>,
    /// What the measured server instance said of itself on `/health` before the load: its model and its worker
    /// or executor threads × processes. The cell's prediction uses it. Absent for a server without `/health`
    /// and in runs made before it was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<Instance>,
    /// Cells of at most `client::TIMELINE_MAX_REQUESTS` requests: each request's send and response in µs
    /// from the first send, in send order, as the client reported it (`--timeline`). Absent otherwise and from
    /// older runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Vec<harness::report::TimelineEntry>>,
}

/// A measured server instance's concurrency, from its own `/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub model: Model,
    /// Worker or executor threads × processes; None when unbounded (thread-per-request).
    pub worker_threads: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Failures {
    pub connect: u64,
    pub timeout: u64,
    pub status: u64,
    pub other: u64,
    /// Open-loop client runs only (`lab capacity`): requests given up unsent because every connection stayed
    /// busy past `--timeout` after their intended send time. Absent (0) from closed-loop runs and older JSON.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unsent: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The server's cost during a cell: a fresh server process per repetition, so these are the cell's alone.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServerCost {
    /// Highest resident set seen by the sampler (all processes of the server), and VmHWM at the end.
    pub peak_rss_kib: u64,
    pub hwm_kib: u64,
    /// RSS right after start-up, before the client connected.
    pub start_rss_kib: u64,
    pub peak_threads: u64,
    pub peak_processes: u64,
    /// CPU time of the server's whole life (start-up, warm-up, cell), from wait4's rusage.
    pub user_s: f64,
    pub sys_s: f64,
    /// (user + sys) ÷ the client's window: cores the server kept busy.
    pub cpu_cores: f64,
    pub voluntary_ctxt: u64,
    pub nonvoluntary_ctxt: u64,
    /// How many /proc samples were taken.
    pub samples: u64,
    /// Growth of the machine's kernel memory (`KernelStack`, `Slab` of /proc/meminfo) from the first sample to
    /// the server's peak (its largest RSS and thread count) during the cell: kernel stacks of the server's
    /// threads, sockets of both ends, and anything else
    /// the machine did meanwhile. Absent from runs made before it was added.
    #[serde(default)]
    pub kernel_growth: Option<KernelMemory>,
}

/// The client's cost: from wait4's rusage of the client process, plus what the client reported of itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClientCost {
    pub user_s: f64,
    pub sys_s: f64,
    pub cpu_cores: f64,
    pub voluntary_ctxt: u64,
    pub nonvoluntary_ctxt: u64,
    pub peak_threads: Option<u64>,
    pub peak_rss_kib: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Spread {
    pub repeats: u64,
    pub wall_s_min: f64,
    pub wall_s_max: f64,
    pub throughput_min: f64,
    pub throughput_max: f64,
    /// (max − min) ÷ median of the wall time: the run's own noise for this cell.
    pub relative: f64,
}

/// What the lab concluded from the cells.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Analysis {
    /// The original experiment per server: 1 request ≈ D, 10 blocking ≈ 10 D, 10 async ≈ D.
    pub experiment: Vec<ExperimentRow>,
    pub shape: ShapeCheck,
    /// Server RSS and threads per in-flight connection: slopes of a linear fit over the io concurrency sweep.
    pub per_connection: Vec<ConnectionCost>,
    /// Plain sentences generated from the numbers.
    pub narrative: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExperimentRow {
    pub server: String,
    pub d_s: f64,
    pub one_request: Option<ExperimentPoint>,
    pub ten_blocking: Option<ExperimentPoint>,
    pub ten_async: Option<ExperimentPoint>,
    /// The concurrent client used for the "10 async" column.
    pub async_client: Option<Client>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ExperimentPoint {
    pub expected_s: f64,
    pub measured_s: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ShapeCheck {
    /// False when the cells it needs were not measured.
    pub evaluated: bool,
    pub holds: bool,
    /// One line per server and rule, saying what was measured against what bound.
    pub details: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectionCost {
    pub server: String,
    pub client: Client,
    pub workload: Workload,
    /// (concurrency, peak RSS KiB, peak threads) of each cell in the fit.
    pub points: Vec<(u64, u64, u64)>,
    pub rss_kib_per_connection: f64,
    pub threads_per_connection: f64,
    /// Goodness of the RSS fit (1.0 = a straight line).
    pub rss_r2: f64,
    /// Kernel memory per in-flight connection (slopes of the cells' `kernel_growth`): `KernelStack` (threads),
    /// `Slab` (sockets, task structures; both ends of the connection), their sum, and the sum with
    /// `rss_kib_per_connection`. Absent when a cell had no kernel figures (or from older runs).
    #[serde(default)]
    pub kernel_stack_kib_per_connection: Option<f64>,
    #[serde(default)]
    pub slab_kib_per_connection: Option<f64>,
    #[serde(default)]
    pub kernel_kib_per_connection: Option<f64>,
    #[serde(default)]
    pub total_kib_per_connection: Option<f64>,
}

/// How much of the run's wall time went to measured cells; the rest is the lab's own overhead.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Overhead {
    pub total_s: f64,
    pub measured_s: f64,
    pub outside_s: f64,
    /// outside ÷ total.
    pub fraction: f64,
}

impl Overhead {
    /// Of a run that lasted `total`, `measured` of it in client processes (at most `total`).
    pub fn of(total: std::time::Duration, measured: std::time::Duration) -> Overhead {
        let (total, measured) = (total.as_secs_f64(), measured.as_secs_f64().min(total.as_secs_f64()));
        let fraction = if total > 0.0 { (total - measured) / total } else { 0.0 };
        Overhead { total_s: total, measured_s: measured, outside_s: total - measured, fraction }
    }
}

impl Run {
    /// The cells of one workload, in run order.
    pub fn cells_of(&self, workload: Workload) -> impl Iterator<Item = &Cell> + '_ {
        self.cells.iter().filter(move |c| c.workload == workload)
    }

    /// Every server of the run, in run order: the ones started (`servers`), then any only a cell names.
    pub fn server_names(&self) -> Vec<String> {
        let started = self.servers.iter().map(|s| s.name.clone());
        super::first_seen(started.chain(self.cells.iter().map(|c| c.server.clone())))
    }

    /// Workloads that have at least one cell, in run order.
    pub fn workloads(&self) -> Vec<Workload> {
        super::first_seen(self.cells.iter().map(|c| c.workload))
    }
}

impl Cell {
    pub fn is_ok(&self) -> bool {
        self.status == Status::Ok
    }

    /// Requests the median repetition measured: its count, or for a duration-bound cell the ones that completed
    /// (and, in runs made before the field existed, the count).
    pub fn measured_requests(&self) -> u64 {
        match self.bound {
            Bound::Duration => self.requests_completed,
            Bound::Requests => self.requests,
        }
    }

    /// `n = N`, or `2 s` for a duration-bound cell.
    pub fn bound_label(&self) -> String {
        match (self.bound, self.duration_s) {
            (Bound::Duration, Some(d)) => format!("{d} s"),
            _ => format!("n = {}", self.requests),
        }
    }
}
