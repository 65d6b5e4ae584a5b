//! `lab`: matrix, verify, report, compare. The command line only; the work is in the `lab` library.
//!
//! Exit codes: 0 done; 1 a run-time failure (or, with `--check-shape`, the original experiment's shape does not
//! hold; for `verify`, a server failed); 2 bad arguments; 130 interrupted (partial results were written).

use clap::{Args, Parser, Subcommand};
use lab::plan::{self, ClientSpec, MatrixConfig, ProfileName, ServerSpec, Workload, BUILTIN_SERVERS};
use lab::results::Run;
use lab::soak::SoakSettings;
use lab::{compare, export, format, matrix, process::Server, slowloris, verify};
use std::path::PathBuf;
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
    /// Only the correctness checks, for every server: exit 1 if one answers wrongly.
    Verify(VerifyArgs),
    /// Rebuild the markdown, CSV and charts of a run from its JSON.
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
    },
    /// Slow clients: N connections sending a request head a byte a second against each server, while /no/param is
    /// probed; writes results/slowloris-<run-id>.{json,md}.
    Slowloris(SlowlorisArgs),
    /// The performance benchmark: clients vs wrk/oha, servers vs nginx, reach at 10,000 connections, cost per
    /// connection, the lab's own overhead; writes results/bench-<run-id>.{json,md}.
    Bench(Box<lab::bench::BenchArgs>),
    /// Compare two runs cell by cell: both figures, their ratio, and whether the difference is noise.
    Compare {
        a: PathBuf,
        b: PathBuf,
        /// Write the markdown here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Args)]
struct ServerArgs {
    /// The lab's servers to include, comma-separated, or `none` (default: the profile's).
    #[arg(long)]
    servers: Option<String>,
    /// A foreign server: NAME='COMMAND with {port}', run with sh -c on a free port. Repeatable.
    #[arg(long = "server", value_name = "NAME=COMMAND")]
    foreign: Vec<String>,
    /// Use the binaries in DIR instead of building release ones (the run records the profile that built them).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
}

#[derive(Args)]
struct MatrixArgs {
    /// quick (< 60 s, CI), default (≈ 5 min, D = 1 s), full (adds io at 1,000 and 10,000 connections), soak
    /// (one workload for --soak-minutes per server: drift and memory growth).
    #[arg(long, default_value = "default")]
    profile: String,
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
    /// Requests per cell of cpu, baseline, db and mixed (io and blocking send one request per connection).
    #[arg(long)]
    requests: Option<u64>,
    /// D, the wait of /say/hello in ms (3000 gives the original article's numbers).
    #[arg(long)]
    hello_ms: Option<u64>,
    /// The sleep of /block in ms.
    #[arg(long)]
    block_ms: Option<u64>,
    /// n for the cpu workload's n! (≤ 20000).
    #[arg(long)]
    fact_n: Option<u64>,
    /// Measured repetitions per cell; the cell reports the median and the spread.
    #[arg(long)]
    repeat: Option<u32>,
    /// Output directory (default: the workspace's results/).
    #[arg(long)]
    out: Option<PathBuf>,
    /// on or off.
    #[arg(long, value_parser = ["on", "off"])]
    keep_alive: Option<String>,
    /// Per-request timeout of the clients, in seconds.
    #[arg(long)]
    timeout: Option<u64>,
    /// Skip cells the model predicts to take longer than this many seconds, warm-up included (the original
    /// experiment's cells always run). Default: 15 (quick), 12 (default), 60 (full).
    #[arg(long)]
    cell_budget: Option<u64>,
    /// Exit 1 when the original experiment's shape fails (10 blocking ≥ 8 D; 10 async ≤ 2 D).
    #[arg(long)]
    check_shape: bool,
    /// --profile soak: minutes of load per server (default 10).
    #[arg(long)]
    soak_minutes: Option<f64>,
    /// --profile soak: the workload, io, baseline or mixed (default mixed).
    #[arg(long, value_parser = ["io", "baseline", "mixed"])]
    soak_workload: Option<String>,
    /// --profile soak: seconds of one client run, one point of the time series (default 60).
    #[arg(long)]
    soak_chunk_s: Option<u64>,
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
    /// Passed to the lab's servers as --header-timeout-s (default: theirs).
    #[arg(long)]
    header_timeout_s: Option<f64>,
    /// Milliseconds between two probes of /no/param.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(10..=10_000))]
    probe_interval_ms: u64,
    /// Seconds a probe may take before it counts as a timeout.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=600))]
    probe_timeout_s: u64,
    /// Output directory (default: the workspace's results/).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct VerifyArgs {
    #[command(flatten)]
    servers: ServerArgs,
}

/// Bad input: one line on stderr, exit 2.
fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("lab: error: {message}");
    ExitCode::from(2)
}

