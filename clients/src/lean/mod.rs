//! The lean engine: HTTP/1.1 keep-alive GETs (or body-less POSTs) straight over smol's `Async<TcpStream>`, for raw throughput.
//!
//! surf stays the default engine of async-client — it is the library under comparison. This one is the lab's
//! instrument, built to cost as little as possible per request: the request bytes are encoded once per `--url`
//! at start-up and written as-is, each slot owns one connection (TCP_NODELAY) for its whole life, the response
//! is read into one buffer per executor thread, its head parsed in place with httparse and its body skipped
//! without copying ([`http1`]). A request is one `write`, a wait for readiness, and usually one `read` that finds
//! the whole response: no read is tried before the reactor says there is something to read, and a slot waiting
//! for its response holds no buffer, so 10,000 connections in flight cost no more than their sockets and tasks
//! (docs: results/experiments/lean-client-burst.txt). A new connection's first request is written straight
//! after `connect(2)`, not after a wait for writability, so in a burst each request leaves right after its own
//! handshake ([`first_write`]). A connection the server closes (`Connection: close`, HTTP/1.0, or an idle keep-alive timeout noticed on the next request)
//! is reopened. The `--url`s share one origin, so a slot sends any of them on its one connection.

pub mod event_loop;
pub mod http1;

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};

use smol::io::AsyncWriteExt;
use smol::Async;
use socket2::{Domain, Protocol, Socket, Type};

use crate::cli::{CommonArgs, Method};
use crate::outcome::{FailureKind, Outcome};
use crate::runner::Slot;
use http1::{parse_head, FramingError};

/// Initial read buffer per executor thread: a whole small response fits, so one `read` usually suffices.
const BUFFER_BYTES: usize = 8 * 1024;
/// A response head (or chunk-size line) larger than this is refused.
const MAX_BUFFER_BYTES: usize = 1024 * 1024;

/// What every slot shares: where to connect and the requests, already encoded.
pub struct LeanEngine {
    /// The first `--url`'s address: every `--url` shares its origin, so any request can go on any connection.
    addr: SocketAddr,
    /// One request per `--url` (`GET /path HTTP/1.1` and headers, or a POST's), encoded once at start-up and written as-is:
    /// sending picks one by index and copies nothing.
    requests: Box<[Box<[u8]>]>,
    keep_alive: bool,
    /// Source addresses to spread connections over (1: let the kernel choose), for a loopback server only.
    source_addresses: u8,
    /// Slots made so far: slot i connects from source address i mod `source_addresses`.
    slots: AtomicUsize,
}

impl LeanEngine {
    pub fn new(args: &CommonArgs, source_addresses: u8) -> LeanEngine {
        let keep_alive = args.keep_alive.is_on();
        let requests = args
            .urls
            .iter()
            .map(|target| {
                // A POST carries an empty body, announced (RFC 9110 §8.6: a request whose method defines a meaning
                // for content says its length).
                let body = match target.method {
                    Method::Get => "",
                    Method::Post => "Content-Length: 0\r\n",
                };
                let request = format!(
                    "{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: clients/lean\r\nAccept: */*\r\n{body}{}\r\n",
                    target.method.as_str(),
                    target.path_and_query(),
                    target.host_header(),
                    if keep_alive { "" } else { "Connection: close\r\n" }
                );
                request.into_bytes().into_boxed_slice()
            })
            .collect();
        LeanEngine { addr: args.first_url().addr, requests, keep_alive, source_addresses, slots: AtomicUsize::new(0) }
    }

    /// A slot: not connected yet; it connects on its first request.
    pub fn slot(&self) -> LeanSlot<'_> {
        LeanSlot { engine: self, connection: None, pending: Vec::new(), connect_time: None, source: self.next_source() }
    }

    /// The source address of the next slot: slot i connects from 127.0.0.(1 + i mod `source_addresses`) to a
    /// loopback server, or from wherever the kernel chooses.
    fn next_source(&self) -> Option<SocketAddr> {
        let index = self.slots.fetch_add(1, Ordering::Relaxed);
        match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_loopback() && self.source_addresses > 1 => {
                let host = 1 + (index % usize::from(self.source_addresses)) as u8;
                Some(SocketAddr::from((Ipv4Addr::new(127, 0, 0, host), 0)))
            }
            _ => None,
        }
    }
}

