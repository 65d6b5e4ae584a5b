//! `lab`: matrix, soak, slowloris, bench, verify, report, compare. The command line only: each command turns its
//! flags into the options of a library function, runs it, and says what it wrote; the work is in the `lab`
//! library. Adding a command: a `Command` variant, its `Args`, and a `cmd_*` function here; the plan and the
//! exporter live in the library (see docs/architecture.md).
//!
//! Exit codes, decided in one place ([`main`]): 0 done; 1 a run-time failure (or, with `--check-shape`, the
//! original experiment's shape does not hold; for `verify`, a server failed); 2 bad arguments or input, with a
//! one-line message; 130 interrupted (partial results were written).

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use lab::export::{json::JsonDocument, Exporter};
use lab::matrix;
use lab::plan::{self, MatrixConfig, ServerArgs};
use lab::records::header::RunKind;
use lab::records::run::{Client, ProfileName, Run, Workload};
use lab::session::SessionArgs;
use lab::soak::{self, SoakSettings};
use lab::{compare, export, format, slowloris, verify, UsageError};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "lab",
    version,
    about = "Thread pool or async? Measures every server × client × workload side by side."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build release binaries, verify every server, measure every cell, write results/<run-id>.{json,md,csv} and charts.
    Matrix(Box<MatrixArgs>),
    /// One workload for minutes per server, one long-lived process each: latency drift and memory growth; writes
    /// results/<run-id>.{json,md,csv}: each server's series and its verdict.
    Soak(SoakArgs),
    /// Only the correctness checks, for every server: exit 1 if one answers wrongly.
    Verify(VerifyArgs),
    /// Rebuild the markdown, CSV and charts of a run (matrix, soak, bench, slowloris, capacity, primitives) from its
    /// JSON.
    Report {
        /// The run's JSON (results/<run-id>.json).
        run: PathBuf,
        /// Where to write (default: next to the JSON).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Recompute the analysis and the sentences from the cells with this version of the lab (the JSON's own
        /// analysis is used otherwise); the JSON itself is not rewritten.
        #[arg(long)]
        reanalyse: bool,
        /// A companion run for the headline: a capacity-*.json (capacity columns), a bench-*.json (reach
        /// column) or a primitives-*.json (the chain primitive → model → server). Its figures are embedded in the run's JSON, which is then rewritten. Repeatable.
        #[arg(long = "with", value_name = "FILE")]
        with: Vec<PathBuf>,
        /// Also rewrite this README's figures block for the run (`<!-- figures: PATH -->` … `<!-- /figures -->`,
        /// PATH the run's JSON relative to the README; a matrix or bench run): the README's figures are generated.
        #[arg(long, value_name = "README")]
        readme: Option<PathBuf>,
    },
    /// Slow clients: N connections sending a request head a byte a second against each server, while /no/param is
    /// probed; writes results/slowloris-<run-id>.{json,md}.
    Slowloris(SlowlorisArgs),
    /// The performance benchmark: clients vs wrk/oha, servers vs nginx, reach at 10,000 connections, cost per
    /// connection, the lab's own overhead; writes results/bench-<run-id>.{json,md}.
    Bench(Box<lab::bench::BenchArgs>),
    /// Capacity: the highest open-loop request rate each server holds per workload with p99 under a target; writes
    /// results/capacity-<run-id>.{json,md,svg}.
    Capacity(Box<lab::capacity::CapacityArgs>),
    /// The costs behind the models: create, switch and idle memory of a thread, a task and a coroutine, each
    /// beside its published figure; writes results/primitives-<run-id>.{json,md,html}.
    Primitives(lab::primitives::PrimitivesArgs),
    /// Merge client reports (`--json` of clients run at the same time, e.g. on several machines) into one,
    /// with exact percentiles: prints the merged report as JSON (docs/distributed.md).
    Merge {
        /// The client reports (JSON files), two or more.
        #[arg(required = true, num_args = 1..)]
        reports: Vec<PathBuf>,
        /// Write the merged report here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Compare two runs: what changed (machine, kernel, toolchain, code), then cell by cell both figures, their
    /// ratio, and whether the difference is noise (across machines: beyond the machine's shift).
    Compare {
        a: PathBuf,
        b: PathBuf,
        /// Within each run, divide every server by this one (default: the run's fastest at each point).
        #[arg(long)]
        control: Option<String>,
        /// Write the markdown here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// `--keep-alive on|off`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum KeepAlive {
    On,
    Off,
}

#[derive(Args)]
struct MatrixArgs {
    /// quick (≈ 1 min on 2 cores: every server, D = 0.2 s, 1 repetition; CI), default (≈ 28 min on 2 cores,
    /// D = 1 s, 4 repetitions per cell in rounds over the whole run),
    /// full (adds pool-client's sweep and io at 1,000 and 10,000 connections).
    #[arg(long, value_enum, default_value_t = ProfileName::Default)]
    profile: ProfileName,
    #[command(flatten)]
    servers: ServerArgs,
    /// Clients, comma-separated: blocking-client, pool-client, async-client[:surf|:lean].
    #[arg(long)]
    clients: Option<String>,
    /// Workloads, comma-separated: io, cpu, baseline, db, blocking, mixed.
    #[arg(long)]
    workloads: Option<String>,
    /// Concurrency sweep, e.g. 1,10,100,1000 (blocking uses the levels up to 10).
    #[arg(long)]
    concurrency: Option<String>,
    /// Requests per cell of cpu, baseline, db and mixed, instead of a duration (io and blocking send one request
    /// per connection).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..), conflicts_with = "duration")]
    requests: Option<u64>,
    /// Seconds each repetition of a cpu, baseline, db or mixed cell runs after its warm-up (decimal allowed;
    /// default 2, quick profile 0.3). io and blocking keep their request counts.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    duration: Option<std::time::Duration>,
    #[command(flatten)]
    load: LoadArgs,
    /// n for the cpu workload's n! (≤ 20000).
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=verify::FACT_MAX))]
    fact_n: Option<u64>,
    /// Measured repetitions per cell, in rounds over the whole run that interleave the servers; the cell reports
    /// the median and the range (default: 4, quick 1).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    repeat: Option<u32>,
    /// Where the server and the client run: `server=0,client=1` (lists as `0-1` or `0+2`), or `shared`. Default:
    /// with 2 or more CPUs, the server on the first half and the client on the rest.
    #[arg(long)]
    cpus: Option<String>,
    /// Executor (or event-loop) threads for every server that takes --threads. Default: one per CPU the server
    /// runs on (see --cpus). pool-server keeps its pool of 16; thread-server has one thread per request.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: Option<u64>,
    #[command(flatten)]
    session: SessionArgs,
    /// Skip cells the model predicts to take longer than this many seconds, warm-up included (the original
    /// experiment's cells always run). Default: 15 (quick), 12 (default), 60 (full).
    #[arg(long)]
    cell_budget: Option<u64>,
    /// Exit 1 when the original experiment's shape fails: 1 request, 10 blocking and 10 at once each within 10 % of
    /// the model's prediction (D, 10 D, and D or a pool's rounds of D; docs/model.md).
    #[arg(long)]
    check_shape: bool,
    /// A companion run for the headline: a capacity-*.json (capacity columns), a bench-*.json (reach column) or
    /// a primitives-*.json (the chain primitive → model → server); its figures are embedded in the run's JSON with the file's name and commit. Repeatable.
    #[arg(long = "with", value_name = "FILE")]
    with: Vec<PathBuf>,
}

