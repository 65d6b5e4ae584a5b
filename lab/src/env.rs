//! The machine and the code behind a run: CPU, memory, kernel, rustc, git commit — recorded in every run so a
//! number is never separated from where it was measured.

use crate::records::header::{CodeTrees, Environment, Limits};
use std::path::Path;
use std::process::Command;

fn first_line_of(command: &mut Command) -> Option<String> {
    let output = command.output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    Some(text.lines().next()?.trim().to_string())
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).unwrap_or_default()
}

/// The short commit and whether the work tree has uncommitted changes to anything but `results/` (the lab's
/// own outputs: a bench run rewriting `results/bench-latest.md` does not change the code the next run
/// measures); ("unknown", false) outside git.
pub fn git_state(root: &Path) -> (String, bool) {
    let commit = first_line_of(Command::new("git").arg("-C").arg(root).args(["rev-parse", "--short", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_string());
    let dirty = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results"])
        .output()
        .map(|o| o.status.success() && !o.stdout.is_empty())
        .unwrap_or(false);
    (commit, dirty)
}

/// The tree hashes of `servers/`, `clients/` and `harness/` at HEAD; None outside git.
pub fn code_trees(root: &Path) -> Option<CodeTrees> {
    let tree = |part: &str| {
        first_line_of(Command::new("git").arg("-C").arg(root).args(["rev-parse", &format!("HEAD:{part}")]))
    };
    Some(CodeTrees { servers: tree("servers")?, clients: tree("clients")?, harness: tree("harness")? })
}

pub fn capture(root: &Path, limits: Limits) -> Environment {
    let cpu_model = harness::proc::cpu_field("model name").unwrap_or_else(|| "unknown".to_string());
    let memory_kib = harness::proc::meminfo().map_or(0, |m| m.total_kib);
    let os = read("/etc/os-release")
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_default();
    let (git_commit, git_dirty) = git_state(root);
    Environment {
        cpu_model,
        cpu_count: std::thread::available_parallelism().map(|n| n.get() as u64).unwrap_or(1),
        memory_kib,
        kernel: harness::proc::os_release(),
        os,
        hostname: harness::proc::hostname(),
        rustc: first_line_of(Command::new("rustc").arg("--version")).unwrap_or_else(|| "unknown".to_string()),
        git_commit,
        git_dirty,
        trees: code_trees(root),
        command_line: std::env::args().collect(),
        limits,
    }
}

/// `20261126T150102Z` for now, in UTC.
pub fn utc_stamp(time: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string().replace(['-', ':'], "")
}

pub fn rfc3339(time: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_trees_are_the_trees_git_names_for_each_part() {
        let root = crate::binaries::workspace_root();
        let trees = code_trees(&root).expect("the lab's tests run in its git checkout");
        // An independent reading: `git ls-tree HEAD` lists each top-level folder with its tree hash.
        let listing = first_line_of(Command::new("git").arg("-C").arg(&root).args(["ls-tree", "HEAD", "servers"]))
            .expect("git ls-tree");
        assert!(listing.contains(&trees.servers), "{listing} vs {trees:?}");
        assert_eq!(trees.servers.len(), 40);
        assert_ne!(trees.servers, trees.clients);
        assert_eq!(trees.first_difference(&trees.clone()), None);
        let other = CodeTrees { clients: "0".repeat(40), ..trees.clone() };
        assert_eq!(trees.first_difference(&other), Some("clients"));
    }

    #[test]
    fn the_labs_own_outputs_do_not_make_the_tree_dirty() {
        // A scratch repository: a committed file under results/ and one elsewhere.
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let ok = Command::new("git").arg("-C").arg(dir.path()).args(args).output().unwrap().status.success();
            assert!(ok, "git {args:?}");
        };
        git(&["init", "-q"]);
        std::fs::create_dir(dir.path().join("results")).unwrap();
        std::fs::write(dir.path().join("results/latest.md"), "a").unwrap();
        std::fs::write(dir.path().join("code.rs"), "a").unwrap();
        git(&["add", "."]);
        git(&["-c", "user.name=lab", "-c", "user.email=lab@localhost", "commit", "-qm", "one"]);
        assert!(!git_state(dir.path()).1);
        std::fs::write(dir.path().join("results/latest.md"), "b").unwrap();
        assert!(!git_state(dir.path()).1, "a rewritten result is not a change of code");
        std::fs::write(dir.path().join("code.rs"), "b").unwrap();
        assert!(git_state(dir.path()).1, "a changed source file is");
    }

    #[test]
    fn stamps_are_compact_utc() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_705_262);
        assert_eq!(utc_stamp(t), "20261126T150102Z");
    }
}
