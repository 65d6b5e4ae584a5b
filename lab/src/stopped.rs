//! "What stopped it": the cause of a cell that missed its predicted wall time, named from measurements only.
//!
//! [`classify`] takes what was measured around a cell — the kernel's listen-queue counters, the clients'
//! connect times and failures, the processes' own error messages, their CPU time — and names one cause, or
//! [`Cause::Unknown`]. It never guesses: each cause needs its own evidence, and the evidence travels with it.

use crate::records::bench::{Cause, TcpCounters};

impl Cause {
    /// One line for tables.
    pub fn describe(&self) -> String {
        match self {
            Cause::ListenOverflow { overflows, syn_retransmits, backlog } => format!(
                "listen queue overflow: {overflows} handshakes dropped at a full accept queue (backlog {backlog}), \
                 {syn_retransmits} SYNs retransmitted after 1 s"
            ),
            Cause::FdLimit { limit } => format!("file-descriptor limit ({limit} per process)"),
            Cause::ThreadCreation => "thread creation failed".to_string(),
            Cause::EphemeralPorts { ports, connections, time_wait } => format!(
                "ephemeral ports: {connections} connections to one address from {ports} local ports ({time_wait} \
                 sockets already in TIME_WAIT); connect(2) searches longer for a free port as they fill"
            ),
            Cause::Refused { refused } => format!("{refused} connections refused with 503 (--max-connections)"),
            Cause::Memory => "memory".to_string(),
            Cause::Cpu { server_s, client_s, cores, busy } => format!(
                "CPU: server {server_s:.2} s + client {client_s:.2} s of CPU, {busy:.2}× what {cores} cores give in \
                 the {:.2} s beyond D",
                (server_s + client_s) / (busy * *cores as f64)
            ),
            Cause::OtherLoad { machine_busy, own_busy } => format!(
                "other processes' CPU load: the machine's CPUs were {:.0} % busy during the cell, this server and \
                 client {:.0} % beyond D",
                machine_busy * 100.0,
                own_busy * 100.0
            ),
            Cause::Unknown => "unknown".to_string(),
        }
    }
}

/// What was measured around one cell.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// D, the wait of each request, and the wall time of the measured phase (seconds).
    pub d_s: f64,
    pub wall_s: f64,
    /// The kernel's counters over the cell.
    pub kernel: TcpCounters,
    /// The backlog of the server's listening sockets.
    pub backlog: u64,
    /// The slowest connect of the cell (µs), when the client timed them.
    pub connect_max_us: Option<u64>,
    /// CPU time (user + sys) of the server's and the client's processes over the cell.
    pub server_cpu_s: f64,
    pub client_cpu_s: f64,
    pub cores: u64,
    /// The share of every CPU's time that was busy during the cell, whoever used it (`/proc/stat`).
    pub machine_busy: f64,
    /// The servers' and clients' stderr.
    pub stderr: String,
    /// The server was killed by SIGKILL (the OOM killer's signal).
    pub killed: bool,
    pub nofile: u64,
    pub ephemeral_ports: u64,
    /// Connections of the cell, and sockets in TIME_WAIT when it started.
    pub connections: u64,
    pub time_wait: u64,
    /// Requests answered with a non-2xx status (a 503 from a server over its connection cap).
    pub status_failures: u64,
}

/// The share of the CPUs the server and client kept busy beyond D that names the CPU as the cause.
pub const CPU_BUSY: f64 = 0.8;

/// A connect this slow waited for a SYN retransmission (the first comes after 1 s).
pub const RETRANSMITTED_CONNECT_US: u64 = 950_000;

/// The share of the machine's CPUs busy during a cell (D included) that names other processes as the cause.
pub const MACHINE_BUSY: f64 = 0.9;

