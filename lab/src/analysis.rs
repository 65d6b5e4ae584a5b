//! Conclusions drawn from the cells: the original experiment per server and whether its shape holds, and the
//! cost of one more in-flight connection (its fit: [`crate::fit`]).

use crate::records::run::{
    Analysis, Cell, Client, ClientKind, ExperimentPoint, ExperimentRow, Run, ShapeCheck, Workload,
};

/// How far each timing of the original experiment may be from the model's prediction, either way: one request
/// within 10 % of D, ten sent one after another within 10 % of 10 D, ten at once within 10 % of what the model
/// predicts for them (D, or D × ceil(10 ÷ workers) on a pool). docs/model.md says why 10 %.
pub const SHAPE_TOLERANCE: f64 = 0.10;

/// Fills `run.analysis` (except the narrative, see `export::prose::narrative`).
pub fn analyse(run: &Run) -> Analysis {
    let experiment = experiment_rows(run);
    let shape = shape_check(run, &experiment);
    Analysis { experiment, shape, per_connection: crate::fit::per_connection(run), narrative: vec![] }
}

/// The `io` cell of `server` × a client `client` accepts at concurrency `c` and `n` requests.
pub fn find<'a>(run: &'a Run, server: &str, client: impl Fn(&Client) -> bool, c: u64, n: u64) -> Option<&'a Cell> {
    run.cells.iter().find(|x| {
        x.server == server && x.workload == Workload::Io && client(&x.client) && x.concurrency == c && x.requests == n
    })
}

/// The concurrent client of the "10 async" column: async-client if the run has it, else any concurrent client.
pub fn experiment_client(run: &Run) -> Option<Client> {
    let candidates: Vec<&Cell> = run
        .cells
        .iter()
        .filter(|c| {
            c.workload == Workload::Io
                && c.concurrency == 10
                && c.requests == 10
                && c.client.kind != ClientKind::BlockingClient
        })
        .collect();
    candidates.iter().find(|c| c.client.is_async()).or(candidates.first()).map(|c| c.client)
}

fn point(cell: Option<&Cell>, default_expected: f64) -> Option<ExperimentPoint> {
    let cell = cell?;
    if !cell.is_ok() || cell.failed > 0 {
        return None;
    }
    Some(ExperimentPoint { expected_s: cell.expected_wall_s.unwrap_or(default_expected), measured_s: cell.wall_s? })
}

pub fn experiment_rows(run: &Run) -> Vec<ExperimentRow> {
    let d = run.settings.hello_ms as f64 / 1000.0;
    let async_client = experiment_client(run);
    run.server_names()
        .into_iter()
        .filter(|s| run.cells.iter().any(|c| &c.server == s && c.workload == Workload::Io))
        .map(|server| {
            let blocking = |n| find(run, &server, |c| c.kind == ClientKind::BlockingClient, 1, n);
            let ten_async = async_client.as_ref().and_then(|name| find(run, &server, |c| c == name, 10, 10));
            ExperimentRow {
                d_s: d,
                one_request: point(blocking(1), d),
                ten_blocking: point(blocking(10), 10.0 * d),
                ten_async: point(ten_async, d),
                async_client,
                server,
            }
        })
        .collect()
}

/// The three timings of the original experiment, one rule each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// blocking-client, 1 request: ≈ D.
    OneRequest,
    /// blocking-client, 10 requests one after another: ≈ 10 D.
    TenBlocking,
    /// The concurrent client, 10 requests at once: ≈ the model's prediction.
    TenAtOnce,
}

impl Rule {
    /// How the detail lines name the timing.
    fn label(self, client: &str) -> String {
        match self {
            Rule::OneRequest => "1 request".to_string(),
            Rule::TenBlocking => "10 blocking requests".to_string(),
            Rule::TenAtOnce => format!("10 concurrent requests ({client})"),
        }
    }
}

