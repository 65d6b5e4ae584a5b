//! Everything the lab, the clients and the servers' tests read from `/proc`, in this one module: a process
//! (memory, threads, CPU time, context switches) and the process tree below it, the machine's memory and CPU
//! time, its TCP counters and sockets, and the kernel limits that cap a cell.
//!
//! Built on the `procfs` crate wherever it has the table: `/proc/PID/stat` and `/proc/PID/status`, the process
//! list, `/proc/meminfo`, `/proc/stat`, `/proc/loadavg`, `/proc/cpuinfo`, `/proc/net/snmp`, and the sysctls it
//! names (`kernel.pid_max`, `kernel.threads-max`, `vm.max_map_count`). Read by hand here, because procfs lacks
//! them: `/proc/net/netstat` (the `TcpExt` counters), `/proc/net/sockstat` (sockets in TIME_WAIT), the listening
//! part of `/proc/net/tcp{,6}` (procfs reads the whole table, which a sampler must not: see
//! [`listening_sockets`]), and one-value sysctls procfs does not name (`net.core.somaxconn`,
//! `net.ipv4.ip_local_port_range`, `fs.nr_open`, `kernel.osrelease`, `kernel.hostname`).
//!
//! Nothing here blocks for long: each function reads a few pseudo-files, which the kernel generates as they are
//! read. The samplers that call them in a loop (the lab's cost and accept-queue samplers, the clients' thread
//! sampler) run on threads of their own.

use procfs::{Current, CurrentSI, ProcError};
use std::collections::HashSet;
use std::io::{self, BufRead};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// procfs's error as an `io::Error`, keeping "not found" (a process that exited) recognisable.
fn io_error(error: ProcError) -> io::Error {
    match error {
        ProcError::NotFound(_) => io::Error::new(io::ErrorKind::NotFound, error),
        ProcError::PermissionDenied(_) => io::Error::new(io::ErrorKind::PermissionDenied, error),
        ProcError::Io(error, _) => error,
        other => io::Error::new(io::ErrorKind::InvalidData, other),
    }
}

