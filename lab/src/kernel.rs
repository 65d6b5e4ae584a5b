//! What the kernel saw of a burst of connections before any server code ran: its TCP counters and the depth of
//! a listening socket's accept queue.
//!
//! A connection is established by the *kernel*: it answers the SYN, completes the handshake and parks the
//! connection in the listener's accept queue, where it waits until the server calls `accept(2)`. When that
//! queue already holds `backlog` connections, the final ACK of a handshake is dropped (`ListenOverflows`,
//! `ListenDrops`); the client believes it is connected, but the server never saw it, and the client's SYN is
//! retransmitted after one second (`TCPSynRetrans`). That second is invisible from user space except as a slow
//! connect — so the lab reads it here, from `/proc/net/netstat`, `/proc/net/snmp` and `/proc/net/tcp{,6}`.
//!
//! The counters belong to the whole network namespace: on a shared machine, other processes' connections count
//! too. The accept-queue depth is the listening socket's own (`rx_queue` of a socket in state LISTEN is its
//! accept queue). `/proc/net/tcp` does not show a listener's backlog (`ss -lnt` does); the servers report theirs
//! in `/health`.

use crate::records::bench::{AcceptQueue, TcpCounters};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

impl TcpCounters {
    /// The counters now; zeros for any the kernel does not expose.
    pub fn read() -> TcpCounters {
        let now = harness::proc::tcp_counters();
        TcpCounters {
            listen_overflows: now.listen_overflows,
            listen_drops: now.listen_drops,
            syn_retrans: now.syn_retrans,
            syncookies_sent: now.syncookies_sent,
            attempt_fails: now.attempt_fails,
            active_opens: now.active_opens,
            passive_opens: now.passive_opens,
        }
    }

    /// How much each counter moved since `before`.
    pub fn since(&self, before: &TcpCounters) -> TcpCounters {
        TcpCounters {
            listen_overflows: self.listen_overflows.saturating_sub(before.listen_overflows),
            listen_drops: self.listen_drops.saturating_sub(before.listen_drops),
            syn_retrans: self.syn_retrans.saturating_sub(before.syn_retrans),
            syncookies_sent: self.syncookies_sent.saturating_sub(before.syncookies_sent),
            attempt_fails: self.attempt_fails.saturating_sub(before.attempt_fails),
            active_opens: self.active_opens.saturating_sub(before.active_opens),
            passive_opens: self.passive_opens.saturating_sub(before.passive_opens),
        }
    }
}

/// The listening sockets on one port at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListenSnapshot {
    /// Listening sockets on the port (several with SO_REUSEPORT).
    pub listeners: u64,
    /// The fullest accept queue among them.
    pub deepest: u64,
    /// Connections waiting in all of their accept queues together.
    pub queued: u64,
}

/// The listening sockets on `port` among `rows` (of `/proc/net/tcp` and `/proc/net/tcp6`).
pub fn listen_snapshot(rows: impl IntoIterator<Item = harness::proc::TcpRow>, port: u16) -> ListenSnapshot {
    let mut snapshot = ListenSnapshot::default();
    // A listening socket's `rx_queue` is its accept queue's depth.
    for row in rows.into_iter().filter(|r| r.state == harness::proc::TCP_LISTEN && r.local.port() == port) {
        snapshot.listeners += 1;
        snapshot.deepest = snapshot.deepest.max(row.rx_queue);
        snapshot.queued += row.rx_queue;
    }
    snapshot
}

/// Samples the accept queues of one port on a thread of its own until [`QueueSampler::finish`].
pub struct QueueSampler {
    stop: Arc<AtomicBool>,
    handle: thread::JoinHandle<AcceptQueue>,
}

