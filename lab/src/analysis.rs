//! Conclusions drawn from the cells: the original experiment per server and whether its shape holds, and the
//! cost of one more in-flight connection (slopes of a least-squares line over the io concurrency sweep).

use crate::results::{Analysis, Cell, ConnectionCost, ExperimentPoint, ExperimentRow, Run, ShapeCheck};

/// 10 blocking requests must take at least this many D …
pub const TEN_BLOCKING_MIN_D: f64 = 8.0;
/// … and 10 concurrent requests at most this many D (on servers whose model expects ≈ D).
pub const TEN_ASYNC_MAX_D: f64 = 2.0;

/// Fills `run.analysis` (except the narrative, see `narrative`).
pub fn analyse(run: &Run) -> Analysis {
    let experiment = experiment_rows(run);
    let shape = shape_check(run, &experiment);
    Analysis { experiment, shape, per_connection: per_connection(run), narrative: vec![] }
}

fn find<'a>(run: &'a Run, server: &str, client: impl Fn(&str) -> bool, c: u64, n: u64) -> Option<&'a Cell> {
    run.cells.iter().find(|x| {
        x.server == server && x.workload == "io" && client(&x.client) && x.concurrency == c && x.requests == n
    })
}

/// The concurrent client of the "10 async" column: async-client if the run has it, else any concurrent client.
pub fn experiment_client(run: &Run) -> Option<String> {
    let candidates: Vec<&Cell> = run
        .cells
        .iter()
        .filter(|c| c.workload == "io" && c.concurrency == 10 && c.requests == 10 && c.client != "blocking-client")
        .collect();
    candidates.iter().find(|c| c.client.starts_with("async-client")).or(candidates.first()).map(|c| c.client.clone())
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
        .filter(|s| run.cells.iter().any(|c| &c.server == s && c.workload == "io"))
        .map(|server| {
            let blocking = |n| find(run, &server, |c| c == "blocking-client", 1, n);
            let ten_async = async_client.as_ref().and_then(|name| find(run, &server, |c| c == name, 10, 10));
            ExperimentRow {
                d_s: d,
                one_request: point(blocking(1), d),
                ten_blocking: point(blocking(10), 10.0 * d),
                ten_async: point(ten_async, d),
                async_client: async_client.clone(),
                server,
            }
        })
        .collect()
}

/// 10 blocking ≥ 8 D on every server; 10 async ≤ 2 D on every server whose model expects them to take ≈ D.
pub fn shape_check(run: &Run, rows: &[ExperimentRow]) -> ShapeCheck {
    let mut details = Vec::new();
    let mut holds = true;
    let mut evaluated = false;
    for row in rows {
        let d = row.d_s;
        // Why a cell gave no point: None when the run did not plan it (the rule is then not evaluated).
        let cell_reason = |client: &str, c: u64, n: u64| {
            run.cells
                .iter()
                .find(|x| {
                    x.server == row.server
                        && x.workload == "io"
                        && x.client == client
                        && x.concurrency == c
                        && x.requests == n
                })
                .map(|x| match (&x.reason, x.failed) {
                    (Some(r), _) => format!("{}: {r}", x.status),
                    (None, f) if f > 0 => format!("{f} requests failed"),
                    _ => x.status.to_string(),
                })
        };
        match row.ten_blocking {
            Some(p) => {
                evaluated = true;
                let ok = p.measured_s >= TEN_BLOCKING_MIN_D * d;
                holds &= ok;
                details.push(format!(
                    "{}: 10 blocking requests took {:.2} s = {:.1} D ({} ≥ {TEN_BLOCKING_MIN_D} D)",
                    row.server,
                    p.measured_s,
                    p.measured_s / d,
                    if ok { "holds:" } else { "FAILS:" }
                ));
            }
            None => match cell_reason("blocking-client", 1, 10) {
                Some(reason) => {
                    holds = false;
                    details.push(format!("{}: 10 blocking requests not measured ({reason}) — FAILS", row.server));
                }
                None => details.push(format!("{}: 10 blocking requests not in this run (not evaluated)", row.server)),
            },
        }
        match (row.ten_async, &row.async_client) {
            (Some(p), Some(client)) => {
                evaluated = true;
                if p.expected_s > d * 1.0001 {
                    details.push(format!(
                        "{}: 10 concurrent requests ({client}) took {:.2} s = {:.1} D; the model expects {:.1} D \
                         (bounded workers), so the ≤ {TEN_ASYNC_MAX_D} D rule does not apply",
                        row.server,
                        p.measured_s,
                        p.measured_s / d,
                        p.expected_s / d
                    ));
                } else {
                    let ok = p.measured_s <= TEN_ASYNC_MAX_D * d;
                    holds &= ok;
                    details.push(format!(
                        "{}: 10 concurrent requests ({client}) took {:.2} s = {:.1} D ({} ≤ {TEN_ASYNC_MAX_D} D)",
                        row.server,
                        p.measured_s,
                        p.measured_s / d,
                        if ok { "holds:" } else { "FAILS:" }
                    ));
                }
            }
            (None, Some(client)) => match cell_reason(client, 10, 10) {
                Some(reason) => {
                    holds = false;
                    details.push(format!(
                        "{}: 10 concurrent requests ({client}) not measured ({reason}) — FAILS",
                        row.server
                    ));
                }
                None => details.push(format!("{}: 10 concurrent requests not in this run (not evaluated)", row.server)),
            },
            (_, None) => details.push(format!("{}: no concurrent client in this run (not evaluated)", row.server)),
        }
    }
    if !evaluated {
        holds = false;
        details.push("no cell of the original experiment was measured".to_string());
    }
    ShapeCheck { evaluated, holds, details }
}

