//! Slow clients (slowloris): 1,000 connections each sending one byte of a request head per second.
//!
//! On the async servers a waiting connection is a task holding no thread, so `/no/param` must go on answering
//! within 1 s throughout the attack: asserted. On the thread servers each connection holds a thread of
//! tiny_http's for as long as the client dawdles; what that costs (threads, memory, latency) is measured and
//! printed, not asserted — the lab reports it. They are measured twice: with the default header timeout (10 s,
//! longer than the attack) and with `--header-timeout-s 1`, the timeout that bounds the damage.
//!
//! The attack runs ~3 s. `cargo nextest run -p servers --test slowloris --no-capture` shows the measurements.

mod common;
mod raw;

use common::Server;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

for_each_server!(slowloris);

/// Connections in the attack.
const CONNECTIONS: usize = 1_000;
/// How long the attack lasts.
const ATTACK: Duration = Duration::from_secs(3);
/// The async servers must answer every probe within this.
const PROBE_LIMIT: Duration = Duration::from_secs(1);
/// How long a probe waits for its answer before it counts as failed. Twice `PROBE_LIMIT`: an async server's probe
/// that took longer than the limit is still seen as slow; a thread server whose every thread a slow connection
/// holds (pool-server) would otherwise keep each probe the whole `common::READ_TIMEOUT`, to report the same
/// failed probe.
const PROBE_TIMEOUT: Duration = PROBE_LIMIT.saturating_mul(2);
/// Time between two probes.
const PROBE_EVERY: Duration = Duration::from_millis(100);
/// What every attacking connection trickles, one byte a second: a head that never ends in time.
const HEAD: &[u8] = b"GET /no/param HTTP/1.1\r\nHost: lab\r\nX-Slowloris: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";

/// The attacking connections.
struct Slowloris {
    connections: Vec<Option<TcpStream>>,
    /// Bytes of `HEAD` each connection has sent so far.
    sent: usize,
}

impl Slowloris {
    /// Opens `n` connections and sends each the first byte.
    fn open(addr: SocketAddr, n: usize) -> Slowloris {
        let connections = (0..n)
            .map(|i| {
                let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("attack connection {i}: {e}"));
                stream.set_nodelay(true).expect("nodelay");
                stream.set_nonblocking(true).expect("nonblocking");
                Some(stream)
            })
            .collect();
        let mut attack = Slowloris { connections, sent: 0 };
        attack.send_next_byte();
        attack
    }

    /// Sends the next byte of the head on every connection the server has not closed.
    fn send_next_byte(&mut self) {
        let Some(&byte) = HEAD.get(self.sent) else { return };
        for slot in &mut self.connections {
            if let Some(stream) = slot {
                // Non-blocking: one byte always fits in the socket buffer of a live connection.
                if stream.write(&[byte]).is_err() {
                    *slot = None;
                }
            }
        }
        self.sent += 1;
    }

    /// Connections the server still holds open: no EOF, no reset, nothing sent back (a 408 precedes a close).
    fn still_open(&self) -> usize {
        let mut buf = [0; 256];
        self.connections
            .iter()
            .flatten()
            .filter(|&stream| {
                let mut stream: &TcpStream = stream;
                matches!(stream.read(&mut buf), Err(e) if e.kind() == ErrorKind::WouldBlock)
            })
            .count()
    }
}

/// What the attack did to one server.
#[derive(Debug)]
struct Measured {
    /// Latency of each `/no/param` probe during the attack; `None` for a probe that failed.
    probes: Vec<Option<Duration>>,
    /// Attack connections the server still held open at the end.
    still_open: usize,
    threads_before: usize,
    threads_peak: usize,
    /// Server threads when the attack ends: back near `threads_before` once a header timeout has cut it off.
    threads_at_end: usize,
    rss_kib_before: u64,
    rss_kib_peak: u64,
}

impl Measured {
    fn slowest(&self) -> Option<Duration> {
        self.probes.iter().flatten().max().copied()
    }

    fn failed(&self) -> usize {
        self.probes.iter().filter(|p| p.is_none()).count()
    }

    fn median(&self) -> Option<Duration> {
        let mut answered: Vec<Duration> = self.probes.iter().flatten().copied().collect();
        answered.sort();
        answered.get(answered.len() / 2).copied()
    }
}

