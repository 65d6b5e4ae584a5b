//! `blocking-client`: requests one after another on one thread with a blocking client (ureq, one reused
//! `Agent`) — Python `requests` in the original article. Ten 3-second requests take 30 seconds: the only
//! thread sleeps in `read(2)` while the server works.

use std::process::ExitCode;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use clap::Parser;
use clients::blocking::{self, UreqEngine};
use clients::cli::{self, CommonArgs, WithCommonArgs};
use clients::cost::CostMeter;
use clients::export::{self, human};
use clients::report::{self, RunMeta};
use clients::schedule::{Schedule, Stop};

const NAME: &str = "blocking-client";

/// One request at a time on one thread, over a blocking HTTP client (ureq).
#[derive(Debug, Parser)]
#[command(name = "blocking-client", version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

impl WithCommonArgs for Args {
    fn common(&self) -> &CommonArgs {
        &self.common
    }
}

fn main() -> ExitCode {
    let Args { common } = cli::parse_or_exit();
    let meta = RunMeta {
        client: NAME,
        engine: "ureq",
        urls: common.url_strings(),
        requests: common.request_limit(),
        duration: common.duration,
        concurrency: 1,
        processes: 1,
        keep_alive: common.keep_alive.is_on(),
        rate: common.rate,
    };
    if !common.json {
        println!("{}", human::start_line(&meta));
    }
    let meter = CostMeter::start();
    let engine = UreqEngine::new(&common, 1);
    blocking::drive(&engine, &AtomicU64::new(0), Stop::after(common.warmup), false, None);

    let started = Instant::now();
    // Open loop: one connection in flight at most, so a request falls due while the previous one is answered
    // whenever the server takes longer than 1/RATE.
    let schedule = common.rate.map(|rate| Schedule::new(started, rate));
    // Blocks this (only) thread for every request in turn.
    let stop = Stop::at(common.request_limit(), started, common.deadline_after());
    let recorder = blocking::drive(&engine, &AtomicU64::new(0), stop, !common.json, schedule.as_ref());
    let wall = started.elapsed();

    let report = report::from_run(&meta, &recorder, wall.as_secs_f64(), meter.finish());
    export::finish(NAME, &report, common.json)
}
