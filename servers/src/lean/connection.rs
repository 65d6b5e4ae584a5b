//! One HTTP/1.1 connection as a state machine that a loop owning many connections drives: the protocol steps
//! lean-server's readiness loop (`lean/event_loop.rs`) and uring-server's completion loop
//! (`uring/ring_loop.rs`) share.
//!
//! Each [`State`] is a point where an `async fn` would `.await`. The steps are the same whichever way bytes
//! move: parse a head; read a form body (after a `100 Continue` if the client asked for one); answer at once,
//! or hand the request to a timer or to the worker pool and yield; write the response; skip the request's
//! body; wait for the next request, or close. What differs is *how* bytes move, and that is all a
//! [`Transport`] says: a readiness loop reads and writes at once until the kernel says `WouldBlock`; a
//! completion loop posts a receive or a send and waits for the kernel to say it is done. Reading the two
//! loops side by side shows just that difference.

use super::http1::{self, ChunkedSkip, Framing, HttpDate, Parsed};
use super::runtime::{Mailbox, ReplyTo, Shared};
use crate::access_log::Pending;
use crate::workload::{BodyError, InFlight, PendingForm, Plan, Reply, MAX_FORM_BYTES};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a connection being closed keeps reading (and discarding) what the client still sends, so that
/// closing with unread bytes does not reset the connection before the client has read the response.
pub const LINGER: Duration = Duration::from_secs(2);

/// How much a lingering connection discards before it is closed anyway.
pub const LINGER_BYTES: usize = 64 * 1024;

/// The interim response a client that sent `Expect: 100-continue` waits for before its body (RFC 9110 §15.2.1).
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The answer to one connection too many (the same as the other servers').
pub const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 21\r\n\
                          Connection: close\r\n\r\ntoo many connections\n";

/// What a connection is doing: each variant is a point where an `async fn` would `.await`.
pub enum State {
    /// Reading a request head (or waiting for the next one on a keep-alive connection).
    Head,
    /// `/say/hello`: the reply is ready, the connection's deadline is when to send it.
    Sleeping(Reply),
    /// A database call or a factorial is on the worker pool; its reply comes back through the mailbox.
    Pooled,
    /// Writing `output`.
    Writing,
    /// Reading the request's body, after the response, to throw it away.
    Skipping(Skip),
    /// Writing `100 Continue` (in `output`) to a client that holds its form body back until told (RFC 9110
    /// §10.1.1); then reading the form.
    Continuing(Box<Form>),
    /// Reading a form body (`POST /db/visit`) before the request can be planned.
    ReadingForm(Box<Form>),
    /// Closing: our side is shut down, and what the client still sends is read and thrown away until it closes
    /// too or the deadline passes.
    Lingering,
}

pub enum Skip {
    Length(u64),
    Chunked(ChunkedSkip),
}

/// A form body being read: the request it belongs to, the data so far and where the body ends.
pub struct Form {
    pending: PendingForm,
    data: Vec<u8>,
    rest: Skip,
}

/// One connection's state machine: all that a connection costs, with its buffers (empty while idle), and `io`,
/// what its loop keeps about the socket.
pub struct Connection<'w, I> {
    pub io: I,
    pub state: State,
    /// Bytes read and not yet parsed start at `input[start]`; empty, and unallocated, between requests.
    pub input: Vec<u8>,
    pub start: usize,
    /// A response being written, `sent` bytes of it already.
    pub output: Vec<u8>,
    pub sent: usize,
    /// When the current wait ends: the header timeout, a sleep, the lingering close.
    pub deadline: Option<Instant>,
    /// The deadline this connection has an entry for in its loop's timer heap, if any ([`super::timers`]).
    pub queued: Option<Instant>,
    keep_alive: bool,
    /// The request being answered is a HEAD: its response carries no body (RFC 9110 §9.3.2).
    head_only: bool,
    /// The body of the request being answered, skipped after the response.
    body: Framing,
    request: Option<InProgress<'w>>,
}

/// A request between its head and its response.
struct InProgress<'w> {
    /// Counts the request for a clean shutdown until dropped.
    _in_flight: InFlight<'w>,
    /// The access log's line, kept only when the log is on.
    logged: Option<Box<Pending>>,
}

impl<I> Connection<'_, I> {
    /// A connection just accepted: waiting for its first head until `deadline`.
    pub fn new(io: I, deadline: Instant) -> Self {
        Connection {
            io,
            state: State::Head,
            input: Vec::new(),
            start: 0,
            output: Vec::new(),
            sent: 0,
            deadline: Some(deadline),
            queued: None,
            keep_alive: true,
            head_only: false,
            body: Framing::None,
            request: None,
        }
    }

    /// Between requests or closing: a clean shutdown closes it at once.
    pub fn idle(&self) -> bool {
        matches!(self.state, State::Head | State::Lingering)
    }

    /// Forgets the request in progress and the bytes not parsed (a connection being closed).
    pub fn clear(&mut self) {
        self.request = None;
        self.input = Vec::new();
        self.start = 0;
        self.deadline = None;
    }

    /// Appends bytes that came from the socket to the input (allocated here, sized to what came: an idle
    /// connection holds no buffer).
    pub fn take_in(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.input.drain(..self.start);
            self.start = 0;
        }
        self.input.extend_from_slice(bytes);
    }
}

