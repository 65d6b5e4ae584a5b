//! `async-client --processes P`: the original article's closing example — several OS processes, each with
//! its own event loop(s) and coroutines — with the requests split between them.
//!
//! The parent re-runs its own executable P times with `--child`, a share of `-n` and `--warmup`, and the same
//! `-c` (so P × c requests are in flight in total). A small line protocol runs over the child's stdio:
//! the child prints `ready` once its warm-up is done and blocks reading stdin; when every child is ready the
//! parent starts the clock and writes `go` to each; each child then prints its response lines (human mode;
//! the parent forwards them) and finally `report {json}` — its [`RecorderSnapshot`] and [`Cost`]. The parent
//! merges histograms exactly and adds up the costs.
//!
//! Children never outlive the parent: each asks the kernel for SIGKILL when the parent dies
//! (`PR_SET_PDEATHSIG`), and treats EOF on stdin as "parent gone". PDEATHSIG fires when the *thread* that
//! forked the child exits, so children are spawned from the main thread, which lives until the end.

use std::io::{self, BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::thread;
use std::time::Instant;

use crossbeam_channel::{unbounded, Sender};
use serde::{Deserialize, Serialize};

use crate::async_process::{run_in_process, AsyncArgs};
use crate::cli;
use crate::cost::CostMeter;
use crate::recorder::{Recorder, RecorderSnapshot};
use crate::report::Cost;
use crate::runner::Measured;

const READY: &str = "ready";
const GO: &str = "go";
const REPORT_PREFIX: &str = "report ";

/// What a child sends its parent at the end.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChildReport {
    pub recorder: RecorderSnapshot,
    pub cost: Cost,
}

/// Runs as a child: warm up, say ready, wait for go, run, report.
pub fn child_main(args: &AsyncArgs) -> ExitCode {
    let name = "async-client (child)";
    let meter = CostMeter::start();
    let wait_for_go = || {
        let mut stdout = io::stdout().lock();
        let _ = writeln!(stdout, "{READY}");
        let _ = stdout.flush();
        drop(stdout);
        let mut line = String::new();
        // Blocks until the parent says go; EOF means the parent is gone.
        match io::stdin().lock().read_line(&mut line) {
            Ok(n) if n > 0 && line.trim() == GO => {}
            _ => std::process::exit(i32::from(cli::EXIT_ALL_FAILED)),
        }
    };
    let measured = match run_in_process(args, wait_for_go) {
        Ok(measured) => measured,
        Err(error) => return cli::fail(name, error),
    };
    let report = ChildReport { recorder: measured.recorder.snapshot(), cost: meter.finish() };
    let json = serde_json::to_string(&report).expect("a child report serializes");
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "{REPORT_PREFIX}{json}");
    let _ = stdout.flush();
    ExitCode::SUCCESS
}

/// A line from a child, as read by its reader thread.
enum Message {
    Ready,
    /// A human output line, to forward.
    Line(String),
    Report(Box<ChildReport>),
    Malformed(String),
    /// The child closed its stdout (it exited).
    Closed,
}

