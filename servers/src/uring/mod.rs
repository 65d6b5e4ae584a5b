//! The uring server: completion loops on io_uring, with lean-server's own HTTP/1.1 — the same state machines as
//! lean's event loops, driven by completions instead of readiness.
//!
//! A readiness loop (epoll, [`crate::lean`]) asks the kernel "which sockets could I read now?", then makes one
//! system call per read and per write to do it. A completion loop hands the kernel the work itself: "receive
//! into a buffer on this socket", "send these bytes", "wake me in 3 s", "accept whatever comes on this
//! listener". The kernel does the read into the buffer and reports when it is *done*. Requests go in on a
//! submission queue and results come back on a completion queue, two rings of memory shared with the kernel,
//! so that one `io_uring_enter` both submits every operation queued during a turn and waits for the next
//! completions. On 20,000 keep-alive requests over 64 connections, lean-server made 2.04 system calls per
//! request (a `recvfrom`, a `sendto`, a share of `epoll_wait`) and uring-server 0.06 to 0.13, all of them
//! `io_uring_enter` (results/experiments/syscalls-per-request.md).
//!
//! What completion changes in the program:
//! - **the kernel owns a buffer while an operation is in flight**: a send's bytes and a receive's buffer must
//!   stay where they are until the completion comes, even if the connection is closed meanwhile. So a closed
//!   connection cancels its operations (`AsyncCancel`) and keeps its slot, and its output buffer, until their
//!   completions have come back; only then is the slot reused;
//! - **every operation is named** by its `user_data`: (connection slot, generation, operation), so that a late
//!   completion is matched to the connection it was for ([`ring_loop`]);
//! - **a receive needs a buffer before the bytes exist.** lean-server's buffer policy is "buffers only while
//!   bytes are in transit": an idle keep-alive connection holds none. A buffer per posted receive would break
//!   it — every idle connection waits with a receive posted. So each loop registers a pool of provided buffers
//!   with the kernel (`ProvideBuffers`, buffer group 0), and a receive is posted without a buffer
//!   (`BUFFER_SELECT`): the kernel takes one from the pool only when bytes arrive. The loop copies the bytes to
//!   the connection (as lean copies them from its one scratch buffer) and gives the buffer back at once. An
//!   idle connection costs its state machine and a receive waiting in the kernel, nothing more;
//! - **timers are operations too**: `/say/hello`'s wait, the header timeout and the idle keep-alive timeout are
//!   `Timeout` operations on the ring (moved earlier with `TimeoutUpdate`), in place of lean's timer heap;
//! - the **worker pool** (database, factorial) is lean's; its replies come back through an eventfd whose read
//!   is itself an operation on the ring.
//!
//! `--threads N` runs N loops, each with its own ring and its own listening socket (SO_REUSEPORT) on which one
//! multishot accept (`AcceptMulti`) stays posted. `/block` sleeps the loop's thread, as in every async server.

mod ring_loop;

use crate::launch::{self, Served};
use crate::workload::{Plan, Reply, Workload};
use io_uring::IoUring;
use ring_loop::RingLoop;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// The fewest worker threads for database calls and factorials (more on a machine with more CPUs).
const MIN_POOL_THREADS: usize = 4;

/// Where the kernel says whether io_uring may be used (0: by all, 1: by privileged processes, 2: by none).
pub const DISABLED_KNOB: &str = "/proc/sys/kernel/io_uring_disabled";

/// Checks that this process may set up an io_uring at all, for a clear message before the server starts.
pub fn probe() -> Result<(), String> {
    IoUring::new(2).map(drop).map_err(|error| {
        format!("cannot set up an io_uring ({error}); is it disabled in {DISABLED_KNOB} or by a seccomp filter?")
    })
}

/// What every loop of one server process shares.
pub(crate) struct Shared {
    pub workload: Arc<Workload>,
    pub log: crate::access_log::AccessLog,
    pub limits: crate::cli::Limits,
    /// Connections open in all loops, for `--max-connections`.
    pub open: AtomicUsize,
    /// Set when a clean shutdown starts.
    pub stopping: Arc<AtomicBool>,
    /// The worker pool's queue.
    pub jobs: crossbeam_channel::Sender<Job>,
}

/// A blocking call for the worker pool, and where its reply goes.
pub(crate) struct Job {
    pub plan: Plan,
    pub slot: usize,
    pub generation: u32,
    pub mailbox: Arc<Mailbox>,
}

/// A reply from the worker pool.
pub(crate) struct Finished {
    pub slot: usize,
    pub generation: u32,
    pub reply: Reply,
}

/// Where the worker pool leaves replies for one loop, and the eventfd whose posted read completes on the ring.
pub(crate) struct Mailbox {
    pub finished: Mutex<Vec<Finished>>,
    pub eventfd: OwnedFd,
}

impl Mailbox {
    fn new() -> io::Result<Mailbox> {
        // SAFETY: eventfd(2) takes no pointers; a non-negative result is a new descriptor that we own.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by eventfd(2) and nothing else owns it.
        Ok(Mailbox { finished: Mutex::new(Vec::new()), eventfd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    pub fn post(&self, finished: Finished) {
        self.finished.lock().unwrap_or_else(|e| e.into_inner()).push(finished);
        self.wake();
    }

    /// Adds 1 to the eventfd's counter, which completes the read the loop has posted on its ring.
    pub fn wake(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a live local array. Fails only if the counter is full (2^64 - 2 wakes
        // not yet read): the loop has a read posted and will empty it.
        let _ = unsafe { libc::write(self.eventfd.as_raw_fd(), one.as_ptr().cast(), one.len()) };
    }
}

/// Runs `served.threads` completion loops until a clean shutdown has drained them all.
pub fn serve(served: Served) -> io::Result<()> {
    let Served { listener, workload, log, threads, limits, drain } = served;
    // One listening socket per loop (SO_REUSEPORT), all open before `launch` announced the server.
    let listeners = launch::acceptors(listener, threads)?;
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = start_pool(&workload, cpus.max(MIN_POOL_THREADS))?;
    let stopping = Arc::new(AtomicBool::new(false));
    let shared = Shared { workload, log, limits, open: AtomicUsize::new(0), stopping: Arc::clone(&stopping), jobs };
    let loops = listeners
        .into_iter()
        .map(|listener| {
            let mailbox = Arc::new(Mailbox::new()?);
            RingLoop::new(&shared, listener, mailbox, drain.hold())
        })
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot set up an io_uring loop: {e}")))?;

    // On SIGTERM or SIGINT, `launch` starts the drain: every loop is told through its mailbox, stops accepting,
    // closes its idle connections and ends once the others have been answered.
    let mailboxes: Vec<_> = loops.iter().map(RingLoop::mailbox).collect();
    thread::Builder::new().name("drain".into()).spawn(move || {
        // This thread blocks (parks) until shutdown starts; see lean::serve for why not `smol::block_on`.
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
            .map(|(i, ring_loop)| {
                thread::Builder::new().name(format!("ring-{}", i + 1)).spawn_scoped(scope, || ring_loop.run())
            })
            .collect::<io::Result<_>>()?;
        first.run()?;
        for other in others {
            other.join().map_err(|_| io::Error::other("a completion loop panicked"))??;
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
            // this is where blocking belongs, off the completion loops.
            for job in queue {
                let reply = panic::catch_unwind(AssertUnwindSafe(|| workload.run_blocking(job.plan)))
                    .unwrap_or_else(|_| Reply::text(500, "internal error: the request's worker panicked"));
                job.mailbox.post(Finished { slot: job.slot, generation: job.generation, reply });
            }
        })?;
    }
    Ok(jobs)
}
