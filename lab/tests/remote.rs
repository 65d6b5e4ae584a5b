//! `--target NAME=URL`: a server the lab does not start. The test starts smol-server itself (as it would run on
//! another machine), and the lab (`matrix`, `verify`, `capacity`) verifies and loads it over real TCP, says its
//! cost is not sampled, and leaves it running; a URL the lab cannot use is refused with exit 2 and one line.

mod common;

use harness::process::ServerProcess;
use lab::export::json::JsonDocument;
use lab::records::run::Run;
use std::process::Command;
use std::time::Duration;

/// smol-server started by the test, not the lab, on a free port; ready once it printed `listening on`.
fn outside_server(name: &str) -> (ServerProcess, harness::TempDir) {
    let db = harness::temp_dir("lab-remote-db-").unwrap();
    let mut command = Command::new(common::bin_dir().join(name));
    command.args(["--host", "127.0.0.1", "--port", "0", "--quiet", "--db"]).arg(db.path().join("db.sqlite"));
    let server = ServerProcess::start(command, Duration::from_secs(15)).expect("smol-server starts");
    (server, db)
}

#[test]
fn target_measures_a_server_started_outside_the_lab() {
    let (mut server, _db) = outside_server("smol-server");
    let origin = format!("http://{}", server.addr);
    let (out, code, stderr) = common::run_lab(
        "remote-matrix",
        common::lab()
            .args(["matrix", "--profile", "quick", "--servers", "none", "--clients", "async-client"])
            .args(["--workloads", "baseline", "--concurrency", "10", "--requests", "200"])
            .arg("--target")
            .arg(format!("far={origin}/")),
    );
    assert_eq!(code, Some(0), "{stderr}");
    // The lab started only clients, and stopped them (run_lab checks); the target is not the lab's to stop.
    assert!(server.try_wait().unwrap().is_none(), "the lab must leave a remote target running");

    let run = Run::load(&common::run_json(&out)).unwrap();
    assert_eq!(run.servers.len(), 1);
    let far = &run.servers[0];
    assert_eq!((far.name.as_str(), far.kind.as_str(), far.command.as_str()), ("far", "remote", origin.as_str()));
    assert_eq!(far.verify.status.as_str(), "passed", "{:?}", far.verify);
    assert!(far.cost_not_sampled.as_deref().unwrap().starts_with("not sampled (remote)"));
    assert!(!run.cells.is_empty());
    for cell in &run.cells {
        assert_eq!(cell.status.as_str(), "ok", "{}: {:?}", cell.id, cell.reason);
        assert_eq!((cell.succeeded, cell.failed), (200, 0), "{}", cell.id);
        assert!(cell.wall_s.unwrap() > 0.0 && cell.latency_us.unwrap().p50 > 0.0, "{}", cell.id);
        // Measured on the client's side; the server's side is out of sight and says so (null, not zero).
        assert!(cell.server_cost.is_none() && cell.saturation.is_none(), "{}", cell.id);
        assert!(cell.client_cost.as_ref().unwrap().cpu_cores > 0.0, "{}", cell.id);
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(common::run_json(&out)).unwrap()).unwrap();
    assert!(json["cells"][0]["server_cost"].is_null());
    let md = std::fs::read_to_string(out.join(format!("{}.md", run.run_id))).unwrap();
    let cost_rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| far |") && l.contains("not sampled")).collect();
    assert_eq!(cost_rows.len(), run.cells.len(), "{md}");
    assert!(md.contains(&format!("far: a remote target at {origin}")), "{md}");

    // `lab capacity` sweeps the same target: a tiny sweep that it holds.
    let (out, code, stderr) = common::run_lab(
        "remote-capacity",
        common::lab()
            .args(["capacity", "--servers", "none", "--workloads", "baseline", "--probe-s", "0.5"])
            .args(["--bisect-steps", "0", "--max-rate", "200", "--co-s", "0", "--target"])
            .arg(format!("far={origin}")),
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(server.try_wait().unwrap().is_none(), "the lab must leave a remote target running");
    let capacity = std::fs::read_dir(&out).unwrap().flatten().map(|e| e.path()).find(|p| {
        p.extension().is_some_and(|e| e == "json") && p.file_name().unwrap().to_string_lossy().starts_with("capacity-")
    });
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(capacity.unwrap()).unwrap()).unwrap();
    let cell = &json["cells"][0];
    assert_eq!((cell["server"].as_str(), cell["status"].as_str()), (Some("far"), Some("ok")), "{cell}");
    assert!(cell["probes"][0]["succeeded"].as_u64().unwrap() > 0, "{cell}");
    server.stop(Duration::from_secs(2)).unwrap();
}

