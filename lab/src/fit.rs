//! Lines through measured points: the memory one more connection costs, as the slope of a least-squares line
//! over a concurrency sweep (RSS, threads, and the kernel's `KernelStack` and `Slab` growth), with r² saying how
//! straight the line is. Used by the matrix's analysis, `lab bench`'s cost part, `lab soak`'s growth and
//! `lab primitives`' memory of idle units.

use crate::records::run::{Client, ConnectionCost, Run, Workload};

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
        let clients = crate::records::first_seen(
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

    #[test]
    fn fits_a_line() {
        let (slope, r2) = linear_fit(&[(1.0, 10.0), (10.0, 28.0), (100.0, 208.0)]).unwrap();
        assert!((slope - 2.0).abs() < 1e-9 && (r2 - 1.0).abs() < 1e-9);
        assert!(linear_fit(&[(1.0, 1.0)]).is_none());
        assert!(linear_fit(&[(5.0, 1.0), (5.0, 2.0)]).is_none());
    }
}
