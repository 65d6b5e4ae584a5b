//! Resource limits: the open-file limit that caps how many sockets a process may hold, and the thread limit.

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
use std::fs;

/// What [`raise_nofile`] did to RLIMIT_NOFILE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nofile {
    /// The soft limit before, and now.
    pub before: u64,
    pub soft: u64,
    /// The hard limit (`u64::MAX` when unlimited).
    pub hard: u64,
}

/// Raises RLIMIT_NOFILE's soft limit to the hard limit, so that ten thousand connections are not stopped by the
/// usual soft limit of 1024. An unlimited hard limit still stops at `fs.nr_open`, which is used then. Children
/// inherit the raised limit.
pub fn raise_nofile() -> Nofile {
    let limit = getrlimit(Resource::Nofile);
    let before = limit.current.unwrap_or(u64::MAX);
    let hard = limit.maximum.unwrap_or(u64::MAX);
    let target = match limit.maximum {
        None => read_number("/proc/sys/fs/nr_open").unwrap_or(u64::MAX),
        Some(max) => max,
    };
    if before < target && setrlimit(Resource::Nofile, Rlimit { current: Some(target), maximum: limit.maximum }).is_ok()
    {
        return Nofile { before, soft: target, hard };
    }
    Nofile { before, soft: before, hard }
}

/// Sets RLIMIT_NOFILE (soft and hard) to `limit` in a child, before it runs: for tests of what a server does when
/// it runs out of descriptors.
pub fn limit_nofile(command: &mut std::process::Command, limit: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the hook runs in the forked child before exec; setrlimit is one system call (rustix makes it without
    // allocating), and its error converts to an io::Error without allocating.
    unsafe {
        command.pre_exec(move || {
            setrlimit(Resource::Nofile, Rlimit { current: Some(limit), maximum: Some(limit) })?;
            Ok(())
        });
    }
}

/// RLIMIT_NPROC's soft limit: the cap on this user's threads and processes (None when unlimited).
pub fn nproc_soft() -> Option<u64> {
    getrlimit(Resource::Nproc).current
}

/// A number in a /proc/sys file, e.g. `/proc/sys/net/core/somaxconn`.
pub fn read_number(path: &str) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_nofile_reaches_the_hard_limit() {
        let nofile = raise_nofile();
        assert!(nofile.soft >= nofile.before);
        let now = getrlimit(Resource::Nofile);
        assert_eq!(now.current.unwrap_or(u64::MAX), nofile.soft);
        assert!(nofile.soft == nofile.hard || nofile.hard == u64::MAX);
    }

    #[test]
    fn a_child_gets_the_lowered_limit() {
        let mut command = std::process::Command::new("sh");
        command.args(["-c", "ulimit -n"]);
        limit_nofile(&mut command, 64);
        let output = command.output().unwrap();
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "64");
    }
}
