//! `lab primitives`: what a thread, a task and a coroutine cost on this machine — create and join, a switch,
//! the memory of an idle one — each figure beside the published one it is usually quoted from.
//!
//! Concurrency idea: every verdict of the matrix rests on these few costs. A thread-per-request server pays a
//! thread creation per request and a kernel stack per waiting request; an async server pays a task; a switch
//! between threads goes through the kernel, between tasks on one executor thread it does not. docs/model.md
//! reasons with them; this command measures them, so a reader can follow primitive → model → server.
//!
//! Plan → measure → record → render: each measurement is one run of the `primitive` binary (package
//! `primitives`) in a process of its own, pinned to one CPU and to two; repetitions are interleaved in rounds so
//! that the machine's drift widens each figure's range instead of moving one figure. Memory is a line through
//! the resident and kernel memory at several counts of idle units (its slope is one unit's cost, r² says how
//! straight the line is); the same for idle keep-alive connections on each server ([`connections`]). Writes
//! `primitives-<run-id>.{json,md,html}`.

pub mod connections;
pub mod markdown;
pub mod plan;

pub use plan::*;

use crate::export::{Exporter, Page};
use crate::fit::linear_fit;
use crate::records::primitives::*;
use crate::records::run::{KernelMemory, Status};
use crate::session::{Session, SessionArgs};
use anyhow::Context;
use serde::Deserialize;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What `lab primitives` was asked to do.
#[derive(Debug, Clone)]
pub struct PrimitivesOptions {
    pub bin_dir: Option<PathBuf>,
    pub out: PathBuf,
    pub repetitions: u32,
    pub create_count: u64,
    pub switch_count: u64,
    /// Idle units held at once for the memory fit, ascending, 0 first (the process without them).
    pub memory_counts: Vec<u64>,
    /// Idle keep-alive connections held at once on each server, ascending, 0 first (the server without them).
    pub connection_counts: Vec<u64>,
}

/// `lab primitives`'s arguments.
#[derive(clap::Args, Debug)]
pub struct PrimitivesArgs {
    /// Repetitions of every timing, interleaved in rounds.
    #[arg(long, default_value_t = 5)]
    pub repetitions: u32,
    /// A short run for tests: fewer operations and smaller counts (figures noisier).
    #[arg(long)]
    pub quick: bool,
    // `--bin-dir` must hold `primitive` and `calibrate`.
    #[command(flatten)]
    pub session: SessionArgs,
}

impl PrimitivesOptions {
    pub fn from_args(args: PrimitivesArgs) -> Result<PrimitivesOptions, crate::UsageError> {
        if !(1..=50).contains(&args.repetitions) {
            return Err(crate::UsageError("--repetitions must be from 1 to 50".to_string()));
        }
        let (create_count, switch_count, memory_counts, connection_counts) = if args.quick {
            (2_000, 20_000, vec![0, 500, 1_000, 2_000], vec![0, 200, 400, 800])
        } else {
            (20_000, 200_000, vec![0, 1_000, 2_500, 5_000, 10_000], vec![0, 250, 500, 1_000, 2_000])
        };
        Ok(PrimitivesOptions {
            out: args.session.out_dir(),
            bin_dir: args.session.bin_dir,
            repetitions: args.repetitions,
            create_count,
            switch_count,
            memory_counts,
            connection_counts,
        })
    }
}

impl Anchor {
    fn new(value: f64, source: &str, measured: Option<f64>) -> Anchor {
        Anchor { value, source: source.to_string(), ratio: measured.map(|m| m / value) }
    }

    /// Whether the measured figure is more than [`ANCHOR_FACTOR`] away from the published one.
    pub fn beyond(&self) -> bool {
        self.ratio.is_some_and(|r| !(1.0 / ANCHOR_FACTOR..=ANCHOR_FACTOR).contains(&r))
    }
}

/// The `primitive` binary's one-line report of a timing.
#[derive(Deserialize)]
struct Report {
    ns_per_operation: f64,
}

