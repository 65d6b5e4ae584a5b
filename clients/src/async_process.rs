//! What one `async-client` process runs: its flags ([`AsyncArgs`]) and its share of the requests on the chosen
//! engine ([`run_in_process`]) — the whole run in a single process, or one child's share under `--processes`.
//!
//! Below both `async_client`, which starts the run and prints the report, and `processes`, which
//! splits it over child processes: each child parses the same flags and runs the same share code.

use std::io;

use clap::{Parser, ValueEnum};

use crate::cli::{self, parse_processes, parse_threads, CommonArgs, ConcurrencyArgs, WithCommonArgs};
use crate::lean::event_loop::LoopThread;
use crate::lean::LeanEngine;
use crate::phase::Plan;
use crate::runner::{self, Measured};
use crate::surf_engine::SurfEngine;

/// Requests in flight over async I/O: a smol executor per thread, surf or the lean engine.
#[derive(Debug, Clone, Parser)]
#[command(name = "async-client", version, about)]
pub struct AsyncArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    #[command(flatten)]
    pub concurrency: ConcurrencyArgs,

    /// HTTP implementation: surf (the library under comparison), lean (the lab's raw-throughput engine, a task
    /// per slot) or loop (the lean engine on an explicit event loop per thread, no tasks: closed loop only).
    #[arg(long, value_enum, default_value_t = Engine::Surf)]
    pub engine: Engine,

    /// Executor threads per process [default: the number of CPUs, divided among the processes].
    #[arg(long, value_parser = parse_threads)]
    pub threads: Option<usize>,

    /// Split the requests over this many OS processes, each with its own executors and `-c` slots.
    #[arg(long, default_value_t = 1, value_parser = parse_processes)]
    pub processes: usize,

    /// Lean engine, loopback servers: spread the connections over this many source addresses (127.0.0.1,
    /// 127.0.0.2, …), each with a port range of its own. Past half the ephemeral port range to one address,
    /// connect(2) spends about a millisecond searching for a free port (results/experiments/).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=254))]
    pub source_addresses: u8,

    /// Internal: run as a child of `--processes` (talks to the parent over stdin/stdout).
    #[arg(long, hide = true)]
    pub child: bool,

    /// Internal: the run-wide number of a child's first request, so that printed request numbers are unique and
    /// the `--url` cycle continues where the previous child's share ends.
    #[arg(long, hide = true, default_value_t = 0)]
    pub first_index: u64,
}

impl WithCommonArgs for AsyncArgs {
    fn common(&self) -> &CommonArgs {
        &self.common
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    Surf,
    Lean,
    /// The lean engine's bytes on an explicit event loop per thread instead of tasks (closed loop only).
    Loop,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Surf => "surf",
            Engine::Lean => "lean",
            Engine::Loop => "loop",
        }
    }
}

impl AsyncArgs {
    /// Processes actually started: never more than there are requests.
    pub fn effective_processes(&self) -> usize {
        let requests = usize::try_from(self.common.request_limit()).unwrap_or(usize::MAX);
        self.processes.min(requests).max(1)
    }

    /// Executor threads per process.
    pub fn threads_per_process(&self) -> usize {
        self.threads.unwrap_or_else(|| (cli::cpu_count() / self.effective_processes()).max(1))
    }
}

/// Runs this process's share: warm-up, `before_measure`, then the counted requests.
pub fn run_in_process(args: &AsyncArgs, before_measure: impl FnOnce()) -> io::Result<Measured> {
    let concurrency = args.concurrency.concurrency;
    // A descriptor for each connection this process may hold, made before the first connect rather than by
    // doubling the table during a burst.
    harness::limits::reserve_descriptors(concurrency as u64 + 64);
    let plan = Plan {
        requests: args.common.request_limit(),
        duration: args.common.deadline_after(),
        warmup: args.common.warmup,
        concurrency,
        urls: args.common.urls.len(),
        threads: args.threads_per_process(),
        timeout: args.common.timeout,
        echo: !args.common.json,
        first_index: args.first_index,
        // A `--processes` child is given its own share of the rate by its parent.
        rate: args.common.rate,
    };
    Ok(match args.engine {
        Engine::Surf => {
            let engine = SurfEngine::new(&args.common, concurrency)?;
            runner::run(&plan, || engine.slot(), before_measure)
        }
        Engine::Lean => {
            let engine = LeanEngine::new(&args.common, args.source_addresses);
            runner::run(&plan, || engine.slot(), before_measure)
        }
        Engine::Loop => {
            let engine = LeanEngine::new(&args.common, args.source_addresses);
            runner::run_threads(&plan, |slots| LoopThread::new(&engine, slots), before_measure)
        }
    })
}
