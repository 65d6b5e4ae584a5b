//! `lab matrix --check-shape` is what CI relies on: it exits 1 when the original experiment's shape does not
//! hold. A server that claims thread-per-request but answers one request at a time makes ten concurrent requests
//! take ten waits instead of one.

mod common;

use lab::export::json::JsonDocument;
use lab::records::run::Run;

#[test]
fn check_shape_fails_on_a_server_that_serialises_requests() {
    let (out, code, stderr) = common::run_lab(
        "shape",
        common::lab()
            .args(["matrix", "--profile", "quick", "--check-shape", "--servers", "none"])
            .args(["--clients", "blocking-client,async-client", "--workloads", "io", "--concurrency", "10"])
            .args(["--hello-ms", "100"])
            .arg("--server")
            .arg(format!("serial={}", common::fixture_server("--serial"))),
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("original experiment shape: does NOT hold"), "{stderr}");
    assert!(stderr.contains("serial: 10 concurrent requests (async-client) took"), "{stderr}");
    // The run is written all the same, and says why.
    let run = Run::load(&common::run_json(&out)).unwrap();
    let shape = &run.analysis.shape;
    assert!(shape.evaluated && !shape.holds, "{shape:?}");
    assert!(shape.details.iter().any(|d| d.contains("10 blocking requests took") && d.contains("holds:")), "{shape:?}");
    // One request and ten one after another keep to the model; ten at once, 1 D expected, take about ten.
    assert!(shape.details.iter().any(|d| d.contains("1 request took") && d.contains("holds:")), "{shape:?}");
    let ten_at_once = shape.details.iter().find(|d| d.starts_with("serial: 10 concurrent requests")).unwrap();
    assert!(ten_at_once.contains("(FAILS: the model's 1.0 D ± 10 %)"), "{ten_at_once}");
    let ten = run.cells.iter().find(|c| c.id == "serial/async-client/io/c10/n10").unwrap();
    assert!(ten.wall_s.unwrap() > 0.8, "ten requests one at a time take about ten waits: {:?}", ten.wall_s);
    assert!(ten.efficiency.unwrap() < 0.3, "{:?}", ten.efficiency);
}

/// A server that claims two executor threads but answers one request at a time: the model expects 10 concurrent
/// `/block` requests of 100 ms to take ⌈10 ÷ 2⌉ × 0.1 s = 0.5 s, they take about 1 s. The run must call that a
/// model miss — listed with both numbers and counted in the answer — and give it no cause.
#[test]
fn a_server_that_serialises_while_claiming_two_threads_is_a_model_miss() {
    let (out, code, stderr) = common::run_lab(
        "model-miss",
        common::lab()
            .args(["matrix", "--profile", "quick", "--servers", "none", "--clients", "async-client"])
            .args(["--workloads", "blocking", "--concurrency", "10", "--block-ms", "100", "--repeat", "2"])
            .arg("--server")
            .arg(format!("fake={}", common::fixture_server("--serial --claim-async 2"))),
    );
    assert_eq!(code, Some(0), "{stderr}");
    let run = Run::load(&common::run_json(&out)).unwrap();
    let cell = run.cells.iter().find(|c| c.id == "fake/async-client/blocking/c10/n10").expect("the cell");
    assert_eq!(cell.expected_wall_s, Some(0.5), "{cell:?}");
    assert!(cell.wall_s.unwrap() > 0.9, "one at a time: {:?}", cell.wall_s);
    let findings = lab::findings::Findings::of(&run);
    let miss = findings.predictions.misses.iter().find(|m| m.cell == cell.id).expect("a model miss");
    assert_eq!(miss.expected, 0.5);
    let md = std::fs::read_to_string(common::run_json(&out).with_extension("md")).unwrap();
    let answer = md.split("## The answer").nth(1).unwrap().split("\n## ").next().unwrap();
    assert!(answer.contains("**Model misses: 1 of"), "{answer}");
    let section = md.split("## Model misses").nth(1).unwrap().split("\n## ").next().unwrap();
    assert!(section.contains("| fake × async-client `blocking` c=10 | 0.500 s | "), "{section}");
    // No sentence explains the miss with a mechanism the lab did not measure.
    assert!(!md.contains("because each sleep held"), "{md}");
}
