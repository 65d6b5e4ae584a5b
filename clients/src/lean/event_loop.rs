//! The lean engine on an explicit event loop (`async-client --engine loop`): one mio `Poll` per thread and a
//! small state machine per connection — no task, no executor, no reactor shared between threads. wrk's design.
//!
//! The bytes are the lean engine's ([`super`]): the requests encoded once, the first request written straight
//! after `connect(2)`, each response framed in place in one read buffer per thread. So `--engine lean` against
//! `--engine loop` differs only in the concurrency layer, and the difference is what the task model costs the
//! client: a task per slot on smol's executor, async-io's one reactor for every thread (a connection is
//! registered, re-armed for each wait, since async-io's registrations are one-shot, and deregistered; a thread
//! whose socket became ready may be woken by another thread that holds the reactor), against a loop that owns its
//! epoll: each connection registered once, edge-triggered (`epoll_ctl` ADD, nothing per wait; closing the socket
//! removes it), and each thread woken only for its own sockets (results/experiments/loop-client-burst.txt).
//!
//! Timeouts need no timer wheel: every request has the same `--timeout` and requests start in time order, so
//! their deadlines fall due in the order they were set, and a FIFO queue is the whole timer.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use super::{
    connecting_socket, is_connect_failure, read_step, stale, ExchangeError, Framing, LeanEngine, ReadError,
    BUFFER_BYTES, UNSENT,
};
use crate::cli::url_index;
use crate::outcome::Outcome;
use crate::phase::{Phase, ThreadRun};
use crate::recorder::Recorder;

/// Readiness events taken from the kernel per `epoll_wait`.
const EVENTS: usize = 1024;

/// One thread's event loop and its slots' connections. Built on the thread that runs it.
pub struct LoopThread<'e> {
    engine: &'e LeanEngine,
    /// The thread's epoll, or why it could not be created (then every request fails, with that reason).
    poll: Result<Poll, String>,
    events: Events,
    slots: Vec<SlotState>,
    /// Every read of this thread lands here ([`read_step`]); a slot keeps only an unconsumed tail.
    scratch: Vec<u8>,
    /// (deadline, slot, the slot's request generation), in the order the requests started, which is the order
    /// their deadlines fall due.
    deadlines: VecDeque<(Instant, usize, u64)>,
    /// Slots ready after the last `epoll_wait`: (slot, writable, readable). Kept to reuse its allocation.
    ready: Vec<(usize, bool, bool)>,
}

/// One slot: a connection, reused from request to request, and the request in flight on it.
struct SlotState {
    stream: Option<TcpStream>,
    source: Option<SocketAddr>,
    /// Registered for writability too: only while a request waits for room to be written (or for its handshake).
    writable_interest: bool,
    /// The unconsumed bytes of the response being read between two reads (usually empty and unallocated).
    pending: Vec<u8>,
    request: Option<Request>,
    /// Requests this slot has started: a deadline of an earlier one is recognised as stale.
    generation: u64,
    /// How long the last connection opened took to establish, until recorded with its request.
    connect_time: Option<Duration>,
}

/// The request in flight on a slot.
struct Request {
    number: u64,
    url: usize,
    /// Latency counts from here.
    origin: Instant,
    /// Bytes of the request written so far.
    written: usize,
    /// Sent on a connection an earlier request used: a close before any byte of the response means the server had
    /// closed it while idle, which says nothing about this request, so it is retried once on a fresh one.
    reused: bool,
    retried: bool,
    framing: Framing,
    /// When `connect(2)` was called, while the handshake is not known to be complete.
    connecting: Option<Instant>,
}

