//! `lab compare A.json B.json`: the cells two runs share, side by side, with the ratio B ÷ A and whether the
//! difference is within the noise of the two runs.
//!
//! Noise: a cell measured R > 1 times knows its own spread ((max − min) ÷ median of the wall time). A difference
//! counts as noise when it is no larger than the larger of the two cells' spreads, and never smaller than
//! [`NOISE_FLOOR`] (a 2-core shared machine moves single runs by that much). Latency percentiles get twice the floor.

use crate::format;
use crate::results::{Cell, Run};
use std::fmt::Write;

/// The smallest relative difference the lab calls real for wall time and throughput.
pub const NOISE_FLOOR: f64 = 0.10;

fn noise(a: &Cell, b: &Cell) -> f64 {
    let spread = |c: &Cell| c.spread.map_or(0.0, |s| s.relative);
    spread(a).max(spread(b)).max(NOISE_FLOOR)
}

/// "within noise", or "B 1.5× faster" / "B 2.0× slower".
fn verdict(ratio: f64, threshold: f64, higher_is_better: bool) -> String {
    if (ratio - 1.0).abs() <= threshold {
        return "within noise".to_string();
    }
    let better = (ratio > 1.0) == higher_is_better;
    let factor = if ratio >= 1.0 { ratio } else { 1.0 / ratio };
    format!("B {} {}", format::factor(factor), if better { "better" } else { "worse" })
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if a > 0.0 => Some(b / a),
        _ => None,
    }
}

/// The comparison as markdown.
pub fn compare(a: &Run, b: &Run) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Comparing {} (A) with {} (B)\n", a.run_id, b.run_id);
    let _ = writeln!(
        md,
        "A: profile `{}`, {} build, commit {} · B: profile `{}`, {} build, commit {}.  ",
        a.profile, a.build, a.environment.git_commit, b.profile, b.build, b.environment.git_commit
    );
    let _ = writeln!(
        md,
        "Ratios are B ÷ A. A difference is *within noise* when it is no larger than the cells' own spread across \
         repetitions, and at least {} ({} for p99).\n",
        format::percent(NOISE_FLOOR),
        format::percent(2.0 * NOISE_FLOOR)
    );
    if a.settings.hello_ms != b.settings.hello_ms {
        let _ = writeln!(
            md,
            "> ⚠ The runs used different D ({} ms vs {} ms): io cells are not comparable.\n",
            a.settings.hello_ms, b.settings.hello_ms
        );
    }
    let _ = writeln!(
        md,
        "| cell | wall A | wall B | ratio | throughput A | throughput B | ratio | p99 A | p99 B | ratio | verdict |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|");
    let mut only_a = Vec::new();
    let mut matched = 0;
    for ca in &a.cells {
        let Some(cb) = b.cells.iter().find(|c| c.id == ca.id) else {
            only_a.push(ca.id.clone());
            continue;
        };
        matched += 1;
        if !ca.is_ok() || !cb.is_ok() {
            let _ = writeln!(md, "| `{}` | {} | {} | — | | | | | | | not comparable |", ca.id, ca.status, cb.status);
            continue;
        }
        let threshold = noise(ca, cb);
        let wall = ratio(ca.wall_s, cb.wall_s);
        let rate = ratio(ca.throughput_rps, cb.throughput_rps);
        let p99 = ratio(ca.latency_us.map(|l| l.p99), cb.latency_us.map(|l| l.p99));
        let mut verdicts = Vec::new();
        if let Some(r) = rate {
            let v = verdict(r, threshold, true);
            if v != "within noise" {
                verdicts.push(format!("throughput: {v}"));
            }
        }
        if let Some(r) = p99 {
            let v = verdict(r, 2.0 * threshold, false);
            if v != "within noise" {
                verdicts.push(format!("p99: {v}"));
            }
        }
        let verdict = if verdicts.is_empty() { "within noise".to_string() } else { verdicts.join("; ") };
        let show_ratio = |r: Option<f64>| r.map_or("—".to_string(), |r| format!("{r:.2}"));
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            ca.id,
            ca.wall_s.map_or("—".into(), format::seconds),
            cb.wall_s.map_or("—".into(), format::seconds),
            show_ratio(wall),
            ca.throughput_rps.map_or("—".into(), format::rate),
            cb.throughput_rps.map_or("—".into(), format::rate),
            show_ratio(rate),
            ca.latency_us.map_or("—".into(), |l| format::micros(l.p99)),
            cb.latency_us.map_or("—".into(), |l| format::micros(l.p99)),
            show_ratio(p99),
            verdict
        );
    }
    let only_b: Vec<&str> =
        b.cells.iter().filter(|c| !a.cells.iter().any(|x| x.id == c.id)).map(|c| c.id.as_str()).collect();
    let _ = writeln!(md, "\n{matched} cells in both runs.");
    if !only_a.is_empty() {
        let _ = writeln!(md, "Only in A: {}.", only_a.join(", "));
    }
    if !only_b.is_empty() {
        let _ = writeln!(md, "Only in B: {}.", only_b.join(", "));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        assert_eq!(verdict(1.0, 0.1, true), "within noise");
        assert_eq!(verdict(1.09, 0.1, true), "within noise");
        assert_eq!(verdict(1.5, 0.1, true), "B 1.50× better");
        assert_eq!(verdict(0.5, 0.1, true), "B 2.0× worse");
        assert_eq!(verdict(0.5, 0.2, false), "B 2.0× better");
    }
}
