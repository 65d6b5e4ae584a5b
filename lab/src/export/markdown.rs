//! `RUN-ID.md`: the page a person reads first. One table per workload (rows: server; columns: client ×
//! concurrency), the original experiment expected vs measured, the sentences the numbers support, then the
//! model, the costs, verification, failures and the machine.

use super::prose;
use super::table::Table;
use super::{chart_path, Artifact, Exporter, Report};
use crate::findings::{Findings, SHAPE_TOLERANCE};
use crate::format;
use crate::records::header::{Environment, RunHeader};
use crate::records::run::{Cell, Client, Overhead, Run, Saturation, ServerRecord, Settings, Status, Workload};
use crate::row;
use std::fmt::{Display, Write};
use std::io;

pub struct MarkdownExporter;

impl Exporter<Report<'_>> for MarkdownExporter {
    fn render(&self, r: &Report) -> io::Result<Vec<Artifact>> {
        let bytes = render(r.run, &r.findings).into_bytes();
        Ok(vec![Artifact { path: format!("{}.md", r.run.run_id).into(), bytes }])
    }
}

/// How one cell reads in its workload's table: wall time (io, blocking) or throughput, then p99.
pub fn cell_text(cell: &Cell) -> String {
    match cell.status {
        Status::Ok => {}
        Status::Skipped => return "skipped".to_string(),
        Status::Failed => return "**failed**".to_string(),
    }
    let (Some(wall), Some(rate), Some(lat)) = (cell.wall_s, cell.throughput_rps, cell.latency_us) else {
        return "no figures".to_string();
    };
    let wait = cell.workload == Workload::Io || cell.workload == Workload::Blocking;
    let mut text = if wait { format::seconds(wall) } else { format::rate(rate) };
    text.push_str(&format!(" · p99 {}", format::micros(lat.p99)));
    // The median and the range of the repetitions: what the noise rule (`crate::noise`) compares.
    if let Some(spread) = cell.spread.filter(|s| s.repeats > 1) {
        let (lo, hi) = if wait {
            (format::seconds(spread.wall_s_min), format::seconds(spread.wall_s_max))
        } else {
            (format::rate(spread.throughput_min), format::rate(spread.throughput_max))
        };
        text.push_str(&format!(" ({lo}–{hi}, {}×)", spread.repeats));
    }
    if cell.failed > 0 {
        text.push_str(&format!(" · ⚠ {} failed", cell.failed));
    }
    // The client's ceiling, not the server's: no conclusion rests on such a cell.
    if matches!(cell.saturation, Some(Saturation::Client | Saturation::Both)) {
        text.push_str(&format!(" · ⚠ {}", cell.saturation.unwrap_or_default()));
    }
    text
}

/// Column key of a cell in its workload's table.
fn column(cell: &Cell) -> (Client, u64, u64) {
    (cell.client, cell.concurrency, cell.requests)
}

/// A page's opening, every document's: its title, then its warnings ([`prose::warnings`]) as quotes.
pub fn opening(title: &str, h: &RunHeader, stopped: &str, md: &mut String) {
    let _ = writeln!(md, "# {title}\n");
    for warning in prose::warnings(h, stopped) {
        let _ = writeln!(md, "> {warning}\n");
    }
}

/// What an interrupted matrix run left out: `12 of 40 cells ran; the rest are marked skipped`.
pub fn stopped(run: &Run) -> String {
    let measured = run.cells.iter().filter(|c| c.status != Status::Skipped).count();
    format!("{measured} of {} cells ran; the rest are marked skipped", run.cells.len())
}

/// `Machine: CPU × N · RAM · Linux KERNEL · RUSTC · commit C.`: where the figures were measured.
pub fn machine_line(e: &Environment) -> String {
    format!(
        "Machine: {} × {} · {} RAM · Linux {} · {} · commit {}{}.",
        e.cpu_model,
        e.cpu_count,
        format::kib(e.memory_kib),
        e.kernel,
        e.rustc,
        e.git_commit,
        if e.git_dirty { " (with uncommitted changes)" } else { "" }
    )
}

