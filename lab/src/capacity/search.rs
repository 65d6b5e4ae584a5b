//! The rate search, apart from any process: coarse doubling from a start rate until a probe fails, then
//! bisection between the last rate that held and the first that did not.
//!
//! It relies on one property of a server, which the probes themselves do not guarantee on a noisy machine: a
//! server that holds a rate holds every lower one. A probe that fails below one that held is kept in the record
//! (the curve shows it) and the bisection simply continues from it.

/// What the search found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Found {
    /// The highest rate that held (`None`: not even the lowest rate tried).
    pub held: Option<f64>,
    /// The lowest rate above `held` that did not hold (`None`: every rate up to the maximum held — the bound is
    /// the client's or the sweep's, not the server's).
    pub failed: Option<f64>,
}

/// Searches with `probe(rate) -> held?`: doubles from `start` up to `max`; if `start` itself fails, halves down
/// to `start / 8`; then bisects `steps` times between the highest rate that held and the lowest that failed.
pub fn search(start: f64, max: f64, steps: u32, mut probe: impl FnMut(f64) -> bool) -> Found {
    let (mut held, mut failed) = (None::<f64>, None::<f64>);
    let mut rate = start.min(max);
    loop {
        if probe(rate) {
            held = Some(rate);
            if rate >= max {
                break;
            }
            rate = (rate * 2.0).min(max);
        } else {
            failed = Some(rate);
            break;
        }
    }
    if held.is_none() {
        while rate > start / 8.0 {
            rate /= 2.0;
            if probe(rate) {
                held = Some(rate);
                break;
            }
            failed = Some(rate);
        }
    }
    if let (Some(mut low), Some(mut high)) = (held, failed) {
        for _ in 0..steps {
            let mid = ((low + high) / 2.0).round();
            if mid <= low || mid >= high {
                break;
            }
            if probe(mid) {
                low = mid;
            } else {
                high = mid;
            }
        }
        held = Some(low);
        failed = Some(high);
    }
    Found { held, failed }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic server that holds every rate up to `capacity`; counts the probes.
    fn server(capacity: f64) -> impl FnMut(f64) -> bool {
        move |rate| rate <= capacity
    }

    #[test]
    fn brackets_the_capacity_within_the_bisection_precision() {
        let found = search(100.0, 1e6, 6, server(1_337.0));
        let (held, failed) = (found.held.unwrap(), found.failed.unwrap());
        assert!(held <= 1_337.0 && failed > 1_337.0, "{found:?}");
        // Coarse bracket 800..1600, six halvings: within 800 / 64 = 12.5.
        assert!(failed - held <= 13.0, "{found:?}");
    }

    #[test]
    fn every_rate_held_means_no_failure_to_report() {
        let mut probes = Vec::new();
        let found = search(100.0, 1_000.0, 4, |r| {
            probes.push(r);
            true
        });
        assert_eq!(found, Found { held: Some(1_000.0), failed: None });
        assert_eq!(probes, [100.0, 200.0, 400.0, 800.0, 1_000.0]);
    }

    #[test]
    fn a_server_below_the_start_rate_is_found_going_down() {
        let found = search(100.0, 1e6, 3, server(30.0));
        assert!(found.held.unwrap() <= 30.0 && found.failed.unwrap() > 30.0, "{found:?}");
        let nothing = search(100.0, 1e6, 3, server(1.0));
        assert_eq!(nothing.held, None);
        assert_eq!(nothing.failed, Some(12.5));
    }
}
