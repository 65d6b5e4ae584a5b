//! `lab bench` with real processes and debug binaries: a tiny reach and cost sweep whose JSON and markdown agree;
//! the throughput parts against wrk and nginx (without them: a failure under CI, a visible skip elsewhere); and
//! the parts that need a missing tool reported as not run, with the line that installs it.

mod common;

use lab::bench::markdown::figure;
use lab::export::json::JsonDocument;
use lab::records::bench::{BenchRun, Part, PartStatus};
use std::path::Path;

/// Runs `lab bench ARGS --bin-dir DEBUG --out OUT` with a marker, checks it exited 0 and left no process behind.
fn bench(name: &str, args: &[&str], path_var: Option<&Path>) -> (BenchRun, String, common::Scratch) {
    let mut command = common::lab();
    command.arg("bench").args(args);
    if let Some(path) = path_var {
        command.env("PATH", path);
    }
    let (out, code, stderr) = common::run_lab(name, &mut command);
    assert_eq!(code, Some(0), "lab bench failed:\n{stderr}");
    let json = common::run_json(&out);
    assert!(json.file_name().unwrap().to_string_lossy().starts_with("bench-"), "{}", json.display());
    let run = BenchRun::load(&json).unwrap();
    let md = std::fs::read_to_string(out.join(format!("bench-{}.md", run.run_id))).unwrap();
    assert_eq!(std::fs::read_to_string(out.join("bench-latest.md")).unwrap(), md);
    // `lab report` rebuilds the markdown from the JSON alone.
    let rebuilt = common::scratch(&format!("{name}-report"));
    let report = common::lab().arg("report").arg(&json).arg("--out").arg(&rebuilt).output().unwrap();
    assert!(report.status.success(), "{}", common::text(&report.stderr));
    assert_eq!(std::fs::read_to_string(rebuilt.join(format!("bench-{}.md", run.run_id))).unwrap(), md);
    // nginx rewrites its own environment (so the marker cannot find it), but keeps its command line, which names
    // the bench's scratch directory (`lab-bench-RUN_ID-…`; the bench tests run one at a time, .config/nextest.toml).
    let needle = format!("lab-bench-{}-", run.run_id);
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        assert!(!String::from_utf8_lossy(&cmdline).contains(&needle), "left behind: {}", entry.path().display());
    }
    (run, md, out)
}

/// The markdown row of the table under `heading` whose first cells are `first`.
fn row<'a>(md: &'a str, heading: &str, first: &str) -> &'a str {
    let section = md.split(heading).nth(1).unwrap_or_else(|| panic!("no section {heading}"));
    let section = section.split("\n## ").next().unwrap();
    section.lines().find(|l| l.starts_with(first)).unwrap_or_else(|| panic!("no row {first:?} under {heading}"))
}

