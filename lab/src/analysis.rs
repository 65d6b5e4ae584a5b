//! Conclusions drawn from the cells: the original experiment per server and whether its shape holds, and the
//! cost of one more in-flight connection (slopes of a least-squares line over the io concurrency sweep).

use crate::records::first_seen;
use crate::records::run::{
    Analysis, Cell, Client, ClientKind, ConnectionCost, ExperimentPoint, ExperimentRow, Run, ShapeCheck, Workload,
};

/// How far each timing of the original experiment may be from the model's prediction, either way: one request
/// within 10 % of D, ten sent one after another within 10 % of 10 D, ten at once within 10 % of what the model
/// predicts for them (D, or D × ceil(10 ÷ workers) on a pool). docs/model.md says why 10 %.
pub const SHAPE_TOLERANCE: f64 = 0.10;

/// Fills `run.analysis` (except the narrative, see `export::prose::narrative`).
pub fn analyse(run: &Run) -> Analysis {
    let experiment = experiment_rows(run);
    let shape = shape_check(run, &experiment);
    Analysis { experiment, shape, per_connection: per_connection(run), narrative: vec![] }
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

/// The memory of one waiting connection as a fit shows it: the slope, or "unclear" below r² 0.9 (`export::prose::fit_text`).
pub const FIT_R2_MIN: f64 = 0.9;

/// Least squares y = a + b x; returns (slope b, r²).
pub fn linear_fit(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let syy: f64 = points.iter().map(|p| (p.1 - mean_y).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let r2 = if syy == 0.0 { 1.0 } else { (sxy * sxy) / (sxx * syy) };
    Some((slope, r2))
}

/// `KernelStack` and `Slab` KiB per in-flight connection: slopes of the kernel growth of the cells behind
/// `points` (the fit's levels); `None` when one of them has no kernel figures.
fn kernel_per_connection(run: &Run, server: &str, client: Client, points: &[(u64, u64, u64)]) -> Option<(f64, f64)> {
    let mut stack = Vec::new();
    let mut slab = Vec::new();
    for &(level, _, _) in points {
        let cell = run.cells.iter().find(|c| {
            c.server == server
                && c.client == client
                && c.workload == Workload::Io
                && c.is_ok()
                && c.failed == 0
                && c.requests == c.concurrency
                && c.concurrency == level
        })?;
        let growth = cell.server_cost.as_ref()?.kernel_growth?;
        stack.push((level as f64, growth.kernel_stack_kib as f64));
        slab.push((level as f64, growth.slab_kib as f64));
    }
    Some((linear_fit(&stack)?.0, linear_fit(&slab)?.0))
}

/// RSS and threads per in-flight connection, per server × concurrent client, over the io sweep.
pub fn per_connection(run: &Run) -> Vec<ConnectionCost> {
    let mut out = Vec::new();
    for server in run.server_names() {
        let clients = first_seen(
            run.cells
                .iter()
                .filter(|c| c.server == server && c.workload == Workload::Io && !c.client.is_sequential())
                .map(|c| c.client),
        );
        for client in clients {
            let mut points: Vec<(u64, u64, u64)> = run
                .cells
                .iter()
                .filter(|c| {
                    c.server == server && c.client == client && c.workload == Workload::Io && c.is_ok() && c.failed == 0
                })
                // One request per connection: every request is in flight at once.
                .filter(|c| c.requests == c.concurrency)
                .filter_map(|c| c.server_cost.as_ref().map(|s| (c.concurrency, s.peak_rss_kib, s.peak_threads)))
                .collect();
            points.sort();
            points.dedup_by_key(|p| p.0);
            if points.len() < 2 {
                continue;
            }
            let rss: Vec<(f64, f64)> = points.iter().map(|p| (p.0 as f64, p.1 as f64)).collect();
            let threads: Vec<(f64, f64)> = points.iter().map(|p| (p.0 as f64, p.2 as f64)).collect();
            let (Some((rss_slope, rss_r2)), Some((thread_slope, _))) = (linear_fit(&rss), linear_fit(&threads)) else {
                continue;
            };
            let kernel = kernel_per_connection(run, &server, client, &points);
            out.push(ConnectionCost {
                server: server.clone(),
                client,
                workload: Workload::Io,
                points,
                rss_kib_per_connection: rss_slope,
                threads_per_connection: thread_slope,
                rss_r2,
                kernel_stack_kib_per_connection: kernel.map(|k| k.0),
                slab_kib_per_connection: kernel.map(|k| k.1),
                kernel_kib_per_connection: kernel.map(|k| k.0 + k.1),
                total_kib_per_connection: kernel.map(|k| k.0 + k.1 + rss_slope),
            });
        }
    }
    out
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

    #[test]
    fn fits_a_line() {
        let (slope, r2) = linear_fit(&[(1.0, 10.0), (10.0, 28.0), (100.0, 208.0)]).unwrap();
        assert!((slope - 2.0).abs() < 1e-9 && (r2 - 1.0).abs() < 1e-9);
        assert!(linear_fit(&[(1.0, 1.0)]).is_none());
        assert!(linear_fit(&[(5.0, 1.0), (5.0, 2.0)]).is_none());
    }
}
