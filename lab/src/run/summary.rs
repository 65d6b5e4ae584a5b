//! A cell's record from its repetitions: the median repetition by wall time, the spread, the model's
//! prediction, the bottleneck and, when something failed, the system limit that probably stopped it. Also the
//! records of what was not measured.

use super::Fault;
use crate::limits::{self, Trouble};
use crate::model::{self, ConcurrencyModel};
use crate::plan::{CellSpec, MatrixConfig, ServerSpec};
use crate::records::run::Workload;
use crate::records::{
    header::Limits,
    run::{Bound, Cell, Measurement, ServerKind, ServerRecord, Spread, Status, VerifyRecord, VerifyStatus},
};

/// A server's record: what the lab ran (`flags`: what [`crate::process::Server::builtin_flags`] gave its start),
/// its verification, and the model read from the `/health` of an instance started as its cells' are.
pub(crate) fn server_record(
    spec: &ServerSpec,
    verify: VerifyRecord,
    health: Option<serde_json::Value>,
    flags: &[String],
) -> ServerRecord {
    let model = ConcurrencyModel::from_health(spec.name(), health.as_ref());
    let (kind, command) = match spec {
        ServerSpec::Builtin(name) => {
            // Exactly what `process::Server::start` runs, every flag the lab adds included.
            let mut command = format!("{name} --host 127.0.0.1 --port 0 --quiet --db PATH");
            for flag in flags {
                command.push(' ');
                command.push_str(flag);
            }
            (ServerKind::Builtin, command)
        }
        ServerSpec::Foreign { command, .. } => (ServerKind::Foreign, command.clone()),
        ServerSpec::Remote { origin, .. } => (ServerKind::Remote, origin.clone()),
    };
    ServerRecord {
        name: spec.name().to_string(),
        kind,
        command,
        verify,
        health,
        model: model.kind(),
        worker_threads: model.threads(),
        cost_not_sampled: spec.is_remote().then(|| REMOTE_COST.to_string()),
    }
}

/// Why a remote target's cells have no server cost, as the run's JSON and markdown say it.
pub const REMOTE_COST: &str = "not sampled (remote): the lab does not run this server, so it cannot read its /proc";

/// Why a server's cells (or its soak) are not measured, from its verification: None when it passed; skipped
/// when it answered wrongly; failed when it did not start.
pub(crate) fn unverified(verify: &VerifyRecord) -> Option<(Status, String)> {
    let reason = verify.reason.clone().unwrap_or_default();
    match verify.status {
        VerifyStatus::Passed => None,
        VerifyStatus::Failed => Some((Status::Skipped, format!("failed verify: {reason}"))),
        VerifyStatus::NotRun => Some((Status::Failed, format!("server did not start: {reason}"))),
    }
}

/// A cell that was not measured: skipped (verify failed, interrupted) or failed before it ran.
pub fn unmeasured(cell: &CellSpec, status: Status, reason: &str, stderr_tail: Option<String>) -> Cell {
    Cell {
        id: cell.id(),
        server: cell.server.name().to_string(),
        client: cell.client,
        workload: cell.workload,
        concurrency: cell.concurrency,
        requests: cell.requests,
        bound: if cell.duration.is_some() { Bound::Duration } else { Bound::Requests },
        duration_s: cell.duration.map(|d| d.as_secs_f64()),
        warmup: cell.warmup,
        keep_alive: true,
        status,
        reason: Some(reason.to_string()),
        stderr_tail,
        ..Cell::default()
    }
}

