//! Many idle units at once: each parked where a waiting request would be (a thread blocked on a condition
//! variable, a task pending on a channel), so that what they hold is what one more waiting request costs. This
//! process only parks them and says `ready COUNT`; the parent reads its resident memory and the kernel's
//! (`KernelStack`, `Slab`), then closes our standard input to let them go.

use crate::Idle;
use anyhow::Context;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// Parks `count` units of `unit`, says so on stdout, and holds them until standard input closes.
pub fn hold(unit: Idle, count: u64) -> anyhow::Result<()> {
    match unit {
        Idle::Thread => threads(count),
        Idle::Coroutine => crate::coroutine::hold(count, ready_then_wait),
        Idle::TokioTask => {
            let runtime = tokio::runtime::Builder::new_current_thread().build().context("a tokio runtime")?;
            runtime.block_on(async {
                let (release, _) = tokio::sync::broadcast::channel::<()>(1);
                let parked = Arc::new(AtomicU64::new(0));
                let tasks: Vec<_> = (0..count)
                    .map(|_| {
                        let mut released = release.subscribe();
                        let parked = Arc::clone(&parked);
                        tokio::spawn(async move {
                            parked.fetch_add(1, Ordering::Relaxed);
                            // Pending until the release: the task is its future's bytes and nothing else.
                            released.recv().await.ok();
                        })
                    })
                    .collect();
                while parked.load(Ordering::Relaxed) < count {
                    tokio::task::yield_now().await;
                }
                ready_then_wait(count)?;
                drop(release);
                for task in tasks {
                    task.await.ok();
                }
                Ok(())
            })
        }
        Idle::SmolTask => {
            let executor = smol::LocalExecutor::new();
            smol::block_on(executor.run(async {
                let (release, released) = smol::channel::bounded::<()>(1);
                let parked = Arc::new(AtomicU64::new(0));
                let tasks: Vec<_> = (0..count)
                    .map(|_| {
                        let (released, parked) = (released.clone(), Arc::clone(&parked));
                        executor.spawn(async move {
                            parked.fetch_add(1, Ordering::Relaxed);
                            released.recv().await.ok();
                        })
                    })
                    .collect();
                while parked.load(Ordering::Relaxed) < count {
                    smol::future::yield_now().await;
                }
                ready_then_wait(count)?;
                drop(release);
                for task in tasks {
                    task.await;
                }
                Ok(())
            }))
        }
        Idle::AsyncStdTask => async_std::task::block_on(async {
            let (release, released) = smol::channel::bounded::<()>(1);
            let parked = Arc::new(AtomicU64::new(0));
            let tasks: Vec<_> = (0..count)
                .map(|_| {
                    let (released, parked) = (released.clone(), Arc::clone(&parked));
                    async_std::task::spawn(async move {
                        parked.fetch_add(1, Ordering::Relaxed);
                        released.recv().await.ok();
                    })
                })
                .collect();
            while parked.load(Ordering::Relaxed) < count {
                async_std::task::yield_now().await;
            }
            ready_then_wait(count)?;
            drop(release);
            for task in tasks {
                task.await;
            }
            Ok(())
        }),
    }
}

fn threads(count: u64) -> anyhow::Result<()> {
    // (threads parked, released?) under one lock; parking and release each wake the other side.
    let state = Arc::new((Mutex::new((0u64, false)), Condvar::new()));
    let mut handles = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let state = Arc::clone(&state);
        let handle = std::thread::Builder::new()
            .spawn(move || {
                let (lock, wake) = &*state;
                let mut s = lock.lock().unwrap();
                s.0 += 1;
                wake.notify_all();
                // Blocks (a futex wait) until the release: an idle thread, its stacks and its kernel task.
                let _released = wake.wait_while(s, |s| !s.1).unwrap();
            })
            .with_context(|| format!("spawning thread {} of {count}", handles.len() + 1))?;
        handles.push(handle);
    }
    let (lock, wake) = &*state;
    drop(wake.wait_while(lock.lock().unwrap(), |s| s.0 < count).unwrap());
    ready_then_wait(count)?;
    lock.lock().unwrap().1 = true;
    wake.notify_all();
    for handle in handles {
        handle.join().ok();
    }
    Ok(())
}

/// Says `ready COUNT` and blocks until the parent closes our standard input.
pub fn ready_then_wait(count: u64) -> anyhow::Result<()> {
    println!("ready {count}");
    let mut rest = Vec::new();
    std::io::stdin().read_to_end(&mut rest).context("waiting for standard input to close")?;
    Ok(())
}