/// Runs `lab primitives` and writes its files. Returns the run and the files written.
pub fn run(options: &PrimitivesOptions) -> anyhow::Result<(PrimitivesRun, Vec<PathBuf>)> {
    let session = Session::start(crate::records::header::RunKind::Primitives, &options.out, options.bin_dir.clone())?;
    let binary = session.bin_dir.join("primitive");
    if !binary.is_file() {
        return Err(crate::UsageError(format!(
            "{} not found: build it with `cargo build --release -p primitives` (or give --bin-dir)",
            binary.display()
        ))
        .into());
    }
    let allowed = harness::process::allowed_cpus();
    let mut cpu_sets: Vec<Vec<usize>> = vec![allowed[..1].to_vec()];
    let mut notes = session.notes();
    if allowed.len() >= 2 {
        cpu_sets.push(allowed[..2].to_vec());
    } else {
        notes.push("Only one CPU is available: the two-CPU timings were not run.".to_string());
    }
    let settings = PrimitivesSettings {
        repetitions: options.repetitions,
        create_count: options.create_count,
        switch_count: options.switch_count,
        memory_counts: options.memory_counts.clone(),
        connection_counts: options.connection_counts.clone(),
        cpu_sets: cpu_sets.iter().map(|c| harness::process::cpu_list(c)).collect(),
    };
    let mut timings: Vec<Timing> = cpu_sets
        .iter()
        .flat_map(|cpus| {
            SUBJECTS.iter().map(|s| Timing {
                measure: s.measure,
                subject: s.word.to_string(),
                cpus: harness::process::cpu_list(cpus),
                ..Timing::default()
            })
        })
        .collect();
    // Rounds: every timing once per round, so that slow drift of the machine spreads over all of them.
    for round in 0..options.repetitions {
        for (i, timing) in timings.iter_mut().enumerate() {
            if session.is_interrupted() {
                break;
            }
            if timing.status == Status::Failed {
                continue;
            }
            let cpus = &cpu_sets[i / SUBJECTS.len()];
            let count = match timing.measure {
                Measure::Create => options.create_count,
                Measure::Switch => options.switch_count,
            };
            eprintln!(
                "lab: primitives round {}/{}: {} {} on CPUs {}",
                round + 1,
                options.repetitions,
                timing.measure,
                timing.subject,
                timing.cpus
            );
            match time_one(&binary, timing.measure, &timing.subject, count, cpus) {
                Ok(ns) => timing.ns_per_operation.push(ns),
                Err(error) => {
                    timing.status = Status::Failed;
                    timing.reason = Some(format!("{error:#}"));
                }
            }
        }
    }
    for timing in &mut timings {
        summarise(timing, session.is_interrupted());
    }
    let memory = MEMORY_UNITS
        .iter()
        .map(|&(unit, _, anchor)| {
            if session.is_interrupted() {
                let reason = Some("interrupted".to_string());
                return MemoryFit { unit: unit.to_string(), status: Status::Skipped, reason, ..MemoryFit::default() };
            }
            eprintln!("lab: primitives memory: {unit} at {:?} idle", options.memory_counts);
            memory_fit(&binary, unit, anchor, &options.memory_counts, &cpu_sets[0])
        })
        .collect();
    let servers = crate::plan::BUILTIN_SERVERS;
    let mut connections = connections::fits(&session, &servers, &options.connection_counts, &cpu_sets[0]);
    for fit in connections.iter_mut().filter(|f| f.status == Status::Ok) {
        fit_lines(fit);
        if fit.unit == connections::LISTENER {
            // The lab's own RSS is not a server's: only the kernel's figures mean something here.
            (fit.user_kib_per_unit, fit.user_r2) = (None, None);
        }
    }
    let doc = PrimitivesRun { header: session.header(SCHEMA_VERSION, notes), settings, timings, memory, connections };
    let files = crate::export::save_with_json(&doc, report_exporters(), &session.out)?;
    Ok((doc, files))
}

/// What `lab report` rebuilds from a primitives JSON.
pub fn report_exporters() -> Vec<Box<dyn Exporter<PrimitivesRun>>> {
    vec![Box::new(Page("md", markdown::render)), Box::new(Page("html", markdown::html))]
}

/// `lab primitives`: the command line's entry.
pub fn command(args: PrimitivesArgs) -> anyhow::Result<u8> {
    let options = PrimitivesOptions::from_args(args)?;
    let (run, files) = run(&options)?;
    Ok(crate::session::say_written(&files, run.interrupted))
}