/// What a loop keeps for all its connections and its state machines read.
pub struct Core<'w, M> {
    pub shared: &'w Shared<M>,
    /// Where the worker pool leaves this loop's replies.
    pub mailbox: Arc<M>,
    /// The time at the start of this turn of the loop.
    pub now: Instant,
    pub date: HttpDate,
    /// A clean shutdown has started.
    pub stopping: bool,
}

impl<'w, M> Core<'w, M> {
    pub fn new(shared: &'w Shared<M>, mailbox: Arc<M>) -> Self {
        Core { shared, mailbox, now: Instant::now(), date: HttpDate::default(), stopping: false }
    }
}

/// What an I/O step says.
pub enum Progress {
    /// Bytes came (a receive), or the whole output is out (a send): go on.
    Done,
    /// The connection waits: for readiness, or for a posted operation to complete.
    Wait,
    /// The client went away or the socket failed.
    Close,
}

impl Progress {
    /// Where the state machine must stop: `None` to go on.
    fn stop(self) -> Option<Step> {
        match self {
            Progress::Done => None,
            Progress::Wait => Some(Step::Wait),
            Progress::Close => Some(Step::Close),
        }
    }
}

/// What the state machine says when it cannot go further.
pub enum Step {
    /// Wait for the socket, the deadline or the pool.
    Wait,
    Close,
}

