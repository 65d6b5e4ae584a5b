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
        None => crate::proc::nr_open().unwrap_or(u64::MAX),
        Some(max) => max,
    };
    if before < target && setrlimit(Resource::Nofile, Rlimit { current: Some(target), maximum: limit.maximum }).is_ok()
    {
        return Nofile { before, soft: target, hard };
    }
    Nofile { before, soft: before, hard }
}

/// Grows this process's descriptor table, now, to hold `descriptors` at once (at most the soft RLIMIT_NOFILE),
/// instead of while connections arrive. The kernel grows a table by doubling as descriptors are opened, and in a
/// process with several threads each doubling waits for an RCU grace period (`expand_fdtable` calls
/// `synchronize_rcu`) while every other thread that needs a descriptor waits for the resize: in a burst of
/// 10,000 connections, eight stalls of a few milliseconds on each side (results/experiments/fd-table.txt). A
/// table never shrinks, so a long-running process pays this once; a fresh one would pay it in its first burst.
/// Best effort: nothing happens if no descriptor can be made. `LAB_RESERVE_DESCRIPTORS=0` in the environment
/// turns it off, for the experiment that measures what it saves.
pub fn reserve_descriptors(descriptors: u64) {
    if std::env::var_os("LAB_RESERVE_DESCRIPTORS").is_some_and(|v| v == "0") {
        return;
    }
    let soft = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    let highest = descriptors.min(soft.saturating_sub(1)).min(i32::MAX as u64) as i32;
    let Ok(probe) = fs::File::open("/dev/null") else { return };
    // F_DUPFD takes the lowest free descriptor at or above `highest`, growing the table to hold it, and never
    // replaces one in use; closing it leaves the table grown.
    drop(rustix::io::fcntl_dupfd_cloexec(&probe, highest));
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

    /// `FDSize` of /proc/self/status: the descriptor slots the table has (proc(5)).
    fn fd_slots() -> u64 {
        let status = fs::read_to_string("/proc/self/status").unwrap();
        status.lines().find_map(|l| l.strip_prefix("FDSize:")).unwrap().trim().parse().unwrap()
    }

    /// The highest descriptor this process has open.
    fn highest_open() -> u64 {
        let names = fs::read_dir("/proc/self/fd").unwrap().flatten();
        names.filter_map(|e| e.file_name().to_str()?.parse().ok()).max().unwrap_or(0)
    }

    #[test]
    fn reserving_descriptors_grows_the_table_and_keeps_none_open() {
        raise_nofile();
        let soft = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
        let wanted = 6_000.min(soft - 1);
        reserve_descriptors(wanted);
        // The table holds descriptor number `wanted` (slots come in powers of two), and the descriptor made to
        // grow it is closed (the other tests of this process open only low ones).
        assert!(fd_slots() > wanted, "FDSize {} for {wanted}", fd_slots());
        assert!(highest_open() < wanted, "descriptor {} left open", highest_open());
        // Beyond the limit it stops at the limit, without an error.
        reserve_descriptors(u64::MAX);
        assert!(fd_slots() >= soft.min(1 << 20), "FDSize {} with a limit of {soft}", fd_slots());
    }
}