fn parse_list<T>(value: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(parse).collect()
}

fn server_specs(args: &ServerArgs, defaults: Vec<ServerSpec>) -> Result<Vec<ServerSpec>, String> {
    let mut servers = match args.servers.as_deref() {
        None => defaults,
        Some("none") | Some("") => vec![],
        Some(list) => parse_list(list, |s| {
            if BUILTIN_SERVERS.contains(&s) {
                Ok(ServerSpec::Builtin(s.to_string()))
            } else {
                Err(format!(
                    "unknown server {s:?} (known: {}; add others with --server NAME='COMMAND')",
                    BUILTIN_SERVERS.join(", ")
                ))
            }
        })?,
    };
    for spec in &args.foreign {
        let foreign = ServerSpec::parse_foreign(spec)?;
        if servers.iter().any(|s| s.name() == foreign.name()) {
            return Err(format!("two servers are named {}", foreign.name()));
        }
        servers.push(foreign);
    }
    if servers.is_empty() {
        return Err("no server to run (--servers none and no --server)".to_string());
    }
    Ok(servers)
}

fn matrix_config(args: &MatrixArgs) -> Result<MatrixConfig, String> {
    let profile: ProfileName = args.profile.parse()?;
    let mut config = MatrixConfig::for_profile(profile);
    config.servers = server_specs(&args.servers, config.servers)?;
    if let Some(list) = &args.clients {
        config.clients = parse_list(list, |s| s.parse::<ClientSpec>())?;
        if config.clients.is_empty() {
            return Err("--clients is empty".to_string());
        }
    }
    if let Some(list) = &args.workloads {
        config.workloads = parse_list(list, |s| s.parse::<Workload>())?;
        if config.workloads.is_empty() {
            return Err("--workloads is empty".to_string());
        }
    }
    if let Some(list) = &args.concurrency {
        config.concurrency = plan::parse_number_list(list).map_err(|e| format!("--concurrency: {e}"))?;
        let low: Vec<u64> = config.concurrency.iter().copied().filter(|&c| c <= 10).collect();
        config.blocking_concurrency = if low.is_empty() { vec![config.concurrency[0]] } else { low };
    }
    if let Some(n) = args.requests {
        if n == 0 {
            return Err("--requests must be at least 1".to_string());
        }
        config.requests = Some(n);
    }
    if let Some(ms) = args.hello_ms {
        if ms == 0 {
            return Err("--hello-ms must be at least 1 (D is the unit of the original experiment)".to_string());
        }
        config.settings.hello_ms = ms;
    }
    if let Some(ms) = args.block_ms {
        if ms == 0 {
            return Err("--block-ms must be at least 1".to_string());
        }
        config.settings.block_ms = ms;
    }
    if let Some(n) = args.fact_n {
        if n > verify::FACT_MAX {
            return Err(format!("--fact-n must be at most {}", verify::FACT_MAX));
        }
        config.settings.fact_n = n;
    }
    if let Some(r) = args.repeat {
        if r == 0 {
            return Err("--repeat must be at least 1".to_string());
        }
        config.repeat = r;
    }
    if let Some(k) = &args.keep_alive {
        config.keep_alive = k == "on";
    }
    if let Some(t) = args.timeout {
        if t == 0 {
            return Err("--timeout must be at least 1 s".to_string());
        }
        config.timeout = Some(Duration::from_secs(t));
    }
    if let Some(secs) = args.cell_budget {
        config.cell_budget = Duration::from_secs(secs);
    }
    Ok(config)
}

