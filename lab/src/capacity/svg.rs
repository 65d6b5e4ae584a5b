//! `capacity-<run-id>.svg`: p99 latency against offered rate, one panel per workload, one line per server, the
//! target as a dashed line. Both axes are logarithmic: rates span decades, and past capacity the p99 jumps by
//! orders of magnitude (the queue), which is the point of the picture.

use plotters::prelude::*;

use crate::export::svg::{draw_legend, draw_line, drawing, Draw, COLORS};
use crate::export::{Artifact, Exporter};
use crate::records::capacity::CapacityRun;
use crate::records::Document;
use std::io;

/// `capacity-RUN-ID.svg`.
pub struct CapacitySvg;

impl Exporter<CapacityRun> for CapacitySvg {
    fn render(&self, run: &CapacityRun) -> io::Result<Vec<Artifact>> {
        let svg = render(run).map_err(io::Error::other)?;
        Ok(vec![Artifact { path: format!("{}.svg", run.file_stem()).into(), bytes: svg.into_bytes() }])
    }
}

/// The chart as SVG text.
pub fn render(run: &CapacityRun) -> Draw<String> {
    let (workloads, servers) = run.workloads_and_servers();
    let panels = workloads.len().max(1);
    let columns = panels.min(2);
    let rows = panels.div_ceil(columns);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560 * columns as u32, 400 * rows as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        let areas = root.split_evenly((rows, columns));
        for (workload, area) in workloads.iter().zip(areas.iter()) {
            let cells: Vec<_> = run.cells.iter().filter(|c| c.workload == *workload).collect();
            let points = cells.iter().flat_map(|c| c.probes.iter());
            let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
            for p in points {
                x0 = x0.min(p.rate_rps);
                x1 = x1.max(p.rate_rps);
                let ms = (p.p99_us / 1000.0).max(0.01);
                y0 = y0.min(ms);
                y1 = y1.max(ms);
            }
            let target = cells.first().map_or(1.0, |c| c.target_p99_ms);
            if x0 > x1 {
                (x0, x1) = (1.0, 10.0);
            }
            (y0, y1) = (y0.min(target).max(0.01), y1.max(target));
            let mut chart = ChartBuilder::on(area)
                .caption(format!("{workload}: p99 vs offered rate (open loop)"), ("sans-serif", 17))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d((x0 * 0.8..x1 * 1.25).log_scale(), (y0 * 0.7..y1 * 1.5).log_scale())
                .map_err(drawing)?;
            chart
                .configure_mesh()
                .x_desc("offered rate, req/s (log)")
                .y_desc("p99 ms (log)")
                .bold_line_style(RGBColor(225, 225, 225))
                .light_line_style(WHITE)
                .x_label_formatter(&|x| format!("{x:.0}"))
                .y_label_formatter(&|y| if *y >= 10.0 { format!("{y:.0}") } else { format!("{y:.2}") })
                .draw()
                .map_err(drawing)?;
            chart
                .draw_series(LineSeries::new(
                    vec![(x0 * 0.8, target), (x1 * 1.25, target)],
                    ShapeStyle::from(&BLACK.mix(0.5)).stroke_width(1),
                ))
                .map_err(drawing)?
                .label(format!("target {target} ms"))
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.mix(0.5)));
            for cell in &cells {
                let index = servers.iter().position(|s| *s == cell.server).unwrap_or(0);
                let color = COLORS[index % COLORS.len()];
                let mut line: Vec<(f64, f64)> =
                    cell.probes.iter().map(|p| (p.rate_rps, (p.p99_us / 1000.0).max(0.01))).collect();
                line.sort_by(|a, b| a.0.total_cmp(&b.0));
                draw_line(&mut chart, line, color, &cell.server)?;
                // Filled: the probe held; hollow: it did not.
                chart
                    .draw_series(cell.probes.iter().map(|p| {
                        let at = (p.rate_rps, (p.p99_us / 1000.0).max(0.01));
                        if p.held {
                            Circle::new(at, 3, color.filled())
                        } else {
                            Circle::new(at, 3, color.stroke_width(1))
                        }
                    }))
                    .map_err(drawing)?;
            }
            draw_legend(&mut chart)?;
        }
        root.present().map_err(drawing)?;
    }
    Ok(svg)
}
