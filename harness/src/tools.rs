//! Tests that need a tool the machine may lack (wrk, nginx, tornado, a second CPU, a readable
//! `/proc/PID/task/TID/syscall`): never a silent pass.
//!
//! [`require`] answers whether the test can go on. When the tool is missing:
//! - under `CI=true` the test fails, with the line that installs the tool (CI installs everything the tests use,
//!   `.ci/run`, so a missing tool there is CI's bug);
//! - elsewhere it prints one `SKIP: <test>: <tool> missing (<install line>)` line on stderr and appends it to
//!   [`skip_log`], because the test runner shows a passing test's stderr only on request: `.ci/run` counts the
//!   lines of that file after the suite.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Where skipped tests are listed, one `SKIP:` line each: `target/skipped-tests.txt` of the running test's
/// target directory (the test executable sits in `target/<profile>/deps`).
pub fn skip_log() -> PathBuf {
    let profile_dir = crate::bins::bin_dir_of_this_test();
    profile_dir.parent().unwrap_or(&profile_dir).join("skipped-tests.txt")
}

/// Whether this run is CI's: the `CI` variable set to `true` (GitHub Actions, GitLab and most others set it).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// True when `present`; otherwise fails the test under CI, or records a visible skip and returns false (the
/// caller then returns). `test` names the test, `tool` what is missing, `install` how to get it.
pub fn require(test: &str, tool: &str, present: bool, install: &str) -> bool {
    match decide(test, tool, present, install, in_ci(), &skip_log()) {
        Ok(go_on) => go_on,
        Err(message) => panic!("{message}"),
    }
}

/// [`require`] with CI and the log given: Err(the failure) under CI, else Ok(whether to go on).
fn decide(test: &str, tool: &str, present: bool, install: &str, ci: bool, log: &Path) -> Result<bool, String> {
    if present {
        return Ok(true);
    }
    if ci {
        return Err(format!("{test}: {tool} missing, and CI must run this test: {install}"));
    }
    let line = format!("SKIP: {test}: {tool} missing ({install})");
    eprintln!("{line}");
    // One short write with O_APPEND: tests running in parallel do not mix their lines.
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .and_then(|mut file| file.write_all(format!("{line}\n").as_bytes()));
    if let Err(e) = appended {
        eprintln!("(could not record the skip in {}: {e})", log.display());
    }
    Ok(false)
}

/// Whether an executable named `name` is on `PATH`.
pub fn on_path(name: &str) -> bool {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).any(|dir| dir.join(name).is_file())
}

/// Whether `python3` can import `module`.
pub fn python_module(module: &str) -> bool {
    std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The install lines the tests print, in one place so that they match `.ci/run`.
pub const INSTALL_TORNADO: &str = "python3 -m pip install tornado";
pub const INSTALL_WRK: &str = "apt-get install -y wrk";
pub const INSTALL_NGINX: &str = "apt-get install -y nginx-light";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_fails_in_ci_and_is_a_recorded_skip_elsewhere() {
        let dir = crate::temp_dir("tools-").unwrap();
        let log = dir.path().join("skipped-tests.txt");
        assert_eq!(decide("t", "sh", true, "nothing", true, &log), Ok(true));
        let failure = decide("t", "wrk", false, "apt-get install -y wrk", true, &log).unwrap_err();
        assert_eq!(failure, "t: wrk missing, and CI must run this test: apt-get install -y wrk");
        assert!(!log.exists(), "a CI failure is not a skip");
        assert_eq!(decide("t", "wrk", false, "apt-get install -y wrk", false, &log), Ok(false));
        assert_eq!(decide("u", "nginx", false, "apt-get install -y nginx-light", false, &log), Ok(false));
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "SKIP: t: wrk missing (apt-get install -y wrk)\nSKIP: u: nginx missing (apt-get install -y nginx-light)\n"
        );
        assert!(on_path("sh") && !on_path("no-such-tool-anywhere"));
    }
}
