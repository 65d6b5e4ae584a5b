//! One completion loop: an io_uring, a listening socket with a multishot accept posted on it, the connections
//! it accepted, and the operations each has in flight.
//!
//! Each turn of [`RingLoop::run`] makes one `io_uring_enter`: it submits what the last turn queued (receives,
//! sends, timers, cancellations, buffers given back) and sleeps until at least one completion is there. Then
//! each completion moves its connection's state machine as far as it can go, which queues the next
//! operations. Nothing here blocks, except `/block`, on purpose.

use super::{Finished, Job, Mailbox, Shared};
use crate::launch::{self, Draining};
use crate::lean::http1::{self, ChunkedSkip, Framing, HttpDate, Parsed, ResponseHead};
use crate::workload::{BodyError, InFlight, PendingForm, Plan, Reply, MAX_FORM_BYTES};
use io_uring::{cqueue, opcode, squeue, types, IoUring};
use std::io::{self, ErrorKind, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Submission queue entries per ring; the completion queue is [`COMPLETION_ENTRIES`] deep.
const SUBMISSION_ENTRIES: u32 = 1024;
/// Room for a completion from every operation of a few thousand connections at once; more are kept by the
/// kernel until there is room (IORING_FEAT_NODROP), not lost.
const COMPLETION_ENTRIES: u32 = 16 * 1024;

/// Bytes in one provided buffer: a receive takes at most this much.
const BUFFER_LEN: usize = 4096;
/// Provided buffers per loop (1 MiB in all). A buffer is lent for the time between a receive's completion and
/// the loop copying it out, within one turn; when all are out, a receive fails with ENOBUFS and is posted again
/// once they are back.
const BUFFERS: u16 = 256;
/// The loop's one buffer group.
const BUFFER_GROUP: u16 = 0;

/// How long a connection being closed keeps reading (and discarding) what the client still sends, so that
/// closing with unread bytes does not reset the connection before the client has read the response.
const LINGER: Duration = Duration::from_secs(2);
/// How much a lingering connection discards before it is closed anyway.
const LINGER_BYTES: usize = 64 * 1024;

/// The interim response a client that sent `Expect: 100-continue` waits for before its body (RFC 9110 §15.2.1).
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The answer to one connection too many (the same as the other servers').
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 21\r\n\
                      Connection: close\r\n\r\ntoo many connections\n";

/// What an operation on the ring is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Op {
    /// A connection's receive (its buffer chosen by the kernel from the pool).
    Recv = 1,
    /// A connection's send of its output.
    Send = 2,
    /// A connection's deadline.
    Timer = 3,
    /// The loop's multishot accept.
    Accept = 4,
    /// The pause after an accept error before accepting again.
    AcceptBackoff = 5,
    /// The read of the mailbox's eventfd.
    Mailbox = 6,
    /// A cancellation, a timer update, buffers given back: their completions carry nothing to act on.
    Control = 7,
}

/// An operation's `user_data`: which connection (slot and generation) and which of its operations. The
/// generation changes when a slot is reused, so a completion for an earlier connection is never taken for one
/// of the current one's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tag {
    slot: u32,
    generation: u32,
    op: Op,
}

/// Slots are numbered in 24 bits of the tag (16 M connections per loop; `--max-connections` allows 1 M).
const SLOT_BITS: u32 = 24;

impl Tag {
    fn connection(slot: usize, generation: u32, op: Op) -> Tag {
        Tag { slot: slot as u32, generation, op }
    }

    /// An operation of the loop itself, not of a connection.
    fn of_loop(op: Op) -> Tag {
        Tag { slot: 0, generation: 0, op }
    }

    fn encode(self) -> u64 {
        (u64::from(self.generation) << 32) | (u64::from(self.slot) << 8) | self.op as u64
    }

