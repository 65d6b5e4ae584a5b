//! A quick matrix over two servers and two clients, with real processes: its JSON, markdown and CSV agree;
//! `lab report` rebuilds the same markdown and CSV from the JSON; the run carries its machine's calibration, start
//! and end; `lab compare` of the run with itself is a noise check that says 1.00 and "tie" everywhere (the noise
//! rule, `lab::noise`).

mod common;

use lab::export::csv::{parse as parse_csv, COLUMNS};
use lab::export::json::JsonDocument;
use lab::export::markdown::cell_text;
use lab::records::run::{Run, Status};

#[test]
fn quick_matrix_then_report_and_compare() {
    let (out, code, stderr) = common::run_lab(
        "matrix",
        common::lab()
            .args(["matrix", "--profile", "quick", "--check-shape"])
            .args(["--servers", "thread-server,smol-server", "--clients", "blocking-client,async-client"])
            .args(["--workloads", "io,baseline", "--concurrency", "10", "--hello-ms", "200", "--requests", "300"]),
    );
    assert_eq!(code, Some(0), "lab matrix failed:\n{stderr}");
    assert!(stderr.contains("original experiment shape: holds"), "{stderr}");

    // JSON: every planned cell, all measured, the build recorded honestly.
    let json_path = common::run_json(&out);
    let run = Run::load(&json_path).unwrap();
    assert_eq!(run.schema_version, 4);
    // The default placement is recorded: the server on its CPUs, the client on the rest (shared on one CPU).
    assert_eq!(run.cpus, Some(lab::records::header::CpuPlacement::split_of(&harness::process::allowed_cpus())));
    assert_eq!(run.build.as_str(), "debug");
    assert!(!run.interrupted);
    // The machine was calibrated at the start and at the end, by the `calibrate` binary built with the servers.
    let calibration = run.calibration.as_ref().expect("a calibration");
    let end = calibration.end.as_ref().expect("the end calibration");
    for measures in [&calibration.start, end] {
        assert_eq!(measures.build, run.build.as_str(), "{measures:?}");
        for probe in lab::calibration::Probe::ALL {
            let s = measures.get(*probe).unwrap_or_else(|| panic!("{probe}: {measures:?}"));
            assert!(s.min > 0.0 && s.min <= s.median && s.median <= s.max, "{probe}: {s:?}");
        }
    }
    assert!(run.started_at <= calibration.start.at && calibration.start.at <= end.at && end.at <= run.finished_at);
    assert_eq!(calibration.drift.len(), lab::calibration::Probe::ALL.len());
    let ids: Vec<&str> = run.cells.iter().map(|c| c.id.as_str()).collect();
    for server in ["thread-server", "smol-server"] {
        for id in [
            "blocking-client/io/c1/n1",
            "blocking-client/io/c1/n10",
            "async-client/io/c10/n10",
            "blocking-client/baseline/c1/n300",
            "async-client/baseline/c10/n300",
        ] {
            assert!(ids.contains(&format!("{server}/{id}").as_str()), "missing {server}/{id} in {ids:?}");
        }
    }
    assert_eq!(run.cells.len(), 10, "{ids:?}");
    for cell in &run.cells {
        assert_eq!(cell.status.as_str(), "ok", "{}: {:?} {:?}", cell.id, cell.reason, cell.stderr_tail);
        assert_eq!(cell.failed, 0, "{}", cell.id);
        let cost = cell.server_cost.as_ref().expect("server cost");
        assert!(cost.peak_rss_kib > 0 && cost.peak_threads > 0 && cost.samples > 0, "{}: {cost:?}", cell.id);
        assert!(cell.client_cost.is_some() && cell.bottleneck.is_some());
        // `--requests` bounds every cell by a count, and each completed it.
        assert_eq!((cell.bound, cell.duration_s), (lab::records::run::Bound::Requests, None), "{}", cell.id);
        assert_eq!(cell.requests_completed, cell.requests, "{}", cell.id);
    }
    for server in &run.servers {
        assert_eq!(server.verify.status.as_str(), "passed", "{}: {:?}", server.name, server.verify.reason);
    }
    // The model: io cells carry a prediction, and the original experiment's shape is there.
    let one = run.cells.iter().find(|c| c.id == "smol-server/async-client/io/c10/n10").unwrap();
    assert_eq!(one.expected_wall_s, Some(0.2));
    assert!(one.efficiency.unwrap() > 0.5, "{one:?}");
    assert!(run.analysis.shape.evaluated && run.analysis.shape.holds, "{:?}", run.analysis.shape);
    assert_eq!(run.analysis.experiment.len(), 2);
    assert!(!run.analysis.narrative.is_empty());
    assert!(
        run.overhead.total_s > run.overhead.measured_s && run.overhead.fraction > 0.0 && run.overhead.fraction < 1.0
    );

    // Markdown: says it is a debug build, and every cell's figure sits in its server's row of its workload table.
    let md_path = out.join(format!("{}.md", run.run_id));
    let md = std::fs::read_to_string(&md_path).unwrap();
    assert!(md.contains("debug build"), "the markdown must say the numbers are from a debug build");
    assert!(md.contains(&lab::export::prose::calibration_line(run.calibration.as_ref().unwrap())), "{md}");
    for cell in &run.cells {
        let section = md.split(&format!("## `{}`", cell.workload)).nth(1).expect("workload section");
        let section = section.split("\n## ").next().unwrap();
        let row = section
            .lines()
            .find(|l| l.starts_with(&format!("| {} |", cell.server)))
            .unwrap_or_else(|| panic!("no row for {} in the {} table", cell.server, cell.workload));
        let figure = cell_text(cell);
        assert!(row.contains(&figure), "{}: {figure:?} not in {row:?}", cell.id);
    }
    assert_eq!(std::fs::read_to_string(out.join("latest.md")).unwrap(), md);
    for workload in ["io", "baseline"] {
        let chart = out.join(&run.run_id).join(format!("{workload}.svg"));
        let svg = std::fs::read_to_string(&chart).unwrap_or_else(|_| panic!("no chart {}", chart.display()));
        assert!(svg.starts_with("<svg") && svg.contains("smol-server") && svg.contains("thread-server"));
        assert!(md.contains(&format!("{}/{workload}.svg", run.run_id)), "the markdown links the {workload} chart");
    }

    // CSV: one row per cell, the same figures as the JSON.
    let csv_path = out.join(format!("{}.csv", run.run_id));
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let rows = parse_csv(&csv).unwrap();
    assert_eq!(rows[0], COLUMNS.iter().map(|c| c.to_string()).collect::<Vec<_>>());
    assert_eq!(rows.len(), run.cells.len() + 1);
    let col = |name: &str| COLUMNS.iter().position(|c| *c == name).unwrap();
    for (row, cell) in rows[1..].iter().zip(&run.cells) {
        assert_eq!(row[col("id")], cell.id);
        assert_eq!(row[col("status")], cell.status.as_str());
        assert_eq!(row[col("wall_s")].parse::<f64>().unwrap(), cell.wall_s.unwrap());
        assert_eq!(row[col("throughput_rps")].parse::<f64>().unwrap(), cell.throughput_rps.unwrap());
        assert_eq!(row[col("p99_us")].parse::<f64>().unwrap(), cell.latency_us.unwrap().p99);
        assert_eq!(row[col("requests")].parse::<u64>().unwrap(), cell.requests);
        assert_eq!(
            row[col("server_peak_rss_kib")].parse::<u64>().unwrap(),
            cell.server_cost.as_ref().unwrap().peak_rss_kib
        );
    }

    // report: the same markdown and CSV, rebuilt from the JSON alone.
    let rebuilt = common::scratch("report");
    let output = common::lab().arg("report").arg(&json_path).arg("--out").arg(&rebuilt).output().unwrap();
    assert!(output.status.success(), "{}", common::text(&output.stderr));
    assert_eq!(std::fs::read_to_string(rebuilt.join(format!("{}.md", run.run_id))).unwrap(), md);
    assert_eq!(std::fs::read_to_string(rebuilt.join(format!("{}.csv", run.run_id))).unwrap(), csv);
    assert!(rebuilt.join(&run.run_id).join("io.svg").exists());

    // compare with itself: a noise check (same machine, same code), every ratio 1.00, every verdict a tie (a
    // range always overlaps itself).
    let output = common::lab().arg("compare").arg(&json_path).arg(&json_path).output().unwrap();
    assert!(output.status.success(), "{}", common::text(&output.stderr));
    let comparison = common::text(&output.stdout);
    assert!(comparison.contains("same machine, same code: a noise check"), "{comparison}");
    let rows: Vec<&str> = comparison.lines().filter(|l| l.starts_with("| `")).collect();
    assert_eq!(rows.len(), run.cells.len(), "{comparison}");
    for row in rows {
        let fields: Vec<&str> = row.split('|').map(str::trim).collect();
        // | cell | wall A | wall B | ratio | tp A | tp B | ratio | p99 A | p99 B | ratio | verdict |
        assert_eq!((fields[4], fields[7], fields[10]), ("1.00", "1.00", "1.00"), "{row}");
        assert_eq!(fields[11], "tie", "{row}");
    }
}

