//! `bench-RUN-ID.md`: the bench for people. The targets first (measured, target, met or not), then one table per
//! part, the machine and its load, the tools and the exact commands. Rendered from the bench JSON alone.

use super::results::{BenchRun, Contender, PartStatus, Ratio, SweepPart, Target, ThroughputPart};
use crate::export::table::Table;
use crate::export::{self, Artifact, Exporter};
use crate::format;
use crate::results::Cell;
use crate::row;
use std::fmt::Write;
use std::io;

pub struct MarkdownExporter;

impl Exporter<BenchRun> for MarkdownExporter {
    fn render(&self, run: &BenchRun) -> io::Result<Vec<Artifact>> {
        Ok(vec![Artifact { path: format!("bench-{}.md", run.run_id).into(), bytes: render(run).into_bytes() }])
    }
}

/// A figure with its unit: `0.93×`, `6.1 KiB`, `7 %`, `0.84`.
pub fn figure(value: f64, unit: &str) -> String {
    match unit {
        "×" => format::factor(value),
        "KiB" => format!("{value:.1} KiB"),
        "fraction" => format!("{:.1} %", value * 100.0),
        _ => format!("{value:.2}"),
    }
}

/// A target's measured figure; with one more digit when the usual ones would show it equal to a bound it is not
/// (0.7954 against ≥ 0.80 reads "0.795", not "0.80 … not met").
fn measured_figure(t: &Target) -> Option<String> {
    let v = t.measured?;
    let text = figure(v, &t.unit);
    if text != figure(t.bound, &t.unit) || v == t.bound {
        return Some(text);
    }
    Some(match t.unit.as_str() {
        "×" => format!("{v:.3}×"),
        "KiB" => format!("{v:.2} KiB"),
        "fraction" => format!("{:.2} %", v * 100.0),
        _ => format!("{v:.3}"),
    })
}

/// `✔ met`, `✘ not met`, `– not run`.
fn verdict(text: &str) -> String {
    match text {
        "met" => "✔ met".to_string(),
        "not met" => "✘ not met".to_string(),
        other => format!("– {other}"),
    }
}

/// One line per target, for the terminal: `instrument: async-client:lean / wrk (req/s) = 0.93× (≥ 0.90×): met`.
pub fn target_line(t: &Target) -> String {
    let measured = measured_figure(t).unwrap_or_else(|| "—".to_string());
    let mut line = format!("{}: {} = {measured} ({}): {}", t.part, t.figure, bound(t), t.verdict);
    if let Some(detail) = &t.detail {
        line.push_str(&format!(" — {detail}"));
    }
    line
}

fn bound(t: &Target) -> String {
    let sign = if t.comparison == "<=" { "≤" } else { "≥" };
    format!("{sign} {}", figure(t.bound, &t.unit))
}

fn opt(value: Option<f64>, show: impl Fn(f64) -> String) -> String {
    value.map_or("—".to_string(), show)
}

