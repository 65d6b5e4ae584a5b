//! Predictions for the throughput workloads (`cpu`, `baseline`, `db`, `mixed`), from inputs measured in the same
//! run: the model says which resource bounds the throughput, the run's own c = 1 cells say how much of it one
//! request uses.
//!
//! A closed-loop client with `c` requests in flight, against a server, on `k` cores shared by both, can go no
//! faster than any of these bounds (docs/model.md, "Throughput workloads"):
//!
//! - **concurrency**: `c ÷ L₁` — `c` requests in flight, each taking at least the latency `L₁` it took alone;
//! - **CPU**: `k ÷ (S + C)` — each request costs the server `S` and the client `C` seconds of CPU, and the
//!   cores are shared; when the lab pins the two sides to CPU sets of their own (`k_s` and `k_c` cores, the
//!   matrix's default), `k_s ÷ S` and `k_c ÷ C` instead; if the server runs its handlers on fewer threads than
//!   its cores (`T < k_s`), also `T ÷ S`;
//! - **the serial writer** (`db`): `1 ÷ W` — SQLite commits one write at a time, `W` = the db request's c = 1
//!   latency minus the baseline request's (the HTTP round trip around the commit);
//! - **the pool** (`pool` model, `db` and `mixed`): `N ÷ L₁` — a request holds one of the `N` workers for its
//!   whole time in the server, waits included.
//!
//! The prediction is the smallest bound, and the expected wall time `requests ÷ that rate`. The inputs come
//! from the cell of the same server and workload at c = 1 (the same client if there is one), so that cell's
//! own efficiency is about 1 by construction: it calibrates the others.

use crate::records::run::{Cell, Client, Model, Run, Workload};

/// What one request costs, measured at c = 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Inputs {
    /// Cores shared by the client and the server.
    pub cores: f64,
    /// The server's and the client's cores when each side has a CPU set of its own (None: shared).
    pub split: Option<(f64, f64)>,
    /// Server CPU seconds per request (user + sys).
    pub server_cpu_s: f64,
    /// Client CPU seconds per request.
    pub client_cpu_s: f64,
    /// Mean latency of one request alone, seconds.
    pub latency_s: f64,
    /// Threads the server runs handlers on when fewer than unbounded (pool workers, executor threads).
    pub server_threads: Option<u64>,
    /// `pool` model: a request holds a worker for its whole time in the server.
    pub pool: bool,
    /// `db`: seconds of one commit (None for the other workloads).
    pub commit_s: Option<f64>,
}

/// Which bound the prediction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Concurrency,
    Cpu,
    ServerCpu,
    ClientCpu,
    ServerThreads,
    Writer,
    Pool,
}

impl Bound {
    pub fn name(self) -> &'static str {
        match self {
            Bound::Concurrency => "concurrency c ÷ L₁",
            Bound::Cpu => "CPU k ÷ (S + C)",
            Bound::ServerCpu => "server CPU k_s ÷ S",
            Bound::ClientCpu => "client CPU k_c ÷ C",
            Bound::ServerThreads => "server threads T ÷ S",
            Bound::Writer => "serial writer 1 ÷ W",
            Bound::Pool => "pool N ÷ L₁",
        }
    }
}

/// A predicted throughput and the bound that sets it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throughput {
    pub rps: f64,
    pub bound: Bound,
}

/// The smallest of the bounds for `concurrency` requests in flight.
pub fn throughput(inputs: &Inputs, concurrency: u64) -> Throughput {
    let mut bounds = vec![(concurrency.max(1) as f64 / inputs.latency_s, Bound::Concurrency)];
    let cpu = inputs.server_cpu_s + inputs.client_cpu_s;
    match inputs.split {
        None if cpu > 0.0 => bounds.push((inputs.cores / cpu, Bound::Cpu)),
        None => {}
        Some((server, client)) => {
            if inputs.server_cpu_s > 0.0 {
                bounds.push((server / inputs.server_cpu_s, Bound::ServerCpu));
            }
            if inputs.client_cpu_s > 0.0 {
                bounds.push((client / inputs.client_cpu_s, Bound::ClientCpu));
            }
        }
    }
    let server_cores = inputs.split.map_or(inputs.cores, |(server, _)| server);
    if let Some(threads) = inputs.server_threads {
        if (threads as f64) < server_cores && inputs.server_cpu_s > 0.0 {
            bounds.push((threads as f64 / inputs.server_cpu_s, Bound::ServerThreads));
        }
        if inputs.pool {
            bounds.push((threads as f64 / inputs.latency_s, Bound::Pool));
        }
    }
    if let Some(commit) = inputs.commit_s.filter(|w| *w > 0.0) {
        bounds.push((1.0 / commit, Bound::Writer));
    }
    let (rps, bound) = bounds.into_iter().min_by(|a, b| a.0.total_cmp(&b.0)).expect("at least one bound");
    Throughput { rps, bound }
}