pub fn render(run: &Run, findings: &Findings) -> String {
    let mut md = String::new();
    head(&run.header, &run.profile, &run.settings, run.cells.len(), &stopped(run), &mut md);
    headline(run, findings, &mut md);
    experiment(run, &mut md);
    model_misses(findings, &mut md);
    narrative(&run.analysis.narrative, &mut md);

    for workload in run.workloads() {
        workload_table(run, workload, &mut md);
    }
    model_table(run, &mut md);
    cost_table(run, &mut md);
    per_connection(run, &mut md);
    crate::chain::markdown::section(run, &mut md);
    verification(&run.servers, &mut md);
    failures(run, &mut md);
    run_section(&run.header, run.overhead, &mut md);
    md
}

/// A page's head, the matrix's and the soak's alike: the [`opening`] (`stopped`: what an interrupted run left
/// out), the profile line over `cells` cells, the machine, its calibration and the CPUs.
pub fn head(h: &RunHeader, profile: &dyn Display, s: &Settings, cells: usize, stopped: &str, md: &mut String) {
    opening(&format!("Lab run {}", h.run_id), h, stopped, md);
    let _ = writeln!(
        md,
        "Profile `{profile}` · D = {} (io) · blocking sleep {} · cpu = {}! uncached · keep-alive {} · {} · {cells} \
         cells.  ",
        format::seconds(s.hello_ms as f64 / 1000.0),
        format::seconds(s.block_ms as f64 / 1000.0),
        s.fact_n,
        if s.keep_alive { "on" } else { "off" },
        match s.repeat {
            0 | 1 => "each cell once".to_string(),
            n => format!("each cell {n} times, in rounds over the whole run (one repetition of every cell per round)"),
        },
    );
    let _ = writeln!(md, "{}  ", machine_line(&h.environment));
    if let Some(calibration) = &h.calibration {
        let _ = writeln!(md, "{}  ", prose::calibration_line(calibration));
    }
    match &h.cpus {
        Some(cpus) => {
            let _ = writeln!(md, "CPUs: {cpus}.\n");
        }
        None => md.push('\n'),
    }
}

/// "What the numbers show": the run's sentences, kept in its JSON.
pub fn narrative(sentences: &[String], md: &mut String) {
    if sentences.is_empty() {
        return;
    }
    let _ = writeln!(md, "## What the numbers show\n");
    for sentence in sentences {
        let _ = writeln!(md, "- {sentence}");
    }
    md.push('\n');
}

/// The answer first: at most five claims, each a measured figure with a link to its evidence; one table of at
/// most seven columns; how many predictions missed. Everything else follows below.
fn headline(run: &Run, findings: &Findings, md: &mut String) {
    if findings.headline.is_none() && findings.predictions.checked == 0 {
        return;
    }
    let _ = writeln!(md, "## The answer\n");
    md.push_str(&answer(run, findings));
}

/// The answer's body: the claims, the model-miss count, the table and the noise rule. Its links are relative to
/// the run's own markdown (`#io`, a companion's `bench-….md`); [`rebase_links`] moves them for another page.
pub fn answer(run: &Run, findings: &Findings) -> String {
    let mut md = String::new();
    for (text, evidence) in prose::claims(run, findings) {
        let _ = writeln!(md, "- {text} [evidence]({evidence})");
    }
    let _ = writeln!(md, "- {}\n", prose::misses_line(findings, "here"));
    let Some(h) = &findings.headline else { return md };
    md.push_str(&prose::headline::table(run, h));
    let _ = writeln!(md, "\n{}\n", prose::noise_note(", and `lab compare`"));
    md
}

/// Moves the relative links of `md` (written for `results/RUN-ID.md`) to a page elsewhere: an anchor `#x`
/// becomes `page#x`, a file `f` becomes `dir/f`. Absolute links stay.
pub fn rebase_links(md: &str, page: &str, dir: &str) -> String {
    let mut out = String::with_capacity(md.len());
    let mut rest = md;
    while let Some(at) = rest.find("](") {
        out.push_str(&rest[..at + 2]);
        rest = &rest[at + 2..];
        let absolute = ["http://", "https://", "/"].iter().any(|p| rest.starts_with(p));
        if rest.starts_with('#') {
            out.push_str(page);
        } else if !absolute {
            out.push_str(dir);
        }
    }
    out.push_str(rest);
    out
}

