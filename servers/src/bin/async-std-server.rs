//! `async-std-server`: async-std, one task per connection on its global executor of `--threads N` threads.
//!
//! The same async model as smol-server, on async-std's runtime: the diff between the two files is the runtime.
//! async-std is discontinued upstream in favour of smol (RUSTSEC-2025-0052); it stays in the lab because
//! comparing it is the point. Its global executor takes its thread count from `ASYNC_STD_THREAD_COUNT`, read
//! once when the runtime starts, so `main` sets it from `--threads` before anything else runs.

use async_std::net::TcpListener;
use async_std::task;
use clap::Parser;
use servers::cli::ServerArgs;
use servers::hyper_glue::SocketIo;
use servers::hyper_glue::{self, Runtime};
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
    // One accept loop per executor thread, each on a listener of its own (SO_REUSEPORT): a burst of connects is
    // spread over `threads` accept queues and drained by up to `threads` threads at once. The loops are tasks on
    // the executor like any other; this thread only waits, for ever.
    for listener in launch::acceptors(listener, threads)? {
        let listener = TcpListener::from(listener);
        let connections = connections.clone();
        task::spawn(async move {
            loop {
                // Takes connections until the queue is empty (accept(2) would block): only then does the task
                // yield, until the reactor reports a new connection.
                match listener.accept().await {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        task::spawn(connections.task::<AsyncStd>(SocketIo::new(stream), peer));
                    }
                    // Out of file descriptors, or the listener shut down for exit: back off, then try again.
                    Err(error) => {
                        launch::report_accept_error(&error);
                        task::sleep(launch::ACCEPT_BACKOFF).await;
                    }
                }
            }
        });
    }
    task::block_on(std::future::pending())
}
