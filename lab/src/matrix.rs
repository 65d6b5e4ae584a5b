//! `lab matrix`: the plan (every server × client × workload × concurrency) run cell by cell in a [`Session`], then
//! the analysis, the sentences, and the files.

use crate::findings::Findings;
use crate::plan::MatrixConfig;
use crate::records::header::RunHeader;
use crate::records::run::Workload;
use crate::records::run::{Analysis, Overhead, Run, Settings, WorkloadPaths, SCHEMA_VERSION};
use crate::run::{self, Runner};
use crate::session::Session;
use crate::{analysis, export};
use anyhow::Result;
use std::path::PathBuf;
use std::time::Duration;

/// What the command line asked for, beyond the matrix itself.
pub struct MatrixOptions {
    pub config: MatrixConfig,
    pub out: PathBuf,
    /// Prebuilt binaries; None = build release binaries first.
    pub bin_dir: Option<PathBuf>,
    /// Exit non-zero when the original experiment's shape does not hold.
    pub check_shape: bool,
    /// Companion runs' figures for the headline (`--with`).
    pub companions: Vec<crate::records::run::Companion>,
}

/// What `lab matrix` produced and how it should exit.
pub struct MatrixOutcome {
    pub run: Run,
    pub files: Vec<PathBuf>,
    pub exit_code: i32,
}

pub fn run_matrix(options: MatrixOptions) -> Result<MatrixOutcome> {
    let session = Session::start(crate::records::header::RunKind::Matrix, &options.out, options.bin_dir.clone())?;
    let config = &options.config;
    let cells = config.cells();
    eprintln!(
        "lab: run {}: {} cells ({} servers × {} clients × {} workloads), profile {}",
        session.run_id,
        cells.len(),
        config.servers.len(),
        config.clients.len(),
        config.workloads.len(),
        config.profile
    );
    let mut runner = Runner::new(config, &session);
    let outcome = runner.run(&cells);
    let measured = runner.measured;
    let mut run = finish_run(&session, config, outcome, measured);
    run.companions = options.companions;
    // Computed once: the narrative's sentences are kept in the JSON, and every format reads the same findings.
    let findings = Findings::of(&run);
    run.analysis.narrative = export::prose::narrative::sentences(&run, &findings);
    let files = export::save(&run, &export::all(findings), &session.out)?;
    let exit_code = if run.interrupted {
        130
    } else if options.check_shape && !run.analysis.shape.holds {
        1
    } else {
        0
    };
    Ok(MatrixOutcome { run, files, exit_code })
}

/// The run document of a matrix: the header, the settings, what the runner measured, the analysis, and how much of the run's time the lab spent outside measured cells.
fn finish_run(session: &Session, config: &MatrixConfig, outcome: run::Outcome, measured: Duration) -> Run {
    let mut run = Run {
        header: RunHeader { cpus: Some(config.cpus.clone()), ..session.header(SCHEMA_VERSION, session.notes()) },
        profile: config.profile,
        settings: settings_of(config),
        servers: outcome.servers,
        cells: outcome.cells,
        analysis: Analysis::default(),
        overhead: Overhead::default(),
        companions: vec![],
    };
    run.interrupted = outcome.interrupted;
    crate::predict::fill(&mut run);
    run.analysis = analysis::analyse(&run);
    run.overhead = Overhead::of(session.elapsed(), measured);
    run
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
        clients: config.clients.clone(),
        workloads: config.workloads.clone(),
        concurrency: config.concurrency.clone(),
        workload_paths: Workload::ALL
            .iter()
            .filter(|w| config.workloads.contains(w))
            .map(|w| WorkloadPaths {
                workload: *w,
                paths: w.paths(&config.settings),
                description: w.description(&config.settings),
            })
            .collect(),
    }
}
