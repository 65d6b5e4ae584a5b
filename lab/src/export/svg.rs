//! `RUN-ID/WORKLOAD.svg`: one chart per workload, throughput and p99 latency against concurrency, one line per
//! server. Drawn with plotters' SVG backend only: text is left to the SVG viewer, so no system font is needed.

use super::{Artifact, Exporter, Report};
use crate::records::run::{Cell, ClientKind, Run, Workload};
use plotters::prelude::*;
use std::io;
use std::path::PathBuf;

pub struct SvgExporter;

/// Where the chart of `workload` goes, relative to the output directory.
pub fn chart_path(run: &Run, workload: Workload) -> PathBuf {
    PathBuf::from(&run.run_id).join(format!("{workload}.svg"))
}

/// What drawing a chart returns: a plotters error is only reported (the exporter's file fails), never branched on.
pub type Draw<T> = anyhow::Result<T>;

/// A plotters error as a [`Draw`] error, in its own words.
pub fn drawing<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Line colours, one per server in run order.
pub const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// One point of a line: (concurrency, throughput in req/s, p99 in ms).
pub type ChartPoint = (f64, f64, f64);

/// The lines of one chart: for each server, its points sorted by concurrency.
pub struct ChartData {
    /// The client's label (or what loaded the servers), for the caption.
    pub client: String,
    pub series: Vec<(String, Vec<ChartPoint>)>,
}

/// The concurrent client with the most clean cells in `workload` (async-client first on ties), and its points.
pub fn chart_data(run: &Run, workload: Workload) -> Option<ChartData> {
    let usable = |c: &&Cell| {
        c.is_ok()
            && c.failed == 0
            && c.client.kind != ClientKind::BlockingClient
            && c.throughput_rps.is_some()
            && c.latency_us.is_some()
    };
    let cells: Vec<&Cell> = run.cells_of(workload).filter(usable).collect();
    let client = *crate::findings::ranking::most_cells_first(&cells).first()?;
    let series = crate::records::first_seen(cells.iter().filter(|c| c.client == client).map(|c| c.server.clone()))
        .into_iter()
        .map(|server| {
            let mut points: Vec<ChartPoint> = cells
                .iter()
                .filter(|c| c.client == client && c.server == server)
                .map(|c| {
                    (
                        c.concurrency as f64,
                        c.throughput_rps.unwrap_or(0.0),
                        c.latency_us.map_or(0.0, |l| l.p99) / 1000.0,
                    )
                })
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            // Several cells at one concurrency (io's experiment cells): keep the largest request count's, listed last.
            points.dedup_by(|later, earlier| {
                if later.0 == earlier.0 {
                    *earlier = *later;
                    true
                } else {
                    false
                }
            });
            (server, points)
        })
        .collect();
    Some(ChartData { client: client.label(), series })
}

impl ChartData {
    /// The log-scale x axis that shows every point with a margin (a single level widened to a factor of 4).
    pub fn x_range(&self) -> (f64, f64) {
        let xs = self.series.iter().flat_map(|(_, p)| p.iter().map(|x| x.0));
        let (mut x0, mut x1) = xs.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
        if x0 >= x1 {
            (x0, x1) = (x0 / 2.0, x1 * 2.0);
        }
        (x0 * 0.8, x1 * 1.25)
    }
}

fn draw(workload: Workload, data: &ChartData) -> Draw<String> {
    draw_pair(&format!("{workload}: "), "concurrency", [("throughput", "req/s"), ("p99 latency", "ms")], data)
}

/// Two charts side by side against a log-scale x axis, one line per series: the first panel plots each point's
/// second figure, the second its third. Captions read `{prefix}{title} vs {x_name} ({client})`.
pub fn draw_pair(prefix: &str, x_name: &str, panels: [(&str, &str); 2], data: &ChartData) -> Draw<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1100, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        let (left, right) = root.split_horizontally(550);
        let (x0, x1) = data.x_range();
        let [(title1, unit1), (title2, unit2)] = panels;
        for (area, title, unit, pick) in [(&left, title1, unit1, 1usize), (&right, title2, unit2, 2usize)] {
            let value = |p: &ChartPoint| if pick == 1 { p.1 } else { p.2 };
            let y1 = data.series.iter().flat_map(|(_, p)| p.iter().map(value)).fold(0.0f64, f64::max) * 1.15;
            let y1 = if y1 > 0.0 { y1 } else { 1.0 };
            let mut chart = ChartBuilder::on(area)
                .caption(format!("{prefix}{title} vs {x_name} ({})", data.client), ("sans-serif", 17))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d((x0..x1).log_scale(), 0.0..y1)
                .map_err(drawing)?;
            chart
                .configure_mesh()
                .x_desc(format!("{x_name} (log scale)"))
                .bold_line_style(RGBColor(225, 225, 225))
                .light_line_style(WHITE)
                .x_labels(6)
                .y_labels(8)
                .y_desc(unit)
                .x_label_formatter(&|x| format!("{x:.0}"))
                .y_label_formatter(&|y| if *y >= 100.0 { format!("{y:.0}") } else { format!("{y:.1}") })
                .draw()
                .map_err(drawing)?;
            for (i, (server, points)) in data.series.iter().enumerate() {
                let color = COLORS[i % COLORS.len()];
                let line: Vec<(f64, f64)> = points.iter().map(|p| (p.0, value(p))).collect();
                draw_line(&mut chart, line.clone(), color, server)?;
                chart.draw_series(line.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(drawing)?;
            }
            draw_legend(&mut chart)?;
        }
        root.present().map_err(drawing)?;
    }
    Ok(svg)
}

/// One server's line, 2 px wide in `color`, with its entry in the legend.
pub fn draw_line<'a, CT: CoordTranslate<From = (f64, f64)>>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, CT>,
    line: Vec<(f64, f64)>,
    color: RGBColor,
    label: &str,
) -> Draw<()> {
    chart
        .draw_series(LineSeries::new(line, color.stroke_width(2)))
        .map_err(drawing)?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    Ok(())
}

/// The legend box, upper left, as every chart of the lab draws it.
pub fn draw_legend<'a, CT: CoordTranslate>(chart: &mut ChartContext<'a, SVGBackend<'a>, CT>) -> Draw<()> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(drawing)
}

impl Exporter<Report<'_>> for SvgExporter {
    fn render(&self, report: &Report) -> io::Result<Vec<Artifact>> {
        let run = report.run;
        let mut out = Vec::new();
        for workload in run.workloads() {
            let Some(data) = chart_data(run, workload) else { continue };
            if data.series.is_empty() {
                continue;
            }
            let svg = draw(workload, &data).map_err(|e| io::Error::other(format!("chart {workload}: {e}")))?;
            out.push(Artifact { path: chart_path(run, workload), bytes: svg.into_bytes() });
        }
        Ok(out)
    }
}
