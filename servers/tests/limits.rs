//! The connection limits, on every server binary (docs/workload.md, "Connection limits"):
//!
//! - a request head over `--max-head-bytes` gets a 431 (or the connection closed), one under it is served;
//! - with `--max-connections N` open, connection N+1 gets a 503 and is closed, and once one closes a new one
//!   is served again;
//! - a client trickling its head a byte at a time is cut off about `--header-timeout-s` after it started;
//! - an idle keep-alive connection is closed about `--header-timeout-s` after its last response.

mod common;
mod raw;

use common::{KeepAlive, Server};
use raw::{Outcome, RawConnection};
use std::time::{Duration, Instant};

for_each_server!(head_over_the_limit, connection_over_the_limit, trickled_head_is_cut_off, idle_keep_alive_is_closed);

const TIMEOUT: Duration = Duration::from_secs(10);

/// A GET for /no/param whose head is exactly `size` bytes, padded with one header.
fn head_of_size(size: usize) -> Vec<u8> {
    let start = "GET /no/param HTTP/1.1\r\nHost: lab\r\nX-Pad: ";
    let end = "\r\n\r\n";
    let pad = size.checked_sub(start.len() + end.len()).expect("size too small");
    format!("{start}{}{end}", "p".repeat(pad)).into_bytes()
}

fn send_raw(server: &Server, bytes: &[u8]) -> Outcome {
    let mut connection = RawConnection::connect(server.addr(), TIMEOUT).expect("connect");
    let _ = connection.send(bytes);
    connection.next_outcome()
}

/// Heads under `--max-head-bytes` are served, heads over it refused: at the smallest limit, below hyper's
/// 8 KiB read buffer, and at a large one, where hyper used to let heads of up to twice the limit through
/// (its buffer limit is only checked when a read leaves a head incomplete; `max_header_size` fixed that).
fn head_over_the_limit(name: &'static str) {
    for (limit, served, refused) in [(1_024, 1_000, 1_100), (32_768, 32_700, 33_000)] {
        let server = Server::start(name, &["--max-head-bytes", &limit.to_string()]);
        let under = send_raw(&server, &head_of_size(served));
        assert_eq!(under.status(), Some(200), "{name}: a {served}-byte head under a {limit} limit: {under}");
        let over = send_raw(&server, &head_of_size(refused));
        assert!(
            over.status() == Some(431) || over.is_closed(),
            "{name}: a {refused}-byte head over a {limit} limit: want 431 or close, got {over}"
        );
        server.expect("/no/param", 200, "");
    }
}

/// `--max-connections 3`: three open keep-alive connections are served; a fourth gets 503 and is closed; once
/// one of the three closes, a new connection is served again.
fn connection_over_the_limit(name: &'static str) {
    // pool-server serves as many keep-alive connections at once as it has workers (docs/model.md): give it 4.
    let pool: &[&str] = if name == "pool-server" { &["--threads", "4"] } else { &[] };
    let server = Server::start(name, &[&["--max-connections", "3"], pool].concat());
    let mut open: Vec<KeepAlive> = (0..3)
        .map(|i| {
            let mut connection = KeepAlive::connect(server.addr(), TIMEOUT).expect("connect");
            // A response proves the connection was admitted and is counted.
            let response = connection.get("/no/param").unwrap_or_else(|e| panic!("{name}: connection {i}: {e}"));
            assert_eq!(response.status, 200, "{name}: connection {i}");
            connection
        })
        .collect();

    // The refusal comes as soon as the connection is accepted. Nothing is sent: a request the server never
    // reads would turn its close into a reset, which may discard the 503 before it is read.
    let mut fourth = RawConnection::connect(server.addr(), TIMEOUT).expect("connect");
    let refused = fourth.next_outcome();
    assert_eq!(refused.status(), Some(503), "{name}: the 4th connection over --max-connections 3: {refused}");
    let after = fourth.next_outcome();
    assert!(after.is_closed(), "{name}: after its 503, the 4th connection must be closed, got {after}");

    // The three admitted connections are still served.
    for (i, connection) in open.iter_mut().enumerate() {
        let response = connection.get("/no/param").unwrap_or_else(|e| panic!("{name}: connection {i} again: {e}"));
        assert_eq!(response.status, 200, "{name}: connection {i} again");
    }
    // A slot frees when a connection closes (the server notices the EOF).
    drop(open.pop());
    let admitted = common::wait_until(Duration::from_secs(5), || {
        let mut again = RawConnection::connect(server.addr(), TIMEOUT).expect("connect");
        let _ = again.send(b"GET /no/param HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n");
        again.next_outcome().status() == Some(200)
    });
    assert!(admitted, "{name}: a connection closed, yet a new one is still refused");
}

/// With `--header-timeout-s 1`, a client sending its head one byte every 400 ms (it would need 20 s) is cut
/// off after about 1 s: not before, and not only at the 8th byte (2.8 s), as tiny_http's first patch did.
/// Each byte arrives well within the socket read timeout, so only the head deadline can cut it off.
fn trickled_head_is_cut_off(name: &'static str) {
    let server = Server::start(name, &["--header-timeout-s", "1"]);
    let head = b"GET /no/param HTTP/1.1\r\nHost: lab\r\nX-Slow: trickle\r\n\r\n";
    let mut connection = RawConnection::connect(server.addr(), TIMEOUT).expect("connect");
    let started = Instant::now();
    let mut sent = 0;
    let cut_off = loop {
        if sent == head.len() {
            panic!("{name}: the whole head went through in {:?}: the trickle was not cut off", started.elapsed());
        }
        if connection.send(&head[sent..sent + 1]).is_err() {
            break started.elapsed();
        }
        sent += 1;
        // Doubles as the pause between bytes: waits up to 400 ms for the server to close.
        if connection.closed_within(Duration::from_millis(400)) {
            break started.elapsed();
        }
    };
    assert!(
        cut_off >= Duration::from_millis(900) && cut_off < Duration::from_millis(2200),
        "{name}: a trickled head was cut off after {cut_off:?} ({sent} bytes), want about 1 s"
    );
    server.expect("/no/param", 200, "");
}

/// With `--header-timeout-s 1`, a keep-alive connection left idle after a response is closed after about 1 s.
fn idle_keep_alive_is_closed(name: &'static str) {
    let server = Server::start(name, &["--header-timeout-s", "1"]);
    let mut connection = RawConnection::connect(server.addr(), TIMEOUT).expect("connect");
    connection.send(b"GET /no/param HTTP/1.1\r\nHost: lab\r\n\r\n").expect("send");
    let response = connection.next_outcome();
    assert_eq!(response.status(), Some(200), "{name}: {response}");
    let idle_since = Instant::now();
    let closed = connection.closed_within(Duration::from_secs(5));
    let idle = idle_since.elapsed();
    assert!(closed, "{name}: an idle keep-alive connection is still open after 5 s (header timeout 1 s)");
    assert!(
        idle >= Duration::from_millis(800) && idle < Duration::from_millis(2500),
        "{name}: an idle keep-alive connection was closed after {idle:?}, want about 1 s"
    );
}
