//! The primitives document (`primitives-RUN-ID.json`, schema version 2): what one `lab primitives` timed —
//! creating and switching threads, tasks and coroutines, the memory of an idle one, and (version 2) of an idle
//! keep-alive connection on each of the lab's servers — beside the published figures.

use super::header::RunHeader;
use super::run::Status;
use serde::{Deserialize, Serialize};

/// The version of the primitives JSON (top-level `schema_version`): 2 added `connections` and
/// `settings.connection_counts` (absent from version-1 files, which still read).
pub const SCHEMA_VERSION: u32 = 2;

word_enum! {
    /// What a timing measures.
    Measure {
        /// Create a unit and join it, one after another.
        #[default]
        Create = "create",
        /// One hand-off of a token between two units.
        Switch = "switch",
    }
}

/// `primitives-<run-id>.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PrimitivesRun {
    #[serde(flatten)]
    pub header: RunHeader,
    pub settings: PrimitivesSettings,
    pub timings: Vec<Timing>,
    pub memory: Vec<MemoryFit>,
    /// Idle keep-alive connections, one fit per server (`unit` is the server's name) and one for a plain listener
    /// in the lab (`unit` `listener`: the two sockets of a connection and nothing else). Version 2.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connections: Vec<MemoryFit>,
}

document!(PrimitivesRun, Primitives, 1..=SCHEMA_VERSION);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PrimitivesSettings {
    pub repetitions: u32,
    /// Units created and joined per run of a create timing.
    pub create_count: u64,
    /// Round trips per run of a switch timing (each is two hand-offs).
    pub switch_count: u64,
    pub memory_counts: Vec<u64>,
    /// Idle keep-alive connections held at once for the connections' fit, ascending, 0 first. Version 2.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connection_counts: Vec<u64>,
    /// The CPU sets timings ran on (`0`, `0-1`): one CPU, then two.
    pub cpu_sets: Vec<String>,
}

/// One subject on one CPU set: a figure per repetition.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Timing {
    pub measure: Measure,
    /// The `primitive` binary's word: `thread`, `tokio-task`, `thread-condvar`, …
    pub subject: String,
    pub cpus: String,
    pub status: Status,
    pub reason: Option<String>,
    /// ns per operation (a create-and-join, or one hand-off), one per repetition in the order measured.
    pub ns_per_operation: Vec<f64>,
    pub median_ns: Option<f64>,
    pub min_ns: Option<f64>,
    pub max_ns: Option<f64>,
    pub anchor: Option<Anchor>,
}

/// A published figure beside the measured one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Anchor {
    pub value: f64,
    pub source: String,
    /// measured ÷ published.
    pub ratio: Option<f64>,
}

/// One unit's memory: the points measured and the slopes through them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MemoryFit {
    pub unit: String,
    pub status: Status,
    pub reason: Option<String>,
    pub points: Vec<MemoryPoint>,
    /// Resident memory per idle unit (KiB): the slope of the process's RSS over the counts, and its r².
    pub user_kib_per_unit: Option<f64>,
    pub user_r2: Option<f64>,
    /// The machine's `KernelStack` and `Slab` growth per idle unit (KiB), and the r² of their sum's line.
    pub kernel_stack_kib_per_unit: Option<f64>,
    pub slab_kib_per_unit: Option<f64>,
    pub kernel_r2: Option<f64>,
    /// The published user figure, and for threads the kernel stack's size.
    pub user_anchor: Option<Anchor>,
    pub kernel_stack_anchor: Option<Anchor>,
}

/// Memory with `count` idle units parked.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct MemoryPoint {
    pub count: u64,
    pub rss_kib: u64,
    /// Growth of the machine's `KernelStack` and `Slab` from before the process started to the moment its units
    /// were parked (machine-wide, so other processes' churn is in it: the fit's r² shows how much).
    pub kernel_stack_growth_kib: i64,
    pub slab_growth_kib: i64,
}
