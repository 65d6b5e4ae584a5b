//! A raw TCP client for hostile input: it writes whatever bytes it is given and reports what came back as an
//! [`Outcome`] — a response, the connection closed or reset, or silence — instead of failing on the first
//! surprise the way a well-behaved client (or `common`'s strict one) must.
//!
//! Shared by the servers' reliability tests (the hostile catalogue, the limits, slow clients, fuzzing) and
//! `lab verify --strict`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The largest response head accepted before the bytes are called garbage.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// What the server did after a request was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A complete HTTP response; `server` is its `Server` header, if any; `close` whether it says
    /// `Connection: close`.
    Response { status: u16, body: Vec<u8>, server: Option<String>, close: bool },
    /// The server closed the connection (EOF) without starting another response.
    Closed,
    /// The connection was reset (ECONNRESET or EPIPE): the server closed it with our bytes still unread.
    Reset,
    /// Nothing within the timeout, and the connection is still open.
    Silent,
    /// Bytes that are not an HTTP/1.x response, or a response cut short.
    Garbage(String),
}

impl Outcome {
    /// A response, as opposed to the connection's end, silence or garbage.
    pub fn is_response(&self) -> bool {
        matches!(self, Outcome::Response { .. })
    }

    /// Whether the connection is over: closed or reset.
    pub fn is_closed(&self) -> bool {
        matches!(self, Outcome::Closed | Outcome::Reset)
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Outcome::Response { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Response { status, body, .. } => {
                let body = String::from_utf8_lossy(body);
                let shown: String = body.chars().take(80).collect();
                write!(f, "{status} {shown:?}")
            }
            Outcome::Closed => f.write_str("closed"),
            Outcome::Reset => f.write_str("reset"),
            Outcome::Silent => f.write_str("silent (no response, connection still open)"),
            Outcome::Garbage(what) => write!(f, "garbage: {what}"),
        }
    }
}

/// One connection that sends raw bytes and reads back [`Outcome`]s.
pub struct RawConnection {
    stream: TcpStream,
    /// Bytes read but not yet consumed: the start of the next response, when several arrive at once.
    pending: Vec<u8>,
    /// How long [`RawConnection::next_outcome`] waits for a whole response.
    timeout: Duration,
}

impl RawConnection {
    /// Connects with TCP_NODELAY; each outcome must arrive within `timeout`.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<RawConnection> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(RawConnection { stream, pending: Vec::new(), timeout })
    }

    /// Writes all of `bytes`. Blocks while the server does not read (up to the timeout); an error usually means
    /// the server has closed the connection, which is for [`RawConnection::next_outcome`] to report.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Half-closes the connection: the server reads EOF, as from a client that went away mid-request.
    pub fn close_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// How long each following outcome may take.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    /// Reads until one whole response, EOF, a reset or the timeout.
    pub fn next_outcome(&mut self) -> Outcome {
        self.next_outcome_of(false)
    }

    /// Like [`RawConnection::next_outcome`] for the response to a HEAD request: a head and no body, whatever
    /// its `Content-Length` says (RFC 9110 §9.3.2). A body sent anyway is read as the next response.
    pub fn next_head_outcome(&mut self) -> Outcome {
        self.next_outcome_of(true)
    }

    fn next_outcome_of(&mut self, head: bool) -> Outcome {
        let deadline = Instant::now() + self.timeout;
        loop {
            match parse_response(&self.pending, head) {
                Parsed::Complete { status, body, server, close, used } => {
                    self.pending.drain(..used);
                    return Outcome::Response { status, body, server, close };
                }
                Parsed::Invalid(what) => return Outcome::Garbage(what),
                Parsed::Partial => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return if self.pending.is_empty() {
                    Outcome::Silent
                } else {
                    Outcome::Garbage(format!("incomplete response: {:?}", lossy(&self.pending)))
                };
            }
            let _ = self.stream.set_read_timeout(Some(deadline - now));
            let mut chunk = [0; 16 * 1024];
            // Blocks until the server sends something, closes, or the deadline passes.
            match self.stream.read(&mut chunk) {
                Ok(0) if self.pending.is_empty() => return Outcome::Closed,
                Ok(0) => match parse_until_eof(&self.pending) {
                    Some(outcome) => {
                        self.pending.clear();
                        return outcome;
                    }
                    None => return Outcome::Garbage(format!("cut short by EOF: {:?}", lossy(&self.pending))),
                },
                Ok(n) => self.pending.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                Err(e) if is_reset(&e) => return Outcome::Reset,
                Err(e) => return Outcome::Garbage(format!("read error: {e}")),
            }
        }
    }

    /// Connects and sends `input` at once, then half-closes when `close_write`. A write error is not returned:
    /// it means the server stopped reading and closed (a 431 halfway through a 1 MB target), and what it
    /// answered before that is still to be read.
    pub fn send_all(addr: SocketAddr, timeout: Duration, input: &[u8], close_write: bool) -> io::Result<RawConnection> {
        let mut connection = RawConnection::connect(addr, timeout)?;
        let _ = connection.send(input);
        if close_write {
            connection.close_write();
        }
        Ok(connection)
    }

    /// The outcomes of responses 1 to `steps` in turn, read as the response to a HEAD request where
    /// `head_steps` names the step, until the first outcome for which `stop` holds (kept as the last).
    /// `last_wait`, when given, is the timeout of step `steps` alone: how long to watch for one response more.
    pub fn read_steps(
        &mut self,
        steps: usize,
        head_steps: &[usize],
        last_wait: Option<Duration>,
        stop: impl Fn(&Outcome) -> bool,
    ) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        for step in 1..=steps {
            if let (true, Some(wait)) = (step == steps, last_wait) {
                self.set_timeout(wait);
            }
            let outcome = if head_steps.contains(&step) { self.next_head_outcome() } else { self.next_outcome() };
            let last = stop(&outcome);
            outcomes.push(outcome);
            if last {
                break;
            }
        }
        outcomes
    }

    /// Whether the server has closed this connection, waiting at most `wait` to find out. Data the server
    /// sends first (a 408 or 431 before closing) is read and discarded.
    pub fn closed_within(&mut self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            let _ = self.stream.set_read_timeout(Some(deadline - now));
            let mut chunk = [0; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if is_reset(&e) => return true,
                Err(_) => return false,
            }
        }
    }
}

