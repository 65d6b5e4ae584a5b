//! One event loop: a mio `Poll`, a listening socket, the connections it accepted and their timers — a
//! readiness loop.
//!
//! Each turn of [`EventLoop::run`] waits in epoll until a socket is ready, a reply comes back from the worker
//! pool or the earliest deadline passes, then moves each concerned connection's state machine
//! ([`super::connection`]) as far as it can go without waiting. Readiness means the loop does the I/O itself:
//! it reads and writes at once, until the kernel says `WouldBlock`. Nothing here blocks, except `/block`, on
//! purpose.

use super::connection::{self, Connection, Core, Progress, State, Step, Transport, BUSY, LINGER_BYTES};
use super::runtime::{self, Finished, Shared};
use super::timers::{Slot, Timers};
use crate::launch::{self, Draining};
use crate::workload::Reply;
use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

const LISTENER: Token = Token(usize::MAX);
const MAILBOX: Token = Token(usize::MAX - 1);

/// Bytes read from a socket at a time, into the loop's one read buffer.
const READ_CHUNK: usize = 16 * 1024;

/// Where the worker pool leaves replies for one loop, and the eventfd that wakes it.
pub struct Mailbox {
    finished: Mutex<Vec<Finished>>,
    waker: Waker,
}

impl runtime::Mailbox for Mailbox {
    fn post(&self, finished: Finished) {
        self.finished.lock().unwrap_or_else(|e| e.into_inner()).push(finished);
        self.wake();
    }

    fn wake(&self) {
        // Fails only if the eventfd's counter is full: the loop has not run for 2^64 wakes, and will.
        let _ = self.waker.wake();
    }
}

/// What the loop keeps about a connection's socket.
pub struct Socket {
    stream: TcpStream,
    /// Whether the last read may have left bytes in the socket (edge-triggered: no new event will say so).
    readable: bool,
    /// The client has sent its FIN (or the socket failed): reads go on until they return 0, even after a short
    /// one, since the end of the stream comes with no further event.
    read_closed: bool,
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

pub(super) struct EventLoop {
    core: Core<'static, Mailbox>,
    poll: Poll,
    /// None once a shutdown has started.
    listener: Option<TcpListener>,
    /// Connections by token; `free` lists the empty slots.
    slots: Vec<Slot<'static, Socket>>,
    free: Vec<usize>,
    live: usize,
    /// The connections' deadlines, earliest first.
    timers: Timers,
    /// After an accept error (out of file descriptors), when to try again.
    accept_again: Option<Instant>,
    /// The loop's one read buffer: bytes are read here, then copied to a connection only if they must wait.
    scratch: Box<[u8]>,
    /// Counts this loop as busy for a clean shutdown until it ends.
    _draining: Draining,
}

impl runtime::Loop for EventLoop {
    type Mailbox = Mailbox;

    fn new(shared: &'static Shared<Mailbox>, listener: std::net::TcpListener, draining: Draining) -> io::Result<Self> {
        let poll = Poll::new()?;
        listener.set_nonblocking(true)?;
        let mut listener = TcpListener::from_std(listener);
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Waker::new(poll.registry(), MAILBOX)?;
        let mailbox = Arc::new(Mailbox { finished: Mutex::new(Vec::new()), waker });
        Ok(EventLoop {
            core: Core::new(shared, mailbox),
            poll,
            listener: Some(listener),
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            timers: Timers::default(),
            accept_again: None,
            scratch: vec![0; READ_CHUNK].into_boxed_slice(),
            _draining: draining,
        })
    }

    fn mailbox(&self) -> Arc<Mailbox> {
        Arc::clone(&self.core.mailbox)
    }

    /// Runs until a clean shutdown has closed every connection.
    fn run(mut self: Box<Self>) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            if !self.core.stopping && self.core.shared.stopping.load(Ordering::SeqCst) {
                self.stop();
            }
            if self.core.stopping && self.live == 0 {
                return Ok(());
            }
            let next = self.timers.next().into_iter().chain(self.accept_again).min();
            let timeout = next.map(|at| at.saturating_duration_since(Instant::now()));
            // The loop's thread sleeps here, in epoll_wait, until a socket is ready, the mailbox is woken or
            // the earliest deadline passes: the only place it waits.
            if let Err(error) = self.poll.poll(&mut events, timeout) {
                if error.kind() == ErrorKind::Interrupted {
                    continue;
                }
                return Err(error);
            }
            self.core.now = Instant::now();
            self.core.date.refresh();
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
                    MAILBOX => self.collect_replies(),
                    Token(slot) => self.advance(slot, ready(event)),
                }
            }
            self.expire_deadlines();
            if self.accept_again.is_some_and(|at| at <= self.core.now) {
                self.accept_again = None;
                self.accept();
            }
        }
    }
}

