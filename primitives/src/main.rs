//! `primitive`: one microbenchmark of a concurrency primitive per run — what creating, switching to and keeping
//! an idle thread, task or coroutine costs on this machine. `lab primitives` runs it, each measurement in a
//! process of its own (pinned to one CPU or to two), repeats it, and sets the figures beside published ones.
//!
//! The concurrency idea: every model the lab compares is built from these. A thread-per-request server pays a
//! thread creation per request and a kernel stack per waiting request; an async server pays a task and a
//! future's bytes; a switch between threads goes through the kernel's scheduler, a switch between tasks on one
//! executor thread is a function return and a call. docs/model.md reasons with these costs; this binary measures
//! them:
//! - [`create`]: create and join, one after another, so each measures the whole life of an empty unit;
//! - [`switch`]: two units handing a token back and forth, so each hand-off is one switch;
//! - [`memory`]: many idle units at once, for the parent to read the memory they hold.
//!
//! Output: one JSON line on stdout (`create`, `switch`), or `ready N` once N idle units are parked (`memory`),
//! after which the process waits for its standard input to close.

mod coroutine;
mod create;
mod memory;
mod switch;

use clap::{Parser, Subcommand, ValueEnum};
use std::process::ExitCode;
use std::time::Duration;

/// One microbenchmark of a concurrency primitive (run by `lab primitives`).
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// Create and join UNIT, COUNT times one after another; prints ns per create-and-join.
    Create {
        unit: Unit,
        #[arg(long, default_value_t = 10_000)]
        count: u64,
    },
    /// Two of a kind hand a token back and forth COUNT times; prints ns per hand-off (one switch).
    Switch {
        pair: Pair,
        #[arg(long, default_value_t = 100_000)]
        count: u64,
    },
    /// Parks COUNT idle UNITs, prints `ready COUNT`, and holds them until standard input closes.
    Memory {
        unit: Idle,
        #[arg(long)]
        count: u64,
    },
}

/// What is created or held idle.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Unit {
    /// An OS thread (std::thread, default stack).
    Thread,
    /// A task on a tokio current-thread runtime.
    TokioTask,
    /// A task on a smol local executor.
    SmolTask,
    /// A task on async-std's global executor, created by the main thread (`block_on`).
    AsyncStdTask,
    /// A smol task created by another task of the same local executor (not by `block_on`'s future).
    SmolTaskFromTask,
    /// An async-std task created by another async-std task (on one of the executor's threads).
    AsyncStdTaskFromTask,
    /// A may coroutine (64 KiB stack, as coroutine-server's) created by another coroutine, on one worker.
    Coroutine,
}

/// What is held idle.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Idle {
    /// An OS thread blocked on a condition variable.
    Thread,
    /// A tokio task pending on a channel.
    TokioTask,
    /// A smol task pending on a channel.
    SmolTask,
    /// An async-std task pending on a channel.
    AsyncStdTask,
    /// A may coroutine (64 KiB stack) parked on a may channel.
    Coroutine,
}

/// What hands the token back and forth.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Pair {
    /// Two threads, a mutex and a condition variable (futex waits and wakes).
    ThreadCondvar,
    /// Two threads, a pipe each way (a blocking read and a write per hand-off).
    ThreadPipe,
    /// Two tasks on one tokio current-thread runtime, a channel each way.
    TokioChannel,
    /// Two tasks on one smol local executor, a channel each way (one of them `block_on`'s future).
    SmolChannel,
    /// The same, both of them tasks of the executor.
    SmolChannelTasks,
    /// Two may coroutines on one worker, a may channel each way.
    CoroutineChannel,
    /// Two tasks on one smol local executor, a Unix socket pair between them: the wake-up arrives through
    /// epoll's readiness instead of a channel's waker.
    SmolSocketpair,
}

/// A figure per operation, as the lab reads it.
#[derive(serde::Serialize)]
struct Timing {
    operations: u64,
    elapsed_ns: u128,
    ns_per_operation: f64,
}

impl Timing {
    fn of(operations: u64, elapsed: Duration) -> Timing {
        Timing {
            operations,
            elapsed_ns: elapsed.as_nanos(),
            ns_per_operation: elapsed.as_nanos() as f64 / operations.max(1) as f64,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.what {
        What::Create { unit, count } => create::measure(unit, count).map(|elapsed| Timing::of(count, elapsed)),
        What::Switch { pair, count } => switch::measure(pair, count).map(|elapsed| Timing::of(2 * count, elapsed)),
        What::Memory { unit, count } => match memory::hold(unit, count) {
            Ok(()) => return ExitCode::SUCCESS,
            Err(error) => Err(error),
        },
    };
    match result {
        Ok(timing) => {
            println!("{}", serde_json::to_string(&timing).expect("a timing serialises"));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("primitive: {error:#}");
            ExitCode::FAILURE
        }
    }
}
