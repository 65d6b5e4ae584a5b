//! What a process costs the machine: CPU time, memory, threads, context switches.
//!
//! Two views. [`CostMeter`] measures *this* process for its own report: CPU time and peak RSS come from
//! `getrusage(2)`, and the peak thread count from a small sampling thread that reads `/proc/self/status` every
//! 10 ms (a thread that lives for less than 10 ms can be missed; the sampler does not count itself).
//! [`ProcSample`] (the `harness` crate's, re-exported) reads any process from `/proc`, and
//! [`ProcSample::read_tree`] adds up a process and its children (`--processes`).

use harness::proc::own_thread_count;
use harness::process::Usage;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::report::Cost;

/// How often the sampler thread looks at the thread count.
const THREAD_SAMPLE_INTERVAL: Duration = Duration::from_millis(10);

/// Measures the running process from [`CostMeter::start`] to [`CostMeter::finish`].
pub struct CostMeter {
    /// Tells the sampler to stop.
    stop: Arc<AtomicBool>,
    /// Highest `Threads:` value seen so far, the sampler included.
    peak_threads: Arc<AtomicU64>,
    /// The sampling thread; `None` if it could not be started (then only the final count is known).
    sampler: Option<JoinHandle<()>>,
}

impl CostMeter {
    /// Starts the thread sampler. CPU time and peak RSS need no sampler: the kernel keeps them.
    pub fn start() -> CostMeter {
        let stop = Arc::new(AtomicBool::new(false));
        let peak_threads = Arc::new(AtomicU64::new(0));
        let sampler = {
            let stop = Arc::clone(&stop);
            let peak = Arc::clone(&peak_threads);
            thread::Builder::new()
                .name("cost-sampler".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        if let Ok(threads) = own_thread_count() {
                            peak.fetch_max(threads, Ordering::Relaxed);
                        }
                        // Blocks this (otherwise idle) thread until the next sample or until `finish` unparks it.
                        thread::park_timeout(THREAD_SAMPLE_INTERVAL);
                    }
                })
                .ok()
        };
        CostMeter { stop, peak_threads, sampler }
    }

    /// Stops the sampler and reads the totals.
    pub fn finish(mut self) -> Cost {
        // One last sample while everything is still alive.
        let sampler_running = self.sampler.is_some();
        if let Ok(threads) = own_thread_count() {
            self.peak_threads.fetch_max(threads, Ordering::Relaxed);
        }
        self.stop.store(true, Ordering::Relaxed);
        if let Some(sampler) = self.sampler.take() {
            sampler.thread().unpark();
            let _ = sampler.join();
        }
        let peak = self.peak_threads.load(Ordering::Relaxed);
        let usage = Usage::own();
        Cost {
            // The sampler is the measuring instrument, not the client: leave it out.
            peak_threads: if sampler_running { peak.saturating_sub(1) } else { peak },
            peak_rss_kib: usage.max_rss_kib,
            user_s: usage.user_s,
            sys_s: usage.sys_s,
        }
    }
}

pub use harness::proc::{children, descendants, ProcSample};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meter_sees_extra_threads() {
        let meter = CostMeter::start();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let rx_done = tx.clone();
                thread::spawn(move || {
                    thread::sleep(Duration::from_millis(60));
                    drop(rx_done);
                })
            })
            .collect();
        drop(tx);
        let _ = rx.recv();
        let cost = meter.finish();
        for worker in workers {
            worker.join().unwrap();
        }
        // The test harness runs tests in parallel, so there may be more; never fewer than our 4 + this thread.
        assert!(cost.peak_threads >= 5, "{cost:?}");
        assert!(cost.peak_rss_kib > 0);
    }
}
