//! The operating-system plumbing that the servers' tests, the clients and the lab share, in one place.
//!
//! Nothing here is about HTTP or concurrency models: it is what a laboratory needs around its subjects.
//! - [`process`]: start a server and wait for its `listening on` line, drain a child's output into a ring
//!   buffer, process groups, death signals, and what a reaped child cost (rusage);
//! - [`limits`]: raise the open-file limit, read the thread limit;
//! - [`net`]: listeners with a backlog of `net.core.somaxconn` and SO_REUSEPORT, IP_BIND_ADDRESS_NO_PORT;
//! - [`proc`]: everything read from `/proc`: a process or a process tree, the machine's memory, CPU time and
//!   load, its TCP counters and socket table, and the kernel limits (on the `procfs` crate);
//! - [`bins`]: the workspace's binaries for tests, built once per test run (never stale);
//! - [`calibrate`]: the machine's calibration probes (a cpu loop, a memory chase, a loopback echo);
//! - [`stats`]: nearest-rank quantiles;
//! - [`report`], [`histogram`], [`merge`]: the clients' JSON report (schema v1) with its HDR latency histogram,
//!   and the exact merge of several reports — shared by the clients, which write them, and `lab merge`;
//! - [`raw`], [`catalogue`], [`compare`]: a raw TCP client for hostile bytes, the hostile catalogue (embedded)
//!   judged against each case's rule, and the differential's normalised outcomes and seeded corpus — shared by
//!   the servers' tests and `lab verify --strict`;
//! - [`tools`]: a test whose tool is missing fails under CI and is a visible, counted skip elsewhere;
//! - [`parallel`]: a work queue that keeps a fixed number of items in flight, results in order — for the many
//!   inputs the differential and `lab verify --strict` send, each on its own connection;
//! - [`fuzz`]: a seeded generator and a loop over reproducible cases, for the parsers' fuzz targets;
//! - [`TempDir`]: a directory removed when dropped (the `tempfile` crate's).
//!
//! Safe wrappers come from `rustix`; the one `unsafe` call left (`getrusage`, which rustix does not wrap) and the
//! `pre_exec` hooks (unsafe by nature: they run between fork and exec) each carry a SAFETY comment.

pub mod bins;
pub mod calibrate;
pub mod catalogue;
pub mod compare;
pub mod fuzz;
pub mod histogram;
pub mod limits;
pub mod merge;
pub mod net;
pub mod parallel;
pub mod proc;
pub mod process;
pub mod raw;
pub mod report;
pub mod stats;
pub mod tools;

pub use tempfile::TempDir;

/// A fresh directory under the system temp dir, named `PREFIX…` and removed with everything in it when dropped.
pub fn temp_dir(prefix: &str) -> std::io::Result<TempDir> {
    tempfile::Builder::new().prefix(prefix).tempdir()
}
