//! `lab slowloris` with real servers, small: 100 slow connections for 3 s with a 1 s header timeout. The async
//! server drops them all after about a second and never stalls the probes; thread-server holds one thread per slow
//! connection. Both files are written, the markdown links the JSON, and no process is left behind.

mod common;

use lab::records::slowloris::SlowlorisRun;

#[test]
fn slow_clients_against_an_async_and_a_thread_server() {
    let (out, code, stderr) = common::run_lab(
        "slowloris",
        common::lab()
            .args(["slowloris", "--servers", "smol-server,thread-server", "--connections", "100", "--duration", "3"])
            .args(["--header-timeout-s", "1"]),
    );
    assert_eq!(code, Some(0), "{stderr}");

    let json: Vec<_> = std::fs::read_dir(&out).unwrap().flatten().map(|e| e.path()).collect();
    let json = json.iter().find(|p| p.extension().is_some_and(|e| e == "json")).expect("a JSON file");
    let name = json.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("slowloris-"), "{name}");
    let run: SlowlorisRun = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    assert_eq!((run.kind().as_str(), run.schema_version, run.settings.connections), ("slowloris", 1, 100));
    assert_eq!(run.servers.len(), 2);

    let smol = &run.servers[0];
    assert_eq!(smol.status.as_str(), "ok", "{:?}", smol.reason);
    assert_eq!((smol.attack.opened, smol.attack.dropped), (100, 100), "{:?}", smol.attack);
    let lifetime = smol.attack.median_lifetime_s.unwrap();
    assert!((0.9..2.5).contains(&lifetime), "the 1 s header timeout dropped them: {lifetime}");
    assert!(smol.server_cost.peak_threads < 20, "{:?}", smol.server_cost);
    let probes = &smol.probes;
    assert!(probes.sent >= 20 && probes.within_1s == probes.sent, "{probes:?}");
    assert_eq!(smol.after_ok, Some(true));
    assert_eq!(smol.timeline.len(), 3);
    assert_eq!(smol.timeline[0].attack_open, 100);
    assert_eq!(smol.timeline[2].attack_open, 0);

    let thread = &run.servers[1];
    assert_eq!((thread.status.as_str(), thread.attack.opened), ("ok", 100), "{:?}", thread.reason);
    // One thread per slow connection, while it lasts.
    assert!(thread.server_cost.peak_threads >= 100, "{:?}", thread.server_cost);
    assert!(thread.probes.ok > 0, "{:?}", thread.probes);

    let md = std::fs::read_to_string(out.join(format!("slowloris-{}.md", run.run_id))).unwrap();
    assert!(md.contains(&format!("[slowloris-{0}.json](slowloris-{0}.json)", run.run_id)), "{md}");
    assert!(md.contains("| smol-server | 100 | 100 |"), "{md}");
    assert!(md.contains(&smol.verdict), "{md}");
    // `lab report` rebuilds the markdown from the JSON alone.
    let rebuilt = common::scratch("slowloris-report");
    let report = common::lab().arg("report").arg(json).arg("--out").arg(&rebuilt).output().unwrap();
    assert!(report.status.success(), "{}", common::text(&report.stderr));
    assert_eq!(std::fs::read_to_string(rebuilt.join(format!("slowloris-{}.md", run.run_id))).unwrap(), md);
}
