//! The chain primitive → model → server: what the servers should cost, predicted from what `lab primitives`
//! measured of the primitives under them, beside what the bench and the matrix measured of the servers.
//!
//! Concurrency idea: a concurrency model is a choice of which primitive holds a waiting request. A
//! thread-per-request server holds a thread per request (and tiny_http a thread per open connection), an
//! async server a task per connection, coroutine-server a coroutine, lean-server and uring-server a slot in
//! their loop's table. So two of the servers' costs follow from the primitives' costs:
//!
//! - memory per waiting connection = the server's idle keep-alive connection (measured by `lab primitives` on
//!   the server itself; without it: the units the connection holds plus the two sockets) + the units a waiting
//!   request adds to it (thread-server: the request's thread; the others: none);
//! - thread-server's CPU per request = pool-server's (the same tiny_http and workload, with threads made once)
//!   + one thread create-and-join.
//!
//! Pure functions of the figures a primitives run gives a matrix run (`--with primitives-*.json`, copied into
//! its [`Companion`]) and of the run's own cells and bench figures; [`markdown`] writes them in the run's
//! markdown, so `lab report` rebuilds it.

pub mod markdown;

use crate::format;
use crate::records::primitives::{Measure, MemoryFit, PrimitivesRun};
use crate::records::run::{
    Cell, Companion, CompanionKind, ConnectionCost, PrimitiveFigures, Run, Status, UnitMemory, Workload,
};

/// The plain listener's fit among the connections: the two sockets of a connection alone.
const SOCKETS: &str = "listener";

/// What a waiting connection holds on each of the lab's servers (docs/model.md, what a connection costs): the
/// server; the unit (the primitive's word), how many of it the open connection holds and how many more a waiting
/// request adds; the words for the table. pool-server is left out: its threads are made once, so a waiting
/// connection holds none of its own (and the bench does not measure it).
pub const HOLDS: [(&str, Option<&str>, u32, u32, &str); 7] = [
    ("thread-server", Some("thread"), 1, 1, "tiny_http's thread for the connection + the request's thread"),
    ("async-std-server", Some("async-std-task"), 1, 0, "the connection's task (the request runs inside it)"),
    ("smol-server", Some("smol-task"), 1, 0, "the connection's task (the request runs inside it)"),
    ("tokio-server", Some("tokio-task"), 1, 0, "the connection's task (the request runs inside it)"),
    ("lean-server", None, 0, 0, "a slot in its loop's table"),
    ("uring-server", None, 0, 0, "a slot in its loop's table"),
    ("coroutine-server", Some("coroutine"), 1, 0, "the connection's coroutine (the request runs on it)"),
];

/// A primitives run's figures, copied into a companion headed by `head` (see `export::json::load_companion`).
pub fn companion(head: Companion, run: &PrimitivesRun) -> Companion {
    let cpus = run.settings.cpu_sets.first().cloned().unwrap_or_default();
    let thread = run.timings.iter().find(|t| t.measure == Measure::Create && t.subject == "thread" && t.cpus == cpus);
    let figures = PrimitiveFigures {
        thread_create_ns: thread.and_then(|t| t.median_ns),
        cpus,
        units: run.memory.iter().filter_map(unit_memory).collect(),
        connections: run.connections.iter().filter_map(unit_memory).collect(),
    };
    Companion { primitives: Some(figures), ..head }
}

/// A fit's clear slopes (r² at the bar), or None when it was not measured.
fn unit_memory(fit: &MemoryFit) -> Option<UnitMemory> {
    let clear = |value: Option<f64>, r2: Option<f64>| value.filter(|_| r2 >= Some(crate::fit::FIT_R2_MIN));
    let kernel = fit.kernel_stack_kib_per_unit.zip(fit.slab_kib_per_unit).map(|(a, b)| a + b);
    (fit.status == Status::Ok).then(|| UnitMemory {
        unit: fit.unit.clone(),
        user_kib: clear(fit.user_kib_per_unit, fit.user_r2),
        kernel_kib: clear(kernel, fit.kernel_r2),
    })
}

/// A unit's whole cost: user + kernel, the kernel counted as 0 where its line was unclear (a task's kernel
/// growth is below what the machine's noise lets a fit see).
fn whole(memory: &UnitMemory) -> Option<f64> {
    match (memory.user_kib, memory.kernel_kib) {
        (Some(u), k) => Some(u + k.unwrap_or(0.0)),
        (None, Some(k)) => Some(k),
        (None, None) => None,
    }
}