#[test]
fn tiny_reach_and_cost_sweeps_agree_in_json_and_markdown() {
    let (run, md, out) = bench(
        "bench-sweep",
        &[
            "--parts",
            "reach,cost",
            "--servers",
            "thread-server,smol-server",
            "--reach-levels",
            "20,40",
            "--reach-ms",
            "100",
            "--reach-no-fd-max",
            "--reach-rounds",
            "2",
            "--levels",
            "20,40",
            "--cost-ms",
            "200",
        ],
        None,
    );
    assert_eq!((run.schema_version, run.kind().as_str(), run.build.as_str()), (2, "bench", "debug"));
    assert_eq!(run.settings.parts, vec![Part::Reach, Part::Cost]);
    for part in [&run.instrument.status, &run.servers.status, &run.overhead.status] {
        assert_eq!(*part, PartStatus::NotRequested);
    }
    assert!(md.contains("debug build"));

    // Reach: the floor and every cell measured, near D, with connect times, the server's accept queues and
    // backlog, and in their rows of the markdown with the same figures.
    assert_eq!(run.reach.status.as_str(), "ok");
    let somaxconn: u64 = std::fs::read_to_string("/proc/sys/net/core/somaxconn").unwrap().trim().parse().unwrap();
    assert_eq!(run.reach.floors.iter().map(|f| f.connections).collect::<Vec<_>>(), vec![20, 40]);
    // Two rounds: each floor and cell is its median round — with two, the faster of the two, a measured wall.
    assert_eq!((run.settings.reach_rounds, run.reach.rounds), (2, 2));
    let lower = |walls: &[f64]| walls.iter().copied().fold(f64::INFINITY, f64::min);
    for floor in &run.reach.floors {
        assert_eq!(floor.failed, 0, "{floor:?}");
        assert!(floor.efficiency > 0.3 && floor.efficiency <= 1.01, "{floor:?}");
        assert!(floor.server_cpu_s > 0.0 && floor.client_cpu_s > 0.0, "both sides report their CPU: {floor:?}");
        assert_eq!((floor.round_walls_s.len(), floor.wall_s), (2, lower(&floor.round_walls_s)), "{floor:?}");
        let line =
            row(&md, "## 3. Reach", &format!("| {} | {} (", floor.connections, lab::format::seconds(floor.wall_s)));
        assert!(line.contains(&format!("| {:.2} |", floor.efficiency)), "{line}");
    }
    // The floor with HTTP's bytes at every level too, in the same rounds, in the floor's row.
    assert_eq!(
        run.reach.http_floors.iter().map(|f| (f.connections, f.http)).collect::<Vec<_>>(),
        [(20, true), (40, true)]
    );
    for (floor, http) in run.reach.floors.iter().zip(&run.reach.http_floors) {
        assert!(!floor.http && http.failed == 0 && http.round_walls_s.len() == 2, "{http:?}");
        let line =
            row(&md, "## 3. Reach", &format!("| {} | {} (", floor.connections, lab::format::seconds(floor.wall_s)));
        assert!(line.contains(&format!("| {} (", lab::format::seconds(http.wall_s))), "{line}");
    }
    assert_eq!(run.reach.cells.len(), 4);
    let cpus = std::thread::available_parallelism().unwrap().get() as u64;
    for cell in &run.reach.cells {
        let id = format!("{} at {}", cell.server, cell.connections);
        assert_eq!((cell.status.as_str(), cell.failed), ("ok", 0), "{id}: {:?}", cell.reason);
        let efficiency = cell.efficiency.unwrap();
        assert!(efficiency > 0.3 && efficiency <= 1.01, "{id}: {efficiency}");
        assert_eq!(cell.round_walls_s.len(), 2, "{id}: a clean cell is measured in every round");
        assert_eq!(cell.wall_s, Some(lower(&cell.round_walls_s)), "{id}");
        assert!(cell.vs_floor.is_some_and(|r| r > 0.5), "{id}: {:?}", cell.vs_floor);
        assert!(cell.vs_http_floor.is_some_and(|r| r > 0.5), "{id}: {:?}", cell.vs_http_floor);
        // Every connection of the measured phase was timed (no warm-up: all of them).
        let connect = cell.connect_us.unwrap_or_else(|| panic!("{id}: no connect times"));
        assert_eq!(connect.connections, cell.connections, "{id}");
        assert!(connect.us.p50 <= connect.us.p99 && connect.us.p99 <= connect.us.max, "{id}: {connect:?}");
        // One listener per executor thread for the async server, tiny_http's one for the thread server; both
        // with the system's somaxconn as their backlog.
        let listeners = if cell.server == "smol-server" { cpus } else { 1 };
        assert_eq!((cell.accept_queue.listeners, cell.accept_queue.backlog), (listeners, somaxconn), "{id}");
        assert!(cell.accept_queue.samples > 0, "{id}");
        let reach = md.split("## 3. Reach").nth(1).unwrap().split("\n## ").next().unwrap();
        let line = reach
            .lines()
            .find(|l| {
                l.starts_with(&format!("| {} |", cell.server)) && l.contains(&format!("| {} | ok |", cell.connections))
            })
            .unwrap_or_else(|| panic!("no reach row for {id}"));
        assert!(line.contains(&format!("| {efficiency:.2} |")), "{line}");
        assert!(line.contains(&format!("| {} |", cell.server_peak_threads)), "{line}");
    }

    let chart = std::fs::read_to_string(out.join(format!("bench-{}-reach.svg", run.run_id))).unwrap();
    assert!(chart.contains("<svg") && chart.contains("smol-server") && chart.contains("floor"), "the reach chart");
    assert!(md.contains(&format!("](bench-{}-reach.svg)", run.run_id)), "the markdown shows the chart");

    // Cost: a line per server; a thread per connection shows in thread-server's slope and not in smol-server's.
    assert_eq!(run.cost.status.as_str(), "ok");
    assert_eq!(run.cost.per_connection.len(), 2, "{:?}", run.cost.per_connection);
    for fit in &run.cost.per_connection {
        assert_eq!(fit.points.iter().map(|p| p.0).collect::<Vec<_>>(), vec![20, 40]);
        let line = row(&md, "## 4. Cost", &format!("| {} |", fit.server));
        assert!(line.contains(&format!("{:.2} KiB", fit.rss_kib_per_connection)), "{line}");
        let threads = fit.threads_per_connection;
        match fit.server.as_str() {
            "thread-server" => assert!(threads >= 0.5, "thread-server: {threads} threads per connection"),
            _ => assert!(threads < 0.2, "{}: {threads} threads per connection", fit.server),
        }
    }

    // Targets: the async server's reach and cost, and the parts not run; each in the markdown's table.
    let smol_reach = run.targets.iter().find(|t| t.part == Part::Reach && t.figure.starts_with("smol-server")).unwrap();
    assert!(smol_reach.measured.is_some(), "{smol_reach:?}");
    assert!(run.targets.iter().any(|t| t.part == Part::Reach && t.figure.starts_with("smol-server at 40:")));
    assert!(run.targets.iter().any(|t| t.part == Part::Cost && t.figure.starts_with("smol-server")));
    assert!(!run.targets.iter().any(|t| t.figure.starts_with("thread-server")), "no target for thread-server");
    for t in &run.targets {
        let line = row(&md, "## Targets", &format!("| {} | {} |", t.part, t.figure));
        let measured = t.measured.map_or("—".to_string(), |v| figure(v, &t.unit));
        assert!(line.contains(&format!("| {measured} |")) && line.contains(t.verdict.as_str()), "{line} vs {t:?}");
        if t.part == Part::Instrument || t.part == Part::Servers || t.part == Part::Overhead {
            assert_eq!((t.verdict.as_str(), t.detail.as_deref()), ("not run", Some("not in --parts")));
        }
    }
    assert!(md.contains("--warmup 0 --json --engine lean"), "the cost client's exact command is listed");
}