/// What the requests wait and how the clients connect: shared by matrix and soak.
#[derive(Args)]
struct LoadArgs {
    /// D, the wait of /say/hello in ms (3000 gives the original article's numbers).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    hello_ms: Option<u64>,
    /// The sleep of /block in ms.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    block_ms: Option<u64>,
    /// Keep-alive connections (default on).
    #[arg(long, value_enum)]
    keep_alive: Option<KeepAlive>,
    /// Per-request timeout of the clients, in seconds.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    timeout: Option<u64>,
}

/// The workloads a soak can run: the ones a long-lived server sees all day.
#[derive(Clone, Copy, ValueEnum)]
enum SoakWorkload {
    Io,
    Baseline,
    Mixed,
}

#[derive(Args)]
struct SoakArgs {
    #[command(flatten)]
    servers: ServerArgs,
    /// Minutes of load per server (more than 0, at most 1440).
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// The workload.
    #[arg(long, value_enum, default_value_t = SoakWorkload::Mixed)]
    workload: SoakWorkload,
    /// Seconds of one client run: one point of the time series.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    chunk_s: u64,
    /// The concurrent client: pool-client or async-client[:surf|:lean] (default async-client).
    #[arg(long)]
    client: Option<String>,
    /// Connections in flight (default 32).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    concurrency: Option<u64>,
    #[command(flatten)]
    load: LoadArgs,
    #[command(flatten)]
    session: SessionArgs,
}

