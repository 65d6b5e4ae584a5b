//! The bench document (`bench-RUN-ID.json`): what one `lab bench` measured, versioned and documented in
//! `lab/SCHEMA.md` ("The bench JSON").
//!
//! Like the run document, it holds every round's raw figures, not only the medians, and the markdown is rendered
//! from it alone. The io sweeps (reach, cost) reuse the run's [`Cell`] as they are: a cell of the bench reads
//! exactly like a cell of `lab matrix`. The kernel's figures (`TcpCounters`, `AcceptQueue`), the floor and the
//! cause of a missed level are records of this document too; `kernel`, `bench::floor` and `stopped` measure them.

use super::header::RunHeader;
use super::run::{Cell, ConnectionCost, Failures, Model, Overhead, ServerRecord, Status};
pub use harness::report::ConnectTime;
use serde::{Deserialize, Serialize};

/// The version of the bench JSON this lab writes (top-level `schema_version`).
pub const BENCH_SCHEMA_VERSION: u32 = 2;

word_enum! {
    /// What became of a part of the bench, a contender or one round of it (`status` in the JSON).
    PartStatus {
        /// Measured.
        Ok = "ok",
        /// Not measured, `reason` says why (a tool is missing, an earlier fault, an interrupted bench).
        #[default]
        NotRun = "not-run",
        /// Left out by `--parts`.
        NotRequested = "not-requested",
        /// Tried and failed, `reason` says how.
        Failed = "failed",
    }
}

word_enum! {
    /// A part of the bench.
    Part {
        #[default]
        Instrument = "instrument",
        Servers = "servers",
        Reach = "reach",
        Cost = "cost",
        Overhead = "overhead",
    }
}

impl Part {
    /// The order they run in: servers before instrument, which loads the fastest server of part 2.
    pub const RUN_ORDER: [Part; 5] = [Part::Servers, Part::Instrument, Part::Reach, Part::Cost, Part::Overhead];
}

word_enum! {
    /// Whether a performance target was met.
    TargetVerdict {
        Met = "met",
        NotMet = "not met",
        /// Its part did not run, or measured nothing (`detail` says why).
        #[default]
        NotRun = "not run",
    }
}

word_enum! {
    /// How a measured figure compares with its target's bound.
    Comparison {
        /// At least the bound.
        #[default]
        AtLeast = ">=",
        /// At most the bound.
        AtMost = "<=",
    }
}

impl Comparison {
    /// Whether `value` is on the right side of `bound`.
    pub fn holds(self, value: f64, bound: f64) -> bool {
        match self {
            Comparison::AtLeast => value >= bound,
            Comparison::AtMost => value <= bound,
        }
    }
}

/// The `status` and `reason` every part has.
pub trait PartOutcome {
    fn set(&mut self, status: PartStatus, reason: &str);
}

macro_rules! part_outcome {
    ($($part:ty),*) => {$(
        impl PartOutcome for $part {
            fn set(&mut self, status: PartStatus, reason: &str) {
                self.status = status;
                self.reason = Some(reason.to_string());
            }
        }
    )*};
}

part_outcome!(ThroughputPart, SweepPart, OverheadPart, ReachPart);

/// One `lab bench`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BenchRun {
    /// Run id, times, build, environment, interrupted (the parts not reached are `not-run`), notes; `kind` is
    /// `bench`, which tells this document from a matrix run. Read through `Deref`.
    #[serde(flatten)]
    pub header: RunHeader,
    pub settings: BenchSettings,
    /// The machine's load average when each part started and when the bench ended: the machine is shared, and a
    /// busy machine moves absolute figures (ratios measured side by side move much less).
    pub load: Vec<LoadSample>,
    /// The external tools, found or not.
    pub tools: Vec<ToolRecord>,
    pub instrument: ThroughputPart,
    pub servers: ThroughputPart,
    /// Part 3 (see `reach.rs`): per cell, connect times, kernel counters, accept queues and what stopped it.
    pub reach: ReachPart,
    pub cost: SweepPart,
    pub overhead: OverheadPart,
    /// Every performance target (README, "Performance"), with the measured figure and whether it was met.
    pub targets: Vec<Target>,
}

