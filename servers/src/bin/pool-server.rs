//! `pool-server`: a fixed pool of worker threads, each serving one connection at a time.
//!
//! The thread model with a budget, as a textbook thread-pool server (and Apache's worker MPM) does it: one
//! thread accepts connections and queues them; `--threads N` workers each take a connection, serve its
//! requests one after another with tiny_http's parser, and take the next connection when it closes. The
//! process has N + 3 threads however many clients come (main, signals, accept; docs/model.md), and a 3 s
//! `/say/hello` costs a pool slot: with N slots, the (N+1)th concurrent request waits a whole round.
//!
//! The price is pool starvation: a worker is held by its connection, idle keep-alive gaps included, so N idle
//! keep-alive connections leave every later connection waiting in the queue until one of them closes or goes
//! idle past `--header-timeout-s`. A worker that reads a request while connections are queued answers it
//! with `Connection: close` and takes the next connection (as Tomcat's blocking connector turned keep-alive off
//! when most of its threads were busy), so busy keep-alive clients cannot hold the pool for ever; idle ones
//! still can. docs/model.md gives the model's prediction.
//!
//! Why crossbeam and not rayon: rayon's pool is built for CPU-bound fork-join work and is shared by everything
//! in the process; parking a rayon worker in `sleep` for 3 s is exactly the misuse its docs warn about. A
//! crossbeam channel with N threads on its receiving end *is* a fixed pool, and it makes the queue visible.

use clap::Parser;
use servers::cli::ServerArgs;
use servers::launch::{self, Served};
use servers::tiny_http_glue;
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

/// A fixed pool of --threads worker threads (default: CPUs), each serving one connection at a time; the rest queue.
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

/// A connection accepted and not yet closed: queued or being served. Counted for `--max-connections`.
struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn serve(served: Served) -> std::io::Result<()> {
    let limits = tiny_http_glue::limits(&served);
    // The queue of accepted connections waiting for a worker. Unbounded in the channel, bounded by
    // --max-connections in the accept loop below.
    let (to_workers, connections) = crossbeam_channel::unbounded::<(TcpStream, Open)>();
    for id in 0..served.threads {
        let (connections, queue) = (connections.clone(), connections.clone());
        let workload = Arc::clone(&served.workload);
        let log = served.log;
        thread::Builder::new().name(format!("worker-{id}")).spawn(move || {
            // Blocks this worker until a connection is queued; then blocks it for the connection's whole life:
            // every request, and every idle gap between two requests.
            for (stream, _open) in connections {
                tiny_http_glue::serve_connection(stream, limits, &workload, log, || !queue.is_empty());
            }
        })?;
    }
    let open = Arc::new(AtomicUsize::new(0));
    // This (accept) thread blocks in accept(2) until a client connects, for ever unless every worker has died.
    Err(launch::accept_loop(&served.listener, |stream, _| {
        if open.load(Ordering::SeqCst) >= limits.max_connections {
            tiny_http::refuse_busy(stream);
            return Ok(());
        }
        open.fetch_add(1, Ordering::SeqCst);
        to_workers
            .send((stream, Open(Arc::clone(&open))))
            .map_err(|_| std::io::Error::other("every worker thread has died"))
    }))
}