#[derive(Args)]
struct SlowlorisArgs {
    #[command(flatten)]
    servers: ServerArgs,
    /// Slow connections per server (each one socket in the lab and one in the server).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    connections: u64,
    /// Seconds of attack per server, opening included (longer than the servers' 10 s default header timeout).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=3600))]
    duration: u64,
    /// Passed to the lab's servers as --header-timeout-s (default: theirs; more than 0, at most 86400).
    #[arg(long)]
    header_timeout_s: Option<f64>,
    /// Milliseconds between two probes of /no/param.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(10..=10_000))]
    probe_interval_ms: u64,
    /// Seconds a probe may take before it counts as a timeout.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=600))]
    probe_timeout_s: u64,
    #[command(flatten)]
    session: SessionArgs,
}

#[derive(Args)]
struct VerifyArgs {
    #[command(flatten)]
    servers: ServerArgs,
    /// Use the binaries in DIR instead of building release ones.
    #[arg(long)]
    bin_dir: Option<PathBuf>,
}

/// `--duration`: more than 0 and at most an hour of seconds.
fn parse_seconds(text: &str) -> std::result::Result<std::time::Duration, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 && s <= 3600.0 => Ok(std::time::Duration::from_secs_f64(s)),
        Ok(_) => Err("must be more than 0 and at most 3600 seconds".into()),
        Err(_) => Err("not a number of seconds".into()),
    }
}

/// Bad input, as an error that exits 2.
fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError(message.into()).into()
}

fn parse_list<T>(value: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| parse(s).map_err(usage)).collect()
}

/// `--target` where the command needs the server's own process (its memory over time, its open sockets).
fn no_targets(args: &ServerArgs, command: &str) -> Result<()> {
    match args.targets.first() {
        Some(target) => Err(usage(format!(
            "--target {target}: lab {command} samples the server's process, which a remote target does not give; \
             use lab matrix or lab verify"
        ))),
        None => Ok(()),
    }
}

impl LoadArgs {
    /// The flags given, over the command's defaults.
    fn apply(&self, settings: &mut plan::WorkloadSettings, keep_alive: &mut bool, timeout: &mut Option<Duration>) {
        settings.hello_ms = self.hello_ms.unwrap_or(settings.hello_ms);
        settings.block_ms = self.block_ms.unwrap_or(settings.block_ms);
        *keep_alive = self.keep_alive.map_or(*keep_alive, |k| k == KeepAlive::On);
        *timeout = self.timeout.map(Duration::from_secs).or(*timeout);
    }
}

