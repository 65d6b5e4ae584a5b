//! One connection's coroutine: lean's HTTP/1.1 (`servers/src/lean/http1.rs`) written as blocking code.
//!
//! lean's event loop keeps a state machine per connection and returns to epoll wherever it would block; here the
//! same protocol is a plain loop — read until a head parses, carry the request out, write the response, skip
//! the request's body, go round again — and what lean stores in its `State` variants lives in local variables
//! on the coroutine's stack. Every read and write on may's socket, may's `sleep` and a receive on may's channel
//! can yield the coroutine (each is marked where it happens); nothing else here does.
//!
//! The framing and the limits are lean's: the same parser decides, and this code acts on its decisions the way
//! lean's `connection.rs` does (pipelined requests are parsed from the buffer before reading more; a body is
//! skipped after the response, or left unread and the connection closed; a refusal closes the connection).

use super::{Shared, Watch};
use crate::access_log::Pending;
use crate::lean::connection::{CONTINUE, LINGER, LINGER_BYTES};
use crate::lean::http1::{self, ChunkedSkip, Framing, Parsed};
use crate::workload::{BodyError, PendingForm, Plan, Reply, MAX_FORM_BYTES};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// Bytes read from the socket at a time, into a buffer on the coroutine's stack; they are copied to the
/// connection's input only while they wait to be parsed. Small on purpose: every 4 KiB page of stack a
/// coroutine has touched stays resident while it waits, and a 4 KiB chunk cost each waiting connection one more
/// page (19.2 against 15.6 KiB per in-flight connection, results/experiments/coroutine-memory.md). A head
/// longer than this takes a few reads.
const READ_CHUNK: usize = 1024;

/// A connection and what it has read: owned by its coroutine.
pub(super) struct Connection {
    shared: Arc<Shared>,
    stream: may::net::TcpStream,
    peer: SocketAddr,
    watch: Arc<Watch>,
    /// Bytes read and not yet parsed start at `input[start]`; empty, and unallocated, between requests.
    input: Vec<u8>,
    start: usize,
}

/// The connection cannot go on: the client closed it or failed, a deadline passed, or a shutdown cut it. It
/// closes without another word.
struct Ended;

type Result<T> = std::result::Result<T, Ended>;

/// After a request has been answered.
enum Next {
    /// Keep-alive: wait for another request.
    Request,
    /// Close (after a lingering read).
    Close,
}

/// A request head, taken out of the input buffer.
struct Request {
    plan: Plan,
    /// Bytes the head took in the buffer.
    len: usize,
    body: Framing,
    keep_alive: bool,
    /// A HEAD request: the response carries no body (RFC 9110 §9.3.2).
    head_only: bool,
    /// The framing of a body held back for `100 Continue`.
    held_back: Option<Framing>,
    logged: Option<Pending>,
}

/// Where a body being read or skipped ends.
enum Rest {
    Length(u64),
    Chunked(ChunkedSkip),
}

impl Connection {
    pub(super) fn new(shared: Arc<Shared>, stream: may::net::TcpStream, peer: SocketAddr, watch: Arc<Watch>) -> Self {
        Connection { shared, stream, peer, watch, input: Vec::new(), start: 0 }
    }

    /// Serves requests until the connection closes. Dropping `self` at the end closes the socket.
    pub(super) fn serve(mut self) {
        loop {
            match self.exchange() {
                Ok(Next::Request) => continue,
                Ok(Next::Close) => return self.linger(),
                Err(Ended) => return,
            }
        }
    }

