//! `uring-server`: completion loops on io_uring, one per `--threads`, with lean-server's own HTTP/1.1.
//!
//! lean-server's model with the readiness reactor replaced by a completion ring: instead of asking epoll which
//! sockets are ready and then reading and writing them itself, each loop hands the kernel the receives, sends,
//! timers and the accept as operations, and learns when they are done — many of them per system call. The
//! code is in `servers/src/uring/`.

use clap::Parser;
use servers::cli::ServerArgs;
use servers::launch;
use servers::uring;
use std::process::ExitCode;

/// Completion loops on io_uring, one per --threads (default: CPUs), each with its own listener; a worker pool for the database and factorials.
#[derive(Parser)]
#[command(version, args_override_self = true)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before anything is bound or announced: a kernel without io_uring (or a process denied it) is told
    // plainly, with the usual exit code for a server that cannot start.
    if let Err(message) = uring::probe() {
        eprintln!("uring-server: {message}");
        return ExitCode::from(2);
    }
    let threads = cli.server.threads_or_cpus();
    launch::accept_on_every_thread();
    launch::run(
        "uring-server",
        "completion loops on io_uring, one per thread (own HTTP/1.1), factorials and SQLite on a worker pool",
        cli.server,
        threads,
        uring::serve,
    )
}
