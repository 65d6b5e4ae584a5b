//! Where the measured binaries come from. `lab matrix` builds the servers and clients in release mode and says
//! so; `--bin-dir DIR` points at prebuilt ones instead, and the run records which cargo profile built them, so a
//! debug build is never measured silently.

use crate::records::header::Build;
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root: where lab's own manifest sits, one level up (known at compile time).
pub fn workspace_root() -> PathBuf {
    let lab = Path::new(env!("CARGO_MANIFEST_DIR"));
    lab.parent().unwrap_or(lab).to_path_buf()
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

/// The target directory: CARGO_TARGET_DIR, else what `cargo metadata` says, else `<root>/target`.
pub fn target_dir(root: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let output = Command::new(cargo())
        .args(["metadata", "--format-version", "1", "--no-deps", "--manifest-path"])
        .arg(root.join("Cargo.toml"))
        .output();
    /// The one field of `cargo metadata` the lab reads.
    #[derive(serde::Deserialize)]
    struct Metadata {
        target_directory: PathBuf,
    }
    if let Ok(output) = output {
        if let Ok(metadata) = serde_json::from_slice::<Metadata>(&output.stdout) {
            return metadata.target_directory;
        }
    }
    root.join("target")
}

/// `cargo build --release -p servers -p clients -p primitives --bins`, announced on stderr. Returns
/// target/release.
pub fn build_release(root: &Path) -> anyhow::Result<PathBuf> {
    eprintln!("lab: building release binaries: cargo build --release -p servers -p clients -p primitives --bins");
    let status = Command::new(cargo())
        .args(["build", "--release", "-p", "servers", "-p", "clients", "-p", "primitives", "--bins", "--manifest-path"])
        .arg(root.join("Cargo.toml"))
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        anyhow::bail!("cargo build --release failed ({status})");
    }
    Ok(target_dir(root).join("release"))
}

/// Which profile built the binaries in `dir`: the directory's name under target/ (`release`, `debug`), else
/// `unknown`.
pub fn profile_of(dir: &Path) -> Build {
    match dir.file_name().and_then(|n| n.to_str()) {
        Some("release") => Build::Release,
        Some("debug") => Build::Debug,
        _ => Build::Unknown,
    }
}

/// [`profile_of`], said on stderr when it is not `release`: a debug build is never measured silently.
pub fn announce_profile(dir: &Path) -> Build {
    let build = profile_of(dir);
    if build != Build::Release {
        eprintln!("lab: measuring the {build} binaries in {} — the numbers will say so", dir.display());
    }
    build
}
