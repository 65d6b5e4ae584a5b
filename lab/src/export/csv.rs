//! `RUN-ID.csv`: one row per cell, for spreadsheets. Figures are written at full precision (the same values as
//! the JSON); absent figures are empty fields. Quoting follows RFC 4180.

use super::{Artifact, Exporter};
use crate::records::run::{Cell, Run};
use std::io;

pub struct CsvExporter;

/// The columns, in order.
pub const COLUMNS: [&str; 35] = [
    "run_id",
    "id",
    "server",
    "client",
    "workload",
    "concurrency",
    "requests",
    "warmup",
    "status",
    "reason",
    "wall_s",
    "throughput_rps",
    "p50_us",
    "p90_us",
    "p99_us",
    "max_us",
    "succeeded",
    "failed",
    "failures_connect",
    "failures_timeout",
    "failures_status",
    "failures_other",
    "expected_wall_s",
    "efficiency",
    "bottleneck",
    "server_peak_rss_kib",
    "server_peak_threads",
    "server_cpu_s",
    "server_voluntary_ctxt",
    "server_nonvoluntary_ctxt",
    "client_cpu_s",
    "client_peak_rss_kib",
    "limit_hint",
    "client_engine",
    "client_peak_threads",
];

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn row(run: &Run, c: &Cell) -> Vec<String> {
    let lat = c.latency_us;
    let sc = c.server_cost.as_ref();
    let cc = c.client_cost.as_ref();
    vec![
        run.run_id.clone(),
        c.id.clone(),
        c.server.clone(),
        c.client.label(),
        c.workload.to_string(),
        c.concurrency.to_string(),
        c.requests.to_string(),
        c.warmup.to_string(),
        c.status.to_string(),
        c.reason.clone().unwrap_or_default(),
        opt(c.wall_s),
        opt(c.throughput_rps),
        opt(lat.map(|l| l.p50)),
        opt(lat.map(|l| l.p90)),
        opt(lat.map(|l| l.p99)),
        opt(lat.map(|l| l.max)),
        c.succeeded.to_string(),
        c.failed.to_string(),
        c.failures.connect.to_string(),
        c.failures.timeout.to_string(),
        c.failures.status.to_string(),
        c.failures.other.to_string(),
        opt(c.expected_wall_s),
        opt(c.efficiency),
        c.bottleneck.map(|b| b.to_string()).unwrap_or_default(),
        opt(sc.map(|s| s.peak_rss_kib)),
        opt(sc.map(|s| s.peak_threads)),
        opt(sc.map(|s| s.user_s + s.sys_s)),
        opt(sc.map(|s| s.voluntary_ctxt)),
        opt(sc.map(|s| s.nonvoluntary_ctxt)),
        opt(cc.map(|s| s.user_s + s.sys_s)),
        opt(cc.and_then(|s| s.peak_rss_kib)),
        c.limit_hint.clone().unwrap_or_default(),
        // Provenance: async-client's HTTP engine (surf unless the label says `:lean`), and the client's most OS
        // threads seen during the cell.
        match c.client.engine {
            Some(engine) => engine.to_string(),
            None if c.client.is_async() => "surf".to_string(),
            None => String::new(),
        },
        opt(cc.and_then(|s| s.peak_threads)),
    ]
}

/// Quotes a field when it holds a comma, a quote or a line break.
pub fn field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

impl Exporter for CsvExporter {
    fn render(&self, run: &Run) -> io::Result<Vec<Artifact>> {
        let mut text = COLUMNS.join(",");
        text.push('\n');
        for cell in &run.cells {
            let fields: Vec<String> = row(run, cell).iter().map(|f| field(f)).collect();
            text.push_str(&fields.join(","));
            text.push('\n');
        }
        Ok(vec![Artifact { path: format!("{}.csv", run.run_id).into(), bytes: text.into_bytes() }])
    }
}

/// Parses CSV text written by this exporter (quoted fields included) into rows of fields.
pub fn parse(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_round_trips() {
        let values = ["plain", "a,b", "say \"hi\"", "two\nlines", ""];
        let line: Vec<String> = values.iter().map(|v| field(v)).collect();
        let text = format!("{}\n", line.join(","));
        assert_eq!(parse(&text), vec![values.iter().map(|v| v.to_string()).collect::<Vec<_>>()]);
    }
}