/// One server's memory per waiting connection: predicted, with how, and measured.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryLink {
    pub server: String,
    pub holds: &'static str,
    /// The prediction's terms, as the table shows them.
    pub how: String,
    pub predicted_kib: f64,
    /// Whether the prediction lacks a term the primitives run did not measure (the sockets): a lower bound.
    pub lower_bound: bool,
    pub measured_kib: f64,
}

/// Memory per waiting connection predicted from `p`, beside the bench's measure (RSS + kernel slopes) of each
/// server the bench measured clearly with kernel figures (the matrix's own io sweep where no bench is embedded).
pub fn memory_links(p: &PrimitiveFigures, run: &Run) -> Vec<MemoryLink> {
    let bench = run.companions.iter().rev().find(|c| c.kind == CompanionKind::Reach);
    let costs = bench.map_or(&run.analysis.per_connection, |b| &b.per_connection);
    let unit = |word: &str| p.units.iter().find(|u| u.unit == word).and_then(whole);
    let connection = |name: &str| p.connections.iter().find(|u| u.unit == name);
    let sockets = connection(SOCKETS).and_then(|s| s.kernel_kib);
    let mut links = Vec::new();
    for &(server, unit_word, per_connection, per_request, holds) in &HOLDS {
        // A bench figure whose RSS line was unclear says nothing (as in the headline).
        let clear = |c: &&ConnectionCost| c.server == server && c.rss_r2 >= crate::fit::FIT_R2_MIN;
        let Some(measured_kib) = costs.iter().find(clear).and_then(|c| c.total_kib_per_connection) else {
            continue;
        };
        let unit_kib = unit_word.and_then(unit);
        if unit_word.is_some() && unit_kib.is_none() {
            continue;
        }
        let (unit_word, unit_kib) = (unit_word.unwrap_or(""), unit_kib.unwrap_or(0.0));
        // The idle connection measured on the server itself holds the connection's own units; else they count
        // here. It is used only where both its lines were clear (a connection always has sockets in the kernel).
        let idle = connection(server).filter(|c| c.user_kib.is_some() && c.kernel_kib.is_some()).and_then(whole);
        let n = per_request + if idle.is_none() { per_connection } else { 0 };
        let mut terms = Vec::new();
        let mut predicted = f64::from(n) * unit_kib;
        if let Some(idle) = idle {
            terms.push(format!("{} (idle keep-alive connection)", format::kib_per(idle)));
            predicted += idle;
        }
        if n > 0 {
            terms.push(format!("{n} × {} (`{unit_word}`)", format::kib_per(unit_kib)));
        }
        let lower_bound = idle.is_none() && sockets.is_none();
        if let (None, Some(s)) = (idle, sockets) {
            terms.push(format!("{} (the two sockets)", format::kib_per(s)));
            predicted += s;
        }
        if terms.is_empty() {
            continue;
        }
        links.push(MemoryLink {
            server: server.to_string(),
            holds,
            how: terms.join(" + "),
            predicted_kib: predicted,
            lower_bound,
            measured_kib,
        });
    }
    links
}

/// thread-server's CPU per request on one workload: pool-server's + a thread create-and-join, beside its own.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuLink {
    pub workload: Workload,
    pub client: String,
    pub concurrency: u64,
    pub pool_us: f64,
    pub thread_create_us: f64,
    pub measured_us: f64,
}

impl CpuLink {
    pub fn predicted_us(&self) -> f64 {
        self.pool_us + self.thread_create_us
    }
}