/// A throughput cell bounded by a duration: each repetition lasts that long after its warm-up (plus at most one
/// request's latency), however many requests it takes, and the cell says so.
#[test]
fn throughput_cells_run_for_their_duration() {
    let (out, code, stderr) = common::run_lab(
        "duration",
        common::lab()
            .args(["matrix", "--profile", "quick", "--servers", "smol-server", "--clients", "async-client"])
            .args(["--workloads", "baseline", "--concurrency", "10", "--duration", "0.5", "--repeat", "2"]),
    );
    assert_eq!(code, Some(0), "lab matrix failed:\n{stderr}");
    let run = Run::load(&common::run_json(&out)).unwrap();
    assert_eq!(run.cells.len(), 1, "{:?}", run.cells);
    let cell = &run.cells[0];
    assert_eq!(cell.id, "smol-server/async-client/baseline/c10/d0.5s");
    assert_eq!(cell.status.as_str(), "ok", "{:?} {:?}", cell.reason, cell.stderr_tail);
    assert_eq!((cell.bound, cell.duration_s, cell.requests), (lab::records::run::Bound::Duration, Some(0.5), 0));
    assert_eq!(cell.requests_completed, cell.succeeded + cell.failed);
    // Empty answers: far more than one round of 10 fits in half a second, even in a debug build.
    assert!(cell.succeeded > 100 && cell.failed == 0, "{cell:?}");
    assert_eq!(cell.runs.len(), 2);
    for repetition in &cell.runs {
        assert!(repetition.wall_s >= 0.5 && repetition.wall_s < 1.0, "{repetition:?}");
    }
    let wall = cell.wall_s.unwrap();
    assert!((cell.throughput_rps.unwrap() - cell.succeeded as f64 / wall).abs() < 1e-6 * cell.throughput_rps.unwrap());
    let md = std::fs::read_to_string(out.join(format!("{}.md", run.run_id))).unwrap();
    assert!(md.contains("0.5 s per repetition after warm-up"), "{md}");
}