    fn decode(data: u64) -> Option<Tag> {
        let op = match data & 0xff {
            1 => Op::Recv,
            2 => Op::Send,
            3 => Op::Timer,
            4 => Op::Accept,
            5 => Op::AcceptBackoff,
            6 => Op::Mailbox,
            7 => Op::Control,
            _ => return None,
        };
        let slot = ((data >> 8) & ((1 << SLOT_BITS) - 1)) as u32;
        Some(Tag { slot, generation: (data >> 32) as u32, op })
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
    /// Sending `output`.
    Writing,
    /// Reading the request's body, after the response, to throw it away.
    Skipping(Skip),
    /// Sending `100 Continue` (in `output`) to a client that holds its form body back until told (RFC 9110
    /// §10.1.1); then reading the form.
    Continuing(Box<Form>),
    /// Reading a form body (`POST /db/visit`) before the request can be planned.
    ReadingForm(Box<Form>),
    /// Closing: our side is shut down, and what the client still sends is received and thrown away until it
    /// closes too or the deadline passes.
    Lingering,
    /// Closed: operations still in flight are being cancelled; the slot is freed when their completions are in.
    Closed,
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

/// One connection's state machine, its buffers (empty while idle) and what it has in flight on the ring.
struct Connection<'w> {
    stream: TcpStream,
    state: State,
    /// Bytes received and not yet parsed start at `input[start]`; empty, and unallocated, between requests.
    input: Vec<u8>,
    start: usize,
    /// A response being sent, `sent` bytes of it already. The kernel reads it while a send is in flight: it is
    /// neither changed nor freed until the send's completion.
    output: Vec<u8>,
    sent: usize,
    /// Operations in flight: a receive, a send, a timer (set to go off at this instant).
    receiving: bool,
    sending: bool,
    timer: Option<Instant>,
    /// The client has closed its side (a receive returned 0) or the socket failed.
    ended: bool,
    /// Bytes thrown away while lingering.
    discarded: usize,
    /// When the current wait ends: the header timeout, a sleep, the lingering close.
    deadline: Option<Instant>,
    keep_alive: bool,
    /// The request being answered is a HEAD: its response carries no body (RFC 9110 §9.3.2).
    head_only: bool,
    /// The body of the request being answered, skipped after the response.
    body: Framing,
    request: Option<InProgress<'w>>,
}

impl Connection<'_> {
    fn in_flight(&self) -> bool {
        self.receiving || self.sending || self.timer.is_some()
    }
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
    /// Bumped when the slot is freed, so that a late reply from the pool for its last connection is recognised.
    generation: u32,
    connection: Option<Connection<'w>>,
}

/// Why a connection's state machine is run.
enum Wake {
    /// A receive or a send completed (its result is already in the connection), or the connection is new.
    Io,
    /// Its deadline has passed.
    Deadline,
    /// The worker pool answered its request.
    Reply(Reply),
}

/// What the state machine says when it cannot go further.
enum Step {
    /// Wait for an operation's completion, the deadline or the pool.
    Wait,
    Close,
}

/// The provided buffers: one allocation the kernel writes received bytes into, a buffer at a time.
struct BufferPool {
    /// From `Box::into_raw`, freed in `Drop`; kept as a raw pointer because the kernel writes into it while the
    /// loop reads other buffers of it.
    base: *mut u8,
}

impl BufferPool {
    fn new() -> BufferPool {
        let memory = vec![0u8; BUFFER_LEN * usize::from(BUFFERS)].into_boxed_slice();
        BufferPool { base: Box::into_raw(memory).cast() }
    }

    fn buffer(&self, id: u16) -> *mut u8 {
        // SAFETY: `id` < BUFFERS (the kernel hands back only ids it was given), so the offset is in the
        // allocation.
        unsafe { self.base.add(usize::from(id) * BUFFER_LEN) }
    }
}

// SAFETY: the pool is one allocation owned by one loop, moved to the loop's thread before it runs and used
// only there (the kernel's writes into it are synchronised by the ring's completions).
unsafe impl Send for BufferPool {}

impl Drop for BufferPool {
    fn drop(&mut self) {
        let all = std::ptr::slice_from_raw_parts_mut(self.base, BUFFER_LEN * usize::from(BUFFERS));
        // SAFETY: `base` came from `Box::into_raw` of a slice this long. The pool is dropped only when the
        // loop has no receive in flight (see `RingLoop::run`), so the kernel holds no pointer into it.
        drop(unsafe { Box::from_raw(all) });
    }
}