pub fn render(run: &BenchRun) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Lab bench {}\n", run.run_id);
    if let Some(warning) = export::markdown::build_warning(&run.build, &run.bin_dir) {
        let _ = writeln!(md, "{warning}\n");
    }
    if run.interrupted {
        let _ = writeln!(md, "> **⚠ This bench was interrupted**: the parts it did not reach are marked not run.\n");
    }
    if let Some(warning) = crate::calibration::drift_warning(run.calibration.as_ref()) {
        let _ = writeln!(md, "{warning}\n");
    }
    let _ = writeln!(md, "{}  ", export::markdown::machine_line(&run.environment));
    if let Some(calibration) = &run.calibration {
        let _ = writeln!(md, "{}  ", crate::calibration::summary_line(calibration));
    }
    let loads: Vec<f64> = run.load.iter().map(|l| l.load1).collect();
    if let (Some(first), Some(last)) = (loads.first(), loads.last()) {
        let _ = writeln!(
            md,
            "Load average (1 min): {first:.2} at the start, up to {:.2}, {last:.2} at the end — a shared machine: \
             read ratios, not absolute figures.  ",
            loads.iter().cloned().fold(0.0, f64::max)
        );
    }
    let s = &run.settings;
    let _ = writeln!(
        md,
        "Parts: {}. Throughput: {} round(s) of {} s, {} keep-alive connections on `{}`. Reach: D = {} at {}{}. \
         Cost: D = {} at {}.\n",
        s.parts.join(", "),
        s.rounds,
        s.duration_s,
        s.connections,
        s.path,
        format::seconds(s.reach_hello_ms as f64 / 1000.0),
        // The levels the reach part ran (the descriptor limit's highest included), else those asked for.
        levels(if run.reach.levels.is_empty() { &s.reach_levels } else { &run.reach.levels }),
        if s.reach_rounds > 1 { format!(", {} rounds", s.reach_rounds) } else { String::new() },
        format::seconds(s.cost_hello_ms as f64 / 1000.0),
        levels(&s.cost_levels),
    );

    let _ = writeln!(md, "## Targets\n");
    let mut table = Table::new(&["part", "figure", "measured", "target", "verdict"]);
    for t in &run.targets {
        let mut text = verdict(&t.verdict);
        if let Some(detail) = &t.detail {
            text.push_str(&format!(" — {detail}"));
        }
        table.row(row![t.part, t.figure, measured_figure(t).unwrap_or_else(|| "—".to_string()), bound(t), text]);
    }
    table.write(&mut md);
    md.push('\n');

    instrument(run, &mut md);
    servers(run, &mut md);
    super::reach::markdown(&run.reach, &run.run_id, &mut md);
    cost(&run.cost, &mut md);
    overhead(run, &mut md);
    machine(run, &mut md);
    md
}

/// The targets in a short table for the README: every target but the reach levels other than 10,000 (the level
/// the targets are set at), with its measured figure and verdict.
pub fn summary(run: &BenchRun) -> String {
    let mut md = String::new();
    let mut table = Table::new(&["part", "figure", "measured", "target", "verdict"]);
    for t in run.targets.iter().filter(|t| t.part != "reach" || t.figure.contains(" at 10,000")) {
        table.row(row![t.part, t.figure, measured_figure(t).unwrap_or_else(|| "—".to_string()), bound(t), {
            verdict(&t.verdict)
        }]);
    }
    table.write(&mut md);
    md
}

fn levels(levels: &[u64]) -> String {
    levels.iter().map(|l| format::thousands(*l)).collect::<Vec<_>>().join(", ")
}

/// A part's heading, and the line saying why it was not measured when it was not. Returns whether the part has
/// anything to tabulate (a failed part may still have rows that say how it failed).
pub(super) fn heading(
    md: &mut String,
    title: &str,
    status: PartStatus,
    reason: &Option<String>,
    has_rows: bool,
) -> bool {
    let _ = writeln!(md, "## {title}\n");
    if status != PartStatus::Ok {
        let _ = writeln!(md, "**{status}**: {}\n", reason.clone().unwrap_or_default());
    }
    has_rows
}

fn ratio_of(part: &ThroughputPart, name: &str, denominator: &str) -> String {
    let r = part.ratios.iter().find(|r| r.numerator == name && r.denominator == denominator);
    opt(r.and_then(|r| r.value), format::factor)
}

