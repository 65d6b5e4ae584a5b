//! One line per request on stderr, like tornado's access log: time, status, method, target, peer, duration.

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

#[derive(Clone, Copy)]
pub struct AccessLog {
    /// `--quiet`: benchmarks turn the log off so that writing it is not what they measure.
    quiet: bool,
}

impl AccessLog {
    pub fn new(quiet: bool) -> AccessLog {
        AccessLog { quiet }
    }

    /// Whether lines are written: a server that must keep a request's method and target to log them later
    /// (the lean server, across a wait) keeps them only then.
    pub fn enabled(&self) -> bool {
        !self.quiet
    }

    /// Starts a request's line: its start time, method and target, kept until the reply is known (across a
    /// wait, in the servers that answer later). `None` when the log is off: nothing is kept.
    pub fn begin(&self, method: &str, target: &str) -> Option<Pending> {
        self.enabled().then(|| Pending { started: Instant::now(), method: method.into(), target: target.into() })
    }

    /// Writes the line that [`AccessLog::begin`] started, now that the reply's status is known.
    pub fn finish(&self, pending: Pending, status: u16, peer: Option<SocketAddr>) {
        self.record(pending.started, status, &pending.method, &pending.target, peer);
    }

    pub fn record(&self, started: Instant, status: u16, method: &str, target: &str, peer: Option<SocketAddr>) {
        if self.quiet {
            return;
        }
        let ms = started.elapsed().as_secs_f64() * 1e3;
        let peer = peer.map_or_else(|| "-".to_string(), |p| p.to_string());
        let now = humantime::format_rfc3339_millis(SystemTime::now());
        // Formatted first and written with one call, so lines from concurrent requests never interleave.
        let line = format!("{now} {status} {method} {target} {peer} {ms:.2}ms\n");
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

/// A request's line in the making: what [`AccessLog::finish`] needs once the reply is known.
pub struct Pending {
    started: Instant,
    method: Box<str>,
    target: Box<str>,
}
