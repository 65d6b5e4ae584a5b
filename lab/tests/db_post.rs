//! The `db` workload sends `POST /db/visit` (RFC 9110 §9.3.3: the method for a write), from every client, and
//! the visit count in the server's SQLite file moves by exactly the requests the run says it sent (warm-up
//! included) — read back from the server, its access log showing a POST for each and no GET.

mod common;

use harness::process::ServerProcess;
use lab::export::json::JsonDocument;
use lab::records::run::{Run, Workload};
use std::process::Command;
use std::time::Duration;

#[test]
fn the_db_workload_posts_and_every_post_counts_once() {
    let files = common::scratch("db-post-files");
    let db = files.join("visits.sqlite");
    let log = files.join("access.log");
    // smol-server as a foreign server, so that its database and access log are this test's to read.
    let smol = common::bin_dir().join("smol-server");
    let spec = format!("smol={} --port {{port}} --db {} 2>>{}", smol.display(), db.display(), log.display());
    let (out, code, stderr) = common::run_lab(
        "db-post",
        common::lab()
            .args(["matrix", "--profile", "quick", "--servers", "none", "--workloads", "db"])
            .args(["--clients", "blocking-client,pool-client,async-client,async-client:lean,async-client:loop"])
            .args(["--concurrency", "4", "--requests", "40"])
            .arg("--server")
            .arg(spec),
    );
    assert_eq!(code, Some(0), "{stderr}");
    let run = Run::load(&common::run_json(&out)).unwrap();
    let cells: Vec<_> = run.cells.iter().filter(|c| c.workload == Workload::Db).collect();
    assert_eq!(cells.len(), 5, "one db cell per client: {:?}", run.cells.iter().map(|c| &c.id).collect::<Vec<_>>());
    let mut sent = 0;
    for cell in &cells {
        assert_eq!(cell.status.as_str(), "ok", "{}: {:?}", cell.id, cell.reason);
        assert_eq!(cell.failed, 0, "{}: {:?}", cell.id, cell.failures);
        sent += cell.runs.len() as u64 * (cell.requests + cell.warmup);
    }

    let log = std::fs::read_to_string(&log).unwrap();
    let posts = log.lines().filter(|line| line.contains(" 200 POST /db/visit?name=lab ")).count() as u64;
    assert!(!log.contains("GET /db/visit?name=lab"), "the db workload sent a GET:\n{log}");
    assert_eq!(posts, sent, "POSTs logged vs requests the run says it sent");

    // The count in SQLite, from the server itself on the same file.
    let mut command = Command::new(&smol);
    command.args(["--port", "0", "--quiet", "--db"]).arg(&db);
    let server = ServerProcess::start(command, Duration::from_secs(20)).unwrap();
    let counted = lab::http::get(&lab::http::agent(Duration::from_secs(10)), &server.url("/db/visits?name=lab"))
        .expect("GET /db/visits");
    assert_eq!(counted.status, 200, "{counted:?}");
    assert_eq!(counted.body.parse::<u64>().ok(), Some(sent), "the visit count in SQLite");
}
