//! The memory of an idle keep-alive connection on each of the lab's servers, and of the two sockets alone.
//!
//! Concurrency idea: what a server keeps for a connection between two requests is where the models differ most
//! — thread-server keeps tiny_http's connection thread blocked in `read`, a hyper server a task parked on the
//! reactor with its buffers, coroutine-server a coroutine's stack, lean-server and uring-server a slot of a few
//! hundred bytes. Each server is started as the lab starts it ([`Server::start_builtin`], with the executor
//! size the matrix gives it) and the lab opens N connections that each make one request (`GET /no/param`) and
//! then sit idle, at several N: the slope of the server's process-tree RSS and of the machine's `KernelStack`
//! and `Slab` over N is one idle connection's price, with its r².
//!
//! `Slab` is machine-wide, so it holds both ends of each connection (the lab's client socket too). A plain
//! `TcpListener` in the lab, holding both ends of the same number of connections and no server, measures the
//! sockets' share alone (`listener`): a server's kernel figure minus the listener's is what the server adds.

use crate::process::Server;
use crate::records::primitives::{MemoryFit, MemoryPoint};
use crate::records::run::{KernelMemory, Status};
use crate::session::Session;
use anyhow::Context;
use harness::raw::{Outcome, RawConnection};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// The fit of the plain listener: both sockets of each connection, no server.
pub const LISTENER: &str = "listener";

/// The request each connection makes before it goes idle: the workload's empty 200 (docs/workload.md).
const REQUEST: &[u8] = b"GET /no/param HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/// Long enough that no server closes an idle connection while the lab holds it (their default is 10 s).
const HEADER_TIMEOUT_S: &str = "3600";

/// Why pool-server is not measured: a worker serves one connection at a time, idle gaps included, so a
/// connection beyond the pool's workers waits in its queue unanswered (docs/model.md, the bounded pool).
const POOL_REASON: &str = "a pool worker holds its connection while it is idle, so connections beyond the pool's \
                           workers are never answered (docs/model.md, the bounded pool)";

/// The points of one fit per server of `servers`, then the listener's (the lines through them are the
/// command's); `counts` ascending, 0 first.
pub fn fits(session: &Session, servers: &[&str], counts: &[u64], cpus: &[usize]) -> Vec<MemoryFit> {
    let mut fits = Vec::new();
    let descriptors = 2 * counts.last().copied().unwrap_or(0) + 256;
    for name in servers.iter().copied().chain([LISTENER]) {
        let mut fit = MemoryFit { unit: name.to_string(), ..MemoryFit::default() };
        let skipped = if session.is_interrupted() {
            Some("interrupted".to_string())
        } else if session.limits.nofile_soft < descriptors {
            Some(format!("the descriptor limit ({}) is below the {descriptors} needed", session.limits.nofile_soft))
        } else {
            (name == "pool-server").then(|| POOL_REASON.to_string())
        };
        if let Some(reason) = skipped {
            fits.push(MemoryFit { status: Status::Skipped, reason: Some(reason), ..fit });
            continue;
        }
        eprintln!("lab: primitives connections: {name} at {counts:?} idle keep-alive connections");
        let points = if name == LISTENER { on_listener(counts) } else { on_server(session, name, counts, cpus) };
        match points {
            Ok(points) => fit.points = points,
            Err(error) => {
                fit.status = Status::Failed;
                fit.reason = Some(format!("{error:#}"));
            }
        }
        fits.push(fit);
    }
    fits
}

/// Starts `name` and holds `counts` idle connections on it, one level after the other (the connections of a
/// level stay open for the next).
fn on_server(session: &Session, name: &str, counts: &[u64], cpus: &[usize]) -> anyhow::Result<Vec<MemoryPoint>> {
    let mut extra = Server::builtin_flags(name, None, Some(cpus));
    extra.extend(["--header-timeout-s".to_string(), HEADER_TIMEOUT_S.to_string()]);
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let mut server =
        Server::start_builtin(name, &session.bin_dir, &session.db_path(name), &extra, Duration::from_secs(20))
            .map_err(|e| anyhow::anyhow!("{name} did not start: {}", e.message))?;
    let pid = server.pid();
    let rss = || settled_rss(pid).with_context(|| format!("reading {name}'s /proc"));
    let base = (rss()?, KernelMemory::read().context("reading /proc/meminfo")?);
    let mut held = Vec::new();
    let mut points = Vec::new();
    for &count in counts {
        while (held.len() as u64) < count {
            held.push(idle_connection(&server).with_context(|| format!("connection {} of {count}", held.len() + 1))?);
        }
        points.push(point(count, rss()?, base)?);
    }
    drop(held);
    server.stop(Duration::from_secs(2));
    Ok(points)
}

/// One connection that made its request, got a keep-alive answer, and now sits idle.
fn idle_connection(server: &Server) -> anyhow::Result<RawConnection> {
    let mut connection = RawConnection::connect(server.addr, Duration::from_secs(10))?;
    connection.send(REQUEST)?;
    // Blocks until the whole response has arrived (or the timeout).
    match connection.next_outcome() {
        Outcome::Response { status: 200, close: false, .. } => Ok(connection),
        other => anyhow::bail!("GET /no/param: {other} (expected a 200 keeping the connection open)"),
    }
}

/// The same levels on a plain listener in the lab: both ends of each connection are the lab's.
fn on_listener(counts: &[u64]) -> anyhow::Result<Vec<MemoryPoint>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let base = (0, KernelMemory::read().context("reading /proc/meminfo")?);
    let mut held: Vec<(TcpStream, TcpStream)> = Vec::new();
    let mut points = Vec::new();
    for &count in counts {
        while (held.len() as u64) < count {
            let client = TcpStream::connect(addr)?;
            // The handshake is complete once connect returns: accept takes it from the queue at once.
            let (accepted, _) = listener.accept()?;
            held.push((client, accepted));
        }
        points.push(point(count, 0, base)?);
    }
    Ok(points)
}

/// A point: `rss_kib` now, and the machine's kernel memory grown since `base`.
fn point(count: u64, rss_kib: u64, base: (u64, KernelMemory)) -> anyhow::Result<MemoryPoint> {
    let now = KernelMemory::read().context("reading /proc/meminfo")?;
    Ok(MemoryPoint {
        count,
        rss_kib,
        kernel_stack_growth_kib: now.kernel_stack_kib as i64 - base.1.kernel_stack_kib as i64,
        slab_growth_kib: now.slab_kib as i64 - base.1.slab_kib as i64,
    })
}

/// The server's process-tree RSS once its thread count has settled: thread-server's request threads end after
/// their answer is sent, a little after the client has read it. Polls every 10 ms until three readings agree
/// (at most 2 s).
fn settled_rss(pid: u32) -> anyhow::Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(2);
    let (mut last, mut same) = (None, 0);
    loop {
        let sample = harness::proc::ProcSample::read_tree(pid)?;
        same = if last == Some(sample.threads) { same + 1 } else { 0 };
        last = Some(sample.threads);
        if same >= 2 || Instant::now() >= deadline {
            return Ok(sample.rss_kib);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