/// ECONNRESET, EPIPE and friends: the peer is gone.
pub fn is_reset(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionAborted)
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned()
}

enum Parsed {
    Complete { status: u16, body: Vec<u8>, server: Option<String>, close: bool, used: usize },
    Partial,
    Invalid(String),
}

/// Parses one response off the front of `bytes`: head, then a `Content-Length` body. A response without a
/// length is only complete at EOF ([`parse_until_eof`]).
fn parse_response(bytes: &[u8], no_body: bool) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if bytes.len() > MAX_RESPONSE_HEAD => {
            return Parsed::Invalid("response head too long".into())
        }
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(e) => return Parsed::Invalid(format!("{e}: {:?}", lossy(bytes))),
    };
    let status = response.code.unwrap_or_default();
    let server = server_header(response.headers);
    let close = says_close(response.headers);
    if no_body {
        return Parsed::Complete { status, body: Vec::new(), server, close, used: head_len };
    }
    let length = response.headers.iter().find(|h| h.name.eq_ignore_ascii_case("content-length")).map(|h| h.value);
    let Some(length) = length else {
        return Parsed::Partial; // the body runs to EOF
    };
    let Some(length) = std::str::from_utf8(length).ok().and_then(|l| l.trim().parse::<usize>().ok()) else {
        return Parsed::Invalid(format!("bad Content-Length in {:?}", lossy(bytes)));
    };
    if bytes.len() < head_len + length {
        return Parsed::Partial;
    }
    let body = bytes[head_len..head_len + length].to_vec();
    Parsed::Complete { status, body, server, close, used: head_len + length }
}

fn says_close(headers: &[httparse::Header<'_>]) -> bool {
    headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("connection")
            && String::from_utf8_lossy(h.value).split(',').any(|t| t.trim().eq_ignore_ascii_case("close"))
    })
}

fn server_header(headers: &[httparse::Header<'_>]) -> Option<String> {
    let server = headers.iter().find(|h| h.name.eq_ignore_ascii_case("server"))?;
    Some(String::from_utf8_lossy(server.value).into_owned())
}

/// A response whose body ran to EOF (no `Content-Length`).
fn parse_until_eof(bytes: &[u8]) -> Option<Outcome> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => Some(Outcome::Response {
            status: response.code.unwrap_or_default(),
            body: bytes[len..].to_vec(),
            server: server_header(response.headers),
            close: true,
        }),
        _ => None,
    }
}