/// This process's thread count (`num_threads` of `/proc/self/stat`).
pub fn own_thread_count() -> io::Result<u64> {
    let stat = procfs::process::Process::myself().and_then(|me| me.stat()).map_err(io_error)?;
    Ok(stat.num_threads.max(0) as u64)
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
        let process = procfs::process::Process::new(pid as i32).map_err(io_error)?;
        let status = process.status().map_err(io_error)?;
        let stat = process.stat().map_err(io_error)?;
        let missing = |name: &str| io::Error::other(format!("no {name} line in /proc/{pid}/status"));
        let ticks = clock_ticks_per_second();
        Ok(ProcSample {
            // Kernel threads and zombies have no VmRSS line: they use no user memory.
            rss_kib: status.vmrss.unwrap_or(0),
            hwm_kib: status.vmhwm.unwrap_or(0),
            threads: status.threads,
            utime_s: stat.utime as f64 / ticks,
            stime_s: stat.stime as f64 / ticks,
            voluntary_ctxt_switches: status
                .voluntary_ctxt_switches
                .ok_or_else(|| missing("voluntary_ctxt_switches:"))?,
            nonvoluntary_ctxt_switches: status
                .nonvoluntary_ctxt_switches
                .ok_or_else(|| missing("nonvoluntary_ctxt_switches:"))?,
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

    /// The sum over those of `pids` still alive (a tree found earlier by [`tree`]: finding it is the costly
    /// part, so a sampler reuses it between scans); `None` when none is.
    pub fn read_pids(pids: &[u32]) -> Option<ProcSample> {
        let mut total: Option<ProcSample> = None;
        for sample in pids.iter().filter_map(|&pid| ProcSample::read(pid).ok()) {
            total.get_or_insert_with(ProcSample::default).add(&sample);
        }
        total
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
    let Ok(processes) = procfs::process::all_processes() else { return Vec::new() };
    processes
        .filter_map(|process| {
            // A process that exits between the listing and the read is skipped.
            let stat = process.ok()?.stat().ok()?;
            Some((u32::try_from(stat.pid).ok()?, u32::try_from(stat.ppid).ok()?))
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

/// `root` and all its descendants (a server started with `--processes` and its workers).
pub fn tree(root: u32) -> Vec<u32> {
    std::iter::once(root).chain(descendants(root)).collect()
}

fn clock_ticks_per_second() -> f64 {
    match procfs::ticks_per_second() {
        0 => 100.0,
        ticks => ticks as f64,
    }
}

/// The machine's memory figures the lab records, KiB (`/proc/meminfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meminfo {
    /// `MemTotal`.
    pub total_kib: u64,
    /// `KernelStack`: the kernel stacks of every thread (absent on kernels before 2.6.32).
    pub kernel_stack_kib: Option<u64>,
    /// `Slab`: the kernel's object caches (sockets, task structures, inodes, …).
    pub slab_kib: u64,
}

/// `/proc/meminfo` now; `None` where it cannot be read.
pub fn meminfo() -> Option<Meminfo> {
    let meminfo = procfs::Meminfo::current().ok()?;
    // procfs gives bytes (it multiplies the kernel's kB by 1024).
    Some(Meminfo {
        total_kib: meminfo.mem_total / 1024,
        kernel_stack_kib: meminfo.kernel_stack.map(|bytes| bytes / 1024),
        slab_kib: meminfo.slab / 1024,
    })
}

/// All CPUs' time since boot in clock ticks (the `cpu` line of `/proc/stat`): busy and in total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTicks {
    /// Every state but idle and iowait.
    pub busy: u64,
    /// user, nice, system, idle, iowait, irq, softirq and steal (guest time is inside user and nice already).
    pub total: u64,
}

/// `/proc/stat`'s `cpu` line now; `None` where it cannot be read.
pub fn cpu_ticks() -> Option<CpuTicks> {
    let cpu = procfs::KernelStats::current().ok()?.total;
    let optional = |ticks: Option<u64>| ticks.unwrap_or(0);
    let idle = cpu.idle + optional(cpu.iowait);
    let total =
        cpu.user + cpu.nice + cpu.system + idle + optional(cpu.irq) + optional(cpu.softirq) + optional(cpu.steal);
    Some(CpuTicks { busy: total.saturating_sub(idle), total })
}

/// The 1-, 5- and 15-minute load averages (`/proc/loadavg`); `None` where it cannot be read.
pub fn load_average() -> Option<[f64; 3]> {
    let load = procfs::LoadAverage::current().ok()?;
    // procfs parses them as f32; the kernel prints two decimals, which f32's shortest form gives back exactly,
    // so the f64 recorded is the one the file shows (0.52, not 0.519999980926).
    let exact = |value: f32| value.to_string().parse::<f64>().unwrap_or(value as f64);
    Some([exact(load.one), exact(load.five), exact(load.fifteen)])
}

/// A field of the first CPU in `/proc/cpuinfo` (`model name`, `microcode`, …); `None` where absent.
pub fn cpu_field(name: &str) -> Option<String> {
    procfs::CpuInfo::current().ok()?.get_field(0, name).map(str::to_string)
}

/// The TCP counters of this network namespace that tell where connection setup went wrong (see the lab's
/// `kernel` module for what each means): `TcpExt` of `/proc/net/netstat` and `Tcp` of `/proc/net/snmp`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpCounts {
    pub listen_overflows: u64,
    pub listen_drops: u64,
    pub syn_retrans: u64,
    pub syncookies_sent: u64,
    pub attempt_fails: u64,
    pub active_opens: u64,
    pub passive_opens: u64,
}

/// The counters now; zeros for any the kernel does not expose.
pub fn tcp_counters() -> TcpCounts {
    let netstat = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let ext = |name| netstat_counter(&netstat, "TcpExt:", name);
    let snmp = procfs::net::snmp().ok();
    let tcp = |value: fn(&procfs::net::Snmp) -> u64| snmp.as_ref().map_or(0, value);
    TcpCounts {
        listen_overflows: ext("ListenOverflows"),
        listen_drops: ext("ListenDrops"),
        syn_retrans: ext("TCPSynRetrans"),
        syncookies_sent: ext("SyncookiesSent"),
        attempt_fails: tcp(|s| s.tcp_attempt_fails),
        active_opens: tcp(|s| s.tcp_active_opens),
        passive_opens: tcp(|s| s.tcp_passive_opens),
    }
}

/// The value of `name` in the first `prefix` section of a `/proc/net/netstat` text, a pair of lines (names,
/// then values); 0 when absent.
fn netstat_counter(text: &str, prefix: &str, name: &str) -> u64 {
    let mut lines = text.lines().filter(|l| l.starts_with(prefix));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else { return 0 };
    names
        .split_whitespace()
        .position(|n| n == name)
        .and_then(|i| values.split_whitespace().nth(i))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// TCP sockets in TIME_WAIT now, machine-wide (`tw` of the `TCP:` line of `/proc/net/sockstat`); 0 when
/// unreadable.
pub fn time_wait_sockets() -> u64 {
    parse_time_wait(&std::fs::read_to_string("/proc/net/sockstat").unwrap_or_default())
}

fn parse_time_wait(sockstat: &str) -> u64 {
    let Some(tcp) = sockstat.lines().find(|l| l.starts_with("TCP:")) else { return 0 };
    let fields: Vec<&str> = tcp.split_whitespace().collect();
    fields.windows(2).find(|w| w[0] == "tw").and_then(|w| w[1].parse().ok()).unwrap_or(0)
}

/// `st` of a listening socket in `/proc/net/tcp` (the kernel's `TCP_LISTEN`).
pub const TCP_LISTEN: u8 = 0x0A;
/// `st` of an established connection (`TCP_ESTABLISHED`).
pub const TCP_ESTABLISHED: u8 = 0x01;

/// One row of `/proc/net/tcp` or `/proc/net/tcp6` (proc(5)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRow {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// The socket's state: [`TCP_LISTEN`], [`TCP_ESTABLISHED`], ...
    pub state: u8,
    pub tx_queue: u64,
    /// Bytes received and not yet read; for a listening socket, the connections waiting in its accept queue.
    pub rx_queue: u64,
}

/// The rows of one `/proc/net/tcp{,6}` text (its header line and any malformed row skipped).
pub fn tcp_rows(table: &str) -> impl Iterator<Item = TcpRow> + '_ {
    table.lines().skip(1).filter_map(tcp_row)
}

fn tcp_row(line: &str) -> Option<TcpRow> {
    let mut fields = line.split_whitespace();
    let (_slot, local, remote, state, queues) =
        (fields.next()?, fields.next()?, fields.next()?, fields.next()?, fields.next()?);
    let (tx, rx) = queues.split_once(':')?;
    Some(TcpRow {
        local: table_addr(local)?,
        remote: table_addr(remote)?,
        state: u8::from_str_radix(state, 16).ok()?,
        tx_queue: u64::from_str_radix(tx, 16).ok()?,
        rx_queue: u64::from_str_radix(rx, 16).ok()?,
    })
}

/// The listening sockets of `ip`'s address family now — `/proc/net/tcp` for IPv4, `/proc/net/tcp6` for IPv6 —
/// read only as far as the kernel lists them. It prints every listening socket before any other
/// (`tcp_get_idx` walks the listening hash, then the established one: net/ipv4/tcp_ipv4.c), and generates the
/// file as it is read, so the read stops at the first row in another state. The whole table is no sampler's
/// business during a burst: with 20,000 connections open and 80,000 more in TIME_WAIT it is 12 MB of text and
/// about 90 ms of CPU to generate; the listening part is a page (results/experiments/burst-timeline.txt).
/// This early stop is why the table is read here and not with procfs, which reads it whole.
///
/// One family only, because the two files walk one established hash: when every connection is IPv4, the
/// first page of `/proc/net/tcp6` finds no row after the listeners and walks all of it — 2.7 ms of CPU with
/// 90,000 sockets in TIME_WAIT, which at a sample every 5 ms took a third of a core from the burst it watched
/// (results/experiments/queue-sampler-tcp6.txt).
pub fn listening_sockets(ip: IpAddr) -> Vec<TcpRow> {
    let mut rows = Vec::new();
    let path = if ip.is_ipv4() { "/proc/net/tcp" } else { "/proc/net/tcp6" };
    let Ok(file) = std::fs::File::open(path) else { return rows };
    for line in io::BufReader::new(file).lines().skip(1) {
        let Ok(line) = line else { break };
        match tcp_row(&line) {
            Some(row) if row.state == TCP_LISTEN => rows.push(row),
            _ => break,
        }
    }
    rows
}

/// `HEXIP:HEXPORT` as the table prints it: the address as the in-memory 32-bit words, in host order.
fn table_addr(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let word = |i: usize| u32::from_str_radix(ip.get(8 * i..8 * i + 8)?, 16).ok().map(u32::to_ne_bytes);
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[4 * i..4 * i + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, u16::from_str_radix(port, 16).ok()?))
}

/// The text of `/proc/sys/NAME` (a sysctl, `net/core/somaxconn` for `net.core.somaxconn`), trimmed.
fn sysctl(name: &str) -> Option<String> {
    Some(std::fs::read_to_string(format!("/proc/sys/{name}")).ok()?.trim().to_string())
}

fn sysctl_number(name: &str) -> Option<u64> {
    sysctl(name)?.parse().ok()
}

/// `net.core.somaxconn`: the deepest listen backlog the kernel grants.
pub fn somaxconn() -> Option<u64> {
    sysctl_number("net/core/somaxconn")
}

/// How many local ports `net.ipv4.ip_local_port_range` leaves for outgoing connections.
pub fn ephemeral_ports() -> Option<u64> {
    let range = sysctl("net/ipv4/ip_local_port_range")?;
    let mut parts = range.split_whitespace().map(|p| p.parse::<u64>().ok());
    let (low, high) = (parts.next()??, parts.next()??);
    Some(high.saturating_sub(low) + 1)
}

/// `fs.nr_open`: the most descriptors a process may have, whatever its RLIMIT_NOFILE.
pub fn nr_open() -> Option<u64> {
    sysctl_number("fs/nr_open")
}

/// `kernel.threads-max`: the most threads the whole machine may have.
pub fn threads_max() -> Option<u64> {
    procfs::sys::kernel::threads_max().ok().map(u64::from)
}

/// `kernel.pid_max`: the highest process (and thread) id, so the most of them at once.
pub fn pid_max() -> Option<u64> {
    procfs::sys::kernel::pid_max().ok().and_then(|max| u64::try_from(max).ok())
}

/// `vm.max_map_count`: the most memory mappings a process may have (each thread's stack takes two).
pub fn max_map_count() -> Option<u64> {
    procfs::sys::vm::max_map_count().ok()
}

/// `kernel.osrelease` (`uname -r`); empty when unreadable.
pub fn os_release() -> String {
    sysctl("kernel/osrelease").unwrap_or_default()
}

/// `kernel.hostname`; empty when unreadable.
pub fn hostname() -> String {
    sysctl("kernel/hostname").unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::process::{Command, Stdio};

    #[test]
    fn reads_own_process() {
        let sample = ProcSample::read(std::process::id()).unwrap();
        assert!(sample.rss_kib > 0 && sample.hwm_kib >= sample.rss_kib);
        assert!(sample.threads >= 1);
        assert_eq!(sample.processes, 1);
    }

    #[test]
    fn own_thread_count_sees_the_threads_we_start() {
        let release = std::sync::Barrier::new(11);
        std::thread::scope(|scope| {
            for _ in 0..10 {
                scope.spawn(|| release.wait());
            }
            // Ten parked threads and this one: other tests of this binary may run threads too, never fewer.
            let threads = own_thread_count().unwrap();
            release.wait();
            assert!(threads >= 11, "{threads} threads");
        });
    }

    #[test]
    fn tree_includes_children() {
        let mut sleepers: Vec<_> =
            (0..2).map(|_| Command::new("sleep").arg("5").stdout(Stdio::null()).spawn().unwrap()).collect();
        let me = std::process::id();
        let kids = descendants(me);
        for sleeper in &sleepers {
            assert!(kids.contains(&sleeper.id()), "{kids:?} lacks {}", sleeper.id());
            assert!(children(me).contains(&sleeper.id()));
        }
        let tree_sample = ProcSample::read_tree(me).unwrap();
        assert!(tree_sample.processes >= 3, "{tree_sample:?}");
        let pids = tree(me);
        assert_eq!(pids[0], me);
        let summed = ProcSample::read_pids(&pids).unwrap();
        assert!(summed.processes >= 3 && summed.threads >= 3, "{summed:?}");
        for sleeper in &mut sleepers {
            let _ = sleeper.kill();
            let _ = sleeper.wait();
        }
        // Reaped: gone from /proc, so skipped, and a list of only gone processes reads as nothing.
        let gone: Vec<u32> = sleepers.iter().map(|s| s.id()).collect();
        assert_eq!(ProcSample::read_pids(&gone), None);
        assert_eq!(ProcSample::read(gone[0]).unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn a_command_name_with_spaces_and_parentheses_is_read() {
        // The command name (field 2 of /proc/PID/stat) is in parentheses and may contain spaces and ')': a
        // copy of `sleep` under such a name must still give its parent and its times.
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("a b) c) S 7");
        std::fs::copy(which("sleep"), &odd).unwrap();
        let mut child = Command::new(&odd).arg("5").spawn().unwrap();
        let found = descendants(std::process::id()).contains(&child.id());
        let sample = ProcSample::read(child.id());
        let _ = child.kill();
        let _ = child.wait();
        assert!(found, "the odd-named child is among our descendants");
        let sample = sample.unwrap();
        assert_eq!(sample.threads, 1, "{sample:?}");
    }

    fn which(program: &str) -> std::path::PathBuf {
        let path = std::env::var_os("PATH").unwrap();
        std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| p.is_file()).expect("program on PATH")
    }

    #[test]
    fn machine_figures_are_read() {
        let memory = meminfo().expect("/proc/meminfo");
        assert!(memory.total_kib > memory.slab_kib && memory.slab_kib > 0, "{memory:?}");
        assert!(memory.kernel_stack_kib.is_some_and(|k| k > 0), "{memory:?}");
        // The kernel prints load averages with two decimals (proc(5)), and that is what is recorded.
        for load in load_average().expect("/proc/loadavg") {
            assert!(load >= 0.0 && (load * 100.0).round() / 100.0 == load, "{load}");
        }
        assert!(somaxconn().is_some_and(|n| n > 0));
        assert!(ephemeral_ports().is_some_and(|n| n > 0 && n <= 65_536));
        // The kernel's floor for pid_max is 301 (kernel/pid.c: RESERVED_PIDS + 1).
        assert!(pid_max().is_some_and(|n| n >= 301));
        assert!(threads_max().is_some_and(|n| n > 0) && max_map_count().is_some_and(|n| n > 0));
        assert!(nr_open().is_some_and(|n| n >= 1024));
        assert!(!os_release().is_empty() && !hostname().is_empty());
    }

    /// The value of the first `name: value` line of a /proc text, read by hand: the oracle for procfs's tables.
    fn first_value(text: &str, name: &str) -> Option<String> {
        let line = text.lines().find(|l| l.split(':').next().is_some_and(|key| key.trim() == name))?;
        Some(line.split_once(':')?.1.trim().to_string())
    }

    #[test]
    fn procfs_tables_agree_with_the_files_read_by_hand() {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap();
        assert_eq!(cpu_field("model name"), first_value(&cpuinfo, "model name"));
        assert_eq!(cpu_field("microcode"), first_value(&cpuinfo, "microcode"));
        let text = std::fs::read_to_string("/proc/meminfo").unwrap();
        let kib = |name| first_value(&text, name).and_then(|v| v.trim_end_matches(" kB").parse::<u64>().ok());
        // MemTotal does not move; Slab and KernelStack may between two readings, so only MemTotal is compared.
        assert_eq!(Some(meminfo().unwrap().total_kib), kib("MemTotal"));
    }

    #[test]
    fn a_busy_thread_shows_in_the_machine_cpu_ticks() {
        let before = cpu_ticks().expect("/proc/stat");
        // 300 ms of this thread's CPU (measured by the thread's own clock, so waiting for a core does not count).
        let spent = || ProcSample::read(std::process::id()).map(|s| s.utime_s + s.stime_s).unwrap();
        let start = spent();
        while spent() - start < 0.3 {
            std::hint::black_box((0..10_000u64).sum::<u64>());
        }
        let after = cpu_ticks().unwrap();
        // 0.3 s of CPU is 30 ticks at 100 Hz; the machine counts at least those as busy.
        let ticks = (0.3 * clock_ticks_per_second()) as u64;
        assert!(after.busy >= before.busy + ticks / 2, "{before:?} -> {after:?}");
        assert!(after.total - before.total >= after.busy - before.busy);
    }

    #[test]
    fn tcp_counters_move_with_our_connections() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let before = tcp_counters();
        let connections: Vec<_> =
            (0..5).map(|_| std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap()).collect();
        let after = tcp_counters();
        // Five connects open five connections actively and five passively (the kernel completes the handshake
        // before any accept); other processes can only add.
        assert!(after.active_opens >= before.active_opens + 5, "{before:?} -> {after:?}");
        assert!(after.passive_opens >= before.passive_opens + 5, "{before:?} -> {after:?}");
        drop(connections);
    }

    #[test]
    fn netstat_counters_are_read_by_name_from_their_section() {
        let netstat = "TcpExt: SyncookiesSent ListenOverflows ListenDrops TCPSynRetrans\n\
                       TcpExt: 1 20 22 7\n\
                       IpExt: ListenOverflows\nIpExt: 999\n";
        assert_eq!(netstat_counter(netstat, "TcpExt:", "ListenOverflows"), 20);
        assert_eq!(netstat_counter(netstat, "TcpExt:", "TCPSynRetrans"), 7);
        assert_eq!(netstat_counter(netstat, "IpExt:", "ListenOverflows"), 999);
        assert_eq!(netstat_counter(netstat, "TcpExt:", "Absent"), 0);
        assert_eq!(netstat_counter("", "TcpExt:", "ListenDrops"), 0);
    }

    #[test]
    fn time_wait_sockets_from_sockstat() {
        let text = "sockets: used 54\nTCP: inuse 32 orphan 0 tw 77134 alloc 32 mem 143\nUDP: inuse 0 mem 0\n";
        assert_eq!(parse_time_wait(text), 77_134);
        assert_eq!(parse_time_wait(""), 0);
    }

    #[test]
    fn rows_of_the_kernel_table_read_as_addresses() {
        // proc(5): the address is printed as the kernel's in-memory words; on this little-endian machine
        // 127.0.0.1:8080 reads 0100007F:1F90, and [::1]:80 has its 1 in the last word's low byte.
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt\n\
           0: 0100007F:1F90 0100007F:C350 01 00000002:00000005 00:00000000 00000000\n\
           1: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000009 00:0\n\
           2: garbage\n";
        let rows: Vec<TcpRow> = tcp_rows(table).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].local, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(rows[0].remote, "127.0.0.1:50000".parse().unwrap());
        assert_eq!((rows[0].state, rows[0].tx_queue, rows[0].rx_queue), (TCP_ESTABLISHED, 2, 5));
        assert_eq!(rows[1].local, "[::1]:80".parse().unwrap());
        assert_eq!((rows[1].state, rows[1].rx_queue), (TCP_LISTEN, 9));
    }

    #[test]
    fn the_kernel_lists_listeners_first_and_the_early_stop_finds_them() {
        // A listener with two connections nobody accepts (its accept queue: 2), and those connections'
        // established ends in the same table.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _a = std::net::TcpStream::connect(addr).unwrap();
        let _b = std::net::TcpStream::connect(addr).unwrap();
        // The rule the early stop relies on, checked on a whole read of the table: no listening row after a
        // row in another state.
        let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
        let states: Vec<u8> = tcp_rows(&table).map(|r| r.state).collect();
        let first_other = states.iter().position(|&s| s != TCP_LISTEN).expect("our connections are in the table");
        assert!(!states[first_other..].contains(&TCP_LISTEN), "a listening row after another state: {states:?}");
        let ours: Vec<TcpRow> = listening_sockets(addr.ip()).into_iter().filter(|r| r.local == addr).collect();
        assert_eq!(ours.len(), 1, "{ours:?}");
        assert_eq!(ours[0].rx_queue, 2);
        assert!(listening_sockets(addr.ip()).iter().all(|r| r.state == TCP_LISTEN));
    }
}
