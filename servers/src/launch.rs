//! What every server does around its concurrency layer: bind, open the workload, print `listening on`, stop
//! cleanly on SIGINT/SIGTERM — and, with `--processes P`, supervise P worker processes sharing the port.
//!
//! A server binary parses its flags and calls [`run`] with a `serve` function: the accept loop of its model.
//! `serve` runs on its own thread; the main thread waits for a signal. On one, the listening socket is shut
//! down (so the accept loop stops taking connections), requests in flight get `--grace-s` seconds to finish,
//! and the process exits 0.

use crate::access_log::AccessLog;
use crate::cli::{Limits, ServerArgs};
use crate::net;
use crate::workload::{ServerInfo, Workload};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// What a server's concurrency layer is given.
pub struct Served {
    /// Listening with a backlog of `net.core.somaxconn` ([`net::backlog`]), TCP_NODELAY (inherited by accepted
    /// sockets) and SO_REUSEPORT (for worker processes, and for more acceptors: [`acceptors`]).
    pub listener: TcpListener,
    /// Routes, factorial cache, database: shared by every worker of this process.
    pub workload: Arc<Workload>,
    pub log: AccessLog,
    /// Worker or executor threads to start (already defaulted to the CPU count).
    pub threads: usize,
    /// Timeouts and sizes that keep slow or hostile clients from taking the server down.
    pub limits: Limits,
    /// Tells connections when a clean shutdown starts, and counts those that must finish first.
    pub drain: Drain,
}

/// The clean-shutdown handshake between [`run`] and a server's connections.
///
/// Requests are counted by the workload (`Workload::start_request`), but a request is only done when its
/// response has been *written*. Thread servers write it before their count drops; an async HTTP library writes
/// it after the handler returns. So an async server holds a [`Draining`] guard per connection, and on shutdown
/// each connection finishes the request it is serving, writes the response, and closes.
#[derive(Clone)]
pub struct Drain {
    /// Closed when shutdown starts: every `recv()` on it then returns at once, which makes it a broadcast.
    started: smol::channel::Receiver<()>,
    /// Connections that must finish before the process exits.
    busy: Arc<std::sync::atomic::AtomicUsize>,
}

impl Drain {
    /// A drain that `started` controls, for unit tests that build a connection task by hand.
    #[cfg(test)]
    pub(crate) fn for_test(started: smol::channel::Receiver<()>) -> Drain {
        Drain { started, busy: Arc::default() }
    }

    /// Counts a connection as busy until the guard is dropped.
    pub fn hold(&self) -> Draining {
        self.busy.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Draining(Arc::clone(&self.busy))
    }

    /// Resolves when a clean shutdown starts. The task waiting here yields until then.
    pub async fn started(&self) {
        let _ = self.started.recv().await;
    }

