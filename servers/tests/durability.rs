//! Nothing lost: visits are counted exactly under concurrency across processes, and a visit whose response was
//! received survives the server being killed with SIGKILL.
//!
//! The database is SQLite in WAL mode with `synchronous=FULL` (servers/src/workload/db.rs): each visit is one
//! `BEGIN IMMEDIATE` transaction, committed — the WAL fsynced — before the response is sent. A SIGKILL loses
//! only what the process held in memory, and a committed transaction is not in memory: it is in the WAL file,
//! which the next process to open the database replays. (A SIGKILL cannot tell FULL from NORMAL — with NORMAL
//! the WAL is written but not fsynced at commit, which survives a process kill but not a power cut; FULL is
//! what makes an acknowledged visit survive both.)

mod common;
mod raw;

use common::{KeepAlive, Server};
use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

// Every server is killed; the 10,000 visits (a few seconds each) run on one thread server and one async server.
tests_for!(
    thread_server = "thread-server",
    [ten_thousand_visits_from_three_clients_count_exactly, sigkill_loses_no_acknowledged_visit]
);
tests_for!(pool_server = "pool-server", [sigkill_loses_no_acknowledged_visit]);
tests_for!(async_std_server = "async-std-server", [sigkill_loses_no_acknowledged_visit]);
tests_for!(tokio_server = "tokio-server", [sigkill_loses_no_acknowledged_visit]);
tests_for!(
    lean_server = "lean-server",
    [ten_thousand_visits_from_three_clients_count_exactly, sigkill_loses_no_acknowledged_visit]
);
tests_for!(
    uring_server = "uring-server",
    [ten_thousand_visits_from_three_clients_count_exactly, sigkill_loses_no_acknowledged_visit]
);
tests_for!(
    smol_server = "smol-server",
    [ten_thousand_visits_from_three_clients_count_exactly, sigkill_loses_no_acknowledged_visit]
);
tests_for!(
    coroutine_server = "coroutine-server",
    [ten_thousand_visits_from_three_clients_count_exactly, sigkill_loses_no_acknowledged_visit]
);

const VISITS: usize = 10_000;
const CLIENTS: usize = 3;
/// Keep-alive connections per client: enough that the kernel spreads them over both worker processes.
const CONNECTIONS_PER_CLIENT: usize = 4;
const TIMEOUT: Duration = Duration::from_secs(30);

fn count_of(response: &common::Response, what: &str) -> i64 {
    assert_eq!(response.status, 200, "{what}: {response:?}");
    response.text().parse().unwrap_or_else(|_| panic!("{what}: not a count: {response:?}"))
}

/// 10,000 `/db/visit` from 3 concurrent clients against `--processes 2`: every visit gets a distinct count
/// (1 to 10,000, no lost update and no duplicate), and the final count is exactly 10,000.
fn ten_thousand_visits_from_three_clients_count_exactly(name: &'static str) {
    let server = Server::start(name, &["--processes", "2"]);
    let addr = server.addr();
    let (elapsed, per_client) = common::concurrently(CLIENTS, |client| {
        let mut pool: Vec<KeepAlive> =
            (0..CONNECTIONS_PER_CLIENT).map(|_| KeepAlive::connect(addr, TIMEOUT).expect("connect")).collect();
        // Which worker process each connection reached.
        let pids: Vec<u64> = pool
            .iter_mut()
            .map(|connection| {
                let health = connection.get("/health").expect("/health");
                let health: serde_json::Value = serde_json::from_slice(&health.body).expect("JSON");
                health["pid"].as_u64().expect("a pid")
            })
            .collect();
        let visits = VISITS / CLIENTS + usize::from(client < VISITS % CLIENTS);
        let counts: Vec<i64> = (0..visits)
            .map(|i| {
                let response = pool[i % CONNECTIONS_PER_CLIENT]
                    .get("/db/visit?name=exact")
                    .unwrap_or_else(|e| panic!("{name}: client {client}, visit {i}: {e}"));
                count_of(&response, name)
            })
            .collect();
        (pids, counts)
    });
    let pids: HashSet<u64> = per_client.iter().flat_map(|(pids, _)| pids.iter().copied()).collect();
    assert_eq!(pids.len(), 2, "{name}: {} connections reached only the workers {pids:?}", CLIENTS * 4);
    let mut counts: Vec<i64> = per_client.into_iter().flat_map(|(_, counts)| counts).collect();
    counts.sort_unstable();
    let expected: Vec<i64> = (1..=VISITS as i64).collect();
    assert!(counts == expected, "{name}: the counts handed out are not exactly 1..={VISITS}");
    let total = count_of(&server.get("/db/visits?name=exact"), name);
    assert_eq!(total, VISITS as i64, "{name}: {VISITS} visits counted {total}");
    println!("{name} --processes 2: {VISITS} visits from {CLIENTS} clients in {elapsed:?}");
}

/// A client visits in a loop on one keep-alive connection, remembering the count of the last response it
/// received; the server is killed with SIGKILL mid-stream and restarted on the same database file. Every
/// acknowledged visit is still counted; at most the one in flight at the kill may be counted unacknowledged.
fn sigkill_loses_no_acknowledged_visit(name: &'static str) {
    let first = Server::start(name, &[]);
    let acknowledged = AtomicI64::new(0);
    std::thread::scope(|scope| {
        let client = scope.spawn(|| {
            let mut connection = KeepAlive::connect(first.addr(), TIMEOUT).expect("connect");
            // Ends when the kill breaks the connection.
            while let Ok(response) = connection.get("/db/visit?name=durable") {
                acknowledged.store(count_of(&response, name), Ordering::SeqCst);
            }
        });
        let going = common::wait_until(Duration::from_secs(20), || acknowledged.load(Ordering::SeqCst) >= 100);
        assert!(going, "{name}: the visits did not get going");
        first.process.signal(libc::SIGKILL);
        client.join().expect("client thread");
    });
    let last_acknowledged = acknowledged.load(Ordering::SeqCst);

    // `first` (and its database directory) lives on; the new server opens the same file.
    let db = first.db.to_str().expect("UTF-8 path");
    let second = Server::start(name, &["--db", db]);
    let counted = count_of(&second.get("/db/visits?name=durable"), name);
    assert!(
        counted == last_acknowledged || counted == last_acknowledged + 1,
        "{name}: {last_acknowledged} visits were acknowledged before SIGKILL, {counted} counted after restart"
    );
    // The journal mode is a property of the file: the restarted database is still in WAL mode.
    let connection = rusqlite::Connection::open(&first.db).expect("open the database");
    let mode: String = connection.query_row("PRAGMA journal_mode", [], |row| row.get(0)).expect("journal_mode");
    assert_eq!(mode, "wal", "{name}");
}
