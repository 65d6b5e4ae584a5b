//! The deadlines of one loop's connections — `/say/hello`'s wait, the header timeout, the idle keep-alive
//! timeout, the lingering close — in one binary heap, earliest first, so that the loop asks the kernel for one
//! timer only: the earliest. lean-server passes it to `epoll_wait` as the wait's timeout; uring-server keeps
//! one `Timeout` operation on its ring set to it.
//!
//! Why not one kernel timer per connection: an io_uring keeps a ring's timeouts on a list, and moving or
//! cancelling one (`TimeoutUpdate`, `AsyncCancel`) searches that list from its head. With a timeout per
//! connection, 10,000 waiting connections made each move a walk over thousands of entries: a third of
//! uring-server's CPU at that load went there (results/experiments/uring-timeouts.md). A heap in the loop
//! costs O(log n) per deadline and nothing to drop one: a connection that closes or whose deadline moves later
//! leaves its entry behind, recognised as stale when it comes up (its slot's generation, or `queued`, differ).

use super::connection::Connection;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// A connection's place in a loop: slots are reused, and the generation tells a slot's connections apart.
pub struct Slot<'w, I> {
    /// Bumped when the slot is freed, so that a late reply or timer for its last connection is recognised.
    pub generation: u32,
    pub connection: Option<Connection<'w, I>>,
}

/// Deadlines, earliest first: (when, slot, generation). At most one entry per connection is current: the one
/// equal to its `queued`.
#[derive(Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, usize, u32)>>,
}

impl Timers {
    /// When the loop must wake up next, if any connection waits for a deadline.
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, ..))| *at)
    }

    /// Queues the connection's deadline unless an entry at or before it is already queued: a deadline that
    /// moved later is found when the earlier entry comes up, and queued again then.
    pub fn schedule<I>(&mut self, slot: usize, generation: u32, connection: &mut Connection<'_, I>) {
        if let Some(deadline) = connection.deadline {
            if connection.queued.is_none_or(|queued| deadline < queued) {
                connection.queued = Some(deadline);
                self.heap.push(Reverse((deadline, slot, generation)));
            }
        }
    }

    /// The connections whose deadline has passed by `now`, as (slot, generation), earliest first. Stale entries
    /// are dropped; a connection whose deadline moved later is queued again for it.
    pub fn expired<I>(&mut self, now: Instant, slots: &mut [Slot<'_, I>]) -> Vec<(usize, u32)> {
        let mut due = Vec::new();
        while let Some(&Reverse((at, slot, generation))) = self.heap.peek() {
            if at > now {
                break;
            }
            self.heap.pop();
            let entry = &mut slots[slot];
            let Some(connection) = entry.connection.as_mut().filter(|_| entry.generation == generation) else {
                continue;
            };
            if connection.queued != Some(at) {
                continue; // Superseded by an earlier entry for the same connection.
            }
            connection.queued = None;
            match connection.deadline {
                Some(deadline) if deadline <= now => due.push((slot, generation)),
                // The deadline moved later (a keep-alive connection served another request): queue it again.
                Some(deadline) => {
                    connection.queued = Some(deadline);
                    self.heap.push(Reverse((deadline, slot, generation)));
                }
                None => {}
            }
        }
        due
    }

    /// A closed connection's entry stays in the heap until it is due; with many short connections (one request
    /// each) those would pile up for a whole header timeout. Sweeps them out once they outnumber the live
    /// connections' by far.
    pub fn sweep<I>(&mut self, live: usize, slots: &[Slot<'_, I>]) {
        if self.heap.len() > 2 * live + 1024 {
            self.heap.retain(|&Reverse((at, slot, generation))| {
                let entry = &slots[slot];
                entry.generation == generation && entry.connection.as_ref().is_some_and(|c| c.queued == Some(at))
            });
        }
    }
}