/// The soak flags, checked against the profile; `--soak-workload` replaces the workloads.
fn soak_settings(args: &MatrixArgs, config: &mut MatrixConfig) -> Result<SoakSettings, String> {
    let mut soak = SoakSettings::default();
    if config.profile != ProfileName::Soak {
        if args.soak_minutes.is_some() || args.soak_workload.is_some() || args.soak_chunk_s.is_some() {
            return Err("--soak-minutes, --soak-workload and --soak-chunk-s need --profile soak".to_string());
        }
        return Ok(soak);
    }
    if let Some(minutes) = args.soak_minutes {
        if !(minutes > 0.0 && minutes <= 1440.0) {
            return Err("--soak-minutes must be more than 0 and at most 1440".to_string());
        }
        soak.minutes = minutes;
    }
    if let Some(secs) = args.soak_chunk_s {
        if secs == 0 {
            return Err("--soak-chunk-s must be at least 1".to_string());
        }
        soak.chunk = Duration::from_secs(secs);
    }
    if let Some(workload) = &args.soak_workload {
        config.workloads = vec![workload.parse()?];
    }
    if config.workloads.len() != 1 || config.clients.len() != 1 || config.concurrency.len() != 1 {
        return Err("the soak runs one workload with one client at one concurrency".to_string());
    }
    if config.clients[0].is_sequential() {
        return Err("the soak needs a concurrent client (pool-client or async-client)".to_string());
    }
    Ok(soak)
}

fn cmd_matrix(args: MatrixArgs) -> ExitCode {
    let mut config = match matrix_config(&args) {
        Ok(config) => config,
        Err(e) => return usage_error(e),
    };
    let soak = match soak_settings(&args, &mut config) {
        Ok(soak) => soak,
        Err(e) => return usage_error(e),
    };
    let out = args.out.clone().unwrap_or_else(|| lab::binaries::workspace_root().join("results"));
    let options = matrix::MatrixOptions {
        config,
        out,
        bin_dir: args.servers.bin_dir.clone(),
        check_shape: args.check_shape,
        soak,
    };
    let outcome = match matrix::run_matrix(options) {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("lab: error: {e}");
            return ExitCode::from(1);
        }
    };
    let run = &outcome.run;
    for file in &outcome.files {
        if file.extension().is_some_and(|e| e != "svg") {
            eprintln!("lab: wrote {}", file.display());
        }
    }
    if let Some(soak) = &run.soak {
        for server in &soak.servers {
            eprintln!("lab: soak: {}", server.verdict);
        }
        if run.interrupted {
            eprintln!("lab: interrupted: partial results written");
        }
        return ExitCode::from(outcome.exit_code as u8);
    }
    let charts = outcome.files.iter().filter(|f| f.extension().is_some_and(|e| e == "svg")).count();
    eprintln!("lab: wrote {charts} chart(s) under {}", run.run_id);
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
    if run.interrupted {
        eprintln!("lab: interrupted: partial results written");
    } else if outcome.exit_code == 1 {
        eprintln!(
            "lab: --check-shape: the original experiment's shape does not hold (10 blocking ≥ 8 D; 10 async ≤ 2 D)"
        );
    }
    ExitCode::from(outcome.exit_code as u8)
}

