//! The capacity document (`capacity-RUN-ID.json`, schema version 1): what one `lab capacity` found — every
//! probe, the capacity per server and workload, and the coordinated-omission cell.

use super::header::RunHeader;
use super::run::{Status, Workload};
use serde::{Deserialize, Serialize};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CapacityRun {
    /// Run id, times, build, bin dir, environment, interrupted (the cells not reached are `skipped`), notes;
    /// `kind` is `capacity`. Read through `Deref`.
    #[serde(flatten)]
    pub header: RunHeader,
    pub settings: CapacitySettings,
    pub cells: Vec<CapacityCell>,
    /// Open-loop p99 growing with the run's length on an overloaded server, closed-loop p99 not.
    pub coordinated_omission: Option<CoordinatedOmission>,
}

document!(CapacityRun, Capacity, 1..=SCHEMA_VERSION);

word_enum! {
    /// How a client run paces its requests (ordered: open before closed).
    #[derive(PartialOrd, Ord)]
    LoopMode {
        /// On a fixed schedule (`--rate`), latency from each request's intended send time.
        #[default]
        Open = "open",
        /// The next request when one answers.
        Closed = "closed",
    }
}

/// What the sweep ran with.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CapacitySettings {
    /// Seconds of open-loop load per probe.
    pub probe_s: f64,
    /// Bisection steps after the coarse doubling.
    pub bisect_steps: u32,
    /// The highest rate offered (req/s): a cell that holds it is bounded by the sweep (or the client), not the
    /// server.
    pub max_rate: f64,
    /// D of `/say/hello` for io (ms).
    pub hello_ms: u64,
    /// n of the cpu workload's n!.
    pub fact_n: u64,
    /// The load generator: `async-client --engine lean --rate R`.
    pub client: String,
}

/// One server × workload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CapacityCell {
    pub server: String,
    pub workload: Workload,
    pub paths: Vec<String>,
    /// The p99 a rate must stay under (ms).
    pub target_p99_ms: f64,
    /// The highest rate held: p99 under the target, no failure, nothing unsent. `None`: not even the lowest.
    pub capacity_rps: Option<f64>,
    /// The lowest rate above it that was not held; `None` when every rate up to `max_rate` held.
    pub first_failed_rps: Option<f64>,
    /// What bounded the load generator instead of the server at the deciding probe, if anything
    /// (`capacity::instrument_limit`): the capacity is then at least `capacity_rps`, the client's figure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_bound: Option<String>,
    /// `ok`; `failed` (the server did not start, failed its verification, or a client run had no report) or
    /// `skipped` (the run was interrupted), with `reason`.
    pub status: Status,
    pub reason: Option<String>,
    /// Every probe, in the order run.
    pub probes: Vec<Probe>,
}

/// One open-loop run at one rate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Probe {
    pub rate_rps: f64,
    pub requests: u64,
    /// `-c`: the cap on connections in flight.
    pub connections: u64,
    pub succeeded: u64,
    /// Failures of every kind, unsent included.
    pub failed: u64,
    pub unsent: u64,
    pub late: u64,
    pub throughput_rps: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    /// The client's CPU seconds (user + sys) per thousand requests: how close the client is to its own bound.
    pub client_cpu_ms_per_request: f64,
    /// Held: p99 under the target and no failure.
    pub held: bool,
    /// Why not, in a few words.
    pub verdict: String,
}

/// The coordinated-omission cell: one server and workload offered twice what it answers closed-loop, for a
/// short and a long run, open-loop and closed-loop.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CoordinatedOmission {
    pub server: String,
    pub workload: Workload,
    /// The offered open-loop rate: twice `closed_loop_rps`.
    pub rate_rps: f64,
    /// The capacity found by the sweep (p99 under the target).
    pub capacity_rps: f64,
    /// The throughput of the short closed-loop run: what the server answers at most over these connections.
    pub closed_loop_rps: f64,
    pub connections: u64,
    pub runs: Vec<CoRun>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CoRun {
    pub mode: LoopMode,
    /// Intended length of the run (s).
    pub seconds: f64,
    pub requests: u64,
    pub wall_s: f64,
    pub throughput_rps: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub failed: u64,
}

impl CapacityRun {
    /// The workloads and the servers of the cells, each in first-seen order: the table's columns and rows, the
    /// chart's panels and lines.
    pub fn workloads_and_servers(&self) -> (Vec<Workload>, Vec<&str>) {
        let workloads = super::first_seen(self.cells.iter().map(|c| c.workload));
        (workloads, super::first_seen(self.cells.iter().map(|c| c.server.as_str())))
    }
}
