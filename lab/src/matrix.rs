//! `lab matrix` from start to finish: limits, binaries, the run id, the cells, the analysis, the files.
//!
//! Ctrl-C (SIGINT) and SIGTERM only set a flag: the runner notices it between polls, kills the running client
//! and server, marks the cells it did not reach as skipped, and this module still writes every file — a partial
//! run is a run, flagged `interrupted`.

use crate::plan::{MatrixConfig, ProfileName, Workload};
use crate::results::{Analysis, Overhead, Run, Settings, WorkloadPaths, SCHEMA_VERSION};
use crate::run::{self, Runner};
use crate::soak::{self, SoakSettings};
use crate::{analysis, binaries, env, export, limits, narrative};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// What the command line asked for, beyond the matrix itself.
pub struct MatrixOptions {
    pub config: MatrixConfig,
    pub out: PathBuf,
    /// Prebuilt binaries; None = build release binaries first.
    pub bin_dir: Option<PathBuf>,
    /// Exit non-zero when the original experiment's shape does not hold.
    pub check_shape: bool,
    /// How long `--profile soak` loads each server (ignored by the other profiles).
    pub soak: SoakSettings,
}

/// What `lab matrix` produced and how it should exit.
pub struct MatrixOutcome {
    pub run: Run,
    pub files: Vec<PathBuf>,
    pub exit_code: i32,
}

/// Registers SIGINT and SIGTERM to set the returned flag (instead of killing the lab outright).
pub fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(signal, Arc::clone(&flag));
    }
    flag
}

/// Resolves the binary directory: as given, or built now in release mode.
pub fn binaries_dir(given: Option<PathBuf>) -> Result<PathBuf, String> {
    match given {
        Some(dir) if dir.is_dir() => Ok(dir),
        Some(dir) => Err(format!("--bin-dir {}: not a directory", dir.display())),
        None => binaries::build_release(&binaries::workspace_root()),
    }
}

/// A run id not yet used in `out` by a `{file_prefix}{id}.json`: `UTCSTAMP-COMMIT`, with `-2`, `-3`… on a clash.
pub fn unique_run_id(out: &Path, file_prefix: &str, stamp: &str, commit: &str) -> String {
    let commit = if commit == "unknown" { "nogit" } else { commit };
    let base = format!("{stamp}-{commit}");
    let mut id = base.clone();
    let mut n = 2;
    while out.join(format!("{file_prefix}{id}.json")).exists() {
        id = format!("{base}-{n}");
        n += 1;
    }
    id
}