document!(BenchRun, Bench, BENCH_SCHEMA_VERSION..=BENCH_SCHEMA_VERSION);

/// The knobs of the bench.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BenchSettings {
    /// The parts asked for, in the order they ran.
    pub parts: Vec<Part>,
    /// Rounds of the throughput parts: every contender once per round, in turn.
    pub rounds: u32,
    /// Seconds of one wrk (or oha) run.
    pub duration_s: u64,
    /// Keep-alive connections of the throughput parts.
    pub connections: u64,
    /// The path the throughput parts load.
    pub path: String,
    /// Our servers in the bench.
    pub servers: Vec<String>,
    pub reach_levels: Vec<u64>,
    /// D of the reach part's io workload (ms).
    pub reach_hello_ms: u64,
    /// Rounds of the reach part (0 in runs made before rounds existed: one).
    #[serde(default)]
    pub reach_rounds: u64,
    pub cost_levels: Vec<u64>,
    /// D of the cost part's io workload (ms): long enough that every connection is in flight at once.
    pub cost_hello_ms: u64,
}

/// `/proc/loadavg` at one moment.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoadSample {
    /// `start`, the part about to run, or `end`.
    pub at: String,
    pub load1: f64,
    pub load5: f64,
    pub load15: f64,
}

/// An external tool: wrk, oha or nginx.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ToolRecord {
    pub name: String,
    /// Where it was found; null when it was not.
    pub path: Option<String>,
    /// The first line of its version output.
    pub version: Option<String>,
    /// How to install it.
    pub install: String,
}

/// Parts 1 (instrument) and 2 (servers): requests per second on `/no/param` with keep-alive, contenders taken in
/// turn, round after round, each against a fresh server process.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ThroughputPart {
    /// `ok`, `not-run`, `not-requested` or `failed`.
    pub status: PartStatus,
    pub reason: Option<String>,
    /// Instrument: the server every contender loaded, and why it was chosen.
    pub server: Option<String>,
    pub server_reason: Option<String>,
    /// Instrument: `-n` of the lab's clients, sized from the reference tool's first run (`rate × duration`).
    pub client_requests: Option<u64>,
    pub contenders: Vec<Contender>,
    pub ratios: Vec<Ratio>,
}

/// One contender of a throughput part: a load generator (instrument) or a server (servers).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Contender {
    /// `wrk`, `oha`, `async-client:lean`…, or a server's name (`nginx` included).
    pub name: String,
    /// The exact commands, with `PORT` for the server's free port.
    pub server_command: String,
    pub load_command: String,
    /// `ok` (at least one round measured), `not-run` (`reason`: the tool is missing) or `failed`.
    pub status: PartStatus,
    pub reason: Option<String>,
    /// Anything the reader must know about this contender (thread-server has no `--threads`).
    pub note: Option<String>,
    pub runs: Vec<LoadRun>,
    /// Over the rounds that succeeded.
    pub median_rps: Option<f64>,
    pub min_rps: Option<f64>,
    pub max_rps: Option<f64>,
    /// (max − min) ÷ median requests/s: this contender's noise in this run.
    pub spread: Option<f64>,
    /// Medians of the server's and the load generator's CPU time per request (µs).
    pub server_cpu_us_per_request: Option<f64>,
    pub load_cpu_us_per_request: Option<f64>,
}

/// One round of one contender.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoadRun {
    /// 1-based.
    pub round: u32,
    /// `ok` or `failed` (`reason`).
    pub status: PartStatus,
    pub reason: Option<String>,
    /// Requests answered 2xx, and the rest (errors, non-2xx).
    pub requests: u64,
    pub errors: u64,
    /// Requests sent first and not counted (the lab's clients' `--warmup`; 0 for wrk and oha). CPU per request
    /// divides by `requests + warmup`: the CPU times cover both.
    pub warmup: u64,
    /// The tool's own measured time and rate (wrk: `Requests/sec`; the lab's clients: `throughput_rps`).
    pub wall_s: f64,
    pub rps: f64,
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    /// The server's CPU time (user + sys, its whole process tree) while the load ran, from /proc.
    pub server_cpu_s: Option<f64>,
    /// The load generator's CPU time, from wait4's rusage (its whole life).
    pub load_cpu_s: Option<f64>,
}

