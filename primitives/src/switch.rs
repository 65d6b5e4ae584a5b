//! Two units hand a token back and forth: each hand-off is one switch from the unit that gives to the unit that
//! takes. Between threads the kernel puts one to sleep and wakes the other (a futex, or a pipe's wait queue);
//! between tasks on one executor thread the executor returns from one poll and makes the next, in user space.
//! The socket pair asks the other question: a task woken by the kernel's readiness (epoll) instead of by a
//! channel's waker.

use crate::Pair;
use anyhow::Context;
use std::io::{Read, Write};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// `count` round trips between the two of `pair` (2 × `count` hand-offs); returns the time they took.
pub fn measure(pair: Pair, count: u64) -> anyhow::Result<Duration> {
    match pair {
        Pair::ThreadCondvar => Ok(condvar(count)),
        Pair::ThreadPipe => pipes(count),
        Pair::TokioChannel => tokio_channel(count),
        Pair::SmolChannel => Ok(smol_channel(count, false)),
        Pair::SmolChannelTasks => Ok(smol_channel(count, true)),
        Pair::SmolSocketpair => smol_socketpair(count),
        Pair::CoroutineChannel => crate::coroutine::switch(count),
    }
}

/// Whose turn it is: `true` for the partner thread.
fn condvar(count: u64) -> Duration {
    let turn = Arc::new((Mutex::new(false), Condvar::new()));
    let partner = {
        let turn = Arc::clone(&turn);
        std::thread::spawn(move || {
            let (lock, wake) = &*turn;
            for _ in 0..count {
                // Blocks (a futex wait) until the main thread hands the token over.
                let mut mine = wake.wait_while(lock.lock().unwrap(), |mine| !*mine).unwrap();
                *mine = false;
                wake.notify_one();
            }
        })
    };
    let (lock, wake) = &*turn;
    let start = Instant::now();
    for _ in 0..count {
        *lock.lock().unwrap() = true;
        wake.notify_one();
        let _back = wake.wait_while(lock.lock().unwrap(), |theirs| *theirs).unwrap();
    }
    let elapsed = start.elapsed();
    partner.join().ok();
    elapsed
}

fn pipes(count: u64) -> anyhow::Result<Duration> {
    let (mut there_rx, mut there_tx) = std::io::pipe().context("a pipe")?;
    let (mut back_rx, mut back_tx) = std::io::pipe().context("a pipe")?;
    let partner = std::thread::spawn(move || -> std::io::Result<()> {
        let mut byte = [0u8];
        for _ in 0..count {
            // Blocks in read(2) until the main thread writes.
            there_rx.read_exact(&mut byte)?;
            back_tx.write_all(&byte)?;
        }
        Ok(())
    });
    let mut byte = [1u8];
    let start = Instant::now();
    for _ in 0..count {
        there_tx.write_all(&byte).context("writing the token")?;
        back_rx.read_exact(&mut byte).context("reading the token back")?;
    }
    let elapsed = start.elapsed();
    partner.join().ok();
    Ok(elapsed)
}

fn tokio_channel(count: u64) -> anyhow::Result<Duration> {
    let runtime = tokio::runtime::Builder::new_current_thread().build().context("a tokio runtime")?;
    Ok(runtime.block_on(async {
        let (there_tx, mut there_rx) = tokio::sync::mpsc::channel::<u64>(1);
        let (back_tx, mut back_rx) = tokio::sync::mpsc::channel::<u64>(1);
        let partner = tokio::spawn(async move {
            // Yields to the runtime while the channel is empty.
            while let Some(token) = there_rx.recv().await {
                if back_tx.send(token).await.is_err() {
                    break;
                }
            }
        });
        let start = Instant::now();
        for token in 0..count {
            there_tx.send(token).await.ok();
            back_rx.recv().await;
        }
        let elapsed = start.elapsed();
        drop(there_tx);
        partner.await.ok();
        elapsed
    }))
}

/// The partner of a smol ping-pong: sends back every token until the other side hangs up.
async fn smol_echo(there_rx: smol::channel::Receiver<u64>, back_tx: smol::channel::Sender<u64>) {
    // Yields to the executor while the channel is empty.
    while let Ok(token) = there_rx.recv().await {
        if back_tx.send(token).await.is_err() {
            break;
        }
    }
}

/// `count` round trips against [`smol_echo`]; hangs up at the end (its sender is dropped).
async fn smol_ping(
    there_tx: smol::channel::Sender<u64>,
    back_rx: smol::channel::Receiver<u64>,
    count: u64,
) -> Duration {
    let start = Instant::now();
    for token in 0..count {
        there_tx.send(token).await.ok();
        back_rx.recv().await.ok();
    }
    start.elapsed()
}

/// Two smol tasks' worth of ping-pong on one local executor: the pinging side is `block_on`'s own future
/// (`main_is_a_task` false) or a task of the executor like its partner (true).
fn smol_channel(count: u64, main_is_a_task: bool) -> Duration {
    let executor = smol::LocalExecutor::new();
    let (there_tx, there_rx) = smol::channel::bounded::<u64>(1);
    let (back_tx, back_rx) = smol::channel::bounded::<u64>(1);
    let partner = executor.spawn(smol_echo(there_rx, back_tx));
    let ping = smol_ping(there_tx, back_rx, count);
    smol::block_on(executor.run(async {
        let elapsed = if main_is_a_task { executor.spawn(ping).await } else { ping.await };
        partner.await;
        elapsed
    }))
}

fn smol_socketpair(count: u64) -> anyhow::Result<Duration> {
    use smol::io::{AsyncReadExt, AsyncWriteExt};
    let (here, there) = std::os::unix::net::UnixStream::pair().context("a socket pair")?;
    let (mut here, mut there) = (smol::Async::new(here)?, smol::Async::new(there)?);
    let executor = smol::LocalExecutor::new();
    smol::block_on(executor.run(async {
        let partner = executor.spawn(async move {
            let mut byte = [0u8];
            for _ in 0..count {
                // Yields until epoll says the socket is readable.
                there.read_exact(&mut byte).await?;
                there.write_all(&byte).await?;
            }
            std::io::Result::Ok(())
        });
        let mut byte = [1u8];
        let start = Instant::now();
        for _ in 0..count {
            here.write_all(&byte).await.context("writing the token")?;
            here.read_exact(&mut byte).await.context("reading the token back")?;
        }
        let elapsed = start.elapsed();
        partner.await.context("the partner task")?;
        Ok(elapsed)
    }))
}
