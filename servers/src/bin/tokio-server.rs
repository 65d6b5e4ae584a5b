//! `tokio-server`: tokio, one task per connection on a multi-thread runtime of `--threads N` workers.
//!
//! The same async model as smol-server and async-std-server, on the runtime most Rust services deploy: the diff
//! between this file and smol-server.rs is the runtime. With `--threads 1` it builds tokio's current-thread
//! runtime, where every connection and the reactor share this one thread; with more, tokio's
//! work-stealing scheduler runs tasks on N worker threads, each polling the reactor (mio, epoll) when idle.
//! A blocking database call goes where tokio says it belongs: `spawn_blocking`'s pool, not a worker thread.

use clap::Parser;
use hyper_util::rt::{TokioIo, TokioTimer};
use servers::cli::ServerArgs;
use servers::hyper_glue::{self, Runtime};
use servers::launch::{self, Served};
use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;
use tokio::net::TcpStream;

/// tokio: one async task per connection on a runtime of --threads workers (default: CPUs; one: current-thread); waiting tasks hold no thread.
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
    launch::run("tokio-server", "async tasks on a tokio runtime (hyper)", cli.server, threads, serve)
}

/// tokio's way to wait, to block and to time hyper's header reads.
struct Tokio;

impl Runtime for Tokio {
    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(duration)
    }

    fn unblock<T: Send + 'static>(blocking: impl FnOnce() -> T + Send + 'static) -> impl Future<Output = T> + Send {
        let handle = tokio::task::spawn_blocking(blocking);
        // A panic on the blocking pool is passed on to this task, as smol::unblock does.
        async move { handle.await.unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic())) }
    }

    fn timer() -> impl hyper::rt::Timer + Send + Sync + 'static {
        TokioTimer::new()
    }
}

fn serve(served: Served) -> std::io::Result<()> {
    let connections = hyper_glue::Connections::new(&served);
    let Served { listener, threads, .. } = served;
    let runtime = if threads == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()?
    };
    // One acceptor thread per listener (SO_REUSEPORT, one per worker): each blocks in accept(2) and spawns every
    // connection it takes as a task on the runtime, so a burst is accepted as fast as the kernel completes
    // handshakes, however many tasks wait to run. With `--threads 1` the tasks all run on this thread.
    let handle = runtime.handle().clone();
    launch::accept_on_threads(launch::acceptors(listener, threads)?, move |stream, peer| {
        // Registering the socket with the reactor fails only when the kernel is out of memory: drop it then.
        let _runtime = handle.enter();
        if let Ok(stream) = stream.set_nonblocking(true).and_then(|()| TcpStream::from_std(stream)) {
            handle.spawn(connections.task::<Tokio>(TokioIo::new(stream), peer));
        }
    })?;
    // This thread drives the runtime (with `--threads 1`, runs every task), for ever.
    runtime.block_on(std::future::pending())
}