/// The cell's figures: the median repetition by wall time, the spread, the prediction and the flags.
pub(super) fn summarize_cell(
    spec: &CellSpec,
    model: ConcurrencyModel,
    config: &MatrixConfig,
    mut runs: Vec<Measurement>,
    fault: Option<Fault>,
    limits: &Limits,
) -> Cell {
    let mut cell = unmeasured(spec, Status::Ok, "", None);
    cell.keep_alive = config.keep_alive;
    cell.reason = None;
    let mut all = runs.clone();
    if let Some(fault) = &fault {
        cell.status = Status::Failed;
        cell.reason = Some(fault.reason.clone());
        cell.stderr_tail = fault.stderr_tail.clone();
        all.extend(fault.partial.as_deref().cloned());
    }
    if runs.is_empty() {
        runs = all.clone();
    }
    // A count-bound repetition is ranked by its wall time; a duration-bound one (whose wall is the duration) by
    // its throughput, slowest first so that the order matches.
    if spec.duration.is_some() {
        runs.sort_by(|a, b| a.throughput_rps.total_cmp(&b.throughput_rps));
    } else {
        runs.sort_by(|a, b| a.wall_s.total_cmp(&b.wall_s));
    }
    // The median repetition (the lower middle one for an even count): a repetition that was measured.
    if let Some(median) = runs.get(harness::stats::median_index(runs.len())).cloned() {
        cell.wall_s = Some(median.wall_s);
        cell.throughput_rps = Some(median.throughput_rps);
        cell.latency_us = Some(median.latency_us);
        cell.succeeded = median.succeeded;
        cell.failed = median.failed;
        cell.requests_completed = median.succeeded + median.failed;
        cell.failures = median.failures;
        cell.server_cost = median.server_cost.clone();
        cell.client_cost = median.client_cost.clone();
        let walls: Vec<f64> = runs.iter().map(|r| r.wall_s).collect();
        let rates: Vec<f64> = runs.iter().map(|r| r.throughput_rps).collect();
        let min = |v: &[f64]| v.iter().cloned().fold(f64::INFINITY, f64::min);
        let max = |v: &[f64]| v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        cell.spread = Some(Spread {
            repeats: runs.len() as u64,
            wall_s_min: min(&walls),
            wall_s_max: max(&walls),
            throughput_min: min(&rates),
            throughput_max: max(&rates),
            // The spread of what the cell measures: wall time for a count, throughput for a duration.
            relative: match spec.duration {
                None if median.wall_s > 0.0 => (max(&walls) - min(&walls)) / median.wall_s,
                Some(_) if median.throughput_rps > 0.0 => (max(&rates) - min(&rates)) / median.throughput_rps,
                _ => 0.0,
            },
        });
        let wait_ms = if spec.workload == Workload::Io { config.settings.hello_ms } else { config.settings.block_ms };
        if let Some(p) = model::predict(model, spec.workload, wait_ms, spec.concurrency, spec.requests) {
            cell.expected_wall_s = Some(p.expected_wall_s);
            cell.effective_concurrency = Some(p.effective_concurrency);
            if median.wall_s > 0.0 && median.succeeded > 0 {
                cell.efficiency = Some(p.expected_wall_s / median.wall_s);
            }
        }
        if let (Some(c), Some(s)) = (&median.client_cost, &median.server_cost) {
            cell.bottleneck = Some(model::bottleneck(c.cpu_cores, s.cpu_cores));
            let server_util = s.cpu_cores / config.cpus.server().len().max(1) as f64;
            let client_util = c.cpu_cores / config.cpus.client().len().max(1) as f64;
            cell.server_utilisation = Some(server_util);
            cell.client_utilisation = Some(client_util);
            cell.saturation = Some(model::saturation(server_util, client_util));
        }
        // The server's CPU time covers its whole life in the repetition: start, warm-up and the measured requests.
        let served = median.succeeded + spec.warmup;
        if let Some(s) = median.server_cost.as_ref().filter(|_| median.succeeded > 0) {
            cell.server_cpu_us_per_request = Some((s.user_s + s.sys_s) * 1e6 / served as f64);
        }
    }
    cell.runs = all;
    if cell.failed > 0 || cell.status == Status::Failed {
        let stderr = cell.stderr_tail.clone().unwrap_or_default();
        cell.limit_hint = limits::hint(
            limits,
            &Trouble {
                concurrency: spec.concurrency,
                thread_per_connection: model == ConcurrencyModel::ThreadPerRequest,
                connect_failures: cell.failures.connect,
                timeout_failures: cell.failures.timeout,
                stderr: &stderr,
            },
        );
    }
    cell
}

pub(super) fn result_line(cell: &Cell) -> String {
    let bound = match cell.duration_s {
        Some(d) => format!("{d} s"),
        None => format!("n={}", cell.requests),
    };
    let label = format!("{} × {} {} c={} {bound}", cell.server, cell.client, cell.workload, cell.concurrency);
    match (cell.status, cell.wall_s) {
        (Status::Ok, Some(wall)) => {
            let mut line = format!(
                "{label}: {} · {} · p99 {}",
                crate::format::seconds(wall),
                crate::format::rate(cell.throughput_rps.unwrap_or(0.0)),
                crate::format::micros(cell.latency_us.map(|l| l.p99).unwrap_or(0.0))
            );
            if let Some(e) = cell.efficiency {
                line.push_str(&format!(" · efficiency {e:.2}"));
            }
            if cell.failed > 0 {
                line.push_str(&format!(" · {} failed", cell.failed));
            }
            line
        }
        (status, _) => format!("{label}: {status}: {}", cell.reason.clone().unwrap_or_default()),
    }
}

