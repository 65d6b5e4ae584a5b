//! The noise rule: when two cells differ, and when they are a tie. One function, used by `lab compare`, the
//! narrative and the markdown, so that the three never disagree.
//!
//! A cell measured R times has a range: the lowest and highest of its repetitions (wall time, or throughput).
//! Two cells **differ** only where their ranges do not overlap; otherwise they are a **tie**. A cell measured
//! once has no range of its own, so it gets the machine's floor around its one figure ([`SINGLE_RUN_NOISE`]: a
//! shared 2-core machine moves a single run by that much), which makes one-shot comparisons conservative.

use crate::results::Cell;
use std::fmt;

/// The relative half-width given to a cell measured once (its range is `value × (1 ± SINGLE_RUN_NOISE)`).
pub const SINGLE_RUN_NOISE: f64 = 0.10;

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
    pub fn for_workload(workload: &str) -> Metric {
        if workload == "io" || workload == "blocking" {
            Metric::Wall
        } else {
            Metric::Throughput
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
    /// The ranges overlap: the run cannot tell them apart.
    Tie,
    /// The ranges are disjoint: `better` did better by `factor` (≥ 1, median over median).
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
    Verdict::Differ { better, factor }
}

/// The noise rule on two cells: None when either has no figure for `metric`.
pub fn judge(a: &Cell, b: &Cell, metric: Metric) -> Option<Verdict> {
    Some(judge_ranges(Range::of(a, metric)?, Range::of(b, metric)?, metric))
}

/// A synthetic measured cell for unit tests: `server` × async-client `workload` at c=10, 10 requests, with its
/// median wall time and its repetitions' min and max.
#[cfg(test)]
pub(crate) fn synthetic_cell(server: &str, workload: &str, median: f64, min: f64, max: f64, repeats: u64) -> Cell {
    use crate::results::{Latency, Spread, Status};
    let spec = crate::plan::CellSpec {
        server: crate::plan::ServerSpec::Builtin(server.into()),
        client: "async-client".parse().unwrap(),
        workload: workload.parse().unwrap(),
        concurrency: 10,
        requests: 10,
        warmup: 0,
        duration: None,
    };
    let mut cell = crate::run::unmeasured(&spec, Status::Ok, "", None);
    cell.reason = None;
    cell.latency_us = Some(Latency::default());
    cell.succeeded = 10;
    cell.wall_s = Some(median);
    cell.throughput_rps = Some(10.0 / median);
    cell.spread = Some(Spread {
        repeats,
        wall_s_min: min,
        wall_s_max: max,
        throughput_min: 10.0 / max,
        throughput_max: 10.0 / min,
        relative: (max - min) / median,
    });
    cell
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Status;

    fn cell(median: f64, min: f64, max: f64, repeats: u64) -> Cell {
        synthetic_cell("thread-server", "io", median, min, max, repeats)
    }

    fn spec() -> crate::plan::CellSpec {
        crate::plan::CellSpec {
            server: crate::plan::ServerSpec::Builtin("thread-server".into()),
            client: "async-client".parse().unwrap(),
            workload: crate::plan::Workload::Io,
            concurrency: 10,
            requests: 10,
            warmup: 0,
            duration: None,
        }
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
