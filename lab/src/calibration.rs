//! The calibration of a run: the machine's speed measured at the start and at the end of every run, so that a
//! figure carries the scale of the machine it was measured on, and a run whose machine changed speed mid-run
//! says so.
//!
//! The probes themselves (a cpu loop, a memory chase, a loopback echo) are [`harness::calibrate`]'s; the lab runs
//! them in a child process, the `calibrate` binary built with the servers and clients, so that a debug build of
//! the lab still calibrates with release code, and measures the machine at moments when nothing else of the run
//! does (before the first server starts, after the last one stopped). The child is not pinned: it measures the
//! machine as the run found it, not one core of it. Without that binary (an older `--bin-dir`) the lab runs the
//! probes in its own process, and the record says which build ran them.
//!
//! Drift between start and end is judged by the lab's one noise rule ([`crate::noise`]): a probe drifted when its
//! start and end ranges are disjoint and their medians ≥ 5 % apart. docs/model.md ("Comparing runs across
//! machines") says how `lab compare` uses these figures; `export::prose` says a calibration in words.

use crate::noise::{self, Metric, Range, Verdict};
use crate::records::header::{Calibration, Drift};
pub use harness::calibrate::{Measures, Probe, Samples};
use std::path::Path;

/// As a range of the noise rule (a time: lower is better).
pub fn range(samples: &Samples) -> Range {
    Range { median: samples.median, min: samples.min, max: samples.max }
}

/// The three probes now, run by `bin_dir/calibrate` (or, without it, in the lab's own process), stamped with the
/// time.
pub fn measure(bin_dir: &Path) -> Measures {
    let at = crate::env::rfc3339(std::time::SystemTime::now());
    let binary = bin_dir.join("calibrate");
    let measured = if binary.is_file() {
        // Blocks for the child's second or so; the echo inside it has its own 5 s read timeout.
        match std::process::Command::new(&binary).output() {
            Ok(output) if output.status.success() => serde_json::from_slice::<Measures>(&output.stdout)
                .map_err(|e| format!("{}: unreadable output: {e}", binary.display())),
            Ok(output) => Err(format!("{} exited with {}", binary.display(), output.status)),
            Err(e) => Err(format!("cannot run {}: {e}", binary.display())),
        }
    } else {
        Err(format!("no {}", binary.display()))
    };
    let mut measures = measured.unwrap_or_else(|why| {
        eprintln!("lab: calibrating in the lab's own process ({why})");
        harness::calibrate::measure()
    });
    measures.at = at;
    measures
}

impl Calibration {
    /// A calibration begun now: the machine's details and the start probes (run by `bin_dir/calibrate`).
    pub fn begin(bin_dir: &Path) -> Calibration {
        let microcode = harness::proc::cpu_field("microcode");
        let governor = std::fs::read_to_string("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        Calibration { microcode, governor, start: measure(bin_dir), end: None, drift: Vec::new() }
    }

    /// This calibration with `end` as its end, and the drift between start and end.
    pub fn finished(&self, end: Measures) -> Calibration {
        let drift = drift_between(&self.start, &end);
        Calibration { end: Some(end), drift, ..self.clone() }
    }
}

/// Each probe's drift from `start` to `end`, judged by the noise rule.
pub fn drift_between(start: &Measures, end: &Measures) -> Vec<Drift> {
    Probe::ALL
        .iter()
        .filter_map(|&probe| {
            let (s, e) = (start.get(probe)?, end.get(probe)?);
            let verdict = noise::judge_ranges(range(&s), range(&e), Metric::Wall);
            Some(Drift { probe, factor: e.median / s.median, beyond_noise: !matches!(verdict, Verdict::Tie) })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(median: f64, min: f64, max: f64) -> Option<Samples> {
        Some(Samples { median, min, max, repeats: 5 })
    }

    fn measures(cpu: (f64, f64, f64)) -> Measures {
        Measures {
            cpu_ns: samples(cpu.0, cpu.1, cpu.2),
            memory_ns: samples(90.0, 88.0, 93.0),
            echo_us: samples(20.0, 19.0, 22.0),
            ..Measures::default()
        }
    }

    #[test]
    fn a_probe_that_moved_beyond_the_noise_rule_is_drift_and_is_flagged() {
        let start = measures((10.0, 9.8, 10.2));
        // 20 % slower at the end, ranges disjoint: drift (the machine slowed down).
        let calibration =
            Calibration { start: start.clone(), ..Calibration::default() }.finished(measures((12.0, 11.9, 12.3)));
        let drifted: Vec<_> = calibration.drifted().collect();
        assert_eq!(drifted.len(), 1, "{:?}", calibration.drift);
        assert_eq!(drifted[0].probe, Probe::Cpu);
        assert!((drifted[0].factor - 1.2).abs() < 1e-9);

        // 3 % apart with disjoint ranges, or 20 % apart with overlapping ranges: the noise rule calls both a tie.
        for end in [(10.3, 10.25, 10.4), (12.0, 10.1, 13.0)] {
            let calm = Calibration { start: start.clone(), ..Calibration::default() }.finished(measures(end));
            assert_eq!(calm.drift.len(), 3);
            assert_eq!(calm.drifted().count(), 0, "{:?}", calm.drift);
        }
    }
}
