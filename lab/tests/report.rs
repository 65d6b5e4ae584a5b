//! `lab report` on the committed reference run, with a companion capacity run (`--with`): the headline opens the
//! markdown, names the companion's file and commit, the figures are embedded in the JSON, and a second report
//! made from that JSON alone rebuilds the same markdown. A file that is neither kind, or a companion that measured
//! other code (or does not say which), is refused in one line. A primitives run as companion adds the chain
//! primitive → model → server, its predictions made by the rule of docs/model.md from the two files' figures.

mod common;

use std::path::PathBuf;

/// The committed capacity run the companions are made from.
fn reference_capacity() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../results/capacity-20261206T181134Z-50d3ea2.json")
}

/// The committed default run the headline is read from.
fn reference_run() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../results/20261127T135236Z-ac4c209.json")
}

#[test]
fn report_with_a_capacity_companion_embeds_it_and_rebuilds_without_it() {
    let dir = common::scratch("report-with");
    let run_json = dir.join("20261127T135236Z-ac4c209.json");
    // The reference run, as if it had recorded the code it measured (runs now do: `environment.trees`).
    let trees = serde_json::json!({"servers": "1".repeat(40), "clients": "2".repeat(40), "harness": "3".repeat(40)});
    let mut run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(reference_run()).unwrap()).unwrap();
    run["environment"]["trees"] = trees.clone();
    std::fs::write(&run_json, serde_json::to_string(&run).unwrap()).unwrap();
    // A capacity run as `lab capacity` wrote it (the committed reference capacity run, lab/SCHEMA.md "The capacity
    // JSON"), cut to two io cells with figures of this test, measured on the same code; and the same run measured
    // on other code, or on code it does not name.
    let capacity_of = |name: &str, trees: Option<serde_json::Value>| {
        let path = dir.join(name);
        let mut body: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(reference_capacity()).unwrap()).unwrap();
        body["run_id"] = "TEST".into();
        body["settings"]["client"] = "async-client:lean".into();
        let environment = body["environment"].as_object_mut().unwrap();
        environment.insert("git_commit".into(), "feedbee".into());
        environment.insert("git_dirty".into(), false.into());
        match trees {
            Some(trees) => environment.insert("trees".into(), trees),
            None => environment.remove("trees"),
        };
        let io_cell = |server: &str, rps: f64| {
            let cells = body["cells"].as_array().unwrap();
            let mut cell = cells.iter().find(|c| c["server"] == server && c["workload"] == "io").unwrap().clone();
            cell["capacity_rps"] = rps.into();
            cell["first_failed_rps"] = serde_json::Value::Null;
            cell
        };
        body["cells"] = serde_json::json!([io_cell("smol-server", 912.5), io_cell("pool-server", 15.9)]);
        std::fs::write(&path, body.to_string()).unwrap();
        path
    };
    let mut other = trees.clone();
    other["harness"] = serde_json::json!("4".repeat(40));
    for (name, trees, says) in [
        ("capacity-OTHER.json", Some(other), "its harness/ differs from this run's"),
        ("capacity-OLD.json", None, "does not record the code it measured"),
    ] {
        let refused = capacity_of(name, trees);
        let output = common::lab().arg("report").arg(&run_json).arg("--with").arg(&refused).output().unwrap();
        let stderr = common::text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.trim().lines().count() == 1 && stderr.contains(says), "{name}: {stderr}");
    }
    let capacity = capacity_of("capacity-TEST.json", Some(trees));
    let output =
        common::lab().arg("report").arg(&run_json).arg("--reanalyse").arg("--with").arg(&capacity).output().unwrap();
    assert!(output.status.success(), "{}", common::text(&output.stderr));
    let md = std::fs::read_to_string(dir.join("20261127T135236Z-ac4c209.md")).unwrap();
    let answer = md.split("## The answer").nth(1).expect("the headline section");
    assert!(md.find("## The answer").unwrap() < md.find("## The original experiment").unwrap());
    assert!(answer.contains("| capacity io |"), "{answer}");
    assert!(answer.contains("912 req/s") || answer.contains("913 req/s"), "{answer}");
    assert!(
        answer.contains(
            "`capacity-TEST.json` (lab capacity, commit feedbee, the same servers/, clients/ and harness/ as this \
             run, async-client:lean)"
        ),
        "{answer}"
    );
    // The JSON now holds the figures and says the schema that has them (companions came with version 3).
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&run_json).unwrap()).unwrap();
    assert_eq!(json["schema_version"], lab::records::run::SCHEMA_VERSION);
    assert_eq!(json["companions"][0]["source"], "capacity-TEST.json");
    // Without the companion file, a report from the JSON alone is the same page.
    std::fs::remove_file(&capacity).unwrap();
    let again = common::scratch("report-again");
    let output =
        common::lab().arg("report").arg(&run_json).arg("--reanalyse").arg("--out").arg(&again).output().unwrap();
    assert!(output.status.success(), "{}", common::text(&output.stderr));
    assert_eq!(std::fs::read_to_string(again.join("20261127T135236Z-ac4c209.md")).unwrap(), md);

    // A matrix run is not a companion: exit 2, one line.
    let output = common::lab().arg("report").arg(&run_json).arg("--with").arg(reference_run()).output().unwrap();
    let stderr = common::text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.trim().lines().count() == 1 && stderr.contains("not a capacity, bench or primitives run"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&again);
}

