//! What a server made of hand-written loops needs around them — the part an async runtime provides: N loops on
//! their own threads, each with its own listening socket; a worker pool for blocking calls whose replies come
//! back to the loop that asked; and a clean shutdown that reaches every loop. lean-server's readiness loops and
//! uring-server's completion loops both run on it; only the loop and its mailbox differ.

use crate::access_log::AccessLog;
use crate::blocking_pool;
use crate::cli::Limits;
use crate::launch::{self, Draining, Served};
use crate::workload::{Plan, Reply, Workload};
use std::io;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

/// What every loop of one server process shares.
pub struct Shared<M> {
    pub workload: Arc<Workload>,
    pub log: AccessLog,
    pub limits: Limits,
    /// Connections open in all loops, for `--max-connections`.
    pub open: AtomicUsize,
    /// Set when a clean shutdown starts.
    pub stopping: Arc<AtomicBool>,
    /// The worker pool's queue: a blocking plan and where its reply goes.
    pub jobs: crossbeam_channel::Sender<(Plan, ReplyTo<M>)>,
}

/// Where a reply from the worker pool goes: the loop's mailbox, and the connection it is for.
pub struct ReplyTo<M> {
    pub slot: usize,
    pub generation: u32,
    pub mailbox: Arc<M>,
}

/// A reply from the worker pool, for the connection in `slot` if it still has this `generation`.
pub struct Finished {
    pub slot: usize,
    pub generation: u32,
    pub reply: Reply,
}

/// Where the worker pool leaves replies for one loop, and how it wakes the loop: the loop's own kind of event.
pub trait Mailbox: Send + Sync + 'static {
    fn post(&self, finished: Finished);
    /// Wakes the loop without a reply (a shutdown has started).
    fn wake(&self);
}

/// A loop that serves the connections of one listening socket on one thread.
pub trait Loop: Send + 'static {
    type Mailbox: Mailbox;
    fn new(shared: &'static Shared<Self::Mailbox>, listener: TcpListener, draining: Draining) -> io::Result<Self>
    where
        Self: Sized;
    fn mailbox(&self) -> Arc<Self::Mailbox>;
    /// Runs until a clean shutdown has closed every connection.
    fn run(self: Box<Self>) -> io::Result<()>;
}

/// Runs `served.threads` loops of type `L`, on threads named `{name}-1`, `{name}-2`…, until a clean shutdown has
/// drained them all.
pub fn serve<L: Loop>(served: Served, name: &str) -> io::Result<()> {
    let Served { listener, workload, log, threads, limits, drain } = served;
    // One listening socket per loop (SO_REUSEPORT), all open before `launch` announced the server: the kernel
    // spreads new connections over the loops' accept queues, and a connection stays on its loop for life.
    let listeners = launch::acceptors(listener, threads)?;
    let jobs = blocking_pool::start(&workload, blocking_pool::threads(), |to: ReplyTo<L::Mailbox>, reply| {
        to.mailbox.post(Finished { slot: to.slot, generation: to.generation, reply })
    })?;
    let stopping = Arc::new(AtomicBool::new(false));
    // Shared by the loops for the life of the process, which ends in `launch` once they have drained.
    let shared: &'static Shared<L::Mailbox> = Box::leak(Box::new(Shared {
        workload,
        log,
        limits,
        open: AtomicUsize::new(0),
        stopping: Arc::clone(&stopping),
        jobs,
    }));
    let loops = listeners
        .into_iter()
        .map(|listener| L::new(shared, listener, drain.hold()).map(Box::new))
        .collect::<io::Result<Vec<_>>>()?;

    // On SIGTERM or SIGINT, `launch` starts the drain: every loop is told through its mailbox, stops accepting,
    // closes its idle connections and ends once the others have been answered.
    let mailboxes: Vec<_> = loops.iter().map(|l| l.mailbox()).collect();
    thread::Builder::new().name("drain".into()).spawn(move || {
        // This thread blocks (parks) until shutdown starts. futures-lite's `block_on` only parks the thread;
        // `smol::block_on` would also start async-io's reactor, whose epoll and event descriptors are opened
        // lazily — and a flood of connections may have taken the last descriptor by then (EMFILE), which made
        // the reactor panic. The loops need no such reactor.
        smol::future::block_on(drain.started());
        stopping.store(true, Ordering::SeqCst);
        for mailbox in mailboxes {
            mailbox.wake();
        }
    })?;

    let mut loops = loops.into_iter();
    let first = loops.next().expect("at least one loop");
    let others: Vec<_> = loops
        .enumerate()
        .map(|(i, l)| thread::Builder::new().name(format!("{name}-{}", i + 1)).spawn(move || l.run()))
        .collect::<io::Result<_>>()?;
    first.run()?;
    for other in others {
        other.join().map_err(|_| io::Error::other(format!("a {name} loop panicked")))??;
    }
    // Drained: `launch` is about to exit the process.
    loop {
        thread::park();
    }
}