/// A ratio of two contenders' requests/s, taken round by round (each round's two runs are minutes apart at
/// most, so they share the machine's mood), then the median over rounds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ratio {
    pub numerator: String,
    pub denominator: String,
    /// Median of the per-round ratios; null when no round measured both.
    pub value: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// The target (value ≥ target); null for ratios reported without one.
    pub target: Option<f64>,
    pub met: Option<bool>,
}

/// Part 4 (cost): the io workload swept over concurrency levels by `async-client --engine lean`, one request per
/// connection, through the matrix's own runner. (Part 3, reach, has a record of its own: `ReachPart`.)
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SweepPart {
    /// Status, reason, client, D, levels, the client's command. Read through `Deref`.
    #[serde(flatten)]
    pub head: SweepHead,
    /// Verification and concurrency model of each server (as in a matrix run).
    pub servers: Vec<ServerRecord>,
    /// Exactly the matrix's cells (see `cells[]` above).
    pub cells: Vec<Cell>,
    /// Cost only: RSS and threads per in-flight connection (slopes of a least-squares line over the levels).
    pub per_connection: Vec<ConnectionCost>,
    /// Per server, how the kernel's TCP counters moved while its cells ran: where connections waited or were
    /// dropped before the server saw them.
    pub kernel: Vec<KernelCounters>,
}

/// What both io sweeps (reach and cost) record first: how the part went, the client, D and the levels.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SweepHead {
    pub status: PartStatus,
    pub reason: Option<String>,
    pub client: String,
    pub hello_ms: u64,
    pub levels: Vec<u64>,
    /// The client's command line, with `PORT` and the level `C` as placeholders (reach: `C` connections per
    /// process and `P` processes).
    pub client_command: String,
}

impl SweepHead {
    /// `ok` when any cell was measured, else `failed` with the reason.
    pub fn finish(&mut self, any_ok: bool) {
        self.status = if any_ok { PartStatus::Ok } else { PartStatus::Failed };
        self.reason = (!any_ok).then(|| "no cell was measured (see the cells' reasons)".to_string());
    }
}

/// A sweep part reads its head's fields as its own.
macro_rules! sweep_head {
    ($($part:ty),*) => {$(
        impl std::ops::Deref for $part {
            type Target = SweepHead;
            fn deref(&self) -> &SweepHead {
                &self.head
            }
        }

        impl std::ops::DerefMut for $part {
            fn deref_mut(&mut self) -> &mut SweepHead {
                &mut self.head
            }
        }
    )*};
}

sweep_head!(SweepPart, ReachPart);

/// Deltas of the kernel's `TcpExt` counters (`/proc/net/netstat`) over one server's cells. They count the whole
/// network namespace, so other processes' connections on a shared machine count too.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct KernelCounters {
    pub server: String,
    /// A completed handshake found the accept queue full (`ListenOverflows`), and SYNs or ACKs dropped at a
    /// listener for any reason (`ListenDrops`).
    pub listen_overflows: u64,
    pub listen_drops: u64,
    /// SYN cookies sent: the SYN queue (`tcp_max_syn_backlog`) overflowed.
    pub syncookies_sent: u64,
}

/// Part 5: a quick-profile matrix run inside the bench, and the fraction of its wall time outside measured cells.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OverheadPart {
    pub status: PartStatus,
    pub reason: Option<String>,
    pub command: String,
    pub matrix_run_id: Option<String>,
    pub cells: u64,
    /// The matrix's own `overhead` (total, measured, outside, fraction).
    pub overhead: Option<Overhead>,
    /// Where the outside time goes, roughly: per server (verify: one start, checks, stop) and per cell (server
    /// start and stop around each repetition, the client's start-up, the lab's bookkeeping).
    pub servers_verified: u64,
    pub outside_per_cell_s: Option<f64>,
}

