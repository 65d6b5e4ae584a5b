//! `capacity-<run-id>.md`: the capacity table, every probe, and the coordinated-omission cell in words.

use crate::export::table::Table;
use crate::records::capacity::{CapacityCell, CapacityRun, CoRun, CoordinatedOmission, LoopMode};
use crate::records::run::Status;
use crate::row;

/// One line per cell, for the progress output: `smol-server baseline: 12,800 req/s (p99 < 10 ms)`.
pub fn cell_line(cell: &CapacityCell) -> String {
    format!("{} {}: {}", cell.server, cell.workload, capacity_text(cell))
}

fn capacity_text(cell: &CapacityCell) -> String {
    if let (Status::Ok, Some(held), Some(limit)) = (cell.status, cell.capacity_rps, &cell.client_bound) {
        return format!("≥ {} req/s (client-bound: {limit})", rate(held));
    }
    match (cell.status, cell.capacity_rps, cell.first_failed_rps) {
        (Status::Ok, Some(held), Some(_)) => format!("{} req/s (p99 < {} ms)", rate(held), cell.target_p99_ms),
        (Status::Ok, Some(held), None) => {
            format!("≥ {} req/s (every rate offered held: the sweep's bound)", rate(held))
        }
        (Status::Ok, None, _) => format!("below the lowest rate tried (p99 < {} ms never held)", cell.target_p99_ms),
        _ => format!("not measured: {}", cell.reason.as_deref().unwrap_or("skipped")),
    }
}

fn rate(value: f64) -> String {
    crate::format::thousands(value.round() as u64)
}

fn ms(us: f64) -> String {
    let ms = us / 1000.0;
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else {
        format!("{ms:.1}")
    }
}

pub fn render(run: &CapacityRun) -> String {
    let s = &run.settings;
    let mut md = String::new();
    let stopped = "the cells it did not reach are marked not measured";
    crate::export::markdown::opening(&format!("Capacity {}", run.run_id), &run.header, stopped, &mut md);
    md += &format!(
        "The highest rate each server holds with its p99 under a target and no failed or unsent request, found \
         open-loop ({}): doubling from a start rate, then {} bisection steps; {} s of load per probe, latency \
         from each request's intended send time. Targets: baseline 10 ms, cpu ({}! uncached) and db 100 ms, io \
         D + 50 ms with D = {} ms. Build: {}; commit {}{}; {} CPUs.\n\n",
        s.client,
        s.bisect_steps,
        s.probe_s,
        s.fact_n,
        s.hello_ms,
        run.build,
        run.environment.git_commit,
        if run.environment.git_dirty { " (dirty)" } else { "" },
        run.environment.cpu_count
    );
    let (workloads, servers) = run.workloads_and_servers();
    md += "## Capacity (req/s)\n\n";
    let header: Vec<String> = workloads.iter().map(|w| w.to_string()).collect();
    let header: Vec<&str> = std::iter::once("server").chain(header.iter().map(String::as_str)).collect();
    let mut table = Table::new(&header).align_right(1..header.len());
    for server in &servers {
        let mut cells = row![server];
        for w in &workloads {
            let cell = run.cells.iter().find(|c| c.server == *server && c.workload == *w);
            cells.push(cell.map_or("—".to_string(), short));
        }
        table.row(cells);
    }
    table.write(&mut md);
    md += "\n≥: every rate offered held, so the bound is the sweep's maximum (or the client's), not the server's.\n";
    md += &format!("\nThe curves: capacity-{}.svg (p99 against offered rate, one panel per workload).\n", run.run_id);

    md += "\n## Probes\n\n";
    let mut table = Table::new(&[
        "server",
        "workload",
        "rate",
        "-c",
        "p50 ms",
        "p99 ms",
        "late",
        "unsent",
        "failed",
        "client CPU ms/req",
        "verdict",
    ])
    .align_right(2..10);
    for cell in &run.cells {
        if cell.probes.is_empty() {
            table.row(row![cell.server, cell.workload, "—", "", "", "", "", "", "", "", capacity_text(cell)]);
        }
        for p in &cell.probes {
            table.row(row![
                cell.server,
                cell.workload,
                rate(p.rate_rps),
                p.connections,
                ms(p.p50_us),
                ms(p.p99_us),
                p.late,
                p.unsent,
                p.failed,
                format!("{:.3}", p.client_cpu_ms_per_request),
                p.verdict
            ]);
        }
    }
    table.write(&mut md);

    if let Some(co) = &run.coordinated_omission {
        md += &format!(
            "\n## Coordinated omission\n\n{} on {} (capacity {} req/s with p99 under the target) answers {} req/s \
             closed-loop over {} connections. Offered twice that, {} req/s, open-loop, and loaded closed-loop over \
             the same connections, for a short run and one four times as long:\n\n",
            co.workload,
            co.server,
            rate(co.capacity_rps),
            rate(co.closed_loop_rps),
            co.connections,
            rate(co.rate_rps),
        );
        let mut table = Table::new(&["mode", "seconds", "requests", "throughput req/s", "p50 ms", "p99 ms", "failed"])
            .align_right(1..7);
        for r in &co.runs {
            table.row(row![
                r.mode.as_str(),
                r.seconds,
                r.requests,
                rate(r.throughput_rps),
                ms(r.p50_us),
                ms(r.p99_us),
                r.failed
            ]);
        }
        table.write(&mut md);
        md += &co_sentences(co);
    }
    if !run.notes.is_empty() {
        md += "\n## Notes\n\n";
        for note in &run.notes {
            md += &format!("- {note}\n");
        }
    }
    md
}

