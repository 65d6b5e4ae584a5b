//! coroutine-server's own model (servers/src/coro/): may workers sized from the CPUs the process may use, a
//! clean shutdown that cuts the connections waiting for a request while those in a request finish, and what a
//! connection's coroutine costs in memory (its stack's touched pages, docs/model.md).

mod common;
mod raw;

use common::{KeepAlive, Server};
use raw::RawConnection;
use servers::process::{workspace_binary, ServerProcess};
use std::process::Command;
use std::time::{Duration, Instant};

const NAME: &str = "coroutine-server";
const TIMEOUT: Duration = Duration::from_secs(10);

/// Starts the server restricted to one CPU (sched_setaffinity before exec, as `taskset -c` does).
fn start_on_one_cpu(extra: &[&str]) -> ServerProcess {
    let dir = common::TestDir::new("coroutine-pinned");
    let mut command = Command::new(workspace_binary(NAME));
    command.args(["--port", "0", "--quiet", "--db"]).arg(dir.path.join("visits.sqlite")).args(extra);
    let cpu = harness::process::allowed_cpus()[0];
    harness::process::pin(&mut command, &[cpu]);
    let process = ServerProcess::start(command, Duration::from_secs(20)).expect("start the pinned server");
    // The database file is created by now; the directory may go (the server keeps its descriptors).
    drop(dir);
    process
}

fn health_threads(process: &ServerProcess) -> u64 {
    let response = common::get(process.addr, "/health").expect("/health");
    let health: serde_json::Value = serde_json::from_slice(&response.body).expect("JSON");
    health["threads"].as_u64().expect("a thread count")
}

/// `--threads` defaults to the CPUs the process may run on (sched_getaffinity), not the machine's: pinned to one
/// CPU, may runs one worker, and /health says so; `--threads 3` still runs three.
#[test]
fn may_workers_follow_the_cpus_the_process_may_use() {
    assert_eq!(health_threads(&start_on_one_cpu(&[])), 1, "pinned to one CPU, without --threads");
    assert_eq!(health_threads(&start_on_one_cpu(&["--threads", "3"])), 3, "pinned to one CPU, --threads 3");
}

/// SIGTERM: connections waiting for a request (idle keep-alive ones here) are closed at once, well before the
/// 10 s header timeout or the 10 s grace; a request in flight (a 2 s wait) is finished and answered with
/// `Connection: close`; the process then exits 0 — about 2 s after the signal, not 10.
#[test]
fn sigterm_cuts_waiting_connections_and_finishes_busy_ones() {
    const WAIT_MS: u64 = 2000;
    let mut server = Server::start(NAME, &[]);
    let mut idle: Vec<RawConnection> = (0..5)
        .map(|i| {
            let mut connection = RawConnection::connect(server.addr(), TIMEOUT).expect("connect");
            connection.send(b"GET /no/param HTTP/1.1\r\nHost: lab\r\n\r\n").expect("send");
            assert_eq!(connection.next_outcome().status(), Some(200), "idle connection {i}");
            connection
        })
        .collect();
    let mut busy = KeepAlive::connect(server.addr(), TIMEOUT).expect("connect");
    let client = busy.local_addr().expect("local addr");
    let sent = Instant::now();
    busy.send(&format!("/say/hello?name=late&ms={WAIT_MS}")).expect("send");
    // The request is in its coroutine once the server's end of the connection has read it.
    let read = common::wait_until(TIMEOUT, || common::server_unread_bytes(server.addr(), client) == Some(0));
    assert!(read, "the server never read the request");

    server.process.signal(libc::SIGTERM);
    let signalled = Instant::now();
    for (i, connection) in idle.iter_mut().enumerate() {
        assert!(
            connection.closed_within(Duration::from_millis(WAIT_MS / 2)),
            "idle connection {i} was still open {:?} after SIGTERM",
            signalled.elapsed()
        );
    }
    let response = busy.receive().expect("the request in flight is answered");
    response.assert(200, "hello late", "the request in flight at SIGTERM");
    assert_eq!(response.header("Connection"), Some("close"), "{response:?}");
    assert!(sent.elapsed() >= Duration::from_millis(WAIT_MS), "answered before its wait was over");
    let exited = common::wait_until(Duration::from_secs(5), || matches!(server.process.try_wait(), Ok(Some(_))));
    let status = server.process.try_wait().ok().flatten();
    assert!(exited && status.is_some_and(|s| s.success()), "want exit 0 after SIGTERM, got {status:?}");
    assert!(
        signalled.elapsed() < Duration::from_millis(WAIT_MS + 3000),
        "exit took {:?} after SIGTERM: the idle connections held the drain",
        signalled.elapsed()
    );
}

/// RSS per connection between LOW and HIGH connections opened by `open` on a fresh server, in bytes. Past
/// may's cache of 1,000 finished coroutines, every new connection maps a new stack.
fn slope(open: impl Fn(&Server) -> KeepAlive) -> f64 {
    const LOW: usize = 200;
    const HIGH: usize = 2_200;
    let server = Server::start(NAME, &["--threads", "1", "--header-timeout-s", "120"]);
    let mut connections = Vec::new();
    let mut rss_at = |level: usize| {
        while connections.len() < level {
            connections.push(open(&server));
        }
        // Every request has been read once the server's sockets hold no unread bytes.
        let settled = common::wait_until(Duration::from_secs(10), || common::unread_on(server.addr()) == 0);
        assert!(settled, "the server did not read every request");
        common::rss_kib(server.process.pid())
    };
    let low = rss_at(LOW);
    let high = rss_at(HIGH);
    (high.saturating_sub(low) * 1024) as f64 / (HIGH - LOW) as f64
}

/// What a connection costs is its coroutine: a stack of `servers::coro::STACK_BYTES` reserved, of which only the
/// touched pages are resident — the generator crate's sentinel page at the bottom and the pages the frames
/// reach at the top — plus may's bookkeeping. So RSS per connection is at least two pages (a coroutine parked
/// in a read has frames on its stack, and a stack past may's cache is new) and less than the whole stack: the
/// reservation is not paid in RAM. lean-server's state machine, for contrast, costs well under 1 KiB.
#[test]
fn a_connection_costs_its_touched_stack_pages_not_its_stack() {
    raw::raise_fd_limit();
    let page = 4096.0;
    let stack = servers::coro::STACK_BYTES as f64;
    let idle = slope(|server| {
        let mut connection = KeepAlive::connect(server.addr(), TIMEOUT).expect("connect");
        let response = connection.get("/no/param").expect("a response");
        assert_eq!(response.status, 200);
        connection
    });
    // Each request sleeps on may's timer for longer than the test takes.
    let waiting = slope(|server| {
        let mut connection = KeepAlive::connect(server.addr(), TIMEOUT).expect("connect");
        connection.send("/say/hello?name=w&ms=60000").expect("send");
        connection
    });
    println!("{NAME}: {idle:.0} bytes per idle keep-alive connection, {waiting:.0} per waiting request");
    for (what, bytes) in [("idle keep-alive connection", idle), ("waiting request", waiting)] {
        assert!(bytes >= 2.0 * page, "{bytes:.0} bytes of RSS per {what}: less than the two pages a stack touches");
        assert!(bytes < stack, "{bytes:.0} bytes of RSS per {what}: the whole {stack} byte stack is resident");
    }
}