/// Resident memory of `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    harness::proc::ProcSample::read(pid).map_or(0, |s| s.rss_kib)
}

/// Runs the attack against `server` while probing `/no/param` every 100 ms on fresh connections.
fn attack(server: &Server) -> Measured {
    let pid = server.process.pid();
    let addr = server.addr();
    let threads_before = raw::thread_count(pid).unwrap_or(0);
    let rss_kib_before = rss_kib(pid);
    let mut slowloris = Slowloris::open(addr, CONNECTIONS);
    let started = Instant::now();
    let done = AtomicBool::new(false);
    let (mut threads_peak, mut rss_kib_peak) = (threads_before, rss_kib_before);
    let probes = std::thread::scope(|scope| {
        let prober = scope.spawn(|| {
            let mut probes = Vec::new();
            while !done.load(Ordering::SeqCst) {
                let sent = Instant::now();
                // Blocks until the answer, or PROBE_TIMEOUT.
                let answer = common::get_within(addr, "/no/param", PROBE_TIMEOUT);
                let ok = matches!(answer, Ok(response) if response.status == 200);
                probes.push(ok.then(|| sent.elapsed()));
                std::thread::sleep(PROBE_EVERY);
            }
            probes
        });
        // This thread is the attacker: one more byte on every connection each second.
        let mut next_byte = started + Duration::from_secs(1);
        while started.elapsed() < ATTACK {
            if Instant::now() >= next_byte {
                slowloris.send_next_byte();
                next_byte += Duration::from_secs(1);
            }
            threads_peak = threads_peak.max(raw::thread_count(pid).unwrap_or(0));
            rss_kib_peak = rss_kib_peak.max(rss_kib(pid));
            std::thread::sleep(Duration::from_millis(50));
        }
        done.store(true, Ordering::SeqCst);
        prober.join().expect("prober thread")
    });
    let threads_at_end = raw::thread_count(pid).unwrap_or(0);
    let still_open = slowloris.still_open();
    Measured { probes, still_open, threads_before, threads_peak, threads_at_end, rss_kib_before, rss_kib_peak }
}

fn report(name: &str, timeout: &str, m: &Measured) {
    println!(
        "slowloris {name} (header timeout {timeout}): {CONNECTIONS} connections x 1 byte/s for {ATTACK:?}: \
         /no/param probes {} (failed {}), median {:?}, slowest {:?}; server threads {} -> peak {} -> {} at the end; \
         RSS {} -> peak {} KiB; attack connections still open at the end: {}",
        m.probes.len(),
        m.failed(),
        m.median(),
        m.slowest(),
        m.threads_before,
        m.threads_peak,
        m.threads_at_end,
        m.rss_kib_before,
        m.rss_kib_peak,
        m.still_open,
    );
}

fn slowloris(name: &'static str) {
    raw::raise_fd_limit();
    let asynchronous = matches!(
        name,
        "async-std-server" | "smol-server" | "tokio-server" | "lean-server" | "uring-server" | "coroutine-server"
    );
    let timeouts: &[&str] = if asynchronous { &["10"] } else { &["10", "1"] };
    for &timeout in timeouts {
        let mut server = Server::start(name, &["--header-timeout-s", timeout]);
        let measured = attack(&server);
        report(name, timeout, &measured);
        assert!(
            matches!(server.process.try_wait(), Ok(None)),
            "{name}: the server died under the attack; stderr:\n{}",
            server.process.stderr_tail(20)
        );
        assert!(
            raw::panic_line(&server.process.stderr_lines()).is_none(),
            "{name}: {}",
            server.process.stderr_tail(20)
        );
        server.expect("/no/param", 200, "");
        if asynchronous {
            // The attack was real: the server kept (nearly) every slow connection open the whole time...
            assert!(
                measured.still_open >= CONNECTIONS * 9 / 10,
                "{name}: only {} of {CONNECTIONS} attack connections were still open: {measured:?}",
                measured.still_open
            );
            // ...and answered every probe promptly throughout.
            assert!(measured.probes.len() >= 5, "{name}: too few probes: {measured:?}");
            assert_eq!(measured.failed(), 0, "{name}: probes failed during the attack: {measured:?}");
            let slowest = measured.slowest().expect("answered probes");
            assert!(slowest < PROBE_LIMIT, "{name}: /no/param took {slowest:?} during the attack: {measured:?}");
        }
    }
}
