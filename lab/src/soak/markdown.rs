//! `RUN-ID.md` of a soak: what was loaded and how, the verdicts, then per server its series as a small table,
//! the servers' verification and the machine. `RUN-ID.csv` is the matrix's CSV header alone: a soak has no cell.

use crate::export::markdown::{build_warning, command_lines, machine_line, machine_lines};
use crate::export::table::Table;
use crate::export::{Artifact, Exporter};
use crate::format;
use crate::records::run::Status;
use crate::records::soak::SoakRun;
use crate::row;
use std::fmt::Write;
use std::io;

pub struct SoakMarkdown;

impl Exporter<SoakRun> for SoakMarkdown {
    fn render(&self, run: &SoakRun) -> io::Result<Vec<Artifact>> {
        Ok(vec![Artifact { path: format!("{}.md", run.run_id).into(), bytes: render(run).into_bytes() }])
    }
}

pub struct SoakCsv;

impl Exporter<SoakRun> for SoakCsv {
    fn render(&self, run: &SoakRun) -> io::Result<Vec<Artifact>> {
        let bytes = format!("{}\n", crate::export::csv::COLUMNS.join(",")).into_bytes();
        Ok(vec![Artifact { path: format!("{}.csv", run.run_id).into(), bytes }])
    }
}

pub fn render(run: &SoakRun) -> String {
    let mut md = String::new();
    let s = &run.settings;
    let _ = writeln!(md, "# Lab run {}\n", run.run_id);
    if let Some(warning) = build_warning(run.build, &run.bin_dir) {
        let _ = writeln!(md, "{warning}\n");
    }
    let e = &run.environment;
    if e.git_dirty {
        let _ = writeln!(
            md,
            "> **⚠ Made from a tree with uncommitted changes** (commit {} plus edits): the commit alone does not \
             reproduce these figures.\n",
            e.git_commit
        );
    }
    if run.interrupted {
        let _ = writeln!(md, "> **⚠ This run was interrupted**: the servers not reached are marked skipped.\n");
    }
    if let Some(warning) = crate::export::prose::drift_warning(run.calibration.as_ref()) {
        let _ = writeln!(md, "{warning}\n");
    }
    // The words of the matrix run a soak once was: its profile, the paths' figures, no cell.
    let _ = writeln!(
        md,
        "Profile `{}` · D = {} (io) · blocking sleep {} · cpu = {}! uncached · keep-alive {} · each cell once · 0 \
         cells.  ",
        run.profile,
        format::seconds(s.hello_ms as f64 / 1000.0),
        format::seconds(s.block_ms as f64 / 1000.0),
        s.fact_n,
        if s.keep_alive { "on" } else { "off" },
    );
    let _ = writeln!(md, "{}  ", machine_line(e));
    if let Some(calibration) = &run.calibration {
        let _ = writeln!(md, "{}  ", crate::export::prose::calibration_line(calibration));
    }
    match &run.cpus {
        Some(cpus) => {
            let _ = writeln!(md, "CPUs: {cpus}.\n");
        }
        None => md.push('\n'),
    }
    let (low, high) = crate::findings::MISS_BAND;
    let _ = writeln!(md, "## Model misses\n\nNone: all 0 predictions were within {low}–{high} of their measurement.\n");
    if !run.analysis.narrative.is_empty() {
        let _ = writeln!(md, "## What the numbers show\n");
        for sentence in &run.analysis.narrative {
            let _ = writeln!(md, "- {sentence}");
        }
        md.push('\n');
    }
    soak_section(run, &mut md);
    verification(run, &mut md);
    run_section(run, &mut md);
    md
}

/// `lab soak`: per server, its minutes as a small table and the sentence saying whether it drifted or grew.
fn soak_section(run: &SoakRun, md: &mut String) {
    let soak = &run.soak;
    let _ = writeln!(md, "## Soak\n");
    let _ = writeln!(
        md,
        "Each server ran as one process for {} min of `{}` from {} at concurrency {} (keep-alive {}): back-to-back \
         client runs of about {} each, one row per run. RSS and threads are read between two runs, with the server \
         idle, so the rows compare. Drift: the last run's p50 ≥ {:.1}× the first's, or its p99 ≥ {:.1}×. Growth: RSS at \
         the end ≥ {} above the end of the first run and by at least {}.\n",
        soak.minutes,
        soak.workload,
        soak.client,
        soak.concurrency,
        if run.settings.keep_alive { "on" } else { "off" },
        format::seconds(soak.chunk_s),
        soak.drift_p50,
        soak.drift_p99,
        format::percent(soak.growth_fraction),
        format::kib(soak.growth_min_kib)
    );
    for s in &soak.servers {
        let _ = writeln!(md, "### {}\n", s.server);
        let _ = writeln!(md, "{}\n", s.verdict);
        if s.minutes.is_empty() {
            continue;
        }
        let mut table = Table::new(&[
            point_name(soak.chunk_s),
            "start",
            "requests",
            "failed",
            "throughput",
            "p50",
            "p99",
            "RSS after",
            "threads after",
            "peak threads",
        ]);
        let opt = |v: Option<u64>, f: fn(u64) -> String| v.map_or("—".to_string(), f);
        for m in &s.minutes {
            let lat = |p: fn(&crate::records::run::Latency) -> f64| {
                m.latency_us.map_or("—".into(), |l| format::micros(p(&l)))
            };
            table.row(row![
                format!("{}{}", m.minute, if m.status == Status::Ok { "" } else { " ✘" }),
                format::seconds(m.start_s),
                format::thousands(m.succeeded + m.failed),
                m.failed,
                m.throughput_rps.map_or("—".into(), format::rate),
                lat(|l| l.p50),
                lat(|l| l.p99),
                opt(m.rss_end_kib, format::kib),
                opt(m.threads_end, |t| t.to_string()),
                m.peak_threads
            ]);
        }
        table.write(md);
        md.push('\n');
    }
}

/// The servers' verification, as a matrix run shows it.
fn verification(run: &SoakRun, md: &mut String) {
    if run.servers.is_empty() {
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
    for s in &run.servers {
        let name = match s.verify.warnings {
            0 => s.name.clone(),
            1 => format!("{} ⚠ 1 warning", s.name),
            n => format!("{} ⚠ {n} warnings", s.name),
        };
        let reason = s.verify.reason.clone().or_else(|| crate::export::prose::verify_warnings(&s.verify));
        table.row(row![
            name,
            s.kind,
            format!("{}{}", s.model, s.worker_threads.map_or(String::new(), |t| format!(" ({t} threads)"))),
            s.verify.status,
            format!("{} of {}", s.verify.passed, s.verify.checks.len()),
            reason.unwrap_or_default().replace('|', "\\|")
        ]);
    }
    table.write(md);
    md.push('\n');
}

fn run_section(run: &SoakRun, md: &mut String) {
    let o = run.overhead;
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

/// What one point of the series is: a minute when a client run lasts one (the default), else a run.
pub fn point_name(chunk_s: f64) -> &'static str {
    if (chunk_s - 60.0).abs() < 0.5 {
        "minute"
    } else {
        "run"
    }
}

/// `6 minutes`, or `6 runs of 20 s` when a client run does not last a minute.
pub fn points(n: usize, chunk_s: f64) -> String {
    let name = point_name(chunk_s);
    let plural = if n == 1 { name.to_string() } else { format!("{name}s") };
    if name == "minute" {
        format!("{n} {plural}")
    } else {
        format!("{n} {plural} of {}", format::seconds(chunk_s))
    }
}
