//! Child processes: starting a server and waiting until it is ready, draining a child's output, process groups,
//! death signals, and what a reaped child cost.
//!
//! Used by the tests of every package and by the lab: a server is ready when it has printed its
//! `listening on http://HOST:PORT` line — never after a fixed sleep. The child's stderr (the access log, and any
//! panic message) is drained by a thread into a ring buffer so that a failure can quote its tail, and so that a
//! chatty server never blocks on a full pipe.
//!
//! Concurrency idea: a supervisor. A child in a process group of its own ([`isolate`]) is stopped with its own
//! children by one signal to the group ([`signal_group`]), and a terminal's Ctrl-C reaches only the supervisor.
//! A child that asked for a death signal ([`die_with_parent`]) is killed by the kernel when its parent dies, even
//! by SIGKILL, so nothing outlives a killed lab or test.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub use rustix::process::Signal;

/// How many lines of a child's output are kept for error messages.
const TAIL_LINES: usize = 200;

/// The last lines a child printed on one of its pipes, drained by a thread into a ring buffer, so that a
/// failure can quote them and a chatty child never blocks on a full pipe.
#[derive(Clone, Default)]
pub struct OutputTail {
    lines: Arc<Mutex<VecDeque<String>>>,
}

impl OutputTail {
    /// Spawns a thread that reads `stream` line by line until it closes, keeping each line behind `prefix`.
    /// The thread blocks on the pipe.
    pub fn drain(&self, stream: impl Read + Send + 'static, prefix: &'static str) {
        let lines = Arc::clone(&self.lines);
        thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                let mut lines = lines.lock().unwrap();
                if lines.len() == TAIL_LINES {
                    lines.pop_front();
                }
                lines.push_back(format!("{prefix}{line}"));
            }
        });
    }

    /// The last `n` lines, joined.
    pub fn tail(&self, n: usize) -> String {
        let lines = self.lines.lock().unwrap();
        let skip = lines.len().saturating_sub(n);
        lines.iter().skip(skip).cloned().collect::<Vec<_>>().join("\n")
    }

    /// Every line kept so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().iter().cloned().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.lock().unwrap().is_empty()
    }
}

/// A running server process, killed (and reaped) when dropped.
pub struct ServerProcess {
    /// The child itself: kept to signal, wait for and reap it.
    child: Child,
    /// The address from the `listening on` line: with `--port 0` only the server knows its port.
    pub addr: SocketAddr,
    /// The last lines of stderr, for error reports and for tests that look for panics.
    stderr: OutputTail,
    /// Lines printed on stdout after the `listening on` line (normally none).
    stdout_rest: Arc<Mutex<Vec<String>>>,
}

impl ServerProcess {
    /// Spawns `command` with piped stdout/stderr and waits up to `timeout` for its `listening on` line.
    pub fn start(mut command: Command, timeout: Duration) -> io::Result<ServerProcess> {
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn()?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");

        let stderr_tail = OutputTail::default();
        stderr_tail.drain(stderr, "");

        // The first stdout line is the readiness signal; it is read on a thread so that we can time out.
        let (ready_tx, ready_rx) = mpsc::channel();
        let stdout_rest = Arc::new(Mutex::new(Vec::new()));
        let rest = Arc::clone(&stdout_rest);
        thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next();
            let _ = ready_tx.send(first);
            for line in lines.map_while(Result::ok) {
                rest.lock().unwrap().push(line);
            }
        });

        let mut server =
            ServerProcess { child, addr: SocketAddr::from(([127, 0, 0, 1], 0)), stderr: stderr_tail, stdout_rest };
        let deadline = Instant::now() + timeout;
        let first = loop {
            match ready_rx.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => break line,
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                    if let Ok(Some(status)) = server.child.try_wait() {
                        return Err(server.startup_error(&format!("exited with {status} before listening")));
                    }
                }
                Err(_) => return Err(server.startup_error("did not print `listening on` in time")),
            }
        };
        let line = match first {
            Some(Ok(line)) => line,
            _ => return Err(server.startup_error("closed stdout before listening")),
        };
        server.addr = parse_listening_line(&line).ok_or_else(|| {
            server.startup_error(&format!("printed {line:?} instead of `listening on http://HOST:PORT`"))
        })?;
        Ok(server)
    }

    fn startup_error(&mut self, what: &str) -> io::Error {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Give the stderr thread a moment to drain what the child wrote before it died.
        let deadline = Instant::now() + Duration::from_millis(200);
        while Instant::now() < deadline && self.stderr.is_empty() {
            thread::sleep(Duration::from_millis(10));
        }
        io::Error::other(format!("server {what}; stderr tail:\n{}", self.stderr_tail(20)))
    }

    /// `http://ADDR{path}`, for building request URLs.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last `lines` lines the server wrote on stderr.
    pub fn stderr_tail(&self, lines: usize) -> String {
        self.stderr.tail(lines)
    }

    /// Every stderr line kept so far (up to the last 200).
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lines()
    }

    /// Lines the server printed on stdout after its `listening on` line.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout_rest.lock().unwrap().clone()
    }

    /// `Some(status)` once the process has exited.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// Sends signal number `signal` (e.g. `libc::SIGTERM`) to the server; an unknown number is ignored.
    pub fn signal(&self, signal: i32) {
        // The pid is our own unreaped child, so it cannot have been reused.
        if let Some(signal) = Signal::from_named_raw(signal) {
            signal_process(self.child.id(), signal);
        }
    }

    /// SIGTERM, then up to `grace` for a clean exit, then SIGKILL. Returns how it ended.
    pub fn stop(&mut self, grace: Duration) -> io::Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        signal_process(self.child.id(), Signal::TERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            thread::sleep(Duration::from_millis(10));
        }
        self.child.kill()?;
        self.child.wait()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Parses `listening on http://127.0.0.1:8888` into its address.
