//! Helpers shared by the lab's integration tests: the lab binary, the debug server/client binaries, the
//! foreign-server fixture, scratch directories, and a check that no child process outlived a run.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub fn lab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lab"))
}

/// The directory of the server and client binaries in the tests' profile, built once per test run (see
/// `harness::bins`), so never stale.
pub fn bin_dir() -> PathBuf {
    harness::bins::workspace_bin_dir()
}

/// `python3 …/contract_server.py --port {port} EXTRA`: the foreign server of the tests.
pub fn fixture_server(extra: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/contract_server.py");
    format!("python3 {} --port {{port}} {extra}", script.display()).trim_end().to_string()
}

/// Runs `lab` (given its subcommand and flags) with `--bin-dir` the tests' binaries, `--out` a fresh scratch
/// directory and a fresh marker in its environment (every process it starts inherits it), waits for it, and
/// checks that no process it started outlived it. Returns the directory, the exit code and stderr.
pub fn run_lab(name: &str, lab: &mut Command) -> (Scratch, Option<i32>, String) {
    let out = scratch(name);
    let (code, stderr) = run_lab_in(&out, lab);
    (out, code, stderr)
}

/// [`run_lab`] with `--out` a directory the test made (it put a fixture's files there first).
pub fn run_lab_in(out: &Path, lab: &mut Command) -> (Option<i32>, String) {
    let marker = marker("lab");
    let output = lab.arg("--bin-dir").arg(bin_dir()).arg("--out").arg(out).env(MARKER_VAR, &marker).output().unwrap();
    assert_no_process_left(&marker);
    (output.status.code(), text(&output.stderr))
}

/// A fresh directory under the system temp dir (`lab-test-NAME-…`), removed with everything in it when the
/// test ends, passed or failed. Reads as the `Path` it is.
pub struct Scratch(harness::TempDir);

pub fn scratch(name: &str) -> Scratch {
    Scratch(harness::temp_dir(&format!("lab-test-{name}-")).unwrap())
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        self.0.path()
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        self.0.path()
    }
}

impl AsRef<std::ffi::OsStr> for Scratch {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.path().as_os_str()
    }
}

/// A value to put in the environment of a lab run: every process it starts inherits it.
pub fn marker(name: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

pub const MARKER_VAR: &str = "LAB_TEST_MARKER";

/// Live processes (not zombies) whose environment holds `LAB_TEST_MARKER=marker`.
pub fn processes_with_marker(marker: &str) -> Vec<(u32, String)> {
    let needle = format!("{MARKER_VAR}={marker}");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else { continue };
        if environ.split(|b| *b == 0).any(|var| var == needle.as_bytes()) {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            found.push((pid, cmdline));
        }
    }
    found
}

/// Waits up to 3 s for every process carrying `marker` to be gone; panics with the survivors otherwise.
pub fn assert_no_process_left(marker: &str) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let left = processes_with_marker(marker);
        if left.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            for (pid, _) in &left {
                harness::process::signal_process(*pid, harness::process::Signal::KILL);
            }
            panic!("processes left behind: {left:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The only `*.json` run in `dir`.
pub fn run_json(dir: &Path) -> PathBuf {
    let runs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(runs.len(), 1, "expected one run JSON in {}: {runs:?}", dir.display());
    runs[0].clone()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
