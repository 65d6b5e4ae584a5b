//! Merging client reports exactly: several clients (processes, or machines) that loaded one server at the same
//! time make one report, as if one client had sent all their requests.
//!
//! Counts add up; latency comes from the sum of the reports' histograms ([`crate::histogram`]), so the merged
//! percentiles are exactly those of the union of the requests — never an average of percentiles. The reports
//! must describe the same load (same concurrency per process, keep-alive and loop kind); they are taken to
//! have run at the same time, so the merged throughput is the sum of theirs and the merged wall time the
//! longest.

use std::collections::BTreeSet;

use crate::histogram;
use crate::report::{ClientReport, Cost, Failures, OpenLoop, SCHEMA_VERSION};

/// Merges `reports` (at least one) into one; an error says which report does not fit, in one line.
pub fn merge(reports: &[ClientReport]) -> Result<ClientReport, String> {
    let first = reports.first().ok_or("no reports to merge")?;
    let mut merged_histogram = histogram::new();
    let mut failures = Failures::default();
    let mut cost = Cost::default();
    let (mut requests, mut succeeded, mut processes) = (0, 0, 0);
    let (mut wall_s, mut throughput_rps) = (0.0f64, 0.0);
    let mut urls: Vec<String> = Vec::new();
    let (mut clients, mut engines) = (BTreeSet::new(), BTreeSet::new());
    let mut open_loop: Option<OpenLoop> = None;
    for (index, report) in reports.iter().enumerate() {
        let which = |what: String| format!("report {}: {what}", index + 1);
        if report.schema_version != SCHEMA_VERSION {
            return Err(which(format!("schema version {} (this merge reads {SCHEMA_VERSION})", report.schema_version)));
        }
        if report.concurrency != first.concurrency || report.keep_alive != first.keep_alive {
            return Err(which(format!(
                "a different load (concurrency {}, keep-alive {}; report 1: {}, {}): merge runs of the same load",
                report.concurrency, report.keep_alive, first.concurrency, first.keep_alive
            )));
        }
        if report.open_loop.is_some() != first.open_loop.is_some() {
            return Err(which("open and closed loop mixed: merge runs of the same load".into()));
        }
        match &report.latency_histogram_us {
            Some(text) => {
                let h = histogram::decode(text).map_err(which)?;
                if h.len() != report.succeeded {
                    return Err(which(format!(
                        "its histogram holds {} requests but {} succeeded",
                        h.len(),
                        report.succeeded
                    )));
                }
                merged_histogram.add(&h).map_err(|e| which(format!("cannot add its histogram ({e:?})")))?;
            }
            None if report.succeeded == 0 => {}
            None => return Err(which("no latency histogram (written by a client older than the field)".into())),
        }
        requests += report.requests;
        succeeded += report.succeeded;
        processes += report.processes;
        failures.add(&report.failures);
        cost.add(&report.cost);
        wall_s = wall_s.max(report.wall_s);
        throughput_rps += report.throughput_rps;
        let report_urls = if report.urls.is_empty() { std::slice::from_ref(&report.url) } else { &report.urls };
        for url in report_urls {
            if !urls.contains(url) {
                urls.push(url.clone());
            }
        }
        clients.insert(report.client.clone());
        engines.insert(report.engine.clone());
        if let Some(open) = &report.open_loop {
            let total = open_loop.get_or_insert(OpenLoop { late_after_us: open.late_after_us, ..OpenLoop::default() });
            total.rate_rps += open.rate_rps;
            total.late += open.late;
            total.late_after_us = total.late_after_us.max(open.late_after_us);
        }
    }
    let join = |names: BTreeSet<String>| names.into_iter().collect::<Vec<_>>().join("+");
    Ok(ClientReport {
        schema_version: SCHEMA_VERSION,
        client: join(clients),
        engine: join(engines),
        url: first.url.clone(),
        urls,
        requests,
        bound: first.bound,
        duration_s: first.duration_s,
        concurrency: first.concurrency,
        processes,
        keep_alive: first.keep_alive,
        succeeded,
        failed: failures.total(),
        failures,
        wall_s,
        throughput_rps,
        latency_us: histogram::summary(&merged_histogram),
        latency_histogram_us: Some(histogram::encode(&merged_histogram)),
        open_loop,
        cost,
        first_failure: reports.iter().find_map(|r| r.first_failure.clone()),
        // Connect times travel as a summary, not a histogram: percentiles of several reports cannot be merged
        // exactly, so a merged report has none (clients/SCHEMA.md).
        connect_us: if reports.len() == 1 { first.connect_us } else { None },
        // Offsets from different processes' first sends do not share an origin: one report keeps its own.
        timeline: if reports.len() == 1 { first.timeline.clone() } else { None },
    })
}