/// One performance target.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Target {
    /// `instrument`, `servers`, `reach`, `cost`, `overhead`.
    pub part: Part,
    /// What is measured, in words: `async-client:lean / wrk`.
    pub figure: String,
    pub measured: Option<f64>,
    pub unit: String,
    /// `>=` or `<=`.
    pub comparison: Comparison,
    pub bound: f64,
    /// `met`, `not met`, `not run`.
    pub verdict: TargetVerdict,
    /// Why not run, or what else was off (failures at 10,000).
    pub detail: Option<String>,
}

/// The reach part's record.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ReachPart {
    /// Status, reason, client, D, levels, the client's command. Read through `Deref`.
    #[serde(flatten)]
    pub head: SweepHead,
    /// The machine: CPUs, `net.core.somaxconn`, descriptors per process.
    pub cores: u64,
    pub somaxconn: Option<u64>,
    pub nofile: u64,
    /// Rounds: each measured every level's floor and then every server at that level (0 in runs made before
    /// rounds existed: one).
    pub rounds: u64,
    /// The floor at each level: its median round.
    pub floors: Vec<Floor>,
    /// The floor with HTTP's bytes at each level (the client writes a request, the server a response, no parser,
    /// runtime or task): the least an HTTP server needs. Its median round.
    pub http_floors: Vec<Floor>,
    /// Each server at each level: its median round.
    pub cells: Vec<ReachCell>,
}

/// One server at one level.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ReachCell {
    pub server: String,
    pub model: Model,
    pub connections: u64,
    pub client_processes: u64,
    /// Loopback source addresses the client spread its connections over (`bench::reach::source_addresses`).
    pub source_addresses: u64,
    /// `ok`, `failed` (see `reason`) or `skipped`.
    pub status: Status,
    pub reason: Option<String>,
    pub wall_s: Option<f64>,
    pub efficiency: Option<f64>,
    pub succeeded: u64,
    pub failed: u64,
    pub failures: Failures,
    pub latency_p50_us: Option<u64>,
    pub latency_p99_us: Option<u64>,
    /// The client's connect times over the measured phase.
    pub connect_us: Option<ConnectTime>,
    /// How the kernel's TCP counters moved during the cell (machine-wide).
    pub kernel: TcpCounters,
    /// The server's accept queues while the client ran.
    pub accept_queue: AcceptQueue,
    pub server_cpu_s: f64,
    pub client_cpu_s: f64,
    pub server_peak_threads: u64,
    pub server_peak_rss_kib: u64,
    /// The share of the machine's CPU time that was busy during the cell, whoever used it.
    pub machine_busy: f64,
    /// TCP sockets in TIME_WAIT (machine-wide) when the cell started: ports the client's connects search past.
    pub time_wait_before: u64,
    /// This cell's wall ÷ the floor's at the same level in the same round; with several rounds, the median of the
    /// rounds' ratios.
    pub vs_floor: Option<f64>,
    /// The same against the floor with HTTP's bytes.
    pub vs_http_floor: Option<f64>,
    /// The wall time of every round this cell was measured in, in order (the cell's other figures are from the
    /// median one).
    pub round_walls_s: Vec<f64>,
    /// What stopped it: set when the cell missed D by more than the target allows, or failed.
    pub stopped: Option<Cause>,
}

impl ReachCell {
    /// Measured, with no failed request, no listen overflow and no SYN retransmission.
    pub fn clean(&self) -> bool {
        self.status == Status::Ok
            && self.failed == 0
            && self.kernel.listen_overflows == 0
            && self.kernel.syn_retrans == 0
    }
}

/// One floor measurement at one level.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Floor {
    pub connections: u64,
    /// The floor with HTTP's bytes (`bench::floor::HTTP_VAR`): the least an HTTP server needs, not just any server.
    #[serde(default)]
    pub http: bool,
    /// Threads on each side.
    pub threads: u64,
    /// Loopback source addresses the client's connections were spread over (see `bench::reach::source_addresses`).
    #[serde(default)]
    pub source_addresses: u64,
    /// From the first connect to the last close the client saw (s); D ÷ this is the best efficiency possible.
    pub wall_s: f64,
    pub efficiency: f64,
    /// Connects that failed.
    pub failed: u64,
    /// The client's connect times (µs).
    pub connect_p99_us: u64,
    pub connect_max_us: u64,
    /// CPU time of each side (user + sys, s) and per connection (µs).
    pub server_cpu_s: f64,
    pub client_cpu_s: f64,
    pub server_cpu_us_per_connection: f64,
    pub client_cpu_us_per_connection: f64,
    /// The wall time of every round at this level, in order (the other figures are the median round's).
    #[serde(default)]
    pub round_walls_s: Vec<f64>,
}