/// One connection and its buffer, reused for every request this slot sends.
pub struct LeanSlot<'a> {
    engine: &'a LeanEngine,
    /// `None` until the first request, and after the server closed it or a request failed on it.
    connection: Option<Async<TcpStream>>,
    /// The unconsumed bytes of the response being read (a partial head or chunk-size line) between two reads;
    /// empty, and unallocated, while a response arrives in one read.
    pending: Vec<u8>,
    /// How long the last connection this slot opened took to establish, until the runner takes it.
    connect_time: Option<std::time::Duration>,
    /// The source address this slot connects from, when the engine spreads them.
    source: Option<SocketAddr>,
}

/// Why an exchange failed, before it is turned into an [`Outcome`].
enum ExchangeError {
    /// Opening the connection failed.
    Connect(io::Error),
    /// A reused connection was closed by the server before any byte of the response: it had closed the idle
    /// connection. Retried once on a fresh connection.
    Stale(String),
    Io(io::Error),
    Framing(FramingError),
}

impl fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExchangeError::Connect(e) => write!(f, "cannot connect: {e}"),
            ExchangeError::Stale(what) => f.write_str(what),
            ExchangeError::Io(e) => write!(f, "{e}"),
            ExchangeError::Framing(e) => write!(f, "{e}"),
        }
    }
}

impl ExchangeError {
    fn outcome(&self) -> Outcome {
        let kind = match self {
            ExchangeError::Connect(e) if e.kind() == io::ErrorKind::TimedOut => FailureKind::Timeout,
            ExchangeError::Connect(_) => FailureKind::Connect,
            ExchangeError::Io(e) if e.kind() == io::ErrorKind::TimedOut => FailureKind::Timeout,
            ExchangeError::Stale(_) | ExchangeError::Io(_) | ExchangeError::Framing(_) => FailureKind::Other,
        };
        Outcome::failure(kind, self.to_string())
    }
}

impl From<FramingError> for ExchangeError {
    fn from(e: FramingError) -> Self {
        ExchangeError::Framing(e)
    }
}

/// Why a request write failed when the server had closed the connection.
const UNSENT: &str = "connection closed by the server before the request was sent";

/// Whether `e`, from the first write on a new connection, is the handshake's own failure.
fn is_connect_failure(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(e.kind(), ConnectionRefused | TimedOut | HostUnreachable | NetworkUnreachable | AddrNotAvailable)
}

/// A failure on a connection: on a reused one, a reset or a close before the response is stale (the server had
/// closed it while idle) and worth one retry on a fresh connection; otherwise an I/O failure.
fn stale(reused: bool, what: String, e: Option<io::Error>) -> ExchangeError {
    match e {
        Some(e) if !reused || !is_reset(&e) => ExchangeError::Io(e),
        _ if reused => ExchangeError::Stale(what),
        _ => ExchangeError::Io(io::Error::new(io::ErrorKind::UnexpectedEof, what)),
    }
}

fn is_reset(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionAborted)
}