fn short(cell: &CapacityCell) -> String {
    if let (Status::Ok, Some(held), Some(_)) = (cell.status, cell.capacity_rps, &cell.client_bound) {
        return format!("≥ {} (client-bound)", rate(held));
    }
    match (cell.status, cell.capacity_rps, cell.first_failed_rps) {
        (Status::Ok, Some(held), Some(_)) => rate(held),
        (Status::Ok, Some(held), None) => format!("≥ {}", rate(held)),
        (Status::Ok, None, _) => "< lowest".into(),
        _ => "not measured".into(),
    }
}

/// What the coordinated-omission cell shows, in words, from its own figures.
fn co_sentences(co: &CoordinatedOmission) -> String {
    let run = |mode: LoopMode, long: bool| co.runs.iter().filter(|r| r.mode == mode).nth(usize::from(long));
    let (Some(open_short), Some(open_long), Some(closed_short), Some(closed_long)) = (
        run(LoopMode::Open, false),
        run(LoopMode::Open, true),
        run(LoopMode::Closed, false),
        run(LoopMode::Closed, true),
    ) else {
        return String::new();
    };
    let growth = |a: &CoRun, b: &CoRun| if a.p99_us > 0.0 { b.p99_us / a.p99_us } else { 0.0 };
    format!(
        "\nOpen loop, the long run's p99 is {:.1}× the short run's; closed loop, {:.1}×. Open loop, requests keep \
         arriving at the offered rate while the server answers fewer, so the queue grows for the whole run and the \
         last requests wait longest: with requests due at rate R for T seconds and answered at rate X, request i \
         waits about i × (1/X − 1/R), so the p99 is about 0.99 × T × (R/X − 1) — here {} s for the short run and \
         {} s for the long one, from each run's own throughput. Closed loop, the client sends a request only when \
         an answer has come back: it never offers more than the server answers, the queue never exceeds the {} \
         connections, and the p99 does not depend on how long the run lasts. That latency is what users would \
         see only if they, too, waited for one another; it hides the queue (coordinated omission, docs/capacity.md).\n",
        growth(open_short, open_long),
        growth(closed_short, closed_long),
        queue_p99_s(co.rate_rps, open_short),
        queue_p99_s(co.rate_rps, open_long),
        co.connections
    )
}

/// The open-loop p99 a queue growing for the whole run predicts: 0.99 × T × (R/X − 1), in seconds (2 decimals).
fn queue_p99_s(offered: f64, run: &CoRun) -> String {
    if run.throughput_rps <= 0.0 {
        return "—".into();
    }
    format!("{:.2}", 0.99 * run.seconds * (offered / run.throughput_rps - 1.0).max(0.0))
}
