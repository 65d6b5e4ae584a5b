//! `pool-server`: tiny_http, and a fixed pool of worker threads pulling requests from a channel.
//!
//! The thread model with a budget: at most `--threads N` requests run at once; the others wait in the queue.
//! Memory and threads stay flat however many clients come, and a 3 s `/say/hello` now costs a pool slot — with
//! N slots, the (N+1)th concurrent request waits a whole round.
//!
//! Why crossbeam and not rayon: rayon's pool is built for CPU-bound fork-join work and is shared by everything
//! in the process; parking a rayon worker in `sleep` for 3 s is exactly the misuse its docs warn about. A
//! crossbeam channel with N threads on its receiving end *is* a fixed pool, and it makes the queue visible.

use clap::Parser;
use servers::cli::ServerArgs;
use servers::launch::{self, Served};
use servers::tiny_http_glue;
use std::process::ExitCode;
use std::thread;

/// tiny_http with a fixed pool of --threads worker threads (default: CPUs): at most N requests run at once, the rest queue.
#[derive(Parser)]
#[command(version, args_override_self = true)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let threads = cli.server.threads_or_cpus();
    launch::run("pool-server", "fixed thread pool (tiny_http + crossbeam)", cli.server, threads, serve)
}

fn serve(served: Served) -> std::io::Result<()> {
    let server = tiny_http_glue::server(&served)?;
    // Rendezvous channel: a request is handed over only when a worker is free; until then it waits in
    // tiny_http's queue, so the pool's backlog is one queue, not two.
    let (to_workers, requests) = crossbeam_channel::bounded::<tiny_http::Request>(0);
    for id in 0..served.threads {
        let requests = requests.clone();
        let workload = std::sync::Arc::clone(&served.workload);
        let log = served.log;
        thread::Builder::new().name(format!("worker-{id}")).spawn(move || {
            // Blocks this worker until a request is handed to it; then blocks it for the request's whole length.
            for request in requests {
                tiny_http_glue::answer(request, &workload, log);
            }
        })?;
    }
    loop {
        // Blocks until tiny_http has a request, then until a worker takes it.
        let request = tiny_http_glue::next_request(&server);
        if to_workers.send(request).is_err() {
            return Err(std::io::Error::other("every worker thread has died"));
        }
    }
}
