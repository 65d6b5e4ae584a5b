//! The lab's child processes: servers (its own and foreign ones) and clients, each in a process group of its own.
//!
//! Concurrency idea: the lab is a supervisor. Every child gets its own process group, so that one signal to the
//! group stops a server together with any worker processes it forked (or, for a foreign server started through
//! `sh -c`, the real server behind the shell), and so that a Ctrl-C in the terminal reaches only the lab, which
//! then stops its children in order and writes what it measured. Children also get PR_SET_PDEATHSIG, so that a
//! lab killed outright (SIGKILL) does not leave them running.
//!
//! Costs come from the kernel's own accounting: when a child is reaped, its CPU time and context switches (all
//! threads, and all children it reaped) are added to the lab's RUSAGE_CHILDREN. Reading that before and after
//! reaping one child gives the child's exact totals; this works because only the lab's main thread ever reaps.

use crate::plan::ServerSpec;
pub use harness::process::{isolate, reaping, signal_group, OutputTail, Signal, Usage};
use harness::process::{parse_listening_line, ServerProcess};
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// A free port on 127.0.0.1, for servers that cannot report the port they bound themselves.
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Where a foreign server says it listens, if it printed a `listening on` line on stdout.
fn find_listening(output: &OutputTail) -> Option<SocketAddr> {
    output.lines().iter().find_map(|l| parse_listening_line(l.trim_start_matches("stdout: ")))
}

/// Why a server did not start, with the tail of what it printed.
#[derive(Debug, Clone)]
pub struct StartError {
    pub message: String,
    pub stderr_tail: String,
}

/// A running server: one of the lab's (ready when it prints `listening on`) or a foreign one (ready when it
/// prints `listening on` or answers on `/health`). Its whole process group is stopped on [`Server::stop`] or drop.
pub struct Server {
    inner: Inner,
    pub addr: SocketAddr,
    /// The process group (= the first process's pid), signalled as a whole.
    pgid: u32,
    stopped: bool,
}

enum Inner {
    Builtin(ServerProcess),
    Foreign {
        child: Child,
        output: OutputTail,
    },
    /// A `--target`: no process of the lab's, so nothing to poll, signal or stop (its `pgid` is 0, which
    /// [`signal_group`] ignores, and it is born `stopped`). Its URLs keep the host name it was given.
    Remote {
        origin: String,
    },
}

/// How long a `--target` may take to answer its first request, at most. The lab starts nothing there: a target
/// that is running answers at once, and one that is not will not start while the lab waits (a start timeout is
/// for a process the lab has just launched).
const REMOTE_READY: Duration = Duration::from_secs(3);

/// pool-server's workers in the matrix: a pool sized for blocking I/O, as one would deploy it, rather than its
/// default of one per CPU (which would make every io cell a lesson about a 2-thread pool). The model takes the
/// size from the server's `/health`, so predictions follow whatever is set here.
const POOL_SERVER_THREADS: &str = "16";

impl Server {
    /// Starts `spec` and waits until it is ready, or fails with the reason and its stderr tail.
    pub fn start(spec: &ServerSpec, bin_dir: &Path, db_path: &Path, timeout: Duration) -> Result<Server, StartError> {
        Server::start_on(spec, bin_dir, db_path, timeout, None, None)
    }

    /// [`Server::start`] with the server (and every thread and process it starts) pinned to `cpus`, and one of
    /// the lab's servers given `threads` executor or loop threads (None: one per CPU it runs on; see
    /// [`Server::builtin_flags`]).
    pub fn start_on(
        spec: &ServerSpec,
        bin_dir: &Path,
        db_path: &Path,
        timeout: Duration,
        cpus: Option<&[usize]>,
        threads: Option<u64>,
    ) -> Result<Server, StartError> {
        match spec {
            ServerSpec::Builtin(name) => {
                let extra = Server::builtin_flags(name, threads, cpus);
                let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
                Server::start_builtin_on(name, bin_dir, db_path, &extra, timeout, cpus)
            }
            ServerSpec::Foreign { command, .. } => Server::start_foreign(command, timeout, cpus),
            // Placement applies to the lab's own children only: the client's CPUs are still set by the caller.
            ServerSpec::Remote { origin, .. } => Server::remote(origin, timeout.min(REMOTE_READY)),
        }
    }