impl LeanSlot<'_> {
    /// One request to the `url`-th `--url` and its response, on this slot's connection (opening it if needed).
    /// Returns the status.
    async fn exchange(&mut self, url: usize) -> Result<u16, ExchangeError> {
        let LeanSlot { engine, connection, pending, connect_time, source } = self;
        let reused = connection.is_some();
        let stale = |what: String, e: Option<io::Error>| stale(reused, what, e);
        let request = &engine.requests[url];
        let (stream, unsent) = match connection {
            Some(stream) => (stream, &request[..]),
            None => {
                let connecting = std::time::Instant::now();
                let stream = connection.insert(start_connect(engine.addr, *source).map_err(ExchangeError::Connect)?);
                let sent = match first_write(stream, request).await {
                    Ok(sent) => sent,
                    Err(e) if is_connect_failure(&e) => return Err(ExchangeError::Connect(e)),
                    Err(e) => return Err(stale(UNSENT.into(), Some(e))),
                };
                *connect_time = Some(connecting.elapsed());
                (stream, &request[sent..])
            }
        };
        // The request, or what the first write on a new connection left of it (usually nothing). Normally
        // completes at once: the request is far smaller than the socket buffer.
        if let Err(e) = stream.write_all(unsent).await {
            return Err(stale(UNSENT.into(), Some(e)));
        }

        // Read the response: wait for readiness, then read what arrived into this thread's scratch buffer and
        // frame it there. Never a read straight after the write: the server has had no time to answer, so that
        // read would only return would-block (one wasted syscall per request). And the slot owns no read buffer:
        // only the unconsumed tail of a read (`pending`), empty in the usual case.
        pending.clear();
        let mut framing = Framing::Head;
        loop {
            // Yields until the reactor reports the socket readable (the server's bytes, or its close, arrived).
            smol::future::poll_fn(|cx| stream.poll_readable(cx)).await.map_err(ExchangeError::Io)?;
            let step = SCRATCH.with_borrow_mut(|scratch| read_step(stream.get_ref(), scratch, pending, &mut framing));
            match step {
                Ok(None) => {}
                // The readiness was spurious: wait again.
                Err(ReadError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(ReadError::Io(e)) if matches!(framing, Framing::Head) && pending.is_empty() => {
                    return Err(stale(format!("connection reset before the response: {e}"), Some(e)))
                }
                Err(ReadError::Io(e)) => return Err(ExchangeError::Io(e)),
                Err(ReadError::Exchange(e)) => return Err(e),
                Err(ReadError::ClosedBeforeResponse) => {
                    return Err(stale("connection closed before the response".into(), None))
                }
                Ok(Some(done)) => {
                    // Bytes after the response would mean the server sent something we did not ask for: start
                    // afresh.
                    if done.close || !engine.keep_alive || done.leftover {
                        *connection = None;
                    }
                    return Ok(done.status);
                }
            }
        }
    }
}

thread_local! {
    /// Every read of this executor thread lands here: its slots' tasks never run at once, and no read's bytes
    /// outlive the synchronous step that frames them, so one buffer per thread serves all its connections
    /// (a buffer per slot was 8 KiB of memory touched per connection). Grows only for an oversized head.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; BUFFER_BYTES]);
}

/// Where the response being read stands.
enum Framing {
    /// The head is not complete yet (its bytes so far are the slot's `pending`).
    Head,
    /// The head was parsed: its status and reuse, and the body's framing.
    Body { status: u16, close: bool, body: http1::Body },
}

/// A complete response.
struct Done {
    status: u16,
    close: bool,
    /// Bytes followed the response.
    leftover: bool,
}

/// Why one read step failed.
enum ReadError {
    Io(io::Error),
    Exchange(ExchangeError),
    /// The server closed the connection before any byte of the response.
    ClosedBeforeResponse,
}

impl From<FramingError> for ReadError {
    fn from(e: FramingError) -> Self {
        ReadError::Exchange(ExchangeError::Framing(e))
    }
}

/// One read on a socket the reactor reported readable: `pending`'s bytes are put in front of what arrives, the
/// whole is framed, and the unconsumed tail (a partial head or chunk-size line) goes back to `pending`.
/// `Ok(None)`: the response is not complete yet.
fn read_step(
    mut stream: impl Read,
    scratch: &mut Vec<u8>,
    pending: &mut Vec<u8>,
    framing: &mut Framing,
) -> Result<Option<Done>, ReadError> {
    let kept = pending.len();
    if kept >= scratch.len() {
        grow(scratch).map_err(ReadError::Exchange)?;
    }
    scratch[..kept].copy_from_slice(pending);
    // Does not block: the socket is non-blocking (`Async`); would-block here means the readiness was spurious.
    let n = stream.read(&mut scratch[kept..]).map_err(ReadError::Io)?;
    let filled = kept + n;
    let mut start = 0;
    if let Framing::Head = framing {
        if n == 0 {
            return Err(if filled == 0 {
                ReadError::ClosedBeforeResponse
            } else {
                ReadError::Exchange(ExchangeError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed mid-head",
                )))
            });
        }
        let Some(head) = parse_head(&scratch[..filled])? else {
            pending.clear();
            pending.extend_from_slice(&scratch[..filled]);
            return Ok(None);
        };
        start = head.len;
        *framing = Framing::Body { status: head.status, close: head.close, body: head.body };
    }
    let Framing::Body { status, close, body } = framing else { unreachable!("the head was parsed above") };
    // Skip the body: bytes [start, filled) of the scratch buffer are unconsumed.
    start += body.feed(&scratch[start..filled])?;
    if n == 0 && !body.is_done() {
        body.finish_at_eof()?;
    }
    pending.clear();
    if body.is_done() {
        return Ok(Some(Done { status: *status, close: *close, leftover: start != filled }));
    }
    // Keep only the unconsumed tail (a partial chunk-size line) for the next read.
    pending.extend_from_slice(&scratch[start..filled]);
    Ok(None)
}

