//! `lab compare` on committed runs, made before runs recorded a calibration or code trees: they still load, the
//! header says what each run recorded and classifies the comparison by the rule of docs/model.md ("Comparing
//! runs across machines"); a copy of a committed run moved onto another CPU and made uniformly 1.4× faster reads
//! as the machine's shift, not as dozens of better cells. An unknown control server is refused in one line.

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};

fn committed(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../results").join(name)
}

const A: &str = "20261127T190108Z-737c022.json";
const B: &str = "20261128T041748Z-3250da2.json";

fn compare(a: &Path, b: &Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let output = common::lab().arg("compare").arg(a).arg(b).args(extra).output().unwrap();
    (output.status.code(), common::text(&output.stdout), common::text(&output.stderr))
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The verdict column of the cell table.
fn verdicts(md: &str) -> Vec<String> {
    md.lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| l.trim_end_matches('|').rsplit('|').next().unwrap().trim().to_string())
        .collect()
}

#[test]
fn committed_runs_load_and_the_header_says_what_they_recorded() {
    let (code, md, stderr) = compare(&committed(A), &committed(B), &[]);
    assert_eq!(code, Some(0), "{stderr}");
    // The header comes before the cells, and shows each run's machine as its JSON records it.
    let header = md.split("| cell |").next().unwrap();
    let (ja, jb) = (read(&committed(A)), read(&committed(B)));
    for run in [&ja, &jb] {
        let e = &run["environment"];
        let machine = format!("{} × {}", e["cpu_model"].as_str().unwrap(), e["cpu_count"]);
        assert!(header.contains(&machine), "{machine}\n{header}");
        assert!(header.contains(e["kernel"].as_str().unwrap()), "{header}");
        assert!(header.contains(e["git_commit"].as_str().unwrap()), "{header}");
    }
    // Neither run recorded a calibration or trees (made before the lab did).
    assert!(ja.get("calibration").is_none() && jb["environment"].get("trees").is_none());
    assert!(header.contains("| calibration: cpu | not recorded | not recorded |"), "{header}");
    assert!(header.contains("| trees servers · clients · harness | not recorded | not recorded |"), "{header}");
    // The rule: same CPU model, kernel and cores → the same machine (by description only, without calibration);
    // different commits without trees → the code is not known to be the same → read as a code comparison.
    let same = |field: &str| ja["environment"][field] == jb["environment"][field];
    if same("cpu_model") && same("kernel") && same("cpu_count") {
        assert!(header.contains("same machine, code not known to be the same: read as a code comparison"), "{header}");
        assert!(header.contains("by description only"), "{header}");
    } else {
        assert!(header.contains("different machines"), "{header}");
    }
    assert!(header.contains("the commits differ and the runs did not record their code trees"), "{header}");
}

#[test]
fn a_committed_run_moved_to_another_cpu_and_made_faster_is_the_machines_shift() {
    let dir = common::scratch("compare-shift");
    let mut run = read(&committed(B));
    run["run_id"] = "SHIFTED".into();
    run["environment"]["cpu_model"] = "AMD EPYC".into();
    // Every measured cell 1.4× faster: throughput × 1.4, wall time ÷ 1.4, the repetitions' ranges with them.
    let mut measured = 0;
    for cell in run["cells"].as_array_mut().unwrap() {
        if cell["status"] != "ok" {
            continue;
        }
        measured += 1;
        let scale = |v: &mut Value, f: f64| {
            if let Some(x) = v.as_f64() {
                *v = (x * f).into();
            }
        };
        scale(&mut cell["throughput_rps"], 1.4);
        scale(&mut cell["wall_s"], 1.0 / 1.4);
        if cell["spread"].is_object() {
            for (field, f) in
                [("throughput_min", 1.4), ("throughput_max", 1.4), ("wall_s_min", 1.0 / 1.4), ("wall_s_max", 1.0 / 1.4)]
            {
                scale(&mut cell["spread"][field], f);
            }
        }
    }
    let shifted = dir.join("shifted.json");
    std::fs::write(&shifted, serde_json::to_string(&run).unwrap()).unwrap();

    let (code, md, stderr) = compare(&committed(B), &shifted, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(md.contains("different machines: the differences are the machine's"), "{md}");
    assert!(md.contains("CPU model Intel(R) Xeon(R) Processor → AMD EPYC"), "{md}");
    let verdicts = verdicts(&md);
    assert!(verdicts.len() >= measured, "{md}");
    assert!(!verdicts.iter().any(|v| v.contains("better") || v.contains("worse")), "{verdicts:?}");
    assert!(md.contains("by a median 1.40× (B faster"), "{md}");
    assert!(md.contains("0 of them differ beyond their workload's shift"), "{md}");

    // The same two documents on one CPU model (and one commit, so the same code): a noise check, read raw, and
    // the cells are "better" — what the shift must not be mistaken for.
    run["environment"]["cpu_model"] = read(&committed(B))["environment"]["cpu_model"].clone();
    std::fs::write(&shifted, serde_json::to_string(&run).unwrap()).unwrap();
    let (_, md, _) = compare(&committed(B), &shifted, &[]);
    assert!(md.contains("same machine, same code: a noise check"), "{md}");
    assert!(verdicts_of_kind(&md, "better") > 0, "{md}");
}

fn verdicts_of_kind(md: &str, word: &str) -> usize {
    verdicts(md).iter().filter(|v| v.contains(word)).count()
}

#[test]
fn an_unknown_control_server_is_refused_in_one_line() {
    let (code, stdout, stderr) = compare(&committed(A), &committed(B), &["--control", "no-such-server"]);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--control no-such-server"), "{stderr}");
    // A known one is accepted, and the servers are read against it.
    let (code, md, stderr) = compare(&committed(A), &committed(B), &["--control", "thread-server"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(md.contains("÷ thread-server"), "{md}");
}