/// Whether `measured` is within [`SHAPE_TOLERANCE`] of `expected`, either way.
pub fn within_tolerance(measured: f64, expected: f64) -> bool {
    // A nanosecond of slack, so that exactly 10 % off (1.1 s for 1 s) is not lost to floating-point rounding.
    (measured - expected).abs() <= SHAPE_TOLERANCE * expected + 1e-9
}

/// On every server: 1 request ≈ D, 10 blocking ≈ 10 D, 10 at once ≈ the model's prediction (D where the server
/// waits on any number of requests at once, the pool's rounds of D where it waits on as many as it has workers),
/// each within [`SHAPE_TOLERANCE`] either way. Too slow means the server (or the machine) serialised what should
/// overlap; too fast means the requests did not wait what they asked for, or the blocking client overlapped them.
pub fn shape_check(run: &Run, rows: &[ExperimentRow]) -> ShapeCheck {
    let mut details = Vec::new();
    let mut holds = true;
    let mut evaluated = false;
    let tolerance = format!("{:.0} %", SHAPE_TOLERANCE * 100.0);
    for row in rows {
        let d = row.d_s;
        // Why a cell gave no point: None when the run did not plan it (the rule is then not evaluated).
        let cell_reason = |client: Client, c: u64, n: u64| {
            find(run, &row.server, |x| *x == client, c, n).map(|x| match (&x.reason, x.failed) {
                (Some(r), _) => format!("{}: {r}", x.status),
                (None, f) if f > 0 => format!("{f} requests failed"),
                _ => x.status.to_string(),
            })
        };
        let async_client = row.async_client;
        let blocking = Client::plain(ClientKind::BlockingClient);
        let rules = [
            (Rule::OneRequest, row.one_request, Some((blocking, 1, 1))),
            (Rule::TenBlocking, row.ten_blocking, Some((blocking, 1, 10))),
            (Rule::TenAtOnce, row.ten_async, async_client.map(|client| (client, 10, 10))),
        ];
        for (rule, point, cell) in rules {
            let label = rule.label(&async_client.map_or("no concurrent client".to_string(), |c| c.label()));
            match (point, cell) {
                (_, None) => details.push(format!("{}: no concurrent client in this run (not evaluated)", row.server)),
                (Some(p), Some(_)) => {
                    evaluated = true;
                    let ok = within_tolerance(p.measured_s, p.expected_s);
                    holds &= ok;
                    details.push(format!(
                        "{}: {label} took {:.3} s = {:.2} D ({} the model's {:.1} D ± {tolerance})",
                        row.server,
                        p.measured_s,
                        p.measured_s / d,
                        if ok { "holds:" } else { "FAILS:" },
                        p.expected_s / d,
                    ));
                }
                (None, Some((client, c, n))) => match cell_reason(client, c, n) {
                    Some(reason) => {
                        holds = false;
                        details.push(format!("{}: {label} not measured ({reason}) — FAILS", row.server));
                    }
                    None => details.push(format!("{}: {label} not in this run (not evaluated)", row.server)),
                },
            }
        }
    }
    if !evaluated {
        holds = false;
        details.push("no cell of the original experiment was measured".to_string());
    }
    ShapeCheck { evaluated, holds, details }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{CellSpec, ServerSpec};
    use crate::records::run::Latency;
    use crate::records::run::Workload;

    /// An io cell of `server` measured at `wall_s` (None: failed).
    fn io_cell(server: &str, client: &str, c: u64, n: u64, wall_s: Option<f64>) -> Cell {
        let spec = CellSpec {
            server: ServerSpec::Builtin(server.into()),
            client: client.parse().unwrap(),
            workload: Workload::Io,
            concurrency: c,
            requests: n,
            warmup: 1,
            duration: None,
        };
        match wall_s {
            Some(wall) => {
                let mut cell = crate::run::unmeasured(&spec, crate::records::run::Status::Ok, "", None);
                cell.reason = None;
                cell.wall_s = Some(wall);
                cell.throughput_rps = Some(n as f64 / wall);
                cell.latency_us = Some(Latency::default());
                cell.succeeded = n;
                cell
            }
            None => crate::run::unmeasured(
                &spec,
                crate::records::run::Status::Failed,
                "the server exited during the cell",
                None,
            ),
        }
    }

    fn run_of(cells: Vec<Cell>) -> Run {
        let mut run = Run::default();
        run.settings.hello_ms = 1000;
        run.cells = cells;
        run
    }

    fn shape(run: &Run) -> ShapeCheck {
        shape_check(run, &experiment_rows(run))
    }

    #[test]
    fn the_shape_holds_fails_or_is_not_evaluated() {
        let good = |ten_async: f64| {
            run_of(vec![
                io_cell("s", "blocking-client", 1, 1, Some(1.0)),
                io_cell("s", "blocking-client", 1, 10, Some(10.1)),
                io_cell("s", "async-client", 10, 10, Some(ten_async)),
            ])
        };
        let holds = shape(&good(1.05));
        assert!(holds.evaluated && holds.holds, "{holds:?}");
        assert_eq!(holds.details.iter().filter(|d| d.contains("holds: the model's")).count(), 3, "{holds:?}");
        let slow = shape(&good(1.2));
        assert!(slow.evaluated && !slow.holds);
        assert!(
            slow.details.iter().any(|d| d.contains(
                "10 concurrent requests (async-client) took 1.200 s = 1.20 D (FAILS: the model's 1.0 D ± 10 %)"
            )),
            "{slow:?}"
        );
        // Ten blocking requests that overlap (a client that does not wait) break the shape, and so does ten
        // taking 12 D where the rule used to ask only for 8 or more.
        for ten_blocking in [3.0, 8.5, 12.0] {
            let mut run = good(1.0);
            run.cells[1].wall_s = Some(ten_blocking);
            assert!(!shape(&run).holds, "{ten_blocking}");
        }
        // One request that did not wait D (a server that ignores `ms`), or waited far more, breaks it.
        for one in [0.5, 1.2] {
            let mut run = good(1.0);
            run.cells[0].wall_s = Some(one);
            let check = shape(&run);
            assert!(!check.holds && check.details.iter().any(|d| d.starts_with("s: 1 request took")), "{check:?}");
        }
        // A pool of 5 workers serves ten at once in two rounds: 2 D is what the model expects, and D is too fast.
        let mut pool = good(2.05);
        pool.cells[2].expected_wall_s = Some(2.0);
        assert!(shape(&pool).holds, "{:?}", shape(&pool));
        pool.cells[2].wall_s = Some(1.0);
        assert!(!shape(&pool).holds);
        // A planned cell that failed fails the check; a cell the run did not plan is not evaluated.
        let failed = run_of(vec![
            io_cell("s", "blocking-client", 1, 10, Some(10.0)),
            io_cell("s", "async-client", 10, 10, None),
        ]);
        let failed = shape(&failed);
        assert!(!failed.holds && failed.details.iter().any(|d| d.contains("not measured")), "{failed:?}");
        let partial = shape(&run_of(vec![io_cell("s", "async-client", 10, 10, Some(1.0))]));
        assert!(partial.evaluated && partial.holds, "{partial:?}");
        assert!(partial.details.iter().any(|d| d.contains("not in this run")));
        let nothing = shape(&run_of(vec![]));
        assert!(!nothing.evaluated && !nothing.holds);
    }

    #[test]
    fn the_tolerance_is_ten_percent_either_way() {
        assert!(within_tolerance(1.1, 1.0) && within_tolerance(0.9, 1.0) && within_tolerance(10.99, 10.0));
        assert!(!within_tolerance(1.11, 1.0) && !within_tolerance(0.89, 1.0) && !within_tolerance(8.0, 10.0));
    }
}
