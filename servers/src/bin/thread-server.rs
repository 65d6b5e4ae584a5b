//! `thread-server`: tiny_http, and a new OS thread for every request.
//!
//! The simplest concurrency there is: nothing waits for anything else, because every request gets a thread of
//! its own. The bill comes in memory (a stack per thread), in thread creation per request, and at scale in
//! the kernel's limits on threads.

use clap::Parser;
use servers::cli::ServerArgs;
use servers::launch::{self, Served};
use servers::tiny_http_glue;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;

/// tiny_http with a new OS thread for every request: a request that sleeps holds its own thread, never another's.
#[derive(Parser)]
#[command(version, args_override_self = true)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.server.threads.is_some() {
        eprintln!("thread-server: --threads does not apply: it starts one thread per request");
        return ExitCode::from(2);
    }
    launch::run("thread-server", "thread per request (tiny_http)", cli.server, 0, serve)
}

fn serve(served: Served) -> std::io::Result<()> {
    let server = tiny_http_glue::server(&served)?;
    let Served { workload, log, .. } = served;
    loop {
        // Blocks this (accept) thread until tiny_http has read a whole request.
        let request = tiny_http_glue::next_request(&server);
        // One thread per request. If the kernel refuses a thread, this request gets a 503 (on this thread) and
        // the server goes on.
        let mine = Arc::clone(&workload);
        let spawned = tiny_http_glue::spawn_with(thread::Builder::new(), request, move |request| {
            tiny_http_glue::answer(request, &mine, log)
        });
        if let Err((request, error)) = spawned {
            report_spawn_error(&error);
            tiny_http_glue::refuse(request, &workload, format!("cannot start a thread for this request: {error}"));
        }
    }
}

/// Reports a refused thread on stderr, at most once a second: a thread shortage must not flood the log.
fn report_spawn_error(error: &std::io::Error) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST_REPORT_S: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if LAST_REPORT_S.swap(now, Ordering::Relaxed) != now {
        eprintln!("thread-server: cannot start a thread: {error} (answering 503)");
    }
}
