//! CPU placement is applied, not only recorded: a server started the way the matrix starts it runs, with every
//! one of its threads, on exactly the CPUs the run header names (the kernel's own `Cpus_allowed_list`).

mod common;

use harness::process::{allowed_cpus, cpu_list};
use lab::plan::{CpuPlacement, ServerSpec};
use lab::process::Server;
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