pub fn parse_listening_line(line: &str) -> Option<SocketAddr> {
    let rest = line.trim().strip_prefix("listening on http://")?;
    let hostport = rest.trim_end_matches('/');
    if let Ok(addr) = hostport.parse() {
        return Some(addr);
    }
    // A host name (`localhost:8888`): resolve it.
    use std::net::ToSocketAddrs;
    hostport.to_socket_addrs().ok()?.next()
}

/// Puts the child in a new process group (see [`signal_group`]) and asks the kernel to SIGKILL it when this
/// process dies ([`die_with_parent`]).
pub fn isolate(command: &mut Command) {
    command.process_group(0);
    die_with_parent(command);
}

/// Asks the kernel to SIGKILL the child when this process dies, even by SIGKILL. PR_SET_PDEATHSIG fires when the
/// *thread* that forked the child exits, so spawn such children from a thread that lives as long as they should.
/// If this process dies between the fork and the request, the child would never be killed: it checks its parent
/// once more and fails to start instead (spawn returns the error).
pub fn die_with_parent(command: &mut Command) {
    let parent = rustix::process::getpid();
    // SAFETY: the hook runs in the forked child before exec, where only async-signal-safe calls are allowed:
    // prctl and getppid are plain system calls (rustix makes them without allocating), and the error path builds
    // an io::Error from a raw errno, which does not allocate either.
    unsafe {
        command.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
            if rustix::process::getppid() != Some(parent) {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// The same request made by a process for itself (a worker process started by a supervisor that passes its
/// pid): SIGKILL when the parent dies. Exits at once if the parent `parent` is already gone.
pub fn die_with_parent_now(parent: u32) {
    let _ = rustix::process::set_parent_process_death_signal(Some(Signal::KILL));
    // The parent may have died before the request took effect: then this process was re-parented already.
    if rustix::process::getppid().map(|p| p.as_raw_nonzero().get() as u32) != Some(parent) {
        std::process::exit(1);
    }
}

/// Sends `signal` to process `pid`; a process that is already gone is not an error.
pub fn signal_process(pid: u32, signal: Signal) {
    if let Some(pid) = pid_of(pid) {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

/// Sends `signal` to every process of the group led by `pid` (see [`isolate`]).
pub fn signal_group(pid: u32, signal: Signal) {
    if let Some(pid) = pid_of(pid) {
        let _ = rustix::process::kill_process_group(pid, signal);
    }
}

fn pid_of(pid: u32) -> Option<rustix::process::Pid> {
    rustix::process::Pid::from_raw(i32::try_from(pid).ok()?)
}

/// CPU time and context switches, as the kernel accounts them (getrusage).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    pub user_s: f64,
    pub sys_s: f64,
    pub voluntary_ctxt: u64,
    pub nonvoluntary_ctxt: u64,
    /// Peak resident set size, KiB (for [`Usage::own`]; for [`Usage::children`] the largest child's).
    pub max_rss_kib: u64,
}

impl Usage {
    /// getrusage(RUSAGE_SELF): this process so far, all its threads.
    pub fn own() -> Usage {
        rusage(libc::RUSAGE_SELF)
    }

    /// getrusage(RUSAGE_CHILDREN): the totals of every child this process has reaped so far (and of the children
    /// they reaped).
    pub fn children() -> Usage {
        rusage(libc::RUSAGE_CHILDREN)
    }

    pub fn since(self, before: Usage) -> Usage {
        Usage {
            user_s: (self.user_s - before.user_s).max(0.0),
            sys_s: (self.sys_s - before.sys_s).max(0.0),
            voluntary_ctxt: self.voluntary_ctxt.saturating_sub(before.voluntary_ctxt),
            nonvoluntary_ctxt: self.nonvoluntary_ctxt.saturating_sub(before.nonvoluntary_ctxt),
            max_rss_kib: self.max_rss_kib,
        }
    }
}

fn rusage(who: libc::c_int) -> Usage {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: rustix has no getrusage. getrusage(2) only writes the struct behind the pointer, which is valid,
    // aligned and zero-initialised (a valid `rusage`), so it is initialised whether or not the call succeeds.
    let ru = unsafe {
        libc::getrusage(who, ru.as_mut_ptr());
        ru.assume_init()
    };
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    Usage {
        user_s: secs(ru.ru_utime),
        sys_s: secs(ru.ru_stime),
        voluntary_ctxt: ru.ru_nvcsw as u64,
        nonvoluntary_ctxt: ru.ru_nivcsw as u64,
        // Linux reports ru_maxrss in KiB.
        max_rss_kib: u64::try_from(ru.ru_maxrss).unwrap_or(0),
    }
}

/// Runs `reap` (a wait on exactly one child) and returns what that child cost, read from RUSAGE_CHILDREN around
/// it. Exact only while no other thread of this process reaps children meanwhile.
pub fn reaping<T>(reap: impl FnOnce() -> T) -> (T, Usage) {
    let before = Usage::children();
    let result = reap();
    (result, Usage::children().since(before))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listening_lines() {
        assert_eq!(parse_listening_line("listening on http://127.0.0.1:8888"), Some("127.0.0.1:8888".parse().unwrap()));
        assert_eq!(parse_listening_line("listening on http://[::1]:80/"), Some("[::1]:80".parse().unwrap()));
        assert_eq!(parse_listening_line("ready"), None);
    }

    #[test]
    fn reaping_measures_one_child() {
        // A child that burns CPU for a moment: its user time shows up in RUSAGE_CHILDREN once reaped, not before.
        let mut child =
            Command::new("sh").args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"]).spawn().unwrap();
        let (status, usage) = reaping(|| child.wait().unwrap());
        assert!(status.success());
        assert!(usage.user_s + usage.sys_s > 0.0, "{usage:?}");
    }

    #[test]
    fn group_signal_stops_grandchildren() {
        // sh forks a sleep; SIGKILL to the group takes both, so the pipe closes at once.
        let mut command = Command::new("sh");
        command.args(["-c", "sleep 30 & wait"]).stdout(Stdio::piped());
        isolate(&mut command);
        let mut child = command.spawn().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let started = Instant::now();
        signal_group(child.id(), Signal::KILL);
        let mut rest = Vec::new();
        // Blocks until every holder of the pipe (sh and its sleep) is gone.
        let _ = stdout.read_to_end(&mut rest);
        let _ = child.wait();
        assert!(started.elapsed() < Duration::from_secs(10), "the grandchild survived the group signal");
    }

    #[test]
    fn output_tail_keeps_the_last_lines() {
        let tail = OutputTail::default();
        let text: String = (0..300).map(|i| format!("line {i}\n")).collect();
        tail.drain(std::io::Cursor::new(text.into_bytes()), "> ");
        let deadline = Instant::now() + Duration::from_secs(5);
        while tail.lines().last().is_none_or(|l| l != "> line 299") && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(tail.lines().len(), TAIL_LINES);
        assert_eq!(tail.tail(2), "> line 298\n> line 299");
    }
}
