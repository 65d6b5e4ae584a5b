//! Recording outcomes without sharing: one [`Recorder`] (and so one HDR histogram) per worker thread or
//! executor thread, merged once at the end.
//!
//! The concurrency idea: the hot path — a response arrived, note its latency — touches only memory owned by the
//! worker that sent the request. No lock, no atomic, no cache line bouncing between cores; the cost of
//! combining is paid once, after the clock has stopped ([`Recorder::merge`]). Child processes of
//! `async-client --processes` ship their recorder to the parent as a [`RecorderSnapshot`].
//!
//! With `--timeline` each recorder also keeps its first [`TIMELINE_CAP`] requests' send and response instants
//! (still its own memory, no sharing); the report turns them into offsets from the first send. A timeline does
//! not cross processes: a snapshot leaves it behind.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::histogram;
use crate::outcome::{response_line, FailureKind, Outcome};
use harness::report::{ConnectTime, Failures, Latency, TimelineEntry, TIMELINE_CAP};

/// Set once by `--timeline`, before any recorder exists: every recorder made afterwards keeps a timeline.
static TIMELINES: AtomicBool = AtomicBool::new(false);

/// Makes every recorder created from now on keep a timeline (`--timeline`).
pub fn record_timelines() {
    TIMELINES.store(true, Ordering::Relaxed);
}

/// One request of a timeline, as instants of this process.
#[derive(Debug, Clone, Copy)]
struct Span {
    request: u64,
    start: Instant,
    end: Instant,
    ok: bool,
}

/// One worker's tally. Owned by exactly one thread (or one executor thread's tasks, through a `RefCell`).
#[derive(Debug, Clone)]
pub struct Recorder {
    /// Latencies of succeeded requests, in microseconds. Auto-resizing, so an idle worker's histogram stays small.
    latency_us: Histogram<u64>,
    /// Connection setup times, from `connect()` to established, in microseconds: only engines that open their
    /// own sockets record them ([`Recorder::record_connect`]).
    connect_us: Histogram<u64>,
    /// Requests that got a 2xx response.
    succeeded: u64,
    /// Failed requests, by kind.
    failures: Failures,
    /// Open loop: requests sent more than [`crate::schedule::LATE_AFTER`] after their intended time.
    late: u64,
    /// The first failure's reason, kept for the one-line message printed when everything failed.
    first_failure: Option<String>,
    /// Human mode: print a line per response as it arrives. This takes the stdout lock, which is why `--json`
    /// (the mode the lab measures with) never echoes.
    echo: bool,
    /// `--timeline`: the first [`TIMELINE_CAP`] requests this recorder saw; None without the flag.
    timeline: Option<Vec<Span>>,
}

impl Recorder {
    /// A recorder that prints a line per response when `echo` is set.
    pub fn new(echo: bool) -> Recorder {
        Recorder {
            latency_us: histogram::new(),
            connect_us: histogram::new(),
            succeeded: 0,
            late: 0,
            failures: Failures::default(),
            first_failure: None,
            echo,
            timeline: TIMELINES.load(Ordering::Relaxed).then(Vec::new),
        }
    }

    /// A recorder that keeps a timeline whatever the flag says (for tests and merges).
    pub fn with_timeline(echo: bool) -> Recorder {
        Recorder { timeline: Some(Vec::new()), ..Recorder::new(echo) }
    }

    /// Notes the outcome of request number `index` (0-based) that took `latency` from send to last byte.
    pub fn record(&mut self, index: u64, outcome: Outcome, latency: Duration) {
        if self.echo {
            println!("{}", response_line(index, &outcome, latency));
        }
        if let Some(spans) = self.timeline.as_mut().filter(|s| s.len() < TIMELINE_CAP) {
            // The response has just ended: the request left `latency` ago.
            let end = Instant::now();
            let start = end.checked_sub(latency).unwrap_or(end);
            spans.push(Span { request: index, start, end, ok: matches!(outcome, Outcome::Success { .. }) });
        }
        match outcome {
            Outcome::Success { .. } => {
                self.succeeded += 1;
                let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
                // An auto-resizing histogram only refuses values beyond u64 range tricks; such a latency
                // (centuries) cannot happen, so the error is ignored rather than turned into a panic.
                let _ = self.latency_us.record(micros);
            }
            Outcome::Failure { kind, reason, .. } => {
                match kind {
                    FailureKind::Connect => self.failures.connect += 1,
                    FailureKind::Timeout => self.failures.timeout += 1,
                    FailureKind::Status => self.failures.status += 1,
                    FailureKind::Other => self.failures.other += 1,
                    FailureKind::Unsent => self.failures.unsent += 1,
                }
                if self.first_failure.is_none() {
                    self.first_failure = Some(format!("{}: {}", kind.name(), reason));
                }
            }
        }
    }

