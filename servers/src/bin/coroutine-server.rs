//! `coroutine-server`: stackful coroutines on the `may` crate, one per connection, on `--threads N` may
//! workers, with lean-server's HTTP/1.1 written as blocking code.
//!
//! The third way to wait: the code reads like thread-server's (a loop that reads, handles, writes), but a
//! connection is a coroutine with a small stack of its own, and a read on an empty socket or a `sleep` parks the
//! coroutine, not the thread: may's scheduler runs others on the worker meanwhile, as an async executor runs
//! other tasks. `servers/src/coro/` has the code and says what a coroutine costs.

use clap::Parser;
use servers::cli::ServerArgs;
use servers::coro;
use servers::launch;
use std::process::ExitCode;

/// Stackful coroutines on may, one per connection, on --threads workers (default: CPUs); waiting coroutines hold no thread; SQLite and factorials on a worker pool.
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
    launch::run(
        "coroutine-server",
        "stackful coroutines on may, one per connection (own HTTP/1.1), run by an event loop per worker thread; \
         factorials and SQLite on a worker pool",
        cli.server,
        threads,
        coro::serve,
    )
}
