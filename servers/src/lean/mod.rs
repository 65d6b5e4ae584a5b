//! The lean server: explicit event loops on mio, with their own HTTP/1.1 — what an async runtime does under
//! `async`/`await`, written out.
//!
//! An async server turns each connection into a task: a future the executor polls when the reactor says its
//! socket is ready or a timer says its wait is over. Here the same machinery is spelled out, with nothing
//! generic in between:
//! - the **reactor** is a [`mio::Poll`] (epoll), edge-triggered: an event says "something changed", and the
//!   loop reads or writes until the kernel says `WouldBlock`;
//! - a **task** is a small state machine per connection ([`event_loop`]): reading a head, waiting on a timer,
//!   waiting on the worker pool, writing, skipping a body. Where an `async fn` would `.await`, the state
//!   machine returns to the loop;
//! - the **timer wheel** is a binary heap of deadlines (`/say/hello`'s wait, the header timeout, idle
//!   keep-alive connections);
//! - **`spawn_blocking`** is a small pool of worker threads for the database and the factorial, whose results
//!   come back through a [`mio::Waker`] (an eventfd), so that a loop never blocks — except on `/block`, which
//!   sleeps the loop's thread on purpose, the anti-pattern every async server shares.
//!
//! `--threads N` runs N loops, each on its own thread with its own listening socket on the port
//! (SO_REUSEPORT): the kernel spreads new connections among them, and a connection stays on its loop for life.
//! A connection's memory is its state machine (about 220 bytes) plus buffers only while bytes are in transit:
//! the read buffer is allocated when bytes arrive, sized to them, and freed once they are parsed; the write
//! buffer lives until the response is sent. docs/model.md walks through a request's life here and in the
//! async servers.

mod event_loop;
pub mod http1;

use crate::launch::{self, Served};
use crate::workload::{Reply, Workload};
use event_loop::{EventLoop, Finished, Job, Shared};
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

/// The fewest worker threads for database calls and factorials (more on a machine with more CPUs).
const MIN_POOL_THREADS: usize = 4;

/// Runs `served.threads` event loops until a clean shutdown has drained them all.
pub fn serve(served: Served) -> io::Result<()> {
    let Served { listener, workload, log, threads, limits, drain } = served;
    // One listening socket per loop (SO_REUSEPORT), all open before `launch` announced the server: the kernel
    // spreads new connections over the loops' accept queues.
    let listeners = launch::acceptors(listener, threads)?;
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = start_pool(&workload, cpus.max(MIN_POOL_THREADS))?;
    let stopping = Arc::new(AtomicBool::new(false));
    let shared = Shared { workload, log, limits, open: AtomicUsize::new(0), stopping: Arc::clone(&stopping), jobs };
    let loops = listeners
        .into_iter()
        .map(|listener| EventLoop::new(&shared, listener, drain.hold()))
        .collect::<io::Result<Vec<_>>>()?;

    // On SIGTERM or SIGINT, `launch` starts the drain: every loop is told, stops accepting, closes its idle
    // connections and ends once the others have been answered.
    let mailboxes: Vec<_> = loops.iter().map(EventLoop::mailbox).collect();
    thread::Builder::new().name("drain".into()).spawn(move || {
        // This thread blocks (parks) until shutdown starts. futures-lite's `block_on` only parks the thread;
        // `smol::block_on` would also start async-io's reactor, whose epoll and event descriptors are opened
        // lazily — and a flood of connections may have taken the last descriptor by then (EMFILE), which made
        // the reactor panic. The event loops use mio; nothing here needs that reactor.
        smol::future::block_on(drain.started());
        stopping.store(true, Ordering::SeqCst);
        for mailbox in mailboxes {
            mailbox.wake();
        }
    })?;

    thread::scope(|scope| {
        let mut loops = loops.into_iter();
        let first = loops.next().expect("at least one loop");
        let others: Vec<_> = loops
            .enumerate()
            .map(|(i, event_loop)| {
                thread::Builder::new().name(format!("loop-{}", i + 1)).spawn_scoped(scope, || event_loop.run())
            })
            .collect::<io::Result<_>>()?;
        first.run()?;
        for other in others {
            other.join().map_err(|_| io::Error::other("an event loop panicked"))??;
        }
        Ok::<_, io::Error>(())
    })?;
    // Drained: `launch` is about to exit the process.
    loop {
        thread::park();
    }
}

/// Starts the worker pool and returns the queue of its jobs.
fn start_pool(workload: &Arc<Workload>, threads: usize) -> io::Result<crossbeam_channel::Sender<Job>> {
    let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
    for id in 0..threads {
        let queue = queue.clone();
        let workload = Arc::clone(workload);
        thread::Builder::new().name(format!("pool-{id}")).spawn(move || {
            // A worker blocks here until a job comes, then on SQLite or the CPU for as long as the job takes:
            // this is where blocking belongs, off the event loops.
            for job in queue {
                // A panic would be a bug (stderr shows it); the request still gets an answer and the worker
                // lives on, rather than leaving the connection waiting for a reply that never comes.
                let reply = panic::catch_unwind(AssertUnwindSafe(|| workload.run_blocking(job.plan)))
                    .unwrap_or_else(|_| Reply::text(500, "internal error: the request's worker panicked"));
                job.mailbox.post(Finished { slot: job.slot, generation: job.generation, reply });
            }
        })?;
    }
    Ok(jobs)
}
