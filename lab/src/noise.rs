//! The noise rule: when two cells differ, and when they are a tie. One function, used by `lab compare`, the
//! narrative and the markdown, so that the three never disagree.
//!
//! A cell measured R times has a range: the lowest and highest of its repetitions (wall time, or throughput).
//! Two cells **differ** only where their ranges do not overlap **and** their medians differ by at least
//! [`MIN_EFFECT`] (5 %); otherwise they are a **tie**. The second condition is the minimum effect size: three
//! repetitions of a 1.00 s cell can have a range narrower than a millisecond, so two such cells 2 % apart are
//! disjoint without the difference meaning anything to a reader. A cell measured once has no range of its own,
//! so it gets the machine's floor around its one figure ([`SINGLE_RUN_NOISE`]: a shared 2-core machine moves a
//! single run by that much), which makes one-shot comparisons conservative.
//!
//! The rule's level is known exactly: two identical servers measured R times each have disjoint ranges by
//! chance in 2 of the C(2R, R) equally likely orders of their 2R figures ([`chance_disjoint`]): 10 % of
//! comparisons at R = 3, 2.9 % at R = 4, 0.8 % at R = 5 — before the effect size removes more. That is why the
//! default profile repeats each cell 4 times, spread over the whole run (`run::schedule`), so that slow drift of
//! the machine widens each range instead of separating two runs.

use crate::records::run::{Cell, Workload};
use std::fmt;

/// The relative half-width given to a cell measured once (its range is `value × (1 ± SINGLE_RUN_NOISE)`).
pub const SINGLE_RUN_NOISE: f64 = 0.10;

/// The smallest difference of medians the lab calls a difference: 5 % (larger ÷ smaller ≥ 1.05).
pub const MIN_EFFECT: f64 = 0.05;

/// The probability that the ranges of `m` and `n` repetitions drawn from one continuous distribution do not
/// overlap: of the C(m + n, m) equally likely orders of the m + n figures, 2 put one sample wholly below the
/// other (Mann–Whitney's extreme cases), so 2 ÷ C(m + n, m). One repetition on both sides gives 1: a cell
/// measured once needs [`SINGLE_RUN_NOISE`] instead.
pub fn chance_disjoint(m: u64, n: u64) -> f64 {
    // C(m + n, m) as a product of ratios, exact enough in f64 for any repeat count the lab uses.
    let orders: f64 = (1..=m).map(|k| (n + k) as f64 / k as f64).product();
    (2.0 / orders).min(1.0)
}

/// A cell that can be evidence about its server: measured cleanly, and not limited by its client (its client's
/// CPU set saturated, or, in runs without placement, the client-bound flag). Conclusions and the headline read
/// only such cells.
pub fn evidence(cell: &Cell) -> bool {
    use crate::records::run::{Bottleneck, Saturation};
    cell.is_ok()
        && cell.failed == 0
        && cell.wall_s.is_some()
        && cell.bottleneck != Some(Bottleneck::ClientBound)
        && !matches!(cell.saturation, Some(Saturation::Client | Saturation::Both))
}

/// Which figure of a cell to compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Wall time of the cell's requests: lower is better (io, blocking).
    Wall,
    /// Requests per second: higher is better (cpu, baseline, db, mixed).
    Throughput,
}

impl Metric {
    /// The figure a workload is read by: wall time for the waiting ones, throughput for the others.
    pub fn for_workload(workload: Workload) -> Metric {
        if workload.is_wait() {
            Metric::Wall
        } else {
            Metric::Throughput
        }
    }

    /// A cell's figure as a sort key, the best first: its wall time, or its throughput negated.
    pub fn key(self, c: &Cell) -> f64 {
        match self {
            Metric::Wall => c.wall_s.unwrap_or(f64::MAX),
            Metric::Throughput => -c.throughput_rps.unwrap_or(0.0),
        }
    }

    fn higher_is_better(self) -> bool {
        self == Metric::Throughput
    }
}

/// A closed interval of a metric: what one cell's repetitions cover.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Range {
    /// The cell's range of `metric`, or None when it has no figure.
    pub fn of(cell: &Cell, metric: Metric) -> Option<Range> {
        let median = match metric {
            Metric::Wall => cell.wall_s?,
            Metric::Throughput => cell.throughput_rps?,
        };
        match cell.spread.filter(|s| s.repeats > 1) {
            Some(s) => {
                let (min, max) = match metric {
                    Metric::Wall => (s.wall_s_min, s.wall_s_max),
                    Metric::Throughput => (s.throughput_min, s.throughput_max),
                };
                Some(Range { median, min: min.min(median), max: max.max(median) })
            }
            None => {
                Some(Range { median, min: median * (1.0 - SINGLE_RUN_NOISE), max: median * (1.0 + SINGLE_RUN_NOISE) })
            }
        }
    }

    fn overlaps(&self, other: &Range) -> bool {
        self.min <= other.max && other.min <= self.max
    }
}

