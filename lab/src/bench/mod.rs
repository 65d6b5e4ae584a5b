//! `lab bench`: the performance benchmark, five parts measured side by side in one run.
//!
//! 1. instrument — the lab's clients against wrk (and oha) on the fastest server: is the lab's load generator
//!    good enough not to cap what it measures?
//! 2. servers — each server with one worker thread against one nginx worker, loaded by wrk;
//! 3. reach — io at 1,000 … 10,000 connections and the most the descriptor limit allows, opened at once, on
//!    every server, next to the floor (a bare connect/accept/wait/close loop), and what stopped each cell;
//! 4. cost — RSS and threads per in-flight connection, the slope of a line over several levels;
//! 5. overhead — how much of a quick matrix's wall time the lab itself spends outside measured cells.
//!
//! Concurrency idea: none new — this module sequences the others. Parts 1 and 2 alternate their contenders round
//! after round and compare them inside each round ([`throughput`]), because on a shared machine only ratios
//! measured side by side mean anything; parts 3 and 4 reuse the matrix's runner ([`sweep`]); part 5 runs the
//! matrix itself. Tools the lab does not ship (wrk, oha, nginx) are optional: a part that needs a missing one
//! is reported as not run, with the line that installs it.
//!
//! This file, in order: the plan ([`BenchArgs`] checked into [`BenchOptions`]), the measure ([`run_bench`]: the
//! parts in turn in one [`Session`]), the record ([`BenchRun`], with its targets and notes) and its files
//! ([`report_exporters`]: [`markdown`]).

pub mod floor;
pub mod markdown;
pub mod nginx;
pub mod reach;
pub mod sweep;
pub mod targets;
pub mod throughput;
pub mod tools;

use self::sweep::SweepRun;
use self::throughput::Bench;
use self::tools::Tools;
use crate::export::{Exporter, Page};
use crate::format;
use crate::matrix::{self, MatrixOptions};
use crate::plan::{self, MatrixConfig, BUILTIN_SERVERS};
use crate::records::bench::*;
use crate::records::header::RunKind;
use crate::records::run::ProfileName;
use crate::session::{Session, SessionArgs};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// `lab bench` on the command line.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// The parts to run, comma-separated: instrument, servers, reach, cost, overhead.
    #[arg(long, default_value = "instrument,servers,reach,cost,overhead")]
    parts: String,
    /// Rounds of the throughput parts (every contender once per round); medians and spread over them.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Seconds of one wrk/oha run (the lab's clients send about as many requests as wrk did in that time).
    #[arg(long, default_value_t = 5)]
    duration: u64,
    /// Keep-alive connections of the throughput parts.
    #[arg(long, default_value_t = 64)]
    connections: u64,
    /// The lab's servers to include, comma-separated (default: all of them).
    #[arg(long)]
    servers: Option<String>,
    /// Reach: io concurrency levels; the highest level the descriptor limit allows is added.
    #[arg(long, default_value = "1000,5000,10000")]
    reach_levels: String,
    /// Reach: do not add the highest level the descriptor limit allows.
    #[arg(long)]
    reach_no_fd_max: bool,
    /// Reach: D, the wait of each io request, in ms.
    #[arg(long, default_value_t = 1000)]
    reach_ms: u64,
    /// Reach: rounds; each measures every level's floor and then every server at that level, so each cell is
    /// compared with a floor measured just before it. Figures are the median round's.
    #[arg(long, default_value_t = 3)]
    reach_rounds: u64,
    /// Cost per connection: io concurrency levels (at least two) for the linear fit.
    #[arg(long, default_value = "250,500,1000,2000,4000")]
    levels: String,
    /// Cost per connection: D in ms, long enough that every connection is in flight at once.
    #[arg(long, default_value_t = 2000)]
    cost_ms: u64,
    #[command(flatten)]
    session: SessionArgs,
    /// wrk to use (default: wrk on PATH). A path that does not exist counts as not installed.
    #[arg(long)]
    wrk: Option<PathBuf>,
    /// oha to use (default: oha on PATH).
    #[arg(long)]
    oha: Option<PathBuf>,
    /// nginx to use (default: nginx on PATH, else /usr/sbin/nginx).
    #[arg(long)]
    nginx: Option<PathBuf>,
}

/// Everything `lab bench` was asked, checked.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub parts: Vec<Part>,
    pub rounds: u32,
    pub duration: Duration,
    pub connections: u64,
    pub servers: Vec<String>,
    pub reach_levels: Vec<u64>,
    pub reach_fd_max: bool,
    pub reach_ms: u64,
    pub reach_rounds: u64,
    pub cost_levels: Vec<u64>,
    pub cost_ms: u64,
    pub out: PathBuf,
    pub bin_dir: Option<PathBuf>,
    pub wrk: Option<PathBuf>,
    pub oha: Option<PathBuf>,
    pub nginx: Option<PathBuf>,
}