/// The columns both throughput tables share: median, min – max, spread, CPU per request, p99, rounds.
fn contender_cells(c: &Contender) -> Vec<String> {
    if c.status != PartStatus::Ok {
        let mut cells = vec![String::new(); 7];
        cells[0] = format!("{} — {}", c.status, c.reason.clone().unwrap_or_default());
        return cells;
    }
    let p99: Vec<f64> = c.runs.iter().filter(|r| r.status == PartStatus::Ok).filter_map(|r| r.p99_us).collect();
    let ok = c.runs.iter().filter(|r| r.status == PartStatus::Ok).count();
    row![
        opt(c.median_rps, format::rate),
        format!("{} – {}", opt(c.min_rps, format::rate), opt(c.max_rps, format::rate)),
        format!("±{}", opt(c.spread.map(|s| s / 2.0), format::percent)),
        opt(c.server_cpu_us_per_request, |us| format!("{us:.1} µs")),
        opt(c.load_cpu_us_per_request, |us| format!("{us:.1} µs")),
        opt(super::median(&p99), format::micros),
        format!("{ok}/{}", c.runs.len()),
    ]
}

fn ratio_table(ratios: &[Ratio], md: &mut String) {
    let mut table = Table::new(&["ratio (req/s)", "median of the rounds' ratios", "min – max", "target", "verdict"]);
    for r in ratios {
        let target = r.target.map_or("—".to_string(), |t| format!("≥ {}", format::factor(t)));
        let met = match r.met {
            Some(true) => verdict("met"),
            Some(false) => verdict("not met"),
            None if r.target.is_some() => verdict("not run"),
            None => String::new(),
        };
        table.row(row![
            format!("{} / {}", r.numerator, r.denominator),
            opt(r.value, format::factor),
            format!("{} – {}", opt(r.min, format::factor), opt(r.max, format::factor)),
            target,
            met,
        ]);
    }
    table.write(md);
    md.push('\n');
}

/// One throughput part: why it did not run, or its intro, the contenders' table and the ratios.
struct Section<'a> {
    heading: &'a str,
    intro: String,
    /// The first column: `load generator` or `server`.
    first: &'a str,
    /// The contender every row is compared with: `wrk` or `nginx`.
    versus: &'a str,
}

fn throughput(part: &ThroughputPart, section: Section, md: &mut String) {
    if !heading(md, section.heading, part.status, &part.reason, !part.contenders.is_empty()) {
        return;
    }
    let _ = writeln!(md, "{}\n", section.intro);
    let versus = format!("× {}", section.versus);
    let mut table = Table::new(&[
        section.first,
        "median",
        "min – max",
        "spread",
        "server CPU / request",
        "load CPU / request",
        "p99 (median)",
        "rounds ok",
        &versus,
        "note",
    ]);
    for c in &part.contenders {
        let mut cells = row![c.name];
        cells.extend(contender_cells(c));
        cells.extend(row![ratio_of(part, &c.name, section.versus), c.note.clone().unwrap_or_default()]);
        table.row(cells);
    }
    table.write(md);
    md.push('\n');
    ratio_table(&part.ratios, md);
}

fn instrument(run: &BenchRun, md: &mut String) {
    let part = &run.instrument;
    let s = &run.settings;
    let intro = format!(
        "Every load generator loads `{}` (one worker thread; {}) on `{}` with {} keep-alive connections, a fresh \
         server per run. wrk and oha run {} s; the lab's clients send `-n {}` requests each (the first wrk run's \
         rate × {} s) after {} warm-up requests. CPU per request: the server's from /proc during the run, the load \
         generator's from its rusage.",
        part.server.clone().unwrap_or_default(),
        part.server_reason.clone().unwrap_or_default(),
        s.path,
        s.connections,
        s.duration_s,
        part.client_requests.map_or("—".to_string(), format::thousands),
        s.duration_s,
        super::tools::client_warmup(s.connections),
    );
    let heading = "1. Instrument: the lab's clients against wrk and oha";
    throughput(part, Section { heading, intro, first: "load generator", versus: "wrk" }, md);
}

fn servers(run: &BenchRun, md: &mut String) {
    let s = &run.settings;
    let intro = format!(
        "wrk `-t1 -c{} -d{}s` on `{}`, every server in turn, a fresh server per run. nginx: one worker process, \
         `return 200 \"\"`, no access log.",
        s.connections, s.duration_s, s.path
    );
    let heading = "2. Servers: one worker each, against one nginx worker";
    throughput(&run.servers, Section { heading, intro, first: "server", versus: "nginx" }, md);
}

