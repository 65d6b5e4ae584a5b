//! The slowloris document (`slowloris-RUN-ID.json`, schema version 1): what one `lab slowloris` did to each
//! server — the attack's connections and when they were dropped, what the probes saw, the server's cost, second
//! by second. Documented in `lab/SCHEMA.md`.

use super::header::RunHeader;
use super::run::{Failures, Status};
use serde::{Deserialize, Serialize};

pub const SCHEMA_VERSION: u32 = 1;

/// `slowloris-<run-id>.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SlowlorisRun {
    /// Run id, times, build, environment, interrupted (the servers not reached are `skipped`), notes; `kind` is
    /// `slowloris`. Read through `Deref`.
    #[serde(flatten)]
    pub header: RunHeader,
    pub settings: SlowlorisSettings,
    pub servers: Vec<SlowlorisServer>,
}

document!(SlowlorisRun, Slowloris, 1..=SCHEMA_VERSION);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SlowlorisSettings {
    pub connections: u64,
    pub duration_s: f64,
    /// `--header-timeout-s` given to the lab's servers; null = each server's default (10 s for the lab's).
    pub header_timeout_s: Option<f64>,
    pub probe_interval_ms: u64,
    pub probe_timeout_s: f64,
    /// What each attack connection sends, a byte a second (then `a` forever: the head never ends).
    pub head_prefix: String,
}

/// One server under attack.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SlowlorisServer {
    pub server: String,
    /// The command line it was started with (`{port}` filled in for foreign servers).
    pub command: String,
    /// `ok`, `failed` (did not start, or died during the attack: see `reason`) or `skipped` (interrupted).
    pub status: Status,
    pub reason: Option<String>,
    pub stderr_tail: Option<String>,
    /// Median latency of a few probes before the attack (µs).
    pub baseline_probe_us: Option<f64>,
    pub attack: AttackSummary,
    pub probes: ProbeSummary,
    /// One probe after the attack's sockets were closed: does the server still answer?
    pub after_ok: Option<bool>,
    pub after_latency_us: Option<f64>,
    pub server_cost: AttackCost,
    /// Second by second: attack connections open, probes, the server's threads and RSS.
    pub timeline: Vec<Second>,
    /// One sentence: what the attack did to this server.
    pub verdict: String,
}

/// The attack's connections and when the server dropped them (seconds since the attack started).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AttackSummary {
    pub requested: u64,
    pub opened: u64,
    pub connect_failures: u64,
    pub first_connect_error: Option<String>,
    /// When the last connection was open.
    pub opened_in_s: f64,
    /// Ended by the server: `closed` (end of stream) plus `reset`.
    pub dropped: u64,
    pub closed: u64,
    pub reset: u64,
    /// The server wrote something before dropping (a 408 or 400, usually).
    pub answered: u64,
    /// Still open when the attack ended.
    pub open_at_end: u64,
    /// When the first, half, 90 % and last of the opened connections had been dropped (null when never).
    pub first_drop_s: Option<f64>,
    pub half_dropped_s: Option<f64>,
    pub most_dropped_s: Option<f64>,
    pub last_drop_s: Option<f64>,
    /// Median time from a connection's open to its drop: the header timeout as the server applied it.
    pub median_lifetime_s: Option<f64>,
}

/// What the probes saw during the attack.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProbeSummary {
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    pub failures: Failures,
    /// Answered with a 200 within 1 s.
    pub within_1s: u64,
    /// Latency of the answered probes (µs); null when none was answered.
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub max_us: Option<f64>,
    /// The longest stretch in which every probe failed or took over 1 s, from the first one's start to the last
    /// one's end (s).
    pub longest_stall_s: f64,
}

/// What the attack cost the server (all its processes).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AttackCost {
    pub start_rss_kib: u64,
    pub start_threads: u64,
    pub peak_rss_kib: u64,
    pub peak_threads: u64,
    pub samples: u64,
}

/// One second of the attack.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Second {
    /// Seconds since the attack started: this row covers [second, second + 1).
    pub second: u64,
    /// Attack connections open at the end of the second.
    pub attack_open: u64,
    pub probes: u64,
    pub probes_ok: u64,
    /// Slowest probe sent in this second (answered or not), ms.
    pub probe_max_ms: Option<f64>,
    /// The server's most threads and RSS sampled in this second.
    pub server_threads: Option<u64>,
    pub server_rss_kib: Option<u64>,
}
