//! The coroutine server: stackful coroutines on the `may` crate, one per connection, with lean's HTTP/1.1
//! written in blocking style.
//!
//! A **stackful coroutine** sits between a thread and a stackless async task:
//! - like a thread, it has a stack of its own, so its code reads as blocking code — `stream.read(&mut buf)`,
//!   `sleep(wait)`, a loop over requests — with every local variable kept on that stack across a wait;
//! - like a task, it is scheduled in user space: `--threads N` worker threads (may's scheduler, work-stealing)
//!   each run many coroutines, and a coroutine that must wait **yields**: its registers are saved on its stack
//!   and the worker switches to another coroutine, without a system call or the kernel's scheduler;
//! - unlike a stackless task (an `async fn` compiled to a state machine, lean's hand-written one), nothing in
//!   the code marks where it yields: a coroutine yields inside any call that would block — a read on an empty
//!   socket, a write to a full one, may's `sleep`, a receive on may's channel — because may's sockets are
//!   non-blocking underneath, registered with an epoll per worker, and park the coroutine on `WouldBlock`
//!   until epoll (or a timer) says to go on. The price of that invisibility: a call that blocks the *thread*
//!   (`std::thread::sleep`, a blocking system call, a lock held across a yield) stalls every coroutine the
//!   worker would have run, and nothing in the type system says which calls those are.
//!
//! **What a coroutine's stack costs.** Each coroutine gets [`STACK_BYTES`] (64 KiB) of stack, an `mmap`ed
//! region with a guard page below it (an overflow hits the guard page and kills that coroutine, with a
//! message, rather than corrupting memory). That is *virtual* memory: reserving it costs address space, not
//! RAM. RAM is paid per touched page: the top pages the connection's frames actually reach (httparse's
//! header array, the read buffer below, the formatting of a response: a few pages) and the bottom page, where
//! the `generator` crate writes a sentinel to detect an overflow. A thread's stack works the same way, but
//! is 8 MiB of virtual memory by default and comes with a kernel task and a 16 KiB kernel stack. may keeps up
//! to 1,000 finished coroutines for reuse, stacks included (their touched pages stay resident).
//!
//! may's workers each wait in their own epoll; an idle one wakes every 10 ms (may's default poll timeout) to
//! look for coroutines to steal from the others' queues.
//!
//! Where things run:
//! - **acceptor threads**, one per listener (SO_REUSEPORT, one per worker, as the hyper servers), block in
//!   `accept(2)` and spawn a coroutine per connection on may's scheduler ([`launch::accept_on_threads`]);
//! - **the connection's coroutine** ([`connection`]) reads a head, carries the request out, writes the
//!   response, and loops for the next one on a keep-alive connection; the header timeout (and the idle
//!   keep-alive timeout) is a read deadline, which may implements with a timer per parked read;
//! - `/say/hello` waits with `may::coroutine::sleep`: the coroutine parks on may's timer, holding its stack
//!   and nothing else, and the worker runs others;
//! - `/block` calls `std::thread::sleep` and holds a may worker for the whole wait, the anti-pattern every
//!   async server shares (docs/workload.md);
//! - **SQLite calls and factorials go to a worker pool** of OS threads (as lean-server's), and the coroutine
//!   parks on a may channel until the reply comes back: a slow database call or a 20000! never holds a may
//!   worker, so `/say/hello` and the rest keep being served. (They would also need more stack than a
//!   coroutine is given: SQLite's parser recurses.)
//!
//! A clean shutdown (SIGTERM, SIGINT): launch stops the acceptors; the connections waiting for a request
//! are cut (their socket's read side is shut down, which wakes the parked read with an end of stream), and
//! those serving one finish it, answer with `Connection: close` and end.

mod connection;

use crate::access_log::AccessLog;
use crate::blocking_pool;
use crate::cli::Limits;
use crate::launch::{self, Drain, Served};
use crate::lean::connection::BUSY;
use crate::workload::{Plan, Reply, Workload};
use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// Each coroutine's stack, reserved (virtual) memory: see the module's documentation for what is touched.
pub const STACK_BYTES: usize = 64 * 1024;