/// Every prediction the measurement did not bear out, with both numbers and no cause the lab did not measure.
pub fn model_misses(findings: &Findings, md: &mut String) {
    let how = "For io and blocking the model predicts the wall time (D × ⌈requests ÷ concurrency⌉); for the \
               throughput workloads an upper bound on req/s from the same server's c = 1 cell (`lab/src/predict.rs`). \
               The lab has not measured why these differ; each is an open question, not an explained result.";
    let _ = writeln!(md, "## Model misses\n\n{}\n", prose::misses_intro(findings, how));
    if !findings.predictions.misses.is_empty() {
        prose::misses_table(findings).write(md);
        md.push('\n');
    }
}

fn experiment(run: &Run, md: &mut String) {
    let rows = &run.analysis.experiment;
    if rows.is_empty() {
        return;
    }
    let d = run.settings.hello_ms as f64 / 1000.0;
    let client = rows
        .iter()
        .find_map(|r| r.async_client.map(|c| prose::client_name(run, c)))
        .unwrap_or_else(|| "concurrent client".into());
    let _ = writeln!(md, "## The original experiment (D = {})\n", format::seconds(d));
    let _ = writeln!(
        md,
        "Expected vs measured: one request ≈ D; ten sent one after another by blocking-client ≈ 10 D; ten sent at once \
         by {client} ≈ what the model expects (D, unless the server bounds its concurrency).\n"
    );
    let ten_at_once = format!("10 at once ({client})");
    let mut table = Table::new(&["server", "model", "1 request", "10 blocking", &ten_at_once]);
    let show = |p: Option<crate::records::run::ExperimentPoint>| match p {
        Some(p) => format!(
            "{} = {:.1} D (expected {:.1} D)",
            format::seconds(p.measured_s),
            p.measured_s / d,
            p.expected_s / d
        ),
        None => "not measured".to_string(),
    };
    for row in rows {
        let model = run.servers.iter().find(|s| s.name == row.server).map(|s| s.model.as_str()).unwrap_or("?");
        table.row(row![row.server, model, show(row.one_request), show(row.ten_blocking), show(row.ten_async)]);
    }
    table.write(md);
    let _ = writeln!(md, "\n{}", shape_verdict(run));
    md.push('\n');
}

/// The shape check in one line: holds or not, with the range of the three multiples of D, and only the failing
/// servers by name.
pub fn shape_verdict(run: &Run) -> String {
    let shape = &run.analysis.shape;
    let d = run.settings.hello_ms as f64 / 1000.0;
    let rows = &run.analysis.experiment;
    let multiples = |pick: fn(&crate::records::run::ExperimentRow) -> Option<crate::records::run::ExperimentPoint>| {
        let xs: Vec<f64> = rows.iter().filter_map(|r| pick(r).map(|p| p.measured_s / d)).collect();
        if xs.is_empty() {
            return "not measured".to_string();
        }
        prose::span(&xs, |x| format!("{x:.1} D"))
    };
    let verdict = match (shape.evaluated, shape.holds) {
        (false, _) => "not evaluated",
        (true, true) => "holds",
        (true, false) => "does not hold",
    };
    let mut line = format!(
        "Shape check (1 request, 10 blocking and 10 at once each within {:.0} % of the model's D, 10 D and D or the \
         pool's rounds): **{verdict}** — 1 request took {}, 10 blocking {}, 10 at once {} over {} server(s).",
        SHAPE_TOLERANCE * 100.0,
        multiples(|r| r.one_request),
        multiples(|r| r.ten_blocking),
        multiples(|r| r.ten_async),
        rows.len()
    );
    let failing: Vec<&String> = shape.details.iter().filter(|d| d.contains("FAILS")).collect();
    for detail in failing {
        line.push_str(&format!("\n- {detail}"));
    }
    line
}

