//! What makes uring-server a completion server, seen from outside with strace: its receives and sends are
//! operations on its io_uring, so serving requests makes no read, write, recv, send or epoll call — only
//! `io_uring_enter`; and a process that may not set up an io_uring is told so at start, in one line naming
//! `/proc/sys/kernel/io_uring_disabled`, with exit code 2 (docs/workload.md).
//!
//! Both need strace: a counted skip without it (harness::tools), a failure under CI, which installs it.

mod common;

use common::{KeepAlive, Server, TestDir};
use harness::process::{signal_process, Signal};
use servers::process::workspace_binary;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

const NAME: &str = "uring-server";
const TIMEOUT: Duration = Duration::from_secs(10);

fn strace_present(test: &str) -> bool {
    harness::tools::require(test, "strace", harness::tools::on_path("strace"), "apt-get install -y strace")
}

/// The system calls that do a socket's I/O, or wait for readiness, outside a ring.
const DIRECT_IO: [&str; 14] = [
    "read",
    "readv",
    "recvfrom",
    "recvmsg",
    "write",
    "writev",
    "sendto",
    "sendmsg",
    "epoll_wait",
    "epoll_pwait",
    "epoll_ctl",
    "poll",
    "ppoll",
    "accept4",
];

/// 200 requests on one keep-alive connection, with every thread of the server traced (`strace -f -c`): the
/// only system call the loop makes for them is `io_uring_enter`.
#[test]
fn requests_are_served_through_the_ring() {
    if !strace_present("uring: requests_are_served_through_the_ring") {
        return;
    }
    let server = Server::start(NAME, &["--threads", "1"]);
    let pid = server.process.pid();
    let dir = TestDir::new("uring-strace");
    let summary = dir.path.join("strace.txt");
    let mut tracer = Command::new("strace")
        .args(["-f", "-c", "-o"])
        .arg(&summary)
        .args(["-p", &pid.to_string()])
        .stderr(Stdio::null())
        .spawn()
        .expect("start strace");
    let traced = common::wait_until(TIMEOUT, || all_threads_traced(pid));
    assert!(traced, "strace did not attach to every thread of {pid}");

    let mut connection = KeepAlive::connect(server.addr(), TIMEOUT).expect("connect");
    for i in 0..200 {
        let response = connection.get("/no/param").unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(response.status, 200, "request {i}");
    }
    signal_process(tracer.id(), Signal::INT);
    tracer.wait().expect("strace ends");

    let calls = syscall_counts(&std::fs::read_to_string(&summary).expect("strace's summary"));
    let direct: Vec<_> = DIRECT_IO.iter().filter_map(|name| calls.get(*name).map(|n| (*name, *n))).collect();
    assert!(direct.is_empty(), "socket I/O outside the ring: {direct:?} (all calls: {calls:?})");
    let enters = calls.get("io_uring_enter").copied().unwrap_or(0);
    assert!(enters > 0, "no io_uring_enter while 200 requests were served: {calls:?}");
}

/// Whether every thread of `pid` has a tracer (proc(5): `TracerPid` in each task's status).
fn all_threads_traced(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return false };
    tasks.flatten().all(|task| {
        std::fs::read_to_string(task.path().join("status")).is_ok_and(|status| {
            status.lines().any(|line| line.strip_prefix("TracerPid:").is_some_and(|v| v.trim() != "0"))
        })
    })
}

/// strace -c's table: system call name → calls.
fn syscall_counts(summary: &str) -> BTreeMap<String, u64> {
    summary
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // % time, seconds, usecs/call, calls, [errors,] syscall
            let name = *fields.last()?;
            let calls = fields.get(3)?.parse().ok()?;
            (fields.len() >= 5 && name != "total").then(|| (name.to_string(), calls))
        })
        .collect()
}

/// io_uring_setup failing as it does where `/proc/sys/kernel/io_uring_disabled` forbids it (EPERM), by
/// strace's fault injection rather than by changing the machine-wide setting: exit 2, one line naming the
/// setting, and no `listening on`.
#[test]
fn without_io_uring_it_exits_2_naming_the_setting() {
    if !strace_present("uring: without_io_uring_it_exits_2_naming_the_setting") {
        return;
    }
    let dir = TestDir::new("uring-disabled");
    let output = Command::new("strace")
        .args(["-f", "-o", "/dev/null", "-e", "inject=io_uring_setup:error=EPERM"])
        .arg(workspace_binary(NAME))
        .args(["--port", "0", "--quiet", "--db"])
        .arg(dir.path.join("visits.sqlite"))
        .stdin(Stdio::null())
        .output()
        .expect("run uring-server under strace");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("/proc/sys/kernel/io_uring_disabled"), "{stderr}");
    assert!(output.stdout.is_empty(), "announced itself: {}", String::from_utf8_lossy(&output.stdout));
}
