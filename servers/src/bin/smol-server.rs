//! `smol-server`: smol, one task per connection on an `Executor` run by `--threads N` threads.
//!
//! The async model: a connection is a task, a few hundred bytes of state, not a thread. A task that waits for
//! a timer, a socket or the blocking pool *yields*: its executor thread moves on to other tasks. N threads can
//! so keep thousands of connections waiting at once — as long as no task blocks its thread.
//!
//! smol is the recommended async runtime here (async-std is discontinued in its favour). Note that smol's
//! *global* executor runs on one thread unless told otherwise; this server builds its own `Executor` and runs
//! it on exactly `--threads` threads, so that it is compared fairly with the others. Connections are accepted
//! by threads that do nothing else ([`launch::accept_on_threads`]), so they are taken from the kernel even while
//! every executor thread is busy.

use clap::Parser;
use servers::cli::ServerArgs;
use servers::hyper_glue::{self, Runtime, SocketIo};
use servers::launch::{self, Served};
use smol::{Async, Executor, Timer};
use std::future::Future;
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
    // One acceptor thread per listener (SO_REUSEPORT, one per executor thread): each blocks in accept(2) and
    // spawns every connection it takes as a task, so a burst is accepted as fast as the kernel completes
    // handshakes, however many tasks wait to run.
    let spawner = Arc::clone(&executor);
    launch::accept_on_threads(launch::acceptors(listener, threads)?, move |stream, peer| {
        // Registering the socket with the reactor fails only when the kernel is out of memory: drop it then.
        if let Ok(stream) = Async::new(stream) {
            spawner.spawn(connections.task::<Smol>(SocketIo::new(stream), peer)).detach();
        }
    })?;
    // `threads` threads run the executor: this one and threads - 1 more. A thread with no task to run parks
    // in the reactor (epoll), holding nothing.
    for id in 1..threads {
        let executor = Arc::clone(&executor);
        thread::Builder::new()
            .name(format!("executor-{id}"))
            .spawn(move || smol::block_on(executor.run(std::future::pending::<()>())))?;
    }
    // This thread runs the executor too, until the process exits.
    smol::block_on(executor.run(std::future::pending()))
}