fn workload_table(run: &Run, workload: Workload, md: &mut String) {
    let cells: Vec<&Cell> = run.cells_of(workload).collect();
    let paths = run
        .settings
        .workload_paths
        .iter()
        .find(|w| w.workload == workload)
        .map(|w| (w.paths.join(" → "), w.description.clone()));
    let wait = workload.is_wait();
    let _ = writeln!(md, "## `{workload}`\n");
    if let Some((paths, description)) = paths {
        let _ = writeln!(md, "`{paths}` — {description}.  ");
    }
    // Throughput cells run for a duration (`n = 0` in their column key), wait cells for a count.
    let bound = match cells.iter().find_map(|c| c.duration_s) {
        Some(d) => format!("{d} s per repetition after warm-up"),
        None => "n = requests".to_string(),
    };
    let _ = writeln!(
        md,
        "Cells: {} and p99 latency; rows are servers, columns are client × concurrency ({bound}).\n",
        if wait { "wall time for all requests" } else { "throughput" }
    );
    let mut columns = crate::records::first_seen(cells.iter().map(|c| column(c)));
    columns.sort_by(|a, b| {
        // blocking-client first, then the clients by label.
        let order = |c: &Client| if c.is_sequential() { 0 } else { 1 };
        order(&a.0).cmp(&order(&b.0)).then(a.0.label().cmp(&b.0.label())).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2))
    });
    // Each column names its client's engine and threads (provenance: what measured the cells below).
    let header: Vec<String> = columns
        .iter()
        .map(|(client, c, n)| {
            let name = prose::client_name(run, *client);
            // A duration-bound column (n = 0) says its duration in the line above the table instead.
            if *n == 0 {
                format!("{name} c={c}")
            } else {
                format!("{name} c={c} n={n}")
            }
        })
        .collect();
    let _ = writeln!(md, "| server | {} |", header.join(" | "));
    let _ = writeln!(md, "|---|{}", "---|".repeat(columns.len()));
    for server in run.server_names() {
        if !cells.iter().any(|c| c.server == server) {
            continue;
        }
        let row: Vec<String> = columns
            .iter()
            .map(|col| {
                cells
                    .iter()
                    .find(|c| c.server == server && column(c) == *col)
                    .map_or("—".to_string(), |c| cell_text(c))
            })
            .collect();
        let _ = writeln!(md, "| {server} | {} |", row.join(" | "));
    }
    if super::svg::chart_data(run, workload).is_some_and(|d| !d.series.is_empty()) {
        let path = chart_path(run, workload);
        let _ = writeln!(md, "\n![{workload}: throughput and p99 vs concurrency]({})", path.display());
    }
    md.push('\n');
}

fn model_table(run: &Run, md: &mut String) {
    let cells: Vec<&Cell> = run.cells.iter().filter(|c| c.expected_wall_s.is_some()).collect();
    if cells.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Model vs measured\n");
    let _ = writeln!(
        md,
        "Expected wall time = wait × ceil(requests ÷ effective concurrency), effective = min(client, server) \
         concurrency (server: unbounded for thread-per-request and async on io; the pool size for a pool; the \
         executor threads for a blocking call on async). For cpu, baseline, db and mixed: requests ÷ the smallest \
         throughput bound (concurrency, CPU, serial writer, pool; docs/model.md), from the run's own c = 1 cells, \
         whose inputs the notes list. Efficiency = expected ÷ measured.\n"
    );
    let mut table = Table::new(&[
        "server",
        "client",
        "workload",
        "c",
        "n",
        "effective",
        "expected",
        "measured",
        "efficiency",
        "bottleneck",
    ]);
    for c in cells {
        table.row(row![
            c.server,
            c.client,
            c.workload,
            c.concurrency,
            c.measured_requests(),
            c.effective_concurrency.map_or("—".into(), |e| e.to_string()),
            c.expected_wall_s.map_or("—".into(), format::seconds),
            c.wall_s.filter(|_| c.is_ok()).map_or(c.status.to_string(), format::seconds),
            c.efficiency.map_or("—".into(), |e| format!("{e:.2}")),
            c.bottleneck.map_or("—", |b| b.as_str())
        ]);
    }
    table.write(md);
    md.push('\n');
}

