//! Running out of file descriptors (EMFILE) does not kill a server: it reports the failed accept, backs off,
//! and serves again once descriptors are free.
//!
//! Each server runs with a soft limit of 64 open files; the test opens more connections than that and holds
//! them with half-sent requests, so that the server's `accept()` fails. (tiny_http's accept loop used to stop
//! for good on the first such error; the vendored copy backs off and goes on — vendor/README.md.)

mod common;
mod raw;

use common::TestDir;
use raw::RawConnection;
use servers::process::{workspace_binary, ServerProcess};
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

for_each_server!(out_of_file_descriptors);

/// The server's descriptor limit: its own files (stdio, listener, epoll, SQLite's three) take about a dozen.
const FD_LIMIT: u64 = 64;
/// Connections opened at once: well over what the server can hold.
const CONNECTIONS: usize = 100;

/// Starts `name` with RLIMIT_NOFILE lowered to `FD_LIMIT`.
fn start_with_fd_limit(name: &str, dir: &TestDir) -> ServerProcess {
    let mut command = Command::new(workspace_binary(name));
    command.args(["--port", "0", "--quiet", "--db"]).arg(dir.path.join("visits.sqlite"));
    harness::limits::limit_nofile(&mut command, FD_LIMIT);
    ServerProcess::start(command, Duration::from_secs(20)).unwrap_or_else(|e| panic!("start {name}: {e}"))
}

/// `GET /no/param` on a new connection answers 200 within `timeout`.
fn answers(addr: SocketAddr, timeout: Duration) -> bool {
    let Ok(mut connection) = RawConnection::connect(addr, timeout) else { return false };
    let _ = connection.send(b"GET /no/param HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n");
    connection.next_outcome().status() == Some(200)
}

fn out_of_file_descriptors(name: &'static str) {
    let dir = TestDir::new("emfile");
    let mut server = start_with_fd_limit(name, &dir);
    let addr = server.addr;
    assert!(answers(addr, Duration::from_secs(5)), "{name}: no answer before the test even started");

    // The kernel completes the handshakes (the backlog is deep); the server accepts until it runs out.
    let held: Vec<RawConnection> = (0..CONNECTIONS)
        .map(|i| {
            let mut connection = RawConnection::connect(addr, Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("{name}: connection {i}: {e}"));
            let _ = connection.send(b"GET /no/param HTTP/1.1\r\n");
            connection
        })
        .collect();
    let ran_out = common::wait_until(Duration::from_secs(10), || {
        server.stderr_lines().iter().any(|line| line.contains("accept failed"))
    });
    assert!(
        ran_out,
        "{name}: holding {CONNECTIONS} connections under a limit of {FD_LIMIT} files, the server never reported an \
         accept error (open descriptors: {:?}); stderr:\n{}",
        raw::fd_count(server.pid()),
        server.stderr_tail(10)
    );

    drop(held);
    // Descriptors free up as the server sees the held connections close; then it serves again.
    let recovered = common::wait_until(Duration::from_secs(15), || answers(addr, Duration::from_secs(2)));
    assert!(
        recovered,
        "{name}: after running out of descriptors, it never answered again; stderr:\n{}",
        server.stderr_tail(10)
    );
    assert!(matches!(server.try_wait(), Ok(None)), "{name}: the server exited");
    let unexpected: Vec<String> =
        server.stderr_lines().into_iter().filter(|line| !line.starts_with("accept failed")).collect();
    assert!(unexpected.is_empty(), "{name}: unexpected stderr lines: {unexpected:?}");
}