/// The children, killed and reaped if the parent returns early.
struct Children(Vec<(Child, ChildStdin)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (child, _) in &mut self.0 {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

/// Runs `processes` children and merges their results; the wall time runs from `go` to the last report.
/// Returns the merged measurements and the children's summed cost.
pub fn run_parent(args: &AsyncArgs, processes: usize) -> io::Result<(Measured, Cost)> {
    let exe = std::env::current_exe()?;
    let threads = args.threads_per_process();
    let (tx, rx) = unbounded::<(usize, Message)>();
    let mut children = Children(Vec::with_capacity(processes));
    for index in 0..processes {
        let mut command = Command::new(&exe);
        command
            .args(child_args(args, index, processes, threads))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        harness::process::die_with_parent(&mut command);
        let mut child = command.spawn()?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let stdin = child.stdin.take().expect("stdin is piped");
        let tx = tx.clone();
        thread::Builder::new().name(format!("child-{index}-reader")).spawn(move || read_child(index, stdout, tx))?;
        children.0.push((child, stdin));
    }
    drop(tx);

    let failed = |index: usize, what: &str| io::Error::other(format!("child process {index} {what}"));
    let mut ready = 0;
    while ready < processes {
        // Blocks until a child says something.
        match rx.recv() {
            Ok((_, Message::Ready)) => ready += 1,
            Ok((_, Message::Line(line))) => println!("{line}"),
            Ok((index, Message::Malformed(line))) => return Err(failed(index, &format!("sent {line:?}"))),
            Ok((index, _)) => return Err(failed(index, "exited before it was ready")),
            Err(_) => return Err(io::Error::other("every child process exited")),
        }
    }

    let started = Instant::now();
    for (index, (_, stdin)) in children.0.iter_mut().enumerate() {
        writeln!(stdin, "{GO}").and_then(|_| stdin.flush()).map_err(|_| failed(index, "exited before go"))?;
    }
    let mut reports: Vec<Option<ChildReport>> = (0..processes).map(|_| None).collect();
    let mut received = 0;
    while received < processes {
        match rx.recv() {
            Ok((_, Message::Line(line))) => println!("{line}"),
            Ok((index, Message::Report(report))) => {
                reports[index] = Some(*report);
                received += 1;
            }
            Ok((index, Message::Malformed(line))) => return Err(failed(index, &format!("sent {line:?}"))),
            Ok((index, Message::Closed)) if reports[index].is_none() => {
                return Err(failed(index, "exited without a report"))
            }
            Ok(_) => {}
            Err(_) => return Err(io::Error::other("child processes exited without reports")),
        }
    }
    let wall = started.elapsed();

    for (child, _) in &mut children.0 {
        // Blocks until the child has exited (it has already sent its report).
        let _ = child.wait();
    }
    let mut cost = Cost::default();
    let recorders = reports.iter().flatten().map(|report| {
        cost.add(&report.cost);
        Recorder::from_snapshot(&report.recorder)
    });
    let recorder = Recorder::merge_all(recorders.collect::<Vec<_>>());
    Ok((Measured { recorder, wall }, cost))
}

/// The command line of child `index`: the parent's flags (every `--url`, in order) with this child's share of
/// the requests (or, for a closed-loop `--duration`, the same duration: every child runs until it). The child numbers its requests from `--first-index`, so the URL cycle runs over the whole run
/// as if in one process: each URL gets its share of the total, not of each child's part.
fn child_args(args: &AsyncArgs, index: usize, processes: usize, threads: usize) -> Vec<String> {
    let share_of =
        |child: usize, total: u64| total / processes as u64 + u64::from((child as u64) < total % processes as u64);
    let share = |total: u64| share_of(index, total);
    let common = &args.common;
    // A duration-bound child (closed loop) numbers its requests from 0: no child knows how many the others
    // will send, and each cycles through every URL on its own.
    let limit = common.request_limit();
    let first_index: u64 = match common.deadline_after() {
        Some(_) => 0,
        None => (0..index).map(|child| share_of(child, limit)).sum(),
    };
    let mut argv = vec!["--child".to_string()];
    for url in common.url_strings() {
        argv.push("--url".into());
        argv.push(url);
    }
    match common.deadline_after() {
        Some(duration) => argv.extend(["--duration".into(), duration.as_secs_f64().to_string()]),
        None => argv.extend(["--requests".into(), share(limit).to_string()]),
    }
    argv.extend([
        "--warmup".into(),
        share(common.warmup).to_string(),
        "--concurrency".into(),
        args.concurrency.concurrency.to_string(),
        "--timeout".into(),
        common.timeout.as_secs_f64().to_string(),
        "--keep-alive".into(),
        if common.keep_alive.is_on() { "on" } else { "off" }.into(),
        "--engine".into(),
        args.engine.name().into(),
        "--threads".into(),
        threads.to_string(),
        "--source-addresses".into(),
        args.source_addresses.to_string(),
        "--first-index".into(),
        first_index.to_string(),
    ]);
    if let Some(rate) = common.rate {
        // Each child keeps its own schedule at its share of the rate, so that all finish together.
        let share = rate * share(limit) as f64 / limit.max(1) as f64;
        argv.push("--rate".into());
        argv.push(share.max(crate::schedule::MIN_RATE).to_string());
    }
    if common.json {
        argv.push("--json".into());
    }
    argv
}

/// Reads a child's stdout line by line (on its own thread, so that no child blocks on a full pipe).
fn read_child(index: usize, stdout: std::process::ChildStdout, tx: Sender<(usize, Message)>) {
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let message = if line == READY {
            Message::Ready
        } else if let Some(json) = line.strip_prefix(REPORT_PREFIX) {
            match serde_json::from_str::<ChildReport>(json) {
                Ok(report) => Message::Report(Box::new(report)),
                Err(_) => Message::Malformed(line),
            }
        } else {
            Message::Line(line)
        };
        if tx.send((index, message)).is_err() {
            return;
        }
    }
    let _ = tx.send((index, Message::Closed));
}