/// Names the cause of a missed cell from `e`, or [`Cause::Unknown`].
pub fn classify(e: &Evidence) -> Cause {
    let stderr = e.stderr.to_lowercase();
    if stderr.contains("too many open files") {
        return Cause::FdLimit { limit: e.nofile };
    }
    if stderr.contains("cannot spawn a thread") || stderr.contains("failed to spawn thread") {
        return Cause::ThreadCreation;
    }
    let ports = Cause::EphemeralPorts { ports: e.ephemeral_ports, connections: e.connections, time_wait: e.time_wait };
    if stderr.contains("address not available") || stderr.contains("cannot assign requested address") {
        return ports;
    }
    if e.status_failures > 0 && stderr.contains("503") {
        return Cause::Refused { refused: e.status_failures };
    }
    if e.killed || stderr.contains("memory allocation of") || stderr.contains("cannot allocate memory") {
        return Cause::Memory;
    }
    // An overflow costs a connect a whole retransmission (1 s). When the client timed its connects, its own
    // slowest connect is the evidence (the kernel's counters are machine-wide: on a shared machine they count
    // other processes too); otherwise the counters' retransmissions are.
    let retransmitted = match e.connect_max_us {
        Some(us) => us >= RETRANSMITTED_CONNECT_US,
        None => e.kernel.syn_retrans > 0,
    };
    if e.kernel.listen_overflows > 0 && retransmitted {
        return Cause::ListenOverflow {
            overflows: e.kernel.listen_overflows,
            syn_retransmits: e.kernel.syn_retrans,
            backlog: e.backlog,
        };
    }
    // Past half the port range to one destination, connect(2) runs out of the ports it tries first and searches
    // the rest: the client's CPU then outgrows the server's.
    if e.ephemeral_ports > 0 && e.connections > e.ephemeral_ports / 2 && e.client_cpu_s > 2.0 * e.server_cpu_s {
        return ports;
    }
    let beyond = e.wall_s - e.d_s;
    if beyond > 0.0 && e.cores > 0 {
        let busy = (e.server_cpu_s + e.client_cpu_s) / (beyond * e.cores as f64);
        if busy >= CPU_BUSY {
            return Cause::Cpu { server_s: e.server_cpu_s, client_s: e.client_cpu_s, cores: e.cores, busy };
        }
        if e.machine_busy >= MACHINE_BUSY {
            return Cause::OtherLoad { machine_busy: e.machine_busy, own_busy: busy };
        }
    }
    Cause::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet() -> Evidence {
        Evidence { d_s: 1.0, wall_s: 2.2, cores: 16, nofile: 20_000, ephemeral_ports: 28_232, ..Evidence::default() }
    }

    #[test]
    fn an_overflow_needs_a_retransmission_to_be_the_cause() {
        // The 16-core run: 1,033 overflows, connects retransmitted, wall D + 1.2 s, CPUs idle.
        let kernel =
            TcpCounters { listen_overflows: 1033, listen_drops: 1033, syn_retrans: 1033, ..Default::default() };
        let e = Evidence { kernel, backlog: 4096, server_cpu_s: 1.37, client_cpu_s: 1.09, ..quiet() };
        assert_eq!(classify(&e), Cause::ListenOverflow { overflows: 1033, syn_retransmits: 1033, backlog: 4096 });
        // The client's one-second connect is evidence of the retransmission too.
        let kernel = TcpCounters { listen_overflows: 5, ..Default::default() };
        let e = Evidence { kernel, connect_max_us: Some(1_030_000), ..quiet() };
        assert!(matches!(classify(&e), Cause::ListenOverflow { overflows: 5, .. }));
        // Overflows with no slow connect cost this client nothing: not the cause, even when other processes'
        // SYNs were retransmitted meanwhile.
        let kernel = TcpCounters { syn_retrans: 40, ..kernel };
        let e = Evidence { kernel, connect_max_us: Some(400_000), ..quiet() };
        assert_eq!(classify(&e), Cause::Unknown);
    }

    #[test]
    fn busy_cpus_beyond_d_are_the_cause_idle_ones_are_not() {
        // The 2-core run: 1.04 s + 0.85 s of CPU in the 0.74 s beyond D.
        let e = Evidence { wall_s: 1.74, cores: 2, server_cpu_s: 1.04, client_cpu_s: 0.85, ..quiet() };
        match classify(&e) {
            Cause::Cpu { busy, cores: 2, .. } => assert!(busy > 1.0, "{busy}"),
            other => panic!("{other:?}"),
        }
        let e = Evidence { cores: 16, server_cpu_s: 1.37, client_cpu_s: 1.09, ..quiet() };
        assert_eq!(classify(&e), Cause::Unknown, "2.5 s of CPU over 16 cores × 1.2 s is not saturation");
        // The same cell on a machine kept busy by others.
        let e = Evidence { machine_busy: 0.97, ..e };
        assert!(matches!(classify(&e), Cause::OtherLoad { .. }), "{:?}", classify(&e));
        // A cell that did not run beyond D cannot be CPU-bound by this rule.
        let e = Evidence { wall_s: 0.9, cores: 2, server_cpu_s: 5.0, ..quiet() };
        assert_eq!(classify(&e), Cause::Unknown);
    }

    #[test]
    fn a_client_searching_for_ports_is_named_from_its_cpu() {
        // 19,000 connections to one address from 28,232 ports: the client burnt 6.9 s, the server 1.5 s.
        let e = Evidence { connections: 19_000, server_cpu_s: 1.48, client_cpu_s: 6.88, time_wait: 77_000, ..quiet() };
        assert_eq!(classify(&e), Cause::EphemeralPorts { ports: 28_232, connections: 19_000, time_wait: 77_000 });
        // The same connections with the server as busy as the client: not the ports.
        let e = Evidence { server_cpu_s: 6.0, ..e };
        assert!(!matches!(classify(&e), Cause::EphemeralPorts { .. }));
        // Few connections: not the ports, whatever the CPU.
        let e = Evidence { connections: 10_000, server_cpu_s: 0.1, ..e };
        assert!(!matches!(classify(&e), Cause::EphemeralPorts { .. }));
    }

    #[test]
    fn error_messages_name_their_limit_first() {
        let said = |text: &str| classify(&Evidence { stderr: text.to_string(), ..quiet() });
        assert_eq!(said("accept failed: Too many open files (os error 24)"), Cause::FdLimit { limit: 20_000 });
        assert_eq!(
            said("thread-server: cannot spawn a thread: Resource temporarily unavailable"),
            Cause::ThreadCreation
        );
        assert!(matches!(
            said("connect: Cannot assign requested address (os error 99)"),
            Cause::EphemeralPorts { ports: 28_232, .. }
        ));
        let refused = Evidence { status_failures: 2616, stderr: "first: status: HTTP 503".into(), ..quiet() };
        assert_eq!(classify(&refused), Cause::Refused { refused: 2616 });
        assert_eq!(said("memory allocation of 4096 bytes failed"), Cause::Memory);
        assert_eq!(classify(&Evidence { killed: true, ..quiet() }), Cause::Memory);
        assert_eq!(said(""), Cause::Unknown);
    }

    #[test]
    fn causes_serialize_by_name() {
        let json =
            serde_json::to_value(Cause::ListenOverflow { overflows: 3, syn_retransmits: 2, backlog: 8 }).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"cause": "listen-overflow", "overflows": 3, "syn_retransmits": 2, "backlog": 8})
        );
        assert_eq!(serde_json::to_value(Cause::Unknown).unwrap(), serde_json::json!({"cause": "unknown"}));
        // The word a companion records of a cause is its tag in the JSON.
        for cause in [
            Cause::ListenOverflow { overflows: 3, syn_retransmits: 2, backlog: 8 },
            Cause::FdLimit { limit: 1024 },
            Cause::ThreadCreation,
            Cause::EphemeralPorts { ports: 1, connections: 2, time_wait: 3 },
            Cause::Refused { refused: 4 },
            Cause::Memory,
            Cause::Cpu { server_s: 1.0, client_s: 1.0, cores: 2, busy: 0.9 },
            Cause::OtherLoad { machine_busy: 0.95, own_busy: 0.1 },
            Cause::Unknown,
        ] {
            assert_eq!(serde_json::to_value(&cause).unwrap()["cause"], cause.word(), "{cause:?}");
        }
    }
}
