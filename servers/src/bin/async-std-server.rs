//! `async-std-server`: async-std, one task per connection on its global executor of `--threads N` threads.
//!
//! The same async model as smol-server, on async-std's runtime: the diff between the two files is the runtime.
//! async-std is discontinued upstream in favour of smol (RUSTSEC-2025-0052); it stays in the lab because
//! comparing it is the point. Its global executor takes its thread count from `ASYNC_STD_THREAD_COUNT`, read
//! once when the runtime starts, so `main` sets it from `--threads` before anything else runs.

use async_std::net::TcpStream;
use async_std::task;
use clap::Parser;
use servers::cli::ServerArgs;
use servers::hyper_glue::{self, Runtime, SocketIo};
use servers::launch::{self, Served};
use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

/// async-std: one async task per connection on its global executor of --threads threads (default: CPUs); waiting tasks hold no thread.
#[derive(Parser)]
#[command(version, args_override_self = true)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let threads = cli.server.threads_or_cpus();
    // Set while this process still has one thread, before async-std's runtime reads it.
    std::env::set_var("ASYNC_STD_THREAD_COUNT", threads.to_string());
    launch::accept_on_every_thread();
    launch::run("async-std-server", "async tasks on async-std's executor (hyper)", cli.server, threads, serve)
}

/// async-std's way to wait and to block.
struct AsyncStd;

impl Runtime for AsyncStd {
    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send {
        task::sleep(duration)
    }

    fn unblock<T: Send + 'static>(blocking: impl FnOnce() -> T + Send + 'static) -> impl Future<Output = T> + Send {
        task::spawn_blocking(blocking)
    }
}

fn serve(served: Served) -> std::io::Result<()> {
    let connections = hyper_glue::Connections::new(&served);
    let Served { listener, threads, .. } = served;
    // One acceptor thread per listener (SO_REUSEPORT, one per executor thread): each blocks in accept(2) and
    // spawns every connection it takes as a task, so a burst is accepted as fast as the kernel completes
    // handshakes, however many tasks wait to run.
    launch::accept_on_threads(launch::acceptors(listener, threads)?, move |stream, peer| {
        // async-std's conversion registers the socket with its reactor and panics where smol's returns an error
        // (the kernel out of memory, or epoll's max_user_watches reached): the connection is dropped then, as
        // smol-server drops it, and the acceptor goes on.
        let stream = std::panic::catch_unwind(|| TcpStream::from(stream));
        if let Ok(stream) = stream {
            task::spawn(connections.task::<AsyncStd>(SocketIo::new(stream), peer));
        }
    })?;
    // The executor's threads run the tasks; this one only waits, for ever.
    task::block_on(std::future::pending())
}
