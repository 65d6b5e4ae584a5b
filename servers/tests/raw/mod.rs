//! The raw TCP client for hostile input ([`RawConnection`], [`Outcome`]) is `harness::raw`, shared with
//! `lab verify --strict`; this module re-exports it next to the process probes only the servers' tests use.

// Each test binary uses a different part of this module.
#![allow(dead_code, unused_imports)]

pub use harness::raw::*;

/// Raises this process's soft limit on open files to the hard limit (tests that open a thousand sockets
/// need more than a default soft limit of 1024). Servers spawned afterwards inherit it. Returns the new limit.
pub fn raise_fd_limit() -> u64 {
    harness::limits::raise_nofile().soft
}

/// The number of threads of process `pid`, from /proc/PID/status.
pub fn thread_count(pid: u32) -> Option<usize> {
    harness::proc::ProcSample::read(pid).ok().map(|s| s.threads as usize)
}

/// The number of open file descriptors of process `pid`.
pub fn fd_count(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// The first stderr line that reports a panic, if any.
pub fn panic_line(lines: &[String]) -> Option<String> {
    lines.iter().find(|line| line.contains("panicked")).cloned()
}
