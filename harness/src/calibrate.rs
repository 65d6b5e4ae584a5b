//! The machine's calibration probes: three fixed pieces of work whose time says how fast this machine is, the
//! same on every machine and every commit, so that two runs can be put on one scale.
//!
//! - **cpu**: a fixed integer loop (a 64-bit LCG step and a xor-shift per iteration, one dependency chain) on one
//!   thread: the core's speed, in ns per iteration;
//! - **memory**: a dependent pointer chase through a 64 MiB buffer (each load's address is the previous load's
//!   value, so no two loads overlap): the latency of memory past the caches, in ns per load;
//! - **echo**: the round trip of one byte through the smallest thread-per-connection echo server on 127.0.0.1,
//!   in µs: the loopback stack and the wake-up of a thread blocked in `read(2)` on each side — what every request
//!   of the lab pays.
//!
//! Each probe is repeated [`REPEATS`] times (under a second in all, in a release build). The `calibrate` binary
//! of the clients package prints [`measure`] as JSON, so that the lab, whatever its own build, runs the probes
//! built like the servers it measures.

use serde::{Deserialize, Serialize};
use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

/// Repetitions of each probe: at 5 against 5, the ranges of one unchanged machine are disjoint by chance in
/// 0.8 % of runs (2 ÷ C(10, 5)), so a drift flag is rarely a false alarm.
pub const REPEATS: usize = 5;
/// Iterations of the cpu loop per repetition (about 10–20 ms on a current core, in a release build).
pub const CPU_ITERATIONS: u64 = 8_000_000;
/// The memory probe's buffer: larger than the last-level cache of the machines the lab runs on.
const MEMORY_BYTES: usize = 64 << 20;
/// Dependent loads per repetition of the memory probe.
const MEMORY_LOADS: u64 = 200_000;
/// Round trips per repetition of the echo probe.
const ECHO_ROUND_TRIPS: u32 = 400;

/// One of the probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Probe {
    /// The fixed integer loop (ns per iteration).
    #[default]
    Cpu,
    /// The pointer chase (ns per load).
    Memory,
    /// The loopback echo (µs per round trip).
    Echo,
}

impl Probe {
    pub const ALL: &'static [Probe] = &[Probe::Cpu, Probe::Memory, Probe::Echo];

    pub fn as_str(self) -> &'static str {
        match self {
            Probe::Cpu => "cpu",
            Probe::Memory => "memory",
            Probe::Echo => "echo",
        }
    }

    /// The unit of the probe's figures.
    pub fn unit(self) -> &'static str {
        match self {
            Probe::Cpu => "ns/iteration",
            Probe::Memory => "ns/load",
            Probe::Echo => "µs/round trip",
        }
    }
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A probe's repetitions: the median and the range (lower is faster).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Samples {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub repeats: u64,
}

impl Samples {
    /// From the figures of the repetitions (None when there are none, or any is not a positive finite number).
    pub fn of(figures: &[f64]) -> Option<Samples> {
        if figures.is_empty() || figures.iter().any(|f| !f.is_finite() || *f <= 0.0) {
            return None;
        }
        let mut sorted = figures.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 };
        Some(Samples { median, min: sorted[0], max: sorted[n - 1], repeats: n as u64 })
    }

    /// Both sets of repetitions as one: the widest range, the mean of the medians.
    pub fn pooled(&self, other: &Samples) -> Samples {
        Samples {
            median: (self.median + other.median) / 2.0,
            min: self.min.min(other.min),
            max: self.max.max(other.max),
            repeats: self.repeats + other.repeats,
        }
    }
}

/// One calibration: the three probes at one moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Measures {
    /// RFC 3339 time the calibration started (filled in by the lab, which knows the calendar).
    #[serde(default)]
    pub at: String,
    /// Which build ran the probes: `release`, `debug` (a debug build's figures are not the machine's).
    #[serde(default)]
    pub build: String,
    pub cpu_ns: Option<Samples>,
    pub memory_ns: Option<Samples>,
    /// None when the loopback echo could not run (no 127.0.0.1): the reason is in `echo_error`.
    pub echo_us: Option<Samples>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo_error: Option<String>,
    /// How long the calibration took (s).
    pub took_s: f64,
}

impl Measures {
    pub fn get(&self, probe: Probe) -> Option<Samples> {
        match probe {
            Probe::Cpu => self.cpu_ns,
            Probe::Memory => self.memory_ns,
            Probe::Echo => self.echo_us,
        }
    }
}

/// The three probes, now.
pub fn measure() -> Measures {
    let clock = Instant::now();
    let cpu_ns = Samples::of(&(0..REPEATS).map(|_| cpu_loop(CPU_ITERATIONS) * 1e9).collect::<Vec<_>>());
    let memory_ns = memory_probe();
    let (echo_us, echo_error) = match echo_round_trips(ECHO_ROUND_TRIPS, REPEATS) {
        Ok(figures) => (Samples::of(&figures.iter().map(|s| s * 1e6).collect::<Vec<_>>()), None),
        Err(e) => (None, Some(format!("the loopback echo on 127.0.0.1: {e}"))),
    };
    let build = if cfg!(debug_assertions) { "debug" } else { "release" }.to_string();
    Measures { at: String::new(), build, cpu_ns, memory_ns, echo_us, echo_error, took_s: clock.elapsed().as_secs_f64() }
}