impl<'e> LoopThread<'e> {
    /// The loop for `slots` slots of `engine`, not connected yet.
    pub fn new(engine: &'e LeanEngine, slots: usize) -> LoopThread<'e> {
        let slots = (0..slots)
            .map(|_| SlotState {
                stream: None,
                source: engine.next_source(),
                writable_interest: false,
                pending: Vec::new(),
                request: None,
                generation: 0,
                connect_time: None,
            })
            .collect();
        LoopThread {
            engine,
            poll: Poll::new().map_err(|e| format!("cannot create an event loop: {e}")),
            events: Events::with_capacity(EVENTS),
            slots,
            scratch: vec![0; BUFFER_BYTES],
            deadlines: VecDeque::new(),
            ready: Vec::new(),
        }
    }

    /// Starts the slot's next request, if `stop` allows one; requests that fail at once are recorded and the
    /// next taken. Returns whether a request is now in flight on the slot.
    fn start(&mut self, slot: usize, phase: &Phase) -> bool {
        loop {
            let index = phase.next.fetch_add(1, Ordering::Relaxed);
            if phase.stop.reached(index) {
                return false;
            }
            let number = phase.first_index + index;
            let now = Instant::now();
            let state = &mut self.slots[slot];
            state.generation += 1;
            state.request = Some(Request {
                number,
                url: url_index(number, phase.plan.urls),
                origin: now,
                written: 0,
                reused: state.stream.is_some(),
                retried: false,
                framing: Framing::Head,
                connecting: None,
            });
            self.deadlines.push_back((now + phase.plan.timeout, slot, state.generation));
            match self.send(slot) {
                Ok(()) => return true,
                Err(error) => match self.retry_or_fail(slot, error) {
                    None => return true,
                    Some(outcome) => self.finish(slot, outcome, phase.recorder),
                },
            }
        }
    }

    /// Writes what is left of the slot's request, opening a connection first if it has none. `Ok` when all of it
    /// is written or the socket has no room yet (the loop waits for writability).
    fn send(&mut self, slot: usize) -> Result<(), ExchangeError> {
        let LoopThread { engine, poll, slots, .. } = self;
        let poll = poll.as_ref().map_err(|why| ExchangeError::Io(io::Error::other(why.clone())))?;
        let state = &mut slots[slot];
        let request = state.request.as_mut().expect("send is called with a request in flight");
        if state.stream.is_none() {
            request.connecting = Some(Instant::now());
            let socket = connecting_socket(engine.addr, state.source).map_err(ExchangeError::Connect)?;
            let mut stream = TcpStream::from_std(socket);
            // Once per connection: edge-triggered, so nothing is re-armed after each wait.
            poll.registry().register(&mut stream, Token(slot), Interest::READABLE).map_err(ExchangeError::Io)?;
            state.stream = Some(stream);
            state.writable_interest = false;
        }
        let stream = state.stream.as_mut().expect("connected above");
        let bytes = &engine.requests[request.url];
        let reused = request.reused;
        while request.written < bytes.len() {
            match stream.write(&bytes[request.written..]) {
                Ok(0) => return Err(stale(reused, UNSENT.into(), None)),
                Ok(n) => {
                    // The first byte accepted on a new connection: its handshake is complete.
                    if let Some(started) = request.connecting.take() {
                        state.connect_time = Some(started.elapsed());
                    }
                    request.written += n;
                }
                // In SYN-SENT still (on loopback the handshake nearly always completes inside connect(2)), or
                // the send buffer is full: wait until the socket turns writable.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !state.writable_interest {
                        let interest = Interest::READABLE | Interest::WRITABLE;
                        poll.registry().reregister(stream, Token(slot), interest).map_err(ExchangeError::Io)?;
                        state.writable_interest = true;
                    }
                    return Ok(());
                }
                Err(e) if request.connecting.is_some() && is_connect_failure(&e) => {
                    return Err(ExchangeError::Connect(e))
                }
                Err(e) => return Err(stale(reused, UNSENT.into(), Some(e))),
            }
        }
        if state.writable_interest {
            // Written: writability would only wake the loop for nothing from now on.
            poll.registry().reregister(stream, Token(slot), Interest::READABLE).map_err(ExchangeError::Io)?;
            state.writable_interest = false;
        }
        Ok(())
    }

    /// After `error` on the slot's request: a stale reused connection is replaced and the request sent again
    /// (once); `None` then, unless that fails too. Otherwise the connection is dropped and the failure returned.
    fn retry_or_fail(&mut self, slot: usize, error: ExchangeError) -> Option<Outcome> {
        let state = &mut self.slots[slot];
        state.stream = None;
        state.pending.clear();
        let request = state.request.as_mut().expect("a request in flight failed");
        if !matches!(error, ExchangeError::Stale(_)) || request.retried {
            return Some(error.outcome());
        }
        *request =
            Request { written: 0, reused: false, retried: true, framing: Framing::Head, connecting: None, ..*request };
        match self.send(slot) {
            Ok(()) => None,
            Err(error) => {
                self.slots[slot].stream = None;
                Some(error.outcome())
            }
        }
    }

    /// Reads what arrived on the slot's connection; `Some` when its request is done (answered or failed).
    fn receive(&mut self, slot: usize) -> Option<Outcome> {
        let LoopThread { engine, slots, scratch, .. } = self;
        let state = &mut slots[slot];
        let (Some(stream), Some(request)) = (state.stream.as_ref(), state.request.as_mut()) else { return None };
        // Edge-triggered: read until the response is complete or the socket has nothing more.
        loop {
            let error = match read_step(stream, scratch, &mut state.pending, &mut request.framing) {
                Ok(None) => continue,
                Ok(Some(done)) => {
                    // Bytes after the response would mean the server sent something we did not ask for.
                    if done.close || !engine.keep_alive || done.leftover {
                        state.stream = None;
                    }
                    return Some(Outcome::from_status(done.status));
                }
                // Nothing more for now: the next edge brings the rest.
                Err(ReadError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(ReadError::Io(e)) if matches!(request.framing, Framing::Head) && state.pending.is_empty() => {
                    stale(request.reused, format!("connection reset before the response: {e}"), Some(e))
                }
                Err(ReadError::Io(e)) => ExchangeError::Io(e),
                Err(ReadError::Exchange(e)) => e,
                Err(ReadError::ClosedBeforeResponse) => {
                    stale(request.reused, "connection closed before the response".into(), None)
                }
            };
            return self.retry_or_fail(slot, error);
        }
    }

    /// Records the slot's finished request (and the connect time of the connection it opened, if any).
    fn finish(&mut self, slot: usize, outcome: Outcome, rec: &RefCell<Recorder>) {
        let state = &mut self.slots[slot];
        let Some(request) = state.request.take() else { return };
        // The borrow lasts for this call only.
        let mut rec = rec.borrow_mut();
        rec.record(request.number, outcome, request.origin.elapsed());
        if let Some(took) = state.connect_time.take() {
            rec.record_connect(took);
        }
    }

    /// Handles the readiness of one slot's socket; `Some` when its request is done.
    fn on_ready(&mut self, slot: usize, writable: bool, readable: bool) -> Option<Outcome> {
        let engine = self.engine;
        let state = &mut self.slots[slot];
        if state.request.is_none() {
            // Bytes or a close on an idle connection (registered for reading only): the server closed it, or sent
            // what we did not ask for. The slot's next request opens a fresh one.
            state.stream = None;
            return None;
        }
        let unsent =
            |state: &SlotState| state.request.as_ref().is_some_and(|r| r.written < engine.requests[r.url].len());
        if writable && unsent(state) {
            if state.request.as_ref().is_some_and(|r| r.connecting.is_some()) {
                // The handshake ended: established, or failed with the socket's error.
                if let Some(Ok(Some(e)) | Err(e)) = state.stream.as_ref().map(TcpStream::take_error) {
                    return self.retry_or_fail(slot, ExchangeError::Connect(e));
                }
            }
            if let Err(error) = self.send(slot) {
                return self.retry_or_fail(slot, error);
            }
        }
        if readable && !unsent(&self.slots[slot]) {
            return self.receive(slot);
        }
        None
    }

    /// Drops the deadlines of requests already finished from the front of the queue; returns how long until the
    /// first one still pending falls due.
    fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&(deadline, slot, generation)) = self.deadlines.front() {
            let state = &self.slots[slot];
            if state.generation == generation && state.request.is_some() {
                return Some(deadline);
            }
            self.deadlines.pop_front();
        }
        None
    }
}