/// Starts may's scheduler with `served.threads` workers and serves until the process exits.
pub fn serve(served: Served) -> io::Result<()> {
    let Served { listener, workload, log, threads, limits, drain } = served;
    // Set before anything touches may: its scheduler starts (with these settings) on first use. Workers are
    // not pinned to cores (may pins them by default), like every other server's threads: with `--processes`,
    // several processes would otherwise pin their first worker to the same core.
    may::config().set_workers(threads).set_stack_size(STACK_BYTES / std::mem::size_of::<usize>()).set_worker_pin(false);
    let listeners = launch::acceptors(listener, threads)?;
    // Sending the reply wakes the parked coroutine: may schedules it on one of its workers. It fails only if
    // the connection is gone, and then nobody waits for the reply.
    let jobs = blocking_pool::start(&workload, blocking_pool::threads(), |reply_to: ReplyTo, reply| {
        let _ = reply_to.send(reply);
    })?;
    let shared = Arc::new(Shared {
        workload,
        log,
        limits,
        jobs,
        drain: drain.clone(),
        open: AtomicUsize::new(0),
        stopping: AtomicBool::new(false),
        watched: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(0),
    });

    let stopper = Arc::clone(&shared);
    thread::Builder::new().name("drain".into()).spawn(move || {
        // This thread blocks (parks) until shutdown starts; see lean's `serve` for why not `smol::block_on`.
        smol::future::block_on(drain.started());
        stopper.stop();
    })?;

    launch::accept_on_threads(listeners, move |stream, peer| shared.admit(stream, peer))?;
    // The acceptors and may's workers do the rest; `launch` exits the process after a clean shutdown.
    loop {
        thread::park();
    }
}

/// What every connection of one server process shares.
struct Shared {
    workload: Arc<Workload>,
    log: AccessLog,
    limits: Limits,
    /// The worker pool's queue.
    jobs: crossbeam_channel::Sender<(Plan, ReplyTo)>,
    drain: Drain,
    /// Connections open, for `--max-connections`.
    open: AtomicUsize,
    /// Set when a clean shutdown starts.
    stopping: AtomicBool,
    /// Every open connection, by id, for a clean shutdown to cut those waiting for a request.
    watched: Mutex<HashMap<u64, Arc<Watch>>>,
    next_id: AtomicU64,
}

impl Shared {
    /// On an acceptor thread: admits a connection as a new coroutine, or refuses it with a 503.
    fn admit(self: &Arc<Self>, stream: TcpStream, peer: SocketAddr) {
        if self.open.fetch_add(1, Ordering::SeqCst) >= self.limits.max_connections {
            self.open.fetch_sub(1, Ordering::SeqCst);
            refuse_busy(stream);
            return;
        }
        let open = Open(Arc::clone(self));
        let draining = self.drain.hold();
        // may's socket: the same descriptor, made non-blocking and registered with one worker's epoll. may
        // panics if epoll refuses it (the kernel out of memory): the connection is dropped, not this thread.
        let Ok(stream) = panic::catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: the descriptor is an open TCP socket, handed over by `into_raw_fd`: nothing else owns it.
            unsafe { may::net::TcpStream::from_raw_fd(stream.into_raw_fd()) }
        })) else {
            return;
        };
        let watch = self.watch(stream.as_raw_fd());
        let connection = connection::Connection::new(Arc::clone(self), stream, peer, watch);
        let coroutine = may::coroutine::Builder::new().name(format!("connection {peer}"));
        // SAFETY: may's `spawn` is unsafe for two reasons, each held to here. (1) Thread-local storage: the
        // coroutine may resume on another worker thread after any yield, so a reference into a thread-local
        // kept across a yield would point into another thread's storage. The connection's code uses no
        // thread-local of its own; the standard library's (stderr's lock owner, the allocator's arena) are
        // entered and left within one call that never yields. (2) The stack is `STACK_BYTES`, with a guard
        // page: the deep calls (SQLite, big-number arithmetic) run on the worker pool's threads, not here.
        // Nothing here blocks a worker thread where it could deadlock the scheduler: locks (the watch, the
        // registry, stderr) are held for a few instructions and never across a yield, and waits are may's
        // (socket, timer, channel) — except `/block`, which stalls the worker on purpose.
        let spawned = may::go!(coroutine, move || {
            let _counted = (open, draining);
            connection.serve();
        });
        if let Err(error) = spawned {
            eprintln!("cannot start a coroutine for {peer}: {error}");
        }
    }

    /// Registers a connection (by its socket) for a clean shutdown to find.
    fn watch(&self, fd: RawFd) -> Arc<Watch> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let watch = Arc::new(Watch { id, fd, phase: Mutex::new(Phase::Waiting) });
        lock(&self.watched).insert(id, Arc::clone(&watch));
        watch
    }

    /// Forgets a connection, before its socket is closed: [`Shared::stop`], which holds the registry's lock
    /// while it shuts sockets down, never touches a descriptor that was closed (and maybe reused).
    fn unwatch(&self, watch: &Watch) {
        lock(&self.watched).remove(&watch.id);
    }

    /// A clean shutdown starts: every connection waiting for a request (or lingering) is cut; those serving
    /// one see `stopping` when they answer, and close after it.
    fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        for watch in lock(&self.watched).values() {
            watch.cut();
        }
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Runs a database call or a factorial on the worker pool. The coroutine parks on the reply channel until a
    /// pool thread answers; its worker thread runs other coroutines meanwhile.
    fn on_pool(&self, plan: Plan) -> Reply {
        let (reply_to, reply) = may::sync::mpsc::channel();
        if self.jobs.send((plan, reply_to)).is_err() {
            return Reply::text(500, "internal error: the worker pool is gone");
        }
        // The coroutine yields here until the pool thread sends.
        reply.recv().unwrap_or_else(|_| Reply::text(500, "internal error: the request's worker died"))
    }
}

