//! Create and join, one after another: the whole life of an empty unit — for a thread, `clone(2)`, a stack
//! mapped, the scheduler starting it, its exit and the join's futex wake; for a task, an allocation, a push on
//! the executor's queue, one poll and the join handle's wake-up. Nothing else runs, so the time is the
//! primitive's alone.

use crate::Unit;
use anyhow::Context;
use std::time::{Duration, Instant};

/// Creates and joins `count` units of `unit`, one at a time; returns the time all of them took.
pub fn measure(unit: Unit, count: u64) -> anyhow::Result<Duration> {
    match unit {
        Unit::Thread => {
            let start = Instant::now();
            for _ in 0..count {
                // The main thread blocks in `join` until the new thread has run and exited.
                std::thread::Builder::new().spawn(|| ()).context("spawning a thread")?.join().ok();
            }
            Ok(start.elapsed())
        }
        Unit::TokioTask => {
            let runtime = tokio::runtime::Builder::new_current_thread().build().context("a tokio runtime")?;
            Ok(runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..count {
                    // Yields to the runtime, which polls the new task, then wakes this one.
                    tokio::spawn(async {}).await.ok();
                }
                start.elapsed()
            }))
        }
        Unit::SmolTask => {
            let executor = smol::LocalExecutor::new();
            Ok(smol::block_on(executor.run(async {
                let start = Instant::now();
                for _ in 0..count {
                    executor.spawn(async {}).await;
                }
                start.elapsed()
            })))
        }
        Unit::SmolTaskFromTask => {
            let executor = std::rc::Rc::new(smol::LocalExecutor::new());
            let spawner = std::rc::Rc::clone(&executor);
            let creator = executor.spawn(async move {
                let start = Instant::now();
                for _ in 0..count {
                    spawner.spawn(async {}).await;
                }
                start.elapsed()
            });
            Ok(smol::block_on(executor.run(creator)))
        }
        Unit::AsyncStdTaskFromTask => Ok(async_std::task::block_on(async_std::task::spawn(async move {
            let start = Instant::now();
            for _ in 0..count {
                // Spawned from a worker thread: the new task is queued on this worker.
                async_std::task::spawn(async {}).await;
            }
            start.elapsed()
        }))),
        Unit::Coroutine => crate::coroutine::create(count),
        Unit::AsyncStdTask => Ok(async_std::task::block_on(async {
            let start = Instant::now();
            for _ in 0..count {
                // async-std's global executor runs the task on one of its threads.
                async_std::task::spawn(async {}).await;
            }
            start.elapsed()
        })),
    }
}