    /// A server the lab does not start, at `origin` (`http://HOST:PORT`): ready when it answers any HTTP
    /// request within `timeout`. Its name is resolved once; `addr` is the first address it resolves to.
    fn remote(origin: &str, timeout: Duration) -> Result<Server, StartError> {
        let fail = |message: String| StartError { message, stderr_tail: String::new() };
        let host_port = origin.trim_start_matches("http://");
        let addr = std::net::ToSocketAddrs::to_socket_addrs(host_port)
            .map_err(|e| fail(format!("cannot resolve {host_port}: {e}")))?
            .next()
            .ok_or_else(|| fail(format!("{host_port} resolves to no address")))?;
        let server = Server { addr, inner: Inner::Remote { origin: origin.to_string() }, pgid: 0, stopped: true };
        let deadline = Instant::now() + timeout;
        // Polling: a remote server can only say it is ready by answering.
        while !crate::http::answers(addr, "/") {
            if Instant::now() >= deadline {
                return Err(fail(format!("{origin} did not answer an HTTP request within {timeout:?}")));
            }
            thread::sleep(Duration::from_millis(100));
        }
        Ok(server)
    }

    /// The flags the lab adds to one of its servers, after `--host`, `--port`, `--quiet`, `--db`: the size of
    /// its executor, set explicitly so that the record, the model and the labels all read one figure. A server
    /// that sizes itself from `available_parallelism()` would otherwise follow its CPU mask silently (pinned to
    /// one CPU, one executor thread). `threads` (the lab's `--threads`) wins; else one per CPU of `cpus` (or of
    /// the lab's own set when not pinned). thread-server has no fixed number; pool-server's pool is sized for
    /// blocking I/O (`POOL_SERVER_THREADS`) whatever its CPUs.
    pub fn builtin_flags(name: &str, threads: Option<u64>, cpus: Option<&[usize]>) -> Vec<String> {
        let per_cpu = || cpus.map_or_else(|| harness::process::allowed_cpus().len(), <[usize]>::len).max(1) as u64;
        match name {
            "thread-server" => vec![],
            "pool-server" => vec!["--threads".into(), POOL_SERVER_THREADS.into()],
            _ => vec!["--threads".into(), threads.unwrap_or_else(per_cpu).to_string()],
        }
    }

    /// One of the lab's servers, with `extra` arguments after the usual ones (`lab bench` adds `--threads 1`).
    pub fn start_builtin(
        name: &str,
        bin_dir: &Path,
        db_path: &Path,
        extra: &[&str],
        timeout: Duration,
    ) -> Result<Server, StartError> {
        Server::start_builtin_on(name, bin_dir, db_path, extra, timeout, None)
    }

    fn start_builtin_on(
        name: &str,
        bin_dir: &Path,
        db_path: &Path,
        extra: &[&str],
        timeout: Duration,
        cpus: Option<&[usize]>,
    ) -> Result<Server, StartError> {
        let binary = bin_dir.join(name);
        if !binary.exists() {
            return Err(StartError {
                message: format!("binary {} not found", binary.display()),
                stderr_tail: String::new(),
            });
        }
        let mut command = Command::new(&binary);
        command.args(["--host", "127.0.0.1", "--port", "0", "--quiet", "--db"]).arg(db_path).args(extra);
        isolate(&mut command);
        if let Some(cpus) = cpus {
            harness::process::pin(&mut command, cpus);
        }
        let process = ServerProcess::start(command, timeout)
            .map_err(|e| StartError { message: first_line(&e.to_string()), stderr_tail: e.to_string() })?;
        let pgid = process.pid();
        Ok(Server { addr: process.addr, inner: Inner::Builtin(process), pgid, stopped: false })
    }

    fn start_foreign(command_template: &str, timeout: Duration, cpus: Option<&[usize]>) -> Result<Server, StartError> {
        let port =
            free_port().map_err(|e| StartError { message: format!("no free port: {e}"), stderr_tail: "".into() })?;
        let command_line = command_template.replace("{port}", &port.to_string());
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(exec_line(&command_line))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        isolate(&mut command);
        if let Some(cpus) = cpus {
            harness::process::pin(&mut command, cpus);
        }
        let mut child = command.spawn().map_err(|e| StartError {
            message: format!("cannot run sh -c {command_line:?}: {e}"),
            stderr_tail: "".into(),
        })?;
        let output = OutputTail::default();
        output.drain(child.stdout.take().expect("piped"), "stdout: ");
        output.drain(child.stderr.take().expect("piped"), "");
        let pgid = child.id();
        let mut server = Server {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            inner: Inner::Foreign { child, output: output.clone() },
            pgid,
            stopped: false,
        };
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(addr) = find_listening(&output) {
                server.addr = addr;
                return Ok(server);
            }
            if crate::http::answers(server.addr, "/health") {
                return Ok(server);
            }
            if let Inner::Foreign { child, .. } = &mut server.inner {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(StartError {
                        message: format!("exited with {status} before answering"),
                        stderr_tail: output.tail(20),
                    });
                }
            }
            if Instant::now() >= deadline {
                let tail = output.tail(20);
                server.stop(Duration::from_millis(200));
                return Err(StartError {
                    message: format!(
                        "did not answer on http://{}/health nor print `listening on` within {timeout:?}",
                        server.addr
                    ),
                    stderr_tail: tail,
                });
            }
            // Polling: a foreign server has no other way to say it is ready.
            thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn pid(&self) -> u32 {
        self.pgid
    }