/// A synthetic measured cell for unit tests: `server` × async-client `workload` at c=10, 10 requests, with its
/// median wall time and its repetitions' min and max.
#[cfg(test)]
pub(crate) fn synthetic_cell(server: &str, workload: &str, median: f64, min: f64, max: f64, repeats: u64) -> Cell {
    use crate::records::run::{Latency, Spread, Status};
    let spec = CellSpec {
        server: ServerSpec::Builtin(server.into()),
        client: "async-client".parse().unwrap(),
        workload: workload.parse().unwrap(),
        concurrency: 10,
        requests: 10,
        warmup: 0,
        duration: None,
    };
    let mut cell = unmeasured(&spec, Status::Ok, "", None);
    cell.reason = None;
    cell.latency_us = Some(Latency::default());
    cell.succeeded = 10;
    cell.wall_s = Some(median);
    cell.throughput_rps = Some(10.0 / median);
    cell.spread = Some(Spread {
        repeats,
        wall_s_min: min,
        wall_s_max: max,
        throughput_min: 10.0 / max,
        throughput_max: 10.0 / min,
        relative: (max - min) / median,
    });
    cell
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::run::ProfileName;
    use crate::records::run::{Bottleneck, ClientCost, Failures, Latency, ServerCost};
    use crate::verify;

    /// An io cell of thread-server × async-client, 10 requests at concurrency 10, with D = 100 ms.
    fn io_cell() -> (CellSpec, MatrixConfig) {
        let mut config = MatrixConfig::for_profile(ProfileName::Quick);
        config.settings.hello_ms = 100;
        let spec = CellSpec {
            server: ServerSpec::Builtin("thread-server".into()),
            client: "async-client".parse().unwrap(),
            workload: Workload::Io,
            concurrency: 10,
            requests: 10,
            warmup: 0,
            duration: None,
        };
        (spec, config)
    }

    fn repetition(wall_s: f64, client_cores: f64, server_cores: f64) -> Measurement {
        Measurement {
            wall_s,
            throughput_rps: 10.0 / wall_s,
            latency_us: Latency { p50: wall_s * 1e6, p99: wall_s * 1e6, ..Latency::default() },
            succeeded: 10,
            failed: 0,
            failures: Failures::default(),
            window_s: wall_s,
            server_cost: Some(ServerCost { cpu_cores: server_cores, ..ServerCost::default() }),
            client_cost: Some(ClientCost { cpu_cores: client_cores, ..ClientCost::default() }),
            instance: None,
            timeline: None,
        }
    }

    fn summarize(runs: Vec<Measurement>, fault: Option<Fault>) -> Cell {
        let (spec, config) = io_cell();
        summarize_cell(&spec, ConcurrencyModel::ThreadPerRequest, &config, runs, fault, &Limits::default())
    }

    #[test]
    fn the_cell_is_its_median_repetition_with_the_spread_of_all() {
        let cell =
            summarize(vec![repetition(0.3, 0.1, 0.1), repetition(0.1, 0.1, 0.1), repetition(0.2, 0.1, 0.1)], None);
        assert_eq!(cell.status, Status::Ok);
        assert_eq!(cell.wall_s, Some(0.2));
        assert_eq!(cell.runs.len(), 3);
        let spread = cell.spread.unwrap();
        assert_eq!((spread.repeats, spread.wall_s_min, spread.wall_s_max), (3, 0.1, 0.3));
        // (max − min) ÷ median.
        assert!((spread.relative - 1.0).abs() < 1e-9, "{spread:?}");
        // Of an even count, the lower middle one: a repetition that was measured, not an average.
        let cell = summarize((1..=4).map(|i| repetition(f64::from(i) / 10.0, 0.1, 0.1)).collect(), None);
        assert_eq!(cell.wall_s, Some(0.2));
    }

    #[test]
    fn io_cells_are_held_against_the_model() {
        // Thread per request, 10 requests at concurrency 10: all wait at once, D × ceil(10 ÷ 10) = 0.1 s.
        let cell = summarize(vec![repetition(0.2, 0.1, 0.1)], None);
        assert_eq!(cell.expected_wall_s, Some(0.1));
        assert_eq!(cell.effective_concurrency, Some(10));
        assert_eq!(cell.efficiency, Some(0.5));
    }

    #[test]
    fn the_side_that_used_a_full_core_is_the_bottleneck() {
        assert_eq!(summarize(vec![repetition(0.2, 1.0, 0.2)], None).bottleneck, Some(Bottleneck::ClientBound));
        assert_eq!(summarize(vec![repetition(0.2, 0.2, 1.0)], None).bottleneck, Some(Bottleneck::ServerBound));
        assert_eq!(summarize(vec![repetition(0.2, 0.2, 0.2)], None).bottleneck, Some(Bottleneck::None));
    }

    #[test]
    fn each_side_is_held_against_its_own_cpus() {
        use crate::records::header::CpuPlacement;
        use crate::records::run::Saturation;
        let (spec, mut config) = io_cell();
        config.cpus = CpuPlacement::Split { server: vec![0], client: vec![1, 2] };
        let cell = |client: f64, server: f64| {
            let runs = vec![repetition(0.2, client, server)];
            summarize_cell(&spec, ConcurrencyModel::ThreadPerRequest, &config, runs, None, &Limits::default())
        };
        // The client used 1.0 core of its 2: half its set, not saturated; the server 0.95 of its one: saturated.
        let c = cell(1.0, 0.95);
        assert_eq!((c.client_utilisation, c.server_utilisation), (Some(0.5), Some(0.95)));
        assert_eq!(c.saturation, Some(Saturation::Server));
        assert_eq!(cell(1.9, 0.2).saturation, Some(Saturation::Client));
        assert_eq!(cell(1.9, 0.95).saturation, Some(Saturation::Both));
        assert_eq!(cell(0.2, 0.2).saturation, Some(Saturation::None));
        // CPU per request: (user + system) ÷ (successful + warm-up) requests; this cell has no warm-up.
        let mut run = repetition(0.2, 0.1, 0.1);
        run.server_cost.as_mut().unwrap().user_s = 0.0008;
        run.server_cost.as_mut().unwrap().sys_s = 0.0002;
        let c = summarize_cell(&spec, ConcurrencyModel::ThreadPerRequest, &config, vec![run], None, &Limits::default());
        assert!((c.server_cpu_us_per_request.unwrap() - 100.0).abs() < 1e-6, "{c:?}");
    }

    #[test]
    fn a_fault_fails_the_cell_and_keeps_what_was_measured() {
        let mut partial = repetition(0.5, 0.1, 0.1);
        partial.succeeded = 4;
        partial.failed = 6;
        partial.failures.connect = 6;
        let fault = Fault {
            reason: "the server exited during the cell".into(),
            stderr_tail: Some("server stderr:\npanicked".into()),
            partial: Some(Box::new(partial)),
        };
        let cell = summarize(vec![], Some(fault));
        assert_eq!(cell.status, Status::Failed);
        assert_eq!(cell.reason.as_deref(), Some("the server exited during the cell"));
        assert_eq!((cell.succeeded, cell.failed, cell.runs.len()), (4, 6, 1));
        assert!(cell.stderr_tail.unwrap().contains("panicked"));
    }

    #[test]
    fn nothing_measured_leaves_no_figures() {
        let cell = summarize(vec![], Some(Fault { reason: "killed".into(), stderr_tail: None, partial: None }));
        assert_eq!(cell.status, Status::Failed);
        assert!(cell.wall_s.is_none() && cell.spread.is_none() && cell.efficiency.is_none() && cell.runs.is_empty());
    }

    #[test]
    fn a_failed_verification_skips_a_server_that_did_not_start_fails() {
        assert_eq!(unverified(&VerifyRecord { status: VerifyStatus::Passed, ..verify::not_run("") }), None);
        let wrong =
            VerifyRecord { status: VerifyStatus::Failed, reason: Some("fact: wrong".into()), ..verify::not_run("") };
        assert_eq!(unverified(&wrong), Some((Status::Skipped, "failed verify: fact: wrong".into())));
        assert_eq!(
            unverified(&verify::not_run("exited with 1")),
            Some((Status::Failed, "server did not start: exited with 1".into()))
        );
    }

    #[test]
    fn result_lines_say_the_figures_or_the_reason() {
        let ok = summarize(vec![repetition(0.2, 0.1, 0.1)], None);
        let line = result_line(&ok);
        assert!(line.starts_with("thread-server × async-client io c=10 n=10: "), "{line}");
        assert!(line.contains("efficiency 0.50"), "{line}");
        let (spec, _) = io_cell();
        let skipped = unmeasured(&spec, Status::Skipped, "the run was interrupted before this cell", None);
        assert!(result_line(&skipped).ends_with(": skipped: the run was interrupted before this cell"));
    }
}
