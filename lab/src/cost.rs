//! What a server costs while a cell runs, sampled from /proc on a thread of its own.
//!
//! Concurrency idea: the sampler is a plain thread that wakes every few milliseconds, reads the server's /proc
//! files and keeps the peaks, while the lab's main thread waits for the client. Closing a channel stops it (its
//! sleep is a `recv_timeout` on that channel, so it stops at once) and `join` hands back what it saw. It follows the server's whole process tree (a server with `--processes P`,
//! or a foreign server behind `sh -c`), summing RSS and threads over the tree.
//!
//! CPU time and context switches are not taken from here: /proc only counts live threads (and for context
//! switches only the main thread), and thread-per-request servers' threads are gone by the end of a cell. The
//! exact totals come from wait4's rusage when the server is reaped (see `process::reaping`).

use crate::records::run::KernelMemory;
use harness::proc::ProcSample;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How many samples between two scans of /proc for the tree's members (scanning every process is the costly part).
const TREE_RESCAN_EVERY: u64 = 20;

/// Peaks seen by a [`Sampler`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Peaks {
    pub start_rss_kib: u64,
    pub peak_rss_kib: u64,
    pub hwm_kib: u64,
    pub peak_threads: u64,
    pub peak_processes: u64,
    pub samples: u64,
    /// The machine's kernel memory (`KernelStack`, `Slab`) at the first sample, and at the last sample where
    /// the server's RSS and threads were both at their peak so far (see [`crate::kernel_memory`]). An instant's
    /// reading rather than the machine's own peak, so that other processes' passing spikes are not picked out.
    pub start_kernel: Option<KernelMemory>,
    pub kernel_at_peak: Option<KernelMemory>,
}

/// A thread sampling one process tree until [`Sampler::finish`].
pub struct Sampler {
    /// Dropping it wakes the sampler at once (it sleeps in `recv_timeout`), so finishing never waits an interval.
    stop: mpsc::Sender<()>,
    handle: JoinHandle<Peaks>,
}

impl Sampler {
    pub fn start(pid: u32, interval: Duration) -> Sampler {
        let (stop, stopped) = mpsc::channel::<()>();
        let handle = thread::Builder::new()
            .name(format!("sampler-{pid}"))
            .spawn(move || {
                let mut peaks = Peaks::default();
                let mut tree = harness::proc::tree(pid);
                let mut record = |peaks: &mut Peaks| {
                    if peaks.samples % TREE_RESCAN_EVERY == TREE_RESCAN_EVERY - 1 {
                        tree = harness::proc::tree(pid);
                    }
                    if let Some(s) = ProcSample::read_pids(&tree) {
                        if peaks.samples == 0 {
                            peaks.start_rss_kib = s.rss_kib;
                        }
                        peaks.samples += 1;
                        // The server at (or still at) its largest: every connection of the cell is in.
                        let at_peak = s.rss_kib >= peaks.peak_rss_kib && s.threads >= peaks.peak_threads;
                        peaks.peak_rss_kib = peaks.peak_rss_kib.max(s.rss_kib);
                        peaks.hwm_kib = peaks.hwm_kib.max(s.hwm_kib);
                        peaks.peak_threads = peaks.peak_threads.max(s.threads);
                        peaks.peak_processes = peaks.peak_processes.max(s.processes);
                        if let Some(kernel) = KernelMemory::read() {
                            peaks.start_kernel.get_or_insert(kernel);
                            if at_peak {
                                peaks.kernel_at_peak = Some(kernel);
                            }
                        }
                    }
                };
                loop {
                    record(&mut peaks);
                    // The sampler sleeps between readings (the server runs undisturbed meanwhile), and wakes early
                    // when the sender is dropped.
                    if let Err(mpsc::RecvTimeoutError::Disconnected) | Ok(()) = stopped.recv_timeout(interval) {
                        break;
                    }
                }
                // One last reading: VmHWM now covers the whole cell.
                record(&mut peaks);
                peaks
            })
            .expect("spawn sampler thread");
        Sampler { stop, handle }
    }

    /// Stops the sampler (it takes one last reading) and returns the peaks. Blocks until the thread ends.
    pub fn finish(self) -> Peaks {
        drop(self.stop);
        self.handle.join().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampler_sees_peaks() {
        let sampler = Sampler::start(std::process::id(), Duration::from_millis(5));
        let threads: Vec<_> = (0..4).map(|_| thread::spawn(|| thread::sleep(Duration::from_millis(100)))).collect();
        for t in threads {
            t.join().unwrap();
        }
        let peaks = sampler.finish();
        assert!(peaks.samples >= 2);
        assert!(peaks.peak_threads >= 5, "{peaks:?}");
    }
}
