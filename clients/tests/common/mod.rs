//! Shared by the integration tests: start a real server, run a client binary, parse its JSON.

#![allow(dead_code)] // each test file uses a different subset

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use clients::report::ClientReport;
use servers::process::{workspace_binary, ServerProcess};

/// Every server binary of the workspace; the experiment runs against each.
/// Every server of the workspace, in the lab's order (`lab::plan::BUILTIN_SERVERS`).
pub const SERVERS: [&str; 8] = [
    "thread-server",
    "pool-server",
    "async-std-server",
    "smol-server",
    "tokio-server",
    "lean-server",
    "uring-server",
    "coroutine-server",
];

/// A server started for a test, with a database of its own: the default one (`lab-visits-PORT.sqlite` in the
/// temporary directory) outlives the server, and a later server that happens to get the same port would count
/// on from it.
pub struct Started {
    process: ServerProcess,
    _db: harness::TempDir,
}

impl std::ops::Deref for Started {
    type Target = ServerProcess;
    fn deref(&self) -> &ServerProcess {
        &self.process
    }
}

impl std::ops::DerefMut for Started {
    fn deref_mut(&mut self) -> &mut ServerProcess {
        &mut self.process
    }
}

/// Starts `name` on a free port and waits for its `listening on` line. pool-server gets 16 threads so that
/// its pool is not what a test measures.
pub fn start_server(name: &str) -> Started {
    start(name, &["--quiet"])
}

/// Like [`start_server`], with the access log on: one stderr line per request (`TIME STATUS METHOD TARGET PEER
/// DURATION`), read back with `ServerProcess::stderr_lines` (the last 200 lines).
pub fn start_logging_server(name: &str) -> Started {
    start(name, &[])
}

fn start(name: &str, args: &[&str]) -> Started {
    let db = harness::temp_dir("clients-test-db-").expect("a temporary directory");
    let mut command = Command::new(workspace_binary(name));
    command.args(["--port", "0"]).args(args).arg("--db").arg(db.path().join("visits.sqlite"));
    if name == "pool-server" {
        command.args(["--threads", "16"]);
    }
    let process =
        ServerProcess::start(command, Duration::from_secs(30)).unwrap_or_else(|e| panic!("start {name}: {e}"));
    Started { process, _db: db }
}

/// A client binary of this package.
pub fn client_binary(name: &str) -> PathBuf {
    match name {
        "blocking-client" => PathBuf::from(env!("CARGO_BIN_EXE_blocking-client")),
        "pool-client" => PathBuf::from(env!("CARGO_BIN_EXE_pool-client")),
        "async-client" => PathBuf::from(env!("CARGO_BIN_EXE_async-client")),
        other => panic!("no client binary {other}"),
    }
}

/// A finished client run.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// Runs a client to completion (stdin closed, output captured).
pub fn run(client: &str, args: &[&str]) -> Run {
    let started = Instant::now();
    let output = Command::new(client_binary(client))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {client}: {e}"));
    Run {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// Runs a client with `--json` and parses its report; checks the invariants every report must satisfy.
pub fn run_json(client: &str, args: &[&str]) -> (Run, ClientReport) {
    let mut all: Vec<&str> = args.to_vec();
    all.push("--json");
    let run = run(client, &all);
    let report: ClientReport = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!("{client} {args:?}: JSON does not parse ({e}):\n{}\nstderr:\n{}", run.stdout, run.stderr)
    });
    assert_eq!(report.schema_version, 1);
    assert_eq!(report.client, client);
    assert_eq!(report.succeeded + report.failed, report.requests, "{report:#?}");
    assert_eq!(report.failures.total(), report.failed, "{report:#?}");
    // The serialized histogram is the one behind the summary: same requests, same percentiles.
    let histogram = clients::histogram::decode(report.latency_histogram_us.as_deref().expect("a histogram"))
        .unwrap_or_else(|e| panic!("{client} {args:?}: {e}"));
    assert_eq!(histogram.len(), report.succeeded, "{report:#?}");
    let (from_histogram, reported) = (clients::histogram::summary(&histogram), report.latency_us);
    let percentiles = |l: clients::report::Latency| [l.min, l.p50, l.p90, l.p99, l.p999, l.max];
    assert_eq!(percentiles(from_histogram), percentiles(reported), "{report:#?}");
    // The mean is a float sum over buckets: equal up to rounding.
    assert!((from_histogram.mean - reported.mean).abs() <= 1e-9 * reported.mean.max(1.0), "{report:#?}");
    assert!(!run.stderr.contains("panicked"), "{client} panicked:\n{}", run.stderr);
    (run, report)
}

/// A hand-written HTTP responder on 127.0.0.1, for behaviour no real server shows: `serve` runs on a thread of
/// its own for each connection, with a reader and a writer on it. Returns the port; it serves until the test
/// process exits.
pub fn responder(serve: impl Fn(BufReader<TcpStream>, TcpStream) + Send + Sync + Copy + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            // Blocks this connection's thread in `serve` (reads, writes) until it returns.
            std::thread::spawn(move || serve(BufReader::new(stream.try_clone().unwrap()), stream));
        }
    });
    port
}

/// Reads one request head; false when the connection ended first.
pub fn read_head(reader: &mut impl BufRead) -> bool {
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return false,
            Ok(_) if line == "\r\n" => return true,
            Ok(_) => {}
        }
    }
}
