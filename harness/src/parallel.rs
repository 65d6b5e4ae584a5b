//! A work queue over a slice: a fixed number of threads, each taking the next item as soon as it is done with
//! its last, so that one slow item holds up one thread and not a whole batch.
//!
//! Shared by the differential test (`servers/tests/differential.rs`) and `lab verify --strict`, which both send
//! many inputs, each on its own connection, where most are answered at once and a few wait out a timeout.

use std::sync::atomic::{AtomicUsize, Ordering};

/// `work` applied to every item of `items`, on up to `in_flight` threads at once (at least one); the results in
/// the order of `items`.
///
/// Each thread takes the index of the next item from a shared counter, runs `work` on it (blocking for as long as
/// `work` blocks: a read on a socket, say), and takes the next, until none is left. A panic in `work` is raised
/// again in the caller once every thread has stopped.
pub fn map_in_flight<T: Sync, R: Send>(items: &[T], in_flight: usize, work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let threads = in_flight.clamp(1, items.len().max(1));
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    // Relaxed is enough: the counter only hands out indexes; the results travel back through
                    // `join`, which synchronises.
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(index) else { break };
                        done.push((index, work(item)));
                    }
                    done
                })
            })
            .collect();
        // Blocks until each thread has run out of items.
        handles
            .into_iter()
            .flat_map(|handle| handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    });
    done.sort_unstable_by_key(|(index, _)| *index);
    done.into_iter().map(|(_, result)| result).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Condvar, Mutex};
    use std::time::Duration;

    #[test]
    fn results_come_back_in_order_whatever_the_order_they_finish_in() {
        let items: Vec<u64> = (0..50).collect();
        // Earlier items take longer: they finish last.
        let squares = map_in_flight(&items, 8, |&i| {
            std::thread::sleep(Duration::from_millis(50 - i));
            i * i
        });
        assert_eq!(squares, items.iter().map(|i| i * i).collect::<Vec<_>>());
        assert!(map_in_flight(&[] as &[u8], 4, |&b| b).is_empty());
        assert_eq!(map_in_flight(&[1, 2, 3], 0, |&i| i + 1), vec![2, 3, 4], "0 in flight is 1");
    }

    #[test]
    fn a_slow_item_holds_up_one_thread_not_a_batch() {
        // Item 0 waits until every other item is done; the other items need the other threads only. In batches of
        // 4 it would wait for items 4.. that a batch starts only after it: it would time out.
        let items: Vec<usize> = (0..16).collect();
        let finished = (Mutex::new(0), Condvar::new());
        let saw_all = map_in_flight(&items, 4, |&i| {
            let (count, changed) = &finished;
            let mut count = count.lock().unwrap();
            if i > 0 {
                *count += 1;
                changed.notify_all();
                return true;
            }
            // Blocks until the fifteen others are done, or 10 s.
            let (count, _) = changed.wait_timeout_while(count, Duration::from_secs(10), |c| *c < 15).unwrap();
            *count == 15
        });
        assert!(saw_all[0], "the slow item saw the others finish while it waited");
    }
}
