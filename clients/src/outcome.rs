//! What became of one request — success, or a failure of one kind — and the line the human output prints for
//! it as it arrives.
//!
//! The lowest layer of a client, below the recorder and the report: the engines (surf, lean, ureq) produce an
//! [`Outcome`] per request, each worker's recorder tallies it (and prints its line when the output is human),
//! and the report counts the kinds.

use std::time::Duration;

/// Why a request did not succeed; the kinds of the report's `failures` object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The connection could not be opened (refused, unreachable).
    Connect,
    /// No complete response within `--timeout`.
    Timeout,
    /// A complete response with a status other than 2xx.
    Status,
    /// Anything else (reset, malformed or truncated response).
    Other,
    /// Open loop (`--rate`): never sent, because no connection came free within `--timeout` of the request's
    /// intended send time ([`crate::schedule`]).
    Unsent,
}

impl FailureKind {
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Connect => "connect",
            FailureKind::Timeout => "timeout",
            FailureKind::Status => "status",
            FailureKind::Other => "other",
            FailureKind::Unsent => "unsent",
        }
    }
}

/// What became of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx response whose body was read to the end.
    Success { status: u16 },
    /// Anything else.
    Failure {
        kind: FailureKind,
        /// The response status, when a response arrived.
        status: Option<u16>,
        /// A short human-readable reason (only the first one is kept by the recorder).
        reason: String,
    },
}

impl Outcome {
    pub fn failure(kind: FailureKind, reason: impl Into<String>) -> Outcome {
        Outcome::Failure { kind, status: None, reason: reason.into() }
    }

    /// The outcome of a complete response: success for 2xx, a `status` failure otherwise.
    pub fn from_status(status: u16) -> Outcome {
        if (200..300).contains(&status) {
            Outcome::Success { status }
        } else {
            Outcome::Failure { kind: FailureKind::Status, status: Some(status), reason: format!("HTTP {status}") }
        }
    }

    /// The outcome of a request cut short by `--timeout`.
    pub fn timed_out(timeout: Duration) -> Outcome {
        Outcome::failure(FailureKind::Timeout, format!("no complete response within {timeout:?}"))
    }
}

/// The line printed for each response (or failure) as it arrives; `index` is 0-based.
pub fn response_line(index: u64, outcome: &Outcome, latency: Duration) -> String {
    let ms = latency.as_secs_f64() * 1e3;
    let number = format!("#{}", index + 1);
    match outcome {
        Outcome::Success { status } => format!("{number:<5} {status}  {ms:.1} ms"),
        Outcome::Failure { kind, status: Some(status), .. } => {
            format!("{number:<5} {status}  {ms:.1} ms  (failed: {})", kind.name())
        }
        Outcome::Failure { kind, status: None, reason } => {
            format!("{number:<5} ---  {ms:.1} ms  (failed: {}: {reason})", kind.name())
        }
    }
}