    /// Notes that a TCP connection was established `took` after its `connect()` started. A connect that failed is
    /// not timed: it shows as a `connect` failure of its request.
    pub fn record_connect(&mut self, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let _ = self.connect_us.record(micros);
    }

    /// The connect-time summary; `None` when no connect was timed (the engine cannot, or every connection was
    /// opened during the warm-up).
    pub fn connect_time(&self) -> Option<ConnectTime> {
        let h = &self.connect_us;
        (!h.is_empty()).then(|| ConnectTime { connections: h.len(), us: histogram::summary(h) })
    }

    /// Open loop: notes that a request left more than [`crate::schedule::LATE_AFTER`] after its intended time.
    pub fn note_late(&mut self) {
        self.late += 1;
    }

    /// Folds another worker's tally into this one (after the clock has stopped).
    pub fn merge(&mut self, other: &Recorder) {
        self.succeeded += other.succeeded;
        self.late += other.late;
        self.failures.add(&other.failures);
        if self.first_failure.is_none() {
            self.first_failure.clone_from(&other.first_failure);
        }
        // Both histograms auto-resize, so adding cannot run out of range.
        let _ = self.latency_us.add(&other.latency_us);
        let _ = self.connect_us.add(&other.connect_us);
        if let Some(theirs) = &other.timeline {
            let ours = self.timeline.get_or_insert_with(Vec::new);
            ours.extend_from_slice(theirs);
            ours.sort_by_key(|s| (s.start, s.request));
            ours.truncate(TIMELINE_CAP);
        }
    }

    /// The timeline (`--timeline`): each request's send and end in µs from the earliest send, in send order;
    /// None when the recorder kept none.
    pub fn timeline(&self) -> Option<Vec<TimelineEntry>> {
        let spans = self.timeline.as_ref()?;
        let first = spans.iter().map(|s| s.start).min();
        let mut out: Vec<TimelineEntry> = spans
            .iter()
            .map(|s| {
                let us = |t: Instant| {
                    first.map_or(0, |f| u64::try_from(t.duration_since(f).as_micros()).unwrap_or(u64::MAX))
                };
                TimelineEntry { request: s.request, start_us: us(s.start), end_us: us(s.end), ok: s.ok }
            })
            .collect();
        out.sort_by_key(|e| (e.start_us, e.request));
        Some(out)
    }

    /// Merges every recorder of a run into one.
    pub fn merge_all(recorders: impl IntoIterator<Item = Recorder>) -> Recorder {
        let mut total = Recorder::new(false);
        for recorder in recorders {
            total.merge(&recorder);
        }
        total
    }

    pub fn succeeded(&self) -> u64 {
        self.succeeded
    }

    pub fn failures(&self) -> &Failures {
        &self.failures
    }

    pub fn first_failure(&self) -> Option<&str> {
        self.first_failure.as_deref()
    }

    /// Open loop: requests sent late.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// The latency summary of succeeded requests; all zeros when none succeeded.
    pub fn latency(&self) -> Latency {
        histogram::summary(&self.latency_us)
    }

    /// The latency histogram of succeeded requests (microseconds), for the report's serialized copy.
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.latency_us
    }

    /// A serializable copy, for sending from a child process to its parent.
    pub fn snapshot(&self) -> RecorderSnapshot {
        RecorderSnapshot {
            succeeded: self.succeeded,
            late: self.late,
            failures: self.failures,
            first_failure: self.first_failure.clone(),
            latency_us_buckets: self
                .latency_us
                .iter_recorded()
                .map(|bucket| (bucket.value_iterated_to(), bucket.count_at_value()))
                .collect(),
            connect_us_buckets: self
                .connect_us
                .iter_recorded()
                .map(|bucket| (bucket.value_iterated_to(), bucket.count_at_value()))
                .collect(),
        }
    }

    /// Rebuilds a recorder from a child's snapshot (never echoing: the child already printed its lines).
    pub fn from_snapshot(snapshot: &RecorderSnapshot) -> Recorder {
        let mut recorder = Recorder::new(false);
        recorder.succeeded = snapshot.succeeded;
        recorder.late = snapshot.late;
        recorder.failures = snapshot.failures;
        recorder.first_failure.clone_from(&snapshot.first_failure);
        for &(value, count) in &snapshot.latency_us_buckets {
            let _ = recorder.latency_us.record_n(value, count);
        }
        for &(value, count) in &snapshot.connect_us_buckets {
            let _ = recorder.connect_us.record_n(value, count);
        }
        recorder
    }
}

