//! The probes: `GET /no/param` on a fresh connection at a steady pace while the attack runs — what a well-behaved
//! client sees of a server under a slow-client attack.
//!
//! Concurrency idea: a probe must not wait for the one before it, or one stalled probe would hide the next
//! second of the server's life. A scheduler thread wakes every interval and hands each probe a thread of its
//! own (bounded: at most timeout ÷ interval are in flight), which blocks in ureq until the answer or the timeout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// One probe.
#[derive(Debug, Clone, Copy)]
pub struct Probe {
    /// Since the attack started.
    pub sent_at: Duration,
    /// Until the whole answer was read, or until it failed.
    pub latency: Duration,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Refused, or not connected in time.
    Connect,
    Timeout,
    /// An answer, but not a 200.
    Status(u16),
    Other,
}

impl Outcome {
    /// The failure kinds of the clients' reports: `connect`, `timeout`, `status`, `other` (or `ok`).
    pub fn kind(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Connect => "connect",
            Outcome::Timeout => "timeout",
            Outcome::Status(_) => "status",
            Outcome::Other => "other",
        }
    }
}

/// One `GET url` on a connection of its own. Blocks until the answer or `agent`'s timeout.
pub fn probe_once(agent: &ureq::Agent, url: &str) -> (Duration, Outcome) {
    let started = Instant::now();
    let outcome = match agent.get(url).call() {
        Ok(mut response) => match response.body_mut().read_to_string() {
            Ok(_) if response.status() == 200 => Outcome::Ok,
            Ok(_) => Outcome::Status(response.status().as_u16()),
            Err(ureq::Error::Timeout(_)) => Outcome::Timeout,
            Err(_) => Outcome::Other,
        },
        Err(ureq::Error::Timeout(_)) => Outcome::Timeout,
        Err(ureq::Error::ConnectionFailed) => Outcome::Connect,
        Err(ureq::Error::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => Outcome::Connect,
        Err(_) => Outcome::Other,
    };
    (started.elapsed(), outcome)
}

/// Probes every `interval` from `start` on, until [`Prober::finish`].
pub struct Prober {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<Probe>>,
}

impl Prober {
    pub fn start(url: String, start: Instant, interval: Duration, timeout: Duration) -> Prober {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let handle = thread::Builder::new()
            .name("probe-scheduler".into())
            .spawn(move || {
                // No idle connections kept: every probe opens its own.
                let agent = crate::http::agent(timeout);
                thread::scope(|scope| {
                    let mut probes = Vec::new();
                    let mut next = start;
                    while !stopped.load(Ordering::Relaxed) {
                        let (agent, url) = (&agent, &url);
                        probes.push(scope.spawn(move || {
                            let sent_at = start.elapsed();
                            let (latency, outcome) = probe_once(agent, url);
                            Probe { sent_at, latency, outcome }
                        }));
                        next += interval;
                        // The scheduler sleeps until the next probe is due.
                        thread::sleep(next.saturating_duration_since(Instant::now()));
                    }
                    probes.into_iter().filter_map(|p| p.join().ok()).collect()
                })
            })
            .expect("spawn the probe scheduler");
        Prober { stop, handle }
    }

    /// Stops sending probes and waits for those in flight (each bounded by the timeout). Returns them in order.
    pub fn finish(self) -> Vec<Probe> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}
