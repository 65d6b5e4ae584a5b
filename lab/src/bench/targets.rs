//! The performance targets, read off a finished bench: for each, the measured figure, the bound, the
//! verdict, and a line of profile — the figures of the same run that show where the time or the memory went
//! (CPU per request of both sides of a ratio, the kernel's listen-queue drops at 10,000 connections, …).

use super::results::{BenchRun, Contender, PartStatus, Ratio, SweepPart, Target, ThroughputPart};
use super::{sweep, throughput};
use crate::format;

fn target(part: &str, figure: String, unit: &str, comparison: &str, bound: f64) -> Target {
    Target {
        part: part.to_string(),
        figure,
        unit: unit.to_string(),
        comparison: comparison.to_string(),
        bound,
        verdict: "not run".to_string(),
        ..Target::default()
    }
}

impl Target {
    /// Sets the measured figure and the verdict (`extra_ok` = no other condition failed, e.g. no failure).
    fn measured(mut self, value: Option<f64>, extra_ok: bool, detail: Option<String>) -> Target {
        self.measured = value;
        self.detail = detail;
        if let Some(v) = value {
            let within = if self.comparison == "<=" { v <= self.bound } else { v >= self.bound };
            self.verdict = if within && extra_ok { "met" } else { "not met" }.to_string();
        }
        self
    }
}

/// Every performance target, with what was measured.
pub fn targets(run: &BenchRun) -> Vec<Target> {
    let mut out = Vec::new();
    for (name, part) in [("instrument", &run.instrument), ("servers", &run.servers)] {
        out.extend(ratio_targets(name, part));
    }
    out.extend(super::reach::targets(&run.reach));
    out.extend(cost_targets(&run.cost));
    let o = &run.overhead;
    let detail = match (o.overhead, o.outside_per_cell_s) {
        (Some(x), Some(per_cell)) if o.status == PartStatus::Ok => Some(format!(
            "{} outside cells of {} in all: {} per cell over {} cells and {} server verifications",
            format::seconds(x.outside_s),
            format::seconds(x.total_s),
            format::seconds(per_cell),
            o.cells,
            o.servers_verified
        )),
        _ => part_reason(o.status, &o.reason),
    };
    out.push(
        target("overhead", "quick matrix: wall time outside measured cells".to_string(), "fraction", "<=", 0.10)
            .measured(o.overhead.map(|x| x.fraction), o.status == PartStatus::Ok, detail),
    );
    out
}

fn part_reason(status: PartStatus, reason: &Option<String>) -> Option<String> {
    (status != PartStatus::Ok).then(|| reason.clone()).flatten()
}

fn ratio_targets(name: &str, part: &ThroughputPart) -> Vec<Target> {
    let rows: Vec<&Ratio> = part.ratios.iter().filter(|r| r.target.is_some()).collect();
    if rows.is_empty() {
        let (figure, bound) = match name {
            "instrument" => ("async-client:lean / wrk", throughput::LEAN_OVER_WRK),
            _ => ("fastest server / nginx", throughput::BEST_OVER_NGINX),
        };
        let t = target(name, figure.to_string(), "×", ">=", bound);
        return vec![t.measured(None, true, part_reason(part.status, &part.reason))];
    }
    rows.into_iter()
        .map(|r| {
            let find = |n: &str| part.contenders.iter().find(|c| c.name == n);
            let detail = match (r.value, find(&r.numerator), find(&r.denominator)) {
                (None, _, Some(c)) if c.status != PartStatus::Ok => c.reason.clone(),
                (None, Some(c), _) if c.status != PartStatus::Ok => c.reason.clone(),
                (None, _, _) => Some("no round measured both".to_string()),
                (Some(_), Some(a), Some(b)) => Some(cpu_profile(name, a, b)),
                _ => None,
            };
            let figure = format!("{} / {} (req/s)", r.numerator, r.denominator);
            target(name, figure, "×", ">=", r.target.unwrap_or(0.0)).measured(r.value, true, detail)
        })
        .collect()
}

/// Where a ratio's CPU went: the load generators' own CPU per request (instrument), or the servers' (servers).
fn cpu_profile(part: &str, a: &Contender, b: &Contender) -> String {
    let us = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.1} µs"));
    if part == "instrument" {
        format!(
            "CPU per request of the load generator: {} {}, {} {}; of the server: {} vs {}",
            a.name,
            us(a.load_cpu_us_per_request),
            b.name,
            us(b.load_cpu_us_per_request),
            us(a.server_cpu_us_per_request),
            us(b.server_cpu_us_per_request)
        )
    } else {
        format!(
            "server CPU per request: {} {}, {} {}",
            a.name,
            us(a.server_cpu_us_per_request),
            b.name,
            us(b.server_cpu_us_per_request)
        )
    }
}

fn async_servers(part: &SweepPart) -> Vec<String> {
    part.servers.iter().filter(|s| s.model == "async").map(|s| s.name.clone()).collect()
}

fn cost_targets(part: &SweepPart) -> Vec<Target> {
    let bound = sweep::ASYNC_KIB_PER_CONNECTION;
    let servers = async_servers(part);
    if servers.is_empty() {
        let figure = "async servers: RSS per in-flight connection".to_string();
        return vec![target("cost", figure, "KiB", "<=", bound).measured(None, true, part.reason.clone())];
    }
    servers
        .into_iter()
        .map(|server| {
            let figure = format!("{server}: RSS per in-flight connection");
            let fit = part.per_connection.iter().find(|p| p.server == server);
            let detail = match fit.map(|f| (f, f.points.first(), f.points.last())) {
                Some((f, Some(first), Some(last))) => Some(format!(
                    "peak RSS {} at {} → {} at {} connections (slope over {} levels, r² {:.2})",
                    format::kib(first.1),
                    format::thousands(first.0),
                    format::kib(last.1),
                    format::thousands(last.0),
                    f.points.len(),
                    f.rss_r2
                )),
                _ => Some("fewer than two levels measured without failure".to_string()),
            };
            let bound = if server == "lean-server" { sweep::LEAN_KIB_PER_CONNECTION } else { bound };
            target("cost", figure, "KiB", "<=", bound).measured(fit.map(|f| f.rss_kib_per_connection), true, detail)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_met_not_met_or_not_run() {
        let t = target("x", "f".into(), "", ">=", 0.8);
        assert_eq!(t.clone().measured(Some(0.9), true, None).verdict, "met");
        assert_eq!(t.clone().measured(Some(0.9), false, None).verdict, "not met");
        assert_eq!(t.clone().measured(Some(0.7), true, None).verdict, "not met");
        assert_eq!(t.measured(None, true, None).verdict, "not run");
        let low = target("x", "f".into(), "", "<=", 8.0);
        assert_eq!(low.measured(Some(7.5), true, None).verdict, "met");
    }

    #[test]
    fn parts_not_run_still_list_their_targets() {
        let run = BenchRun::default();
        let all = targets(&run);
        let parts: Vec<&str> = all.iter().map(|t| t.part.as_str()).collect();
        assert_eq!(parts, vec!["instrument", "servers", "reach", "cost", "overhead"]);
        assert!(all.iter().all(|t| t.verdict == "not run"));
    }
}