/// For each throughput workload, the highest level at which both thread-server and pool-server have an evidence
/// cell with the same client.
pub fn cpu_links(p: &PrimitiveFigures, run: &Run) -> Vec<CpuLink> {
    let Some(create_ns) = p.thread_create_ns else { return vec![] };
    fn evidence<'a>(run: &'a Run, server: &'a str, workload: Workload) -> impl Iterator<Item = (&'a Cell, f64)> {
        run.cells
            .iter()
            .filter(move |c| c.server == server && c.workload == workload && crate::noise::evidence(c))
            .filter_map(|c| Some((c, c.server_cpu_us_per_request?)))
    }
    let mut links = Vec::new();
    for workload in [Workload::Baseline, Workload::Cpu, Workload::Db, Workload::Mixed] {
        let best = evidence(run, "thread-server", workload)
            .filter_map(|(t, measured_us)| {
                let (_, pool_us) = evidence(run, "pool-server", workload)
                    .find(|(c, _)| c.client == t.client && c.concurrency == t.concurrency)?;
                Some(CpuLink {
                    workload,
                    client: t.client.to_string(),
                    concurrency: t.concurrency,
                    pool_us,
                    thread_create_us: create_ns / 1000.0,
                    measured_us,
                })
            })
            .max_by_key(|l| l.concurrency);
        links.extend(best);
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::run::Saturation;
    use crate::run::synthetic_cell;

    fn memory(unit: &str, user_kib: f64, kernel_kib: Option<f64>) -> UnitMemory {
        UnitMemory { unit: unit.to_string(), user_kib: Some(user_kib), kernel_kib }
    }

    fn cost(server: &str, total: f64) -> ConnectionCost {
        ConnectionCost {
            server: server.to_string(),
            client: "async-client".parse().unwrap(),
            workload: Workload::Io,
            points: vec![],
            rss_kib_per_connection: total,
            threads_per_connection: 0.0,
            rss_r2: 1.0,
            kernel_stack_kib_per_connection: None,
            slab_kib_per_connection: None,
            kernel_kib_per_connection: None,
            total_kib_per_connection: Some(total),
        }
    }

    fn cpu_cell(server: &str, workload: &str, c: u64, cpu_us: f64, saturation: Option<Saturation>) -> Cell {
        let mut cell = synthetic_cell(server, workload, 1.0, 1.0, 1.0, 1);
        (cell.concurrency, cell.server_cpu_us_per_request, cell.saturation) = (c, Some(cpu_us), saturation);
        cell
    }

    fn figures() -> PrimitiveFigures {
        PrimitiveFigures {
            cpus: "0".into(),
            thread_create_ns: Some(30_000.0),
            units: vec![memory("thread", 10.0, Some(20.0)), memory("tokio-task", 0.5, None)],
            connections: vec![],
        }
    }

    #[test]
    fn memory_is_the_idle_connection_plus_what_a_request_adds_or_the_units_and_sockets() {
        let mut run = Run::default();
        run.analysis.per_connection = vec![
            cost("thread-server", 80.0),
            cost("tokio-server", 20.0),
            cost("lean-server", 4.0),
            cost("uring-server", 5.0),
        ];
        // uring-server's RSS line was unclear: no measured figure to hold a prediction to.
        run.analysis.per_connection[3].rss_r2 = 0.7;
        let mut p = figures();
        // Units alone: thread-server holds two threads (the connection's and the request's), tokio-server one
        // task; without the sockets both are lower bounds, and lean-server (no unit) has nothing to predict.
        let links = memory_links(&p, &run);
        assert_eq!(links.len(), 2, "{links:?}");
        assert_eq!((links[0].predicted_kib, links[0].lower_bound, links[0].measured_kib), (60.0, true, 80.0));
        assert_eq!((links[1].predicted_kib, links[1].lower_bound), (0.5, true));
        // The two sockets measured on a plain listener count once per connection.
        p.connections = vec![UnitMemory { unit: SOCKETS.into(), user_kib: None, kernel_kib: Some(4.0) }];
        let links = memory_links(&p, &run);
        assert_eq!(links.iter().map(|l| l.predicted_kib).collect::<Vec<_>>(), [64.0, 4.5, 4.0]);
        assert!(links.iter().all(|l| !l.lower_bound));
        // The idle connection measured on the server holds its own units: only the request's thread is added.
        p.connections.push(memory("thread-server", 25.0, Some(25.0)));
        p.connections.push(memory("tokio-server", 15.0, Some(5.0)));
        let links = memory_links(&p, &run);
        assert_eq!(links.iter().map(|l| l.predicted_kib).collect::<Vec<_>>(), [80.0, 20.0, 4.0]);
        assert_eq!(links[0].how, "50.0 KiB (idle keep-alive connection) + 1 × 30.0 KiB (`thread`)");
    }

    #[test]
    fn thread_creation_is_added_to_the_pool_at_the_highest_level_both_have_evidence() {
        let run = Run {
            cells: vec![
                cpu_cell("thread-server", "baseline", 1, 80.0, None),
                cpu_cell("pool-server", "baseline", 1, 30.0, None),
                // At c = 10 the pool's cell measured the client: not evidence, so c = 1 is read.
                cpu_cell("thread-server", "baseline", 10, 70.0, None),
                cpu_cell("pool-server", "baseline", 10, 15.0, Some(Saturation::Client)),
                cpu_cell("thread-server", "cpu", 100, 300.0, None),
                cpu_cell("pool-server", "cpu", 100, 200.0, None),
            ],
            ..Run::default()
        };
        let links = cpu_links(&figures(), &run);
        let read: Vec<_> = links.iter().map(|l| (l.workload, l.concurrency, l.predicted_us(), l.measured_us)).collect();
        assert_eq!(read, [(Workload::Baseline, 1, 60.0, 80.0), (Workload::Cpu, 100, 230.0, 300.0)]);
        // No section without a primitives companion.
        let mut md = String::new();
        markdown::section(&run, &mut md);
        assert!(md.is_empty());
    }
}
