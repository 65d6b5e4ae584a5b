//! `RUN-ID.md` of a soak: what was loaded and how, the verdicts, then per server its series as a small table,
//! the servers' verification and the machine. `RUN-ID.csv` is the matrix's CSV header alone: a soak has no cell.

use crate::export::markdown;
use crate::export::table::Table;
use crate::findings::Findings;
use crate::format;
use crate::records::run::Status;
use crate::records::soak::SoakRun;
use crate::row;
use std::fmt::Write;

/// `RUN-ID.csv`: the matrix's columns and no row.
pub fn csv(_: &SoakRun) -> String {
    format!("{}\n", crate::export::csv::COLUMNS.join(","))
}

pub fn render(run: &SoakRun) -> String {
    let mut md = String::new();
    // The page of the matrix run a soak once was: its profile, the paths' figures, no cell and no prediction.
    let stopped = "the servers not reached are marked skipped";
    markdown::head(&run.header, &run.profile, &run.settings, 0, stopped, &mut md);
    markdown::model_misses(&Findings::default(), &mut md);
    markdown::narrative(&run.analysis.narrative, &mut md);
    soak_section(run, &mut md);
    markdown::verification(&run.servers, &mut md);
    markdown::run_section(&run.header, run.overhead, &mut md);
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
