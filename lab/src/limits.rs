//! The system limits that cap how many connections and threads a cell can have, and which one stopped a cell.
//!
//! The lab raises its own file-descriptor soft limit to the hard limit at start; children inherit it, so the
//! servers and clients it starts can hold as many sockets as the machine allows. When a cell at high concurrency
//! fails, [`hint`] names the limit it most likely ran into — nofile, threads, somaxconn or ephemeral ports — so
//! a reader sees a limit of the machine, not a mystery.

use crate::records::header::Limits;

/// Raises RLIMIT_NOFILE's soft limit to its hard limit. Returns (soft before, soft after, hard).
pub fn raise_nofile() -> (u64, u64, u64) {
    let nofile = harness::limits::raise_nofile();
    (nofile.before, nofile.soft, nofile.hard)
}

/// Raises nofile and reads every other limit.
pub fn read_limits() -> Limits {
    let (before, soft, hard) = raise_nofile();
    Limits {
        nofile_soft_before: before,
        nofile_soft: soft,
        nofile_hard: hard,
        somaxconn: harness::proc::somaxconn(),
        ephemeral_ports: harness::proc::ephemeral_ports(),
        threads_max: harness::proc::threads_max(),
        pid_max: harness::proc::pid_max(),
        max_map_count: harness::proc::max_map_count(),
        nproc_soft: harness::limits::nproc_soft(),
    }
}

/// What a failed (or partly failed) cell looked like, for [`hint`].
pub struct Trouble<'a> {
    pub concurrency: u64,
    /// The server runs one thread per request (so needs `concurrency` threads).
    pub thread_per_connection: bool,
    pub connect_failures: u64,
    pub timeout_failures: u64,
    /// The server's and client's stderr tails.
    pub stderr: &'a str,
}

/// Names the limit that most likely stopped a cell, or None when none of them is near.
pub fn hint(limits: &Limits, trouble: &Trouble) -> Option<String> {
    let c = trouble.concurrency;
    let stderr = trouble.stderr.to_lowercase();
    let mut hints = Vec::new();
    // Each connection is one descriptor in the client and one in the server, plus a few dozen of their own.
    if c + 64 > limits.nofile_soft || stderr.contains("too many open files") {
        hints.push(format!(
            "nofile: {c} connections need about {} descriptors per process; the soft limit is {} (hard {})",
            c + 64,
            limits.nofile_soft,
            limits.nofile_hard
        ));
    }
    let thread_cap = [limits.threads_max, limits.pid_max, limits.max_map_count.map(|m| m / 2), limits.nproc_soft]
        .into_iter()
        .flatten()
        .min();
    let thread_errors = stderr.contains("resource temporarily unavailable")
        || stderr.contains("failed to spawn")
        || stderr.contains("cannot allocate memory")
        || stderr.contains("out of memory");
    if trouble.thread_per_connection && (thread_errors || thread_cap.is_some_and(|cap| c > cap)) {
        hints.push(format!(
            "threads: one thread per connection needs {c} threads; the smallest thread cap (threads-max, pid_max, \
             max_map_count/2, RLIMIT_NPROC) is {}",
            thread_cap.map_or("unknown".to_string(), |v| v.to_string())
        ));
    }
    if let Some(somaxconn) = limits.somaxconn {
        if c > somaxconn && (trouble.connect_failures > 0 || trouble.timeout_failures > 0) {
            hints.push(format!(
                "somaxconn: {c} simultaneous connects overflow a listen backlog capped at {somaxconn} \
                 (net.core.somaxconn); refused or dropped SYNs show as connect errors and timeouts"
            ));
        }
    }
    if let Some(ports) = limits.ephemeral_ports {
        if c > ports || stderr.contains("address not available") {
            hints.push(format!("ephemeral ports: {c} connections to one address:port, {ports} local ports available"));
        }
    }
    (!hints.is_empty()).then(|| hints.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            nofile_soft_before: 1024,
            nofile_soft: 20000,
            nofile_hard: 20000,
            somaxconn: Some(4096),
            ephemeral_ports: Some(28232),
            threads_max: Some(100000),
            pid_max: Some(32768),
            max_map_count: Some(65530),
            nproc_soft: None,
        }
    }

    #[test]
    fn names_the_limit_that_is_near() {
        let base = Trouble {
            concurrency: 10000,
            thread_per_connection: false,
            connect_failures: 12,
            timeout_failures: 0,
            stderr: "",
        };
        let h = hint(&limits(), &base).unwrap();
        assert!(h.starts_with("somaxconn"), "{h}");
        let h = hint(&limits(), &Trouble { concurrency: 30000, ..base }).unwrap();
        assert!(h.contains("nofile") && h.contains("ephemeral ports"), "{h}");
        let h = hint(&limits(), &Trouble { thread_per_connection: true, stderr: "failed to spawn thread", ..base })
            .unwrap();
        assert!(h.contains("threads"), "{h}");
        assert!(hint(&limits(), &Trouble { concurrency: 10, connect_failures: 0, ..base }).is_none());
    }
}
