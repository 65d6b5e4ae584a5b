//! CPU placement is applied, not only recorded: a server started the way the matrix starts it runs, with every
//! one of its threads, on exactly the CPUs the run header names (the kernel's own `Cpus_allowed_list`); and the
//! executor size the run records is the one the measured instance ran with, whatever its placement.

mod common;

use harness::process::{allowed_cpus, cpu_list};
use lab::export::json::JsonDocument;
use lab::plan::ServerSpec;
use lab::process::Server;
use lab::records::header::CpuPlacement;
use lab::records::run::Workload;
use std::time::Duration;

fn allowed_list(status: &str) -> String {
    let line = status.lines().find(|l| l.starts_with("Cpus_allowed_list:")).expect("Cpus_allowed_list");
    line.split_whitespace().nth(1).unwrap_or("").to_string()
}

#[test]
fn the_server_and_all_its_threads_run_on_the_recorded_cpus() {
    let allowed = allowed_cpus();
    // On one CPU the default placement is shared: nothing to pin, so nothing this test can check.
    let test = "the_server_and_all_its_threads_run_on_the_recorded_cpus";
    let install = "run on a machine or cgroup with 2 or more CPUs";
    if !harness::tools::require(test, "a second CPU", allowed.len() >= 2, install) {
        return;
    }
    let placement = CpuPlacement::split_of(&allowed);
    let server_cpus = placement.server().to_vec();
    let scratch = common::scratch("placement");
    let spec = ServerSpec::Builtin("pool-server".into());
    let mut server = Server::start_on(
        &spec,
        &common::bin_dir(),
        &scratch.join("db.sqlite"),
        Duration::from_secs(15),
        Some(&server_cpus),
        None,
    )
    .expect("pool-server starts");
    // Its 16 workers exist once it prints `listening on`; every one of them must carry the mask.
    let pid = server.pid();
    let tasks: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap().flatten().collect();
    let lists: Vec<String> = tasks
        .iter()
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .map(|s| allowed_list(&s))
        .collect();
    server.stop(Duration::from_secs(2));
    assert!(lists.len() > 1, "expected the pool's threads, saw {lists:?}");
    let recorded = cpu_list(&server_cpus);
    assert!(lists.iter().all(|l| *l == recorded), "recorded {recorded}, threads on {lists:?}");
    // And the client's set is the rest: disjoint from the server's.
    assert!(placement.client().iter().all(|c| !server_cpus.contains(c)), "{placement:?}");
}

/// Runs `/block` (10 at once, 200 ms each) on smol-server placed by `cpus`; returns the run.
fn blocking_run(cpus: &str) -> lab::records::run::Run {
    let (out, code, stderr) = common::run_lab(
        "placement-threads",
        common::lab()
            .args(["matrix", "--profile", "quick", "--servers", "smol-server", "--clients", "async-client"])
            .args(["--workloads", "blocking", "--concurrency", "10", "--block-ms", "200", "--cpus", cpus]),
    );
    assert_eq!(code, Some(0), "lab matrix --cpus {cpus} failed:\n{stderr}");
    lab::records::run::Run::load(&common::run_json(&out)).unwrap()
}

/// The executor size is set from the server's CPUs and recorded from what the measured instance said on /health;
/// the `/block` prediction follows it (⌈10 ÷ T⌉ × 200 ms, docs/model.md), and the wall time — which no label can
/// fake, since each blocked request holds one executor thread — agrees with it.
#[test]
fn the_recorded_executor_size_is_the_measured_instances() {
    let allowed = allowed_cpus();
    let test = "the_recorded_executor_size_is_the_measured_instances";
    let install = "run on a machine or cgroup with 2 or more CPUs";
    if !harness::tools::require(test, "a second CPU", allowed.len() >= 2, install) {
        return;
    }
    let one = format!("server={},client={}", allowed[0], allowed[1]);
    let two = format!("server={},client={}", cpu_list(&allowed[..2]), allowed[1]);
    for (cpus, threads) in [(one.as_str(), 1u64), (two.as_str(), 2)] {
        let run = blocking_run(cpus);
        let record = &run.servers[0];
        assert_eq!(record.worker_threads, Some(threads), "--cpus {cpus}: {:?}", record.health);
        assert!(record.command.ends_with(&format!("--threads {threads}")), "{}", record.command);
        let cell =
            run.cells.iter().find(|c| c.workload == Workload::Blocking && c.concurrency == 10).expect("the cell");
        for repetition in &cell.runs {
            let instance = repetition.instance.expect("each measured instance answered /health");
            assert_eq!(instance.worker_threads, Some(threads), "--cpus {cpus}");
        }
        let expected = (10f64 / threads as f64).ceil() * 0.2;
        assert_eq!(cell.expected_wall_s, Some(expected), "--cpus {cpus}");
        let wall = cell.wall_s.expect("measured");
        assert!((wall / expected - 1.0).abs() < 0.15, "--cpus {cpus}: {wall} s measured, {expected} s expected");
    }
}
