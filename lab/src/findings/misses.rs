//! Model misses: every prediction held against its measurement. A cell whose measured ÷ expected lies outside
//! [`MISS_BAND`] over its whole repetition range is a miss: it is kept with both numbers, and nothing here gives
//! it a cause the lab did not measure.

use crate::noise::{Metric, Range};
use crate::records::run::{Client, Run, Saturation, Workload};

/// measured ÷ expected outside this band, over the cell's whole repetition range, is a model miss. The band is
/// symmetric on a log scale (÷ 1.25 to × 1.25): a quarter off is more than the model's known simplifications
/// (the io prediction ignores a request's milliseconds of handling against D; a throughput bound is read from
/// the c = 1 cell), and less than the differences the lab's verdicts rest on (the pool's 7×, a blocked
/// executor's 10×). A prediction outside it would mislead a reader who trusted the model.
pub const MISS_BAND: (f64, f64) = (0.8, 1.25);

/// One prediction that the measurement did not bear out.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelMiss {
    pub cell: String,
    pub server: String,
    pub client: Client,
    pub workload: Workload,
    pub concurrency: u64,
    /// What the comparison is in: seconds for a count of requests, req/s for a duration.
    pub metric: Metric,
    pub expected: f64,
    /// The median repetition's figure and the repetitions' range.
    pub measured: f64,
    pub range: (f64, f64),
    /// measured time ÷ expected time (> 1: slower than the model; < 1: faster than its bound allows).
    pub time_ratio: f64,
    pub saturation: Option<Saturation>,
}

/// Every prediction of the run, and the ones it missed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Predictions {
    pub checked: usize,
    pub misses: Vec<ModelMiss>,
}

/// Holds each measured cell that carries a prediction against [`MISS_BAND`].
pub fn model_misses(run: &Run) -> Predictions {
    let mut out = Predictions::default();
    for cell in run.cells.iter().filter(|c| c.is_ok()) {
        let (Some(expected_s), Some(wall_s)) = (cell.expected_wall_s, cell.wall_s) else { continue };
        if expected_s <= 0.0 || wall_s <= 0.0 {
            continue;
        }
        out.checked += 1;
        let (lo, hi) = cell.spread.map_or((wall_s, wall_s), |s| (s.wall_s_min.min(wall_s), s.wall_s_max.max(wall_s)));
        let (band_lo, band_hi) = MISS_BAND;
        if lo / expected_s <= band_hi && hi / expected_s >= band_lo {
            continue;
        }
        let metric = Metric::for_workload(cell.workload);
        let (expected, measured, range) = match metric {
            Metric::Wall => (expected_s, wall_s, (lo, hi)),
            // A duration-bound cell's expected time is its completed requests at the predicted rate.
            Metric::Throughput => {
                let rps = cell.throughput_rps.unwrap_or(0.0);
                let r = Range::of(cell, Metric::Throughput);
                (rps * wall_s / expected_s, rps, r.map_or((rps, rps), |r| (r.min, r.max)))
            }
        };
        out.misses.push(ModelMiss {
            cell: cell.id.clone(),
            server: cell.server.clone(),
            client: cell.client,
            workload: cell.workload,
            concurrency: cell.concurrency,
            metric,
            expected,
            measured,
            range,
            time_ratio: wall_s / expected_s,
            saturation: cell.saturation,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::synthetic_cell;

    #[test]
    fn a_prediction_outside_the_band_is_a_miss_and_inside_is_not() {
        let mut serial = synthetic_cell("fake-async", "blocking", 2.0, 1.99, 2.01, 4);
        serial.expected_wall_s = Some(1.0);
        let mut held = synthetic_cell("thread-server", "blocking", 0.21, 0.2, 0.22, 4);
        held.expected_wall_s = Some(0.2);
        // Its range reaches into the band: not a miss, though the median is outside.
        let mut edge = synthetic_cell("edge", "io", 1.3, 1.2, 1.4, 4);
        edge.expected_wall_s = Some(1.0);
        let run = Run { cells: vec![serial, held, edge], ..Run::default() };
        let p = model_misses(&run);
        assert_eq!(p.checked, 3);
        assert_eq!(p.misses.len(), 1, "{:?}", p.misses);
        let miss = &p.misses[0];
        assert_eq!((miss.server.as_str(), miss.expected, miss.measured), ("fake-async", 1.0, 2.0));
        assert!((miss.time_ratio - 2.0).abs() < 1e-9);
    }
}