/// The workloads predicted here.
pub const WORKLOADS: [Workload; 4] = [Workload::Cpu, Workload::Baseline, Workload::Db, Workload::Mixed];

/// The c = 1 cell that calibrates `cell`: same server and workload, measured cleanly, the same client if
/// possible, the most requests among equals.
fn calibration<'a>(run: &'a Run, server: &str, workload: Workload, client: Client) -> Option<&'a Cell> {
    let usable = |c: &&Cell| {
        c.server == server
            && c.workload == workload
            && c.concurrency == 1
            && c.is_ok()
            && c.failed == 0
            && c.server_cost.is_some()
            && c.client_cost.is_some()
            && c.latency_us.is_some_and(|l| l.mean > 0.0)
    };
    let best = |cells: Vec<&'a Cell>| cells.into_iter().max_by_key(|c| c.measured_requests());
    best(run.cells.iter().filter(usable).filter(|c| c.client == client).collect())
        .or_else(|| best(run.cells.iter().filter(usable).collect()))
}

/// The inputs measured by `calibration` for a server whose record is in `run`.
fn inputs_of(run: &Run, calibration: &Cell) -> Inputs {
    let record = run.servers.iter().find(|s| s.name == calibration.server);
    let sent = (calibration.measured_requests() + calibration.warmup).max(1) as f64;
    let server = calibration.server_cost.as_ref().expect("checked by calibration()");
    let client = calibration.client_cost.as_ref().expect("checked by calibration()");
    let latency_s = calibration.latency_us.map_or(0.0, |l| l.mean) / 1e6;
    let commit_s = (calibration.workload == Workload::Db).then(|| {
        let baseline = calibration_latency(run, &calibration.server, Workload::Baseline, calibration.client);
        (latency_s - baseline.unwrap_or(0.0)).max(latency_s * 0.05)
    });
    // The threads the calibrating instance reported on /health, else the verified instance's.
    let threads = calibration
        .runs
        .iter()
        .find_map(|m| m.instance)
        .map_or_else(|| record.and_then(|r| r.worker_threads), |i| i.worker_threads);
    Inputs {
        cores: run.environment.cpu_count.max(1) as f64,
        split: run
            .cpus
            .as_ref()
            .and_then(|c| c.pins())
            .map(|(server, client)| (server.len().max(1) as f64, client.len().max(1) as f64)),
        server_cpu_s: (server.user_s + server.sys_s) / sent,
        client_cpu_s: (client.user_s + client.sys_s) / sent,
        latency_s,
        server_threads: threads,
        pool: record.is_some_and(|r| r.model == Model::Pool),
        commit_s,
    }
}

fn calibration_latency(run: &Run, server: &str, workload: Workload, client: Client) -> Option<f64> {
    calibration(run, server, workload, client).and_then(|c| c.latency_us).map(|l| l.mean / 1e6)
}

/// Fills `expected_wall_s` and `efficiency` of every measured cell of the throughput workloads that has no
/// prediction yet, and adds a note per server and workload with the inputs used. Cells without a c = 1 cell
/// of their server and workload stay without a prediction (the note says so).
pub fn fill(run: &mut Run) {
    let mut notes = Vec::new();
    let mut predictions: Vec<(usize, f64)> = Vec::new();
    let mut explained: Vec<(String, Workload)> = Vec::new();
    for (index, cell) in run.cells.iter().enumerate() {
        let predicted = WORKLOADS.contains(&cell.workload);
        if !predicted || cell.expected_wall_s.is_some() || !cell.is_ok() {
            continue;
        }
        let key = (cell.server.clone(), cell.workload);
        let Some(calibration) = calibration(run, &cell.server, cell.workload, cell.client) else {
            if !explained.contains(&key) {
                notes.push(format!(
                    "no prediction for {} {}: no clean c = 1 cell to measure its service time",
                    cell.server, cell.workload
                ));
                explained.push(key);
            }
            continue;
        };
        let inputs = inputs_of(run, calibration);
        let predicted = throughput(&inputs, cell.concurrency);
        // A duration-bound cell: the time the requests it completed should have taken at the predicted rate.
        predictions.push((index, cell.measured_requests() as f64 / predicted.rps));
        if !explained.contains(&key) {
            notes.push(describe(cell, calibration, &inputs));
            explained.push(key);
        }
    }
    for (index, expected) in predictions {
        let cell = &mut run.cells[index];
        cell.expected_wall_s = Some(expected);
        if let Some(wall) = cell.wall_s.filter(|w| *w > 0.0) {
            cell.efficiency = Some(expected / wall);
        }
    }
    run.notes.extend(notes);
}

