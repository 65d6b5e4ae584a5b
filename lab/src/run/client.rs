//! One client process against a running server: spawned in a process group of its own, polled until it exits
//! (or the server dies, or Ctrl-C, or its time is up), its report parsed into a measurement or a fault.

use crate::client::ClientReport;
use crate::process::{self, reaping, OutputTail, Server, Usage};
use crate::records::run::{ClientCost, Measurement, ServerCost};
use std::io::Read;
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How long a client may go on after its server died, to report its failures.
const AFTER_SERVER_DEATH: Duration = Duration::from_secs(3);
/// How often the main thread polls the children and the Ctrl-C flag while a client runs.
const POLL: Duration = Duration::from_millis(2);

/// Why a repetition produced no measurement.
pub(crate) struct Fault {
    pub reason: String,
    pub stderr_tail: Option<String>,
    /// Whatever the client reported before the fault (a server that died mid-cell leaves failures to count).
    pub partial: Option<Box<Measurement>>,
}

/// CPU time over a window, in cores.
pub(super) fn cores(usage: Usage, window_s: f64) -> f64 {
    if window_s > 0.0 {
        (usage.user_s + usage.sys_s) / window_s
    } else {
        0.0
    }
}

/// One client process, run to its end (or killed) against a running server.
pub(crate) struct ClientRun {
    pub status: ExitStatus,
    /// The client's exact CPU time and context switches (wait4's rusage).
    pub usage: Usage,
    pub stdout: String,
    pub stderr: OutputTail,
    /// From spawn to exit: the window the costs are taken over.
    pub window: Duration,
    /// Why the lab killed the client (Ctrl-C, the time limit), if it did.
    pub killed_for: Option<String>,
    /// The server's exit status and rusage, when it died while the client ran (it is reaped then).
    pub server_exit: Option<(ExitStatus, Usage)>,
}

/// Spawns `command` (a client with piped stdout/stderr, see [`process::isolate`]) and polls until it exits: the
/// client's exit, the server's death, Ctrl-C (`interrupted`) and `time_limit` after the start. The client is
/// killed on Ctrl-C or past the time limit, and a few seconds after its server died. The calling thread sleeps
/// between polls; two threads drain the pipes, so a chatty client never blocks on a full pipe.
pub(crate) fn run_client(
    mut command: Command,
    server: &mut Server,
    time_limit: Duration,
    interrupted: &AtomicBool,
) -> std::io::Result<ClientRun> {
    let started = Instant::now();
    let mut child = command.spawn()?;
    let mut stdout = child.stdout.take().expect("piped");
    let stdout_reader = thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let stderr = OutputTail::default();
    stderr.drain(child.stderr.take().expect("piped"), "");
    let client_pid = child.id();
    let mut deadline = started + time_limit;
    let mut server_exit: Option<(ExitStatus, Usage)> = None;
    let mut killed_for: Option<String> = None;
    let (status, usage) = loop {
        let (status, usage) = reaping(|| child.try_wait().ok().flatten());
        if let Some(status) = status {
            break (status, usage);
        }
        if killed_for.is_none() {
            if interrupted.load(Ordering::Relaxed) {
                killed_for = Some("interrupted (Ctrl-C) while the cell ran".to_string());
            } else if Instant::now() > deadline {
                killed_for = Some(format!(
                    "the client did not finish within {:.0} s; killed",
                    (deadline - started).as_secs_f64()
                ));
            }
            if killed_for.is_some() {
                process::signal_group(client_pid, process::Signal::KILL);
            }
        }
        if server_exit.is_none() {
            if let Some(exit) = server.try_wait() {
                server_exit = Some(exit);
                deadline = deadline.min(Instant::now() + AFTER_SERVER_DEATH);
            }
        }
        thread::sleep(POLL);
    };
    let window = started.elapsed();
    // The client's own children (if it forked workers) go with it.
    process::signal_group(client_pid, process::Signal::KILL);
    let stdout = stdout_reader.join().unwrap_or_default();
    Ok(ClientRun { status, usage, stdout, stderr, window, killed_for, server_exit })
}

impl ClientRun {
    /// The measurement from the client's report, or the fault that cost it: the server died, the client was
    /// killed, every request failed, or the client printed no report.
    pub(crate) fn outcome(&self, server: &Server, server_cost: Option<ServerCost>) -> Result<Measurement, Fault> {
        let window_s = self.window.as_secs_f64();
        let report = ClientReport::parse(&self.stdout);
        let reported = report.as_ref().ok().map(|r| r.cost);
        let client_cost = ClientCost {
            user_s: self.usage.user_s,
            sys_s: self.usage.sys_s,
            cpu_cores: cores(self.usage, window_s),
            voluntary_ctxt: self.usage.voluntary_ctxt,
            nonvoluntary_ctxt: self.usage.nonvoluntary_ctxt,
            peak_threads: reported.map(|c| c.peak_threads),
            peak_rss_kib: reported.map(|c| c.peak_rss_kib),
        };
        let measurement = report.as_ref().ok().map(|r| Measurement {
            wall_s: r.wall_s,
            throughput_rps: r.throughput_rps,
            latency_us: r.latency_us.into(),
            succeeded: r.succeeded,
            failed: r.failed,
            failures: r.failures.into(),
            window_s,
            server_cost,
            client_cost: Some(client_cost),
            instance: None,
            timeline: r.timeline.clone(),
        });
        let tails = || {
            let server_tail = server.stderr_tail(20);
            let client_tail = self.stderr.tail(20);
            let mut parts = Vec::new();
            if !server_tail.is_empty() {
                parts.push(format!("server stderr:\n{server_tail}"));
            }
            if !client_tail.is_empty() {
                parts.push(format!("client stderr:\n{client_tail}"));
            }
            (!parts.is_empty()).then(|| parts.join("\n"))
        };
        if let Some((status, _)) = self.server_exit {
            return Err(Fault {
                reason: format!("the server exited during the cell ({status})"),
                stderr_tail: tails(),
                partial: measurement.map(Box::new),
            });
        }
        if let Some(reason) = &self.killed_for {
            return Err(Fault { reason: reason.clone(), stderr_tail: tails(), partial: measurement.map(Box::new) });
        }
        match (report, measurement) {
            (Ok(report), Some(m)) if m.succeeded == 0 && report.failed > 0 => {
                Err(Fault { reason: report.failure_summary(), stderr_tail: tails(), partial: Some(Box::new(m)) })
            }
            (Ok(_), Some(m)) => Ok(m),
            (Err(e), _) => Err(Fault {
                reason: match last_line(&self.stderr.tail(5)) {
                    Some(said) => format!("client exited with {}: {e}; it said: {said}", self.status),
                    None => format!("client exited with {}: {e}", self.status),
                },
                stderr_tail: tails(),
                partial: None,
            }),
            (Ok(_), None) => unreachable!("a parsed report always gives a measurement"),
        }
    }
}

/// The last non-empty line of `text`, cut to 200 characters.
fn last_line(text: &str) -> Option<String> {
    let line = text.lines().rev().map(str::trim).find(|l| !l.is_empty())?;
    Some(line.chars().take(200).collect())
}