/// The verdict of the noise rule between cell A and cell B.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// The ranges overlap, or the medians are less than [`MIN_EFFECT`] apart: the run cannot tell them apart.
    Tie,
    /// The ranges are disjoint and the medians ≥ [`MIN_EFFECT`] apart: `better` did better by `factor`
    /// (≥ 1 + MIN_EFFECT, median over median).
    Differ { better: Side, factor: f64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

impl Verdict {
    pub fn is_tie(&self) -> bool {
        matches!(self, Verdict::Tie)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Tie => f.write_str("tie"),
            Verdict::Differ { better, factor } => {
                let side = if *better == Side::A { "A" } else { "B" };
                write!(f, "{side} better by {}", crate::format::factor(*factor))
            }
        }
    }
}

/// The noise rule on two ranges of the same metric.
pub fn judge_ranges(a: Range, b: Range, metric: Metric) -> Verdict {
    if a.overlaps(&b) || a.median <= 0.0 || b.median <= 0.0 {
        return Verdict::Tie;
    }
    let a_higher = a.median > b.median;
    let better = if a_higher == metric.higher_is_better() { Side::A } else { Side::B };
    let factor = if a_higher { a.median / b.median } else { b.median / a.median };
    // The minimum effect size; the small tolerance keeps an exact 5 % (1.05 / 1.00) a difference despite rounding.
    if factor < 1.0 + MIN_EFFECT - 1e-9 {
        return Verdict::Tie;
    }
    Verdict::Differ { better, factor }
}

