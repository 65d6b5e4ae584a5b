//! lean-server's own HTTP/1.1 (servers/src/lean/http1.rs), where the other servers rely on hyper or tiny_http:
//! a HEAD response has no body, pipelined requests are answered in order, a request body is read and thrown
//! away so that the connection can carry the next request, a client waiting for `100 Continue` is answered and
//! the connection closed — and what a connection costs it in memory while idle or waiting (docs/model.md). The
//! same tests run against uring-server, which shares this HTTP/1.1 under completion-driven I/O; the protocol's
//! tests also run on coroutine-server, which speaks it from blocking code (servers/src/coro/).

mod common;
mod raw;

use common::{rss_kib, unread_on, KeepAlive, Server};
use raw::{Outcome, RawConnection};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(10);

// uring-server parses and frames with the same module (servers/src/lean/http1.rs) under completion-driven I/O:
// every property here holds for it too.
tests_for!(
    lean_server = "lean-server",
    [
        head_response_has_no_body,
        pipelined_requests_are_answered_in_order,
        request_bodies_are_skipped_and_the_connection_kept,
        a_client_waiting_for_100_continue_is_answered_and_closed,
        the_end_of_a_stream_that_came_with_its_last_bytes_is_seen,
        each_loop_listens_on_its_own_socket,
        idle_and_waiting_connections_cost_little,
        no_thread_starts_a_second_reactor,
        a_nearer_deadline_overtakes_a_later_one
    ]
);
tests_for!(
    uring_server = "uring-server",
    [
        head_response_has_no_body,
        pipelined_requests_are_answered_in_order,
        request_bodies_are_skipped_and_the_connection_kept,
        a_client_waiting_for_100_continue_is_answered_and_closed,
        the_end_of_a_stream_that_came_with_its_last_bytes_is_seen,
        each_loop_listens_on_its_own_socket,
        idle_and_waiting_connections_cost_little,
        no_thread_starts_a_second_reactor,
        a_nearer_deadline_overtakes_a_later_one
    ]
);
// coroutine-server: the protocol only (its loops, reactor and memory are its own: servers/tests/coroutine.rs).
tests_for!(
    coroutine_server = "coroutine-server",
    [
        head_response_has_no_body,
        pipelined_requests_are_answered_in_order,
        request_bodies_are_skipped_and_the_connection_kept,
        a_client_waiting_for_100_continue_is_answered_and_closed,
        the_end_of_a_stream_that_came_with_its_last_bytes_is_seen
    ]
);

fn body_of(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Response { body, .. } => String::from_utf8_lossy(body).into_owned(),
        other => panic!("want a response, got {other}"),
    }
}

/// RFC 9110 §9.3.2: the response to HEAD is the GET response's head, Content-Length included, and no body; the
/// next response on the connection starts right after it.
fn head_response_has_no_body(name: &'static str) {
    let server = Server::start(name, &[]);
    let mut stream = TcpStream::connect(server.addr()).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    stream
        .write_all(
            b"HEAD /say/hello?name=x&ms=0 HTTP/1.1\r\nHost: lab\r\n\r\n\
              GET /no/param HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n",
        )
        .expect("send");
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).expect("read to the close");
    let text = String::from_utf8(bytes).expect("ASCII");
    let (head, rest) = text.split_once("\r\n\r\n").expect("a first head");
    let body = "HEAD is not allowed on /say/hello; use GET";
    assert!(head.starts_with("HTTP/1.1 405 "), "{text:?}");
    assert!(head.contains(&format!("\r\nContent-Length: {}\r\n", body.len())), "{text:?}");
    assert!(rest.starts_with("HTTP/1.1 200 "), "the HEAD response carried a body: {text:?}");
}

/// Requests written all at once are answered one after the other, in order, whatever each waits for: a timer
/// (`/say/hello`), the worker pool (`/fact`) or nothing (`/no/param`).
fn pipelined_requests_are_answered_in_order(name: &'static str) {
    let server = Server::start(name, &[]);
    let mut connection = RawConnection::connect(server.addr(), TIMEOUT).expect("connect");
    let targets: Vec<String> = (0..60)
        .map(|i| match i % 3 {
            0 => format!("/say/hello?name=n{i}&ms=1"),
            1 => format!("/fact?n={i}"),
            _ => "/no/param".to_string(),
        })
        .collect();
    let all: String = targets.iter().map(|t| format!("GET {t} HTTP/1.1\r\nHost: lab\r\n\r\n")).collect();
    connection.send(all.as_bytes()).expect("send");
    for (i, target) in targets.iter().enumerate() {
        let body = body_of(&connection.next_outcome());
        let want = match i % 3 {
            0 => format!("hello n{i}"),
            1 => common::decimal_factorial(i as u32),
            _ => String::new(),
        };
        assert_eq!(body, want, "response {i} ({target})");
    }
}