impl EventLoop {
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
                    self.accept_again = Some(self.core.now + launch::ACCEPT_BACKOFF);
                    return;
                }
            }
        }
    }

    fn admit(&mut self, mut stream: TcpStream) {
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
        let interest = Interest::READABLE | Interest::WRITABLE;
        if self.poll.registry().register(&mut stream, Token(slot), interest).is_err() {
            self.core.shared.open.fetch_sub(1, Ordering::SeqCst);
            self.free.push(slot);
            return;
        }
        let socket = Socket { stream, readable: true, read_closed: false };
        let mut connection = Connection::new(socket, self.core.now + self.core.shared.limits.header_timeout);
        self.live += 1;
        self.schedule(slot, &mut connection);
        self.slots[slot].connection = Some(connection);
    }

    fn collect_replies(&mut self) {
        let replies = std::mem::take(&mut *self.core.mailbox.finished.lock().unwrap_or_else(|e| e.into_inner()));
        for Finished { slot, generation, reply } in replies {
            if self.slots.get(slot).is_some_and(|s| s.generation == generation) {
                self.advance(slot, Wake::Reply(reply));
            }
        }
    }

    /// Runs the connections whose deadline has passed.
    fn expire_deadlines(&mut self) {
        for (slot, generation) in self.timers.expired(self.core.now, &mut self.slots) {
            if self.slots[slot].generation == generation {
                self.advance(slot, Wake::Deadline);
            }
        }
    }

    /// Queues the connection's deadline in the timer heap.
    fn schedule(&mut self, slot: usize, connection: &mut Connection<Socket>) {
        self.timers.schedule(slot, self.slots[slot].generation, connection);
    }

    /// Moves one connection's state machine on after `wake`, then puts it back to wait, or closes it.
    fn advance(&mut self, slot: usize, wake: Wake) {
        let Some(mut connection) = self.slots.get_mut(slot).and_then(|s| s.connection.take()) else { return };
        let step = match wake {
            Wake::Ready { readable, writable, read_closed } => {
                connection.io.readable |= readable;
                connection.io.read_closed |= read_closed;
                let wanted = match connection.state {
                    State::Writing | State::Continuing(_) => writable,
                    State::Head | State::Skipping(_) | State::ReadingForm(_) | State::Lingering => readable,
                    // A waiting request reads nothing more until it is answered (pipelined bytes wait in the
                    // socket); a client that went away is noticed when the response is written.
                    State::Sleeping(_) | State::Pooled => false,
                };
                if wanted {
                    connection::drive(self, slot, &mut connection)
                } else {
                    Step::Wait
                }
            }
            Wake::Deadline => connection::deadline(self, slot, &mut connection),
            Wake::Reply(reply) => connection::reply(self, slot, &mut connection, reply),
        };
        match step {
            Step::Wait => {
                self.schedule(slot, &mut connection);
                self.slots[slot].connection = Some(connection);
            }
            Step::Close => self.close(slot, connection),
        }
    }

    fn close(&mut self, slot: usize, connection: Connection<Socket>) {
        // Closing the socket also removes it from epoll.
        drop(connection);
        let entry = &mut self.slots[slot];
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(slot);
        self.live -= 1;
        self.core.shared.open.fetch_sub(1, Ordering::SeqCst);
        self.timers.sweep(self.live, &self.slots);
    }

    /// A clean shutdown starts: stop accepting, and close every connection that is not in a request (or is
    /// closing already).
    fn stop(&mut self) {
        self.core.stopping = true;
        self.accept_again = None;
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        for slot in 0..self.slots.len() {
            if self.slots[slot].connection.as_ref().is_some_and(Connection::idle) {
                let connection = self.slots[slot].connection.take().expect("checked");
                self.close(slot, connection);
            }
        }
    }
}

impl Transport<'static> for EventLoop {
    type Io = Socket;
    type Mailbox = Mailbox;

    fn core(&mut self) -> &mut Core<'static, Mailbox> {
        &mut self.core
    }

    fn generation(&self, slot: usize) -> u32 {
        self.slots[slot].generation
    }

    /// Reads what the socket has into the connection's input.
    fn receive(&mut self, _slot: usize, connection: &mut Connection<'static, Socket>) -> Progress {
        if !connection.io.readable {
            return Progress::Wait;
        }
        loop {
            // The connection yields here when the socket is empty: the loop goes on with other connections.
            return match connection.io.stream.read(&mut self.scratch) {
                Ok(0) => Progress::Close,
                Ok(n) => {
                    // A short read emptied the socket: the next bytes will come with a new event (but an end of
                    // stream that came with these bytes will not).
                    connection.io.readable = n == self.scratch.len() || connection.io.read_closed;
                    connection.take_in(&self.scratch[..n]);
                    Progress::Done
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => {
                    connection.io.readable = false;
                    Progress::Wait
                }
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(_) => Progress::Close,
            };
        }
    }

    /// Writes the output until it is all out or the socket buffer is full.
    fn send(&mut self, _slot: usize, connection: &mut Connection<'static, Socket>) -> Progress {
        while connection.sent < connection.output.len() {
            match connection.io.stream.write(&connection.output[connection.sent..]) {
                Ok(0) => return Progress::Close,
                Ok(n) => connection.sent += n,
                // The socket buffer is full: the connection yields until the client has read some.
                Err(error) if error.kind() == ErrorKind::WouldBlock => return Progress::Wait,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Progress::Close,
            }
        }
        Progress::Done
    }

    fn discard(&mut self, _slot: usize, connection: &mut Connection<'static, Socket>) -> Step {
        for _ in 0..LINGER_BYTES / READ_CHUNK {
            match connection.io.stream.read(&mut self.scratch) {
                Ok(0) => return Step::Close,
                Ok(_) => {}
                Err(error) if error.kind() == ErrorKind::WouldBlock => return Step::Wait,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Step::Close,
            }
        }
        // Still sending after this much: not worth waiting for.
        Step::Close
    }

    fn shut_write(io: &Socket) {
        let _ = io.stream.shutdown(Shutdown::Write);
    }

    fn peer(io: &Socket) -> Option<SocketAddr> {
        io.stream.peer_addr().ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/model.md counts a connection's state machine at about 220 bytes: what one more idle or waiting
    /// connection adds besides the kernel's socket (and, while it sleeps, its reply's text).
    #[test]
    fn a_connection_is_small() {
        let slot = std::mem::size_of::<Slot<'static, Socket>>();
        assert!(slot <= 256, "a connection's slot takes {slot} bytes");
    }
}
