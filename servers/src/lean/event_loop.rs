//! One event loop: a mio `Poll`, a listening socket, the connections it accepted and their timers.
//!
//! Each turn of [`EventLoop::run`] waits in epoll until a socket is ready, a reply comes back from the worker
//! pool or the earliest deadline passes, then moves each concerned connection's state machine as far as it
//! can go without waiting. Nothing here blocks, except `/block`, on purpose.

use super::http1::{self, ChunkedSkip, Framing, HttpDate, Parsed, ResponseHead};
use crate::access_log::AccessLog;
use crate::cli::Limits;
use crate::launch::{self, Draining};
use crate::workload::{BodyError, InFlight, PendingForm, Plan, Reply, Workload, MAX_FORM_BYTES};
use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const LISTENER: Token = Token(usize::MAX);
const MAILBOX: Token = Token(usize::MAX - 1);

/// Bytes read from a socket at a time, into the loop's one read buffer.
const READ_CHUNK: usize = 16 * 1024;

/// How long a connection being closed keeps reading (and discarding) what the client still sends, so that
/// closing with unread bytes does not reset the connection before the client has read the response.
const LINGER: Duration = Duration::from_secs(2);

/// The interim response a client that sent `Expect: 100-continue` waits for before its body (RFC 9110 §15.2.1).
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The answer to one connection too many (the same as the other servers').
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 21\r\n\
                      Connection: close\r\n\r\ntoo many connections\n";

/// What every loop of one server process shares.
pub(super) struct Shared {
    pub workload: Arc<Workload>,
    pub log: AccessLog,
    pub limits: Limits,
    /// Connections open in all loops, for `--max-connections`.
    pub open: AtomicUsize,
    /// Set when a clean shutdown starts.
    pub stopping: Arc<AtomicBool>,
    /// The worker pool's queue.
    pub jobs: crossbeam_channel::Sender<Job>,
}

/// A blocking call for the worker pool, and where its reply goes.
pub(super) struct Job {
    pub plan: Plan,
    pub slot: usize,
    pub generation: u32,
    pub mailbox: Arc<Mailbox>,
}

/// A reply from the worker pool.
pub(super) struct Finished {
    pub slot: usize,
    pub generation: u32,
    pub reply: Reply,
}

/// Where the worker pool leaves replies for one loop, and the eventfd that wakes it.
pub(super) struct Mailbox {
    finished: Mutex<Vec<Finished>>,
    waker: Waker,
}

impl Mailbox {
    pub fn post(&self, finished: Finished) {
        self.finished.lock().unwrap().push(finished);
        self.wake();
    }

    pub fn wake(&self) {
        // Fails only if the eventfd's counter is full: the loop has not run for 2^64 wakes, and will.
        let _ = self.waker.wake();
    }
}

/// What a connection is doing: each variant is a point where an `async fn` would `.await`.
enum State {
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
    /// Writing `100 Continue` to a client that holds its form body back until told (RFC 9110 §10.1.1), `sent`
    /// bytes of it so far; then reading the form.
    Continuing(Box<Form>),
    /// Reading a form body (`POST /db/visit`) before the request can be planned.
    ReadingForm(Box<Form>),
    /// Closing: our side is shut down, and what the client still sends is read and thrown away until it closes
    /// too or the deadline passes.
    Lingering,
}

enum Skip {
    Length(u64),
    Chunked(ChunkedSkip),
}

/// A form body being read: the request it belongs to, the data so far and where the body ends.
struct Form {
    pending: PendingForm,
    data: Vec<u8>,
    rest: Skip,
}

/// One connection's state machine: all that a connection costs, with its buffers (empty while idle).
struct Connection<'w> {
    stream: TcpStream,
    state: State,
    /// Bytes read and not yet parsed start at `input[start]`; empty, and unallocated, between requests.
    input: Vec<u8>,
    start: usize,
    /// A response being written, `sent` bytes of it already.
    output: Vec<u8>,
    sent: usize,
    /// Whether the last read may have left bytes in the socket (edge-triggered: no new event will say so).
    readable: bool,
    /// The client has sent its FIN (or the socket failed): reads go on until they return 0, even after a short
    /// one, since the end of the stream comes with no further event.
    read_closed: bool,
    /// When the current wait ends: the header timeout, a sleep, the lingering close.
    deadline: Option<Instant>,
    /// The deadline this connection has an entry for in the timer heap, if any.
    queued: Option<Instant>,
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
    /// What the access log needs once the reply is known; kept only when the log is on.
    logged: Option<Box<Logged>>,
}