/// A body on a request no route wants is read and thrown away, by its Content-Length or its chunks, and the
/// connection goes on; what the body contains is never taken for a request.
fn request_bodies_are_skipped_and_the_connection_kept(name: &'static str) {
    let server = Server::start(name, &[]);
    let mut connection = RawConnection::connect(server.addr(), TIMEOUT).expect("connect");
    let smuggled = "GET /fact?n=-1 HTTP/1.1\r\nHost: x\r\n\r\n";
    let chunked = format!("{:x}\r\n{smuggled}\r\n0\r\nTrailer: t\r\n\r\n", smuggled.len());
    let bytes = format!(
        "POST /no/param HTTP/1.1\r\nHost: lab\r\nContent-Length: {}\r\n\r\n{smuggled}\
         POST /no/param HTTP/1.1\r\nHost: lab\r\nTransfer-Encoding: chunked\r\n\r\n{chunked}\
         GET /say/hello?name=after&ms=0 HTTP/1.1\r\nHost: lab\r\n\r\n",
        smuggled.len()
    );
    connection.send(bytes.as_bytes()).expect("send");
    for step in ["Content-Length body", "chunked body"] {
        let outcome = connection.next_outcome();
        assert_eq!(outcome.status(), Some(405), "{step}: {outcome}");
    }
    assert_eq!(body_of(&connection.next_outcome()), "hello after");
}

/// A client that sent `Expect: 100-continue` waits before sending its body; the server answers at once, never
/// asks for the body, and closes the connection rather than wait for bytes that may never come.
fn a_client_waiting_for_100_continue_is_answered_and_closed(name: &'static str) {
    let server = Server::start(name, &[]);
    let mut connection = RawConnection::connect(server.addr(), TIMEOUT).expect("connect");
    connection
        .send(b"POST /no/param HTTP/1.1\r\nHost: lab\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        .expect("send");
    let outcome = connection.next_outcome();
    assert_eq!(outcome.status(), Some(405), "{outcome}");
    assert!(connection.closed_within(Duration::from_secs(3)), "the connection stayed open");
}

/// A client that sends part of a head and then its FIN is closed at once, not at the header timeout (10 s
/// here), even when the bytes and the FIN reach the socket together, before the loop reads either: the loop is
/// held by a `/block` meanwhile. Edge-triggered, a short read that empties the socket means no new bytes will
/// come without an event — but the end of the stream, already there, will not come with one.
fn the_end_of_a_stream_that_came_with_its_last_bytes_is_seen(name: &'static str) {
    let server = Server::start(name, &["--threads", "1"]);
    let mut blocker = KeepAlive::connect(server.addr(), TIMEOUT).expect("connect");
    blocker.send("/block?ms=500").expect("send");
    let client = blocker.local_addr().expect("local addr");
    let blocking = common::wait_until(TIMEOUT, || common::server_unread_bytes(server.addr(), client) == Some(0));
    assert!(blocking, "the loop never read the /block request");
    let mut connection = RawConnection::connect(server.addr(), TIMEOUT).expect("connect");
    connection.send(b"GET /no/pa").expect("send");
    connection.close_write();
    assert!(connection.closed_within(Duration::from_secs(3)), "a half-closed connection was left open");
    assert_eq!(blocker.receive().expect("the /block response").status, 200);
}

/// `--threads 3` runs three event loops, each with a listening socket of its own on the port (SO_REUSEPORT), so
/// that the kernel, not a shared accept queue, spreads the connections; all of them are served.
fn each_loop_listens_on_its_own_socket(name: &'static str) {
    let server = Server::start(name, &["--threads", "3"]);
    let port = format!(":{:04X}", server.addr().port());
    let listening = || {
        let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
        table
            .lines()
            .skip(1)
            .filter(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                fields.get(1).is_some_and(|local| local.ends_with(&port)) && fields.get(3) == Some(&"0A")
            })
            .count()
    };
    // Every loop's socket is open before the server announces `listening on`: no wait.
    let listening = listening();
    assert_eq!(listening, 3, "listening sockets on the port");
    let (_, responses) = common::concurrent_gets(&server, 30, "/say/hello?name=x&ms=10");
    assert!(responses.iter().all(|r| r.text() == "hello x"));
}