fn cost_table(run: &Run, md: &mut String) {
    // A remote target's cells were measured but its process is out of the lab's sight: their row says so.
    let unsampled =
        |c: &Cell| run.servers.iter().find(|s| s.name == c.server).and_then(|s| s.cost_not_sampled.as_ref());
    let remote = |c: &Cell| c.server_cost.is_none() && c.wall_s.is_some() && unsampled(c).is_some();
    let cells: Vec<&Cell> = run.cells.iter().filter(|c| c.server_cost.is_some() || remote(c)).collect();
    if cells.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Cost\n");
    let _ = writeln!(
        md,
        "Server: a fresh process per cell; peak RSS and threads sampled from /proc every 25 ms (all its processes); CPU \
         time and context switches (voluntary / involuntary) from wait4's rusage. Cores = CPU time ÷ the client's \
         lifetime. A cell is client-bound when the client used ≥ 0.85 of a core and the server did not.\n"
    );
    let mut table = Table::new(&[
        "server",
        "client",
        "workload",
        "c",
        "server RSS",
        "server threads",
        "server cores",
        "ctx switches",
        "client cores",
        "client threads",
        "bottleneck",
    ]);
    for c in cells {
        let client = c.client_cost.as_ref();
        let server = match c.server_cost.as_ref() {
            Some(s) => [
                format::kib(s.peak_rss_kib),
                s.peak_threads.to_string(),
                format!("{:.2}", s.cpu_cores),
                format!("{} / {}", s.voluntary_ctxt, s.nonvoluntary_ctxt),
            ],
            None => std::array::from_fn(|_| "not sampled (remote)".to_string()),
        };
        let [rss, threads, cores, ctxt] = server;
        table.row(row![
            c.server,
            c.client,
            c.workload,
            c.concurrency,
            rss,
            threads,
            cores,
            ctxt,
            client.map_or("—".into(), |c| format!("{:.2}", c.cpu_cores)),
            client.and_then(|c| c.peak_threads).map_or("—".into(), |t| t.to_string()),
            c.bottleneck.map_or("—", |b| b.as_str())
        ]);
    }
    table.write(md);
    md.push('\n');
    for s in run.servers.iter().filter(|s| s.cost_not_sampled.is_some()) {
        let _ = writeln!(
            md,
            "{}: a remote target at {}, its cost not sampled (the lab does not run it).\n",
            s.name, s.command
        );
    }
}

/// "This run" list items shared by every document the lab writes: the command line, then when it ran and which
/// build it measured (`[started_at, finished_at, build, bin_dir]`).
pub fn command_lines(md: &mut String, e: &Environment, [started, finished, build, bin_dir]: [&str; 4]) {
    let _ = writeln!(md, "- Command: `{}`", e.command_line.join(" "));
    let _ = writeln!(md, "- Started {started} · finished {finished} · build: {build} (`{bin_dir}`)");
}

/// "This run" list items: the machine and the system limits that cap connections and threads.
pub fn machine_lines(md: &mut String, e: &Environment) {
    let _ = writeln!(
        md,
        "- Machine: {} ({}), {} CPUs, {} · {}",
        e.hostname,
        e.os,
        e.cpu_count,
        format::kib(e.memory_kib),
        e.cpu_model
    );
    let l = &e.limits;
    let opt = |v: Option<u64>| v.map_or("?".to_string(), |v| v.to_string());
    let _ = writeln!(
        md,
        "- Limits: nofile {} (raised from {}; hard {}) · somaxconn {} · ephemeral ports {} · threads-max {} · pid_max {} · max_map_count {}",
        l.nofile_soft,
        l.nofile_soft_before,
        l.nofile_hard,
        opt(l.somaxconn),
        opt(l.ephemeral_ports),
        opt(l.threads_max),
        opt(l.pid_max),
        opt(l.max_map_count)
    );
}

