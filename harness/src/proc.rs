//! Reading a process from `/proc`: memory (RSS and its peak), threads, CPU time, context switches, and the
//! process tree below it (a server with worker processes, a foreign server behind `sh -c`).

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read};

/// This process's thread count, read into `status` (reused between samples: /proc files report no size, so a
/// fresh String would grow through several small reads each time).
pub fn own_thread_count(status: &mut String) -> io::Result<u64> {
    status.clear();
    fs::File::open("/proc/self/status")?.read_to_string(status)?;
    status_field(status, "Threads:").ok_or_else(|| io::Error::other("no Threads: line in /proc/self/status"))
}

/// One look at a process (or, from [`ProcSample::read_tree`], the sum over a process tree).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcSample {
    /// Resident set size now (`VmRSS`), KiB.
    pub rss_kib: u64,
    /// Peak resident set size so far (`VmHWM`), KiB.
    pub hwm_kib: u64,
    /// OS threads now.
    pub threads: u64,
    /// CPU time in user mode so far, seconds.
    pub utime_s: f64,
    /// CPU time in the kernel so far, seconds.
    pub stime_s: f64,
    /// Times a thread gave up the CPU because it blocked (I/O, sleep, lock).
    pub voluntary_ctxt_switches: u64,
    /// Times a thread was preempted: more runnable threads than cores.
    pub nonvoluntary_ctxt_switches: u64,
    /// How many processes were added up (1 for [`ProcSample::read`]).
    pub processes: u64,
}

impl ProcSample {
    /// Reads `/proc/PID/status` and `/proc/PID/stat`.
    pub fn read(pid: u32) -> io::Result<ProcSample> {
        let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
        let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
        let stat = StatFields::parse(&stat)?;
        let field = |name: &str| {
            status_field(&status, name).ok_or_else(|| io::Error::other(format!("no {name} line in /proc/{pid}/status")))
        };
        let ticks = clock_ticks_per_second();
        Ok(ProcSample {
            // Kernel threads and zombies have no VmRSS line: they use no user memory.
            rss_kib: status_field(&status, "VmRSS:").unwrap_or(0),
            hwm_kib: status_field(&status, "VmHWM:").unwrap_or(0),
            threads: field("Threads:")?,
            utime_s: stat.utime_ticks as f64 / ticks,
            stime_s: stat.stime_ticks as f64 / ticks,
            voluntary_ctxt_switches: field("voluntary_ctxt_switches:")?,
            nonvoluntary_ctxt_switches: field("nonvoluntary_ctxt_switches:")?,
            processes: 1,
        })
    }

    /// The sum over `pid` and all its descendants (a server started with `--processes` and its workers).
    /// Descendants that exit while being read are skipped; `pid` itself must be readable.
    pub fn read_tree(pid: u32) -> io::Result<ProcSample> {
        let mut total = ProcSample::read(pid)?;
        for child in descendants(pid) {
            if let Ok(sample) = ProcSample::read(child) {
                total.add(&sample);
            }
        }
        Ok(total)
    }

    /// Adds another sample (field by field; `hwm_kib` becomes the sum of the peaks, an upper bound).
    pub fn add(&mut self, other: &ProcSample) {
        self.rss_kib += other.rss_kib;
        self.hwm_kib += other.hwm_kib;
        self.threads += other.threads;
        self.utime_s += other.utime_s;
        self.stime_s += other.stime_s;
        self.voluntary_ctxt_switches += other.voluntary_ctxt_switches;
        self.nonvoluntary_ctxt_switches += other.nonvoluntary_ctxt_switches;
        self.processes += other.processes;
    }
}

/// Every live process and its parent, from one scan of `/proc/*/stat`: one file per process, however many
/// threads a server has (`/proc/PID/task/*/children` is one file per thread — 15,000 of them for a busy
/// thread-server).
fn parent_links() -> Vec<(u32, u32)> {
    let Ok(entries) = fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            Some((pid, StatFields::parse(&stat).ok()?.ppid))
        })
        .collect()
}

/// The direct children of `pid`.
pub fn children(pid: u32) -> Vec<u32> {
    parent_links().into_iter().filter(|&(_, ppid)| ppid == pid).map(|(child, _)| child).collect()
}

/// Every descendant of `pid` (children, grandchildren, …), each once, from one scan of /proc.
pub fn descendants(pid: u32) -> Vec<u32> {
    let links = parent_links();
    let mut seen = HashSet::from([pid]);
    let mut found = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for &(child, _) in links.iter().filter(|&&(_, ppid)| ppid == parent) {
            if seen.insert(child) {
                found.push(child);
                frontier.push(child);
            }
        }
    }
    found
}

/// The fields of `/proc/PID/stat` we use.
struct StatFields {
    ppid: u32,
    utime_ticks: u64,
    stime_ticks: u64,
}

impl StatFields {
    fn parse(stat: &str) -> io::Result<StatFields> {
        let bad = || io::Error::new(io::ErrorKind::InvalidData, "malformed /proc/PID/stat");
        // The command name (field 2) is in parentheses and may itself contain spaces and ')': skip to the last ')'.
        let rest = &stat[stat.rfind(')').ok_or_else(bad)? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // `rest` starts at field 3 (state): field N is at index N - 3.
        let get = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok()).ok_or_else(bad);
        Ok(StatFields {
            ppid: u32::try_from(get(4)?).map_err(|_| bad())?,
            utime_ticks: get(14)?,
            stime_ticks: get(15)?,
        })
    }
}

/// Reads a `Name:   value [kB]` line of `/proc/PID/status` as a number.
pub fn status_field(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|value| value.parse().ok())
}

fn clock_ticks_per_second() -> f64 {
    match rustix::param::clock_ticks_per_second() {
        0 => 100.0,
        ticks => ticks as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn reads_own_process() {
        let sample = ProcSample::read(std::process::id()).unwrap();
        assert!(sample.rss_kib > 0 && sample.hwm_kib >= sample.rss_kib);
        assert!(sample.threads >= 1);
        assert_eq!(sample.processes, 1);
    }

    #[test]
    fn tree_includes_children() {
        let mut sleepers: Vec<_> =
            (0..2).map(|_| Command::new("sleep").arg("5").stdout(Stdio::null()).spawn().unwrap()).collect();
        let me = std::process::id();
        let kids = descendants(me);
        for sleeper in &sleepers {
            assert!(kids.contains(&sleeper.id()), "{kids:?} lacks {}", sleeper.id());
        }
        let tree = ProcSample::read_tree(me).unwrap();
        assert!(tree.processes >= 3, "{tree:?}");
        for sleeper in &mut sleepers {
            let _ = sleeper.kill();
            let _ = sleeper.wait();
        }
    }

    #[test]
    fn stat_parsing_survives_odd_command_names() {
        let line = "42 (a b) c)) S 7 42 42 0 -1 4194304 100 0 0 0 250 125 0 0 20 0 3 0 1 2 3";
        let stat = StatFields::parse(line).unwrap();
        assert_eq!((stat.ppid, stat.utime_ticks, stat.stime_ticks), (7, 250, 125));
    }
}
