//! One completion loop: an io_uring, a listening socket with a multishot accept posted on it, the connections
//! it accepted, and the operations each has in flight.
//!
//! Each turn of [`RingLoop::run`] makes one `io_uring_enter`: it submits what the last turn queued (receives,
//! sends, timers, cancellations, buffers given back) and sleeps until at least one completion is there. Then
//! each completion moves its connection's state machine as far as it can go, which queues the next
//! operations. Nothing here blocks, except `/block`, on purpose.

use super::Mailbox;
use crate::launch::{self, Draining};
use crate::lean::connection::{self, Connection, Core, Progress, State, Step, Transport, BUSY, LINGER_BYTES};
use crate::lean::runtime::{self, Finished, Shared};
use crate::lean::timers::{Slot, Timers};
use crate::workload::Reply;
use io_uring::{cqueue, opcode, squeue, types, IoUring};
use std::io::{self, ErrorKind, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
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
const _: () = assert!(BUFFERS.is_power_of_two(), "the buffer ring is indexed by masking its tail");
/// The loop's one buffer group.
const BUFFER_GROUP: u16 = 0;

/// What an operation on the ring is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Op {
    /// A connection's receive (its buffer chosen by the kernel from the pool).
    Recv = 1,
    /// A connection's send of its output.
    Send = 2,
    /// The loop's one timer, set to its connections' earliest deadline.
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

/// What the loop keeps about a connection's socket: what it has in flight on the ring.
pub struct Ring {
    stream: TcpStream,
    /// Operations in flight: a receive, a send (the kernel reads the connection's output until it completes:
    /// the output is neither changed nor freed until then).
    receiving: bool,
    sending: bool,
    /// The client has closed its side (a receive returned 0) or the socket failed.
    ended: bool,
    /// Bytes thrown away while lingering.
    discarded: usize,
    /// Closed: operations still in flight are being cancelled; the slot is freed when their completions are in.
    closed: bool,
}

impl Ring {
    fn in_flight(&self) -> bool {
        self.receiving || self.sending
    }
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

/// The provided buffers: one allocation the kernel writes received bytes into, a buffer at a time, and the
/// buffer ring (`IORING_REGISTER_PBUF_RING`) through which the loop lends them to the kernel. Giving a buffer
/// back is a write to that ring in shared memory — no operation on the submission queue, no system call.
struct BufferPool {
    /// From `Box::into_raw`, freed in `Drop`; kept as a raw pointer because the kernel writes into it while the
    /// loop reads other buffers of it.
    base: *mut u8,
    /// [`BUFFERS`] entries, page-aligned as the kernel requires; from `std::alloc`, freed in `Drop`.
    ring: *mut types::BufRingEntry,
    /// The ring's tail as the loop has written it: entries before it are the kernel's to take.
    tail: u16,
}

impl BufferPool {
    fn ring_layout() -> std::alloc::Layout {
        let bytes = std::mem::size_of::<types::BufRingEntry>() * usize::from(BUFFERS);
        std::alloc::Layout::from_size_align(bytes, 4096).expect("a valid layout")
    }

    fn new() -> BufferPool {
        let memory = vec![0u8; BUFFER_LEN * usize::from(BUFFERS)].into_boxed_slice();
        // SAFETY: the layout's size is not zero. Zeroed: an entry is plain data, and the tail starts at 0.
        let ring = unsafe { std::alloc::alloc_zeroed(Self::ring_layout()) }.cast::<types::BufRingEntry>();
        if ring.is_null() {
            std::alloc::handle_alloc_error(Self::ring_layout());
        }
        let mut pool = BufferPool { base: Box::into_raw(memory).cast(), ring, tail: 0 };
        for id in 0..BUFFERS {
            pool.give_back(id);
        }
        pool
    }

    /// Registers the ring with the kernel as [`BUFFER_GROUP`].
    fn register(&self, ring: &IoUring) -> io::Result<()> {
        // SAFETY: the ring's memory is BUFFERS entries, page-aligned, and lives until the pool is dropped,
        // which happens only after the io_uring is dropped (field order in `RingLoop`).
        unsafe { ring.submitter().register_buf_ring_with_flags(self.ring as u64, BUFFERS, BUFFER_GROUP, 0) }
    }

    fn buffer(&self, id: u16) -> *mut u8 {
        // SAFETY: `id` < BUFFERS (the kernel hands back only ids it was given), so the offset is in the
        // allocation.
        unsafe { self.base.add(usize::from(id) * BUFFER_LEN) }
    }

    /// Lends buffer `id` to the kernel again: an entry at the tail, then the tail moved past it.
    fn give_back(&mut self, id: u16) {
        let index = usize::from(self.tail & (BUFFERS - 1));
        // SAFETY: `index` < BUFFERS. The kernel reads only entries before the tail, and at most BUFFERS are
        // lent at once, so this entry is not one it may be reading.
        let entry = unsafe { &mut *self.ring.add(index) };
        entry.set_addr(self.buffer(id) as u64);
        entry.set_len(BUFFER_LEN as u32);
        entry.set_bid(id);
        self.tail = self.tail.wrapping_add(1);
        // SAFETY: the tail field lies in the ring's first entry, which is allocated; the kernel reads it with
        // acquire ordering, so the entry written above is seen before the new tail.
        let tail = unsafe { std::sync::atomic::AtomicU16::from_ptr(types::BufRingEntry::tail(self.ring).cast_mut()) };
        tail.store(self.tail, Ordering::Release);
    }
}

// SAFETY: the pool is memory owned by one loop, moved to the loop's thread before it runs and used only there
// (the kernel's writes into it are synchronised by the ring's completions).
unsafe impl Send for BufferPool {}

impl Drop for BufferPool {
    fn drop(&mut self) {
        let all = std::ptr::slice_from_raw_parts_mut(self.base, BUFFER_LEN * usize::from(BUFFERS));
        // SAFETY: `base` came from `Box::into_raw` of a slice this long, `ring` from `alloc_zeroed` with this
        // layout. The pool is dropped only when the loop has no receive in flight (see `RingLoop::run`) and
        // after its io_uring, so the kernel holds no pointer into either.
        unsafe {
            drop(Box::from_raw(all));
            std::alloc::dealloc(self.ring.cast(), Self::ring_layout());
        }
    }
}

pub(super) struct RingLoop {
    core: Core<'static, Mailbox>,
    ring: IoUring,
    /// None once a shutdown has started.
    listener: Option<TcpListener>,
    /// What the mailbox's eventfd read writes into: a counter the loop ignores.
    wakes: Box<u64>,
    pool: BufferPool,
    slots: Vec<Slot<'static, Ring>>,
    free: Vec<usize>,
    /// Slots in use, closed ones waiting for completions included.
    occupied: usize,
    /// The connections' deadlines, earliest first, and when the ring's one timer is set to go off while it is
    /// in flight.
    timers: Timers,
    alarm: Option<Instant>,
    alarm_cancelled: bool,
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
    /// Counts this loop as busy for a clean shutdown until it ends.
    _draining: Draining,
}

impl runtime::Loop for RingLoop {
    type Mailbox = Mailbox;

    fn new(shared: &'static Shared<Mailbox>, listener: TcpListener, draining: Draining) -> io::Result<Self> {
        let setup = || {
            let mailbox = Arc::new(Mailbox::new()?);
            // One thread submits and reaps (SINGLE_ISSUER), and the kernel runs completion work only when that
            // thread waits in io_uring_enter (DEFER_TASKRUN), not by interrupting it. Disabled until the loop's
            // own thread enables it in `run`: the ring is made here, on the thread that starts the server.
            let ring = IoUring::builder()
                .setup_cqsize(COMPLETION_ENTRIES)
                .setup_single_issuer()
                .setup_defer_taskrun()
                .setup_r_disabled()
                .build(SUBMISSION_ENTRIES)?;
            Ok::<_, io::Error>((mailbox, ring))
        };
        let (mailbox, ring) =
            setup().map_err(|e| io::Error::new(e.kind(), format!("cannot set up an io_uring loop: {e}")))?;
        let mut ring_loop = RingLoop {
            core: Core::new(shared, mailbox),
            ring,
            listener: Some(listener),
            wakes: Box::new(0),
            pool: BufferPool::new(),
            slots: Vec::new(),
            free: Vec::new(),
            occupied: 0,
            timers: Timers::default(),
            alarm: None,
            alarm_cancelled: false,
            accepting: false,
            backing_off: false,
            reading_mailbox: false,
            mailbox_cancelled: false,
            starved: Vec::new(),
            timespecs: Vec::new(),
            _draining: draining,
        };
        ring_loop.pool.register(&ring_loop.ring)?;
        ring_loop.arm_accept();
        ring_loop.arm_mailbox();
        Ok(ring_loop)
    }

    fn mailbox(&self) -> Arc<Mailbox> {
        Arc::clone(&self.core.mailbox)
    }

    /// Runs until a clean shutdown has closed every connection and every operation has completed.
    fn run(mut self: Box<Self>) -> io::Result<()> {
        let result = self.turn_until_drained();
        if result.is_err() {
            // Operations may still be in flight, with pointers into the buffer pool, the mailbox's counter or
            // an output buffer: leak it all rather than free memory the kernel could still write into.
            std::mem::forget(self);
        }
        result
    }
}

impl RingLoop {
    fn turn_until_drained(&mut self) -> io::Result<()> {
        // From here on, this thread is the ring's only submitter.
        self.ring.submitter().register_enable_rings()?;
        let mut completions = Vec::with_capacity(COMPLETION_ENTRIES as usize);
        loop {
            if !self.core.stopping && self.core.shared.stopping.load(Ordering::SeqCst) {
                self.stop();
            }
            if self.core.stopping && self.occupied == 0 {
                if self.reading_mailbox && !self.mailbox_cancelled {
                    // Nothing can come from the pool any more: take the mailbox's read back.
                    self.cancel(Tag::of_loop(Op::Mailbox));
                    self.mailbox_cancelled = true;
                }
                if self.alarm.is_some() && !self.alarm_cancelled {
                    // No connection is left to wait for: take the timer back too.
                    self.cancel(Tag::of_loop(Op::Timer));
                    self.alarm_cancelled = true;
                }
                if !(self.accepting || self.backing_off || self.reading_mailbox || self.alarm.is_some()) {
                    return Ok(());
                }
            } else {
                self.arm_alarm();
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
            self.core.now = Instant::now();
            self.core.date.refresh();
            completions.extend(self.ring.completion().map(|c| (c.user_data(), c.result(), c.flags())));
            for (data, result, flags) in completions.drain(..) {
                if let Some(tag) = Tag::decode(data) {
                    self.complete(tag, result, flags);
                }
            }
            for (slot, generation) in self.timers.expired(self.core.now, &mut self.slots) {
                if self.slots[slot].generation == generation {
                    self.advance(slot, Wake::Deadline);
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
        let entry = opcode::Read::new(types::Fd(self.core.mailbox.eventfd.as_raw_fd()), counter.cast(), 8).build();
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
                } else if result != -libc::ECANCELED && !self.core.stopping {
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
                if !self.accepting && !self.backing_off && !self.core.stopping {
                    self.arm_accept();
                }
            }
            Op::AcceptBackoff => {
                self.backing_off = false;
                if !self.core.stopping {
                    self.arm_accept();
                }
            }
            Op::Mailbox => {
                self.reading_mailbox = false;
                if !self.core.stopping && self.core.shared.stopping.load(Ordering::SeqCst) {
                    self.stop();
                }
                let replies =
                    std::mem::take(&mut *self.core.mailbox.finished.lock().unwrap_or_else(|e| e.into_inner()));
                for Finished { slot, generation, reply } in replies {
                    if self.slots.get(slot).is_some_and(|s| s.generation == generation) {
                        self.advance(slot, Wake::Reply(reply));
                    }
                }
                if !(self.core.stopping && self.occupied == 0) {
                    self.arm_mailbox();
                }
            }
            Op::Recv => self.received(tag, result, flags),
            Op::Send => {
                let Some(connection) = self.connection_of(tag) else { return };
                connection.io.sending = false;
                match result {
                    1.. => connection.sent += result as usize,
                    // Nothing sent or the socket failed: nobody to answer any more.
                    _ => connection.io.ended = true,
                }
                self.after_completion(tag);
            }
            // The deadlines that passed are run after this turn's completions.
            Op::Timer => self.alarm = None,
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
        connection.io.receiving = false;
        let starved = result == -libc::ENOBUFS;
        match result {
            1.. if matches!(connection.state, State::Lingering) => connection.io.discarded += bytes.len(),
            1.. => connection.take_in(bytes),
            // The pool is empty for now: the receive is posted again once buffers are back.
            _ if starved => {}
            // The end of the stream, or the socket failed (or the receive was cancelled for a close).
            _ => connection.io.ended = true,
        }
        let closed = connection.io.closed;
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
        self.pool.give_back(id);
    }

    /// After a receive or a send: free a closed connection's slot once nothing is in flight, or run it.
    fn after_completion(&mut self, tag: Tag) {
        let slot = tag.slot as usize;
        if self.connection_of(tag).is_some_and(|c| c.io.closed) {
            self.reap(slot);
        } else if self.connection_of(tag).is_some() {
            self.advance(slot, Wake::Io);
        }
    }

    /// The connection a completion is for, if its slot still holds that generation's connection.
    fn connection_of(&mut self, tag: Tag) -> Option<&mut Connection<'static, Ring>> {
        let slot = self.slots.get_mut(tag.slot as usize)?;
        slot.connection.as_mut().filter(|_| slot.generation == tag.generation)
    }

    fn with_connection(
        &mut self,
        slot: usize,
        generation: u32,
        f: impl FnOnce(&mut Self, usize, &mut Connection<'static, Ring>),
    ) {
        let Some(entry) = self.slots.get_mut(slot).filter(|s| s.generation == generation) else { return };
        let Some(mut connection) = entry.connection.take() else { return };
        if !connection.io.closed {
            f(self, slot, &mut connection);
        }
        self.slots[slot].connection = Some(connection);
    }

    fn admit(&mut self, mut stream: TcpStream) {
        if self.core.stopping {
            return; // Accepted just before the accept was cancelled: closed unanswered, as after a shutdown.
        }
        if self.core.shared.open.fetch_add(1, Ordering::SeqCst) >= self.core.shared.limits.max_connections {
            self.core.shared.open.fetch_sub(1, Ordering::SeqCst);
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
        let ring = Ring { stream, receiving: false, sending: false, ended: false, discarded: 0, closed: false };
        let deadline = self.core.now + self.core.shared.limits.header_timeout;
        self.slots[slot].connection = Some(Connection::new(ring, deadline));
        self.advance(slot, Wake::Io);
    }

    /// Posts a receive unless one is in flight. The kernel picks its buffer from the pool when bytes arrive.
    fn post_recv(&mut self, slot: usize, connection: &mut Connection<'static, Ring>) {
        if connection.io.receiving {
            return;
        }
        let entry =
            opcode::Recv::new(types::Fd(connection.io.stream.as_raw_fd()), std::ptr::null_mut(), BUFFER_LEN as u32)
                .buf_group(BUFFER_GROUP)
                .build()
                .flags(squeue::Flags::BUFFER_SELECT);
        let tag = Tag::connection(slot, self.slots[slot].generation, Op::Recv);
        // SAFETY: no buffer of ours is named: the kernel takes one from the pool, which outlives every receive.
        unsafe { self.push(entry, tag) };
        connection.io.receiving = true;
    }

    /// Posts a send of what is left of the output unless one is in flight.
    fn post_send(&mut self, slot: usize, connection: &mut Connection<'static, Ring>) {
        if connection.io.sending {
            return;
        }
        let rest = &connection.output[connection.sent..];
        let entry = opcode::Send::new(types::Fd(connection.io.stream.as_raw_fd()), rest.as_ptr(), rest.len() as u32)
            .flags(libc::MSG_NOSIGNAL)
            .build();
        let tag = Tag::connection(slot, self.slots[slot].generation, Op::Send);
        // SAFETY: `output` is heap memory that moves with the connection without being reallocated; it is not
        // changed or dropped while `sending` is set — a closed connection keeps it until the send completes.
        unsafe { self.push(entry, tag) };
        connection.io.sending = true;
    }

    /// Makes sure the ring's timer goes off no later than the earliest deadline: one `Timeout` operation for
    /// the whole loop, moved earlier with `TimeoutUpdate` when a nearer deadline comes, so that the kernel's
    /// list of this ring's timeouts, which it searches to move one, stays one entry long
    /// ([`crate::lean::timers`]).
    fn arm_alarm(&mut self) {
        let Some(next) = self.timers.next() else { return };
        if self.alarm.is_some_and(|armed| armed <= next) {
            // Set earlier: when it goes off, the timer is set again for the next deadline.
            return;
        }
        let timespec = self.timespec(next.saturating_duration_since(Instant::now()));
        let tag = Tag::of_loop(Op::Timer);
        let (entry, entry_tag) = match self.alarm {
            // If it has gone off meanwhile, the update finds nothing (ENOENT), and the timer's completion, in
            // the next turn, lets it be set again.
            Some(_) => (opcode::TimeoutUpdate::new(tag.encode(), timespec).build(), Tag::of_loop(Op::Control)),
            None => (opcode::Timeout::new(timespec).build(), tag),
        };
        // SAFETY: the timespec lives in `timespecs` until the next submission.
        unsafe { self.push(entry, entry_tag) };
        self.alarm = Some(next);
    }

    /// Moves one connection's state machine on after `wake`, then puts it back to wait, or closes it.
    fn advance(&mut self, slot: usize, wake: Wake) {
        let Some(mut connection) = self.slots.get_mut(slot).and_then(|s| s.connection.take()) else { return };
        let step = match wake {
            _ if connection.io.closed => Step::Wait,
            Wake::Io => connection::drive(self, slot, &mut connection),
            Wake::Deadline => connection::deadline(self, slot, &mut connection),
            Wake::Reply(reply) => connection::reply(self, slot, &mut connection, reply),
        };
        match step {
            Step::Wait => {
                if !connection.io.closed {
                    self.timers.schedule(slot, self.slots[slot].generation, &mut connection);
                }
                self.slots[slot].connection = Some(connection);
            }
            Step::Close => self.close(slot, connection),
        }
    }

    /// Closes a connection: its operations in flight are cancelled, and its slot is freed once they have all
    /// completed ([`RingLoop::reap`]).
    fn close(&mut self, slot: usize, mut connection: Connection<'static, Ring>) {
        connection.io.closed = true;
        connection.clear();
        let generation = self.slots[slot].generation;
        let ring = &connection.io;
        for (op, in_flight) in [(Op::Recv, ring.receiving), (Op::Send, ring.sending)] {
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
        let done = entry.connection.as_ref().is_some_and(|c| c.io.closed && !c.io.in_flight());
        if !done {
            return;
        }
        // Dropping the connection closes its socket: nothing of the kernel's refers to it or its output now.
        entry.connection = None;
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(slot);
        self.occupied -= 1;
        self.core.shared.open.fetch_sub(1, Ordering::SeqCst);
        self.timers.sweep(self.occupied, &self.slots);
    }

    /// A clean shutdown starts: stop accepting, and close every connection that is not in a request (or is
    /// closing already).
    fn stop(&mut self) {
        self.core.stopping = true;
        if self.accepting {
            self.cancel(Tag::of_loop(Op::Accept));
        }
        if self.backing_off {
            self.cancel(Tag::of_loop(Op::AcceptBackoff));
        }
        // Closed after the cancellation is queued; the accept's file stays open in the kernel until then.
        self.listener = None;
        for slot in 0..self.slots.len() {
            let idle = |c: &Connection<'static, Ring>| !c.io.closed && c.idle();
            if self.slots[slot].connection.as_ref().is_some_and(idle) {
                let connection = self.slots[slot].connection.take().expect("checked");
                self.close(slot, connection);
            }
        }
    }
}

impl Transport<'static> for RingLoop {
    type Io = Ring;
    type Mailbox = Mailbox;

    fn core(&mut self) -> &mut Core<'static, Mailbox> {
        &mut self.core
    }

    fn generation(&self, slot: usize) -> u32 {
        self.slots[slot].generation
    }

    /// Posts a receive: the connection yields until it completes, and the bytes are in its input then.
    fn receive(&mut self, slot: usize, connection: &mut Connection<'static, Ring>) -> Progress {
        if connection.io.ended {
            return Progress::Close;
        }
        self.post_recv(slot, connection);
        Progress::Wait
    }

    /// Posts a send of what is left of the output: the connection yields until the kernel has sent it (all of
    /// it, or part: then the rest is sent next).
    fn send(&mut self, slot: usize, connection: &mut Connection<'static, Ring>) -> Progress {
        if connection.io.ended {
            return Progress::Close;
        }
        if connection.sent < connection.output.len() {
            self.post_send(slot, connection);
            return Progress::Wait;
        }
        Progress::Done
    }

    fn discard(&mut self, slot: usize, connection: &mut Connection<'static, Ring>) -> Step {
        // What a receive brings while lingering is counted in `discarded` and thrown away.
        if connection.io.discarded > LINGER_BYTES {
            return Step::Close;
        }
        match self.receive(slot, connection) {
            Progress::Close => Step::Close,
            Progress::Done | Progress::Wait => Step::Wait,
        }
    }

    fn shut_write(io: &Ring) {
        let _ = io.stream.shutdown(Shutdown::Write);
    }

    fn peer(io: &Ring) -> Option<SocketAddr> {
        io.stream.peer_addr().ok()
    }

    fn output_free(io: &Ring) -> bool {
        !io.sending
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
        let slot = std::mem::size_of::<Slot<'static, Ring>>();
        assert!(slot <= 256, "a connection's slot takes {slot} bytes");
    }
}
