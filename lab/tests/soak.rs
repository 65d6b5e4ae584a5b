//! `lab soak`, short: three 2-second runs of `mixed` against one long-lived smol-server, and a
//! foreign server that dies right after its first start (its soak fails, the run goes on). The JSON's soak section
//! holds the series and the verdicts, the markdown shows them, and `lab report` rebuilds the same markdown.

mod common;

use lab::export::json::JsonDocument;
use lab::records::run::Workload;
use lab::records::soak::{Profile, SoakRun};

#[test]
fn a_short_soak_writes_a_series_per_server() {
    let out = common::scratch("soak");
    let starts = out.join("dies.starts");
    let dies = common::fixture_server(&format!(
        "--fault die-after-listening --fault-from-start 2 --starts-file {}",
        starts.display()
    ));
    let (code, stderr) = common::run_lab_in(
        &out,
        common::lab()
            .args(["soak", "--servers", "smol-server", "--minutes", "0.1"])
            .args(["--chunk-s", "2", "--concurrency", "8"])
            .arg("--server")
            .arg(format!("dies={dies}")),
    );
    assert_eq!(code, Some(0), "{stderr}");
    let json = common::run_json(&out);
    let run = SoakRun::load(&json).unwrap();
    assert_eq!((run.profile, run.kind().as_str()), (Profile::Soak, "soak"));
    let soak = &run.soak;
    assert_eq!(
        (soak.workload, soak.client.label(), soak.concurrency),
        (Workload::Mixed, "async-client".to_string(), 8)
    );

    let smol = &soak.servers[0];
    assert_eq!((smol.server.as_str(), smol.status.as_str()), ("smol-server", "ok"), "{:?}", smol.reason);
    assert_eq!(smol.minutes.len(), 3);
    for m in &smol.minutes {
        assert_eq!(m.status.as_str(), "ok", "{m:?}");
        assert!(m.succeeded > 0 && m.failed == 0, "{m:?}");
        assert!(m.latency_us.is_some_and(|l| l.p99 >= l.p50 && l.p50 > 0.0), "{m:?}");
        assert!(m.rss_end_kib.is_some_and(|r| r > 0) && m.threads_end.is_some_and(|t| t > 0), "{m:?}");
        // Sized from the calibration and the minute before: about 2 s each, generously.
        assert!(m.window_s > 0.5 && m.window_s < 8.0, "{m:?}");
    }
    assert_eq!(smol.requests, smol.minutes.iter().map(|m| m.succeeded).sum::<u64>());
    assert!(smol.p50_ratio.is_some() && smol.p99_ratio.is_some() && smol.rss_slope_kib_per_min.is_some());
    assert!(smol.verdict.starts_with("smol-server: ") && smol.verdict.contains("latency"), "{}", smol.verdict);
    // Its points are 2-second runs, and it says so: not "minutes".
    assert!(smol.verdict.contains("of 3 runs of 2.00 s"), "{}", smol.verdict);

    let dies = &soak.servers[1];
    assert_eq!(dies.status.as_str(), "failed", "{dies:?}");
    assert!(dies.reason.as_deref().unwrap().contains("exit"), "{:?}", dies.reason);
    assert!(dies.stderr_tail.as_deref().unwrap().contains("fault die-after-listening"), "{:?}", dies.stderr_tail);

    let md_path = out.join(format!("{}.md", run.run_id));
    let md = std::fs::read_to_string(&md_path).unwrap();
    assert!(md.contains("## Soak") && md.contains("### smol-server") && md.contains(&smol.verdict), "{md}");
    assert!(md.contains("| 3 | "), "a row per run:\n{md}");
    assert!(md.contains("| run | start |") && !md.contains("| minute |"), "{md}");
    // The markdown is rebuilt from the JSON alone.
    std::fs::remove_file(&md_path).unwrap();
    let report = common::lab().arg("report").arg(&json).output().unwrap();
    assert!(report.status.success(), "{}", common::text(&report.stderr));
    assert_eq!(std::fs::read_to_string(&md_path).unwrap(), md);
}