/// A [`Recorder`] as JSON: the histogram travels as its non-empty buckets, `(highest equivalent value, count)`,
/// which land in the same buckets when recorded again — so merging across processes is exact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecorderSnapshot {
    pub succeeded: u64,
    #[serde(default)]
    pub late: u64,
    pub failures: Failures,
    pub first_failure: Option<String>,
    pub latency_us_buckets: Vec<(u64, u64)>,
    /// The connect-time histogram, the same way.
    #[serde(default)]
    pub connect_us_buckets: Vec<(u64, u64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_workers_adds_counts_and_keeps_quantiles() {
        let mut a = Recorder::new(false);
        let mut b = Recorder::new(false);
        for ms in 1..=100 {
            a.record(ms, Outcome::Success { status: 200 }, Duration::from_millis(ms));
        }
        b.record(0, Outcome::from_status(400), Duration::from_millis(1));
        b.record(1, Outcome::timed_out(Duration::from_millis(5)), Duration::from_millis(5));
        b.record(2, Outcome::Success { status: 204 }, Duration::from_secs(10));
        let total = Recorder::merge_all([a, b]);
        assert_eq!(total.succeeded(), 101);
        assert_eq!(total.failures().status, 1);
        assert_eq!(total.failures().timeout, 1);
        assert_eq!(total.first_failure(), Some("status: HTTP 400"));
        let latency = total.latency();
        assert!((49_900..=51_100).contains(&latency.p50), "p50 {}", latency.p50);
        assert!(latency.max >= 9_990_000, "max {}", latency.max);
        assert!((1_000..=1_001).contains(&latency.min), "min {}", latency.min);
    }

    #[test]
    fn snapshot_round_trip_is_exact() {
        let mut a = Recorder::new(false);
        for us in [1u64, 17, 999, 12_345, 1_234_567, 98_765_432] {
            a.record(0, Outcome::Success { status: 200 }, Duration::from_micros(us));
        }
        a.record(0, Outcome::failure(FailureKind::Connect, "refused"), Duration::ZERO);
        let json = serde_json::to_string(&a.snapshot()).unwrap();
        let back = Recorder::from_snapshot(&serde_json::from_str(&json).unwrap());
        assert_eq!(back.latency(), a.latency());
        assert_eq!(back.failures(), a.failures());
        assert_eq!(back.succeeded(), 6);
    }

    #[test]
    fn connect_times_merge_across_workers_and_processes() {
        let mut a = Recorder::new(false);
        assert_eq!(a.connect_time(), None, "nothing timed is not a zero");
        for us in 1..=99 {
            a.record_connect(Duration::from_micros(us * 10));
        }
        let mut b = Recorder::new(false);
        // One SYN dropped and retransmitted: a connect of just over a second.
        b.record_connect(Duration::from_millis(1_030));
        let b = Recorder::from_snapshot(&serde_json::from_str(&serde_json::to_string(&b.snapshot()).unwrap()).unwrap());
        let total = Recorder::merge_all([a, b]);
        let connect = total.connect_time().unwrap();
        assert_eq!(connect.connections, 100);
        let connect = connect.us;
        assert!((495..=505).contains(&connect.p50), "p50 {}", connect.p50);
        assert!((985..=995).contains(&connect.p99), "p99 {}", connect.p99);
        assert!((1_029_000..=1_031_000).contains(&connect.max), "max {}", connect.max);
    }

    #[test]
    fn a_timeline_merges_workers_in_send_order_and_is_capped() {
        assert_eq!(Recorder::new(false).timeline(), None, "no timeline unless asked");
        let (mut a, mut b) = (Recorder::with_timeline(false), Recorder::with_timeline(false));
        b.record(1, Outcome::Success { status: 200 }, Duration::from_millis(30));
        std::thread::sleep(Duration::from_millis(5));
        a.record(0, Outcome::from_status(500), Duration::from_millis(10));
        let total = Recorder::merge_all([a, b]);
        let t = total.timeline().unwrap();
        assert_eq!(t.len(), 2);
        // b's request left 30 ms before its end; a's 10 ms before an end at least 5 ms later: b's went first.
        assert_eq!((t[0].request, t[0].start_us, t[0].ok), (1, 0, true));
        assert!((29_000..=31_000).contains(&t[0].end_us), "{:?}", t[0]);
        assert_eq!((t[1].request, t[1].ok), (0, false));
        assert!(t[1].start_us >= 25_000 - 1_000 && t[1].end_us - t[1].start_us >= 9_000, "{:?}", t[1]);
        let mut many = Recorder::with_timeline(false);
        for i in 0..(TIMELINE_CAP as u64 + 20) {
            many.record(i, Outcome::Success { status: 200 }, Duration::from_micros(100));
        }
        assert_eq!(many.timeline().unwrap().len(), TIMELINE_CAP);
    }

    #[test]
    fn nothing_succeeded_means_zero_latency() {
        let mut a = Recorder::new(false);
        a.record(0, Outcome::failure(FailureKind::Other, "reset"), Duration::from_millis(3));
        assert_eq!(a.latency(), Latency::default());
    }
}