struct Logged {
    started: Instant,
    method: Box<str>,
    target: Box<str>,
}

struct Slot<'w> {
    /// Bumped when the slot's connection closes, so that a late reply or timer for it is recognised.
    generation: u32,
    connection: Option<Connection<'w>>,
}

/// Why a connection's state machine is run.
enum Wake {
    /// Its socket is ready.
    Ready { readable: bool, writable: bool, read_closed: bool },
    /// Its deadline has passed.
    Deadline,
    /// The worker pool answered its request.
    Reply(Reply),
}

/// What the state machine says when it cannot go further.
enum Step {
    /// Wait for the socket, the deadline or the pool.
    Wait,
    Close,
}

pub(super) struct EventLoop<'w> {
    shared: &'w Shared,
    poll: Poll,
    /// None once a shutdown has started.
    listener: Option<TcpListener>,
    mailbox: Arc<Mailbox>,
    /// Connections by token; `free` lists the empty slots.
    slots: Vec<Slot<'w>>,
    free: Vec<usize>,
    live: usize,
    /// Deadlines, earliest first: (when, slot, generation). At most one entry per connection is current.
    timers: BinaryHeap<Reverse<(Instant, usize, u32)>>,
    /// After an accept error (out of file descriptors), when to try again.
    accept_again: Option<Instant>,
    /// The time at the start of this turn of the loop.
    now: Instant,
    date: HttpDate,
    /// The loop's one read buffer: bytes are read here, then copied to a connection only if they must wait.
    scratch: Box<[u8]>,
    stopping: bool,
    /// Counts this loop as busy for a clean shutdown until it ends.
    _draining: Draining,
}