/// A connection's place in the clean-shutdown handshake.
struct Watch {
    id: u64,
    /// The connection's socket (owned by its coroutine).
    fd: RawFd,
    phase: Mutex<Phase>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a request head (or idle on a keep-alive connection, or lingering): a shutdown may cut it.
    Waiting,
    /// Serving a request: a shutdown lets it finish.
    Busy,
    /// Cut by a shutdown: the socket's read side is shut down, and the connection ends.
    Cut,
}

impl Watch {
    /// The connection is about to wait for a request: false if a shutdown has cut it (or is under way).
    fn waiting(&self, shared: &Shared) -> bool {
        {
            let mut phase = lock(&self.phase);
            if *phase == Phase::Cut {
                return false;
            }
            *phase = Phase::Waiting;
        }
        // Checked after `Waiting` is set: a shutdown that started before then is seen here, one that starts
        // after it finds the connection waiting and cuts it.
        !shared.stopping()
    }

    /// A request head has arrived: the connection serves it unless a shutdown cut it first.
    fn busy(&self) -> bool {
        let mut phase = lock(&self.phase);
        if *phase == Phase::Cut {
            return false;
        }
        *phase = Phase::Busy;
        true
    }

    /// On the drain thread: cuts the connection if it is waiting. Shutting down the read side makes a parked
    /// read return an end of stream (epoll reports it like a client's FIN), so the coroutine wakes and ends.
    fn cut(&self) {
        let mut phase = lock(&self.phase);
        if *phase == Phase::Waiting {
            *phase = Phase::Cut;
            // SAFETY: the descriptor is still open while it is borrowed here: the coroutine removes its watch
            // from the registry, whose lock the caller holds, before it closes the socket.
            let socket = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.fd) };
            let _ = rustix::net::shutdown(socket, rustix::net::Shutdown::Read);
        }
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked (each holder does one assignment).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Counts a connection as open until dropped.
struct Open(Arc<Shared>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// On the acceptor thread: a 503 to a connection beyond `--max-connections`, then close it.
fn refuse_busy(mut stream: TcpStream) {
    // A few dozen bytes into an empty socket buffer: this write does not block.
    let _ = stream.write(BUSY);
    let _ = stream.shutdown(Shutdown::Write);
}

/// Where a blocking call's reply goes: the channel its coroutine waits on.
type ReplyTo = may::sync::mpsc::Sender<Reply>;

#[cfg(test)]
mod tests {
    use std::thread::{self, ThreadId};
    use std::time::Duration;

    /// What `Connection::carry_out` relies on for `/say/hello`: may resumes a coroutine that slept on its timer
    /// thread, not on a worker, and one `yield_now` puts it back on a worker (the only one here).
    #[test]
    fn a_sleeper_wakes_on_the_timer_thread_and_a_yield_returns_it_to_a_worker() {
        may::config().set_workers(1).set_worker_pin(false);
        // SAFETY: the coroutine keeps no reference into a thread-local across a yield: `thread::current()`
        // returns an owned handle, and only its id (a number) is kept. It needs a few hundred bytes of stack.
        let handle = may::go!(|| {
            let here = || thread::current().id();
            let before = here();
            may::coroutine::sleep(Duration::from_millis(10));
            let woken = here();
            may::coroutine::yield_now();
            (before, woken, here())
        });
        let (before, woken, after_yield): (ThreadId, ThreadId, ThreadId) = handle.join().expect("the coroutine");
        assert_ne!(woken, before, "the sleeper was resumed on its worker, not on may's timer thread");
        assert_eq!(after_yield, before, "yield_now did not return the coroutine to the worker");
    }
}