/// Starts a connection to `addr`, from `source` when given: a non-blocking `connect(2)`, registered with the
/// reactor. It does not wait for the handshake: [`first_write`] does, only if it has to.
fn start_connect(addr: SocketAddr, source: Option<SocketAddr>) -> io::Result<Async<TcpStream>> {
    Async::new_nonblocking(connecting_socket(addr, source)?)
}

/// A non-blocking socket to `addr`, from `source` when given, its `connect(2)` started (TCP_NODELAY set).
fn connecting_socket(addr: SocketAddr, source: Option<SocketAddr>) -> io::Result<TcpStream> {
    let socket = match source {
        Some(source) => harness::net::socket_from(source)?,
        None => Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?,
    };
    socket.set_nonblocking(true)?;
    harness::net::start_connect(&socket, addr)?;
    socket.set_tcp_nodelay(true)?;
    Ok(TcpStream::from(socket))
}

/// The first request on a connection just started: written straight after `connect(2)`, without waiting for
/// the reactor to say the socket is writable. On loopback the handshake has nearly always completed inside the
/// `connect(2)` call (the SYN, the SYN-ACK and our ACK are all processed before the call returns), so the
/// request leaves at once. Waiting for writability first would hold every request of a burst until the
/// executor thread had started all its other connections and only then polled the reactor: the requests of
/// 10,000 connections would leave together at the end of the connect phase instead of each right after its own
/// handshake (results/experiments/burst-timeline.txt). Returns the bytes written (the rest, if any, is written
/// the usual way). A failed handshake (refused, unreachable) shows here as the send's error.
async fn first_write(stream: &Async<TcpStream>, request: &[u8]) -> io::Result<usize> {
    match (&mut stream.get_ref()).write(request) {
        // Still in SYN-SENT (tcp_sendmsg waits for the connection, and a non-blocking socket cannot wait).
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        written => return written,
    }
    // Yields until the handshake completes (or fails): the socket turns writable.
    stream.writable().await?;
    match stream.get_ref().take_error()? {
        Some(e) => Err(e),
        None => Ok(0),
    }
}

fn grow(buffer: &mut Vec<u8>) -> Result<(), ExchangeError> {
    if buffer.len() >= MAX_BUFFER_BYTES {
        return Err(ExchangeError::Framing(FramingError(format!(
            "response head or chunk line larger than {MAX_BUFFER_BYTES} bytes"
        ))));
    }
    buffer.resize(buffer.len() * 2, 0);
    Ok(())
}

impl Slot for LeanSlot<'_> {
    async fn send(&mut self, url: usize) -> Outcome {
        let result = match self.exchange(url).await {
            Err(ExchangeError::Stale(_)) => {
                // The server had closed our idle connection; that says nothing about this request. Once more,
                // on a fresh connection.
                self.connection = None;
                self.exchange(url).await
            }
            result => result,
        };
        match result {
            Ok(status) => Outcome::from_status(status),
            Err(error) => {
                self.connection = None;
                error.outcome()
            }
        }
    }

    fn reset(&mut self) {
        // The response may still be on its way: this connection is out of step for good.
        self.connection = None;
    }

    fn take_connect_time(&mut self) -> Option<std::time::Duration> {
        self.connect_time.take()
    }
}