impl QueueSampler {
    /// Samples the listeners on `addr`'s port, in the table of `addr`'s address family.
    pub fn start(addr: SocketAddr, interval: Duration) -> QueueSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let handle = thread::spawn(move || {
            let mut seen = AcceptQueue::default();
            loop {
                // Only the listening part of the table: the rest would cost the burst a CPU.
                let now = listen_snapshot(harness::proc::listening_sockets(addr.ip()), addr.port());
                seen.samples += 1;
                seen.listeners = seen.listeners.max(now.listeners);
                seen.peak_depth = seen.peak_depth.max(now.deepest);
                seen.peak_queued = seen.peak_queued.max(now.queued);
                if stopping.load(Ordering::Relaxed) {
                    return seen;
                }
                // Sleeps between samples.
                thread::sleep(interval);
            }
        });
        QueueSampler { stop, handle }
    }

    pub fn finish(self) -> AcceptQueue {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}

/// TCP sockets in TIME_WAIT now, machine-wide (`/proc/net/sockstat`): each holds a local port for 60 s after
/// its connection closed, and every one makes `connect(2)`'s search for a free ephemeral port longer.
pub fn time_wait_sockets() -> u64 {
    harness::proc::time_wait_sockets()
}

/// The share of all CPUs' time that was busy between two readings of `/proc/stat`'s `cpu` line.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTimes {
    busy: u64,
    total: u64,
}

impl CpuTimes {
    /// Now (zeros where /proc/stat cannot be read); idle and iowait are not busy.
    pub fn read() -> CpuTimes {
        let ticks = harness::proc::cpu_ticks().unwrap_or_default();
        CpuTimes { busy: ticks.busy, total: ticks.total }
    }

    /// The busy fraction of every CPU since `before` (0 when no tick passed).
    pub fn busy_since(&self, before: &CpuTimes) -> f64 {
        let total = self.total.saturating_sub(before.total);
        if total == 0 {
            return 0.0;
        }
        self.busy.saturating_sub(before.busy) as f64 / total as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_move_forward_only() {
        let c = TcpCounters {
            listen_overflows: 20,
            listen_drops: 22,
            syn_retrans: 7,
            syncookies_sent: 1,
            attempt_fails: 3,
            active_opens: 100,
            passive_opens: 90,
        };
        let later = TcpCounters { listen_overflows: 25, ..c };
        assert_eq!(later.since(&c).listen_overflows, 5);
        assert_eq!(c.since(&later).listen_overflows, 0, "a counter never moves backwards");
    }

    #[test]
    fn listening_sockets_of_a_port_with_their_queues() {
        // Two SO_REUSEPORT listeners on port 0x1F90 (8080), one established connection, another port.
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
           0: 0100007F:1F90 00000000:0000 0A 00001000:00000005 00:00000000 00000000  1000        0 1 1\n\
           1: 0100007F:1F90 00000000:0000 0A 00001000:00000FFF 00:00000000 00000000  1000        0 2 1\n\
           2: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 3 1\n\
           3: 0100007F:0050 00000000:0000 0A 00000080:00000009 00:00000000 00000000  1000        0 4 1\n";
        let s = listen_snapshot(harness::proc::tcp_rows(tcp), 8080);
        assert_eq!(s, ListenSnapshot { listeners: 2, deepest: 0xFFF, queued: 0xFFF + 5 });
        assert_eq!(listen_snapshot(harness::proc::tcp_rows(tcp), 9), ListenSnapshot::default());
    }

    #[test]
    fn machine_cpu_busy_between_two_readings() {
        let before = CpuTimes { busy: 200, total: 1000 };
        let after = CpuTimes { busy: 450, total: 1350 };
        // 250 busy ticks of 350.
        assert!((after.busy_since(&before) - 250.0 / 350.0).abs() < 1e-9);
        assert_eq!(before.busy_since(&before), 0.0);
    }

    #[test]
    fn the_sampler_sees_a_real_listener_and_its_backlog() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // Two connections nobody accepts wait in the queue.
        let _a = std::net::TcpStream::connect(addr).unwrap();
        let _b = std::net::TcpStream::connect(addr).unwrap();
        let seen = QueueSampler::start(addr, Duration::from_millis(5)).finish();
        assert_eq!((seen.listeners, seen.peak_depth), (1, 2), "{seen:?}");
    }
}
