//! The workspace's server and client binaries, for tests.
//!
//! A test must never run a stale binary. Cargo builds the binaries of a test's own package before running it
//! (`CARGO_BIN_EXE_<name>`), but not those of other packages: a client test needs the servers, a lab test needs
//! both. So the first test of a run that asks for a binary builds them all with cargo — announced on stderr, in
//! the test's own profile and target directory — and every later test of the run finds that done: once per
//! process under `cargo test`, once per `cargo nextest run` (its processes share a stamp named by
//! `NEXTEST_RUN_ID`, taken under a file lock). Cargo itself decides what is out of date.

use rustix::fs::{flock, FlockOperation};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The packages whose binaries the tests start.
const PACKAGES: [&str; 3] = ["servers", "clients", "primitives"];

/// What cargo sets in a test's environment about the test's package (cargo's reference, "Environment variables
/// Cargo sets for crates"), as opposed to what configures cargo itself (CARGO_HOME, CARGO_TARGET_DIR…).
const TEST_PACKAGE_VARS: [&str; 7] = [
    "CARGO_MANIFEST_",
    "CARGO_PKG_",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
];

/// Where the running test's profile keeps its binaries: `target/<profile>` (the test executable sits in
/// `target/<profile>/deps`).
pub fn bin_dir_of_this_test() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().expect("exe has a directory").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// The directory of the workspace's binaries, up to date with the sources (built once per test run).
pub fn workspace_bin_dir() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = bin_dir_of_this_test();
            if let Err(e) = build_once_per_run(&dir) {
                panic!("building the workspace's binaries for the tests failed: {e}");
            }
            dir
        })
        .clone()
}

/// The path of binary `name` of the workspace, up to date with the sources.
pub fn workspace_binary(name: &str) -> PathBuf {
    let path = workspace_bin_dir().join(name);
    assert!(path.exists(), "{} not found after building {PACKAGES:?}", path.display());
    path
}

fn build_once_per_run(dir: &Path) -> std::io::Result<()> {
    let Some(run_id) = std::env::var_os("NEXTEST_RUN_ID") else { return build(dir) };
    let stamps = dir.join("harness-builds");
    std::fs::create_dir_all(&stamps)?;
    let lock = std::fs::File::create(stamps.join("lock"))?;
    // Blocks until no other test process of this run is building.
    flock(&lock, FlockOperation::LockExclusive)?;
    let stamp = stamps.join(run_id);
    if stamp.exists() {
        return Ok(());
    }
    build(dir)?;
    std::fs::write(&stamp, b"")?;
    Ok(())
}

fn build(dir: &Path) -> std::io::Result<()> {
    let profile = match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev",
        Some(other) => other,
    };
    let target = dir.parent().unwrap_or(dir);
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo.args(["build", "--quiet", "--bins", "--profile", profile, "--target-dir"]).arg(target);
    for package in PACKAGES {
        cargo.args(["-p", package]);
    }
    // Cargo describes the test's own package to it in the environment (CARGO_PKG_NAME=lab, CARGO_MANIFEST_DIR…).
    // Build scripts may declare those as inputs (`rerun-if-env-changed`: ring's does), so a nested build that
    // inherits them sees different inputs than the `cargo` a person runs: it rebuilds them and all above them, and
    // the next outer build rebuilds them back. The nested build gets the environment of a plain `cargo build`.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if TEST_PACKAGE_VARS.iter().any(|prefix| name.starts_with(prefix)) {
            cargo.env_remove(&*name);
        }
    }
    eprintln!("harness: building the binaries the tests start, once per test run: {cargo:?}");
    let status = cargo.status()?;
    if !status.success() {
        return Err(std::io::Error::other(format!("{cargo:?} failed ({status})")));
    }
    Ok(())
}