fn matrix_config(args: &MatrixArgs) -> Result<MatrixConfig> {
    let mut config = MatrixConfig::for_profile(args.profile);
    if matches!(args.profile, ProfileName::Default | ProfileName::Original | ProfileName::Quick) {
        // The article's own server joins the Rust servers when tornado is installed (CI installs it).
        match plan::tornado_spec(&lab::binaries::workspace_root()) {
            Some(tornado) if !args.servers.foreign.iter().any(|f| f.starts_with("tornado=")) => {
                config.servers.push(tornado)
            }
            Some(_) => {}
            None => eprintln!("lab: {}", plan::TORNADO_MISSING),
        }
    }
    config.servers = args.servers.specs(config.servers)?;
    config.strict = args.servers.strict;
    if let Some(list) = &args.clients {
        config.clients = parse_list(list, |s| s.parse::<Client>())?;
        if config.clients.is_empty() {
            return Err(usage("--clients is empty"));
        }
    }
    if let Some(list) = &args.workloads {
        config.workloads = parse_list(list, |s| s.parse::<Workload>())?;
        if config.workloads.is_empty() {
            return Err(usage("--workloads is empty"));
        }
    }
    if let Some(list) = &args.concurrency {
        config.concurrency = plan::parse_number_list(list).map_err(|e| usage(format!("--concurrency: {e}")))?;
        let low: Vec<u64> = config.concurrency.iter().copied().filter(|&c| c <= 10).collect();
        config.blocking_concurrency = if low.is_empty() { vec![config.concurrency[0]] } else { low };
    }
    if let Some(n) = args.requests {
        config.requests = Some(n);
        config.duration = None;
    }
    if let Some(duration) = args.duration {
        config.duration = Some(duration);
    }
    args.load.apply(&mut config.settings, &mut config.keep_alive, &mut config.timeout);
    if let Some(n) = args.fact_n {
        config.settings.fact_n = n;
    }
    if let Some(r) = args.repeat {
        config.repeat = r;
    }
    if let Some(secs) = args.cell_budget {
        config.cell_budget = Duration::from_secs(secs);
    }
    config.server_threads = args.threads;
    let allowed = harness::process::allowed_cpus();
    config.cpus = match &args.cpus {
        None => lab::records::header::CpuPlacement::split_of(&allowed),
        Some(spec) => lab::records::header::CpuPlacement::parse(spec, &allowed)?,
    };
    Ok(config)
}

fn cmd_matrix(args: MatrixArgs) -> Result<u8> {
    let config = matrix_config(&args)?;
    let root = lab::binaries::workspace_root();
    let companions = load_companions(&args.with, lab::env::code_trees(&root).as_ref(), lab::env::git_state(&root).1)?;
    let options = matrix::MatrixOptions {
        config,
        out: args.session.out_dir(),
        bin_dir: args.session.bin_dir.clone(),
        check_shape: args.check_shape,
        companions,
    };
    let outcome = matrix::run_matrix(options)?;
    let run = &outcome.run;
    // The charts are counted, not listed.
    let (charts, listed): (Vec<PathBuf>, Vec<PathBuf>) =
        outcome.files.iter().cloned().partition(|f| f.extension().is_some_and(|e| e == "svg"));
    lab::session::say_written(&listed, run.interrupted);
    eprintln!("lab: wrote {} chart(s) under {}", charts.len(), run.run_id);
    let ok = run.cells.iter().filter(|c| c.is_ok()).count();
    eprintln!(
        "lab: {ok} of {} cells measured; lab overhead {} of {}",
        run.cells.len(),
        format::percent(run.overhead.fraction),
        format::seconds(run.overhead.total_s)
    );
    let shape = &run.analysis.shape;
    let verdict = match (shape.evaluated, shape.holds) {
        (false, _) => "not evaluated (no cell of it was measured)",
        (true, true) => "holds",
        (true, false) => "does NOT hold",
    };
    eprintln!("lab: original experiment shape: {verdict}");
    if !shape.holds || args.check_shape {
        for line in &shape.details {
            eprintln!("  {line}");
        }
    }
    if outcome.exit_code == 1 {
        eprintln!(
            "lab: --check-shape: the original experiment's shape does not hold (1 request ≈ D, 10 blocking ≈ 10 D, 10 at \
             once ≈ the model's prediction, each within 10 %)"
        );
    }
    Ok(outcome.exit_code as u8)
}

fn cmd_soak(args: SoakArgs) -> Result<u8> {
    if !(args.minutes > 0.0 && args.minutes <= 1440.0) {
        return Err(usage("--minutes must be more than 0 and at most 1440"));
    }
    no_targets(&args.servers, "soak")?;
    let mut options = soak::SoakOptions::new(args.session.out_dir());
    options.servers = args.servers.specs(options.servers)?;
    options.strict = args.servers.strict;
    options.bin_dir = args.session.bin_dir.clone();
    options.workload = match args.workload {
        SoakWorkload::Io => Workload::Io,
        SoakWorkload::Baseline => Workload::Baseline,
        SoakWorkload::Mixed => Workload::Mixed,
    };
    if let Some(client) = &args.client {
        options.client = client.parse().map_err(usage)?;
        if options.client.is_sequential() {
            return Err(usage("the soak needs a concurrent client (pool-client or async-client)"));
        }
    }
    options.concurrency = args.concurrency.unwrap_or(options.concurrency);
    args.load.apply(&mut options.load, &mut options.keep_alive, &mut options.timeout);
    options.settings = SoakSettings { minutes: args.minutes, chunk: Duration::from_secs(args.chunk_s) };
    let (run, files) = soak::run(&options)?;
    let code = lab::session::say_written(&files, run.interrupted);
    for server in &run.soak.servers {
        eprintln!("lab: soak: {}", server.verdict);
    }
    Ok(code)
}

