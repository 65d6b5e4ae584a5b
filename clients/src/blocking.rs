//! Blocking HTTP with ureq: the calling thread sleeps in `read(2)` until the server answers.
//!
//! This is Python `requests`' counterpart in the original article. One [`ureq::Agent`] is built per run and
//! shared by every thread that sends (an `Agent` is a cheap handle on one connection pool), so connections are
//! reused across requests. The concurrency idea: with blocking I/O, requests in flight = threads;
//! blocking-client has one, pool-client has `-c`.
//!
//! One ureq default is replaced: its resolver looks the host up on *every* request, before the pool is even
//! consulted, and when a timeout is set it does so on a freshly spawned thread — a thread per request. Our
//! `ResolvedOnce` hands back the address `--url` resolved to at start-up (every `--url` shares that origin, so
//! ureq's pool reuses one set of connections for all of them).

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ureq::http::Uri;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};
use ureq::Agent;

use crate::cli::{url_index, CommonArgs, Method};
use crate::outcome::{FailureKind, Outcome};
use crate::recorder::Recorder;
use crate::schedule::{Departure, Schedule, Stop};

/// ureq, configured for measuring: no status-as-error, TCP_NODELAY, an idle pool as large as the thread pool.
pub struct UreqEngine {
    /// The connection pool and configuration, shared by all sending threads.
    agent: Agent,
    /// The `--url`s' methods and URLs, validated once at start-up; a request picks one by index.
    urls: Vec<(Method, String)>,
    /// With `--keep-alive off`, each request says `Connection: close` so that no connection is reused.
    keep_alive: bool,
    /// `--timeout`, for the failure message.
    timeout: Duration,
}

impl UreqEngine {
    /// An engine whose idle pool keeps one connection per thread (`threads`): ureq's default of 3 idle
    /// connections per host would close and reopen connections under `-c 4` and more.
    pub fn new(args: &CommonArgs, threads: usize) -> UreqEngine {
        let idle = threads.max(1);
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(args.timeout))
            .no_delay(true)
            .max_idle_connections_per_host(idle)
            .max_idle_connections(idle)
            .user_agent("clients/ureq")
            .build();
        UreqEngine {
            agent: Agent::with_parts(config, DefaultConnector::default(), ResolvedOnce(args.first_url().addr)),
            urls: args.urls.iter().map(|target| (target.method, target.url.to_string())).collect(),
            keep_alive: args.keep_alive.is_on(),
            timeout: args.timeout,
        }
    }

    /// Sends one request to the `url`-th `--url` (a POST with an empty body: `Content-Length: 0`) and reads the
    /// body to the end (so that the connection can go back to the pool). Blocks the calling thread for the whole
    /// round trip.
    pub fn send(&self, url: usize) -> Outcome {
        let (method, url) = &self.urls[url];
        let close = (!self.keep_alive).then_some(("Connection", "close"));
        let sent = match method {
            Method::Get => close.into_iter().fold(self.agent.get(url), |r, (n, v)| r.header(n, v)).call(),
            Method::Post => close.into_iter().fold(self.agent.post(url), |r, (n, v)| r.header(n, v)).send_empty(),
        };
        let mut response = match sent {
            Ok(response) => response,
            Err(error) => return self.classify(error),
        };
        let status = response.status().as_u16();
        // Blocks until the whole body has arrived.
        match io::copy(&mut response.body_mut().as_reader(), &mut io::sink()) {
            Ok(_) => Outcome::from_status(status),
            Err(error) => self.classify_body_error(error),
        }
    }

    fn classify(&self, error: ureq::Error) -> Outcome {
        let kind = match &error {
            ureq::Error::Timeout(_) => return Outcome::timed_out(self.timeout),
            ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => FailureKind::Connect,
            ureq::Error::Io(io) => io_kind(io),
            _ => FailureKind::Other,
        };
        Outcome::failure(kind, error.to_string())
    }

    fn classify_body_error(&self, error: io::Error) -> Outcome {
        let inner_timeout = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<ureq::Error>())
            .is_some_and(|inner| matches!(inner, ureq::Error::Timeout(_)));
        if inner_timeout {
            return Outcome::timed_out(self.timeout);
        }
        Outcome::failure(io_kind(&error), format!("reading the body: {error}"))
    }
}

/// A ureq resolver that returns the address resolved at start-up, without a lookup (or a thread) per request.
#[derive(Debug)]
struct ResolvedOnce(SocketAddr);

impl Resolver for ResolvedOnce {
    fn resolve(&self, _: &Uri, _: &ureq::config::Config, _: NextTimeout) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let mut addrs = self.empty();
        addrs.push(self.0);
        Ok(addrs)
    }
}

fn io_kind(error: &io::Error) -> FailureKind {
    match error.kind() {
        io::ErrorKind::ConnectionRefused | io::ErrorKind::AddrNotAvailable => FailureKind::Connect,
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => FailureKind::Timeout,
        _ => FailureKind::Other,
    }
}

/// Sends requests on the calling thread, taking request numbers from `next` until `stop` is reached (a count,
/// or `--duration`'s deadline: a request sent before it is finished, none starts after it); the
/// number picks the URL ([`url_index`]). Several threads may share `next` (pool-client): each keeps its own
/// [`Recorder`], so nothing else is shared. With a `schedule` (open loop, [`crate::schedule`]) each request
/// waits until it is due and its latency counts from then.
pub fn drive(engine: &UreqEngine, next: &AtomicU64, stop: Stop, echo: bool, schedule: Option<&Schedule>) -> Recorder {
    let mut recorder = Recorder::new(echo);
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        if stop.reached(index) {
            return recorder;
        }
        let url = url_index(index, engine.urls.len());
        let origin = match schedule {
            None => Instant::now(),
            Some(schedule) => match due(schedule, index, engine.timeout) {
                Some((intended, late)) => {
                    if late {
                        recorder.note_late();
                    }
                    intended
                }
                None => {
                    let reason = format!("no free connection within {:?}", engine.timeout);
                    recorder.record(index, Outcome::failure(FailureKind::Unsent, reason), Duration::ZERO);
                    continue;
                }
            },
        };
        let outcome = engine.send(url);
        recorder.record(index, outcome, origin.elapsed());
    }
}

/// Open loop: sleeps until request `index` is due; returns its intended send time and whether it leaves late,
/// or `None` when it is `timeout` overdue and must be given up.
fn due(schedule: &Schedule, index: u64, timeout: Duration) -> Option<(Instant, bool)> {
    loop {
        match schedule.departure(index, Instant::now(), timeout) {
            // Blocks this thread until the request is due.
            Departure::Early { intended } => std::thread::sleep(intended.saturating_duration_since(Instant::now())),
            Departure::Now { intended, late } => return Some((intended, late)),
            Departure::GiveUp => return None,
        }
    }
}