/// The noise rule on two cells: None when either has no figure for `metric`.
pub fn judge(a: &Cell, b: &Cell, metric: Metric) -> Option<Verdict> {
    Some(judge_ranges(Range::of(a, metric)?, Range::of(b, metric)?, metric))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::run::Status;
    use crate::run::synthetic_cell;

    fn cell(median: f64, min: f64, max: f64, repeats: u64) -> Cell {
        synthetic_cell("thread-server", "io", median, min, max, repeats)
    }

    fn spec() -> crate::plan::CellSpec {
        crate::plan::CellSpec {
            server: crate::plan::ServerSpec::Builtin("thread-server".into()),
            client: "async-client".parse().unwrap(),
            workload: crate::records::run::Workload::Io,
            concurrency: 10,
            requests: 10,
            warmup: 0,
            duration: None,
        }
    }

    /// The oracle: every way of dealing 2R ranks into two samples, counted by brute force.
    #[test]
    fn chance_disjoint_counts_the_orders_that_separate_two_samples() {
        for (m, n) in [(1u64, 1u64), (2, 2), (3, 3), (4, 4), (5, 5), (3, 5), (2, 4)] {
            let total = m + n;
            let (mut disjoint, mut all) = (0u64, 0u64);
            for mask in 0u32..(1 << total) {
                if u64::from(mask.count_ones()) != m {
                    continue;
                }
                all += 1;
                let first: Vec<u64> = (0..total).filter(|i| mask & (1 << i) != 0).collect();
                let second: Vec<u64> = (0..total).filter(|i| mask & (1 << i) == 0).collect();
                if first.iter().max() < second.iter().min() || second.iter().max() < first.iter().min() {
                    disjoint += 1;
                }
            }
            let expected = disjoint as f64 / all as f64;
            assert!((chance_disjoint(m, n) - expected).abs() < 1e-12, "m={m} n={n}: {expected}");
        }
        assert!((chance_disjoint(3, 3) - 0.1).abs() < 1e-12);
        assert!(chance_disjoint(4, 4) < 0.05 && chance_disjoint(5, 5) < 0.01);
    }

    #[test]
    fn overlapping_ranges_are_a_tie_whatever_the_medians() {
        // Medians 1.0 and 1.3 (30 % apart) but the ranges [0.9, 1.2] and [1.1, 1.4] share [1.1, 1.2].
        let (a, b) = (cell(1.0, 0.9, 1.2, 3), cell(1.3, 1.1, 1.4, 3));
        assert_eq!(judge(&a, &b, Metric::Wall), Some(Verdict::Tie));
        assert_eq!(judge(&a, &b, Metric::Throughput), Some(Verdict::Tie));
        // Touching ends count as overlap.
        let (a, b) = (cell(1.0, 0.9, 1.1, 3), cell(1.2, 1.1, 1.3, 3));
        assert!(judge(&a, &b, Metric::Wall).unwrap().is_tie());
    }

    #[test]
    fn disjoint_ranges_differ_and_the_lower_wall_is_better() {
        // [0.9, 1.1] and [1.9, 2.1]: B took twice as long.
        let (a, b) = (cell(1.0, 0.9, 1.1, 3), cell(2.0, 1.9, 2.1, 3));
        match judge(&a, &b, Metric::Wall).unwrap() {
            Verdict::Differ { better, factor } => {
                assert_eq!(better, Side::A);
                assert!((factor - 2.0).abs() < 1e-9);
            }
            v => panic!("expected a difference, got {v}"),
        }
        // The same cells by throughput: A did 10 req/s, B 5 req/s — A still better.
        assert!(matches!(judge(&a, &b, Metric::Throughput), Some(Verdict::Differ { better: Side::A, .. })));
        assert!(matches!(judge(&b, &a, Metric::Wall), Some(Verdict::Differ { better: Side::B, .. })));
    }

    #[test]
    fn disjoint_ranges_closer_than_the_minimum_effect_are_a_tie() {
        // 1.00 s [0.999, 1.001] vs 1.02 s [1.019, 1.021]: disjoint, but 2 % apart → tie.
        let (a, b) = (cell(1.00, 0.999, 1.001, 3), cell(1.02, 1.019, 1.021, 3));
        assert_eq!(judge(&a, &b, Metric::Wall), Some(Verdict::Tie));
        assert_eq!(judge(&b, &a, Metric::Throughput), Some(Verdict::Tie));
        // 4.9 % apart: still a tie.
        let b = cell(1.049, 1.048, 1.050, 3);
        assert!(judge(&a, &b, Metric::Wall).unwrap().is_tie());
        // Exactly 5 % apart: a difference (the boundary belongs to "differ").
        let b = cell(1.05, 1.049, 1.051, 3);
        assert!(matches!(judge(&a, &b, Metric::Wall), Some(Verdict::Differ { better: Side::A, .. })));
        // 5 % apart but overlapping ranges: a tie (both conditions are needed).
        let b = cell(1.05, 0.99, 1.10, 3);
        assert!(judge(&a, &b, Metric::Wall).unwrap().is_tie());
    }

    #[test]
    fn client_saturated_or_failed_cells_are_not_evidence() {
        use crate::records::run::{Bottleneck, Saturation};
        assert!(evidence(&cell(1.0, 0.9, 1.1, 3)));
        let mut saturated = cell(1.0, 0.9, 1.1, 3);
        saturated.saturation = Some(Saturation::Client);
        assert!(!evidence(&saturated));
        saturated.saturation = Some(Saturation::Both);
        assert!(!evidence(&saturated));
        saturated.saturation = Some(Saturation::Server);
        assert!(evidence(&saturated));
        let mut bound = cell(1.0, 0.9, 1.1, 3);
        bound.bottleneck = Some(Bottleneck::ClientBound);
        assert!(!evidence(&bound));
        let mut failing = cell(1.0, 0.9, 1.1, 3);
        failing.failed = 1;
        assert!(!evidence(&failing));
    }

    #[test]
    fn a_single_run_gets_the_floor_around_it() {
        // One repetition each, 15 % apart: [0.9, 1.1] and [1.035, 1.265] overlap → tie.
        let (a, b) = (cell(1.0, 1.0, 1.0, 1), cell(1.15, 1.15, 1.15, 1));
        assert!(judge(&a, &b, Metric::Wall).unwrap().is_tie());
        // 30 % apart: [0.9, 1.1] and [1.17, 1.43] are disjoint → differ.
        let b = cell(1.3, 1.3, 1.3, 1);
        assert!(!judge(&a, &b, Metric::Wall).unwrap().is_tie());
    }

    #[test]
    fn a_cell_without_figures_is_not_judged() {
        let a = cell(1.0, 0.9, 1.1, 3);
        let b = crate::run::unmeasured(&spec(), Status::Failed, "killed", None);
        assert_eq!(judge(&a, &b, Metric::Wall), None);
    }
}
