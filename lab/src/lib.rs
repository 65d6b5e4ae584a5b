//! The lab: one command that answers "thread pool or async, for this kind of work, at this concurrency, at what
//! cost?" by running every server × client × workload × concurrency side by side, next to what a simple model
//! predicts, and explaining the numbers in plain words.
//!
//! The pipeline, one module each (docs/architecture.md draws it):
//! - [`session`]: one run of any command — limits, Ctrl-C, binaries, environment, run id, scratch dir, the header
//!   every document starts with, and writing the files;
//! - [`plan`]: profiles, workloads and the cells they expand to; [`matrix`]: `lab matrix` from plan to files;
//! - [`process`], [`run`]: servers and clients as child processes (own process groups), cell by cell;
//! - [`verify`]: correctness before speed — a wrong server is not measured;
//! - [`cost`], [`limits`]: what a server costs (/proc, rusage), and which system limit stopped a cell;
//! - [`kernel`], [`stopped`]: the kernel's TCP counters and accept queues, and the cause of a missed cell named from them;
//! - [`model`], [`predict`], [`analysis`], [`findings`]: the predictions (waits; throughput from measured
//!   inputs), the original experiment, and what the run shows (model misses, tiers, the headline, the claims) as
//!   numbers, computed once before any writer; [`companion`]: capacity and bench runs joined to a matrix run;
//! - [`soak`]: `lab soak`, the same servers over minutes — drift and growth; [`slowloris`]: slow clients;
//! - [`capacity`]: `lab capacity`, the highest open-loop rate each server holds under a p99 target;
//! - [`primitives`], [`chain`]: what a thread, a task, a coroutine and an idle connection cost, and the servers'
//!   costs predicted from them (primitive → model → server);
//! - [`bench`](mod@bench): the performance benchmark (instrument, servers vs nginx, reach, cost per connection, overhead);
//! - [`merge`]: `lab merge`, client reports of several machines into one, exactly;
//! - [`records`]: every document the lab writes (run, header, soak, bench, capacity, slowloris, primitives), as data
//!   that imports nothing else of the lab; [`export`]: JSON, markdown, CSV, SVG and HTML from it, with the words
//!   they share in `export::prose`; [`compare`]: two runs;
//! - [`noise`]: the one rule that says when two cells differ and when they tie; [`calibration`]: the machine's own
//!   speed at the start and the end of every run, so that runs on different machines can be compared.

pub mod analysis;
pub mod bench;
pub mod binaries;
pub mod calibration;
pub mod capacity;
pub mod chain;
pub mod client;
pub mod companion;
pub mod compare;
pub mod cost;
pub mod env;
pub mod export;
pub mod findings;
pub mod fit;
pub mod format;
pub mod http;
pub mod kernel;
pub mod kernel_memory;
pub mod limits;
pub mod matrix;
pub mod merge;
pub mod model;
pub mod noise;
pub mod plan;
pub mod predict;
pub mod primitives;
pub mod process;
pub mod progress;
pub mod records;
pub mod run;
pub mod session;
pub mod slowloris;
pub mod soak;
pub mod stopped;
pub mod verify;

/// Bad input — a flag, a list, a file the user named: `lab` exits 2 with this one line (see `main`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// A message built as a `String` (`format!`) becomes a usage error through `?` or `.into()`.
impl From<String> for UsageError {
    fn from(message: String) -> UsageError {
        UsageError(message)
    }
}

impl From<&str> for UsageError {
    fn from(message: &str) -> UsageError {
        UsageError(message.to_string())
    }
}