/// The rule of docs/model.md ("Primitive → model → server"), applied here to the committed files' figures:
/// thread-server's CPU per request = pool-server's + one thread create-and-join (one CPU); its memory per waiting
/// connection, when the primitives run measured no connections, at least two idle threads (tiny_http's and the
/// request's, user + kernel memory).
#[test]
fn report_with_a_primitives_companion_prints_the_chain() {
    let results = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../results");
    let dir = common::scratch("report-chain");
    let run_json = dir.join("20261206T202024Z-47ee0d2.json");
    std::fs::copy(results.join("20261206T202024Z-47ee0d2.json"), &run_json).unwrap();
    let primitives = results.join("primitives-20261206T211702Z-47ee0d2.json");
    let output = common::lab().arg("report").arg(&run_json).arg("--with").arg(&primitives).output().unwrap();
    assert!(output.status.success(), "{}", common::text(&output.stderr));
    let md = std::fs::read_to_string(dir.join("20261206T202024Z-47ee0d2.md")).unwrap();
    let chain = md.split("## Primitive → model → server").nth(1).expect("the chain's section");
    let chain = chain.split("\n## ").next().unwrap();

    let read = |path: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let (run, prims) = (read(&run_json), read(&primitives));
    assert!(run["companions"].as_array().unwrap().iter().any(|c| c["kind"] == "primitives"));
    let create_ns = prims["timings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["measure"] == "create" && t["subject"] == "thread" && t["cpus"] == prims["settings"]["cpu_sets"][0])
        .unwrap()["median_ns"]
        .as_f64()
        .unwrap();
    // baseline at c = 1 with async-client: both servers' cells are evidence there in this run.
    let cpu = |server: &str| {
        run["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| {
                c["server"] == server
                    && c["workload"] == "baseline"
                    && c["concurrency"] == 1
                    && c["client"] == "async-client"
            })
            .unwrap()["server_cpu_us_per_request"]
            .as_f64()
            .unwrap()
    };
    let (pool, thread) = (cpu("pool-server"), cpu("thread-server"));
    let predicted = pool + create_ns / 1000.0;
    let row = format!(
        "| baseline | async-client, 1 | {pool:.1} µs | {:.1} µs | {predicted:.1} µs | {thread:.1} µs |",
        create_ns / 1000.0
    );
    assert!(chain.contains(&row), "{row}\n{chain}");

    let fit = prims["memory"].as_array().unwrap().iter().find(|m| m["unit"] == "thread").unwrap().clone();
    let idle_thread = ["user_kib_per_unit", "kernel_stack_kib_per_unit", "slab_kib_per_unit"]
        .iter()
        .map(|k| fit[k].as_f64().unwrap())
        .sum::<f64>();
    let row = chain.lines().find(|l| l.starts_with("| thread-server |")).expect("thread-server's memory row");
    assert!(row.contains(&format!("= {:.1} KiB (without the sockets: a lower bound)", 2.0 * idle_thread)), "{row}");

    // The HTML page shows the same chain: every row of the markdown's tables, the predicted figure among them.
    let html = std::fs::read_to_string(dir.join("20261206T202024Z-47ee0d2.html")).unwrap();
    let section = html.split("<section id=\"chain\">").nth(1).expect("the page's chain section");
    let section = section.split("</section>").next().unwrap();
    let md_rows = chain.lines().filter(|l| l.starts_with('|') && !l.starts_with("|---")).count();
    assert_eq!(section.matches("<tr>").count(), md_rows, "{section}");
    assert!(section.contains(&format!("{predicted:.1} µs")), "{section}");
    let _ = std::fs::remove_dir_all(&dir);
}
