//! The lab survives servers that misbehave: a foreign server (the Python fixture with `--fault`) that hangs, answers
//! garbage, closes mid-response, sends a 1 MB header, never accepts, or dies right after `listening on`. Each
//! passes verification (its fault starts with its second start, the first cell) and then costs exactly its own
//! cell: `failed`, with a reason and the stderr tail. A healthy server measured after them shows the run went on;
//! the JSON is written and no process is left behind.

mod common;

use lab::export::json::JsonDocument;
use lab::records::run::Run;
use std::path::Path;

/// `NAME=python3 contract_server.py --port {port} --fault NAME --fault-from-start 2 --starts-file DIR/NAME`.
fn faulty(fault: &str, dir: &Path) -> String {
    let starts = dir.join(format!("{fault}.starts"));
    let extra = format!("--fault {fault} --fault-from-start 2 --starts-file {}", starts.display());
    format!("{fault}={}", common::fixture_server(&extra))
}

/// Runs a small matrix over the faulty servers then a healthy one; checks every cell and returns nothing left.
fn survives(faults: &[(&str, &[&str])], name: &str) {
    let out = common::scratch(name);
    let mut lab = common::lab();
    // The lean engine: async-client's default (surf) counts a body cut short as a success.
    lab.args(["matrix", "--profile", "quick", "--servers", "none", "--clients", "async-client:lean"]);
    lab.args(["--workloads", "baseline", "--concurrency", "10", "--requests", "20", "--timeout", "1"]);
    for (fault, _) in faults {
        lab.arg("--server").arg(faulty(fault, &out));
    }
    lab.arg("--server").arg(format!("healthy={}", common::fixture_server("")));
    let (code, stderr) = common::run_lab_in(&out, &mut lab);
    assert_eq!(code, Some(0), "misbehaving servers cost cells, not the run:\n{stderr}");
    let run = Run::load(&common::run_json(&out)).unwrap();
    assert_eq!(run.cells.len(), faults.len() + 1, "{stderr}");
    for (fault, reasons) in faults {
        let server = run.servers.iter().find(|s| s.name == *fault).unwrap();
        assert_eq!(server.verify.status.as_str(), "passed", "{fault}: the fault starts after verification");
        let cell = run.cells.iter().find(|c| c.server == *fault).unwrap();
        assert_eq!(cell.status.as_str(), "failed", "{fault}: {cell:?}");
        let reason = cell.reason.as_deref().unwrap();
        assert!(reasons.iter().any(|r| reason.contains(r)), "{fault}: reason {reason:?}, expected one of {reasons:?}");
        let tail = cell.stderr_tail.as_deref().unwrap_or("");
        assert!(tail.contains(&format!("contract_server: fault {fault}")), "{fault}: stderr tail {tail:?}");
    }
    let healthy = run.cells.iter().find(|c| c.server == "healthy").unwrap();
    assert_eq!((healthy.status.as_str(), healthy.failed), ("ok", 0), "{healthy:?}");
    let md = std::fs::read_to_string(out.join(format!("{}.md", run.run_id))).unwrap();
    for (fault, _) in faults {
        assert!(md.contains(&format!("`{fault}/async-client:lean/baseline/c10/n20`: failed")), "{md}");
    }
}

#[test]
fn servers_that_hang_never_accept_or_die_cost_only_their_cells() {
    survives(
        &[
            ("hang", &["20 of 20 requests failed (timeout 20)"]),
            ("no-accept", &["20 of 20 requests failed (timeout 20)"]),
            // The lab may see it die before or after it has read `listening on`.
            ("die-after-listening", &["the server exited during the cell", "server did not start: exited"]),
        ],
        "misbehaving-silent",
    );
}

#[test]
fn servers_that_answer_garbage_cut_or_huge_responses_cost_only_their_cells() {
    survives(
        &[
            ("garbage", &["20 of 20 requests failed"]),
            ("close-mid-response", &["20 of 20 requests failed"]),
            ("huge-header", &["20 of 20 requests failed"]),
        ],
        "misbehaving-garbled",
    );
}