#[test]
fn parts_whose_tool_is_missing_are_reported_not_run() {
    // PATH holds nothing (wrk and oha are not found there); nginx is named at a path that does not exist.
    let empty = common::scratch("bench-empty-path");
    let (run, md, _out) = bench(
        "bench-missing",
        &["--parts", "servers,instrument", "--servers", "smol-server", "--nginx", "/nonexistent/nginx"],
        Some(&empty),
    );
    for tool in &run.tools {
        assert!(tool.path.is_none(), "{tool:?}");
    }
    for part in [&run.servers, &run.instrument] {
        assert_eq!(part.status.as_str(), "not-run");
        assert!(part.contenders.is_empty());
    }
    assert_eq!(run.servers.reason.as_deref(), Some("wrk not installed (apt-get install wrk)"));
    assert_eq!(
        run.instrument.reason.as_deref(),
        Some("wrk not installed (apt-get install wrk) and oha not installed (cargo install oha)")
    );
    for t in run.targets.iter().filter(|t| t.part == Part::Servers || t.part == Part::Instrument) {
        assert_eq!(t.verdict.as_str(), "not run", "{t:?}");
        assert!(t.detail.as_deref().unwrap_or("").contains("not installed"), "{t:?}");
    }
    assert!(md.contains("**not-run**: wrk not installed (apt-get install wrk)"), "{md}");
    assert!(md.contains("not installed (apt-get install nginx-light)"), "the tools table says how to get nginx");

    for args in [vec!["bench", "--parts", "speed"], vec!["bench", "--levels", "100"], vec!["bench", "--rounds", "0"]] {
        let output = common::lab().args(&args).output().unwrap();
        let stderr = common::text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.trim().lines().count() == 1 && stderr.starts_with("lab: error: "), "{args:?}: {stderr}");
    }
}