fn cmd_verify(args: VerifyArgs) -> Result<u8> {
    let servers = args.servers.specs(plan::builtin_specs())?;
    let all_passed = verify::verify_servers(&servers, args.bin_dir, args.servers.strict)?;
    Ok(if all_passed { 0 } else { 1 })
}

fn cmd_slowloris(args: SlowlorisArgs) -> Result<u8> {
    no_targets(&args.servers, "slowloris")?;
    let servers = args.servers.specs(plan::builtin_specs())?;
    if let Some(t) = args.header_timeout_s {
        if !(t > 0.0 && t <= 86_400.0) {
            return Err(usage("--header-timeout-s must be more than 0 and at most 86400"));
        }
    }
    let options = slowloris::SlowlorisOptions {
        servers,
        bin_dir: args.session.bin_dir.clone(),
        out: args.session.out_dir(),
        connections: args.connections,
        duration: Duration::from_secs(args.duration),
        header_timeout_s: args.header_timeout_s,
        probe_interval: Duration::from_millis(args.probe_interval_ms),
        probe_timeout: Duration::from_secs(args.probe_timeout_s),
    };
    let (run, files) = slowloris::run(&options)?;
    Ok(lab::session::say_written(&files, run.interrupted))
}

/// Reads every `--with` file (one-line error and exit 2 for a file that is not a capacity or bench run).
/// The companion runs named by `--with`, each refused unless it measured the same code as the run it joins
/// (`trees`, `dirty`: that run's).
fn load_companions(
    paths: &[PathBuf],
    trees: Option<&lab::records::header::CodeTrees>,
    dirty: bool,
) -> Result<Vec<lab::records::run::Companion>> {
    let mut companions = Vec::new();
    for path in paths {
        let companion = lab::export::json::load_companion(path)?;
        lab::companion::same_code(&companion, trees, dirty)
            .map_err(|reason| UsageError(format!("--with {}: {reason}", path.display())))?;
        companions.push(companion);
    }
    Ok(companions)
}

/// Rewrites `readme`'s figures block for the run at `run` (a matrix or bench run; its path relative to the
/// README's folder names the block).
fn write_readme(run: &Path, readme: &Path) -> Result<()> {
    let text = std::fs::read_to_string(readme).with_context(|| format!("reading {}", readme.display()))?;
    let folder = readme.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let absolute = |p: &Path| std::fs::canonicalize(p).with_context(|| format!("{} not found", p.display()));
    let relative = absolute(run)?
        .strip_prefix(absolute(folder)?)
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|_| UsageError(format!("--readme: {} is not under {}", run.display(), folder.display())))?;
    let body = export::readme::render(folder, &relative)?;
    std::fs::write(readme, export::readme::update(&text, &relative, &body))
        .with_context(|| format!("writing {}", readme.display()))?;
    eprintln!("lab: wrote {}'s figures from {relative}", readme.display());
    Ok(())
}

/// The document of type `D` at `path` rebuilt by `exporters` into `dir` (a file that is not one: exit 2).
fn rebuild<D: JsonDocument>(path: &Path, exporters: Vec<Box<dyn Exporter<D>>>, dir: &Path) -> Result<Vec<PathBuf>> {
    let doc = D::load(path)?;
    export::write(&doc, &exporters, dir).context("writing the report")
}