/// The memory of one waiting connection as a fit shows it: the slope, or "unclear" below r² 0.9.
pub const FIT_R2_MIN: f64 = 0.9;

/// `16.4 KiB (r² 0.99, 3 points)` or `unclear (r² 0.32, 3 points)`.
pub fn fit_text(kib: f64, r2: f64, points: usize) -> String {
    if r2 < FIT_R2_MIN {
        format!("unclear (r² {r2:.2}, {points} points)")
    } else {
        let digits = if kib.abs() < 1.0 { 2 } else { 1 };
        format!("{kib:.digits$} KiB (r² {r2:.2}, {points} points)")
    }
}

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
fn kernel_per_connection(run: &Run, server: &str, client: &str, points: &[(u64, u64, u64)]) -> Option<(f64, f64)> {
    let mut stack = Vec::new();
    let mut slab = Vec::new();
    for &(level, _, _) in points {
        let cell = run.cells.iter().find(|c| {
            c.server == server
                && c.client == client
                && c.workload == "io"
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
        let mut clients: Vec<String> = Vec::new();
        for c in run.cells.iter().filter(|c| c.server == server && c.workload == "io" && c.client != "blocking-client")
        {
            if !clients.contains(&c.client) {
                clients.push(c.client.clone());
            }
        }
        for client in clients {
            let mut points: Vec<(u64, u64, u64)> = run
                .cells
                .iter()
                .filter(|c| {
                    c.server == server && c.client == client && c.workload == "io" && c.is_ok() && c.failed == 0
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
            let kernel = kernel_per_connection(run, &server, &client, &points);
            out.push(ConnectionCost {
                server: server.clone(),
                client,
                workload: "io".to_string(),
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
    use crate::plan::{CellSpec, ServerSpec, Workload};
    use crate::results::Latency;

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
                let mut cell = crate::run::unmeasured(&spec, crate::results::Status::Ok, "", None);
                cell.reason = None;
                cell.wall_s = Some(wall);
                cell.throughput_rps = Some(n as f64 / wall);
                cell.latency_us = Some(Latency::default());
                cell.succeeded = n;
                cell
            }
            None => {
                crate::run::unmeasured(&spec, crate::results::Status::Failed, "the server exited during the cell", None)
            }
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
        let slow = shape(&good(2.5));
        assert!(slow.evaluated && !slow.holds);
        assert!(slow.details.iter().any(|d| d.contains("FAILS: ≤ 2 D")), "{slow:?}");
        // Ten blocking requests that overlap (a client that does not wait) break the shape too.
        let mut overlapping = good(1.0);
        overlapping.cells[1].wall_s = Some(3.0);
        assert!(!shape(&overlapping).holds);
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
    fn fits_a_line() {
        let (slope, r2) = linear_fit(&[(1.0, 10.0), (10.0, 28.0), (100.0, 208.0)]).unwrap();
        assert!((slope - 2.0).abs() < 1e-9 && (r2 - 1.0).abs() < 1e-9);
        assert!(linear_fit(&[(1.0, 1.0)]).is_none());
        assert!(linear_fit(&[(5.0, 1.0), (5.0, 2.0)]).is_none());
    }
}
