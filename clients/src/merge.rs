//! Merging client reports exactly: the implementation is [`harness::merge`] (shared with `lab merge`); the tests
//! here run it on reports built from real recorders, the clients' own path.

pub use harness::merge::merge;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::histogram;
    use crate::outcome::{FailureKind, Outcome};
    use crate::recorder::Recorder;
    use crate::report::{from_run, RunMeta};
    use crate::report::{Cost, OpenLoop};

    fn meta(requests: u64) -> RunMeta {
        RunMeta {
            client: "async-client",
            engine: "lean",
            urls: vec!["http://127.0.0.1:9/".into()],
            requests,
            duration: None,
            concurrency: 10,
            processes: 1,
            keep_alive: true,
            rate: None,
        }
    }

    /// A skewed latency for request `i`: mostly around a millisecond, a long tail up to seconds.
    fn latency(i: u64) -> Duration {
        Duration::from_micros(800 + (i * 7919) % 1_000 + if i.is_multiple_of(97) { 1_000_000 + i * 1_000 } else { 0 })
    }

    #[test]
    fn two_halves_merge_into_the_whole() {
        let (mut whole, mut even, mut odd) = (Recorder::new(false), Recorder::new(false), Recorder::new(false));
        for i in 0..10_000u64 {
            let outcome = if i % 501 == 0 {
                Outcome::failure(FailureKind::Timeout, "slow")
            } else {
                Outcome::Success { status: 200 }
            };
            whole.record(i, outcome.clone(), latency(i));
            if i % 2 == 0 { &mut even } else { &mut odd }.record(i, outcome, latency(i));
        }
        let report = |r: &Recorder, n: u64, wall_s: f64| from_run(&meta(n), r, wall_s, Cost::default());
        let (a, b) = (report(&even, 5_000, 2.0), report(&odd, 5_000, 2.5));
        let merged = merge(&[a.clone(), b.clone()]).unwrap();
        let expected = report(&whole, 10_000, 2.5);
        // Exact: every percentile of the merged histogram is the whole run's.
        assert_eq!(merged.latency_us, expected.latency_us);
        assert_eq!(histogram::decode(merged.latency_histogram_us.as_ref().unwrap()).unwrap(), *whole.histogram());
        assert_eq!((merged.requests, merged.succeeded, merged.failed), (10_000, expected.succeeded, expected.failed));
        assert_eq!(merged.failures, expected.failures);
        assert_eq!((merged.wall_s, merged.processes), (2.5, 2));
        assert!((merged.throughput_rps - (a.throughput_rps + b.throughput_rps)).abs() < 1e-9);
        // An average of the halves' p99s is not the p99 of the whole: the reason the histograms travel.
        assert_ne!(merged.latency_us.p999, (a.latency_us.p999 + b.latency_us.p999) / 2);
    }

    #[test]
    fn reports_that_do_not_fit_are_refused() {
        let mut r = Recorder::new(false);
        r.record(0, Outcome::Success { status: 200 }, Duration::from_millis(1));
        let ok = from_run(&meta(1), &r, 1.0, Cost::default());
        assert!(merge(&[]).is_err());
        let mut other = ok.clone();
        other.concurrency = 3;
        assert!(merge(&[ok.clone(), other]).unwrap_err().starts_with("report 2: a different load"));
        let mut old = ok.clone();
        old.latency_histogram_us = None;
        assert!(merge(&[ok.clone(), old]).unwrap_err().contains("no latency histogram"));
        let mut lying = ok.clone();
        lying.succeeded = 5;
        assert!(merge(&[lying, ok.clone()]).unwrap_err().starts_with("report 1: its histogram holds 1"));
        let mut open = ok.clone();
        open.open_loop = Some(OpenLoop { rate_rps: 10.0, late: 1, late_after_us: 1_000 });
        assert!(merge(&[ok.clone(), open.clone()]).unwrap_err().contains("open and closed loop"));
        let both = merge(&[open.clone(), open]).unwrap();
        assert_eq!(both.open_loop, Some(OpenLoop { rate_rps: 20.0, late: 2, late_after_us: 1_000 }));
    }
}