fn failures(cell: &Cell) -> String {
    let f = cell.failures;
    if cell.failed == 0 {
        return "0".to_string();
    }
    format!("{} (connect {}, timeout {}, status {}, other {})", cell.failed, f.connect, f.timeout, f.status, f.other)
}

fn model_of<'a>(part: &'a SweepPart, server: &str) -> &'a str {
    part.servers.iter().find(|s| s.name == server).map_or("?", |s| s.model.as_str())
}

/// The kernel's listen-queue counters over each server's cells: connections that waited or were dropped before
/// the server saw them.
fn kernel_table(part: &SweepPart, md: &mut String) {
    if part.kernel.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "The kernel's TCP counters while each server's cells ran (`/proc/net/netstat`; machine-wide, so other \
         processes count too):\n"
    );
    let mut table = Table::new(&["server", "listen overflows", "listen drops", "SYN cookies sent"]);
    for k in &part.kernel {
        table.row(row![
            k.server,
            format::thousands(k.listen_overflows),
            format::thousands(k.listen_drops),
            format::thousands(k.syncookies_sent)
        ]);
    }
    table.write(md);
    md.push('\n');
}

fn cost(part: &SweepPart, md: &mut String) {
    if !heading(md, "4. Cost per connection", part.status, &part.reason, !part.cells.is_empty()) {
        return;
    }
    let _ = writeln!(
        md,
        "io with D = {} at {} connections (one request each, all in flight at once), `{}`; the server's peak RSS \
         and threads at each level, and the slope of a least-squares line through them: what one more in-flight \
         connection costs. Kernel memory is not in RSS: the growth of the machine's `KernelStack` (a stack per \
         thread) and `Slab` (sockets of both ends, task structures) in /proc/meminfo during each cell, fitted the \
         same way; machine-wide, so other processes add noise (docs/model.md).\n",
        format::seconds(part.hello_ms as f64 / 1000.0),
        levels(&part.levels),
        part.client
    );
    let mut table = Table::new(&[
        "server",
        "model",
        "connections: peak RSS, threads",
        "RSS per connection",
        "threads per connection",
        "r²",
        "kernel per connection: stack + slab",
        "user + kernel",
    ]);
    for fit in &part.per_connection {
        let points: Vec<String> = fit
            .points
            .iter()
            .map(|(c, rss, t)| format!("{}: {}, {t}", format::thousands(*c), format::kib(*rss)))
            .collect();
        let (kernel, total) = match (fit.kernel_stack_kib_per_connection, fit.slab_kib_per_connection) {
            (Some(stack), Some(slab)) => (
                format!("{stack:.1} + {slab:.1} = {:.1} KiB", stack + slab),
                format!("{:.1} KiB", fit.total_kib_per_connection.unwrap_or(stack + slab + fit.rss_kib_per_connection)),
            ),
            _ => ("not measured".to_string(), "—".to_string()),
        };
        table.row(row![
            fit.server,
            model_of(part, &fit.server),
            points.join(" · "),
            format!("{:.2} KiB", fit.rss_kib_per_connection),
            format!("{:.3}", fit.threads_per_connection),
            format!("{:.2}", fit.rss_r2),
            kernel,
            total,
        ]);
    }
    table.write(md);
    md.push('\n');
    let left_out: Vec<&Cell> = part.cells.iter().filter(|c| !c.is_ok() || c.failed > 0).collect();
    if !left_out.is_empty() {
        let _ = writeln!(md, "Left out of the fit (not measured cleanly):\n");
        for c in left_out {
            let why = c.reason.clone().unwrap_or_else(|| failures(c) + " failed");
            let _ = writeln!(md, "- {} at {}: {}: {}", c.server, format::thousands(c.concurrency), c.status, why);
        }
        md.push('\n');
    }
    kernel_table(part, md);
}

