//! A server's life around the requests: flags, `--help`, clean shutdown on SIGTERM, and `--processes` workers
//! that never outlive their supervisor.

mod common;
mod raw;

use common::{is_alive, server_unread_bytes, KeepAlive, Server};
use harness::catalogue::Family;
use servers::process::workspace_binary;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

for_each_server!(
    help,
    bad_flags,
    port_in_use,
    unusable_database,
    sigterm_finishes_the_request_in_flight,
    sigterm_with_processes_finishes_the_request_in_flight,
    sigkill_of_the_supervisor_leaves_no_worker,
);

/// What a binary printed and how it ended, when it is expected to exit by itself.
struct Exited {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs `binary args` to its exit; fails the test (and kills it) if it is still running after 20 s.
fn run_to_exit(name: &str, args: &[&str]) -> Exited {
    let mut child = Command::new(workspace_binary(name))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the server binary");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped")));
    let exited = common::wait_until(Duration::from_secs(20), || matches!(child.try_wait(), Ok(Some(_))));
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{name} {args:?} did not exit by itself");
    }
    Exited {
        status: child.wait().expect("reap"),
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// `--help` explains the model and lists the common flags.
fn help(name: &'static str) {
    let out = run_to_exit(name, &["--help"]);
    assert!(out.status.success(), "{name} --help: {:?}", out.status);
    for flag in ["--host", "--port", "--threads", "--processes", "--hello-ms", "--db", "--quiet"] {
        assert!(out.stdout.contains(flag), "{name} --help does not mention {flag}:\n{}", out.stdout);
    }
    let first_line = out.stdout.lines().next().unwrap_or_default();
    assert!(first_line.len() > 20, "{name} --help should open with a sentence on its model:\n{}", out.stdout);
}

/// Bad flag values: exit code 2 and a message naming the problem, before anything is started.
fn bad_flags(name: &'static str) {
    for (args, mentions) in [
        (&["--threads", "0"][..], "--threads"),
        (&["--port", "x"][..], "--port"),
        (&["--port", "65536"][..], "--port"),
        (&["--processes", "0"][..], "--processes"),
        (&["--hello-ms", "60001"][..], "--hello-ms"),
        // clap reads `-1` as an unknown flag, and says so.
        (&["--hello-ms", "-1"][..], "'-1'"),
        (&["--no-such-flag"][..], "--no-such-flag"),
        // Seconds become a `Duration`, which cannot hold NaN or infinity.
        (&["--header-timeout-s", "nan"][..], "--header-timeout-s"),
        (&["--grace-s", "inf"][..], "--grace-s"),
        (&["--grace-s", "1e300"][..], "--grace-s"),
    ] {
        let out = run_to_exit(name, args);
        assert_eq!(out.status.code(), Some(2), "{name} {args:?}: want exit code 2; stderr: {}", out.stderr);
        assert!(out.stderr.contains(mentions), "{name} {args:?}: the message should name {mentions}: {}", out.stderr);
        assert!(!out.stdout.contains("listening on"), "{name} {args:?} started");
    }
    if name == "thread-server" {
        // One thread per request: a thread budget makes no sense, and is refused rather than ignored.
        let out = run_to_exit(name, &["--threads", "4", "--port", "0"]);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", out.stderr);
        assert!(out.stderr.contains("--threads"), "{name}: {}", out.stderr);
    }
}

/// A port someone else listens on: exit 2 with a one-line reason.
fn port_in_use(name: &'static str) {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let dir = common::TestDir::new("port-in-use");
    let db = dir.path.join("visits.sqlite");
    let db = db.to_str().expect("UTF-8 path");
    for extra in [&[][..], &["--processes", "2"][..]] {
        let mut args = vec!["--port", &port, "--quiet", "--db", db];
        args.extend_from_slice(extra);
        let out = run_to_exit(name, &args);
        assert_eq!(out.status.code(), Some(2), "{name} {args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains(&port) && out.stderr.lines().count() == 1,
            "{name} {args:?}: want one line naming the port: {}",
            out.stderr
        );
    }
}

/// A database that cannot be opened: exit 2 with a one-line reason, not a panic.
fn unusable_database(name: &'static str) {
    let out = run_to_exit(name, &["--port", "0", "--quiet", "--db", "/nonexistent-dir/visits.sqlite"]);
    assert_eq!(out.status.code(), Some(2), "{name}: {}", out.stderr);
    assert!(
        out.stderr.contains("/nonexistent-dir/visits.sqlite") && !out.stderr.contains("panicked"),
        "{name}: {}",
        out.stderr
    );
}

/// Sends `/say/hello?ms=500` on a keep-alive connection and returns once the server has read it off the socket.
/// None when the test cannot tell that the request reached its handler (a visible skip, a failure under CI).
fn start_slow_request(server: &Server, test: &str) -> Option<(KeepAlive, Instant)> {
    let mut connection = KeepAlive::connect(server.addr(), Duration::from_secs(10)).expect("connect");
    // A first exchange makes sure the connection has been accepted and has a thread or task reading it.
    let warm = connection.get("/no/param").expect("first request");
    assert_eq!(warm.status, 200, "{}: {warm:?}", server.name);
    let client = connection.local_addr().expect("local addr");
    let sent = Instant::now();
    connection.send("/say/hello?name=late&ms=500").expect("send");
    // Readiness: the request is in its handler. A thread server counts a request from its handler on: wait until
    // one of its threads sleeps in the handler's wait (the thread model: the wait holds a thread, visible in
    // /proc as the thread's system call). An async server counts a connection as busy from the moment it
    // accepted it (launch.rs, `Drain`), so having read the request is enough: wait until the server's end of
    // the connection has no unread bytes (/proc/net/tcp, slow to read when the machine has many sockets).
    if Family::of(server.name) == Family::TinyHttp {
        let pid = server.process.pid();
        let mut seen = None;
        common::wait_until(Duration::from_secs(5), || {
            seen = thread_in_nanosleep(pid);
            seen != Some(false)
        });
        let readable = seen.is_some();
        let tool = "a readable /proc/PID/task/TID/syscall";
        let install = "run as the servers' user where ptrace is allowed (kernel.yama.ptrace_scope 0 or 1)";
        if !harness::tools::require(&format!("lifecycle {}: {test}", server.name), tool, readable, install) {
            return None;
        }
        assert_eq!(seen, Some(true), "{}: no thread ever slept in the handler", server.name);
    } else {
        let read = common::wait_until(Duration::from_secs(5), || server_unread_bytes(server.addr(), client) == Some(0));
        assert!(read, "{}: the server never read the request", server.name);
    }
    Some((connection, sent))
}

/// Whether some thread of `pid`, or of its children (the workers of `--processes`), is in `nanosleep` or
/// `clock_nanosleep` (the first field of /proc/PID/task/TID/syscall). None when the kernel shows none of their
/// system calls (no ptrace access): then it cannot tell, and must not say yes.
fn thread_in_nanosleep(pid: u32) -> Option<bool> {
    #[cfg(target_arch = "aarch64")]
    const SLEEPS: [&str; 2] = ["101", "115"];
    #[cfg(not(target_arch = "aarch64"))]
    const SLEEPS: [&str; 2] = ["35", "230"];
    let mut readable = false;
    for process in std::iter::once(pid).chain(common::children_of(pid)) {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{process}/task")) else { continue };
        for task in tasks.filter_map(Result::ok) {
            if let Ok(syscall) = std::fs::read_to_string(task.path().join("syscall")) {
                readable = true;
                if syscall.split_whitespace().next().is_some_and(|call| SLEEPS.contains(&call)) {
                    return Some(true);
                }
            }
        }
    }
    readable.then_some(false)
}

/// Waits for the server process to exit by itself, killing it after `timeout`.
fn wait_for_exit(server: &mut Server, timeout: Duration) -> Option<ExitStatus> {
    let mut status = None;
    common::wait_until(timeout, || {
        status = server.process.try_wait().ok().flatten();
        status.is_some()
    });
    status
}

/// SIGTERM while a request is in flight: the request completes with 200, then the server exits 0.
fn sigterm_finishes_the_request_in_flight(name: &'static str) {
    let mut server = Server::start(name, &[]);
    let Some((mut connection, sent)) = start_slow_request(&server, "sigterm_finishes_the_request_in_flight") else {
        return;
    };
    server.process.signal(libc::SIGTERM);
    let response = connection.receive().unwrap_or_else(|e| {
        panic!(
            "{name}: the request in flight at SIGTERM got no answer: {e}; stderr:\n{}",
            server.process.stderr_tail(20)
        )
    });
    response.assert(200, "hello late", &format!("{name} after SIGTERM"));
    assert!(sent.elapsed() >= Duration::from_millis(500), "{name}");
    let status = wait_for_exit(&mut server, Duration::from_secs(5));
    assert!(
        status.is_some_and(|s| s.success()),
        "{name}: after SIGTERM, want exit code 0, got {status:?}; stderr:\n{}",
        server.process.stderr_tail(20)
    );
}

/// The same through a `--processes 2` supervisor: it passes SIGTERM on, the worker finishes the request, and
/// the supervisor exits 0 once both workers have.
fn sigterm_with_processes_finishes_the_request_in_flight(name: &'static str) {
    let mut server = Server::start(name, &["--processes", "2"]);
    let workers = common::children_of(server.process.pid());
    assert_eq!(workers.len(), 2, "{name}: workers {workers:?}");
    let test = "sigterm_with_processes_finishes_the_request_in_flight";
    let Some((mut connection, _)) = start_slow_request(&server, test) else { return };
    server.process.signal(libc::SIGTERM);
    let response = connection.receive().unwrap_or_else(|e| {
        panic!(
            "{name} --processes 2: the request in flight at SIGTERM got no answer: {e}; stderr:\n{}",
            server.process.stderr_tail(20)
        )
    });
    response.assert(200, "hello late", &format!("{name} after SIGTERM"));
    let status = wait_for_exit(&mut server, Duration::from_secs(5));
    assert!(
        status.is_some_and(|s| s.success()),
        "{name} --processes 2: after SIGTERM, want exit code 0, got {status:?}; stderr:\n{}",
        server.process.stderr_tail(20)
    );
    assert!(workers.iter().all(|&pid| !is_alive(pid)), "{name}: workers {workers:?} outlived their supervisor");
}

/// SIGKILL gives the supervisor no chance to clean up: the kernel must take its workers down with it
/// (PR_SET_PDEATHSIG), and nobody is left listening on the port.
fn sigkill_of_the_supervisor_leaves_no_worker(name: &'static str) {
    let mut server = Server::start(name, &["--processes", "2"]);
    let parent = server.process.pid();
    let workers = common::children_of(parent);
    assert_eq!(workers.len(), 2, "{name}: workers of {parent}: {workers:?}");
    server.expect("/no/param", 200, "");

    server.process.signal(libc::SIGKILL);
    let status = wait_for_exit(&mut server, Duration::from_secs(5));
    assert!(status.is_some(), "{name}: the supervisor survived SIGKILL");
    let gone = common::wait_until(Duration::from_secs(5), || workers.iter().all(|&pid| !is_alive(pid)));
    assert!(
        gone,
        "{name}: workers {:?} are still alive after their supervisor {parent} was killed",
        workers.iter().filter(|&&pid| is_alive(pid)).collect::<Vec<_>>()
    );
    // Nobody may be left listening, but "at once" is not the rule for every model: an io_uring ring is torn
    // down after its process exits, by a kernel work item (`io_ring_exit_work` in io_uring/io_uring.c) that
    // cancels the pending multishot accept, and until then that request holds the listening socket open. On
    // this machine the socket outlived uring-server's workers by 4-13 ms in 40 of 40 trials, and a readiness
    // server's at most once in 40, by 2 ms (results/experiments/uring-listener-linger.txt). A worker that
    // survived would keep it open for good; 5 s tells the two apart.
    let closed = common::wait_until(Duration::from_secs(5), || TcpStream::connect(server.addr()).is_err());
    assert!(closed, "{name}: something still accepts connections on {}", server.addr());
}
