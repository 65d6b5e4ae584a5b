//! The lean server: explicit event loops on mio, with their own HTTP/1.1 — what an async runtime does under
//! `async`/`await`, written out.
//!
//! An async server turns each connection into a task: a future the executor polls when the reactor says its
//! socket is ready or a timer says its wait is over. Here the same machinery is spelled out, with nothing
//! generic in between:
//! - the **reactor** is a [`mio::Poll`] (epoll), edge-triggered: an event says "something changed", and the
//!   loop reads or writes until the kernel says `WouldBlock`;
//! - a **task** is a small state machine per connection ([`connection`], driven by [`event_loop`]): reading a
//!   head, waiting on a timer, waiting on the worker pool, writing, skipping a body. Where an `async fn` would
//!   `.await`, the state machine returns to the loop;
//! - the **timer wheel** is a binary heap of deadlines ([`timers`]: `/say/hello`'s wait, the header timeout,
//!   idle keep-alive connections), whose earliest is `epoll_wait`'s timeout;
//! - **`spawn_blocking`** is a small pool of worker threads ([`crate::blocking_pool`]) for the database and
//!   the factorial, whose results come back through a [`mio::Waker`] (an eventfd), so that a loop never blocks
//!   — except on `/block`, which sleeps the loop's thread on purpose, the anti-pattern every async server
//!   shares. [`runtime`] starts the loops and the pool, as an async runtime would.
//!
//! `--threads N` runs N loops, each on its own thread with its own listening socket on the port
//! (SO_REUSEPORT): the kernel spreads new connections among them, and a connection stays on its loop for life.
//! A connection's memory is its state machine (about 220 bytes) plus buffers only while bytes are in transit:
//! the read buffer is allocated when bytes arrive, sized to them, and freed once they are parsed; the write
//! buffer lives until the response is sent. docs/model.md walks through a request's life here and in the
//! async servers.

pub(crate) mod connection;
mod event_loop;
pub mod http1;
pub(crate) mod runtime;
pub(crate) mod timers;

use crate::launch::Served;
use std::io;

/// Runs `served.threads` event loops until a clean shutdown has drained them all.
pub fn serve(served: Served) -> io::Result<()> {
    runtime::serve::<event_loop::EventLoop>(served, "loop")
}