impl BenchOptions {
    pub fn from_args(args: BenchArgs) -> Result<BenchOptions, crate::UsageError> {
        let list = |s: &str| s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_string).collect();
        let requested: Vec<String> = list(&args.parts);
        let requested: Vec<Part> = requested.iter().map(|p| p.parse()).collect::<Result<_, _>>()?;
        if requested.is_empty() {
            return Err("--parts is empty".to_string().into());
        }
        let servers: Vec<String> = match &args.servers {
            Some(s) => list(s),
            None => BUILTIN_SERVERS.iter().map(|s| s.to_string()).collect(),
        };
        if let Some(unknown) = servers.iter().find(|s| !BUILTIN_SERVERS.contains(&s.as_str())) {
            return Err(format!("unknown server {unknown:?} (known: {})", BUILTIN_SERVERS.join(", ")).into());
        }
        if servers.is_empty() {
            return Err("--servers is empty".to_string().into());
        }
        let positive = |value: u64, flag: &str| {
            if value == 0 {
                Err(format!("{flag} must be at least 1"))
            } else {
                Ok(value)
            }
        };
        let cost_levels = plan::parse_number_list(&args.levels).map_err(|e| format!("--levels: {e}"))?;
        if cost_levels.len() < 2 {
            return Err("--levels needs at least two levels to fit a line".to_string().into());
        }
        Ok(BenchOptions {
            parts: Part::RUN_ORDER.into_iter().filter(|p| requested.contains(p)).collect(),
            rounds: positive(u64::from(args.rounds), "--rounds")? as u32,
            duration: Duration::from_secs(positive(args.duration, "--duration")?),
            connections: positive(args.connections, "--connections")?,
            servers,
            reach_levels: plan::parse_number_list(&args.reach_levels).map_err(|e| format!("--reach-levels: {e}"))?,
            reach_fd_max: !args.reach_no_fd_max,
            reach_ms: positive(args.reach_ms, "--reach-ms")?,
            reach_rounds: positive(args.reach_rounds, "--reach-rounds")?,
            cost_levels,
            cost_ms: positive(args.cost_ms, "--cost-ms")?,
            out: args.session.out_dir(),
            bin_dir: args.session.bin_dir,
            wrk: args.wrk,
            oha: args.oha,
            nginx: args.nginx,
        })
    }

    /// A rough duration of the whole bench, for the first line it prints.
    pub fn estimate(&self) -> Duration {
        let has = |p: Part| self.parts.contains(&p);
        let servers = self.servers.len() as f64;
        let run_s = self.duration.as_secs_f64() + 0.5;
        let rounds = f64::from(self.rounds);
        let mut secs = 0.0;
        if has(Part::Servers) {
            secs += (servers + 1.0) * rounds * run_s;
        }
        if has(Part::Instrument) {
            // wrk, oha and three clients, the slower clients taking up to twice the reference's time.
            secs += rounds * run_s * 7.0;
        }
        if has(Part::Reach) {
            // Each round, each level: the floor and every server, a fresh server per cell; one level more for the
            // fd maximum.
            secs += self.reach_rounds as f64
                * (servers + 1.0)
                * (self.reach_levels.len() + 1) as f64
                * (2.0 * self.reach_ms as f64 / 1000.0 + 2.0);
        }
        if has(Part::Cost) {
            secs += servers * self.cost_levels.len() as f64 * (self.cost_ms as f64 / 1000.0 + 0.7);
        }
        if has(Part::Overhead) {
            secs += 50.0;
        }
        Duration::from_secs_f64(secs)
    }
}

/// What `lab bench` produced.
pub struct BenchOutcome {
    pub run: BenchRun,
    pub files: Vec<PathBuf>,
}

/// `lab bench`: exit 0 when it ran (targets met or not: the report says), 130 when interrupted (what was measured
/// is written); bad arguments are a [`UsageError`](crate::UsageError), a run-time failure any other error.
pub fn command(args: BenchArgs) -> anyhow::Result<u8> {
    let options = BenchOptions::from_args(args)?;
    let outcome = run_bench(options)?;
    let code = crate::session::say_written(&outcome.files, outcome.run.interrupted);
    for target in &outcome.run.targets {
        eprintln!("lab: {}", markdown::target_line(target));
    }
    Ok(code)
}

/// `/proc/loadavg` now.
fn load_sample(at: &str) -> LoadSample {
    let [load1, load5, load15] = harness::proc::load_average().unwrap_or_default();
    LoadSample { at: at.to_string(), load1, load5, load15 }
}