pub(super) struct RingLoop<'w> {
    shared: &'w Shared,
    ring: IoUring,
    /// None once a shutdown has started.
    listener: Option<TcpListener>,
    mailbox: Arc<Mailbox>,
    /// What the mailbox's eventfd read writes into: a counter the loop ignores.
    wakes: Box<u64>,
    pool: BufferPool,
    slots: Vec<Slot<'w>>,
    free: Vec<usize>,
    /// Slots in use, closed ones waiting for completions included.
    occupied: usize,
    /// The loop's own operations in flight.
    accepting: bool,
    backing_off: bool,
    reading_mailbox: bool,
    mailbox_cancelled: bool,
    /// Connections whose receive found no buffer (ENOBUFS): posted again at the end of the turn.
    starved: Vec<(usize, u32)>,
    /// The timeouts of operations queued this turn: the kernel copies them when it takes the entries, in the
    /// next `io_uring_enter`, so they live until then.
    /// Boxed: a pointer handed to the kernel must not move when the vector grows.
    #[allow(clippy::vec_box)]
    timespecs: Vec<Box<types::Timespec>>,
    /// The time at the start of this turn of the loop.
    now: Instant,
    date: HttpDate,
    stopping: bool,
    /// Counts this loop as busy for a clean shutdown until it ends.
    _draining: Draining,
}

