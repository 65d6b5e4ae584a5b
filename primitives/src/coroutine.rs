//! The same three measurements for stackful coroutines on `may`, configured as coroutine-server configures
//! them: a 64 KiB stack each, one worker thread here (the process is pinned anyway), workers not pinned by may.
//! A coroutine yields inside any call that would block — a receive on may's channel, a join — by saving its
//! registers on its own stack and letting the worker run another; nothing in the code marks the point.
//!
//! `may::go!` spawns with `unsafe` inside: may cannot check that a coroutine keeps no reference into a
//! thread-local across a yield (it may resume on another worker) or that it fits its stack. Every coroutine
//! here is a closure over owned values (channel ends, an atomic counter) that uses no thread-local and a few
//! hundred bytes of stack.

use anyhow::Context;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// coroutine-server's stack size, in bytes (may counts it in words).
const STACK_BYTES: usize = 64 * 1024;

fn configure() {
    may::config().set_workers(1).set_stack_size(STACK_BYTES / std::mem::size_of::<usize>()).set_worker_pin(false);
}

/// `count` coroutines created and joined one after another by a coroutine.
pub fn create(count: u64) -> anyhow::Result<Duration> {
    configure();
    let creator = may::go!(move || {
        let start = Instant::now();
        for _ in 0..count {
            // The creator parks in `join` until the new coroutine has run and ended.
            may::go!(|| ()).join().ok();
        }
        start.elapsed()
    });
    creator.join().map_err(|_| anyhow::anyhow!("the creating coroutine panicked"))
}

/// `count` round trips between two coroutines on one worker, a may channel each way.
pub fn switch(count: u64) -> anyhow::Result<Duration> {
    configure();
    let (there_tx, there_rx) = may::sync::mpsc::channel::<u64>();
    let (back_tx, back_rx) = may::sync::mpsc::channel::<u64>();
    let partner = may::go!(move || {
        // Parks until a token comes; ends when the sender is dropped.
        while let Ok(token) = there_rx.recv() {
            if back_tx.send(token).is_err() {
                break;
            }
        }
    });
    let main = may::go!(move || {
        let start = Instant::now();
        for token in 0..count {
            there_tx.send(token).ok();
            back_rx.recv().ok();
        }
        start.elapsed()
    });
    let elapsed = main.join().map_err(|_| anyhow::anyhow!("the coroutine panicked"))?;
    partner.join().ok();
    Ok(elapsed)
}

/// `count` coroutines parked on a may channel each; `ready` is called once all are parked, then they are let go.
pub fn hold(count: u64, ready: fn(u64) -> anyhow::Result<()>) -> anyhow::Result<()> {
    configure();
    let parked = Arc::new(AtomicU64::new(0));
    let mut releases = Vec::with_capacity(count as usize);
    let mut coroutines = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let (release, released) = may::sync::mpsc::channel::<()>();
        let parked = Arc::clone(&parked);
        coroutines.push(may::go!(move || {
            parked.fetch_add(1, Ordering::Relaxed);
            // Parked until the release: the coroutine is its stack's touched pages and may's record.
            released.recv().ok();
        }));
        releases.push(release);
    }
    while parked.load(Ordering::Relaxed) < count {
        // The main thread is not a coroutine: it polls while the worker runs them all to their first park.
        std::thread::sleep(Duration::from_millis(1));
    }
    ready(count).context("holding the coroutines")?;
    drop(releases);
    for coroutine in coroutines {
        coroutine.join().ok();
    }
    Ok(())
}