fn cmd_verify(args: VerifyArgs) -> ExitCode {
    let defaults = BUILTIN_SERVERS.iter().map(|s| ServerSpec::Builtin(s.to_string())).collect();
    let servers = match server_specs(&args.servers, defaults) {
        Ok(servers) => servers,
        Err(e) => return usage_error(e),
    };
    lab::limits::raise_nofile();
    let needs_binaries = servers.iter().any(|s| matches!(s, ServerSpec::Builtin(_)));
    let bin_dir = if needs_binaries {
        match matrix::binaries_dir(args.servers.bin_dir.clone()) {
            Ok(dir) => dir,
            Err(e) => {
                eprintln!("lab: error: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        PathBuf::from(".")
    };
    let scratch = match lab::run::scratch_dir("verify") {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("lab: error: cannot create a scratch directory: {e}");
            return ExitCode::from(1);
        }
    };
    let mut all_passed = true;
    for spec in &servers {
        let db = scratch.join(format!("{}.sqlite", spec.name()));
        let mut server = match Server::start(spec, &bin_dir, &db, Duration::from_secs(15)) {
            Ok(server) => server,
            Err(e) => {
                all_passed = false;
                println!("✘ {}: did not start: {}", spec.name(), e.message);
                if !e.stderr_tail.is_empty() {
                    println!("{}", indent(&e.stderr_tail));
                }
                continue;
            }
        };
        let record = verify::verify(server.addr, matches!(spec, ServerSpec::Foreign { .. }));
        server.stop(Duration::from_secs(2));
        let passed = record.status == "passed";
        all_passed &= passed;
        println!(
            "{} {}: {} ({} of {} checks passed)",
            if passed { "✔" } else { "✘" },
            spec.name(),
            record.status,
            record.passed,
            record.checks.len()
        );
        for check in record.checks.iter().filter(|c| c.outcome != "pass") {
            println!("    {} {}: {}", check.outcome, check.name, check.detail);
        }
    }
    lab::run::remove_scratch(&scratch);
    if all_passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn cmd_slowloris(args: SlowlorisArgs) -> ExitCode {
    let defaults = BUILTIN_SERVERS.iter().map(|s| ServerSpec::Builtin(s.to_string())).collect();
    let servers = match server_specs(&args.servers, defaults) {
        Ok(servers) => servers,
        Err(e) => return usage_error(e),
    };
    if let Some(t) = args.header_timeout_s {
        if !(t > 0.0 && t <= 86_400.0) {
            return usage_error("--header-timeout-s must be more than 0 and at most 86400");
        }
    }
    let options = slowloris::SlowlorisOptions {
        servers,
        bin_dir: args.servers.bin_dir.clone(),
        out: args.out.unwrap_or_else(|| lab::binaries::workspace_root().join("results")),
        connections: args.connections,
        duration: Duration::from_secs(args.duration),
        header_timeout_s: args.header_timeout_s,
        probe_interval: Duration::from_millis(args.probe_interval_ms),
        probe_timeout: Duration::from_secs(args.probe_timeout_s),
    };
    match slowloris::run(&options) {
        Ok((run, files)) => {
            for file in files {
                eprintln!("lab: wrote {}", file.display());
            }
            if run.interrupted {
                eprintln!("lab: interrupted: partial results written");
                return ExitCode::from(130);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lab: error: {e}");
            ExitCode::from(1)
        }
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}

fn cmd_report(path: PathBuf, out: Option<PathBuf>, reanalyse: bool) -> ExitCode {
    let mut run = match Run::load(&path) {
        Ok(run) => run,
        Err(e) => return usage_error(e),
    };
    if reanalyse {
        run.analysis = lab::analysis::analyse(&run);
        run.analysis.narrative = lab::narrative::sentences(&run);
    }
    let dir = out.unwrap_or_else(|| path.parent().map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".")));
    // The JSON is the source: rewrite only what is rebuilt from it.
    let exporters: Vec<Box<dyn export::Exporter>> =
        vec![Box::new(export::MarkdownExporter), Box::new(export::CsvExporter), Box::new(export::SvgExporter)];
    match export::write(&run, &exporters, &dir) {
        Ok(files) => {
            for file in files {
                eprintln!("lab: wrote {}", file.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lab: error: {e}");
            ExitCode::from(1)
        }
    }
}

fn cmd_compare(a: PathBuf, b: PathBuf, out: Option<PathBuf>) -> ExitCode {
    let (run_a, run_b) = match (Run::load(&a), Run::load(&b)) {
        (Ok(x), Ok(y)) => (x, y),
        (Err(e), _) | (_, Err(e)) => return usage_error(e),
    };
    let md = compare::compare(&run_a, &run_b);
    match out {
        Some(path) => match std::fs::write(&path, md) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("lab: error: writing {}: {e}", path.display());
                ExitCode::from(1)
            }
        },
        None => {
            print!("{md}");
            ExitCode::SUCCESS
        }
    }
}

fn main() -> ExitCode {
    // `lab bench` starts this binary again as the two sides of its floor measurement.
    if let Some(code) = lab::bench::floor::run_role_from_env() {
        return code;
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Matrix(args) => cmd_matrix(*args),
        Command::Verify(args) => cmd_verify(args),
        Command::Report { run, out, reanalyse } => cmd_report(run, out, reanalyse),
        Command::Compare { a, b, out } => cmd_compare(a, b, out),
        Command::Slowloris(args) => cmd_slowloris(args),
        Command::Bench(args) => lab::bench::command(*args),
    }
}
