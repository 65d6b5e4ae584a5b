//! Starting a server binary as a child process and waiting until it is ready.
//!
//! Used by the tests of every package and by the lab: a server is ready when it has printed its
//! `listening on http://HOST:PORT` line — never after a fixed sleep. The child's stderr (the access log, and any
//! panic message) is drained by a thread into a ring buffer so that a failure can quote its tail, and so that a
//! chatty server never blocks on a full pipe.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

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

    /// Sends `signal` (e.g. `libc::SIGTERM`) to the server.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is our own unreaped child.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, signal);
        }
    }

    /// SIGTERM, then up to `grace` for a clean exit, then SIGKILL. Returns how it ended.
    pub fn stop(&mut self, grace: Duration) -> io::Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        self.signal(libc::SIGTERM);
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

/// Where a binary of this workspace lives, for tests: next to the running test executable
/// (`target/<profile>/deps/test-…` → `target/<profile>/NAME`). Builds it with cargo if it is missing,
/// so that `cargo test -p clients` works without building `servers` first.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().expect("exe has a directory").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    if !path.exists() {
        let release = dir.ends_with("release");
        let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cargo.args(["build", "--quiet", "--bins", "--workspace"]);
        if release {
            cargo.arg("--release");
        }
        let status = cargo.status().expect("run cargo build");
        assert!(status.success(), "cargo build of {name} failed");
    }
    assert!(path.exists(), "{} not found after build", path.display());
    path
}
