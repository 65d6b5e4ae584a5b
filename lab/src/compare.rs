//! `lab compare A.json B.json`: the cells two runs share, side by side, with the ratio B ÷ A and whether the
//! difference is within the noise of the two runs.
//!
//! Noise: the lab's one rule ([`crate::noise`]): two cells differ only where the ranges of their repetitions do
//! not overlap and their medians are at least 5 % apart; otherwise they are a tie. Each cell is judged by its
//! workload's figure (wall time for io and blocking, throughput for the others).

use crate::export::table::Table;
use crate::format;
use crate::noise::{self, Metric, Side, Verdict};
use crate::results::Run;
use crate::row;
use std::fmt::Write;

/// "tie", or "B 1.5× better" / "B 2.0× worse".
fn verdict_text(verdict: Verdict) -> String {
    match verdict {
        Verdict::Tie => "tie".to_string(),
        Verdict::Differ { better, factor } => {
            format!("B {} {}", format::factor(factor), if better == Side::B { "better" } else { "worse" })
        }
    }
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
        "Ratios are B ÷ A. Each cell is judged by its workload's figure (wall time for io and blocking, throughput \
         otherwise): {}.\n",
        noise::rule_text()
    );
    if a.settings.hello_ms != b.settings.hello_ms {
        let _ = writeln!(
            md,
            "> ⚠ The runs used different D ({} ms vs {} ms): io cells are not comparable.\n",
            a.settings.hello_ms, b.settings.hello_ms
        );
    }
    let mut table = Table::new(&[
        "cell",
        "wall A",
        "wall B",
        "ratio",
        "throughput A",
        "throughput B",
        "ratio",
        "p99 A",
        "p99 B",
        "ratio",
        "verdict",
    ]);
    let mut only_a = Vec::new();
    let mut matched = 0;
    let mut differing = 0;
    // What identical cells would give: the sum over compared cells of the chance that their ranges are disjoint.
    let mut by_chance = 0.0;
    for ca in &a.cells {
        let Some(cb) = b.cells.iter().find(|c| c.id == ca.id) else {
            only_a.push(ca.id.clone());
            continue;
        };
        matched += 1;
        if !ca.is_ok() || !cb.is_ok() {
            table.row(row![
                format!("`{}`", ca.id),
                ca.status,
                cb.status,
                "—",
                "",
                "",
                "",
                "",
                "",
                "",
                "not comparable"
            ]);
            continue;
        }
        let wall = ratio(ca.wall_s, cb.wall_s);
        let rate = ratio(ca.throughput_rps, cb.throughput_rps);
        let p99 = ratio(ca.latency_us.map(|l| l.p99), cb.latency_us.map(|l| l.p99));
        let verdict = noise::judge(ca, cb, Metric::for_workload(&ca.workload)).map_or("—".to_string(), verdict_text);
        if verdict != "tie" {
            differing += 1;
        }
        by_chance += match (ca.spread, cb.spread) {
            (Some(sa), Some(sb)) if sa.repeats > 1 && sb.repeats > 1 => noise::chance_disjoint(sa.repeats, sb.repeats),
            _ => 0.0,
        };
        let show_ratio = |r: Option<f64>| r.map_or("—".to_string(), |r| format!("{r:.2}"));
        table.row(row![
            format!("`{}`", ca.id),
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
        ]);
    }
    table.write(&mut md);
    let only_b: Vec<&str> =
        b.cells.iter().filter(|c| !a.cells.iter().any(|x| x.id == c.id)).map(|c| c.id.as_str()).collect();
    let _ =
        writeln!(md, "\n{matched} cells in both runs; {differing} of them differ by the noise rule, the others tie.");
    if by_chance > 0.0 {
        let _ = writeln!(
            md,
            "Had nothing changed, chance alone would make about {by_chance:.1} of these cells' ranges disjoint \
             (ranges of R and R′ repetitions from one distribution are disjoint with probability 2 ÷ C(R + R′, R)); \
             the {:.0} % effect size then removes some of those.",
            noise::MIN_EFFECT * 100.0
        );
    }
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
    fn verdicts_read_from_b() {
        assert_eq!(verdict_text(Verdict::Tie), "tie");
        assert_eq!(verdict_text(Verdict::Differ { better: Side::B, factor: 1.5 }), "B 1.50× better");
        assert_eq!(verdict_text(Verdict::Differ { better: Side::A, factor: 2.0 }), "B 2.0× worse");
    }
}