fn cmd_report(path: PathBuf, out: Option<PathBuf>, reanalyse: bool, with: Vec<PathBuf>) -> Result<u8> {
    let dir = out.unwrap_or_else(|| path.parent().map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".")));
    // The JSON is the source: rewrite only what is rebuilt from it, by the exporters of the command that wrote it.
    let kind = export::json::kind_of(&path)?;
    if !with.is_empty() && kind != RunKind::Matrix {
        return Err(
            lab::UsageError(format!("--with applies to a matrix run; {} is a {kind} run", path.display())).into()
        );
    }
    let files = match kind {
        RunKind::Bench => rebuild(&path, lab::bench::report_exporters(), &dir),
        RunKind::Slowloris => rebuild(&path, slowloris::report_exporters(), &dir),
        RunKind::Primitives => rebuild(&path, lab::primitives::report_exporters(), &dir),
        RunKind::Capacity => rebuild(&path, lab::capacity::report_exporters(), &dir),
        RunKind::Soak => rebuild(&path, soak::report_exporters(), &dir),
        RunKind::Matrix => {
            let mut run = Run::load(&path)?;
            let e = &run.environment;
            let companions = load_companions(&with, e.trees.as_ref(), e.git_dirty)?;
            // A new companion replaces the run's one of the same kind.
            run.companions.retain(|old| !companions.iter().any(|new| new.kind == old.kind));
            if !companions.is_empty() {
                run.companions.extend(companions);
                run.schema_version = run.schema_version.max(lab::records::run::SCHEMA_VERSION);
            }
            let findings = reanalyse.then(|| {
                run.analysis = lab::analysis::analyse(&run);
                let findings = lab::findings::Findings::of(&run);
                run.analysis.narrative = export::prose::narrative::sentences(&run, &findings);
                findings
            });
            // The JSON itself is rewritten when companions were added, so that the next `lab report` rebuilds the
            // same headline without their files.
            let mut exporters = export::report_exporters(findings);
            if !with.is_empty() {
                exporters.push(Box::new(export::JsonExporter));
            }
            export::write(&run, &exporters, &dir).context("writing the report")
        }
    };
    for file in files? {
        eprintln!("lab: wrote {}", file.display());
    }
    Ok(0)
}

fn cmd_compare(a: PathBuf, b: PathBuf, control: Option<String>, out: Option<PathBuf>) -> Result<u8> {
    let run_a = Run::load(&a)?;
    let run_b = Run::load(&b)?;
    if let Some(name) = &control {
        for (path, run) in [(&a, &run_a), (&b, &run_b)] {
            if !run.cells.iter().any(|c| c.server == *name) {
                let servers = run.server_names().join(", ");
                return Err(UsageError(format!(
                    "--control {name}: no cell of {name} in {} ({servers})",
                    path.display()
                ))
                .into());
            }
        }
    }
    let md = compare::compare_with(&run_a, &run_b, &compare::Options { control });
    match out {
        Some(path) => std::fs::write(&path, md).with_context(|| format!("writing {}", path.display()))?,
        None => print!("{md}"),
    }
    Ok(0)
}

/// A command-line error from clap, in one line: what was wrong, and what would have been right.
fn one_line(error: &clap::Error) -> String {
    let text = error.render().to_string();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(|l| l.strip_prefix("error: ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The one place that turns an outcome into an exit code: 2 for bad usage or input (one line), 1 for a run-time
/// failure (with its chain of causes), else what the command returned.
fn main() -> ExitCode {
    // `lab bench` starts this binary again as the two sides of its floor measurement.
    if let Some(code) = lab::bench::floor::run_role_from_env() {
        return code;
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help, --version: not errors.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("lab: error: {}", one_line(&e));
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Matrix(args) => cmd_matrix(*args),
        Command::Soak(args) => cmd_soak(args),
        Command::Verify(args) => cmd_verify(args),
        Command::Merge { reports, out } => lab::merge::command(&reports, out.as_deref()),
        Command::Report { run, out, reanalyse, with, readme } => cmd_report(run.clone(), out, reanalyse, with)
            .and_then(|code| match readme {
                Some(readme) => write_readme(&run, &readme).map(|()| code),
                None => Ok(code),
            }),
        Command::Compare { a, b, control, out } => cmd_compare(a, b, control, out),
        Command::Slowloris(args) => cmd_slowloris(args),
        Command::Bench(args) => lab::bench::command(*args),
        Command::Capacity(args) => lab::capacity::command(*args),
        Command::Primitives(args) => lab::primitives::command(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) if e.is::<UsageError>() => {
            eprintln!("lab: error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("lab: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