/// How a loop moves bytes for its connections: the one thing a readiness loop and a completion loop do
/// differently.
pub trait Transport<'w>: Sized {
    /// What the loop keeps about one connection's socket.
    type Io;
    type Mailbox: Mailbox;

    fn core(&mut self) -> &mut Core<'w, Self::Mailbox>;
    /// The generation of the connection in `slot`, so that a late reply for an earlier one is recognised.
    fn generation(&self, slot: usize) -> u32;
    /// More bytes are wanted in `connection.input`.
    fn receive(&mut self, slot: usize, connection: &mut Connection<'w, Self::Io>) -> Progress;
    /// `connection.output[connection.sent..]` is to be written.
    fn send(&mut self, slot: usize, connection: &mut Connection<'w, Self::Io>) -> Progress;
    /// A lingering connection: read and throw away what the client still sends.
    fn discard(&mut self, slot: usize, connection: &mut Connection<'w, Self::Io>) -> Step;
    /// Our side is done: send the FIN.
    fn shut_write(io: &Self::Io);
    fn peer(io: &Self::Io) -> Option<SocketAddr>;
    /// Whether the output may be replaced: a completion loop's kernel reads it while a send is in flight.
    fn output_free(_io: &Self::Io) -> bool {
        true
    }
}

/// The connection's deadline passed: a sleep is over (answer), or a wait has gone on too long (close: the header
/// timeout of a slow or idle client, a body too slow to come, the end of a lingering close).
pub fn deadline<'w, T: Transport<'w>>(t: &mut T, slot: usize, connection: &mut Connection<'w, T::Io>) -> Step {
    match std::mem::replace(&mut connection.state, State::Writing) {
        State::Sleeping(reply) => {
            respond(t, connection, reply);
            drive(t, slot, connection)
        }
        state => {
            connection.state = state;
            Step::Close
        }
    }
}

/// The worker pool answered the connection's request.
pub fn reply<'w, T: Transport<'w>>(
    t: &mut T,
    slot: usize,
    connection: &mut Connection<'w, T::Io>,
    reply: Reply,
) -> Step {
    if !matches!(connection.state, State::Pooled) {
        return Step::Wait;
    }
    respond(t, connection, reply);
    drive(t, slot, connection)
}

/// Runs the state machine until it must wait for the socket, a deadline or the pool.
pub fn drive<'w, T: Transport<'w>>(t: &mut T, slot: usize, connection: &mut Connection<'w, T::Io>) -> Step {
    loop {
        match &mut connection.state {
            State::Head => {
                let shared = t.core().shared;
                let (plan, len, body, keep_alive, head_only, logged, held_back) =
                    match http1::parse_head(&connection.input[connection.start..], shared.limits.max_head_bytes) {
                        Parsed::Partial => match t.receive(slot, connection).stop() {
                            None => continue,
                            Some(step) => return step,
                        },
                        Parsed::Dropped => return Step::Close,
                        Parsed::Refused { status, reason } => {
                            // Nothing after a malformed head can be trusted: answer, then close.
                            connection.input = Vec::new();
                            connection.start = 0;
                            connection.keep_alive = false;
                            connection.head_only = false;
                            connection.body = Framing::None;
                            respond(t, connection, Reply::text(status, reason));
                            continue;
                        }
                        Parsed::Head(head) => {
                            let plan = shared.workload.plan(head.method, &head.target, head.content_type);
                            let logged = shared.log.begin(head.method, &head.target).map(Box::new);
                            let head_only = head.method == "HEAD";
                            (plan, head.len, head.body, head.keep_alive, head_only, logged, head.held_back)
                        }
                    };
                connection.start += len;
                release_input(connection);
                connection.body = body;
                connection.keep_alive = keep_alive;
                connection.head_only = head_only;
                connection.deadline = None;
                connection.request = Some(InProgress { _in_flight: shared.workload.start_request(), logged });
                let plan = match plan {
                    Plan::ReadForm(pending) => {
                        // A body held back for `100 Continue` is read once the client has been told.
                        let told = held_back.is_some();
                        let framing = held_back.unwrap_or(connection.body);
                        connection.body = Framing::None;
                        match framing {
                            Framing::None => shared.workload.plan_form(pending, Ok(b"")),
                            Framing::Length(n) if n <= MAX_FORM_BYTES as u64 => {
                                read_form(t, connection, pending, Skip::Length(n), told);
                                continue;
                            }
                            Framing::Chunked => {
                                read_form(t, connection, pending, Skip::Chunked(ChunkedSkip::default()), told);
                                continue;
                            }
                            // Too large: answered unread (without a `100 Continue`), and the connection closes
                            // after the answer.
                            Framing::Length(_) | Framing::Unread => {
                                connection.body = Framing::Unread;
                                shared.workload.plan_form(pending, Err(BodyError::TooLarge))
                            }
                        }
                    }
                    plan => plan,
                };
                if let Some(step) = start(t, slot, connection, plan) {
                    return step;
                }
            }
            State::Continuing(_) => {
                // The connection yields until the interim response is out.
                if let Some(step) = t.send(slot, connection).stop() {
                    return step;
                }
                connection.output = Vec::new();
                connection.sent = 0;
                let State::Continuing(form) = std::mem::replace(&mut connection.state, State::Head) else {
                    unreachable!("matched above")
                };
                connection.state = State::ReadingForm(form);
            }
            State::ReadingForm(form) => {
                let buffered = &connection.input[connection.start..];
                let read = match &mut form.rest {
                    Skip::Length(left) => {
                        let used = (*left).min(buffered.len() as u64) as usize;
                        form.data.extend_from_slice(&buffered[..used]);
                        *left -= used as u64;
                        Ok((used, *left == 0))
                    }
                    Skip::Chunked(chunked) => chunked.read(buffered, &mut form.data),
                };
                let too_large = form.data.len() > MAX_FORM_BYTES;
                let body = match read {
                    Ok((used, done)) => {
                        connection.start += used;
                        release_input(connection);
                        match done {
                            _ if too_large => Some(Err(BodyError::TooLarge)),
                            true => Some(Ok(())),
                            false => None,
                        }
                    }
                    Err(http1::BadChunk) => Some(Err(BodyError::Unreadable)),
                };
                let Some(body) = body else {
                    // Waits for more of the body; closes if the client went away mid-body: nobody to answer.
                    match t.receive(slot, connection).stop() {
                        None => continue,
                        Some(step) => return step,
                    }
                };
                let State::ReadingForm(form) = std::mem::replace(&mut connection.state, State::Head) else {
                    unreachable!("matched above")
                };
                let Form { pending, data, .. } = *form;
                connection.deadline = None;
                if body.is_err() {
                    // The rest of the body is not read: close after the answer.
                    connection.keep_alive = false;
                    connection.body = Framing::Unread;
                }
                let plan = t.core().shared.workload.plan_form(pending, body.map(|()| data.as_slice()));
                if let Some(step) = start(t, slot, connection, plan) {
                    return step;
                }
            }
            State::Sleeping(_) | State::Pooled => return Step::Wait,
            State::Writing => {
                // The connection yields until the socket can take more (readiness) or the kernel has sent what it
                // was given (completion).
                if let Some(step) = t.send(slot, connection).stop() {
                    return step;
                }
                connection.output = Vec::new();
                connection.sent = 0;
                connection.state = match std::mem::replace(&mut connection.body, Framing::None) {
                    Framing::Length(n) => State::Skipping(Skip::Length(n)),
                    Framing::Chunked => State::Skipping(Skip::Chunked(ChunkedSkip::default())),
                    Framing::None | Framing::Unread => next_request(t, connection),
                };
                if matches!(connection.state, State::Skipping(_)) {
                    let core = t.core();
                    connection.deadline = Some(core.now + core.shared.limits.header_timeout);
                }
            }
            State::Skipping(skip) => {
                let buffered = &connection.input[connection.start..];
                let (used, done) = match skip {
                    Skip::Length(left) => {
                        let used = (*left).min(buffered.len() as u64);
                        *left -= used;
                        (used as usize, *left == 0)
                    }
                    Skip::Chunked(chunked) => match chunked.skip(buffered) {
                        Ok(skipped) => skipped,
                        // Answered already; the connection cannot be trusted with another request.
                        Err(http1::BadChunk) => return Step::Close,
                    },
                };
                connection.start += used;
                release_input(connection);
                if done {
                    connection.state = next_request(t, connection);
                    continue;
                }
                if let Some(step) = t.receive(slot, connection).stop() {
                    return step;
                }
            }
            State::Lingering => {
                // Closing for a shutdown: the response has been written whole, and the process will exit.
                if t.core().stopping {
                    return Step::Close;
                }
                return t.discard(slot, connection);
            }
        }
    }
}

/// The request yields until its form body has arrived (with the header timeout as the deadline), after a
/// `100 Continue` if the client waits for one.
fn read_form<'w, T: Transport<'w>>(
    t: &mut T,
    connection: &mut Connection<'w, T::Io>,
    pending: PendingForm,
    rest: Skip,
    told: bool,
) {
    let core = t.core();
    connection.deadline = Some(core.now + core.shared.limits.header_timeout);
    let form = Box::new(Form { pending, data: Vec::new(), rest });
    connection.state = if told {
        connection.output = CONTINUE.to_vec();
        connection.sent = 0;
        State::Continuing(form)
    } else {
        State::ReadingForm(form)
    };
}

/// Carries out a planned request: answers it at once, or makes it wait on a timer or the worker pool
/// (`Some(Step::Wait)`: the request yields). `None` when the response is ready to be written.
fn start<'w, T: Transport<'w>>(
    t: &mut T,
    slot: usize,
    connection: &mut Connection<'w, T::Io>,
    plan: Plan,
) -> Option<Step> {
    match plan {
        Plan::Ready(reply) => respond(t, connection, reply),
        Plan::Sleep { wait, reply } => {
            // The request yields here: it waits on a timer, holding no thread and no buffer, while the loop
            // serves other connections.
            connection.state = State::Sleeping(reply);
            connection.deadline = Some(t.core().now + wait);
            return Some(Step::Wait);
        }
        Plan::Block { wait, reply } => {
            // The anti-pattern, on purpose: this sleeps the loop's thread, and every other connection of this
            // loop waits with it.
            std::thread::sleep(wait);
            t.core().now = Instant::now();
            respond(t, connection, reply);
        }
        blocking => {
            // The database or the factorial goes to the worker pool; the request yields until its reply comes
            // back through the mailbox.
            let generation = t.generation(slot);
            let core = t.core();
            let reply_to = ReplyTo { slot, generation, mailbox: Arc::clone(&core.mailbox) };
            if core.shared.jobs.send((blocking, reply_to)).is_err() {
                return Some(Step::Close);
            }
            connection.state = State::Pooled;
            return Some(Step::Wait);
        }
    }
    None
}

/// Logs the reply, encodes the response into the connection's output and makes writing it the next step.
fn respond<'w, T: Transport<'w>>(t: &mut T, connection: &mut Connection<'w, T::Io>, reply: Reply) {
    let core = t.core();
    if let Some(InProgress { logged: Some(logged), .. }) = connection.request.take() {
        core.shared.log.finish(*logged, reply.status, T::peer(&connection.io));
    }
    connection.keep_alive &= !core.stopping && !reply.close;
    // No write is in flight here (the connection was reading or waiting), so the old output may go.
    debug_assert!(T::output_free(&connection.io));
    connection.output = http1::encode_response(
        &reply,
        core.shared.workload.info.server,
        &core.date.text,
        connection.keep_alive,
        connection.head_only,
    );
    connection.sent = 0;
    connection.deadline = None;
    connection.state = State::Writing;
}

/// After a response (and its request's body): wait for the next request, or close.
fn next_request<'w, T: Transport<'w>>(t: &mut T, connection: &mut Connection<'w, T::Io>) -> State {
    let core = t.core();
    if connection.keep_alive && !core.stopping {
        connection.deadline = Some(core.now + core.shared.limits.header_timeout);
        State::Head
    } else {
        T::shut_write(&connection.io);
        connection.input = Vec::new();
        connection.start = 0;
        connection.deadline = Some(core.now + LINGER);
        State::Lingering
    }
}

/// Frees the input buffer once every byte in it has been parsed.
fn release_input<I>(connection: &mut Connection<'_, I>) {
    if connection.start >= connection.input.len() {
        connection.input = Vec::new();
        connection.start = 0;
    }
}