pub fn run_matrix(options: MatrixOptions) -> Result<MatrixOutcome, String> {
    let limits = limits::read_limits();
    let interrupted = interrupt_flag();
    let bin_dir = binaries_dir(options.bin_dir.clone())?;
    let build = binaries::profile_of(&bin_dir);
    if build != "release" {
        eprintln!("lab: measuring the {build} binaries in {} — the numbers will say so", bin_dir.display());
    }
    std::fs::create_dir_all(&options.out).map_err(|e| format!("cannot create {}: {e}", options.out.display()))?;

    // The clock of the run starts after the build: builds are not the lab's overhead.
    let started_at = SystemTime::now();
    let clock = Instant::now();
    let root = binaries::workspace_root();
    let environment = env::capture(&root, limits.clone());
    let run_id = unique_run_id(&options.out, "", &env::utc_stamp(started_at), &environment.git_commit);
    let config = &options.config;
    let cells = config.cells();
    if config.profile == ProfileName::Soak {
        eprintln!(
            "lab: run {run_id}: soak of {} server(s), {} × {} min of {} at concurrency {}",
            config.servers.len(),
            config.clients[0].label(),
            options.soak.minutes,
            config.workloads[0],
            config.concurrency[0]
        );
    } else {
        eprintln!(
            "lab: run {run_id}: {} cells ({} servers × {} clients × {} workloads), profile {}",
            cells.len(),
            config.servers.len(),
            config.clients.len(),
            config.workloads.len(),
            config.profile.name()
        );
    }
    let scratch = run::scratch_dir(&run_id).map_err(|e| format!("cannot create a scratch directory: {e}"))?;
    let mut runner = Runner {
        config,
        bin_dir: bin_dir.clone(),
        scratch: scratch.path().to_path_buf(),
        limits: limits.clone(),
        interrupted,
        measured: Duration::ZERO,
    };
    let (outcome, soak) = if config.profile == ProfileName::Soak {
        let (servers, soak) = soak::run(&mut runner, options.soak);
        (run::Outcome { servers, cells: vec![], interrupted: runner.is_interrupted() }, Some(soak))
    } else {
        (runner.run(&cells), None)
    };
    drop(scratch);

    let mut notes = Vec::new();
    if build != "release" {
        notes.push(format!(
            "Measured {build} binaries from {}: not representative of release performance.",
            bin_dir.display()
        ));
    }
    if limits.nofile_soft > limits.nofile_soft_before {
        notes.push(format!(
            "The lab raised its file-descriptor limit from {} to {} (the hard limit); servers and clients inherit it.",
            limits.nofile_soft_before, limits.nofile_soft
        ));
    }
    let mut run = Run {
        schema_version: SCHEMA_VERSION,
        run_id: run_id.clone(),
        started_at: env::rfc3339(started_at),
        finished_at: String::new(),
        profile: config.profile.name().to_string(),
        build,
        bin_dir: bin_dir.display().to_string(),
        settings: settings_of(config),
        environment,
        servers: outcome.servers,
        cells: outcome.cells,
        analysis: Analysis::default(),
        overhead: Overhead::default(),
        interrupted: outcome.interrupted,
        notes,
        soak,
    };
    run.analysis = analysis::analyse(&run);
    run.analysis.narrative = narrative::sentences(&run);
    let total = clock.elapsed().as_secs_f64();
    let measured = runner.measured.as_secs_f64().min(total);
    run.overhead = Overhead {
        total_s: total,
        measured_s: measured,
        outside_s: total - measured,
        fraction: if total > 0.0 { (total - measured) / total } else { 0.0 },
    };
    run.finished_at = env::rfc3339(SystemTime::now());

    let files = export::write(&run, &export::all(), &options.out).map_err(|e| format!("writing the results: {e}"))?;
    let markdown = options.out.join(format!("{run_id}.md"));
    let latest = options.out.join("latest.md");
    std::fs::copy(&markdown, &latest).map_err(|e| format!("copying {} to latest.md: {e}", markdown.display()))?;

    let exit_code = if run.interrupted {
        130
    } else if options.check_shape && run.soak.is_none() && !run.analysis.shape.holds {
        1
    } else {
        0
    };
    Ok(MatrixOutcome { run, files: files.into_iter().chain([latest]).collect(), exit_code })
}

fn settings_of(config: &MatrixConfig) -> Settings {
    Settings {
        hello_ms: config.settings.hello_ms,
        block_ms: config.settings.block_ms,
        fact_n: config.settings.fact_n,
        repeat: config.repeat,
        keep_alive: config.keep_alive,
        timeout_s: config.client_timeout().as_secs_f64(),
        cell_budget_s: config.cell_budget.as_secs_f64(),
        servers: config.servers.iter().map(|s| s.name().to_string()).collect(),
        clients: config.clients.iter().map(|c| c.label()).collect(),
        workloads: config.workloads.iter().map(|w| w.name().to_string()).collect(),
        concurrency: config.concurrency.clone(),
        workload_paths: Workload::ALL
            .iter()
            .filter(|w| config.workloads.contains(w))
            .map(|w| WorkloadPaths {
                workload: w.name().to_string(),
                paths: w.paths(&config.settings),
                description: w.description(&config.settings),
            })
            .collect(),
    }
}