impl ThreadRun for LoopThread<'_> {
    fn phase(&mut self, phase: &Phase) {
        let mut in_flight = 0;
        for slot in 0..self.slots.len() {
            in_flight += usize::from(self.start(slot, phase));
        }
        while in_flight > 0 {
            let deadline = self.next_deadline();
            let Ok(poll) = self.poll.as_mut() else { unreachable!("without a poll every request fails at once") };
            // Blocks this thread in epoll_wait until one of its sockets is ready or the earliest deadline passes.
            let wait = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if let Err(e) = poll.poll(&mut self.events, wait) {
                if e.kind() != io::ErrorKind::Interrupted {
                    panic!("epoll_wait failed: {e}");
                }
            }
            let mut ready = std::mem::take(&mut self.ready);
            ready.extend(self.events.iter().map(|e| {
                let closed = e.is_error() || e.is_read_closed() || e.is_write_closed();
                (e.token().0, e.is_writable() || closed, e.is_readable() || closed)
            }));
            for &(slot, writable, readable) in &ready {
                if let Some(outcome) = self.on_ready(slot, writable, readable) {
                    self.finish(slot, outcome, phase.recorder);
                    if !self.start(slot, phase) {
                        in_flight -= 1;
                    }
                }
            }
            ready.clear();
            self.ready = ready;
            // Requests past their deadline: forget their connections (the response may still be on its way).
            let now = Instant::now();
            while self.next_deadline().is_some_and(|d| d <= now) {
                let (_, slot, _) = self.deadlines.pop_front().expect("next_deadline saw it");
                self.slots[slot].stream = None;
                self.slots[slot].pending.clear();
                self.finish(slot, Outcome::timed_out(phase.plan.timeout), phase.recorder);
                if !self.start(slot, phase) {
                    in_flight -= 1;
                }
            }
        }
    }
}
