//! `smol-server`: smol, one task per connection on an `Executor` run by `--threads N` threads.
//!
//! The async model: a connection is a task, a few hundred bytes of state, not a thread. A task that waits for
//! a timer, a socket or the blocking pool *yields*: its executor thread moves on to other tasks. N threads can
//! so keep thousands of connections waiting at once — as long as no task blocks its thread.
//!
//! smol is the recommended async runtime here (async-std is discontinued in its favour). Note that smol's
//! *global* executor runs on one thread unless told otherwise; this server builds its own `Executor` and runs
//! it on exactly `--threads` threads, so that it is compared fairly with the others.

use clap::Parser;
use servers::cli::ServerArgs;
use servers::hyper_glue::SocketIo;
use servers::hyper_glue::{self, Runtime};
use servers::launch::{self, Served};
use smol::{Async, Executor, Timer};
use std::future::Future;
use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// smol: one async task per connection on an executor run by --threads threads (default: CPUs); waiting tasks hold no thread.
#[derive(Parser)]
#[command(version, args_override_self = true)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let threads = cli.server.threads_or_cpus();
    launch::accept_on_every_thread();
    launch::run("smol-server", "async tasks on a smol executor (hyper)", cli.server, threads, serve)
}

/// smol's way to wait and to block.
struct Smol;

impl Runtime for Smol {
    async fn sleep(duration: Duration) {
        Timer::after(duration).await;
    }

    fn unblock<T: Send + 'static>(blocking: impl FnOnce() -> T + Send + 'static) -> impl Future<Output = T> + Send {
        smol::unblock(blocking)
    }
}

fn serve(served: Served) -> std::io::Result<()> {
    let connections = hyper_glue::Connections::new(&served);
    let Served { listener, threads, .. } = served;
    let executor = Arc::new(Executor::new());
    // One accept loop per executor thread, each on a listener of its own (SO_REUSEPORT): a burst of connects is
    // spread over `threads` accept queues and drained by up to `threads` threads at once. The loops are tasks
    // like any other: with `--threads 1` everything runs on one thread.
    for listener in launch::acceptors(listener, threads)? {
        let listener = Async::<TcpListener>::new(listener)?;
        let (executor_for_loop, connections) = (Arc::clone(&executor), connections.clone());
        executor
            .spawn(async move {
                loop {
                    // Takes connections until the queue is empty (accept(2) would block): only then does the task
                    // yield, until the reactor reports a new connection.
                    match listener.accept().await {
                        Ok((stream, peer)) => {
                            let _ = stream.get_ref().set_nodelay(true);
                            executor_for_loop.spawn(connections.task::<Smol>(SocketIo::new(stream), peer)).detach();
                        }
                        // Out of file descriptors, or the listener shut down for exit: back off, then try again.
                        Err(error) => {
                            launch::report_accept_error(&error);
                            Timer::after(launch::ACCEPT_BACKOFF).await;
                        }
                    }
                }
            })
            .detach();
    }
    // `threads` threads run the executor: this one and threads - 1 more. A thread with no task to run parks
    // in the reactor (epoll), holding nothing.
    for id in 1..threads {
        let executor = Arc::clone(&executor);
        thread::Builder::new()
            .name(format!("executor-{id}"))
            .spawn(move || smol::block_on(executor.run(std::future::pending::<()>())))?;
    }
    // The accept loops never end: this thread runs the executor until the process exits.
    smol::block_on(executor.run(std::future::pending()))
}