    fn busy(&self) -> usize {
        self.busy.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// See [`Drain::hold`].
pub struct Draining(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Draining {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Exit code for bad flags or a server that cannot start (port in use, database unusable).
const EXIT_USAGE: u8 = 2;

/// Runs a server: `serve` is its accept loop, `model` a few words on its concurrency model, `threads` the
/// worker threads per process it will start (0: one per request).
pub fn run(
    server: &'static str,
    model: &'static str,
    args: ServerArgs,
    threads: usize,
    serve: impl FnOnce(Served) -> io::Result<()> + Send + 'static,
) -> ExitCode {
    let info = ServerInfo { server, model, threads, processes: usize::from(args.processes) };
    let result = if args.processes > 1 && args.worker_of.is_none() {
        supervise(&args)
    } else {
        serve_in_this_process(args, info, serve)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{server}: {error}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn serve_in_this_process(
    args: ServerArgs,
    info: ServerInfo,
    serve: impl FnOnce(Served) -> io::Result<()> + Send + 'static,
) -> io::Result<()> {
    if let Some(parent) = args.worker_of {
        die_with_parent(parent);
    }
    // Room for every connection `--max-connections` allows (two descriptors each for tiny_http, which duplicates
    // its sockets), made before the first one arrives rather than by doubling during a burst.
    harness::limits::reserve_descriptors(2 * args.limits().max_connections as u64 + 64);
    let addr = net::resolve(&args.host, args.port)?;
    // SO_REUSEPORT always: other worker processes, or more acceptors of this one ([`acceptors`]), may listen
    // on the same port.
    let listener =
        net::listen(addr, true).map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    let addr = listener.local_addr()?;
    let db_path = args.db.clone().unwrap_or_else(|| default_db_path(addr));
    let workload = Workload::new(info.clone(), args.hello_ms, &db_path)
        .map_err(|e| io::Error::other(format!("cannot open database {}: {e}", db_path.display())))?;
    let workload = Arc::new(workload);
    // Registered before `listening on` is printed, so that a signal sent right after it is never missed.
    let mut signals = Signals::new([SIGINT, SIGTERM])?;

    // Every acceptor's listener exists before `listening on` is printed: a client that connects right after it
    // is spread over all of them.
    if ACCEPT_ON_EVERY_THREAD.load(std::sync::atomic::Ordering::SeqCst) {
        let more = (1..info.threads.max(1)).map(|_| net::listen_again(&listener)).collect::<io::Result<Vec<_>>>()?;
        if let Ok(mut prepared) = PREPARED.lock() {
            *prepared = more;
        }
    }
    let listener_fd = listener.as_raw_fd();
    let (start_drain, started) = smol::channel::bounded(1);
    let drain = Drain { started, busy: Arc::default() };
    let served = Served {
        drain: drain.clone(),
        listener,
        workload: Arc::clone(&workload),
        log: AccessLog::new(args.quiet),
        threads: info.threads,
        limits: args.limits(),
    };
    let (ended_tx, ended) = mpsc::channel::<Event>();
    let serving = ended_tx.clone();
    thread::Builder::new().name("accept".into()).spawn(move || {
        let _ = serving.send(Event::ServeEnded(serve(served)));
    })?;
    thread::spawn(move || {
        if signals.forever().next().is_some() {
            let _ = ended_tx.send(Event::Signal);
        }
    });

    announce(addr);
    match ended.recv() {
        Ok(Event::Signal) => {
            STOPPING.store(true, std::sync::atomic::Ordering::SeqCst);
            // Stop accepting: shutting down a listening socket wakes a blocked accept() with an error and
            // refuses new connections; connections already accepted are served to the end.
            let more = MORE_LISTENERS.lock().map(|fds| fds.clone()).unwrap_or_default();
            for fd in std::iter::once(listener_fd).chain(more) {
                // SAFETY: `fd` is one of this process's listening sockets, all open until it exits, so borrowing
                // it for the one call is sound.
                let listener = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
                let _ = rustix::net::shutdown(listener, rustix::net::Shutdown::Read);
            }
            start_drain.close();
            let deadline = Instant::now() + Duration::from_secs_f64(args.grace_s.max(0.0));
            while (workload.in_flight() > 0 || drain.busy() > 0) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(5));
            }
            Ok(())
        }
        Ok(Event::ServeEnded(Ok(()))) => Err(io::Error::other("the accept loop ended")),
        Ok(Event::ServeEnded(Err(e))) => Err(io::Error::other(format!("the accept loop failed: {e}"))),
        Err(_) => Err(io::Error::other("the accept thread died")),
    }
}

enum Event {
    Signal,
    ServeEnded(io::Result<()>),
}

/// Prints the readiness line the lab and the tests wait for.
fn announce(addr: SocketAddr) {
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "listening on http://{addr}");
    let _ = stdout.flush();
}

fn default_db_path(addr: SocketAddr) -> PathBuf {
    std::env::temp_dir().join(format!("lab-visits-{}.sqlite", addr.port()))
}

/// Makes the kernel kill this worker when its supervisor dies, even by SIGKILL.
fn die_with_parent(parent: u32) {
    harness::process::die_with_parent_now(parent);
}

/// How often a crashed worker process is restarted before the supervisor gives up (tornado's default).
const MAX_RESTARTS: usize = 100;

/// The parent of `--processes P`: reserves the port, starts P workers of this same binary on it, restarts a
/// worker that dies, and on SIGINT/SIGTERM passes SIGTERM on and waits for them.
fn supervise(args: &ServerArgs) -> io::Result<()> {
    let addr = net::resolve(&args.host, args.port)?;
    // Holding the port (not listening) resolves `--port 0` and keeps anyone else off it while workers restart.
    let (_reservation, addr) =
        net::reserve(addr).map_err(|e| io::Error::new(e.kind(), format!("cannot bind {addr}: {e}")))?;
    let db = args.db.clone().unwrap_or_else(|| default_db_path(addr));
    let mut signals = Signals::new([SIGINT, SIGTERM])?;

    let spawn_worker = || -> io::Result<Child> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(std::env::args_os().skip(1))
            .arg("--port")
            .arg(addr.port().to_string())
            .arg("--db")
            .arg(&db)
            .arg("--worker-of")
            .arg(std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?;
        // Wait for the worker's own `listening on` line, then keep draining its stdout.
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        if !line.starts_with("listening on ") {
            let _ = child.kill();
            let status = child.wait()?;
            return Err(io::Error::other(format!("worker process exited ({status}) before listening")));
        }
        thread::spawn(move || io::copy(&mut stdout, &mut io::sink()));
        Ok(child)
    };

    // Spawned on the main thread: PR_SET_PDEATHSIG fires when the *thread* that forked the child exits.
    let mut workers = (0..args.processes).map(|_| spawn_worker()).collect::<io::Result<Vec<_>>>()?;
    announce(addr);

    let mut restarts = 0;
    loop {
        if signals.pending().next().is_some() {
            break;
        }
        for worker in &mut workers {
            if let Some(status) = worker.try_wait()? {
                restarts += 1;
                if restarts > MAX_RESTARTS {
                    return Err(io::Error::other("worker processes keep dying; giving up"));
                }
                eprintln!("worker process {} exited ({status}); restarting it", worker.id());
                *worker = spawn_worker()?;
            }
        }
        thread::sleep(Duration::from_millis(20));
    }

    for worker in &workers {
        harness::process::signal_process(worker.id(), harness::process::Signal::TERM);
    }
    let deadline = Instant::now() + Duration::from_secs_f64(args.grace_s.max(0.0) + 1.0);
    for worker in &mut workers {
        while worker.try_wait()?.is_none() {
            if Instant::now() > deadline {
                let _ = worker.kill();
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
    Ok(())
}

/// Set by [`accept_on_every_thread`].
static ACCEPT_ON_EVERY_THREAD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// Listeners opened before `listening on` for [`acceptors`] to hand out.
static PREPARED: std::sync::Mutex<Vec<TcpListener>> = std::sync::Mutex::new(Vec::new());

/// Called by a server's `main` before [`run`] when its `serve` will call [`acceptors`] with its thread count:
/// the extra listeners are then opened before the server announces itself.
pub fn accept_on_every_thread() {
    ACCEPT_ON_EVERY_THREAD.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// The listeners [`acceptors`] added, shut down with the first one when a clean shutdown starts.
static MORE_LISTENERS: std::sync::Mutex<Vec<std::os::fd::RawFd>> = std::sync::Mutex::new(Vec::new());

/// `n` listening sockets on the server's port for `n` acceptors: `listener` and `n - 1` more, each with an
/// accept queue of its own ([`net::backlog`] deep) and SO_REUSEPORT, so the kernel spreads new connections over
/// them. A burst of connects then fills `n` queues, drained by `n` accept loops that can run on `n` threads at
/// once, instead of one queue drained by one loop.
pub fn acceptors(listener: TcpListener, n: usize) -> io::Result<Vec<TcpListener>> {
    let mut prepared = PREPARED.lock().map(|mut p| std::mem::take(&mut *p)).unwrap_or_default();
    let mut all = vec![listener];
    for _ in 1..n.max(1) {
        let more = match prepared.pop() {
            Some(listener) => listener,
            None => net::listen_again(&all[0])?,
        };
        if let Ok(mut fds) = MORE_LISTENERS.lock() {
            fds.push(more.as_raw_fd());
        }
        all.push(more);
    }
    // A prepared listener nobody accepts on would strand the connections the kernel sends it: close them.
    drop(prepared);
    Ok(all)
}

/// Accepts on `listener` on this thread, for as long as `take` accepts what it is given: blocks in accept(2)
/// until a connection is ready, hands it to `take`, and returns `take`'s error. An accept error (out of file
/// descriptors, or the listener shut down for exit) is reported and retried after [`ACCEPT_BACKOFF`].
/// Accepted sockets need no `TCP_NODELAY` of their own: they inherit the listener's ([`net`]).
pub fn accept_loop(listener: &TcpListener, mut take: impl FnMut(TcpStream, SocketAddr) -> io::Result<()>) -> io::Error {
    loop {
        // The thread blocks here until a connection is ready.
        let taken = match listener.accept() {
            Ok((stream, peer)) => take(stream, peer),
            Err(error) => {
                report_accept_error(&error);
                thread::sleep(ACCEPT_BACKOFF);
                Ok(())
            }
        };
        if let Err(error) = taken {
            return error;
        }
    }
}

/// Accepts on `listeners`, each on a thread of its own running [`accept_loop`], and hands every connection to
/// `serve` (which makes it a task). An accept loop that is itself a task on the executor waits its turn behind
/// the connection tasks: in a burst, behind thousands of new connections, while the kernel's accept queue fills
/// and then drops handshakes (results/experiments/accept-queue-separated.txt). A thread that does nothing else
/// is woken by the kernel as soon as a connection is ready — the split Netty makes between a "boss" event loop
/// that accepts and the "worker" loops that serve.
pub fn accept_on_threads(
    listeners: Vec<TcpListener>,
    serve: impl Fn(TcpStream, SocketAddr) + Clone + Send + 'static,
) -> io::Result<()> {
    for (i, listener) in listeners.into_iter().enumerate() {
        let serve = serve.clone();
        thread::Builder::new().name(format!("acceptor-{i}")).spawn(move || {
            // `serve` never refuses a connection, so the loop runs until the process exits.
            accept_loop(&listener, |stream, peer| {
                serve(stream, peer);
                Ok(())
            })
        })?;
    }
    Ok(())
}

/// Set when a signal has started a clean shutdown: accept errors are then expected.
static STOPPING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// How long an accept loop waits after an accept error (EMFILE, for one) before trying again.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Reports an accept error on stderr, at most once a second so that a descriptor shortage cannot flood the log.
pub fn report_accept_error(error: &io::Error) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST_REPORT_S: AtomicU64 = AtomicU64::new(0);
    if STOPPING.load(Ordering::SeqCst) {
        return; // The listener was shut down on purpose.
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if LAST_REPORT_S.swap(now, Ordering::Relaxed) != now {
        eprintln!("accept failed: {error}; retrying in {} ms", ACCEPT_BACKOFF.as_millis());
    }
}