impl<'w> EventLoop<'w> {
    pub fn new(shared: &'w Shared, listener: std::net::TcpListener, draining: Draining) -> io::Result<EventLoop<'w>> {
        let poll = Poll::new()?;
        listener.set_nonblocking(true)?;
        let mut listener = TcpListener::from_std(listener);
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Waker::new(poll.registry(), MAILBOX)?;
        Ok(EventLoop {
            shared,
            poll,
            listener: Some(listener),
            mailbox: Arc::new(Mailbox { finished: Mutex::new(Vec::new()), waker }),
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            timers: BinaryHeap::new(),
            accept_again: None,
            now: Instant::now(),
            date: HttpDate::default(),
            scratch: vec![0; READ_CHUNK].into_boxed_slice(),
            stopping: false,
            _draining: draining,
        })
    }

    pub fn mailbox(&self) -> Arc<Mailbox> {
        Arc::clone(&self.mailbox)
    }

    /// Runs until a clean shutdown has closed every connection.
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            if !self.stopping && self.shared.stopping.load(Ordering::SeqCst) {
                self.stop();
            }
            if self.stopping && self.live == 0 {
                return Ok(());
            }
            let next = self.timers.peek().map(|Reverse((at, ..))| *at).into_iter().chain(self.accept_again).min();
            let timeout = next.map(|at| at.saturating_duration_since(Instant::now()));
            // The loop's thread sleeps here, in epoll_wait, until a socket is ready, the mailbox is woken or
            // the earliest deadline passes: the only place it waits.
            if let Err(error) = self.poll.poll(&mut events, timeout) {
                if error.kind() == ErrorKind::Interrupted {
                    continue;
                }
                return Err(error);
            }
            self.now = Instant::now();
            self.date.refresh();
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
                    MAILBOX => self.collect_replies(),
                    Token(slot) => self.advance(slot, ready(event)),
                }
            }
            self.expire_deadlines();
            if self.accept_again.is_some_and(|at| at <= self.now) {
                self.accept_again = None;
                self.accept();
            }
        }
    }

    /// Accepts connections until the kernel has no more (edge-triggered: one event may stand for many).
    fn accept(&mut self) {
        loop {
            let Some(listener) = &self.listener else { return };
            match listener.accept() {
                // TCP_NODELAY is inherited from the listening socket (servers/src/net.rs).
                Ok((stream, _)) => self.admit(stream),
                Err(error) if error.kind() == ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                // Out of file descriptors, or the listener shut down for exit: try again in a while.
                Err(error) => {
                    launch::report_accept_error(&error);
                    self.accept_again = Some(self.now + launch::ACCEPT_BACKOFF);
                    return;
                }
            }
        }
    }

    fn admit(&mut self, mut stream: TcpStream) {
        if self.shared.open.fetch_add(1, Ordering::SeqCst) >= self.shared.limits.max_connections {
            self.shared.open.fetch_sub(1, Ordering::SeqCst);
            // A few dozen bytes into an empty socket buffer: this write does not block.
            let _ = stream.write(BUSY);
            let _ = stream.shutdown(Shutdown::Write);
            return;
        }
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot { generation: 0, connection: None });
            self.slots.len() - 1
        });
        let interest = Interest::READABLE | Interest::WRITABLE;
        if self.poll.registry().register(&mut stream, Token(slot), interest).is_err() {
            self.shared.open.fetch_sub(1, Ordering::SeqCst);
            self.free.push(slot);
            return;
        }
        let mut connection = Connection {
            stream,
            state: State::Head,
            input: Vec::new(),
            start: 0,
            output: Vec::new(),
            sent: 0,
            readable: true,
            read_closed: false,
            deadline: Some(self.now + self.shared.limits.header_timeout),
            queued: None,
            keep_alive: true,
            head_only: false,
            body: Framing::None,
            request: None,
        };
        self.live += 1;
        self.schedule(slot, &mut connection);
        self.slots[slot].connection = Some(connection);
    }

    fn collect_replies(&mut self) {
        let replies = std::mem::take(&mut *self.mailbox.finished.lock().unwrap());
        for Finished { slot, generation, reply } in replies {
            if self.slots.get(slot).is_some_and(|s| s.generation == generation) {
                self.advance(slot, Wake::Reply(reply));
            }
        }
    }

    /// Runs the connections whose deadline has passed.
    fn expire_deadlines(&mut self) {
        while let Some(&Reverse((at, slot, generation))) = self.timers.peek() {
            if at > self.now {
                return;
            }
            self.timers.pop();
            let entry = &mut self.slots[slot];
            let Some(connection) = entry.connection.as_mut().filter(|_| entry.generation == generation) else {
                continue;
            };
            if connection.queued != Some(at) {
                continue; // Superseded by an earlier entry for the same connection.
            }
            connection.queued = None;
            match connection.deadline {
                Some(deadline) if deadline <= self.now => self.advance(slot, Wake::Deadline),
                // The deadline moved later (a keep-alive connection served another request): queue it again.
                Some(deadline) => {
                    connection.queued = Some(deadline);
                    self.timers.push(Reverse((deadline, slot, generation)));
                }
                None => {}
            }
        }
    }

    /// Queues the connection's deadline unless an entry at or before it is already queued.
    fn schedule(&mut self, slot: usize, connection: &mut Connection) {
        if let Some(deadline) = connection.deadline {
            if connection.queued.is_none_or(|queued| deadline < queued) {
                connection.queued = Some(deadline);
                self.timers.push(Reverse((deadline, slot, self.slots[slot].generation)));
            }
        }
    }

    /// Moves one connection's state machine on after `wake`, then puts it back to wait, or closes it.
    fn advance(&mut self, slot: usize, wake: Wake) {
        let Some(mut connection) = self.slots.get_mut(slot).and_then(|s| s.connection.take()) else { return };
        let step = match (wake, &connection.state) {
            (Wake::Ready { readable, writable, read_closed }, state) => {
                connection.readable |= readable;
                connection.read_closed |= read_closed;
                let wanted = match state {
                    State::Writing | State::Continuing(_) => writable,
                    State::Head | State::Skipping(_) | State::ReadingForm(_) | State::Lingering => readable,
                    // A waiting request reads nothing more until it is answered (pipelined bytes wait in the
                    // socket); a client that went away is noticed when the response is written.
                    State::Sleeping(_) | State::Pooled => false,
                };
                if wanted {
                    self.drive(slot, &mut connection)
                } else {
                    Step::Wait
                }
            }
            (Wake::Deadline, State::Sleeping(_)) => {
                let State::Sleeping(reply) = std::mem::replace(&mut connection.state, State::Writing) else {
                    unreachable!()
                };
                self.respond(&mut connection, reply);
                self.drive(slot, &mut connection)
            }
            // The header timeout (a slow or idle client), a body too slow to come, or the end of a lingering
            // close.
            (Wake::Deadline, _) => Step::Close,
            (Wake::Reply(reply), State::Pooled) => {
                self.respond(&mut connection, reply);
                self.drive(slot, &mut connection)
            }
            (Wake::Reply(_), _) => Step::Wait,
        };
        match step {
            Step::Wait => {
                self.schedule(slot, &mut connection);
                self.slots[slot].connection = Some(connection);
            }
            Step::Close => self.close(slot, connection),
        }
    }

    /// Runs the state machine until it must wait for the socket, a deadline or the pool.
    fn drive(&mut self, slot: usize, connection: &mut Connection<'w>) -> Step {
        loop {
            match &mut connection.state {
                State::Head => {
                    let shared = self.shared;
                    let (plan, len, body, keep_alive, head_only, logged, held_back) =
                        match http1::parse_head(&connection.input[connection.start..], shared.limits.max_head_bytes) {
                            Parsed::Partial => match self.fill(connection) {
                                Ok(true) => continue,
                                Ok(false) => return Step::Wait,
                                Err(()) => return Step::Close,
                            },
                            Parsed::Dropped => return Step::Close,
                            Parsed::Refused { status, reason } => {
                                // Nothing after a malformed head can be trusted: answer, then close.
                                connection.input = Vec::new();
                                connection.start = 0;
                                connection.keep_alive = false;
                                connection.head_only = false;
                                connection.body = Framing::None;
                                self.respond(connection, Reply::text(status, reason));
                                continue;
                            }
                            Parsed::Head(head) => {
                                let plan = shared.workload.plan(head.method, &head.target, head.content_type);
                                let logged = shared.log.enabled().then(|| {
                                    let (method, target) = (head.method.into(), head.target.as_ref().into());
                                    Box::new(Logged { started: Instant::now(), method, target })
                                });
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
                    connection.request = Some(InProgress { _in_flight: self.shared.workload.start_request(), logged });
                    let plan = match plan {
                        Plan::ReadForm(pending) => {
                            // A body held back for `100 Continue` is read once the client has been told.
                            let told = held_back.is_some();
                            let framing = held_back.unwrap_or(connection.body);
                            connection.body = Framing::None;
                            let rest = match framing {
                                Framing::None => {
                                    let plan = self.shared.workload.plan_form(pending, Ok(b""));
                                    if let Some(step) = self.start(slot, connection, plan) {
                                        return step;
                                    }
                                    continue;
                                }
                                Framing::Length(n) if n <= MAX_FORM_BYTES as u64 => Skip::Length(n),
                                Framing::Chunked => Skip::Chunked(ChunkedSkip::default()),
                                // Too large: answered unread (without a `100 Continue`), and the connection
                                // closes after the answer.
                                Framing::Length(_) | Framing::Unread => {
                                    connection.body = Framing::Unread;
                                    let plan = self.shared.workload.plan_form(pending, Err(BodyError::TooLarge));
                                    if let Some(step) = self.start(slot, connection, plan) {
                                        return step;
                                    }
                                    continue;
                                }
                            };
                            // The request yields until its body has arrived (header timeout as the deadline).
                            connection.deadline = Some(self.now + self.shared.limits.header_timeout);
                            let form = Box::new(Form { pending, data: Vec::new(), rest });
                            connection.sent = 0;
                            connection.state = if told { State::Continuing(form) } else { State::ReadingForm(form) };
                            continue;
                        }
                        plan => plan,
                    };
                    if let Some(step) = self.start(slot, connection, plan) {
                        return step;
                    }
                }
                State::Continuing(_) => {
                    while connection.sent < CONTINUE.len() {
                        match connection.stream.write(&CONTINUE[connection.sent..]) {
                            Ok(0) => return Step::Close,
                            Ok(n) => connection.sent += n,
                            // The socket buffer is full: wait until the client has read some.
                            Err(error) if error.kind() == ErrorKind::WouldBlock => return Step::Wait,
                            Err(error) if error.kind() == ErrorKind::Interrupted => {}
                            Err(_) => return Step::Close,
                        }
                    }
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
                        match self.fill(connection) {
                            Ok(true) => continue,
                            Ok(false) => return Step::Wait,
                            // The client went away mid-body: nobody to answer.
                            Err(()) => return Step::Close,
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
                    let plan = self.shared.workload.plan_form(pending, body.map(|()| data.as_slice()));
                    if let Some(step) = self.start(slot, connection, plan) {
                        return step;
                    }
                }
                State::Sleeping(_) | State::Pooled => return Step::Wait,
                State::Writing => {
                    while connection.sent < connection.output.len() {
                        match connection.stream.write(&connection.output[connection.sent..]) {
                            Ok(0) => return Step::Close,
                            Ok(n) => connection.sent += n,
                            // The socket buffer is full: wait until the client has read some.
                            Err(error) if error.kind() == ErrorKind::WouldBlock => return Step::Wait,
                            Err(error) if error.kind() == ErrorKind::Interrupted => {}
                            Err(_) => return Step::Close,
                        }
                    }
                    connection.output = Vec::new();
                    connection.sent = 0;
                    connection.state = match std::mem::replace(&mut connection.body, Framing::None) {
                        Framing::Length(n) => State::Skipping(Skip::Length(n)),
                        Framing::Chunked => State::Skipping(Skip::Chunked(ChunkedSkip::default())),
                        Framing::None | Framing::Unread => self.next_request(connection),
                    };
                    if matches!(connection.state, State::Skipping(_)) {
                        connection.deadline = Some(self.now + self.shared.limits.header_timeout);
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
                        connection.state = self.next_request(connection);
                        continue;
                    }
                    match self.fill(connection) {
                        Ok(true) => {}
                        Ok(false) => return Step::Wait,
                        Err(()) => return Step::Close,
                    }
                }
                State::Lingering => {
                    // Closing for a shutdown: the response has been written whole, and the process will exit.
                    if self.stopping {
                        return Step::Close;
                    }
                    for _ in 0..4 {
                        match connection.stream.read(&mut self.scratch) {
                            Ok(0) => return Step::Close,
                            Ok(_) => {}
                            Err(error) if error.kind() == ErrorKind::WouldBlock => return Step::Wait,
                            Err(error) if error.kind() == ErrorKind::Interrupted => {}
                            Err(_) => return Step::Close,
                        }
                    }
                    // Still sending after 64 KiB: not worth waiting for.
                    return Step::Close;
                }
            }
        }
    }

    /// Carries out a planned request: answers it at once, or makes it wait on a timer or the worker pool
    /// (`Some(Step::Wait)`: the request yields). `None` when the response is ready to be written.
    fn start(&mut self, slot: usize, connection: &mut Connection<'w>, plan: Plan) -> Option<Step> {
        match plan {
            Plan::Ready(reply) => self.respond(connection, reply),
            Plan::Sleep { wait, reply } => {
                // The request yields here: it waits on the timer heap, holding no thread and no buffer, while
                // the loop serves other connections.
                connection.state = State::Sleeping(reply);
                connection.deadline = Some(self.now + wait);
                return Some(Step::Wait);
            }
            Plan::Block { wait, reply } => {
                // The anti-pattern, on purpose: this sleeps the loop's thread, and every other connection of
                // this loop waits with it.
                std::thread::sleep(wait);
                self.now = Instant::now();
                self.respond(connection, reply);
            }
            blocking => {
                // The database or the factorial goes to the worker pool; the request yields until its reply
                // comes back through the mailbox.
                let generation = self.slots[slot].generation;
                let mailbox = Arc::clone(&self.mailbox);
                if self.shared.jobs.send(Job { plan: blocking, slot, generation, mailbox }).is_err() {
                    return Some(Step::Close);
                }
                connection.state = State::Pooled;
                return Some(Step::Wait);
            }
        }
        None
    }

    /// Reads what the socket has into the connection's input: Ok(true) if bytes came, Ok(false) if none are
    /// there yet, Err at the end of the stream or on an error.
    fn fill(&mut self, connection: &mut Connection) -> Result<bool, ()> {
        if !connection.readable {
            return Ok(false);
        }
        loop {
            // The connection yields here when the socket is empty: the loop goes on with other connections.
            return match connection.stream.read(&mut self.scratch) {
                Ok(0) => Err(()),
                Ok(n) => {
                    // A short read emptied the socket: the next bytes will come with a new event (but an end of
                    // stream that came with these bytes will not).
                    connection.readable = n == self.scratch.len() || connection.read_closed;
                    if connection.start > 0 {
                        connection.input.drain(..connection.start);
                        connection.start = 0;
                    }
                    // Allocated here, sized to what came: an idle connection holds no buffer.
                    connection.input.extend_from_slice(&self.scratch[..n]);
                    Ok(true)
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => {
                    connection.readable = false;
                    Ok(false)
                }
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(_) => Err(()),
            };
        }
    }

    /// Logs the reply, encodes the response into the connection's output and makes writing it the next step.
    fn respond(&mut self, connection: &mut Connection, reply: Reply) {
        if let Some(InProgress { logged: Some(logged), .. }) = connection.request.take() {
            let peer = connection.stream.peer_addr().ok();
            self.shared.log.record(logged.started, reply.status, &logged.method, &logged.target, peer);
        }
        connection.keep_alive &= !self.stopping && !reply.close;
        let body = reply.body.as_bytes();
        let mut output = Vec::with_capacity(256 + body.len());
        ResponseHead {
            status: reply.status,
            content_type: reply.content_type,
            allow: reply.allow,
            cache_control: reply.cache.header_value(),
            server: self.shared.workload.info.server,
            date: &self.date.text,
            content_length: body.len(),
            close: !connection.keep_alive,
        }
        .write_to(&mut output);
        if !connection.head_only {
            output.extend_from_slice(body);
        }
        connection.output = output;
        connection.sent = 0;
        connection.deadline = None;
        connection.state = State::Writing;
    }

    /// After a response (and its request's body): wait for the next request, or close.
    fn next_request(&self, connection: &mut Connection) -> State {
        if connection.keep_alive && !self.stopping {
            connection.deadline = Some(self.now + self.shared.limits.header_timeout);
            State::Head
        } else {
            let _ = connection.stream.shutdown(Shutdown::Write);
            connection.input = Vec::new();
            connection.start = 0;
            connection.deadline = Some(self.now + LINGER);
            State::Lingering
        }
    }

    fn close(&mut self, slot: usize, connection: Connection) {
        // Closing the socket also removes it from epoll.
        drop(connection);
        let entry = &mut self.slots[slot];
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(slot);
        self.live -= 1;
        self.shared.open.fetch_sub(1, Ordering::SeqCst);
        // A closed connection's timer entry stays in the heap until it is due; with many short connections
        // (one request each) those would pile up for a whole header timeout. Sweep them out now and then.
        if self.timers.len() > 2 * self.live + 1024 {
            let slots = &self.slots;
            self.timers.retain(|&Reverse((at, slot, generation))| {
                let entry = &slots[slot];
                entry.generation == generation && entry.connection.as_ref().is_some_and(|c| c.queued == Some(at))
            });
        }
    }

    /// A clean shutdown starts: stop accepting, and close every connection that is not in a request (or is
    /// closing already).
    fn stop(&mut self) {
        self.stopping = true;
        self.accept_again = None;
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        for slot in 0..self.slots.len() {
            let idle = |c: &Connection| matches!(c.state, State::Head | State::Lingering);
            if self.slots[slot].connection.as_ref().is_some_and(idle) {
                let connection = self.slots[slot].connection.take().expect("checked");
                self.close(slot, connection);
            }
        }
    }
}

fn ready(event: &Event) -> Wake {
    // An error or a hang-up is reported as readable: the next read says which.
    let broken = event.is_error() || event.is_read_closed() || event.is_write_closed();
    Wake::Ready {
        readable: event.is_readable() || broken,
        writable: event.is_writable() || broken,
        read_closed: event.is_read_closed() || event.is_error(),
    }
}

/// Frees the input buffer once every byte in it has been parsed.
fn release_input(connection: &mut Connection) {
    if connection.start >= connection.input.len() {
        connection.input = Vec::new();
        connection.start = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/model.md counts a connection's state machine at about 220 bytes: what one more idle or waiting
    /// connection adds besides the kernel's socket (and, while it sleeps, its reply's text).
    #[test]
    fn a_connection_is_small() {
        let slot = std::mem::size_of::<Slot>();
        assert!(slot <= 256, "a connection's slot takes {slot} bytes");
    }
}
