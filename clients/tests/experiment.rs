//! The original article's experiment, scaled down (200 ms instead of 3 s), against every server:
//! ten requests one after another take ten times as long as ten in flight at once.

mod common;

use common::{run_json, start_server};

/// Ten requests to a route that waits 200 ms, with each client; asserts the shape of the timings.
fn original_experiment(server_name: &str) {
    let server = start_server(server_name);
    let url = server.url("/say/hello?name=Lucy&ms=200");
    let url = url.as_str();
    let context = |what: &str, wall: f64| format!("{what} against {server_name}: wall {wall:.3} s");

    // One thread, one request at a time: ten waits in a row.
    let (_, blocking) = run_json("blocking-client", &["--url", url, "-n", "10"]);
    assert_eq!(blocking.succeeded, 10, "{blocking:#?}");
    assert!(blocking.wall_s >= 2.0, "{}", context("blocking-client", blocking.wall_s));

    // Ten in flight on an event loop: the waits overlap.
    let (_, asynchronous) = run_json("async-client", &["--url", url, "-n", "10", "-c", "10"]);
    assert_eq!(asynchronous.succeeded, 10, "{asynchronous:#?}");
    assert!(asynchronous.wall_s < 0.6, "{}", context("async-client -c 10", asynchronous.wall_s));
    assert!(asynchronous.latency_us.min >= 200_000, "{asynchronous:#?}");

    // Five threads: two rounds of five.
    let (_, pool) = run_json("pool-client", &["--url", url, "-n", "10", "-c", "5"]);
    assert_eq!(pool.succeeded, 10, "{pool:#?}");
    assert!(pool.wall_s >= 0.4 && pool.wall_s < 0.8, "{}", context("pool-client -c 5", pool.wall_s));

    // The article's closing example: two processes, each with its own event loop and five in flight.
    let (_, processes) = run_json("async-client", &["--url", url, "-n", "10", "-c", "5", "--processes", "2"]);
    assert_eq!((processes.succeeded, processes.processes), (10, 2), "{processes:#?}");
    assert!(processes.wall_s < 0.6, "{}", context("async-client --processes 2 -c 5", processes.wall_s));
}

#[test]
fn original_experiment_thread_server() {
    original_experiment(common::SERVERS[0]);
}

#[test]
fn original_experiment_pool_server() {
    original_experiment(common::SERVERS[1]);
}

#[test]
fn original_experiment_async_std_server() {
    original_experiment(common::SERVERS[2]);
}

#[test]
fn original_experiment_smol_server() {
    original_experiment(common::SERVERS[3]);
}

#[test]
fn original_experiment_tokio_server() {
    original_experiment(common::SERVERS[4]);
}

#[test]
fn original_experiment_lean_server() {
    original_experiment(common::SERVERS[5]);
}

#[test]
fn original_experiment_uring_server() {
    original_experiment(common::SERVERS[6]);
}

#[test]
fn original_experiment_coroutine_server() {
    original_experiment(common::SERVERS[7]);
}

/// The tests above cover every server binary of the workspace (servers/src/bin), and only those.
#[test]
fn the_experiment_runs_against_every_server() {
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../servers/src/bin");
    let mut binaries: Vec<String> = std::fs::read_dir(bin)
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".rs").map(String::from))
        .collect();
    binaries.sort();
    let mut servers: Vec<String> = common::SERVERS.iter().map(|s| s.to_string()).collect();
    servers.sort();
    assert_eq!(servers, binaries, "common::SERVERS lists every server binary");
    let source = include_str!("experiment.rs");
    for (i, server) in common::SERVERS.iter().enumerate() {
        let name = server.replace('-', "_");
        let test = format!("fn original_experiment_{name}() {{\n    original_experiment(common::SERVERS[{i}]);");
        assert!(source.contains(&test), "no test runs the experiment against {server}");
    }
}