#[test]
fn verify_checks_a_target_like_any_server() {
    let (mut server, _db) = outside_server("smol-server");
    let origin = format!("http://{}", server.addr);
    let output =
        common::lab().args(["verify", "--servers", "none", "--target"]).arg(format!("far={origin}")).output().unwrap();
    let stdout = common::text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}{}", common::text(&output.stderr));
    assert!(stdout.contains(&format!("✔ far (remote, {origin}): passed")), "{stdout}");
    assert!(server.try_wait().unwrap().is_none());
    server.stop(Duration::from_secs(2)).unwrap();
}

/// A target that answers a route wrongly is skipped like any server; one that does not answer at all costs its
/// cells, not the run.
#[test]
fn a_wrong_or_silent_target_costs_its_cells_not_the_run() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/contract_server.py");
    let mut command = Command::new("python3");
    command.arg(script).args(["--port", "0", "--wrong-fact"]);
    let mut wrong = ServerProcess::start(command, Duration::from_secs(15)).expect("the fixture starts");
    // A port nobody listens on: bound, then released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (out, code, stderr) = common::run_lab(
        "remote-wrong",
        common::lab()
            .args(["matrix", "--profile", "quick", "--servers", "none", "--clients", "async-client"])
            .args(["--workloads", "baseline", "--concurrency", "10", "--requests", "50"])
            .arg("--target")
            .arg(format!("wrong=http://{}", wrong.addr))
            .arg("--target")
            .arg(format!("gone=http://{closed}")),
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(wrong.try_wait().unwrap().is_none(), "the lab must leave a remote target running");
    let run = Run::load(&common::run_json(&out)).unwrap();
    let status = |name: &str| run.servers.iter().find(|s| s.name == name).unwrap().verify.status.to_string();
    assert_eq!((status("wrong"), status("gone")), ("failed".to_string(), "not-run".to_string()));
    for cell in &run.cells {
        assert!(cell.wall_s.is_none(), "{} was measured", cell.id);
        let reason = cell.reason.as_deref().unwrap();
        match cell.server.as_str() {
            "wrong" => assert!(reason.starts_with("failed verify: GET /fact"), "{reason}"),
            _ => assert!(reason.contains("did not answer"), "{reason}"),
        }
    }
    wrong.stop(Duration::from_secs(2)).unwrap();
}

#[test]
fn a_bad_target_exits_2_with_one_line() {
    for (command, target, why) in [
        ("matrix", "far=https://127.0.0.1:1", "http://"),
        ("matrix", "far=http://127.0.0.1:1/api", "path"),
        ("verify", "far=not a url", "not a URL"),
        ("verify", "http://127.0.0.1:1", "NAME=URL"),
        ("capacity", "far=http://127.0.0.1:1/x", "path"),
        ("soak", "far=http://127.0.0.1:1", "lab matrix or lab verify"),
    ] {
        let output = common::lab().args([command, "--servers", "none", "--target", target]).output().unwrap();
        let stderr = common::text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{command} --target {target}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains("--target") && stderr.contains(why), "{stderr}");
    }
}
