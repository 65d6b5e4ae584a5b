//! `pool-client`: the blocking client on a pool of `-c` threads (rayon's `ThreadPool`). Each thread still
//! sleeps in `read(2)` during its request, but `-c` of them sleep at once: ten requests on five threads take
//! two rounds. The threads share one ureq `Agent` whose idle pool holds one connection per thread, and take
//! request numbers from one atomic counter; each records into its own histogram.

use std::process::ExitCode;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use clap::Parser;
use clients::blocking::{self, UreqEngine};
use clients::cli::{self, CommonArgs, ConcurrencyArgs, WithCommonArgs};
use clients::cost::CostMeter;
use clients::export::{self, human};
use clients::recorder::Recorder;
use clients::report::{self, RunMeta};
use clients::schedule::{Schedule, Stop};

const NAME: &str = "pool-client";

/// Requests on a pool of -c threads, each over a blocking HTTP client (ureq).
#[derive(Debug, Parser)]
#[command(name = "pool-client", version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    concurrency: ConcurrencyArgs,
}

impl WithCommonArgs for Args {
    fn common(&self) -> &CommonArgs {
        &self.common
    }
}

fn main() -> ExitCode {
    let Args { common, concurrency } = cli::parse_or_exit();
    cli::raise_open_files_limit();
    let threads = concurrency.concurrency;
    let meta = RunMeta {
        client: NAME,
        engine: "ureq",
        urls: common.url_strings(),
        requests: common.request_limit(),
        duration: common.duration,
        concurrency: threads as u64,
        processes: 1,
        keep_alive: common.keep_alive.is_on(),
        rate: common.rate,
    };
    if !common.json {
        println!("{}", human::start_line(&meta));
    }
    let meter = CostMeter::start();
    let pool = match rayon::ThreadPoolBuilder::new().num_threads(threads).thread_name(|i| format!("pool-{i}")).build() {
        Ok(pool) => pool,
        Err(error) => return cli::fail(NAME, format!("cannot start {threads} threads: {error}")),
    };
    let engine = UreqEngine::new(&common, threads);

    // `broadcast` runs the closure once on every pool thread and blocks until all have returned.
    let warmup_next = AtomicU64::new(0);
    pool.broadcast(|_| blocking::drive(&engine, &warmup_next, Stop::after(common.warmup), false, None));

    let started = Instant::now();
    // Open loop: the pool's threads share one schedule; -c threads are the cap on requests in flight.
    let schedule = common.rate.map(|rate| Schedule::new(started, rate));
    let next = AtomicU64::new(0);
    let stop = Stop::at(common.request_limit(), started, common.deadline_after());
    let recorders = pool.broadcast(|_| blocking::drive(&engine, &next, stop, !common.json, schedule.as_ref()));
    let wall = started.elapsed();

    let recorder = Recorder::merge_all(recorders);
    let report = report::from_run(&meta, &recorder, wall.as_secs_f64(), meter.finish());
    export::finish(NAME, &report, common.json)
}
