//! The soak document (`RUN-ID.json`, `kind: soak`): what one `lab soak` measured — every server loaded for minutes
//! by back-to-back client runs against one long-lived process, its time series and the verdicts on drift and
//! growth. Documented in `lab/SCHEMA.md`.
//!
//! A soak was once a matrix run with no cells and a `soak` section, and its JSON keeps that run's words (the same
//! `schema_version`): `profile: "soak"`, the matrix's `settings` (one workload, client and concurrency), an empty
//! `cells` and an `analysis` whose only content is the verdicts (`narrative`). Keeping them lets every soak
//! written before read back and write the same bytes.

use super::header::RunHeader;
use super::run::{Analysis, Client, Failures, Latency, Overhead, ServerRecord, Settings, Status, Workload};
use serde::{Deserialize, Serialize};

word_enum! {
    /// The `profile` word of a soak document: always `soak`.
    Profile {
        #[default]
        Soak = "soak",
    }
}

/// `RUN-ID.json` of `lab soak`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SoakRun {
    /// Run id, times, build, environment, interrupted, CPUs, notes; `kind` is `soak`. Read through `Deref`.
    #[serde(flatten)]
    pub header: RunHeader,
    pub profile: Profile,
    /// The load every client run sends: the workload's paths and waits, keep-alive, timeout, the servers.
    pub settings: Settings,
    /// Every server, with the outcome of its verification.
    pub servers: Vec<ServerRecord>,
    /// Always empty: a soak measures no matrix cell (the word stays so the document reads as it always has).
    #[serde(default)]
    pub cells: [(); 0],
    /// `narrative`: the servers' verdicts, one sentence each; the rest is empty.
    pub analysis: Analysis,
    /// How much of the run's wall time went to client runs.
    pub overhead: Overhead,
    pub soak: Soak,
}

// A soak keeps the matrix run's versions (see above).
document!(SoakRun, Soak, 1..=super::run::SCHEMA_VERSION);

/// A soak: every server loaded for minutes by back-to-back client runs of about a minute each, against one
/// long-lived server process, to see what only time shows (latency drift, memory growth, thread growth).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Soak {
    pub workload: Workload,
    /// The client, as in cell ids: `async-client`.
    pub client: Client,
    pub concurrency: u64,
    /// How long each server was to be loaded (min), and the length of one client run (s): one point of the series.
    pub minutes: f64,
    pub chunk_s: f64,
    /// The verdict's thresholds: drift when the last minute's p50 is `drift_p50` times the first's or its p99
    /// `drift_p99` times; growth when RSS grew by `growth_fraction` and at least `growth_min_kib` from the end of
    /// minute 1 to the end.
    pub drift_p50: f64,
    pub drift_p99: f64,
    pub growth_fraction: f64,
    pub growth_min_kib: u64,
    pub servers: Vec<SoakServer>,
}

/// One server's soak: its time series and what it shows.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SoakServer {
    pub server: String,
    /// `ok`, `failed` (a minute failed and the soak of this server stopped there: see `reason`) or `skipped`
    /// (failed verify, interrupted).
    pub status: Status,
    pub reason: Option<String>,
    pub stderr_tail: Option<String>,
    /// RSS (all its processes) right after start-up, before any load.
    pub start_rss_kib: Option<u64>,
    /// Throughput of the short calibration runs that sized the first minute (also the server's warm-up).
    pub calibration_rps: Option<f64>,
    pub minutes: Vec<SoakMinute>,
    /// Totals over the minutes (calibration excluded).
    pub requests: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub failures: Failures,
    /// Last measured minute ÷ first: latency drift (and throughput).
    pub p50_ratio: Option<f64>,
    pub p99_ratio: Option<f64>,
    pub throughput_ratio: Option<f64>,
    /// RSS at the end of minute 1 and of the last minute, their difference, and the least-squares slope of the
    /// end-of-minute RSS against time (KiB per minute; null with fewer than two minutes).
    pub rss_minute1_kib: Option<u64>,
    pub rss_end_kib: Option<u64>,
    pub rss_growth_kib: Option<i64>,
    pub rss_slope_kib_per_min: Option<f64>,
    pub threads_minute1: Option<u64>,
    pub threads_end: Option<u64>,
    pub peak_threads: u64,
    pub peak_rss_kib: u64,
    pub drift: bool,
    pub growth: bool,
    /// One sentence saying whether it found drift or growth.
    pub verdict: String,
}

/// One client run of a soak (about a minute).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SoakMinute {
    /// 1-based.
    pub minute: u32,
    /// When the client started, counted from the server's first minute; and its lifetime (warm-up included).
    pub start_s: f64,
    pub window_s: f64,
    pub requests: u64,
    /// `ok` or `failed` (see `reason`).
    pub status: Status,
    pub reason: Option<String>,
    pub succeeded: u64,
    pub failed: u64,
    pub failures: Failures,
    pub throughput_rps: Option<f64>,
    pub latency_us: Option<Latency>,
    /// The server between this run and the next, idle: the comparable points of the RSS and thread series.
    pub rss_end_kib: Option<u64>,
    pub threads_end: Option<u64>,
    /// Highest readings while the client ran (sampled every 100 ms).
    pub peak_rss_kib: u64,
    pub peak_threads: u64,
}