/// The part's record in the run, to set its status.
fn part_mut(run: &mut BenchRun, part: Part) -> &mut dyn PartOutcome {
    match part {
        Part::Instrument => &mut run.instrument,
        Part::Servers => &mut run.servers,
        Part::Reach => &mut run.reach,
        Part::Cost => &mut run.cost,
        Part::Overhead => &mut run.overhead,
    }
}

pub fn run_bench(options: BenchOptions) -> anyhow::Result<BenchOutcome> {
    let session = Session::start(RunKind::Bench, &options.out, options.bin_dir.clone())?;
    let (run_id, bin_dir, limits, interrupted) =
        (session.run_id.clone(), session.bin_dir.clone(), session.limits.clone(), session.interrupted.clone());
    let tools = Tools::find(options.wrk.as_deref(), options.oha.as_deref(), options.nginx.as_deref());
    let names: Vec<&str> = options.parts.iter().map(|p| p.as_str()).collect();
    eprintln!(
        "lab: bench {run_id}: {} (about {}; the machine's load average now: {:.2})",
        names.join(", "),
        humantime::format_duration(Duration::from_secs(options.estimate().as_secs())),
        load_sample("start").load1
    );
    for tool in [&tools.wrk, &tools.oha, &tools.nginx] {
        match &tool.path {
            Some(path) => {
                eprintln!("lab: {} is {} ({})", tool.name, path.display(), tool.version.as_deref().unwrap_or("?"))
            }
            None => eprintln!("lab: {}: the parts that need it say so", tool.missing()),
        }
    }

    let mut bench = BenchRun {
        header: session.provisional_header(BENCH_SCHEMA_VERSION, vec![]),
        settings: BenchSettings {
            parts: options.parts.clone(),
            rounds: options.rounds,
            duration_s: options.duration.as_secs(),
            connections: options.connections,
            path: throughput::PATH.to_string(),
            servers: options.servers.clone(),
            reach_levels: options.reach_levels.clone(),
            reach_hello_ms: options.reach_ms,
            reach_rounds: options.reach_rounds,
            cost_levels: options.cost_levels.clone(),
            cost_hello_ms: options.cost_ms,
        },
        tools: tools.records(),
        ..BenchRun::default()
    };
    for part in Part::RUN_ORDER.into_iter().filter(|p| !options.parts.contains(p)) {
        part_mut(&mut bench, part).set(PartStatus::NotRequested, "not in --parts");
    }
    bench.load.push(load_sample("start"));
    let throughput = Bench {
        bin_dir: &bin_dir,
        scratch: session.scratch.path(),
        interrupted: &interrupted,
        duration: options.duration,
        connections: options.connections,
        rounds: options.rounds,
    };
    // The reach and cost parts' sweeps: these, at their own levels and D.
    let sweep = SweepRun {
        servers: &options.servers,
        levels: &[],
        hello_ms: 0,
        bin_dir: &bin_dir,
        scratch: session.scratch.path(),
        limits: &limits,
        interrupted: interrupted.clone(),
    };
    for (i, &part) in options.parts.iter().enumerate() {
        if interrupted.load(Ordering::Relaxed) {
            part_mut(&mut bench, part).set(PartStatus::NotRun, "the bench was interrupted before this part");
            continue;
        }
        eprintln!("lab: bench part {}/{}: {}", i + 1, options.parts.len(), part);
        bench.load.push(load_sample(part.as_str()));
        match part {
            Part::Servers => bench.servers = throughput::servers(&throughput, &tools, &options.servers),
            Part::Instrument => {
                let (server, why) = instrument_server(&bench.servers, &options.servers);
                eprintln!("lab: instrument: loading {server}: {why}");
                bench.instrument = throughput::instrument(&throughput, &tools, &server, why);
            }
            Part::Reach => {
                let levels = if options.reach_fd_max {
                    reach::levels_with_fd_max(&options.reach_levels, &limits)
                } else {
                    options.reach_levels.clone()
                };
                let plan = SweepRun { levels: &levels, hello_ms: options.reach_ms, ..sweep.clone() };
                bench.reach = reach::run(plan, options.reach_rounds)
            }
            Part::Cost => {
                bench.cost =
                    sweep::run(SweepRun { levels: &options.cost_levels, hello_ms: options.cost_ms, ..sweep.clone() })
            }
            Part::Overhead => bench.overhead = overhead(&bin_dir),
        }
    }
    bench.load.push(load_sample("end"));
    bench.targets = targets::targets(&bench);
    let notes = notes(&session, &bench);
    bench.header = session.header(BENCH_SCHEMA_VERSION, notes);
    let files = crate::export::save_with_json(&bench, report_exporters(), &session.out)?;
    Ok(BenchOutcome { run: bench, files })
}

