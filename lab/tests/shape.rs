//! `lab matrix --check-shape` is what CI relies on: it exits 1 when the original experiment's shape does not
//! hold. A server that claims thread-per-request but answers one request at a time makes ten concurrent requests
//! take ten waits instead of one.

mod common;

use lab::results::Run;

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
