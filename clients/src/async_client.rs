//! `async-client`: up to `-c` requests in flight per process on a few executor threads — the original
//! article's ten requests in about the time of one.
//!
//! The top-level flow lives here (the binary only calls [`main`]); the flags and one process's share of the
//! run in [`crate::async_process`] (shared with the `--processes` children), the event loops in
//! [`crate::runner`], the HTTP engines in [`crate::surf_engine`] and [`crate::lean`], and `--processes` in
//! [`crate::processes`].

use std::process::ExitCode;

use crate::async_process::{run_in_process, AsyncArgs, Engine};
use crate::cli;
use crate::cost::CostMeter;
use crate::export::{self, human};
use crate::processes;
use crate::report::{self, RunMeta};

pub const NAME: &str = "async-client";

pub fn main() -> ExitCode {
    let args: AsyncArgs = cli::parse_or_exit();
    if args.engine == Engine::Loop && args.common.rate.is_some() {
        eprintln!("{NAME}: --engine loop runs closed loop only; --rate needs --engine lean or surf");
        return ExitCode::from(cli::EXIT_USAGE);
    }
    if args.child {
        return processes::child_main(&args);
    }
    cli::raise_open_files_limit();
    let processes = args.effective_processes();
    let common = &args.common;
    let meta = RunMeta {
        client: NAME,
        engine: args.engine.name(),
        urls: common.url_strings(),
        requests: common.request_limit(),
        duration: common.duration,
        concurrency: args.concurrency.concurrency as u64,
        processes: processes as u64,
        keep_alive: common.keep_alive.is_on(),
        rate: common.rate,
    };
    if !common.json {
        println!("{}", human::start_line(&meta));
    }
    let meter = CostMeter::start();
    let result = if processes > 1 {
        processes::run_parent(&args, processes)
    } else {
        run_in_process(&args, || {}).map(|measured| (measured, Default::default()))
    };
    let (measured, children_cost) = match result {
        Ok(result) => result,
        Err(error) => return cli::fail(NAME, error),
    };
    let mut cost = meter.finish();
    cost.add(&children_cost);
    let report = report::from_run(&meta, &measured.recorder, measured.wall.as_secs_f64(), cost);
    export::finish(NAME, &report, common.json)
}
