//! A server may close a kept-alive connection whenever it is idle (RFC 9112 §9.3.1: a client must be ready for
//! that, and may retry an idempotent request sent on a connection the server closed without answering). The
//! fixture answers each request without `Connection: close` and then closes at once, so every request after the
//! first finds its slot's connection closed — noticed before sending, or as a close before any byte of the
//! response — and the lab's engines must open a fresh one and count every request a success.

mod common;

use common::{read_head, responder, run_json};
use std::io::Write;

/// Answers one request per connection, keep-alive in appearance, then closes.
fn closes_after_each_answer() -> u16 {
    responder(|mut reader, mut writer| {
        if read_head(&mut reader) {
            let _ = writer.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
    })
}

#[test]
fn a_connection_closed_while_idle_is_reopened() {
    let url = format!("http://127.0.0.1:{}/x", closes_after_each_answer());
    for engine in ["lean", "loop"] {
        for slots in ["1", "3"] {
            let args = ["--engine", engine, "-c", slots, "-n", "12", "--keep-alive", "on", "--url", &url];
            let (run, report) = run_json("async-client", &args);
            let what = format!("{engine} -c {slots}: {report:#?}\nstderr: {}", run.stderr);
            assert_eq!((report.succeeded, report.failed), (12, 0), "{what}");
            // Every request opened a connection of its own, and each was timed.
            assert_eq!(report.connect_us.map(|c| c.connections), Some(12), "{what}");
        }
    }
}