    /// The URL of `path` on this server; for a workload's path that names its method (`POST /db/visit`), the
    /// clients' `--url` form, the method first ([`crate::plan::url_for`]).
    pub fn url(&self, path: &str) -> String {
        match &self.inner {
            Inner::Remote { origin } => crate::plan::url_for(origin, path),
            _ => crate::plan::url_for(&format!("http://{}", self.addr), path),
        }
    }

    pub fn stderr_tail(&self, lines: usize) -> String {
        match &self.inner {
            Inner::Builtin(p) => p.stderr_tail(lines),
            Inner::Foreign { output, .. } => output.tail(lines),
            Inner::Remote { .. } => String::new(),
        }
    }

    /// Polls for exit; when the server has exited (and is reaped here) returns its status and its rusage.
    pub fn try_wait(&mut self) -> Option<(ExitStatus, Usage)> {
        if self.stopped {
            return None;
        }
        let (status, usage) = reaping(|| match &mut self.inner {
            Inner::Builtin(p) => p.try_wait().ok().flatten(),
            Inner::Foreign { child, .. } => child.try_wait().ok().flatten(),
            Inner::Remote { .. } => None,
        });
        let status = status?;
        self.stopped = true;
        // The leader is gone; its group may still hold forked workers.
        signal_group(self.pgid, Signal::KILL);
        Some((status, usage))
    }

    /// SIGTERM to the group, up to `grace` for a clean exit, then SIGKILL to the group. Returns the server's
    /// rusage (zero if it had already been reaped by [`Server::try_wait`]).
    pub fn stop(&mut self, grace: Duration) -> Usage {
        if self.stopped {
            return Usage::default();
        }
        self.stopped = true;
        signal_group(self.pgid, Signal::TERM);
        let (_, usage) = reaping(|| match &mut self.inner {
            Inner::Builtin(p) => {
                let _ = p.stop(grace);
            }
            Inner::Foreign { child, .. } => {
                let deadline = Instant::now() + grace;
                while Instant::now() < deadline {
                    if let Ok(Some(_)) = child.try_wait() {
                        return;
                    }
                    thread::sleep(Duration::from_millis(5));
                }
                let _ = child.kill();
                let _ = child.wait();
            }
            Inner::Remote { .. } => {}
        });
        signal_group(self.pgid, Signal::KILL);
        usage
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if !self.stopped {
            signal_group(self.pgid, Signal::KILL);
            self.stop(Duration::from_millis(100));
        }
    }
}

/// The line given to `sh -c`: a simple command is `exec`ed, so that the server *is* the process the lab starts,
/// samples and reaps — its CPU time then reaches the lab through wait4's rusage (see `reaping`). A shell would
/// otherwise be the reaped child, and the server, an orphan when the group is signalled, would take its CPU
/// time with it. A line with shell syntax (`;`, `&&`, a pipe, a redirection, a subshell) runs as written.
fn exec_line(command_line: &str) -> String {
    let simple = !command_line.contains([';', '&', '|', '\n', '(', ')', '`', '<', '>']);
    if simple && !command_line.trim_start().starts_with("exec ") {
        format!("exec {command_line}")
    } else {
        command_line.to_string()
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").to_string()
}

#[cfg(test)]
mod tests {
    use super::exec_line;

    #[test]
    fn a_simple_command_is_execed_and_shell_syntax_runs_as_written() {
        assert_eq!(exec_line("python3 'a b.py' --port=80"), "exec python3 'a b.py' --port=80");
        assert_eq!(exec_line("exec ./server"), "exec ./server");
        assert_eq!(exec_line("cd x && ./server"), "cd x && ./server");
        assert_eq!(exec_line("./server > log"), "./server > log");
    }
}