/// One run of `primitive MEASURE SUBJECT --count N`, pinned to `cpus`: ns per operation.
fn time_one(binary: &Path, measure: Measure, subject: &str, count: u64, cpus: &[usize]) -> anyhow::Result<f64> {
    let mut command = Command::new(binary);
    command.args([measure.as_str(), subject, "--count", &count.to_string()]);
    harness::process::pin(&mut command, cpus);
    let output = command.output().with_context(|| format!("running {}", binary.display()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        anyhow::bail!("primitive {measure} {subject} failed ({}): {}", output.status, stderr.trim());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Report = serde_json::from_str(stdout.trim())
        .with_context(|| format!("primitive {measure} {subject} printed {stdout:?}"))?;
    Ok(report.ns_per_operation)
}

/// The median and range of a timing's repetitions, and its published figure.
fn summarise(timing: &mut Timing, interrupted: bool) {
    let mut sorted = timing.ns_per_operation.clone();
    sorted.sort_by(f64::total_cmp);
    timing.median_ns = harness::stats::median(&sorted);
    timing.min_ns = sorted.first().copied();
    timing.max_ns = sorted.last().copied();
    if timing.status != Status::Failed && sorted.is_empty() {
        timing.status = Status::Skipped;
        timing.reason = Some(if interrupted { "interrupted" } else { "not measured" }.to_string());
    }
    let subject = SUBJECTS.iter().find(|s| s.measure == timing.measure && s.word == timing.subject);
    timing.anchor = subject.and_then(|s| s.anchor_ns).map(|ns| Anchor::new(ns, CONTEXT_SWITCH, timing.median_ns));
}

/// Memory of `unit` at each of `counts` idle, and the lines through it.
fn memory_fit(binary: &Path, unit: &str, anchor_kib: Option<f64>, counts: &[u64], cpus: &[usize]) -> MemoryFit {
    let mut fit = MemoryFit { unit: unit.to_string(), ..MemoryFit::default() };
    for &count in counts {
        match hold_one(binary, unit, count, cpus) {
            Ok(point) => fit.points.push(point),
            Err(error) => {
                fit.status = Status::Failed;
                fit.reason = Some(format!("{count} idle: {error:#}"));
                return fit;
            }
        }
    }
    fit_lines(&mut fit);
    fit.user_anchor = anchor_kib.map(|kib| Anchor::new(kib, CONTEXT_SWITCH, fit.user_kib_per_unit));
    if unit == "thread" {
        fit.kernel_stack_anchor =
            Some(Anchor::new(KERNEL_STACK_ANCHOR_KIB, KERNEL_STACK_SOURCE, fit.kernel_stack_kib_per_unit));
    }
    fit
}

/// The lines through a fit's points: RSS, `KernelStack`, `Slab`, and the kernel's sum (for its r²).
fn fit_lines(fit: &mut MemoryFit) {
    let line = |y: &dyn Fn(&MemoryPoint) -> f64| {
        linear_fit(&fit.points.iter().map(|p| (p.count as f64, y(p))).collect::<Vec<_>>())
    };
    let user = line(&|p| p.rss_kib as f64);
    let stack = line(&|p| p.kernel_stack_growth_kib as f64);
    let slab = line(&|p| p.slab_growth_kib as f64);
    let kernel = line(&|p| (p.kernel_stack_growth_kib + p.slab_growth_kib) as f64);
    fit.user_kib_per_unit = user.map(|l| l.0);
    fit.user_r2 = user.map(|l| l.1);
    fit.kernel_stack_kib_per_unit = stack.map(|l| l.0);
    fit.slab_kib_per_unit = slab.map(|l| l.0);
    fit.kernel_r2 = kernel.map(|l| l.1);
}

/// Starts `primitive memory UNIT --count N`, waits for `ready N`, reads its RSS and the kernel's memory, then
/// closes its standard input and waits for it to exit.
fn hold_one(binary: &Path, unit: &str, count: u64, cpus: &[usize]) -> anyhow::Result<MemoryPoint> {
    let before = KernelMemory::read().context("reading /proc/meminfo")?;
    let mut command = Command::new(binary);
    command.args(["memory", unit, "--count", &count.to_string()]);
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    harness::process::pin(&mut command, cpus);
    harness::process::die_with_parent(&mut command);
    let mut child = command.spawn().with_context(|| format!("running {}", binary.display()))?;
    let mut line = String::new();
    // Blocks until the child has parked its units (or died).
    BufReader::new(child.stdout.take().context("the child's stdout")?).read_line(&mut line)?;
    let sample = harness::proc::ProcSample::read(child.id());
    let after = KernelMemory::read();
    drop(child.stdin.take());
    let status = child.wait()?;
    if line.trim() != format!("ready {count}") {
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            std::io::Read::read_to_string(&mut e, &mut stderr).ok();
        }
        anyhow::bail!("primitive memory {unit} --count {count} did not get ready ({status}): {}", stderr.trim());
    }
    let sample = sample.context("reading the child's /proc status")?;
    let after = after.context("reading /proc/meminfo")?;
    Ok(MemoryPoint {
        count,
        rss_kib: sample.rss_kib,
        kernel_stack_growth_kib: after.kernel_stack_kib as i64 - before.kernel_stack_kib as i64,
        slab_growth_kib: after.slab_kib as i64 - before.slab_kib as i64,
    })
}
