//! `bench-RUN-ID.md`: the bench for people. The targets first (measured, target, met or not), then one table per
//! part, the machine and its load, the tools and the exact commands; and `bench-RUN-ID-reach.svg`, the reach
//! part's chart. Rendered from the bench JSON alone.

use super::reach::{CONNECTIONS_PER_CLIENT, QUEUE_SAMPLE};
use crate::export::svg::{ChartData, ChartPoint};
use crate::export::table::Table;
use crate::export::{self, Artifact, Exporter};
use crate::format;
use crate::records::bench::{
    BenchRun, Comparison, Contender, Part, PartStatus, Ratio, ReachPart, SweepPart, Target, TargetVerdict,
    ThroughputPart,
};
use crate::records::run::{Cell, Status};
use crate::row;
use std::fmt::Write;
use std::io;

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
fn verdict(verdict: TargetVerdict) -> String {
    match verdict {
        TargetVerdict::Met => "✔ met".to_string(),
        TargetVerdict::NotMet => "✘ not met".to_string(),
        TargetVerdict::NotRun => format!("– {verdict}"),
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
    let sign = if t.comparison == Comparison::AtMost { "≤" } else { "≥" };
    format!("{sign} {}", figure(t.bound, &t.unit))
}

fn opt(value: Option<f64>, show: impl Fn(f64) -> String) -> String {
    value.map_or("—".to_string(), show)
}

pub fn render(run: &BenchRun) -> String {
    let mut md = String::new();
    let stopped = "the parts it did not reach are marked not run";
    export::markdown::opening(&format!("Lab bench {}", run.run_id), &run.header, stopped, &mut md);
    let _ = writeln!(md, "{}  ", export::markdown::machine_line(&run.environment));
    if let Some(calibration) = &run.calibration {
        let _ = writeln!(md, "{}  ", crate::export::prose::calibration_line(calibration));
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
        s.parts.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", "),
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
        let mut text = verdict(t.verdict);
        if let Some(detail) = &t.detail {
            text.push_str(&format!(" — {detail}"));
        }
        table.row(row![t.part, t.figure, measured_figure(t).unwrap_or_else(|| "—".to_string()), bound(t), text]);
    }
    table.write(&mut md);
    md.push('\n');

    instrument(run, &mut md);
    servers(run, &mut md);
    reach(&run.reach, &run.run_id, &mut md);
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
    for t in run.targets.iter().filter(|t| t.part != Part::Reach || t.figure.contains(" at 10,000")) {
        table.row(row![t.part, t.figure, measured_figure(t).unwrap_or_else(|| "—".to_string()), bound(t), {
            verdict(t.verdict)
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
        opt(harness::stats::median(&p99), format::micros),
        format!("{ok}/{}", c.runs.len()),
    ]
}

fn ratio_table(ratios: &[Ratio], md: &mut String) {
    let mut table = Table::new(&["ratio (req/s)", "median of the rounds' ratios", "min – max", "target", "verdict"]);
    for r in ratios {
        let target = r.target.map_or("—".to_string(), |t| format!("≥ {}", format::factor(t)));
        let met = match r.met {
            Some(true) => verdict(TargetVerdict::Met),
            Some(false) => verdict(TargetVerdict::NotMet),
            None if r.target.is_some() => verdict(TargetVerdict::NotRun),
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

fn machine<'a>(run: &'a BenchRun, md: &mut String) {
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
    // Every command once, in the order the bench ran them.
    let mut seen: Vec<&String> = Vec::new();
    let mut push_unique = |line: &'a String| {
        if !line.is_empty() && !seen.contains(&line) {
            seen.push(line);
        }
    };
    for part in [&run.servers, &run.instrument] {
        for c in part.contenders.iter().filter(|c| c.status != PartStatus::NotRun) {
            push_unique(&c.server_command);
            push_unique(&c.load_command);
        }
    }
    push_unique(&run.reach.client_command);
    run.cost.servers.iter().for_each(|s| push_unique(&s.command));
    push_unique(&run.cost.client_command);
    push_unique(&run.overhead.command);
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

/// A wall time, and its range over the rounds when there were several: "1.25 s (1.22–1.31)".
fn wall_over_rounds(wall: f64, rounds: &[f64]) -> String {
    if rounds.len() < 2 {
        return format::seconds(wall);
    }
    let low = rounds.iter().copied().fold(f64::INFINITY, f64::min);
    let high = rounds.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{} ({low:.2}–{high:.2})", format::seconds(wall))
}

/// Section 3 of the bench's markdown.
pub fn reach(part: &ReachPart, run_id: &str, md: &mut String) {
    let title = "3. Reach: io at many connections, opened at once";
    if !heading(md, title, part.status, &part.reason, !(part.cells.is_empty() && part.floors.is_empty())) {
        return;
    }
    let d = format::seconds(part.hello_ms as f64 / 1000.0);
    let _ = writeln!(
        md,
        "`{}`, one request per connection, every connection opened at once, each request waiting D = {d}: the \
         ideal wall time is D (efficiency = D ÷ wall). {} CPUs, listen backlog {} (`net.core.somaxconn`), {} \
         descriptors per process; levels above {} connections use several client processes (`--processes`), and \
         past half the ephemeral port range the client and the floor spread their connections over several \
         loopback source addresses (`--source-addresses`, S = {}).\n",
        part.client,
        part.cores,
        part.somaxconn.map_or("?".to_string(), |s| s.to_string()),
        format::thousands(part.nofile),
        format::thousands(CONNECTIONS_PER_CLIENT),
        part.cells
            .iter()
            .map(|c| c.source_addresses)
            .chain(part.floors.iter().map(|f| f.source_addresses))
            .max()
            .unwrap_or(1)
    );
    if part.rounds > 1 {
        let _ = writeln!(
            md,
            "{} rounds; each measured, level by level, the floor and then every server, so each cell is compared \
             with a floor measured moments before it, in the same machine state. A wall is the median round's, with \
             the range over the rounds in brackets; ÷ floor is the median of the rounds' ratios, each to its own \
             round's floor; the other figures are the median round's. A cell that failed, overflowed or \
             retransmitted was not measured again: its first such round is shown.\n",
            part.rounds
        );
    }
    if !part.floors.is_empty() {
        let _ = writeln!(
            md,
            "**The floor**: a bare connect / accept / wait D / close loop, no HTTP, {} threads a side: the least \
             any server needs on this machine. **With HTTP's bytes**: the same loop, but the client writes a \
             request after connecting and the server writes a response before closing, with no parser, runtime or \
             task: the least an HTTP server needs.\n",
            part.floors[0].threads
        );
        let mut table = Table::new(&[
            "connections",
            "wall",
            "efficiency",
            "failed",
            "connect p99",
            "connect max",
            "CPU/connection server / client",
            "with HTTP's bytes: wall",
            "CPU/connection server / client",
        ]);
        for f in &part.floors {
            let http = part.http_floors.iter().find(|h| h.connections == f.connections);
            table.row(row![
                format::thousands(f.connections),
                wall_over_rounds(f.wall_s, &f.round_walls_s),
                format!("{:.2}", f.efficiency),
                f.failed + http.map_or(0, |h| h.failed),
                format::micros(f.connect_p99_us as f64),
                format::micros(f.connect_max_us as f64),
                format!("{:.0} µs / {:.0} µs", f.server_cpu_us_per_connection, f.client_cpu_us_per_connection),
                http.map_or("—".to_string(), |h| wall_over_rounds(h.wall_s, &h.round_walls_s)),
                http.map_or("—".to_string(), |h| format!(
                    "{:.0} µs / {:.0} µs",
                    h.server_cpu_us_per_connection, h.client_cpu_us_per_connection
                ))
            ]);
        }
        table.write(md);
        md.push('\n');
    }
    let mut table = Table::new(&[
        "server",
        "model",
        "connections",
        "status",
        "wall",
        "efficiency",
        "÷ floor",
        "÷ floor with HTTP",
        "failed",
        "connect p50 / p99 / max",
        "listen overflows",
        "SYN retransmits",
        "accept queue peak / backlog × listeners",
        "CPU server / client",
        "peak threads",
        "what stopped it",
    ]);
    for c in &part.cells {
        let connect = c.connect_us.map_or("—".to_string(), |t| {
            format!(
                "{} / {} / {}",
                format::micros(t.us.p50 as f64),
                format::micros(t.us.p99 as f64),
                format::micros(t.us.max as f64)
            )
        });
        let stopped = match (&c.stopped, &c.reason) {
            (Some(cause), _) => cause.describe(),
            (None, Some(reason)) => reason.clone(),
            (None, None) => String::new(),
        };
        // The kernel's counters, the queue and the costs: only of a cell that ran.
        let measured = c.status == Status::Ok || c.wall_s.is_some();
        let if_measured = |text: String| if measured { text } else { "—".to_string() };
        let q = &c.accept_queue;
        table.row(row![
            c.server,
            c.model,
            format::thousands(c.connections),
            c.status,
            c.wall_s.map_or("—".to_string(), |wall| wall_over_rounds(wall, &c.round_walls_s)),
            c.efficiency.map_or("—".to_string(), |e| format!("{e:.2}")),
            c.vs_floor.map_or("—".to_string(), |r| format!("{r:.2}")),
            c.vs_http_floor.map_or("—".to_string(), |r| format!("{r:.2}")),
            if c.failed == 0 {
                "0".to_string()
            } else {
                format!(
                    "{} (connect {}, timeout {}, other {})",
                    c.failed, c.failures.connect, c.failures.timeout, c.failures.other
                )
            },
            connect,
            if_measured(format::thousands(c.kernel.listen_overflows)),
            if_measured(format::thousands(c.kernel.syn_retrans)),
            if_measured(format!("{} / {} × {}", q.peak_depth, q.backlog, q.listeners)),
            if_measured(format!(
                "{:.2} s / {:.2} s (machine {:.0} % busy)",
                c.server_cpu_s,
                c.client_cpu_s,
                c.machine_busy * 100.0
            )),
            if_measured(c.server_peak_threads.to_string()),
            stopped.replace('|', "/").replace('\n', " ")
        ]);
    }
    table.write(md);
    if !chart_data(part).series.is_empty() {
        let _ = writeln!(md, "\n![wall time and connect p99 against connections](bench-{run_id}-reach.svg)");
    }
    let _ = writeln!(
        md,
        "\nThe kernel's counters (`/proc/net/netstat`) are machine-wide: on a shared machine other processes' \
         connections count too. The accept queue is the server's own listening sockets (`/proc/net/tcp`), sampled \
         every {} ms. \"What stopped it\" is named from these figures only (`lab/src/stopped.rs`), or `unknown`.\n",
        QUEUE_SAMPLE.as_millis()
    );
}

/// `bench-RUN-ID-reach.svg`: wall time and connect-time p99 against connections, one line per server and one
/// for the floor.
pub struct ReachChart;

/// The chart's lines: (connections, wall in s, connect p99 in ms) per server, cells measured without failure.
pub fn chart_data(part: &ReachPart) -> ChartData {
    let mut series: Vec<(String, Vec<ChartPoint>)> = Vec::new();
    let floor: Vec<_> =
        part.floors.iter().map(|f| (f.connections as f64, f.wall_s, f.connect_p99_us as f64 / 1000.0)).collect();
    if !floor.is_empty() {
        series.push(("floor (no HTTP)".to_string(), floor));
    }
    let http: Vec<_> =
        part.http_floors.iter().map(|f| (f.connections as f64, f.wall_s, f.connect_p99_us as f64 / 1000.0)).collect();
    if !http.is_empty() {
        series.push(("floor with HTTP's bytes".to_string(), http));
    }
    for c in part.cells.iter().filter(|c| c.status == Status::Ok && c.failed == 0) {
        let (Some(wall), Some(connect)) = (c.wall_s, c.connect_us) else { continue };
        let point = (c.connections as f64, wall, connect.us.p99 as f64 / 1000.0);
        match series.iter_mut().find(|(name, _)| *name == c.server) {
            Some((_, points)) => points.push(point),
            None => series.push((c.server.clone(), vec![point])),
        }
    }
    ChartData { client: part.client.clone(), series }
}

impl Exporter<BenchRun> for ReachChart {
    fn render(&self, run: &BenchRun) -> io::Result<Vec<Artifact>> {
        let data = chart_data(&run.reach);
        if data.series.is_empty() {
            return Ok(vec![]);
        }
        let panels = [("wall time", "s"), ("connect p99", "ms")];
        let svg = export::svg::draw_pair("reach: ", "connections", panels, &data)
            .map_err(|e| io::Error::other(format!("reach chart: {e}")))?;
        Ok(vec![Artifact { path: format!("bench-{}-reach.svg", run.run_id).into(), bytes: svg.into_bytes() }])
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