impl<'w> RingLoop<'w> {
    pub fn new(
        shared: &'w Shared,
        listener: TcpListener,
        mailbox: Arc<Mailbox>,
        draining: Draining,
    ) -> io::Result<RingLoop<'w>> {
        let ring = IoUring::builder().setup_cqsize(COMPLETION_ENTRIES).build(SUBMISSION_ENTRIES)?;
        let mut ring_loop = RingLoop {
            shared,
            ring,
            listener: Some(listener),
            mailbox,
            wakes: Box::new(0),
            pool: BufferPool::new(),
            slots: Vec::new(),
            free: Vec::new(),
            occupied: 0,
            accepting: false,
            backing_off: false,
            reading_mailbox: false,
            mailbox_cancelled: false,
            starved: Vec::new(),
            timespecs: Vec::new(),
            now: Instant::now(),
            date: HttpDate::default(),
            stopping: false,
            _draining: draining,
        };
        let provide =
            opcode::ProvideBuffers::new(ring_loop.pool.base, BUFFER_LEN as i32, BUFFERS, BUFFER_GROUP, 0).build();
        // SAFETY: the pool's memory lives as long as the loop, which ends only with no receive in flight.
        unsafe { ring_loop.push(provide, Tag::of_loop(Op::Control)) };
        ring_loop.arm_accept();
        ring_loop.arm_mailbox();
        Ok(ring_loop)
    }

    pub fn mailbox(&self) -> Arc<Mailbox> {
        Arc::clone(&self.mailbox)
    }

    /// Runs until a clean shutdown has closed every connection and every operation has completed.
    pub fn run(mut self) -> io::Result<()> {
        let result = self.turn_until_drained();
        if result.is_err() {
            // Operations may still be in flight, with pointers into the buffer pool, the mailbox's counter or
            // an output buffer: leak it all rather than free memory the kernel could still write into.
            std::mem::forget(self);
        }
        result
    }

    fn turn_until_drained(&mut self) -> io::Result<()> {
        let mut completions = Vec::with_capacity(COMPLETION_ENTRIES as usize);
        loop {
            if !self.stopping && self.shared.stopping.load(Ordering::SeqCst) {
                self.stop();
            }
            if self.stopping && self.occupied == 0 {
                if self.reading_mailbox && !self.mailbox_cancelled {
                    // Nothing can come from the pool any more: take the mailbox's read back.
                    self.cancel(Tag::of_loop(Op::Mailbox));
                    self.mailbox_cancelled = true;
                }
                if !(self.accepting || self.backing_off || self.reading_mailbox) {
                    return Ok(());
                }
            }
            // The loop's thread sleeps here, in io_uring_enter, which first submits every operation queued
            // since the last turn, then waits until at least one has completed: the only place it waits.
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                // The completion queue is full: empty it below, then submit again.
                Err(error) if error.raw_os_error() == Some(libc::EBUSY) => {}
                Err(error) => return Err(error),
            }
            self.timespecs.clear();
            self.now = Instant::now();
            self.date.refresh();
            completions.extend(self.ring.completion().map(|c| (c.user_data(), c.result(), c.flags())));
            for (data, result, flags) in completions.drain(..) {
                if let Some(tag) = Tag::decode(data) {
                    self.complete(tag, result, flags);
                }
            }
            // Buffers given back this turn are queued ahead of these receives, and the kernel takes entries
            // in order.
            for (slot, generation) in std::mem::take(&mut self.starved) {
                self.with_connection(slot, generation, |this, slot, connection| this.post_recv(slot, connection));
            }
        }
    }

    /// Queues an operation with its tag, submitting first if the submission queue is full.
    ///
    /// # Safety
    /// Whatever memory `entry` points at must stay valid until the operation's completion (or, for a timeout's
    /// timespec, until the next submission): the caller says what keeps it alive.
    unsafe fn push(&mut self, entry: squeue::Entry, tag: Tag) {
        let entry = entry.user_data(tag.encode());
        loop {
            // SAFETY: passed on from the caller.
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                return;
            }
            // Full: hand the kernel what is queued (it copies timespecs as it takes the entries) and retry.
            if let Err(error) = self.ring.submit() {
                if error.raw_os_error() == Some(libc::EBUSY) {
                    std::thread::yield_now();
                }
            }
        }
    }

    /// Asks the kernel to cancel the operation with this tag; it then completes with ECANCELED (or has
    /// completed already).
    fn cancel(&mut self, tag: Tag) {
        // SAFETY: a cancellation points at no memory.
        unsafe { self.push(opcode::AsyncCancel::new(tag.encode()).build(), Tag::of_loop(Op::Control)) };
    }

    /// A timespec that lives until the next submission.
    fn timespec(&mut self, after: Duration) -> *const types::Timespec {
        let timespec = Box::new(types::Timespec::from(after));
        let pointer: *const types::Timespec = &*timespec;
        self.timespecs.push(timespec);
        pointer
    }

    fn arm_accept(&mut self) {
        let Some(listener) = &self.listener else { return };
        if self.accepting {
            return;
        }
        // One submission, a completion per connection accepted, until an error ends it. Accepted sockets stay
        // blocking: the ring never blocks on them (it waits for readiness itself), and the one direct write,
        // the 503, fits an empty socket buffer.
        let entry = opcode::AcceptMulti::new(types::Fd(listener.as_raw_fd())).flags(libc::SOCK_CLOEXEC).build();
        // SAFETY: a multishot accept points at no memory (no address is asked for).
        unsafe { self.push(entry, Tag::of_loop(Op::Accept)) };
        self.accepting = true;
    }

    fn arm_mailbox(&mut self) {
        let counter: *mut u64 = &mut *self.wakes;
        let entry = opcode::Read::new(types::Fd(self.mailbox.eventfd.as_raw_fd()), counter.cast(), 8).build();
        // SAFETY: `wakes` is a box owned by the loop, which ends only after this read has completed (it is
        // cancelled and waited for in `turn_until_drained`), or leaks it on an error.
        unsafe { self.push(entry, Tag::of_loop(Op::Mailbox)) };
        self.reading_mailbox = true;
    }

    /// One completion.
    fn complete(&mut self, tag: Tag, result: i32, flags: u32) {
        match tag.op {
            Op::Control => {}
            Op::Accept => {
                let more = cqueue::more(flags);
                if !more {
                    self.accepting = false;
                }
                if result >= 0 {
                    // SAFETY: a successful accept's result is a new descriptor, ours alone.
                    let stream = unsafe { TcpStream::from_raw_fd(result) };
                    self.admit(stream);
                } else if result != -libc::ECANCELED && !self.stopping {
                    // Out of file descriptors, say: stop accepting for a while, then try again.
                    launch::report_accept_error(&io::Error::from_raw_os_error(-result));
                    if more {
                        self.cancel(Tag::of_loop(Op::Accept));
                        self.accepting = false;
                    }
                    if !self.backing_off {
                        let timespec = self.timespec(launch::ACCEPT_BACKOFF);
                        // SAFETY: the timespec lives in `timespecs` until the next submission.
                        unsafe { self.push(opcode::Timeout::new(timespec).build(), Tag::of_loop(Op::AcceptBackoff)) };
                        self.backing_off = true;
                    }
                    return;
                }
                if !self.accepting && !self.backing_off && !self.stopping {
                    self.arm_accept();
                }
            }
            Op::AcceptBackoff => {
                self.backing_off = false;
                if !self.stopping {
                    self.arm_accept();
                }
            }
            Op::Mailbox => {
                self.reading_mailbox = false;
                if !self.stopping && self.shared.stopping.load(Ordering::SeqCst) {
                    self.stop();
                }
                let replies = std::mem::take(&mut *self.mailbox.finished.lock().unwrap_or_else(|e| e.into_inner()));
                for Finished { slot, generation, reply } in replies {
                    if self.slots.get(slot).is_some_and(|s| s.generation == generation) {
                        self.advance(slot, Wake::Reply(reply));
                    }
                }
                if !(self.stopping && self.occupied == 0) {
                    self.arm_mailbox();
                }
            }
            Op::Recv => self.received(tag, result, flags),
            Op::Send => {
                let Some(connection) = self.connection_of(tag) else { return };
                connection.sending = false;
                match result {
                    1.. => connection.sent += result as usize,
                    // Nothing sent or the socket failed: nobody to answer any more.
                    _ => connection.ended = true,
                }
                self.after_completion(tag);
            }
            Op::Timer => {
                let now = self.now;
                let Some(connection) = self.connection_of(tag) else { return };
                connection.timer = None;
                let slot = tag.slot as usize;
                let passed = connection.deadline.is_some_and(|deadline| deadline <= now);
                if matches!(connection.state, State::Closed) {
                    self.reap(slot);
                } else if passed {
                    self.advance(slot, Wake::Deadline);
                } else if let Some(mut connection) = self.slots[slot].connection.take() {
                    // The deadline moved later (a keep-alive connection served another request): arm again.
                    self.arm_timer(slot, &mut connection);
                    self.slots[slot].connection = Some(connection);
                }
            }
        }
    }

    /// A receive completed: the bytes are in a provided buffer, copied out here and the buffer given back.
    fn received(&mut self, tag: Tag, result: i32, flags: u32) {
        let buffer = cqueue::buffer_select(flags);
        let bytes = match (result, buffer) {
            // SAFETY: the kernel has written `result` bytes into this buffer and completed; it does not touch
            // the buffer again until it is given back, below.
            (1.., Some(id)) => unsafe { std::slice::from_raw_parts(self.pool.buffer(id), result as usize) },
            _ => &[],
        };
        let Some(connection) = self.connection_of(tag) else {
            if let Some(id) = buffer {
                self.give_back(id);
            }
            return;
        };
        connection.receiving = false;
        let starved = result == -libc::ENOBUFS;
        match result {
            1.. if matches!(connection.state, State::Lingering) => connection.discarded += bytes.len(),
            1.. => {
                if connection.start > 0 {
                    connection.input.drain(..connection.start);
                    connection.start = 0;
                }
                // Allocated here, sized to what came: an idle connection holds no buffer.
                connection.input.extend_from_slice(bytes);
            }
            // The pool is empty for now: the receive is posted again once buffers are back.
            _ if starved => {}
            // The end of the stream, or the socket failed (or the receive was cancelled for a close).
            _ => connection.ended = true,
        }
        let closed = matches!(connection.state, State::Closed);
        if let Some(id) = buffer {
            self.give_back(id);
        }
        if starved && !closed {
            self.starved.push((tag.slot as usize, tag.generation));
        } else {
            self.after_completion(tag);
        }
    }

    /// Returns a provided buffer to the pool.
    fn give_back(&mut self, id: u16) {
        let entry = opcode::ProvideBuffers::new(self.pool.buffer(id), BUFFER_LEN as i32, 1, BUFFER_GROUP, id)
            .build()
            .flags(squeue::Flags::SKIP_SUCCESS);
        // SAFETY: the pool's memory lives as long as the loop, which ends only with no receive in flight.
        unsafe { self.push(entry, Tag::of_loop(Op::Control)) };
    }

    /// After a receive or a send: free a closed connection's slot once nothing is in flight, or run it.
    fn after_completion(&mut self, tag: Tag) {
        let slot = tag.slot as usize;
        if self.connection_of(tag).is_some_and(|c| matches!(c.state, State::Closed)) {
            self.reap(slot);
        } else if self.connection_of(tag).is_some() {
            self.advance(slot, Wake::Io);
        }
    }

    /// The connection a completion is for, if its slot still holds that generation's connection.
    fn connection_of(&mut self, tag: Tag) -> Option<&mut Connection<'w>> {
        let slot = self.slots.get_mut(tag.slot as usize)?;
        slot.connection.as_mut().filter(|_| slot.generation == tag.generation)
    }

    fn with_connection(&mut self, slot: usize, generation: u32, f: impl FnOnce(&mut Self, usize, &mut Connection<'w>)) {
        let Some(entry) = self.slots.get_mut(slot).filter(|s| s.generation == generation) else { return };
        let Some(mut connection) = entry.connection.take() else { return };
        if !matches!(connection.state, State::Closed) {
            f(self, slot, &mut connection);
        }
        self.slots[slot].connection = Some(connection);
    }

    fn admit(&mut self, mut stream: TcpStream) {
        if self.stopping {
            return; // Accepted just before the accept was cancelled: closed unanswered, as after a shutdown.
        }
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
        self.occupied += 1;
        self.slots[slot].connection = Some(Connection {
            stream,
            state: State::Head,
            input: Vec::new(),
            start: 0,
            output: Vec::new(),
            sent: 0,
            receiving: false,
            sending: false,
            timer: None,
            ended: false,
            discarded: 0,
            deadline: Some(self.now + self.shared.limits.header_timeout),
            keep_alive: true,
            head_only: false,
            body: Framing::None,
            request: None,
        });
        self.advance(slot, Wake::Io);
    }

    /// Posts a receive unless one is in flight. The kernel picks its buffer from the pool when bytes arrive.
    fn post_recv(&mut self, slot: usize, connection: &mut Connection) {
        if connection.receiving {
            return;
        }
        let entry =
            opcode::Recv::new(types::Fd(connection.stream.as_raw_fd()), std::ptr::null_mut(), BUFFER_LEN as u32)
                .buf_group(BUFFER_GROUP)
                .build()
                .flags(squeue::Flags::BUFFER_SELECT);
        let tag = Tag::connection(slot, self.slots[slot].generation, Op::Recv);
        // SAFETY: no buffer of ours is named: the kernel takes one from the pool, which outlives every receive.
        unsafe { self.push(entry, tag) };
        connection.receiving = true;
    }

    /// Posts a send of what is left of the output unless one is in flight.
    fn post_send(&mut self, slot: usize, connection: &mut Connection) {
        if connection.sending {
            return;
        }
        let rest = &connection.output[connection.sent..];
        let entry = opcode::Send::new(types::Fd(connection.stream.as_raw_fd()), rest.as_ptr(), rest.len() as u32)
            .flags(libc::MSG_NOSIGNAL)
            .build();
        let tag = Tag::connection(slot, self.slots[slot].generation, Op::Send);
        // SAFETY: `output` is heap memory that moves with the connection without being reallocated; it is not
        // changed or dropped while `sending` is set — a closed connection keeps it until the send completes.
        unsafe { self.push(entry, tag) };
        connection.sending = true;
    }

    /// Makes sure a timer is set to go off no later than the connection's deadline.
    fn arm_timer(&mut self, slot: usize, connection: &mut Connection) {
        let Some(deadline) = connection.deadline else { return };
        let tag = Tag::connection(slot, self.slots[slot].generation, Op::Timer);
        if connection.timer.is_some_and(|armed| armed <= deadline) {
            // Set earlier: when it goes off, the timer is set again for the (later) deadline.
            return;
        }
        let timespec = self.timespec(deadline.saturating_duration_since(Instant::now()));
        match connection.timer {
            Some(_) => {
                // The deadline came closer (a keep-alive connection's idle timeout, then a short sleep): move it.
                let entry = opcode::TimeoutUpdate::new(tag.encode(), timespec).build();
                // SAFETY: the timespec lives in `timespecs` until the next submission.
                unsafe { self.push(entry, Tag::of_loop(Op::Control)) };
                connection.timer = Some(deadline);
            }
            None => {
                // SAFETY: the timespec lives in `timespecs` until the next submission.
                unsafe { self.push(opcode::Timeout::new(timespec).build(), tag) };
                connection.timer = Some(deadline);
            }
        }
    }

    /// Moves one connection's state machine on after `wake`, then puts it back to wait, or closes it.
    fn advance(&mut self, slot: usize, wake: Wake) {
        let Some(mut connection) = self.slots.get_mut(slot).and_then(|s| s.connection.take()) else { return };
        let step = match (wake, &connection.state) {
            (_, State::Closed) => Step::Wait,
            (Wake::Io, _) => self.drive(slot, &mut connection),
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
                if !matches!(connection.state, State::Closed) {
                    self.arm_timer(slot, &mut connection);
                }
                self.slots[slot].connection = Some(connection);
            }
            Step::Close => self.close(slot, connection),
        }
    }

    /// The state machine needs more bytes: a receive is posted, and the connection yields until it completes.
    fn want_bytes(&mut self, slot: usize, connection: &mut Connection) -> Step {
        if connection.ended {
            return Step::Close;
        }
        self.post_recv(slot, connection);
        Step::Wait
    }

    /// Runs the state machine until it must wait for a completion, a deadline or the pool.
    fn drive(&mut self, slot: usize, connection: &mut Connection<'w>) -> Step {
        loop {
            match &mut connection.state {
                State::Closed => return Step::Wait,
                State::Head => {
                    let shared = self.shared;
                    let (plan, len, body, keep_alive, head_only, logged, held_back) =
                        match http1::parse_head(&connection.input[connection.start..], shared.limits.max_head_bytes) {
                            Parsed::Partial => return self.want_bytes(slot, connection),
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
                            connection.state = if told {
                                connection.output = CONTINUE.to_vec();
                                connection.sent = 0;
                                State::Continuing(form)
                            } else {
                                State::ReadingForm(form)
                            };
                            continue;
                        }
                        plan => plan,
                    };
                    if let Some(step) = self.start(slot, connection, plan) {
                        return step;
                    }
                }
                State::Continuing(_) => {
                    if connection.ended {
                        return Step::Close;
                    }
                    if connection.sent < connection.output.len() {
                        // The connection yields until the kernel has sent it.
                        self.post_send(slot, connection);
                        return Step::Wait;
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
                        // The client went away mid-body: nobody to answer.
                        return self.want_bytes(slot, connection);
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
                    if connection.ended {
                        return Step::Close;
                    }
                    if connection.sent < connection.output.len() {
                        // The connection yields until the kernel has sent it (all of it, or part: then the
                        // rest is sent next).
                        self.post_send(slot, connection);
                        return Step::Wait;
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
                    return self.want_bytes(slot, connection);
                }
                State::Lingering => {
                    // Closing for a shutdown: the response has been sent whole, and the process will exit.
                    if self.stopping || connection.discarded > LINGER_BYTES {
                        return Step::Close;
                    }
                    return self.want_bytes(slot, connection);
                }
            }
        }
    }

    /// Carries out a planned request: answers it at once, or makes it wait on a timer or the worker pool
    /// (`Some(Step::Wait)`: the request yields). `None` when the response is ready to be sent.
    fn start(&mut self, slot: usize, connection: &mut Connection<'w>, plan: Plan) -> Option<Step> {
        match plan {
            Plan::Ready(reply) => self.respond(connection, reply),
            Plan::Sleep { wait, reply } => {
                // The request yields here: it waits on a timer on the ring, holding no thread and no buffer,
                // while the loop serves other connections.
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

    /// Logs the reply, encodes the response into the connection's output and makes sending it the next step.
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
        // No send is in flight here (the connection was reading or waiting), so the old output may go.
        debug_assert!(!connection.sending);
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

    /// Closes a connection: its operations in flight are cancelled, and its slot is freed once they have all
    /// completed ([`RingLoop::reap`]).
    fn close(&mut self, slot: usize, mut connection: Connection<'w>) {
        connection.state = State::Closed;
        connection.request = None;
        connection.input = Vec::new();
        connection.start = 0;
        connection.deadline = None;
        let generation = self.slots[slot].generation;
        for (op, in_flight) in
            [(Op::Recv, connection.receiving), (Op::Send, connection.sending), (Op::Timer, connection.timer.is_some())]
        {
            if in_flight {
                self.cancel(Tag::connection(slot, generation, op));
            }
        }
        self.slots[slot].connection = Some(connection);
        self.reap(slot);
    }

    /// Frees a closed connection's slot if none of its operations is in flight any more.
    fn reap(&mut self, slot: usize) {
        let entry = &mut self.slots[slot];
        let done = entry.connection.as_ref().is_some_and(|c| matches!(c.state, State::Closed) && !c.in_flight());
        if !done {
            return;
        }
        // Dropping the connection closes its socket: nothing of the kernel's refers to it or its output now.
        entry.connection = None;
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(slot);
        self.occupied -= 1;
        self.shared.open.fetch_sub(1, Ordering::SeqCst);
    }

    /// A clean shutdown starts: stop accepting, and close every connection that is not in a request (or is
    /// closing already).
    fn stop(&mut self) {
        self.stopping = true;
        if self.accepting {
            self.cancel(Tag::of_loop(Op::Accept));
        }
        if self.backing_off {
            self.cancel(Tag::of_loop(Op::AcceptBackoff));
        }
        // Closed after the cancellation is queued; the accept's file stays open in the kernel until then.
        self.listener = None;
        for slot in 0..self.slots.len() {
            let idle = |c: &Connection| matches!(c.state, State::Head | State::Lingering);
            if self.slots[slot].connection.as_ref().is_some_and(idle) {
                let connection = self.slots[slot].connection.take().expect("checked");
                self.close(slot, connection);
            }
        }
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

    /// Every tag survives the trip through `user_data`, and a slot's generation tells its connections apart.
    #[test]
    fn tags_name_slot_generation_and_operation() {
        for op in [Op::Recv, Op::Send, Op::Timer, Op::Accept, Op::AcceptBackoff, Op::Mailbox, Op::Control] {
            for (slot, generation) in [(0, 0), (1, 1), ((1 << SLOT_BITS) - 1, u32::MAX), (12345, 7)] {
                let tag = Tag::connection(slot, generation, op);
                assert_eq!(Tag::decode(tag.encode()), Some(tag));
            }
        }
        assert_ne!(
            Tag::connection(3, 1, Op::Recv).encode(),
            Tag::connection(3, 2, Op::Recv).encode(),
            "a late completion for the slot's previous connection must not match"
        );
        assert_eq!(Tag::decode(0), None);
    }

    /// docs/model.md counts a connection's slot at most 256 bytes: what one more idle or waiting connection adds
    /// in the process besides the kernel's socket and requests (and, while it sleeps, its reply's text).
    #[test]
    fn a_connection_is_small() {
        let slot = std::mem::size_of::<Slot>();
        assert!(slot <= 256, "a connection's slot takes {slot} bytes");
    }
}
