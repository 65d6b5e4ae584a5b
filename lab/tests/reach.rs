//! The reach part's evidence with real processes and real TCP: a server whose accept queue overflows is named as
//! such, from the kernel's counters and the client's own connect times; one that keeps up is not.

mod common;

use lab::bench::reach;
use lab::bench::sweep::SweepRun;
use lab::plan::ServerSpec;
use lab::records::bench::{Cause, ReachCell};
use lab::records::run::Status;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// A burst of `connections` connects, all at once, against the slow-accepting fixture started with `flags`.
fn burst(name: &str, connections: u64, flags: &str) -> ReachCell {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/slow_acceptor.py");
    let spec = ServerSpec::Foreign {
        name: "slow-acceptor".to_string(),
        command: format!("python3 {} --port {{port}} {flags}", script.display()),
    };
    let bin_dir = common::bin_dir();
    let scratch = common::scratch(name);
    let limits = lab::limits::read_limits();
    let plan = SweepRun {
        servers: &[],
        levels: &[connections],
        hello_ms: 100,
        bin_dir: &bin_dir,
        scratch: &scratch,
        limits: &limits,
        interrupted: Arc::new(AtomicBool::new(false)),
    };
    let mut cell =
        ReachCell { server: "slow-acceptor".to_string(), connections, client_processes: 1, ..ReachCell::default() };
    reach::measure_cell(&spec, &mut cell, 2, &plan, 2, reach::Floors::default());
    cell
}

#[test]
fn an_overflowing_accept_queue_is_named_from_its_evidence() {
    // Backlog 2, one accept every 10 ms: most of 60 simultaneous handshakes find the queue full.
    let cell = burst("overflow", 60, "--backlog 2 --accept-every-ms 10");
    // Measured: some requests got through. (Others may time out: a handshake whose last ACK was dropped leaves
    // the client connected and the server not, until the server's SYN-ACK retransmissions catch up.)
    assert!(cell.status == Status::Ok && cell.succeeded > 0 && cell.wall_s.is_some(), "{cell:?}");
    // The kernel dropped handshakes at this listener, and this client's SYNs were retransmitted a second later.
    assert!(cell.kernel.listen_overflows > 0, "{:?}", cell.kernel);
    assert!(cell.kernel.syn_retrans > 0, "{:?}", cell.kernel);
    let connect = cell.connect_us.expect("the lean client times its connects");
    assert!(connect.us.max >= 1_000_000, "a dropped SYN costs its connect a second: {connect:?}");
    assert!(cell.accept_queue.peak_depth >= 1 && cell.accept_queue.listeners == 1, "{:?}", cell.accept_queue);
    match &cell.stopped {
        Some(Cause::ListenOverflow { overflows, syn_retransmits, backlog }) => {
            assert_eq!(*overflows, cell.kernel.listen_overflows);
            assert_eq!(*syn_retransmits, cell.kernel.syn_retrans);
            assert_eq!(*backlog, 2);
        }
        other => panic!("named {other:?}, not a listen overflow; cell {cell:?}"),
    }
}

#[test]
fn a_server_that_keeps_up_is_not_blamed_on_its_queue() {
    // The same fixture and burst with a deep queue and no pause between accepts.
    let cell = burst("no-overflow", 60, "--backlog 1024 --accept-every-ms 0");
    assert_eq!((cell.status.as_str(), cell.failed), ("ok", 0), "{:?}", cell.reason);
    let connect = cell.connect_us.expect("the lean client times its connects");
    assert!(connect.us.max < 500_000, "no connect waited for a retransmission: {connect:?}");
    assert!(!matches!(cell.stopped, Some(Cause::ListenOverflow { .. })), "{:?}", cell.stopped);
}