/// What `lab report` rebuilds from a bench JSON: the markdown and the reach chart.
pub fn report_exporters() -> Vec<Box<dyn Exporter<BenchRun>>> {
    vec![Box::new(Page("md", markdown::render)), Box::new(markdown::ReachChart)]
}

/// The server part 1 loads: the fastest of ours in part 2, else smol-server (else the first one).
fn instrument_server(servers_part: &ThroughputPart, names: &[String]) -> (String, String) {
    if let Some(best) = throughput::fastest(&servers_part.contenders, names) {
        let rps = servers_part.contenders.iter().find(|c| c.name == best).and_then(|c| c.median_rps).unwrap_or(0.0);
        return (best, format!("the fastest of the lab's servers with one worker in part 2 ({})", format::rate(rps)));
    }
    let why = match servers_part.status {
        PartStatus::Ok => "part 2 measured none of the lab's servers".to_string(),
        _ => format!("part 2 did not run ({})", servers_part.reason.clone().unwrap_or_default()),
    };
    let default = "smol-server".to_string();
    let server = if names.contains(&default) { default } else { names[0].clone() };
    (server.clone(), format!("{why}: {server} by default"))
}

/// Part 5: a quick-profile matrix, written to a scratch directory, for its `overhead` figure.
fn overhead(bin_dir: &Path) -> OverheadPart {
    let command = format!("lab matrix --profile quick --bin-dir {} --out TMPDIR", bin_dir.display());
    let out = match harness::temp_dir("lab-bench-overhead-") {
        Ok(dir) => dir,
        Err(e) => {
            let reason = Some(format!("cannot create a scratch directory: {e}"));
            return OverheadPart { status: PartStatus::Failed, reason, command, ..OverheadPart::default() };
        }
    };
    let options = MatrixOptions {
        config: MatrixConfig::for_profile(ProfileName::Quick),
        out: out.path().to_path_buf(),
        bin_dir: Some(bin_dir.to_path_buf()),
        check_shape: false,
        companions: vec![],
    };
    let result = matrix::run_matrix(options);
    drop(out);
    match result {
        Ok(outcome) => {
            let run = outcome.run;
            let cells = run.cells.len() as u64;
            let (status, reason) = if run.interrupted {
                (PartStatus::Failed, Some("the matrix was interrupted".to_string()))
            } else {
                (PartStatus::Ok, None)
            };
            OverheadPart {
                status,
                reason,
                command,
                matrix_run_id: Some(run.run_id.clone()),
                cells,
                overhead: Some(run.overhead),
                servers_verified: run.servers.len() as u64,
                outside_per_cell_s: (cells > 0).then(|| run.overhead.outside_s / cells as f64),
            }
        }
        Err(e) => OverheadPart {
            status: PartStatus::Failed,
            reason: Some(format!("{e:#}")),
            command,
            ..OverheadPart::default()
        },
    }
}

fn notes(session: &Session, run: &BenchRun) -> Vec<String> {
    let mut notes = session.notes();
    let took = session.elapsed();
    let peak = run.load.iter().map(|l| l.load1).fold(0.0, f64::max);
    notes.push(format!(
        "The bench took {} on {} CPUs; the 1-minute load average ranged up to {peak:.2} while it ran (see the load \
         table): absolute figures drift with the machine's load, ratios measured in the same round much less.",
        format::seconds(took.as_secs_f64()),
        run.environment.cpu_count
    ));
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_run_servers_first() {
        let args = |parts: &str| BenchArgs {
            parts: parts.to_string(),
            rounds: 3,
            duration: 5,
            connections: 64,
            servers: None,
            reach_levels: "1000,5000,10000".into(),
            reach_no_fd_max: false,
            reach_ms: 1000,
            reach_rounds: 3,
            levels: "250,500".into(),
            cost_ms: 2000,
            session: SessionArgs::default(),
            wrk: None,
            oha: None,
            nginx: None,
        };
        let options = BenchOptions::from_args(args("instrument,servers")).unwrap();
        assert_eq!(options.parts, vec![Part::Servers, Part::Instrument]);
        assert!(BenchOptions::from_args(args("instrument,speed")).unwrap_err().0.contains("unknown part"));
        assert!(BenchOptions::from_args(BenchArgs { levels: "100".into(), ..args("cost") }).is_err());
        assert!(BenchOptions::from_args(BenchArgs { servers: Some("nginx".into()), ..args("cost") }).is_err());
    }
}