fn per_connection(run: &Run, md: &mut String) {
    let rows = &run.analysis.per_connection;
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Cost per in-flight connection (io)\n");
    let _ = writeln!(
        md,
        "Slope of a least-squares line through (concurrency, peak server RSS) and (concurrency, peak server threads), \
         one request per connection so that every request is in flight at once.\n"
    );
    let mut table =
        Table::new(&["server", "client", "concurrency", "RSS per connection", "threads per connection", "RSS fit r²"]);
    for p in rows {
        let levels: Vec<String> = p.points.iter().map(|x| x.0.to_string()).collect();
        table.row(row![
            p.server,
            p.client,
            levels.join(", "),
            prose::fit_text(p.rss_kib_per_connection, p.rss_r2, p.points.len()),
            format!("{:.2}", p.threads_per_connection),
            format!("{:.2}", p.rss_r2)
        ]);
    }
    table.write(md);
    md.push('\n');
}

/// The servers' verification: each one's checks, and the warnings it was measured with.
pub fn verification(servers: &[ServerRecord], md: &mut String) {
    if servers.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Verification\n");
    let _ = writeln!(
        md,
        "Every server is checked route by route (exact bodies, factorials up to 20000!, 400/404/405) before it is \
         measured; a server that fails is not measured. A protocol detail it gets wrong (`Allow` on a 405, `Date`, \
         `Server`, `Content-Type`) is a warning: shown here, and the server is measured (`--strict` makes warnings \
         failures).\n"
    );
    let mut table = Table::new(&["server", "kind", "model", "verify", "checks passed", "reason or warnings"]);
    for s in servers {
        let name = match s.verify.warnings {
            0 => s.name.clone(),
            1 => format!("{} ⚠ 1 warning", s.name),
            n => format!("{} ⚠ {n} warnings", s.name),
        };
        let reason = s.verify.reason.clone().or_else(|| prose::verify_warnings(&s.verify));
        table.row(row![
            name,
            s.kind,
            format!(
                "{}{}",
                s.model,
                s.worker_threads.map_or(String::new(), |t| format!(" ({})", format::count(t, "thread")))
            ),
            s.verify.status,
            format!("{} of {}", s.verify.passed, s.verify.checks.len()),
            reason.unwrap_or_default().replace('|', "\\|")
        ]);
    }
    table.write(md);
    md.push('\n');
}

fn failures(run: &Run, md: &mut String) {
    let bad: Vec<&Cell> = run.cells.iter().filter(|c| !c.is_ok() || c.failed > 0).collect();
    if bad.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Failed and skipped cells\n");
    for c in bad {
        let mut line = format!("- `{}`: {}", c.id, c.status);
        if let Some(reason) = &c.reason {
            line.push_str(&format!(" — {reason}"));
        } else if c.failed > 0 {
            let f = c.failures;
            line.push_str(&format!(
                " — {} of {} requests failed (connect {}, timeout {}, status {}, other {})",
                c.failed,
                c.failed + c.succeeded,
                f.connect,
                f.timeout,
                f.status,
                f.other
            ));
        }
        if let Some(hint) = &c.limit_hint {
            line.push_str(&format!(" — limit: {hint}"));
        }
        let _ = writeln!(md, "{line}");
    }
    let _ = writeln!(md, "\nThe JSON holds each failed cell's stderr tail.\n");
}

/// "This run": the command, the times and the build, the lab's overhead `o`, the machine, the notes, the files.
pub fn run_section(run: &RunHeader, o: Overhead, md: &mut String) {
    let _ = writeln!(md, "## This run\n");
    command_lines(md, &run.environment, [&run.started_at, &run.finished_at, run.build.as_str(), &run.bin_dir]);
    let _ = writeln!(
        md,
        "- Lab overhead: {} of {} spent outside measured cells (starting, verifying and stopping servers, writing) = {}",
        format::seconds(o.outside_s),
        format::seconds(o.total_s),
        format::percent(o.fraction)
    );
    machine_lines(md, &run.environment);
    for note in &run.notes {
        let _ = writeln!(md, "- {note}");
    }
    let _ = writeln!(
        md,
        "- Files: `{0}.json` (schema v{1}, see lab/SCHEMA.md), `{0}.csv`, `{0}.md`",
        run.run_id, run.schema_version
    );
}
