//! One run of any command, from start to finish: what every command that measures shares.
//!
//! A command (matrix, soak, bench, slowloris, capacity) is a plan plus an exporter; the session is everything else, in
//! this order: raise the file-descriptor limit and read the others, catch Ctrl-C, find or build the binaries
//! (announced, and said when they are not a release build), capture the machine, pick a run id no file in the
//! output directory has, make a scratch directory (removed when the session ends), and at the end stamp the
//! [`RunHeader`] every document starts with (the files are written by [`crate::export::save`], into `out`).
//!
//! Ctrl-C (SIGINT) and SIGTERM only set a flag: a command notices it between polls, kills what it runs, marks
//! what it did not reach as skipped, and still writes every file — a partial run is a run, flagged `interrupted`.

use crate::records::header::{Build, Calibration, Environment, Limits, RunHeader, RunKind};
use crate::{binaries, env, limits};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Where a measuring command writes and which binaries it measures: the flags every such command shares.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SessionArgs {
    /// Output directory (default: the workspace's results/).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Use the binaries in DIR instead of building release ones (the run records the profile that built them).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
}

impl SessionArgs {
    /// `--out`, or the workspace's results/.
    pub fn out_dir(&self) -> PathBuf {
        self.out.clone().unwrap_or_else(|| binaries::workspace_root().join("results"))
    }
}

/// Says on stderr which files a command wrote, and that it was interrupted when it was. Returns the command's
/// exit code: 0, or 130 when interrupted (what was measured is written).
pub fn say_written(files: &[PathBuf], interrupted: bool) -> u8 {
    for file in files {
        eprintln!("lab: wrote {}", file.display());
    }
    if interrupted {
        eprintln!("lab: interrupted: partial results written");
        return 130;
    }
    0
}

/// Registers SIGINT and SIGTERM to set the returned flag (instead of killing the lab outright).
pub fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(signal, Arc::clone(&flag));
    }
    flag
}

/// Resolves the binary directory: as given, or built now in release mode (announced).
pub fn binaries_dir(given: Option<PathBuf>) -> Result<PathBuf> {
    match given {
        Some(dir) if dir.is_dir() => Ok(dir),
        Some(dir) => Err(crate::UsageError(format!("--bin-dir {}: not a directory", dir.display())).into()),
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

/// A run in progress.
pub struct Session {
    /// The header's `kind`, which also names the files ([`RunKind::file_prefix`]).
    pub kind: RunKind,
    /// Set by SIGINT/SIGTERM.
    pub interrupted: Arc<AtomicBool>,
    pub bin_dir: PathBuf,
    /// The cargo profile that built `bin_dir`.
    pub build: Build,
    /// The system limits, read after raising the file-descriptor limit.
    pub limits: Limits,
    pub environment: Environment,
    pub run_id: String,
    pub out: PathBuf,
    /// Holds the servers' SQLite files; removed with the session.
    pub scratch: harness::TempDir,
    /// The machine's details and its speed at the start; [`header`](Self::header) measures the end.
    pub calibration: Calibration,
    started_at: SystemTime,
    clock: Instant,
}

impl Session {
    /// Starts a run of `kind` writing `{kind's prefix}RUN-ID.*` under `out`, with the binaries in `bin_dir` (None:
    /// build release ones). The run's clock starts after the build: builds are not the lab's overhead.
    pub fn start(kind: RunKind, out: &Path, bin_dir: Option<PathBuf>) -> Result<Session> {
        let limits = limits::read_limits();
        let interrupted = interrupt_flag();
        let bin_dir = binaries_dir(bin_dir)?;
        let build = binaries::announce_profile(&bin_dir);
        std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
        let started_at = SystemTime::now();
        let clock = Instant::now();
        let environment = env::capture(&binaries::workspace_root(), limits.clone());
        // Before any server starts: the machine alone (under a second).
        let calibration = Calibration::begin(&bin_dir);
        let run_id = unique_run_id(out, kind.file_prefix(), &env::utc_stamp(started_at), &environment.git_commit);
        let scratch =
            harness::temp_dir(&format!("lab-{kind}-{run_id}-")).context("cannot create a scratch directory")?;
        Ok(Session {
            kind,
            interrupted,
            bin_dir,
            build,
            limits,
            environment,
            run_id,
            out: out.to_path_buf(),
            scratch,
            calibration,
            started_at,
            clock,
        })
    }

    pub fn is_interrupted(&self) -> bool {
        self.interrupted.load(Ordering::Relaxed)
    }

    /// Where a server's SQLite file goes.
    pub fn db_path(&self, server: &str) -> PathBuf {
        self.scratch.path().join(format!("{server}.sqlite"))
    }

    /// Time since the run started (after the build).
    pub fn elapsed(&self) -> Duration {
        self.clock.elapsed()
    }

    /// What every run says of its setting: binaries that are not a release build, a raised descriptor limit.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.build != Build::Release {
            notes.push(format!(
                "Measured {} binaries from {}: not representative of release performance.",
                self.build,
                self.bin_dir.display()
            ));
        }
        if self.limits.nofile_soft > self.limits.nofile_soft_before {
            notes.push(format!(
                "The lab raised its file-descriptor limit from {} to {} (the hard limit); servers and clients inherit \
                 it.",
                self.limits.nofile_soft_before, self.limits.nofile_soft
            ));
        }
        notes
    }

    /// The document's header, finished now: the calibration is measured again (every server has stopped) and
    /// its drift since the start recorded.
    pub fn header(&self, schema_version: u32, notes: Vec<String>) -> RunHeader {
        let calibration = self.calibration.finished(crate::calibration::measure(&self.bin_dir));
        RunHeader { calibration: Some(calibration), ..self.provisional_header(schema_version, notes) }
    }

    /// The header of a run still in progress (the start calibration only), for a command that fills its
    /// document as it goes and writes the final [`header`](Self::header) at the end.
    pub fn provisional_header(&self, schema_version: u32, notes: Vec<String>) -> RunHeader {
        RunHeader {
            schema_version,
            written_by: Some(self.kind),
            run_id: self.run_id.clone(),
            started_at: env::rfc3339(self.started_at),
            finished_at: env::rfc3339(SystemTime::now()),
            build: self.build,
            bin_dir: self.bin_dir.display().to_string(),
            environment: self.environment.clone(),
            interrupted: self.is_interrupted(),
            cpus: None,
            notes,
            calibration: Some(self.calibration.clone()),
        }
    }
}