    /// One request: its head, its work, its response, its body.
    fn exchange(&mut self) -> Result<Next> {
        if !self.watch.waiting(&self.shared) {
            return Err(Ended);
        }
        // The header timeout: the whole head must arrive by then. On a keep-alive connection it is also how long
        // the connection may stay idle.
        let deadline = Instant::now() + self.shared.limits.header_timeout;
        let request = loop {
            let shared = &self.shared;
            match http1::parse_head(&self.input[self.start..], shared.limits.max_head_bytes) {
                Parsed::Partial => self.fill(deadline)?,
                Parsed::Dropped => return Err(Ended),
                Parsed::Refused { status, reason } => {
                    if !self.watch.busy() {
                        return Err(Ended);
                    }
                    // Nothing after a malformed head can be trusted: answer, then close.
                    self.input = Vec::new();
                    self.start = 0;
                    self.respond(Reply::text(status, reason), false, false, None)?;
                    return Ok(Next::Close);
                }
                Parsed::Head(head) => {
                    let logged = shared.log.begin(head.method, &head.target);
                    break Request {
                        plan: shared.workload.plan(head.method, &head.target, head.content_type),
                        len: head.len,
                        body: head.body,
                        keep_alive: head.keep_alive,
                        head_only: head.method == "HEAD",
                        held_back: head.held_back,
                        logged,
                    };
                }
            }
        };
        // A shutdown that cut the connection while the head arrived wins: the request is not served.
        if !self.watch.busy() {
            return Err(Ended);
        }
        // Counts the request for a clean shutdown until its response is written.
        let workload = Arc::clone(&self.shared.workload);
        let in_flight = workload.start_request();
        self.start += request.len;
        self.release_input();
        let Request { plan, mut body, mut keep_alive, head_only, held_back, logged, .. } = request;

        let plan = match plan {
            Plan::ReadForm(pending) => {
                // A body held back for `100 Continue` is read once the client has been told.
                let framing = held_back.unwrap_or(body);
                body = Framing::None;
                let (plan, unread) = self.read_form(pending, framing, held_back.is_some())?;
                if unread {
                    // The rest of the body is not read: close after the answer.
                    keep_alive = false;
                    body = Framing::Unread;
                }
                plan
            }
            plan => plan,
        };
        let reply = self.carry_out(plan);
        keep_alive &= !self.shared.stopping() && !reply.close;
        self.respond(reply, keep_alive, head_only, logged)?;
        drop(in_flight);
        self.skip_body(body)?;
        Ok(if keep_alive { Next::Request } else { Next::Close })
    }

    /// Carries out a plan; the coroutine yields wherever the request waits.
    fn carry_out(&self, plan: Plan) -> Reply {
        match plan {
            Plan::Ready(reply) => reply,
            Plan::Sleep { wait, reply } => {
                // The coroutine yields here: it parks on may's timer, holding its stack and nothing else, while
                // its worker thread runs other coroutines.
                may::coroutine::sleep(wait);
                // may resumes a sleeper on its one timer thread. Yielding once hands the coroutine back to a
                // worker, so that the timer thread only fires timers: writing this response, or a `/block`
                // pipelined behind it, would otherwise run there and delay every other sleeper's wake-up.
                may::coroutine::yield_now();
                reply
            }
            Plan::Block { wait, reply } => {
                // The anti-pattern, on purpose: this sleeps the may worker thread, and every coroutine it would
                // have run (and every socket its epoll watches) waits with it.
                std::thread::sleep(wait);
                reply
            }
            // The database and the factorial go to the worker pool; the coroutine yields until the reply comes.
            blocking => self.shared.on_pool(blocking),
        }
    }

    /// Reads a form body (`POST /db/visit`) framed by `framing`, after a `100 Continue` if the client was `told`
    /// to send it, and plans the request with it. Also says whether the body was left unread (partly or whole).
    fn read_form(&mut self, pending: PendingForm, framing: Framing, told: bool) -> Result<(Plan, bool)> {
        let workload = Arc::clone(&self.shared.workload);
        let mut rest = match framing {
            Framing::None => return Ok((workload.plan_form(pending, Ok(b"")), false)),
            Framing::Length(n) if n <= MAX_FORM_BYTES as u64 => Rest::Length(n),
            Framing::Chunked => Rest::Chunked(ChunkedSkip::default()),
            // Too large: answered unread (without a `100 Continue`), and the connection closes after the answer.
            Framing::Length(_) | Framing::Unread => {
                return Ok((workload.plan_form(pending, Err(BodyError::TooLarge)), true))
            }
        };
        if told {
            self.write_all(CONTINUE)?;
        }
        // The body must arrive within a header timeout; a client that goes away mid-body gets no answer.
        let deadline = Instant::now() + self.shared.limits.header_timeout;
        let mut data = Vec::new();
        let body = loop {
            match self.take_body(&mut rest, Some(&mut data)) {
                Ok(_) if data.len() > MAX_FORM_BYTES => break Err(BodyError::TooLarge),
                Ok(true) => break Ok(()),
                Ok(false) => self.fill(deadline)?,
                Err(http1::BadChunk) => break Err(BodyError::Unreadable),
            }
        };
        let unread = body.is_err();
        Ok((workload.plan_form(pending, body.map(|()| data.as_slice())), unread))
    }