/// The note that states a server × workload's measured inputs.
fn describe(cell: &Cell, calibration: &Cell, inputs: &Inputs) -> String {
    let ms = |s: f64| format!("{:.3} ms", s * 1e3);
    let mut text = format!(
        "prediction inputs, {} {} (from {} at c = 1): server CPU S = {} per request, client CPU C = {}, latency \
         L₁ = {}, {}",
        cell.server,
        cell.workload,
        calibration.client,
        ms(inputs.server_cpu_s),
        ms(inputs.client_cpu_s),
        ms(inputs.latency_s),
        match inputs.split {
            None => format!(
                "k = {} cores shared → CPU bound {:.0} req/s",
                inputs.cores,
                inputs.cores / (inputs.server_cpu_s + inputs.client_cpu_s).max(1e-9)
            ),
            Some((server, client)) => format!(
                "server on {server} core(s), client on {client} → server CPU bound {:.0} req/s, client CPU bound \
                 {:.0} req/s",
                server / inputs.server_cpu_s.max(1e-9),
                client / inputs.client_cpu_s.max(1e-9)
            ),
        }
    );
    if let Some(commit) = inputs.commit_s {
        text += &format!(", commit W = {} → writer bound {:.0} req/s", ms(commit), 1.0 / commit);
    }
    if let (true, Some(n)) = (inputs.pool, inputs.server_threads) {
        text += &format!(", pool N = {n} → pool bound {:.0} req/s", n as f64 / inputs.latency_s);
    }
    text + " (docs/model.md)"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Inputs {
        Inputs {
            cores: 2.0,
            split: None,
            server_cpu_s: 0.001,
            client_cpu_s: 0.000_25,
            latency_s: 0.002,
            server_threads: None,
            pool: false,
            commit_s: None,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn few_in_flight_are_bounded_by_latency_many_by_the_cores() {
        // c = 1: one request every L₁ = 2 ms.
        let one = throughput(&inputs(), 1);
        assert_eq!(one.bound, Bound::Concurrency);
        assert!(close(one.rps, 500.0));
        // c = 100: 2 cores over 1.25 ms of CPU per request.
        let many = throughput(&inputs(), 100);
        assert_eq!(many.bound, Bound::Cpu);
        assert!(close(many.rps, 1_600.0));
    }

    #[test]
    fn an_executor_with_fewer_threads_than_cores_is_bounded_by_them() {
        let one_thread = Inputs { server_threads: Some(1), ..inputs() };
        let t = throughput(&one_thread, 100);
        assert_eq!(t.bound, Bound::ServerThreads);
        assert!(close(t.rps, 1_000.0));
        // As many threads as cores: the CPU bound is the tighter one.
        assert_eq!(throughput(&Inputs { server_threads: Some(2), ..inputs() }, 100).bound, Bound::Cpu);
    }

    #[test]
    fn each_side_on_its_own_cores_is_bounded_by_them() {
        // One core each: the server's 1 ms per request bounds it at 1,000 req/s, not 2 ÷ 1.25 ms = 1,600.
        let split = Inputs { split: Some((1.0, 1.0)), ..inputs() };
        let t = throughput(&split, 100);
        assert_eq!(t.bound, Bound::ServerCpu);
        assert!(close(t.rps, 1_000.0));
        // A client four times as costly as the server is the bound on its own core.
        let heavy_client = Inputs { split: Some((1.0, 1.0)), client_cpu_s: 0.004, ..inputs() };
        assert_eq!(throughput(&heavy_client, 100).bound, Bound::ClientCpu);
        // One executor thread on one core: the thread bound is no tighter than the core's.
        let one_thread = Inputs { split: Some((1.0, 1.0)), server_threads: Some(1), ..inputs() };
        assert_eq!(throughput(&one_thread, 100).bound, Bound::ServerCpu);
    }

    #[test]
    fn the_serial_writer_bounds_db() {
        let db = Inputs { commit_s: Some(0.004), latency_s: 0.005, ..inputs() };
        let t = throughput(&db, 50);
        assert_eq!(t.bound, Bound::Writer);
        assert!(close(t.rps, 250.0));
    }

    #[test]
    fn a_pool_holds_a_worker_for_the_whole_request() {
        // A mixed workload on a pool of 16 workers at 5.1 ms per request: 16 ÷ 0.0051 s ≈ 3,137 req/s.
        let mixed = Inputs {
            latency_s: 0.0051,
            server_cpu_s: 0.000_2,
            client_cpu_s: 0.000_05,
            server_threads: Some(16),
            pool: true,
            ..inputs()
        };
        let t = throughput(&mixed, 100);
        assert_eq!(t.bound, Bound::Pool);
        assert!(close(t.rps, 16.0 / 0.0051));
        // Below 16 in flight the client's concurrency is the bound.
        assert_eq!(throughput(&mixed, 10).bound, Bound::Concurrency);
    }

    /// A measured cell of `server` × `workload` at concurrency `c`: `n` requests (and `n / 10` warm-up), taking
    /// `wall` s, `latency_ms` each on average, the server and client having burnt `server_s` and `client_s`.
    fn cell(server: &str, workload: &str, c: u64, n: u64, wall: f64, latency_ms: f64, cpu: (f64, f64)) -> Cell {
        use crate::plan::{CellSpec, ServerSpec};
        use crate::records::run::{ClientCost, Latency, ServerCost};
        let spec = CellSpec {
            server: ServerSpec::Builtin(server.into()),
            client: "async-client:lean".parse().unwrap(),
            workload: workload.parse::<Workload>().unwrap(),
            concurrency: c,
            requests: n,
            warmup: n / 10,
            duration: None,
        };
        let mut cell = crate::run::unmeasured(&spec, crate::records::run::Status::Ok, "", None);
        cell.reason = None;
        cell.wall_s = Some(wall);
        cell.succeeded = n;
        cell.latency_us = Some(Latency { mean: latency_ms * 1e3, ..Latency::default() });
        cell.server_cost = Some(ServerCost { user_s: cpu.0, ..ServerCost::default() });
        cell.client_cost = Some(ClientCost { user_s: cpu.1, ..ClientCost::default() });
        cell
    }

    #[test]
    fn fill_predicts_every_throughput_cell_from_its_c1_cell() {
        let mut run = Run::default();
        run.environment.cpu_count = 2;
        run.cells = vec![
            // cpu at c = 1: 1,100 requests sent, 1.1 s of server CPU and 0.275 s of client CPU: S = 1 ms,
            // C = 0.25 ms; L₁ = 2 ms.
            cell("smol-server", "cpu", 1, 1_000, 2.0, 2.0, (1.1, 0.275)),
            cell("smol-server", "cpu", 100, 1_000, 0.8, 60.0, (1.1, 0.3)),
            // db: L₁ = 5 ms, the baseline round trip 1 ms, so W = 4 ms and at most 250 commits a second.
            cell("smol-server", "baseline", 1, 1_000, 1.0, 1.0, (0.011, 0.011)),
            cell("smol-server", "db", 1, 100, 0.5, 5.0, (0.011, 0.011)),
            cell("smol-server", "db", 50, 1_000, 5.0, 200.0, (0.11, 0.11)),
            // No c = 1 cell: no prediction.
            cell("smol-server", "mixed", 10, 100, 1.0, 5.0, (0.1, 0.1)),
        ];
        fill(&mut run);
        let expected = |i: usize| run.cells[i].expected_wall_s;
        // c = 1: 1,000 requests at 500 req/s.
        assert!(close(expected(0).unwrap(), 2.0));
        // c = 100: 1,000 requests at 2 ÷ 1.25 ms = 1,600 req/s.
        assert!(close(expected(1).unwrap(), 1_000.0 / 1_600.0));
        assert!(close(run.cells[1].efficiency.unwrap(), (1_000.0 / 1_600.0) / 0.8));
        // db at c = 50: the writer, 1,000 ÷ 250 = 4 s.
        assert!(close(expected(4).unwrap(), 4.0), "{:?}", expected(4));
        assert_eq!(expected(5), None);
        assert!(run.notes.iter().any(|n| n.starts_with("no prediction for smol-server mixed")), "{:?}", run.notes);
        assert!(
            run.notes.iter().any(|n| n.contains("smol-server db") && n.contains("W = 4.000 ms")),
            "{:?}",
            run.notes
        );
    }
}
