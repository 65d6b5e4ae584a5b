//! The uring server: completion loops on io_uring, with lean-server's own HTTP/1.1 — the same state machines as
//! lean's event loops ([`crate::lean::connection`]), driven by completions instead of readiness, and the same
//! runtime around them ([`crate::lean::runtime`]: the loops' threads, the worker pool, the shutdown). The diff
//! between `ring_loop.rs` and lean's `event_loop.rs` is the lesson: only how bytes move differs.
//!
//! A readiness loop (epoll, [`crate::lean`]) asks the kernel "which sockets could I read now?", then makes one
//! system call per read and per write to do it. A completion loop hands the kernel the work itself: "receive
//! into a buffer on this socket", "send these bytes", "wake me in 3 s", "accept whatever comes on this
//! listener". The kernel does the read into the buffer and reports when it is *done*. Requests go in on a
//! submission queue and results come back on a completion queue, two rings of memory shared with the kernel,
//! so that one `io_uring_enter` both submits every operation queued during a turn and waits for the next
//! completions. On 20,000 keep-alive requests over 64 connections, lean-server made 2.04 system calls per
//! request (a `recvfrom`, a `sendto`, a share of `epoll_wait`) and uring-server 0.06 to 0.13, all of them
//! `io_uring_enter` (results/experiments/syscalls-per-request.md).
//!
//! What completion changes in the program:
//! - **the kernel owns a buffer while an operation is in flight**: a send's bytes and a receive's buffer must
//!   stay where they are until the completion comes, even if the connection is closed meanwhile. So a closed
//!   connection cancels its operations (`AsyncCancel`) and keeps its slot, and its output buffer, until their
//!   completions have come back; only then is the slot reused;
//! - **every operation is named** by its `user_data`: (connection slot, generation, operation), so that a late
//!   completion is matched to the connection it was for ([`ring_loop`]);
//! - **a receive needs a buffer before the bytes exist.** lean-server's buffer policy is "buffers only while
//!   bytes are in transit": an idle keep-alive connection holds none. A buffer per posted receive would break
//!   it — every idle connection waits with a receive posted. So each loop registers a pool of provided buffers
//!   with the kernel (a buffer ring, `IORING_REGISTER_PBUF_RING`, buffer group 0), and a receive is posted
//!   without a buffer (`BUFFER_SELECT`): the kernel takes one from the pool only when bytes arrive. The loop
//!   copies the bytes to the connection (as lean copies them from its one scratch buffer) and gives the buffer
//!   back at once, by writing it into the ring's shared memory. An idle connection costs its state machine and
//!   a receive waiting in the kernel, nothing more;
//! - **the loop's wake-up is an operation too**: the connections' deadlines (`/say/hello`'s wait, the header
//!   timeout, the idle keep-alive timeout) are lean's timer heap ([`crate::lean::timers`]), and the ring holds
//!   one `Timeout` operation for the earliest, moved earlier with `TimeoutUpdate` — where lean passes it to
//!   `epoll_wait`. Not a `Timeout` per connection: the kernel keeps a ring's timeouts on a list that it walks
//!   to move or cancel one, and at 10,000 waiting connections that walk took a third of the server's CPU
//!   (results/experiments/uring-timeouts.md);
//! - the **worker pool** (database, factorial) is lean's; its replies come back through an eventfd whose read
//!   is itself an operation on the ring.
//!
//! - **completions are reaped by the loop's own thread**: each ring is set up `SINGLE_ISSUER` and
//!   `DEFER_TASKRUN`, so the kernel finishes an operation's work (the receive after its socket became readable,
//!   say) when the loop next enters the kernel to wait, instead of interrupting the thread to do it as soon as
//!   it can. On this machine that alone took a request's CPU from 10.7 to 8.7 µs (medians of 5 interleaved
//!   rounds), and the buffer ring (giving a buffer back without a `ProvideBuffers` operation) to 7.5 µs, a tie
//!   on its own by the lab's noise rule (results/experiments/uring-cpu.md).
//!
//! `--threads N` runs N loops, each with its own ring and its own listening socket (SO_REUSEPORT) on which one
//! multishot accept (`AcceptMulti`) stays posted. `/block` sleeps the loop's thread, as in every async server.

mod ring_loop;

use crate::launch::Served;
use crate::lean::runtime::{self, Finished};
use io_uring::IoUring;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::Mutex;

/// Where the kernel says whether io_uring may be used (0: by all, 1: by privileged processes, 2: by none).
pub const DISABLED_KNOB: &str = "/proc/sys/kernel/io_uring_disabled";

/// Checks that this process may set up an io_uring at all, for a clear message before the server starts.
pub fn probe() -> Result<(), String> {
    IoUring::new(2).map(drop).map_err(|error| {
        format!("cannot set up an io_uring ({error}); is it disabled in {DISABLED_KNOB} or by a seccomp filter?")
    })
}

/// Runs `served.threads` completion loops until a clean shutdown has drained them all.
pub fn serve(served: Served) -> io::Result<()> {
    runtime::serve::<ring_loop::RingLoop>(served, "ring")
}

/// Where the worker pool leaves replies for one loop, and the eventfd whose posted read completes on the ring.
pub(crate) struct Mailbox {
    finished: Mutex<Vec<Finished>>,
    eventfd: OwnedFd,
}

impl Mailbox {
    fn new() -> io::Result<Mailbox> {
        let eventfd = rustix::event::eventfd(0, rustix::event::EventfdFlags::CLOEXEC)?;
        Ok(Mailbox { finished: Mutex::new(Vec::new()), eventfd })
    }
}

impl runtime::Mailbox for Mailbox {
    fn post(&self, finished: Finished) {
        self.finished.lock().unwrap_or_else(|e| e.into_inner()).push(finished);
        self.wake();
    }

    /// Adds 1 to the eventfd's counter, which completes the read the loop has posted on its ring.
    fn wake(&self) {
        // Fails only if the counter is full (2^64 - 2 wakes not yet read): the loop has a read posted and will
        // empty it.
        let _ = rustix::io::write(&self.eventfd, &1u64.to_ne_bytes());
    }
}
