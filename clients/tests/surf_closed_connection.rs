//! surf's pool lends a connection the server closed after a `Connection: close` response (its probe runs
//! before the FIN arrives): the surf engine retries such a GET once on a fresh connection, as RFC 9112 §9.3.1
//! allows for an idempotent request the server closed without answering, and says on stderr how many it
//! retried. The fixture makes the race certain: it answers with `Connection: close`, then keeps the connection
//! open until the next request arrives on it, reads it and closes without a word.

mod common;

use common::{read_head, responder, run_json};
use std::io::Write;

/// A server that closes late: each connection gets one answer, then its next request is read and the
/// connection closed unanswered. Returns its port; it runs until the test process exits.
fn late_closer() -> u16 {
    responder(|mut reader, mut writer| {
        if !read_head(&mut reader) {
            return;
        }
        let _ = writer.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        // Blocks until the client sends another request on this connection (or gives it up).
        read_head(&mut reader);
    })
}

/// Like [`late_closer`], but it closes with the next request unread, so the kernel answers it with a reset.
fn late_resetter() -> u16 {
    responder(|mut reader, mut writer| {
        if !read_head(&mut reader) {
            return;
        }
        let _ = writer.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        // Blocks until the client's next request is in the socket's buffer, left unread: closing then resets.
        let _ = writer.peek(&mut [0; 1]);
    })
}

#[test]
fn a_request_on_a_connection_closed_before_any_response_is_retried_once_and_reported() {
    retried_once_and_reported(late_closer());
}

#[test]
fn a_request_on_a_connection_reset_before_any_response_is_retried_once_and_reported() {
    retried_once_and_reported(late_resetter());
}

fn retried_once_and_reported(port: u16) {
    let url = format!("http://127.0.0.1:{port}/x");
    let (run, report) = run_json("async-client", &["--engine", "surf", "-c", "1", "-n", "6", "--url", &url]);
    let what = format!("{report:#?}\nstderr: {}", run.stderr);
    assert_eq!((report.succeeded, report.failed), (6, 0), "{what}");
    let retried: u64 = run
        .stderr
        .split("surf engine: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no retry count on stderr: {what}"));
    // Every request after the first finds the previous one's connection in the pool, closed by the server.
    assert!((1..=5).contains(&retried), "{what}");
}

#[test]
fn without_keep_alive_nothing_is_retried() {
    let url = format!("http://127.0.0.1:{}/x", late_closer());
    let args = ["--engine", "surf", "-c", "1", "-n", "6", "--keep-alive", "off", "--url", &url];
    let (run, report) = run_json("async-client", &args);
    assert_eq!((report.succeeded, report.failed), (6, 0), "{report:#?}");
    assert!(!run.stderr.contains("retried"), "{}", run.stderr);
}
