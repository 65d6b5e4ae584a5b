//! The `lab capacity` run as JSON (`results/capacity-<run-id>.json`, schema version 1): every probe, the
//! capacity found per server and workload, and the coordinated-omission cell.

use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::results::Environment;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CapacityRun {
    pub schema_version: u32,
    /// `UTCSTAMP-COMMIT`; names the run's files.
    pub run_id: String,
    pub started_at: String,
    pub finished_at: String,
    /// `release` or `debug`: debug figures are not comparable.
    pub build: String,
    pub settings: CapacitySettings,
    pub environment: Environment,
    pub cells: Vec<CapacityCell>,
    /// Open-loop p99 growing with the run's length on an overloaded server, closed-loop p99 not.
    pub coordinated_omission: Option<CoordinatedOmission>,
    pub interrupted: bool,
    pub notes: Vec<String>,
}

/// What the sweep ran with.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    pub workload: String,
    pub paths: Vec<String>,
    /// The p99 a rate must stay under (ms).
    pub target_p99_ms: f64,
    /// The highest rate held: p99 under the target, no failure, nothing unsent. `None`: not even the lowest.
    pub capacity_rps: Option<f64>,
    /// The lowest rate above it that was not held; `None` when every rate up to `max_rate` held.
    pub first_failed_rps: Option<f64>,
    /// `ok`, `skipped` (the server did not start, or the run was interrupted) with `reason`.
    pub status: String,
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
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
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
    pub workload: String,
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
    /// `open` or `closed`.
    pub mode: String,
    /// Intended length of the run (s).
    pub seconds: f64,
    pub requests: u64,
    pub wall_s: f64,
    pub throughput_rps: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub failed: u64,
}

impl CapacityRun {
    pub fn load(path: &Path) -> Result<CapacityRun, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: not a capacity run ({e})", path.display()))
    }
}
