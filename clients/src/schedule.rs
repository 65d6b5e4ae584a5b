//! Open-loop load (`--rate R`): requests leave on a fixed arrival schedule, whatever the server does.
//!
//! A closed-loop client sends the next request when a response arrives, so a slow server slows the client down
//! and the time a request would have waited is never measured: *coordinated omission* (Gil Tene; wrk2). Here
//! request `i` of a run has an intended send time, `start + i / R`, fixed before the run begins. A worker (a
//! slot of the async runner, a thread of pool-client) takes the next request number, waits for its intended
//! time if it is early, sends, and measures latency **from the intended time**, not from when it actually sent:
//! a request that waited for a free connection carries that wait in its latency, as a user's request would.
//!
//! `-c` caps the connections in flight. When all of them are busy at a request's intended time, the request
//! waits for the first one to come free and is *late*; if it is still waiting `--timeout` after its intended
//! time it is given up without being sent (*unsent*, a failure of its own kind): the answer would have come too
//! late anyway, and the run stays bounded however far behind the server falls.

use std::time::{Duration, Instant};

/// A request sent more than this after its intended time counts as late. Larger than the jitter of a timer
/// wake-up on a busy machine (well under a millisecond), smaller than any latency the lab compares.
pub const LATE_AFTER: Duration = Duration::from_millis(1);

/// Requests per second accepted by `--rate`: at least one request a minute, at most ten million a second.
pub const MIN_RATE: f64 = 1.0 / 60.0;
pub const MAX_RATE: f64 = 10_000_000.0;

/// A fixed arrival schedule: request `i` is meant to leave `i / rate` seconds after the start.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    start: Instant,
    rate: f64,
}

/// When a worker is ready to send request `i`, where it stands against the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Departure {
    /// Before the intended time: wait until then, then send (on time).
    Early { intended: Instant },
    /// At or after the intended time, by at most `--timeout`: send now. `late` when behind by more than
    /// [`LATE_AFTER`] — a connection was not free when the request was due.
    Now { intended: Instant, late: bool },
    /// `--timeout` or more behind: give the request up unsent.
    GiveUp,
}

impl Schedule {
    /// A schedule of `rate` requests per second starting at `start`.
    pub fn new(start: Instant, rate: f64) -> Schedule {
        Schedule { start, rate }
    }

    /// Requests per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Request `index`'s intended send time.
    pub fn intended(&self, index: u64) -> Instant {
        self.start + Duration::from_secs_f64(index as f64 / self.rate)
    }

    /// Where request `index` stands at `now`, for a request deadline of `timeout`.
    pub fn departure(&self, index: u64, now: Instant, timeout: Duration) -> Departure {
        let intended = self.intended(index);
        if now < intended {
            return Departure::Early { intended };
        }
        let behind = now - intended;
        if behind >= timeout {
            Departure::GiveUp
        } else {
            Departure::Now { intended, late: behind > LATE_AFTER }
        }
    }
}

/// When a phase stops taking new requests: after `limit` request numbers, or (`--duration`, closed loop) once
/// `deadline` has passed — whichever comes first. A request already sent when the deadline passes is finished
/// (or times out); none starts after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stop {
    pub limit: u64,
    pub deadline: Option<Instant>,
}

impl Stop {
    /// Stop after `limit` requests.
    pub fn after(limit: u64) -> Stop {
        Stop { limit, deadline: None }
    }

    /// Stop after `limit` requests or at `started + duration`, whichever comes first.
    pub fn at(limit: u64, started: Instant, duration: Option<Duration>) -> Stop {
        Stop { limit, deadline: duration.map(|d| started + d) }
    }

    /// Whether request number `index`, about to start now, must not: the count is reached or the deadline passed.
    pub fn reached(&self, index: u64) -> bool {
        index >= self.limit || self.deadline.is_some_and(|deadline| Instant::now() >= deadline)
    }
}

/// Parses `--rate`: requests per second, decimal allowed.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text.parse().map_err(|_| "not a number of requests per second".to_string())?;
    if !rate.is_finite() || rate < MIN_RATE {
        return Err(format!("must be at least {MIN_RATE:.4} requests per second (one a minute)"));
    }
    if rate > MAX_RATE {
        return Err(format!("must be at most {MAX_RATE} requests per second"));
    }
    Ok(rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intended_times_follow_the_rate() {
        let start = Instant::now();
        let schedule = Schedule::new(start, 200.0);
        assert_eq!(schedule.intended(0), start);
        assert_eq!(schedule.intended(200), start + Duration::from_secs(1));
        assert_eq!(schedule.intended(1), start + Duration::from_millis(5));
    }

    #[test]
    fn early_on_time_late_and_given_up() {
        let start = Instant::now();
        let s = Schedule::new(start, 10.0);
        let timeout = Duration::from_secs(1);
        let at = |ms: u64| start + Duration::from_millis(ms);
        assert_eq!(s.departure(1, at(50), timeout), Departure::Early { intended: at(100) });
        assert_eq!(s.departure(1, at(100), timeout), Departure::Now { intended: at(100), late: false });
        assert_eq!(s.departure(1, at(101), timeout), Departure::Now { intended: at(100), late: false });
        assert_eq!(s.departure(1, at(102), timeout), Departure::Now { intended: at(100), late: true });
        assert_eq!(s.departure(1, at(1_099), timeout), Departure::Now { intended: at(100), late: true });
        assert_eq!(s.departure(1, at(1_100), timeout), Departure::GiveUp);
    }

    #[test]
    fn stops_at_the_count_or_the_deadline() {
        let now = Instant::now();
        assert!(!Stop::after(3).reached(2));
        assert!(Stop::after(3).reached(3));
        let open = Stop::at(u64::MAX, now, Some(Duration::from_secs(3600)));
        assert!(!open.reached(1_000_000));
        let past = Stop::at(u64::MAX, now - Duration::from_secs(2), Some(Duration::from_secs(1)));
        assert!(past.reached(0));
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("250"), Ok(250.0));
        assert_eq!(parse_rate("0.5"), Ok(0.5));
        for bad in ["0", "-1", "NaN", "inf", "1e9", "x", "0.001"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }
}