    /// Reads and throws away the request's body after the response, so that the next request can be read.
    fn skip_body(&mut self, body: Framing) -> Result<()> {
        let mut rest = match body {
            Framing::Length(n) => Rest::Length(n),
            Framing::Chunked => Rest::Chunked(ChunkedSkip::default()),
            Framing::None | Framing::Unread => return Ok(()),
        };
        let deadline = Instant::now() + self.shared.limits.header_timeout;
        // A broken chunked body: answered already, but the connection cannot be trusted with another request.
        while !self.take_body(&mut rest, None).map_err(|http1::BadChunk| Ended)? {
            self.fill(deadline)?;
        }
        Ok(())
    }

    /// Takes what is buffered of a body framed by `rest`, adding its data to `data` if given; true once the
    /// body is over.
    fn take_body(&mut self, rest: &mut Rest, data: Option<&mut Vec<u8>>) -> std::result::Result<bool, http1::BadChunk> {
        let buffered = &self.input[self.start..];
        let (used, done) = match rest {
            Rest::Length(left) => {
                let used = (*left).min(buffered.len() as u64) as usize;
                if let Some(data) = data {
                    data.extend_from_slice(&buffered[..used]);
                }
                *left -= used as u64;
                (used, *left == 0)
            }
            Rest::Chunked(chunked) => match data {
                Some(data) => chunked.read(buffered, data)?,
                None => chunked.skip(buffered)?,
            },
        };
        self.start += used;
        self.release_input();
        Ok(done)
    }

    /// Logs the reply and writes the response.
    fn respond(&mut self, reply: Reply, keep_alive: bool, head_only: bool, logged: Option<Pending>) -> Result<()> {
        if let Some(logged) = logged {
            self.shared.log.finish(logged, reply.status, Some(self.peer));
        }
        let date = httpdate::fmt_http_date(SystemTime::now());
        let server = self.shared.workload.info.server;
        self.write_all(&http1::encode_response(&reply, server, &date, keep_alive, head_only))
    }

    /// Closes our side after the last response, then reads (and discards) what the client still sends until it
    /// closes too, for at most [`LINGER`] and [`LINGER_BYTES`]. A shutdown cuts the wait short.
    fn linger(mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
        if !self.watch.waiting(&self.shared) {
            return;
        }
        let deadline = Instant::now() + LINGER;
        let mut chunk = [0u8; READ_CHUNK];
        let mut discarded = 0;
        while discarded < LINGER_BYTES {
            match self.read_by(&mut chunk, deadline) {
                Ok(n) => discarded += n,
                Err(Ended) => return,
            }
        }
    }

    /// Reads what the socket has into the input buffer, by `deadline`.
    fn fill(&mut self, deadline: Instant) -> Result<()> {
        // The read buffer is on the coroutine's stack: a connection waiting for bytes holds no heap buffer.
        let mut chunk = [0u8; READ_CHUNK];
        let n = self.read_by(&mut chunk, deadline)?;
        if self.start > 0 {
            self.input.drain(..self.start);
            self.start = 0;
        }
        // Allocated here, sized to what came, and freed once parsed (`release_input`).
        self.input.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// One read into `buffer`: at least one byte, or `Ended` at the end of the stream, on an error, or when
    /// `deadline` passes.
    fn read_by(&mut self, buffer: &mut [u8], deadline: Instant) -> Result<usize> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Ended);
            }
            // may's read timeout bounds the park below (a timer per parked read); setting it is a setsockopt(2).
            self.stream.set_read_timeout(Some(left)).map_err(|_| Ended)?;
            // The coroutine yields here while the socket is empty, until bytes arrive, the client closes, a
            // shutdown cuts the connection or the timeout fires; its worker runs other coroutines meanwhile.
            return match self.stream.read(buffer) {
                Ok(0) => Err(Ended),
                Ok(n) => Ok(n),
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(_) => Err(Ended),
            };
        }
    }

    /// Writes all of `bytes`. The coroutine yields here whenever the socket's buffer is full, until the client
    /// has read some (no deadline, as on lean-server).
    fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream.write_all(bytes).map_err(|_| Ended)
    }

    /// Frees the input buffer once every byte in it has been parsed.
    fn release_input(&mut self) {
        if self.start >= self.input.len() {
            self.input = Vec::new();
            self.start = 0;
        }
    }
}

impl Drop for Connection {
    /// Forgets the connection for a clean shutdown before its socket is closed (the fields are dropped after
    /// this): the drain thread never shuts down a descriptor that may have been reused.
    fn drop(&mut self) {
        self.shared.unwatch(&self.watch);
    }
}