/// The TCP counters that tell where connection setup went wrong, as read at one moment or as a difference.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpCounters {
    /// A completed handshake found its listener's accept queue full (`TcpExt: ListenOverflows`).
    pub listen_overflows: u64,
    /// SYNs or ACKs dropped at a listener, for any reason, overflows included (`TcpExt: ListenDrops`).
    pub listen_drops: u64,
    /// SYNs retransmitted by a connecting client (`TcpExt: TCPSynRetrans`): each costs its connect a second.
    pub syn_retrans: u64,
    /// SYN cookies sent: the SYN queue (`tcp_max_syn_backlog`) was full (`TcpExt: SyncookiesSent`).
    pub syncookies_sent: u64,
    /// Connects that failed (`Tcp: AttemptFails`).
    pub attempt_fails: u64,
    /// Connections opened by connecting (`Tcp: ActiveOpens`) and by accepting (`Tcp: PassiveOpens`).
    pub active_opens: u64,
    pub passive_opens: u64,
}

/// The accept queues of a port over a run: what `kernel::QueueSampler` found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptQueue {
    /// The backlog of the server's listening sockets, as its `/health` reports it (0 when it does not).
    pub backlog: u64,
    /// Most listening sockets seen on the port at once (one per acceptor with SO_REUSEPORT).
    pub listeners: u64,
    /// The fullest any one accept queue was seen; equal to `backlog` means it overflowed or nearly did.
    pub peak_depth: u64,
    /// Most connections seen waiting in all the port's accept queues together.
    pub peak_queued: u64,
    /// Samples taken (every `kernel::QueueSampler` interval while the cell ran).
    pub samples: u64,
}

/// Why a cell took longer than predicted (or failed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cause", rename_all = "kebab-case")]
pub enum Cause {
    /// Handshakes found the accept queue full and were dropped; their SYNs were retransmitted a second later.
    ListenOverflow { overflows: u64, syn_retransmits: u64, backlog: u64 },
    /// A process ran out of file descriptors (EMFILE/ENFILE).
    FdLimit { limit: u64 },
    /// The server could not start a thread (EAGAIN from clone, a thread cap).
    ThreadCreation,
    /// The client ran out of local ports for one destination (EADDRNOTAVAIL), or came so close that `connect(2)`
    /// spent its time searching for a free one: the client's CPU, not the server's, grew with the connections.
    EphemeralPorts { ports: u64, connections: u64, time_wait: u64 },
    /// The server answered 503 to connections over its `--max-connections`.
    Refused { refused: u64 },
    /// An allocation failed, or a process was killed for memory.
    Memory,
    /// The server's and the client's CPU time over the cell is at least `stopped::CPU_BUSY` of what the cores give in
    /// the time beyond D: their work could not have fitted in less (the connect and answer phases of a burst
    /// saturate the cores: results/experiments/burst-timeline.txt).
    Cpu { server_s: f64, client_s: f64, cores: u64, busy: f64 },
    /// The machine's CPUs were busy, but mostly with other processes than this cell's server and client.
    OtherLoad { machine_busy: f64, own_busy: f64 },
    /// The evidence names none of the above.
    Unknown,
}

impl Cause {
    /// The cause's word in the JSON (its `cause` tag): `listen-overflow`, `fd-limit`, …
    pub fn word(&self) -> &'static str {
        match self {
            Cause::ListenOverflow { .. } => "listen-overflow",
            Cause::FdLimit { .. } => "fd-limit",
            Cause::ThreadCreation => "thread-creation",
            Cause::EphemeralPorts { .. } => "ephemeral-ports",
            Cause::Refused { .. } => "refused",
            Cause::Memory => "memory",
            Cause::Cpu { .. } => "cpu",
            Cause::OtherLoad { .. } => "other-load",
            Cause::Unknown => "unknown",
        }
    }
}