/// Repetitions run in rounds over the whole run: every point's servers once (a, b, a, b), then every point again,
/// so that a cell's repetitions are spread over the run and the machine's drift lands inside its range.
#[test]
fn repetitions_run_in_rounds_over_the_whole_run() {
    let (out, code, stderr) = common::run_lab(
        "rounds",
        common::lab()
            .args(["matrix", "--profile", "quick", "--servers", "smol-server,thread-server"])
            .args(["--clients", "async-client", "--workloads", "baseline", "--concurrency", "10,100"])
            .args(["--duration", "0.2", "--repeat", "2"]),
    );
    assert_eq!(code, Some(0), "lab matrix failed:\n{stderr}");
    // With stderr not a terminal, each repetition of a point is announced on a line of its own.
    let announced: Vec<&str> = stderr.lines().filter(|l| l.starts_with("[round ")).collect();
    let order = [(1, 10), (1, 100), (2, 10), (2, 100)];
    assert_eq!(announced.len(), order.len(), "{stderr}");
    for (line, (round, c)) in announced.iter().zip(order) {
        let (smol, thread) = line.split_once(" | ").unwrap_or((line, ""));
        assert!(
            smol.starts_with(&format!("[round {round}/2] running smol-server × async-client baseline c={c} ")),
            "{line}"
        );
        assert!(thread.starts_with(&format!("thread-server × async-client baseline c={c} ")), "{line}");
    }
    let run = Run::load(&common::run_json(&out)).unwrap();
    assert_eq!(run.cells.len(), 4);
    assert!(run.cells.iter().all(|c| c.status == Status::Ok && c.runs.len() == 2), "{:?}", run.cells);
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    for args in [
        vec!["matrix", "--profile", "huge"],
        vec!["matrix", "--servers", "nginx"],
        vec!["matrix", "--workloads", "io,sleep"],
        vec!["matrix", "--concurrency", "10,x"],
        vec!["matrix", "--server", "py=python3 app.py"],
        vec!["matrix", "--fact-n", "20001"],
        vec!["matrix", "--profile", "soak"],
        vec!["matrix", "--hello-ms", "0"],
        vec!["matrix", "--requests", "100", "--duration", "1"],
        vec!["matrix", "--duration", "0"],
        vec!["soak", "--minutes", "0"],
        vec!["soak", "--client", "blocking-client"],
        vec!["bench", "--parts", "everything"],
        vec!["report", "/nonexistent/run.json"],
        vec!["compare", "/nonexistent/a.json", "/nonexistent/b.json"],
    ] {
        let output = common::lab().args(&args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", common::text(&output.stderr));
        let stderr = common::text(&output.stderr);
        assert!(stderr.trim().lines().count() == 1 && stderr.starts_with("lab: error: "), "{args:?}: {stderr}");
    }
}
