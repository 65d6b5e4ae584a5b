//! One phase of a run (warm-up or measured) as one executor thread sees it: the [`Plan`] of the whole run, the
//! [`Phase`] a thread is handed (the shared request counter, when to stop, its own recorder, the open-loop
//! schedule), and [`ThreadRun`], the trait of what runs a thread's phases.
//!
//! Two things implement [`ThreadRun`]: the runner's tasks, a smol executor per thread with a task per slot, and
//! the lean engine's explicit event loop, which polls its sockets itself with no tasks at all. Both sit on this
//! module and neither on the other: the concurrency model is swappable under one phase protocol.

use std::cell::RefCell;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use crate::recorder::Recorder;
use crate::schedule::{Schedule, Stop};

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Counted requests at most (`u64::MAX` when only the deadline ends the run).
    pub requests: u64,
    /// Closed-loop `--duration`: no counted request starts this long after the measured phase's start.
    pub duration: Option<Duration>,
    /// Uncounted requests sent first.
    pub warmup: u64,
    /// Slots (requests in flight at once).
    pub concurrency: usize,
    /// How many `--url`s the requests cycle through (1 for a single URL).
    pub urls: usize,
    /// Executor threads (at most one per slot is used).
    pub threads: usize,
    /// Per-request deadline.
    pub timeout: Duration,
    /// Print a line per response.
    pub echo: bool,
    /// Number of this process's first request, for the printed lines (non-zero in `--processes` children).
    pub first_index: u64,
    /// Open loop: this process's requests per second (`None`: closed loop).
    pub rate: Option<f64>,
}

/// One phase (warm-up or measured) as one thread runs it.
#[derive(Clone, Copy)]
pub struct Phase<'a> {
    /// Request numbers: one counter per phase, shared by every thread.
    pub next: &'a AtomicU64,
    pub plan: &'a Plan,
    pub stop: Stop,
    /// This thread's results; borrowed for one record at a time, never across an `.await`.
    pub recorder: &'a RefCell<Recorder>,
    /// The run-wide number of this process's first request of the phase (non-zero in `--processes` children).
    pub first_index: u64,
    /// Open loop: when each request is due.
    pub schedule: Option<Schedule>,
}

/// What one executor thread runs its phases with, keeping its connections from one phase to the next: a task per
/// slot on a smol executor (the runner's `Slots`), or an explicit event loop (the lean engine's `LoopThread`).
pub trait ThreadRun {
    /// Runs `phase` on this thread until its stop.
    fn phase(&mut self, phase: &Phase);
}