/// Runs the cpu loop for `iterations` and returns the seconds per iteration.
pub fn cpu_loop(iterations: u64) -> f64 {
    let clock = Instant::now();
    let mut x: u64 = black_box(0x9E37_79B9_7F4A_7C15);
    for _ in 0..black_box(iterations) {
        // One LCG step (Knuth's MMIX constants) and a xor-shift: a dependency chain the compiler cannot fold.
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        x ^= x >> 29;
    }
    black_box(x);
    clock.elapsed().as_secs_f64() / iterations.max(1) as f64
}

/// The memory probe's repetitions, in ns per load.
fn memory_probe() -> Option<Samples> {
    let slots = MEMORY_BYTES / std::mem::size_of::<u64>();
    // Slot i holds the next slot of a full-period LCG over the buffer (modulus 2^k, a ≡ 1 mod 4, c odd: every
    // slot is visited once per cycle), so the chase goes all over the 64 MiB without a stride a prefetcher sees.
    let mask = slots as u64 - 1;
    let chain: Vec<u64> =
        (0..slots as u64).map(|i| (i.wrapping_mul(2_862_933_555_777_941_757) + 3_037) & mask).collect();
    let figures: Vec<f64> = (0..REPEATS).map(|_| pointer_chase(&chain, MEMORY_LOADS) * 1e9).collect();
    Samples::of(&figures)
}

/// Follows `chain` for `loads` dependent loads; seconds per load.
fn pointer_chase(chain: &[u64], loads: u64) -> f64 {
    let clock = Instant::now();
    let mut at = black_box(0u64);
    for _ in 0..loads {
        at = chain[at as usize];
    }
    black_box(at);
    clock.elapsed().as_secs_f64() / loads.max(1) as f64
}

/// `repeats` batches of `round_trips` one-byte round trips through an echo server on 127.0.0.1; the seconds per
/// round trip of each batch.
pub fn echo_round_trips(round_trips: u32, repeats: usize) -> std::io::Result<Vec<f64>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    // The echo server: one thread, one connection, blocked in read() until the next byte arrives.
    let server = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut stream, _) = listener.accept()?;
        stream.set_nodelay(true)?;
        let mut byte = [0u8; 1];
        loop {
            match stream.read(&mut byte)? {
                0 => return Ok(()),
                _ => stream.write_all(&byte)?,
            }
        }
    });
    let mut client = TcpStream::connect(addr)?;
    client.set_nodelay(true)?;
    client.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    let mut figures = Vec::with_capacity(repeats);
    let mut byte = [7u8; 1];
    for _ in 0..repeats {
        let clock = Instant::now();
        for _ in 0..round_trips {
            client.write_all(&byte)?;
            // Blocks until the echo thread has woken, read the byte and written it back.
            client.read_exact(&mut byte)?;
        }
        figures.push(clock.elapsed().as_secs_f64() / f64::from(round_trips.max(1)));
    }
    drop(client);
    server.join().map_err(|_| std::io::Error::other("the calibration echo thread panicked"))??;
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_loop_takes_time_in_proportion_to_its_iterations() {
        // Seconds per iteration is the same at N and 8 N when the loop is really executed (not folded away):
        // total time grows about 8× — within a factor 3 either way on a loaded 2-core machine.
        let n = 2_000_000;
        let total =
            |iterations: u64| (0..3).map(|_| cpu_loop(iterations) * iterations as f64).fold(f64::INFINITY, f64::min);
        let (short, long) = (total(n), total(8 * n));
        let ratio = long / short;
        assert!(short > 0.0 && (8.0 / 3.0..8.0 * 3.0).contains(&ratio), "{short} s vs {long} s: {ratio}");
    }

    #[test]
    fn the_echo_round_trip_is_positive_and_finite() {
        let figures = echo_round_trips(200, 3).unwrap();
        assert_eq!(figures.len(), 3);
        // A loopback round trip takes more than 100 ns (two system calls) and far less than the 5 s timeout.
        assert!(figures.iter().all(|s| s.is_finite() && *s > 1e-7 && *s < 0.5), "{figures:?}");
    }

    #[test]
    fn a_full_calibration_records_every_probe_quickly() {
        let m = measure();
        for probe in Probe::ALL {
            let s = m.get(*probe).unwrap_or_else(|| panic!("{probe} missing: {m:?}"));
            assert!(s.min > 0.0 && s.min <= s.median && s.median <= s.max && s.repeats == REPEATS as u64, "{s:?}");
        }
        // The budget: a few seconds per run for both calibrations. A debug build is several times slower.
        let budget = if cfg!(debug_assertions) { 10.0 } else { 2.5 };
        assert!(m.took_s < budget, "{m:?}");
    }

    #[test]
    fn samples_take_the_median_and_refuse_nonsense() {
        assert_eq!(Samples::of(&[3.0, 1.0, 2.0]), Some(Samples { median: 2.0, min: 1.0, max: 3.0, repeats: 3 }));
        assert_eq!(Samples::of(&[1.0, 4.0]).map(|s| s.median), Some(2.5));
        assert_eq!(Samples::of(&[]), None);
        assert_eq!(Samples::of(&[1.0, f64::NAN]), None);
        assert_eq!(Samples::of(&[1.0, 0.0]), None);
    }
}
