//! Faults cost a cell, never the run, and leave no process behind: a server that crashes mid-cell, and Ctrl-C
//! (SIGINT to the lab) in the middle of a cell. Real processes throughout.

mod common;

use lab::export::json::JsonDocument;
use lab::records::run::{Run, Status, Workload};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn a_server_crashing_mid_cell_fails_that_cell_only() {
    // The script exits after 60 answers: verification (28 requests, on its own process) and the small io cell
    // (10 warm-up + 10) pass; the baseline cell (30 warm-up + 300) kills it.
    let (out, code, stderr) = common::run_lab(
        "crash",
        common::lab()
            .args(["matrix", "--profile", "quick", "--servers", "none", "--clients", "async-client"])
            .args(["--workloads", "io,baseline", "--concurrency", "10", "--hello-ms", "100", "--requests", "300"])
            .arg("--server")
            .arg(format!("crashy={}", common::fixture_server("--exit-after 60"))),
    );
    assert_eq!(code, Some(0), "{stderr}");
    let run = Run::load(&common::run_json(&out)).unwrap();
    assert_eq!(run.servers[0].verify.status.as_str(), "passed");
    let io = run.cells.iter().find(|c| c.workload == Workload::Io).unwrap();
    assert_eq!(io.status.as_str(), "ok", "{:?}", io.reason);
    let baseline = run.cells.iter().find(|c| c.workload == Workload::Baseline).unwrap();
    assert_eq!(baseline.status.as_str(), "failed");
    let reason = baseline.reason.as_deref().unwrap();
    assert!(reason.starts_with("the server exited during the cell"), "{reason}");
    let tail = baseline.stderr_tail.as_deref().unwrap_or("");
    assert!(tail.contains("exiting on purpose after 60 requests"), "{tail}");
    let md = std::fs::read_to_string(out.join(format!("{}.md", run.run_id))).unwrap();
    assert!(md.contains("the server exited during the cell"));
}

#[test]
fn ctrl_c_writes_partial_results_and_stops_every_child() {
    let bin_dir = common::bin_dir();
    let out = common::scratch("sigint");
    let marker = common::marker("sigint");
    // baseline first (quick), then io with D = 20 s: Ctrl-C lands while io runs.
    let mut lab = common::lab()
        .args(["matrix", "--profile", "quick", "--servers", "thread-server", "--clients", "async-client"])
        .args(["--workloads", "baseline,io", "--concurrency", "10", "--hello-ms", "20000", "--requests", "200"])
        .arg("--bin-dir")
        .arg(&bin_dir)
        .arg("--out")
        .arg(&out)
        .env(common::MARKER_VAR, &marker)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = lab.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    loop {
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| panic!("no io cell started: {seen:?}"));
        seen.push(line.clone());
        if line.contains("running thread-server × async-client io") {
            break;
        }
    }
    // Interrupt only once the cell's client and server both run (they carry the marker in their environment).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let running = common::processes_with_marker(&marker);
        // argv[0] is the binary's path.
        let has = |name: &str| running.iter().any(|(_, cmd)| cmd.split(' ').next().is_some_and(|a| a.ends_with(name)));
        if has("async-client") && has("thread-server") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "client and server never ran together: {running:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    harness::process::signal_process(lab.id(), harness::process::Signal::INT);
    let status = lab.wait().unwrap();
    // The reader thread forwards stderr until its end: take every line, not just those forwarded by now (the
    // last ones may still be on their way when the lab has exited).
    let rest: Vec<String> = std::iter::from_fn(|| rx.recv_timeout(Duration::from_secs(10)).ok()).collect();
    assert_eq!(status.code(), Some(130), "{seen:?} {rest:?}");
    common::assert_no_process_left(&marker);

    let run = Run::load(&common::run_json(&out)).unwrap();
    assert!(run.interrupted);
    let baseline = run.cells.iter().find(|c| c.workload == Workload::Baseline).unwrap();
    assert_eq!(baseline.status.as_str(), "ok", "measured before Ctrl-C: kept");
    assert!(baseline.throughput_rps.unwrap() > 0.0);
    let io: Vec<_> = run.cells.iter().filter(|c| c.workload == Workload::Io).collect();
    assert!(!io.is_empty());
    assert!(
        io[0].status.as_str() == "failed" && io[0].reason.as_deref().unwrap().contains("interrupted"),
        "{:?}",
        io[0]
    );
    assert!(io[1..].iter().all(|c| c.status == Status::Skipped));
    let md = std::fs::read_to_string(out.join(format!("{}.md", run.run_id))).unwrap();
    assert!(md.contains("This run was interrupted"));
    assert!(rest.iter().any(|l| l.contains("partial results written")), "{rest:?}");
}