#[test]
fn throughput_parts_take_ratios_round_by_round() {
    use harness::tools;
    let test = "throughput_parts_take_ratios_round_by_round";
    // Without wrk both parts are "not run" (the test above covers that): nothing here to check.
    if !tools::require(test, "wrk", tools::on_path("wrk"), tools::INSTALL_WRK) {
        return;
    }
    let (run, md, _out) = bench(
        "bench-throughput",
        &["--parts", "servers,instrument", "--servers", "smol-server", "--rounds", "1", "--duration", "1"],
        None,
    );
    // Part 2: smol-server with one worker, and nginx when it is installed.
    let smol = run.servers.contenders.iter().find(|c| c.name == "smol-server").unwrap();
    assert_eq!(smol.status.as_str(), "ok", "{smol:?}");
    assert!(smol.server_command.ends_with("--threads 1"), "{}", smol.server_command);
    assert!(smol.server_cpu_us_per_request.unwrap() > 0.0);
    let nginx = run.servers.contenders.iter().find(|c| c.name == "nginx").unwrap();
    let nginx_found = run.tools.iter().any(|t| t.name == "nginx" && t.path.is_some());
    if tools::require(&format!("{test} (nginx's half)"), "nginx", nginx_found, tools::INSTALL_NGINX) {
        assert_eq!(nginx.status.as_str(), "ok", "{nginx:?}");
        let ratio = run.servers.ratios.iter().find(|r| r.numerator == "smol-server").unwrap();
        let expected = smol.runs[0].rps / nginx.runs[0].rps;
        assert!((ratio.value.unwrap() - expected).abs() < 1e-9 && ratio.target == Some(0.8), "{ratio:?}");
    } else {
        assert_eq!(nginx.status.as_str(), "not-run");
    }
    // Part 1: it loads the fastest server of part 2; the clients send about what wrk did in the same time.
    assert_eq!(run.instrument.server.as_deref(), Some("smol-server"));
    let wrk = run.instrument.contenders.iter().find(|c| c.name == "wrk").unwrap();
    let lean = run.instrument.contenders.iter().find(|c| c.name == "async-client:lean").unwrap();
    assert_eq!((wrk.status.as_str(), lean.status.as_str()), ("ok", "ok"), "{wrk:?} {lean:?}");
    assert_eq!(run.instrument.client_requests, Some(wrk.runs[0].rps.round() as u64));
    assert_eq!(lean.runs[0].requests, run.instrument.client_requests.unwrap());
    let ratio = run.instrument.ratios.iter().find(|r| r.numerator == "async-client:lean" && r.denominator == "wrk");
    let ratio = ratio.unwrap();
    assert!((ratio.value.unwrap() - lean.runs[0].rps / wrk.runs[0].rps).abs() < 1e-9);
    let line = row(&md, "## 1. Instrument", "| async-client:lean |");
    assert!(line.contains(&lab::format::rate(lean.median_rps.unwrap())), "{line}");
    assert!(md.contains("-t1 -c64 -d1s --latency http://127.0.0.1:PORT/no/param"), "wrk's exact command");
}