fn overhead(run: &BenchRun, md: &mut String) {
    let part = &run.overhead;
    heading(md, "5. The lab's own overhead", part.status, &part.reason, part.overhead.is_some());
    let Some(o) = part.overhead else { return };
    let _ = writeln!(
        md,
        "A quick-profile matrix run inside the bench (`{}`, run {}): its wall time, builds excluded, against the \
         sum of its client processes' lifetimes.\n",
        part.command,
        part.matrix_run_id.clone().unwrap_or_default()
    );
    let mut table =
        Table::new(&["cells", "servers verified", "total", "in cells", "outside", "fraction", "outside per cell"]);
    table.row(row![
        part.cells,
        part.servers_verified,
        format::seconds(o.total_s),
        format::seconds(o.measured_s),
        format::seconds(o.outside_s),
        figure(o.fraction, "fraction"),
        opt(part.outside_per_cell_s, format::seconds)
    ]);
    table.write(md);
    md.push('\n');
}

fn machine(run: &BenchRun, md: &mut String) {
    let _ = writeln!(md, "## Machine load\n");
    let mut table = Table::new(&["when", "1 min", "5 min", "15 min"]);
    for l in &run.load {
        table.row(row![l.at, format!("{:.2}", l.load1), format!("{:.2}", l.load5), format!("{:.2}", l.load15)]);
    }
    table.write(md);
    md.push('\n');
    let _ = writeln!(md, "## Tools\n");
    let mut table = Table::new(&["tool", "path", "version"]);
    for t in &run.tools {
        let path = t.path.clone().unwrap_or_else(|| format!("not installed ({})", t.install));
        table.row(row![t.name, format!("`{path}`"), t.version.clone().unwrap_or_default()]);
    }
    table.write(md);
    md.push('\n');
    let _ = writeln!(md, "## Commands\n");
    let _ = writeln!(md, "```");
    let _ = writeln!(md, "{}", run.environment.command_line.join(" "));
    let mut seen: Vec<String> = Vec::new();
    for part in [&run.servers, &run.instrument] {
        for c in part.contenders.iter().filter(|c| c.status != PartStatus::NotRun) {
            for line in [&c.server_command, &c.load_command] {
                if !seen.contains(line) {
                    seen.push(line.clone());
                }
            }
        }
    }
    if !run.reach.client_command.is_empty() && !seen.contains(&run.reach.client_command) {
        seen.push(run.reach.client_command.clone());
    }
    for part in [&run.cost] {
        let lines = part.servers.iter().map(|s| &s.command).chain(Some(&part.client_command));
        for line in lines.filter(|l| !l.is_empty()) {
            if !seen.contains(line) {
                seen.push(line.clone());
            }
        }
    }
    if !run.overhead.command.is_empty() {
        seen.push(run.overhead.command.clone());
    }
    for line in seen {
        let _ = writeln!(md, "{line}");
    }
    let _ = writeln!(md, "```\n");
    if !run.notes.is_empty() {
        let _ = writeln!(md, "## Notes\n");
        for note in &run.notes {
            let _ = writeln!(md, "- {note}");
        }
        md.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_figure_that_rounds_onto_its_bound_shows_a_digit_more() {
        let target = |measured: f64, unit: &str| Target {
            measured: Some(measured),
            bound: if unit == "×" { 1.0 } else { 0.8 },
            unit: unit.to_string(),
            ..Target::default()
        };
        assert_eq!(measured_figure(&target(0.7954, "")).as_deref(), Some("0.795"));
        assert_eq!(measured_figure(&target(0.78, "")).as_deref(), Some("0.78"));
        assert_eq!(measured_figure(&target(0.8, "")).as_deref(), Some("0.80"));
        assert_eq!(measured_figure(&target(0.996, "×")).as_deref(), Some("0.996×"));
    }
}
