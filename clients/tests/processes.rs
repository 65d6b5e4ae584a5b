//! `async-client --processes`: the children share the work and never outlive their parent.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clients::cost;
use common::{client_binary, run_json, start_server};

#[test]
fn children_split_the_requests_and_merge_exactly() {
    let server = start_server("smol-server");
    let url = server.url("/no/param");
    for engine in ["surf", "lean", "loop"] {
        let (run, report) =
            run_json("async-client", &["--url", &url, "-n", "101", "-c", "2", "--processes", "3", "--engine", engine]);
        assert_eq!(run.code(), Some(0), "{}", run.stderr);
        assert_eq!((report.processes, report.succeeded, report.failed), (3, 101, 0), "{report:#?}");
        // Three processes' worth of threads and memory at least.
        assert!(report.cost.peak_threads >= 4, "{report:#?}");
    }
    // More processes than requests: only as many as there are requests.
    let (_, report) = run_json("async-client", &["--url", &url, "-n", "2", "--processes", "5"]);
    assert_eq!((report.processes, report.succeeded), (2, 2), "{report:#?}");
}

fn alive(pid: u32) -> bool {
    // A zombie (state Z) is dead: only its exit status is left for its new parent to collect.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Established IPv4 TCP connections whose remote port is `port` (the client ends of connections to a server).
fn established_to(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    harness::net::tcp_rows(&table)
        .filter(|row| row.remote.port() == port && row.state == harness::net::TCP_ESTABLISHED)
        .count()
}

#[test]
fn children_die_with_their_parent() {
    let server = start_server("smol-server");
    let url = server.url("/say/hello?name=Lucy&ms=20000");
    let mut parent = Command::new(client_binary("async-client"))
        .args(["--url", &url, "-n", "4", "-c", "2", "--processes", "2", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let children = loop {
        let children = cost::children(parent.id());
        if children.len() == 2 {
            break children;
        }
        assert!(Instant::now() < deadline, "children never appeared: {children:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    // Wait until the children are past `go` and in their requests (no longer reading stdin, so only
    // PR_SET_PDEATHSIG can stop them): 2 children × 2 slots = 4 connections to the server.
    while established_to(server.port()) < 4 {
        assert!(Instant::now() < deadline, "children never connected");
        std::thread::sleep(Duration::from_millis(20));
    }
    parent.kill().unwrap();
    parent.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while children.iter().any(|&pid| alive(pid)) {
        assert!(Instant::now() < deadline, "children {children:?} outlived their parent");
        std::thread::sleep(Duration::from_millis(20));
    }
}
