//! `lab merge` of two halves equals the whole, exactly. The test is its own oracle: it draws known latencies,
//! records each half into an HDR histogram with the `hdrhistogram` crate, writes two client reports as
//! clients/SCHEMA.md describes them, runs `lab merge`, and checks the merged percentiles against the sorted union
//! of the values — nearest rank, within HDR's precision (3 significant digits: the reported value is the top of
//! the bucket holding the true one, at most 1/1024 above it).

mod common;

use base64::Engine as _;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::path::Path;

/// Deterministic, skewed latencies in µs: half fast (about a millisecond), half with a long tail up to seconds.
fn latencies(n: usize) -> (Vec<u64>, Vec<u64>) {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    let fast: Vec<u64> = (0..n).map(|_| 800 + next() % 1_500).collect();
    let slow: Vec<u64> = (0..n + 1).map(|_| 1_000 + (next() % 2_000) * (next() % 1_000)).collect();
    (fast, slow)
}

/// A client report of `values` (all succeeded) plus `failed` timeouts, with its histogram encoded by the test.
fn report(values: &[u64], failed: u64, wall_s: f64) -> Value {
    let mut h = Histogram::<u64>::new(3).unwrap();
    for &v in values {
        h.record(v).unwrap();
    }
    let mut bytes = Vec::new();
    V2DeflateSerializer::new().serialize(&h, &mut bytes).unwrap();
    let n = values.len() as u64;
    json!({
        "schema_version": 1, "client": "async-client", "engine": "lean", "url": "http://10.0.0.9:8000/",
        "requests": n + failed, "concurrency": 10, "processes": 1, "keep_alive": true,
        "succeeded": n, "failed": failed,
        "failures": {"connect": 0, "timeout": failed, "status": 0, "other": 0, "unsent": 0},
        "wall_s": wall_s, "throughput_rps": n as f64 / wall_s,
        "latency_us": {"min": h.min(), "mean": h.mean(), "p50": h.value_at_quantile(0.5),
            "p90": h.value_at_quantile(0.9), "p99": h.value_at_quantile(0.99),
            "p999": h.value_at_quantile(0.999), "max": h.max()},
        "latency_histogram_us": base64::engine::general_purpose::STANDARD.encode(bytes),
        "cost": {"peak_threads": 3, "peak_rss_kib": 4000, "user_s": 0.5, "sys_s": 0.25},
    })
}

fn write(dir: &Path, name: &str, report: &Value) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string(report).unwrap()).unwrap();
    path
}

#[test]
fn merge_of_two_halves_equals_the_whole() {
    let dir = common::scratch("merge");
    let (fast, slow) = latencies(5_000);
    let a = write(&dir, "a.json", &report(&fast, 3, 2.0));
    // A client's saved stdout: a line of progress before the report.
    let b = dir.join("b.json");
    std::fs::write(&b, format!("warming up\n{}\n", serde_json::to_string(&report(&slow, 4, 2.5)).unwrap())).unwrap();
    let output = common::lab().arg("merge").arg(&a).arg(&b).output().unwrap();
    let stderr = common::text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("lab merge: 2 reports, 10008 requests (7 failed)"), "{stderr}");
    let merged: Value = serde_json::from_str(common::text(&output.stdout).trim()).unwrap();

    let mut all: Vec<u64> = fast.iter().chain(&slow).copied().collect();
    all.sort_unstable();
    let n = all.len();
    assert_eq!(n, 10_001, "q × n is never a whole number below, so the nearest rank is unambiguous");
    assert_eq!((merged["succeeded"].as_u64(), merged["failed"].as_u64()), (Some(n as u64), Some(7)));
    assert_eq!((merged["requests"].as_u64(), merged["failures"]["timeout"].as_u64()), (Some(10_008), Some(7)));
    assert_eq!((merged["wall_s"].as_f64(), merged["processes"].as_u64()), (Some(2.5), Some(2)));
    let latency = &merged["latency_us"];
    for (field, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)] {
        let truth = all[(q * n as f64).ceil() as usize - 1];
        let got = latency[field].as_u64().unwrap();
        assert!(got >= truth && got - truth <= truth / 1024, "{field}: merged {got}, the union's {truth}");
    }
    let max = latency["max"].as_u64().unwrap();
    let true_max = *all.last().unwrap();
    assert!(max >= true_max && max - true_max <= true_max / 1024, "max {max}, the union's {true_max}");
    // The merged report is itself a report: merging it with nothing else changes nothing.
    let again = write(&dir, "merged.json", &merged);
    let output = common::lab().arg("merge").arg(&again).output().unwrap();
    let twice: Value = serde_json::from_str(common::text(&output.stdout).trim()).unwrap();
    assert_eq!(twice["latency_us"], merged["latency_us"]);
}

#[test]
fn reports_that_do_not_fit_exit_2_naming_the_file() {
    let dir = common::scratch("merge-bad");
    let (fast, _) = latencies(100);
    let ok = write(&dir, "ok.json", &report(&fast, 0, 1.0));
    let mut other = report(&fast, 0, 1.0);
    other["concurrency"] = json!(3);
    let other = write(&dir, "other-load.json", &other);
    let garbage = dir.join("garbage.json");
    std::fs::write(&garbage, "not json").unwrap();
    let missing = dir.join("missing.json");
    let cases = [
        (vec![&ok, &other], "other-load.json: a different load"),
        (vec![&ok, &garbage], "garbage.json: not a client report"),
        (vec![&ok, &missing], "missing.json: cannot read it"),
    ];
    for (files, expected) in cases {
        let output = common::lab().arg("merge").args(files).output().unwrap();
        let stderr = common::text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
        assert!(output.stdout.is_empty());
    }
}
