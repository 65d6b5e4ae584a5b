//! `lean-server`: explicit event loops on mio, one per `--threads`, with their own HTTP/1.1.
//!
//! The async model with the runtime taken apart: each loop is a reactor (epoll), a timer heap and one small
//! state machine per connection, and a worker pool takes the calls that block — what smol or tokio do under
//! `async`/`await`, written out in `servers/src/lean/`. It is the floor the lab measures the other servers
//! against: what a connection costs when no library decides for it.

use clap::Parser;
use servers::cli::ServerArgs;
use servers::launch;
use servers::lean;
use std::process::ExitCode;

/// Event loops on mio, one per --threads (default: CPUs), each with its own listener; a worker pool for the database and factorials.
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
        "lean-server",
        "event loops on mio, one per thread (own HTTP/1.1), factorials and SQLite on a worker pool",
        cli.server,
        threads,
        lean::serve,
    )
}