/// RSS per connection between LOW and HIGH connections opened by `open` on a fresh server, in bytes.
fn slope(name: &'static str, open: impl Fn(&Server) -> KeepAlive) -> f64 {
    const LOW: usize = 200;
    const HIGH: usize = 2_200;
    let server = Server::start(name, &["--threads", "1", "--header-timeout-s", "120"]);
    let mut connections = Vec::new();
    let mut rss_at = |level: usize| {
        while connections.len() < level {
            connections.push(open(&server));
        }
        // Every request has been read once the server's sockets hold no unread bytes.
        let settled = common::wait_until(Duration::from_secs(10), || unread_on(server.addr()) == 0);
        assert!(settled, "the server did not read every request");
        rss_kib(server.process.pid())
    };
    let low = rss_at(LOW);
    let high = rss_at(HIGH);
    (high.saturating_sub(low) * 1024) as f64 / (HIGH - LOW) as f64
}

/// The floor's memory targets, checked as a slope between two levels: an idle keep-alive connection
/// costs at most 1 KiB of RSS, a connection whose request waits on a timer at most 4 KiB (nginx keeps an idle
/// one in about 250 bytes; hyper's buffers alone are 16 KiB).
fn idle_and_waiting_connections_cost_little(name: &'static str) {
    raw::raise_fd_limit();
    let idle = slope(name, |server| {
        let mut connection = KeepAlive::connect(server.addr(), TIMEOUT).expect("connect");
        let response = connection.get("/no/param").expect("a response");
        assert_eq!(response.status, 200);
        connection
    });
    // Each request sleeps on the timer heap for longer than the test takes.
    let waiting = slope(name, |server| {
        let mut connection = KeepAlive::connect(server.addr(), TIMEOUT).expect("connect");
        connection.send("/say/hello?name=w&ms=60000").expect("send");
        connection
    });
    println!("{name}: {idle:.0} bytes per idle keep-alive connection, {waiting:.0} per waiting request");
    assert!(idle <= 1024.0, "{idle:.0} bytes of RSS per idle keep-alive connection, want at most 1 KiB");
    assert!(waiting <= 4096.0, "{waiting:.0} bytes of RSS per waiting request, want at most 4 KiB");
}

/// lean-server's loops are mio's; no thread of it may start async-io's reactor, which opens descriptors lazily
/// and panics when a flood of connections has taken the last one (EMFILE). async-io names its driver thread
/// `async-io`: once the shutdown thread (`drain`) is asleep waiting for a signal, that thread must not exist.
fn no_thread_starts_a_second_reactor(name: &'static str) {
    let server = Server::start(name, &[]);
    let pid = server.process.pid();
    let threads = || -> Vec<(String, char)> {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
        tasks
            .flatten()
            .filter_map(|task| {
                let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
                let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
                // The state is the first field after the parenthesised name (proc(5)).
                let state = stat.rsplit_once(") ")?.1.chars().next()?;
                Some((comm.trim().to_string(), state))
            })
            .collect()
    };
    let drain_asleep =
        common::wait_until(TIMEOUT, || threads().iter().any(|(name, state)| name == "drain" && *state == 'S'));
    assert!(drain_asleep, "no sleeping `drain` thread: {:?}", threads());
    let names: Vec<String> = threads().into_iter().map(|(name, _)| name).collect();
    assert!(!names.iter().any(|n| n == "async-io"), "threads: {names:?}");
}

/// The contract (docs/workload.md): `/say/hello?ms=MS` answers after MS milliseconds, whatever else waits. On one
/// loop, a 300 ms wait that starts while a 2 s wait is already queued must end first: the loop's one wake-up
/// (epoll_wait's timeout; uring-server's one ring timeout) has to be moved earlier for it, not left at 2 s.
fn a_nearer_deadline_overtakes_a_later_one(name: &'static str) {
    let server = Server::start(name, &["--threads", "1"]);
    let ask = |ms: u64| {
        let mut stream = TcpStream::connect(server.addr()).expect("connect");
        stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        let request = format!("GET /say/hello?name=x&ms={ms} HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).expect("send");
        (stream, Instant::now())
    };
    let answered = |(mut stream, sent): (TcpStream, Instant)| {
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).expect("read to the close");
        assert!(bytes.starts_with(b"HTTP/1.1 200"), "{name}: {}", String::from_utf8_lossy(&bytes));
        sent.elapsed()
    };
    let long = ask(2000);
    // A request on another connection, answered at once: once its answer is back, the loop has taken the long
    // wait's request (its bytes were in the socket before these were sent) and queued its deadline.
    let mut probe = RawConnection::connect(server.addr(), TIMEOUT).expect("connect");
    probe.send(b"GET /no/param HTTP/1.1\r\nHost: lab\r\n\r\n").expect("send");
    assert!(matches!(probe.next_outcome(), Outcome::Response { .. }), "{name}: /no/param unanswered");
    let short = answered(ask(300));
    let long = answered(long);
    assert!(short < Duration::from_millis(1200), "{name}: the 300 ms wait took {short:?} behind a 2 s one");
    assert!(long >= Duration::from_millis(1950), "{name}: the 2 s wait ended after {long:?}");
}
