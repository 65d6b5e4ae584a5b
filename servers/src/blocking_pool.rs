//! The worker pool of the servers that must never block their own threads — lean-server's event loops,
//! uring-server's completion loops and coroutine-server's coroutines: what tokio calls `spawn_blocking`.
//!
//! A database call or a factorial holds its thread for as long as it takes. A thread that serves many
//! connections at once must not be that thread, so the request hands its plan to this pool and yields; a pool
//! thread runs it and delivers the reply the way its server waits for it (a mailbox and an eventfd, or a
//! coroutine channel).

use crate::workload::{Plan, Reply, Workload};
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;

/// The fewest pool threads (more on a machine with more CPUs).
pub const MIN_THREADS: usize = 4;

/// How many pool threads a server process starts: one per CPU it may run on, at least [`MIN_THREADS`].
pub fn threads() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get()).max(MIN_THREADS)
}

/// Starts `threads` pool threads and returns the queue of their jobs: a plan and where its reply goes, which
/// `deliver` is given with the reply.
pub fn start<T, D>(
    workload: &Arc<Workload>,
    threads: usize,
    deliver: D,
) -> io::Result<crossbeam_channel::Sender<(Plan, T)>>
where
    T: Send + 'static,
    D: Fn(T, Reply) + Clone + Send + 'static,
{
    let (jobs, queue) = crossbeam_channel::unbounded::<(Plan, T)>();
    for id in 0..threads {
        let queue = queue.clone();
        let workload = Arc::clone(workload);
        let deliver = deliver.clone();
        thread::Builder::new().name(format!("pool-{id}")).spawn(move || {
            // A pool thread blocks here until a job comes, then on SQLite or the CPU for as long as the job
            // takes: this is where blocking belongs, off the threads that serve connections.
            for (plan, reply_to) in queue {
                // A panic would be a bug (stderr shows it); the request still gets an answer and the thread
                // lives on, rather than leaving the connection waiting for a reply that never comes.
                let reply = panic::catch_unwind(AssertUnwindSafe(|| workload.run_blocking(plan)))
                    .unwrap_or_else(|_| Reply::text(500, "internal error: the request's worker panicked"));
                deliver(reply_to, reply);
            }
        })?;
    }
    Ok(jobs)
}
