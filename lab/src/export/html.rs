//! `RUN-ID.html`: the run as one page a person opens in a browser — the answer first, then the pictures that
//! show it. One self-contained file: inline CSS and inline SVG (plotters' SVG backend), no script, no font, no
//! request to anything outside the page, so it reads the same offline, from a mail, or years later.
//!
//! What it shows, in order, one idea per chart (after hyperfine's and criterion's reports):
//! - the verdict, the headline table, the noise rule: the run's [`Findings`] in the writers' shared words
//!   ([`super::prose`]), never recomputed;
//! - the article's experiment as a timeline: one bar per request, send to response. A blocking client's ten
//!   requests form a staircase (each waits for the one before); the async client's ten lie side by side (each
//!   waits, none blocks the others). Drawn from the clients' `--timeline` (cells of at most ten requests);
//! - the `/block` anti-pattern the same way: ten requests queueing behind the threads that may sleep at once;
//! - throughput and p99 against concurrency per workload, with the model's prediction beside the measurement;
//! - what a waiting connection and a request cost, as bars per server;
//! - the model misses and the run's provenance.
//!
//! A server has one colour everywhere on the page ([`server_color`]). Every text put into the page is escaped.

use super::prose;
use super::svg::{self, Draw, COLORS};
use super::{Artifact, Exporter, Report};
use crate::analysis::find;
use crate::findings::headline::{Memory, Row};
use crate::findings::{Findings, Headline, FIT_R2_MIN};
use crate::format;
use crate::records::run::{Cell, ClientKind, Run, Workload};
use harness::report::TimelineEntry;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::fmt::Write;
use std::io;
use std::path::PathBuf;

pub struct HtmlExporter;

/// Where the page of a run goes, relative to the output directory.
pub fn page_path(run: &Run) -> PathBuf {
    PathBuf::from(format!("{}.html", run.run_id))
}

impl Exporter<Report<'_>> for HtmlExporter {
    fn render(&self, r: &Report) -> io::Result<Vec<Artifact>> {
        let page = render(r.run, &r.findings).map_err(|e| io::Error::other(format!("HTML report: {e}")))?;
        Ok(vec![Artifact { path: page_path(r.run), bytes: page.into_bytes() }])
    }
}

/// The colour of `server`: its place among the run's servers picks it, so it is the same in every chart.
pub fn server_color(run: &Run, server: &str) -> RGBColor {
    let i = run.server_names().iter().position(|s| s == server).unwrap_or(0);
    COLORS[i % COLORS.len()]
}

/// `text` made safe inside an element or a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The inline markdown the findings are written in (`**bold**`, `*em*`, `` `code` ``, `[text](target)`) as
/// HTML, everything escaped. A link to an address outside the page's directory (`http:`) stays text: the page
/// loads and links nothing external.
pub fn inline(md: &str) -> String {
    let mut out = String::new();
    let mut rest = md;
    let (mut strong, mut em) = (false, false);
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix('`') {
            if let Some(end) = after.find('`') {
                let _ = write!(out, "<code>{}</code>", escape(&after[..end]));
                rest = &after[end + 1..];
                continue;
            }
        }
        if let Some(after) = rest.strip_prefix("**") {
            out.push_str(if strong { "</strong>" } else { "<strong>" });
            strong = !strong;
            rest = after;
            continue;
        }
        if let Some(after) = rest.strip_prefix('*') {
            if em || after.contains('*') {
                out.push_str(if em { "</em>" } else { "<em>" });
                em = !em;
                rest = after;
                continue;
            }
        }
        if let Some(after) = rest.strip_prefix('[') {
            if let Some((text, tail)) = after.split_once("](") {
                if let Some((target, tail)) = tail.split_once(')') {
                    if !text.contains('[') {
                        if target.contains("://") {
                            let _ = write!(out, "{} ({})", inline(text), escape(target));
                        } else {
                            let _ = write!(out, "<a href=\"{}\">{}</a>", escape(target), inline(text));
                        }
                        rest = tail;
                        continue;
                    }
                }
            }
        }
        out.push_str(&escape(&c.to_string()));
        rest = &rest[c.len_utf8()..];
    }
    if em {
        out.push_str("</em>");
    }
    if strong {
        out.push_str("</strong>");
    }
    out
}

/// Markdown made of tables, paragraphs and one-line quotes (a page's warnings) as HTML.
pub fn blocks(md: &str) -> String {
    let mut out = String::new();
    let lines: Vec<&str> = md.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if line.starts_with('|') {
            let cells = |l: &str| -> Vec<String> {
                let l = l.trim().trim_start_matches('|').trim_end_matches('|');
                l.split('|').map(|c| c.trim().to_string()).collect()
            };
            let header = cells(line);
            let right: Vec<bool> =
                lines.get(i + 1).map(|l| cells(l).iter().map(|c| c.ends_with(':')).collect()).unwrap_or_default();
            out.push_str("<div class=\"scroll\"><table>\n<thead><tr>");
            for h in &header {
                let _ = write!(out, "<th>{}</th>", inline(h));
            }
            out.push_str("</tr></thead>\n<tbody>\n");
            i += 2;
            while i < lines.len() && lines[i].trim().starts_with('|') {
                out.push_str("<tr>");
                for (k, c) in cells(lines[i]).iter().enumerate() {
                    let class = if right.get(k) == Some(&true) { " class=\"num\"" } else { "" };
                    let _ = write!(out, "<td{class}>{}</td>", inline(c));
                }
                out.push_str("</tr>\n");
                i += 1;
            }
            out.push_str("</tbody></table></div>\n");
            continue;
        }
        if let Some(warning) = line.strip_prefix("> ") {
            let _ = writeln!(out, "<p class=\"warn\">{}</p>", inline(warning));
        } else if !line.is_empty() {
            let _ = writeln!(out, "<p class=\"note\">{}</p>", inline(line));
        }
        i += 1;
    }
    out
}

/// What a chart must show a reader, declared beside it so that a test can hold the SVG to it: its titles, its
/// axis labels and its legend entries.
struct Chart {
    id: Option<String>,
    titles: Vec<String>,
    axes: Vec<String>,
    legend: Vec<String>,
    svg: String,
    /// One sentence under the chart: how to read it.
    caption: String,
}

impl Chart {
    fn html(&self) -> String {
        let join = |v: &[String]| escape(&v.join("|"));
        let id = self.id.as_ref().map_or(String::new(), |id| format!(" id=\"{}\"", escape(id)));
        format!(
            "<figure class=\"chart\"{id} data-titles=\"{}\" data-axes=\"{}\" data-legend=\"{}\">\n{}\n<figcaption>{}</figcaption>\n</figure>\n",
            join(&self.titles),
            join(&self.axes),
            join(&self.legend),
            self.svg,
            inline(&self.caption)
        )
    }
}

/// A plotters error, reported as the page's failure.
fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    svg::drawing(e)
}

/// The width of the legend strip at the right of a chart: the legend never covers a line or a bar.
const LEGEND_STRIP: u32 = 180;

/// How a legend entry is drawn.
#[derive(Clone, Copy)]
enum Swatch {
    Line(RGBColor),
    Dashed(RGBColor),
    Block(RGBColor, f64),
}

/// A legend in its own strip (`area`): a framed list of swatches and labels, drawn with plotters' elements.
fn legend_strip(area: &DrawingArea<SVGBackend<'_>, Shift>, entries: &[(String, Swatch)]) -> Draw<()> {
    let (top, left, row) = (40, 8, 20);
    let bottom = top + row * entries.len() as i32 + 8;
    let width = area.dim_in_pixel().0 as i32 - 14;
    area.draw(&Rectangle::new([(left, top - 12), (left + width, bottom)], RGBColor(160, 160, 160).stroke_width(1)))
        .map_err(err)?;
    for (k, (label, swatch)) in entries.iter().enumerate() {
        let y = top + row * k as i32;
        let x = left + 8;
        match *swatch {
            Swatch::Line(c) => area.draw(&PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))),
            Swatch::Dashed(c) => {
                for dash in [0, 8, 16] {
                    area.draw(&PathElement::new(vec![(x + dash, y), (x + dash + 4, y)], c.stroke_width(2)))
                        .map_err(err)?;
                }
                Ok(())
            }
            Swatch::Block(c, shade) => area.draw(&Rectangle::new([(x, y - 5), (x + 18, y + 5)], c.mix(shade).filled())),
        }
        .map_err(err)?;
        let anchor = plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Left,
            plotters::style::text_anchor::VPos::Center,
        );
        area.draw(&Text::new(label.clone(), (x + 26, y), TextStyle::from(("sans-serif", 13).into_font()).pos(anchor)))
            .map_err(err)?;
    }
    Ok(())
}

/// The page.
pub fn render(run: &Run, findings: &Findings) -> Draw<String> {
    let mut body = String::new();
    let _ = writeln!(body, "<h1>Lab run {}</h1>", escape(&run.run_id));
    let _ = writeln!(body, "<p class=\"sub\">{}</p>", inline(&settings_line(run)));
    for warning in prose::warnings(&run.header, &super::markdown::stopped(run)) {
        let _ = writeln!(body, "<p class=\"warn\">{}</p>", inline(&warning));
    }
    answer(run, findings, &mut body);
    experiment(run, findings, &mut body)?;
    blocking_call(run, findings, &mut body)?;
    workloads(run, &mut body)?;
    costs(run, findings.headline.as_ref(), &mut body)?;
    model_misses(findings, &mut body);
    chain(run, &mut body);
    provenance(run, &mut body);
    let _ = writeln!(
        body,
        "<footer>Written by <code>lab</code> from <code>{id}.json</code>; <code>lab report {id}.json</code> rebuilds \
         this page. Every table of the run: <a href=\"{id}.md\">{id}.md</a>.</footer>",
        id = escape(&run.run_id)
    );
    Ok(page(&format!("Lab run {}", run.run_id), &body))
}

/// A whole page around `body` (the contents of `<main>`): one self-contained file, its style inline.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{CSS}</style>\n</head>\n\
         <body>\n<main>\n{body}</main>\n</body>\n</html>\n",
        escape(title)
    )
}

const CSS: &str = "
body { margin: 0; background: #fafafa; color: #222; font: 15px/1.5 system-ui, -apple-system, 'Segoe UI', sans-serif; }
main { max-width: 1140px; margin: 0 auto; padding: 16px 24px 48px; background: #fff; }
h1 { font-size: 26px; margin: 8px 0 4px; }
h2 { font-size: 20px; margin: 36px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.sub { color: #555; margin-top: 0; }
.warn { background: #fff4e5; border-left: 4px solid #f0a020; padding: 6px 10px; }
ul.claims { padding-left: 20px; font-size: 16px; }
ul.claims li { margin: 6px 0; }
.note { color: #444; font-size: 13px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 10px 0; font-size: 13.5px; }
th, td { border: 1px solid #ddd; padding: 4px 8px; vertical-align: top; text-align: left; }
th { background: #f2f2f2; }
td.num { text-align: right; }
code { background: #f3f3f3; padding: 0 3px; border-radius: 3px; font-size: 92%; }
figure.chart { margin: 18px 0; }
figure.chart svg { max-width: 100%; height: auto; display: block; }
figcaption { color: #555; font-size: 13px; margin-top: 2px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; font-size: 13.5px; }
dt { font-weight: 600; }
dd { margin: 0; word-break: break-word; }
footer { margin-top: 36px; color: #666; font-size: 13px; }
";

/// `Profile quick · D = 1.00 s (io) · …`: what the run was asked to do.
fn settings_line(run: &Run) -> String {
    let s = &run.settings;
    format!(
        "Profile `{}` · D = {} (io) · blocking sleep {} · cpu = {}! uncached · keep-alive {} · repeated {} × · {} \
         cells · {} servers.",
        run.profile,
        format::seconds(s.hello_ms as f64 / 1000.0),
        format::seconds(s.block_ms as f64 / 1000.0),
        s.fact_n,
        if s.keep_alive { "on" } else { "off" },
        s.repeat.max(1),
        run.cells.len(),
        run.server_names().len()
    )
}

/// The verdict: the findings' claims, the model-miss count, the headline table, the noise rule.
fn answer(run: &Run, f: &Findings, body: &mut String) {
    let _ = writeln!(body, "<section id=\"answer\">\n<h2>The answer</h2>\n<ul class=\"claims\">");
    for (text, evidence) in prose::claims(run, f) {
        let _ = writeln!(body, "<li>{} {}</li>", inline(&text), inline(&format!("[evidence]({evidence})")));
    }
    let _ = writeln!(body, "<li>{}</li>\n</ul>", inline(&prose::misses_line(f, "below")));
    if let Some(h) = &f.headline {
        body.push_str(&blocks(&prose::headline::table(run, h)));
    }
    let _ = writeln!(body, "<p class=\"note\">{}</p>\n</section>", inline(&prose::noise_note("")));
}

/// The repetition whose timeline is drawn: the one whose wall time is the cell's (its median), among those that
/// recorded one.
fn timeline_of(cell: &Cell) -> Option<&[TimelineEntry]> {
    let wall = cell.wall_s?;
    cell.runs
        .iter()
        .filter_map(|m| m.timeline.as_deref().filter(|t| !t.is_empty()).map(|t| (m.wall_s, t)))
        .min_by(|a, b| (a.0 - wall).abs().total_cmp(&(b.0 - wall).abs()))
        .map(|(_, t)| t)
}

/// One timeline panel: a bar per request from send to response, first request at the top; a dashed line at
/// each of `marks` (seconds, label).
fn timeline_panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    caption: &str,
    entries: &[TimelineEntry],
    color: RGBColor,
    label: &str,
    x_max: f64,
    marks: &[(f64, String)],
) -> Draw<()> {
    let rows = entries.len().max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(38)
        .y_label_area_size(52)
        // Row i is centred on y = i, so that each tick names the bar beside it; the first request on top.
        .build_cartesian_2d(0.0..x_max, (rows - 0.5)..-0.5)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("time since the first request was sent (s)")
        .y_desc("request, in send order")
        .bold_line_style(RGBColor(230, 230, 230))
        .light_line_style(WHITE)
        .y_labels(entries.len().clamp(1, 10))
        .y_label_formatter(&|y| {
            if *y >= 0.0 && *y < rows - 0.5 {
                format!("{:.0}", y.round() + 1.0)
            } else {
                String::new()
            }
        })
        .x_label_formatter(&|x| format!("{x:.1}"))
        .draw()
        .map_err(err)?;
    let bars = entries.iter().enumerate().map(|(i, e)| {
        let (s, t) = (e.start_us as f64 / 1e6, e.end_us as f64 / 1e6);
        let fill = if e.ok { color.filled() } else { color.mix(0.35).filled() };
        Rectangle::new([(s, i as f64 - 0.32), (t.max(s + x_max / 400.0), i as f64 + 0.32)], fill)
    });
    chart
        .draw_series(bars)
        .map_err(err)?
        .label(label)
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], color.filled()));
    for (at, text) in marks {
        let at = *at;
        chart
            .draw_series(DashedLineSeries::new(vec![(at, -0.5), (at, rows - 0.5)], 4, 4, BLACK.stroke_width(1)))
            .map_err(err)?
            .label(text.as_str())
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK.stroke_width(1)));
    }
    // The upper right stays empty: a staircase runs from the upper left down, and requests sent at once end early.
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(160, 160, 160))
        .draw()
        .map_err(err)?;
    Ok(())
}

/// The article's experiment: for each server, the blocking client's ten requests beside the async client's ten.
fn experiment(run: &Run, f: &Findings, body: &mut String) -> Draw<()> {
    let d = run.settings.hello_ms as f64 / 1000.0;
    let async_client = f.experiment_client;
    let mut pairs = Vec::new();
    for server in run.server_names() {
        let blocking = find(run, &server, |c| c.kind == ClientKind::BlockingClient, 1, 10)
            .filter(|c| c.is_ok())
            .and_then(timeline_of);
        let concurrent = async_client
            .and_then(|a| find(run, &server, |c| *c == a, 10, 10))
            .filter(|c| c.is_ok())
            .and_then(timeline_of);
        if blocking.is_some() || concurrent.is_some() {
            pairs.push((server, blocking, concurrent));
        }
    }
    let _ = writeln!(
        body,
        "<section id=\"experiment\">\n<h2>The article's experiment: ten requests that each wait D = {}</h2>",
        escape(&format::seconds(d))
    );
    if pairs.is_empty() {
        let _ = writeln!(
            body,
            "<p>No timeline in this run: the io cells of ten requests (one at a time, and ten at once) were not \
             measured, or were measured before the clients recorded each request (<code>--timeline</code>).</p>\n\
             </section>"
        );
        return Ok(());
    }
    let _ = writeln!(
        body,
        "<p>One bar per request, from the moment it was sent to the end of its response. Left: a blocking client \
         sends the next request only when the previous response has arrived — a staircase of about 10 D. Right: \
         {} has all ten in flight at once — side by side, about D in all, on every server that does not serialise \
         them.</p>",
        escape(&async_client.map(|c| c.label()).unwrap_or_default())
    );
    let x_max = x_max(pairs.iter().flat_map(|(_, a, b)| [*a, *b]).flatten(), d);
    let marks = [(d, format!("D = {}", format::seconds(d)))];
    for (server, blocking, concurrent) in &pairs {
        let panels = [
            (format!("{server}: blocking-client, one request at a time"), *blocking, server.as_str()),
            (
                format!("{server}: {}, ten at once", async_client.map(|c| c.label()).unwrap_or_default()),
                *concurrent,
                server.as_str(),
            ),
        ];
        let caption = format!(
            "`{server}`: the median repetition of each cell (`io`, 10 requests); a paler bar is a request that failed."
        );
        body.push_str(&timelines(run, 300, &panels, x_max, &marks, vec![server.clone(), marks[0].1.clone()], caption)?);
    }
    body.push_str("</section>\n");
    Ok(())
}

/// The end of the longest of `timelines` (s), at least 1.5 × `floor`, with a margin: the x axis of their panels.
fn x_max<'a>(timelines: impl Iterator<Item = &'a [TimelineEntry]>, floor: f64) -> f64 {
    timelines.map(|t| t.iter().map(|e| e.end_us).max().unwrap_or(0) as f64 / 1e6).fold(floor * 1.5, f64::max) * 1.04
}

/// Up to two timeline panels side by side, `height` px high, as one chart of the page: each panel its title, its
/// requests (None: not measured) and its server; the x axis and the `marks` shared.
fn timelines(
    run: &Run,
    height: u32,
    panels: &[(String, Option<&[TimelineEntry]>, &str)],
    x_max: f64,
    marks: &[(f64, String)],
    legend: Vec<String>,
    caption: String,
) -> Draw<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1100, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (left, right) = root.split_horizontally(550);
        for (area, (title, entries, server)) in [left, right].iter().zip(panels) {
            match entries {
                Some(e) => timeline_panel(area, title, e, server_color(run, server), server, x_max, marks)?,
                None => {
                    area.titled(&format!("{title}: not measured"), ("sans-serif", 16)).map_err(err)?;
                }
            }
        }
        root.present().map_err(err)?;
    }
    let titles = panels.iter().map(|p| p.0.clone()).collect();
    let axes = vec!["time since the first request was sent (s)".into(), "request, in send order".into()];
    Ok(Chart { id: None, titles, axes, legend, svg, caption }.html())
}

/// `/block` sleeping on the handler's thread: ten at once, per server, queueing behind the threads that may sleep.
fn blocking_call(run: &Run, f: &Findings, body: &mut String) -> Draw<()> {
    let block_s = run.settings.block_ms as f64 / 1000.0;
    let h = f.headline.as_ref();
    let client = h.map(|h| h.client).or(f.experiment_client);
    let level = h.map_or(10, |h| h.blocking_level);
    let Some(client) = client else { return Ok(()) };
    let mut panels = Vec::new();
    for server in run.server_names() {
        let cell = run
            .cells
            .iter()
            .filter(|c| {
                c.server == server && c.client == client && c.workload == Workload::Blocking && c.concurrency == level
            })
            .filter(|c| c.is_ok())
            .find(|c| timeline_of(c).is_some());
        if let Some(cell) = cell {
            panels.push((server, cell));
        }
    }
    let _ = writeln!(
        body,
        "<section id=\"block\">\n<h2>A blocking call in the handler: {level} × <code>/block</code> at once, each \
         sleeping {}</h2>",
        escape(&format::seconds(block_s))
    );
    if panels.is_empty() {
        let _ = writeln!(
            body,
            "<p>No timeline in this run: the <code>blocking</code> cell of {level} requests at once was not \
             measured, or was measured before the clients recorded each request.</p>\n</section>"
        );
        return Ok(());
    }
    let _ = writeln!(
        body,
        "<p>The handler sleeps on its thread, so a request waits for a thread that may sleep: with T such threads \
         the ten finish in ⌈10 ÷ T⌉ waves of {}. An async server whose executor has one thread answers them one \
         after another — a staircase — though the client sent all ten at once.</p>",
        escape(&format::seconds(block_s))
    );
    let x_max = x_max(panels.iter().filter_map(|(_, c)| timeline_of(c)), block_s);
    let marks = [(block_s, format!("one sleep = {}", format::seconds(block_s)))];
    for pair in panels.chunks(2) {
        let panels: Vec<(String, Option<&[TimelineEntry]>, &str)> = pair
            .iter()
            .map(|(server, cell)| {
                let model =
                    cell.expected_wall_s.map_or(String::new(), |e| format!(", predicted {}", format::seconds(e)));
                let title = format!("{server}: {}{model}", format::seconds(cell.wall_s.unwrap_or(0.0)));
                (title, timeline_of(cell), server.as_str())
            })
            .collect();
        let mut legend: Vec<String> = pair.iter().map(|(server, _)| server.clone()).collect();
        legend.push(marks[0].1.clone());
        let caption = format!(
            "`{client}`, {level} requests at once; the title gives the median wall time and the model's prediction."
        );
        body.push_str(&timelines(run, 280, &panels, x_max, &marks, legend, caption)?);
    }
    body.push_str("</section>\n");
    Ok(())
}

/// The model's expected throughput for a cell: its requests at the predicted wall time (io, blocking) or the
/// predicted bound (throughput workloads): measured req/s × measured wall ÷ expected wall either way.
fn expected_rps(cell: &Cell) -> Option<f64> {
    let (e, w, r) = (cell.expected_wall_s?, cell.wall_s?, cell.throughput_rps?);
    (e > 0.0).then(|| r * w / e)
}

/// Throughput and p99 against concurrency per workload, one line per server, the model dashed beside it.
fn workloads(run: &Run, body: &mut String) -> Draw<()> {
    let _ = writeln!(body, "<section id=\"workloads\">\n<h2>Throughput and p99 latency against concurrency</h2>");
    let _ = writeln!(
        body,
        "<p>Solid: measured (median repetition). Dashed, same colour: the model's prediction for that server \
         (<code>lab/src/predict.rs</code>). Clean cells only (no failure).</p>"
    );
    for workload in run.workloads() {
        let Some(data) = svg::chart_data(run, workload).filter(|d| !d.series.is_empty()) else {
            let _ = writeln!(
                body,
                "<p id=\"{0}\">{0}: no clean cell of a concurrent client.</p>",
                escape(workload.as_str())
            );
            continue;
        };
        let predicted: Vec<(String, Vec<(f64, f64)>)> = data
            .series
            .iter()
            .map(|(server, points)| {
                let line = points
                    .iter()
                    .filter_map(|p| {
                        let cell = run
                            .cells_of(workload)
                            .filter(|c| {
                                c.server == *server && c.client.label() == data.client && c.concurrency as f64 == p.0
                            })
                            .filter(|c| c.is_ok() && c.failed == 0)
                            .max_by_key(|c| c.requests)?;
                        Some((p.0, expected_rps(cell)?))
                    })
                    .collect();
                (server.clone(), line)
            })
            .collect();
        let has_model = predicted.iter().any(|(_, l)| !l.is_empty());
        let mut svg_text = String::new();
        let titles =
            [format!("{workload}: throughput vs concurrency"), format!("{workload}: p99 latency vs concurrency")];
        {
            let root = SVGBackend::with_string(&mut svg_text, (1100, 400)).into_drawing_area();
            root.fill(&WHITE).map_err(err)?;
            let (panels, strip) = root.split_horizontally(1100 - LEGEND_STRIP);
            let (left, right) = panels.split_horizontally((1100 - LEGEND_STRIP) / 2);
            let (x0, x1) = data.x_range();
            for (panel, area) in [(1usize, &left), (2usize, &right)] {
                let value = |p: &svg::ChartPoint| if panel == 1 { p.1 } else { p.2 };
                let mut top = data.series.iter().flat_map(|(_, p)| p.iter().map(value)).fold(0.0f64, f64::max);
                if panel == 1 {
                    top = predicted.iter().flat_map(|(_, l)| l.iter().map(|p| p.1)).fold(top, f64::max);
                }
                let top = if top > 0.0 { top * 1.15 } else { 1.0 };
                let mut chart = ChartBuilder::on(area)
                    .caption(&titles[panel - 1], ("sans-serif", 16))
                    .margin(10)
                    .x_label_area_size(40)
                    .y_label_area_size(70)
                    .build_cartesian_2d((x0..x1).log_scale(), 0.0..top)
                    .map_err(err)?;
                chart
                    .configure_mesh()
                    .x_desc("requests in flight (log scale)")
                    .y_desc(if panel == 1 { "throughput (req/s)" } else { "p99 latency (ms)" })
                    .bold_line_style(RGBColor(230, 230, 230))
                    .light_line_style(WHITE)
                    .x_labels(6)
                    .y_labels(8)
                    .x_label_formatter(&|x| format!("{x:.0}"))
                    .y_label_formatter(&|y| if *y >= 100.0 { format!("{y:.0}") } else { format!("{y:.1}") })
                    .draw()
                    .map_err(err)?;
                for (server, points) in &data.series {
                    let color = server_color(run, server);
                    let line: Vec<(f64, f64)> = points.iter().map(|p| (p.0, value(p))).collect();
                    svg::draw_line(&mut chart, line.clone(), color, server)?;
                    chart.draw_series(line.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(err)?;
                }
                if panel == 1 {
                    for (server, line) in &predicted {
                        let color = server_color(run, server);
                        chart
                            .draw_series(DashedLineSeries::new(line.clone(), 6, 4, color.stroke_width(2)))
                            .map_err(err)?;
                    }
                }
            }
            let mut entries: Vec<(String, Swatch)> = data
                .series
                .iter()
                .map(|(server, _)| (server.clone(), Swatch::Line(server_color(run, server))))
                .collect();
            if has_model {
                entries.push(("model's prediction".into(), Swatch::Dashed(RGBColor(90, 90, 90))));
            }
            legend_strip(&strip, &entries)?;
            root.present().map_err(err)?;
        }
        let mut legend: Vec<String> = data.series.iter().map(|(s, _)| s.clone()).collect();
        if has_model {
            legend.push("model's prediction".into());
        }
        let description = run
            .settings
            .workload_paths
            .iter()
            .find(|w| w.workload == workload)
            .map_or(String::new(), |w| format!(" {}", w.description));
        let chart = Chart {
            id: Some(workload.to_string()),
            titles: titles.to_vec(),
            axes: vec!["requests in flight (log scale)".into(), "throughput (req/s)".into(), "p99 latency (ms)".into()],
            legend,
            svg: svg_text,
            caption: format!("`{workload}` with `{}`.{description}", data.client),
        };
        body.push_str(&chart.html());
    }
    body.push_str("</section>\n");
    Ok(())
}

/// What a bar panel adds to the chart's legend.
#[derive(Clone, Copy, PartialEq)]
enum BarLegend {
    None,
    /// Each row's colour: the servers.
    Rows,
    /// The stacked parts' shades, in grey.
    Parts,
}

/// One server's bar: its parts, and what to write at its end instead of their sum (an unclear fit).
struct BarRow {
    server: String,
    color: RGBColor,
    parts: Vec<f64>,
    note: Option<String>,
}

impl BarRow {
    fn new(run: &Run, server: &str, parts: Vec<f64>) -> BarRow {
        BarRow { server: server.to_string(), color: server_color(run, server), parts, note: None }
    }
}

/// Horizontal bars, one row per server (the first on top): each row's parts stacked left to right, part `k`
/// drawn in the row's colour at the opacity `parts[k].1`, the total written at the end of the bar.
struct Bars<'a> {
    title: &'a str,
    x_desc: &'a str,
    rows: Vec<BarRow>,
    parts: Vec<(&'a str, f64)>,
    legend: BarLegend,
}

fn draw_bars(area: &DrawingArea<SVGBackend<'_>, Shift>, bars: &Bars) -> Draw<()> {
    let n = bars.rows.len().max(1);
    let top = bars.rows.iter().map(|r| r.parts.iter().sum::<f64>()).fold(0.0f64, f64::max);
    let top = if top > 0.0 { top * 1.2 } else { 1.0 };
    // Segment 0 is at the bottom: the first server goes in the top one.
    let slot = |i: usize| (n - 1 - i) as i32;
    let names: Vec<String> = bars.rows.iter().map(|r| r.server.clone()).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(bars.title, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(38)
        .y_label_area_size(115)
        .build_cartesian_2d(0.0..top, (0..n as i32).into_segmented())
        .map_err(err)?;
    let label = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(k) | SegmentValue::Exact(k) if (0..n as i32).contains(k) => {
            names.get(n - 1 - *k as usize).cloned().unwrap_or_default()
        }
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .x_desc(bars.x_desc)
        .y_desc("server")
        .disable_y_mesh()
        .bold_line_style(RGBColor(230, 230, 230))
        .light_line_style(WHITE)
        .x_labels(6)
        .y_labels(n)
        .y_label_formatter(&label)
        .x_label_formatter(&|x| format_figure(*x))
        .draw()
        .map_err(err)?;
    for (i, row) in bars.rows.iter().enumerate() {
        let (color, values) = (row.color, &row.parts);
        let mut from = 0.0;
        let mut rects = Vec::new();
        for (k, v) in values.iter().enumerate() {
            let shade = bars.parts.get(k).map_or(1.0, |p| p.1);
            let mut r = Rectangle::new(
                [(from, SegmentValue::Exact(slot(i))), (from + v, SegmentValue::Exact(slot(i) + 1))],
                color.mix(shade).filled(),
            );
            r.set_margin(5, 5, 0, 0);
            rects.push(r);
            from += v;
        }
        chart.draw_series(rects).map_err(err)?;
        let anchor = plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Left,
            plotters::style::text_anchor::VPos::Center,
        );
        chart
            .draw_series(std::iter::once(Text::new(
                row.note.clone().unwrap_or_else(|| format_figure(from)),
                (from + top * 0.01, SegmentValue::CenterOf(slot(i))),
                TextStyle::from(("sans-serif", 12).into_font()).pos(anchor),
            )))
            .map_err(err)?;
    }
    Ok(())
}

fn format_figure(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 1.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// Two bar panels side by side in one SVG, as one chart of the page.
fn bar_pair(left: &Bars, right: &Bars, split: u32, caption: String, body: &mut String) -> Draw<()> {
    let mut svg_text = String::new();
    let legend: Vec<String>;
    let height = 95 + 32 * left.rows.len().max(right.rows.len()) as u32;
    {
        let root = SVGBackend::with_string(&mut svg_text, (1100, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (panels, strip) = root.split_horizontally(1100 - LEGEND_STRIP);
        let (a, b) = panels.split_horizontally(split);
        draw_bars(&a, left)?;
        draw_bars(&b, right)?;
        let mut entries: Vec<(String, Swatch)> = Vec::new();
        for bars in [left, right] {
            match bars.legend {
                BarLegend::Rows => {
                    entries.extend(bars.rows.iter().map(|r| (r.server.clone(), Swatch::Block(r.color, 1.0))));
                }
                BarLegend::Parts => entries
                    .extend(bars.parts.iter().map(|p| (p.0.to_string(), Swatch::Block(RGBColor(80, 80, 80), p.1)))),
                BarLegend::None => {}
            }
        }
        legend_strip(&strip, &entries)?;
        legend = entries.into_iter().map(|e| e.0).collect();
        root.present().map_err(err)?;
    }
    let chart = Chart {
        id: None,
        titles: vec![left.title.into(), right.title.into()],
        axes: vec![left.x_desc.into(), right.x_desc.into(), "server".into()],
        legend,
        svg: svg_text,
        caption,
    };
    body.push_str(&chart.html());
    Ok(())
}

/// Cost per waiting connection and server CPU per request, as bars per server.
fn costs(run: &Run, h: Option<&Headline>, body: &mut String) -> Draw<()> {
    let _ = writeln!(
        body,
        "<section id=\"cost-per-in-flight-connection-io\">\n<h2>What a connection and a request cost</h2>"
    );
    let mut drew = false;
    // The headline's fits: the figures its table shows (a bench companion's when it gave them), kernel memory
    // only where the fit reaches a thousand connections.
    let fits: Vec<(&str, &Memory)> =
        h.map_or(vec![], |h| h.rows.iter().filter_map(|r| Some((r.server.as_str(), r.memory.as_ref()?))).collect());
    if !fits.is_empty() {
        let kernel = fits.iter().any(|(_, m)| m.kernel_kib.is_some());
        let clear = |m: &Memory| m.r2 >= FIT_R2_MIN;
        let unclear_note = |m: &Memory| (!clear(m)).then(|| format!("unclear (r² {:.2})", m.r2));
        let memory = Bars {
            title: "memory per waiting connection",
            x_desc: "KiB per connection",
            rows: fits
                .iter()
                .map(|(server, m)| {
                    let mut parts = vec![m.rss_kib.max(0.0)];
                    parts.extend(m.kernel_kib.map(|k| k.max(0.0)));
                    let parts = if clear(m) { parts } else { vec![] };
                    BarRow { note: unclear_note(m), ..BarRow::new(run, server, parts) }
                })
                .collect(),
            parts: if kernel { vec![("server RSS", 1.0), ("kernel memory", 0.4)] } else { vec![("server RSS", 1.0)] },
            legend: BarLegend::Parts,
        };
        let threads = Bars {
            title: "threads per waiting connection",
            x_desc: "threads per connection",
            rows: fits
                .iter()
                .map(|(server, m)| {
                    let parts = if clear(m) { vec![m.threads.max(0.0)] } else { vec![] };
                    BarRow { note: unclear_note(m), ..BarRow::new(run, server, parts) }
                })
                .collect(),
            parts: vec![],
            legend: BarLegend::Rows,
        };
        let caption = format!(
            "Slopes of peak server RSS{} and of server threads over {}. Below r² {} a fit says nothing: no bar.",
            if kernel { " (plus the machine's kernel memory, paler)" } else { "" },
            h.map_or(String::new(), prose::headline::memory_levels),
            FIT_R2_MIN,
        );
        bar_pair(&memory, &threads, (1100 - LEGEND_STRIP) / 2, caption, body)?;
        drew = true;
    }
    if let Some(h) = h {
        let per = |pick: fn(&Row) -> Option<(f64, u64)>| -> Vec<BarRow> {
            h.rows
                .iter()
                .filter_map(|r| pick(r).map(|(us, _)| BarRow::new(run, &r.server, vec![us.max(0.0)])))
                .collect()
        };
        let baseline = per(|r| r.cpu_us_baseline);
        let cpu = per(|r| r.cpu_us_cpu);
        if !baseline.is_empty() || !cpu.is_empty() {
            let left = Bars {
                title: "server CPU per request: baseline (an empty 200)",
                x_desc: "CPU µs per request (user + system)",
                rows: baseline,
                parts: vec![],
                legend: BarLegend::None,
            };
            let right = Bars {
                title: "server CPU per request: cpu (a factorial)",
                x_desc: "CPU µs per request (user + system)",
                rows: cpu,
                parts: vec![],
                legend: BarLegend::Rows,
            };
            let caption = format!(
                "The server's CPU time (rusage, its whole life over the requests it answered) per successful request \
                 with `{}`, at {} requests in flight or the highest level below it with a clean cell.",
                h.client, h.level
            );
            bar_pair(&left, &right, (1100 - LEGEND_STRIP) / 2, caption, body)?;
            drew = true;
        }
    }
    if !drew {
        body.push_str("<p>No cost figures in this run.</p>\n");
    }
    body.push_str("</section>\n");
    Ok(())
}

/// Every prediction the measurement did not bear out, as the markdown lists them.
fn model_misses(f: &Findings, body: &mut String) {
    let how = "The lab has not measured why; each is an open question, not an explained result.";
    let _ =
        writeln!(body, "<section id=\"model-misses\">\n<h2>Model misses</h2>\n<p>{}</p>", prose::misses_intro(f, how));
    if !f.predictions.misses.is_empty() {
        let mut md = String::new();
        prose::misses_table(f).write(&mut md);
        body.push_str(&blocks(&md));
    }
    body.push_str("</section>\n");
}

/// With a primitives companion: the chain primitive → model → server, the markdown page's section as HTML.
fn chain(run: &Run, body: &mut String) {
    let mut md = String::new();
    crate::chain::markdown::section(run, &mut md);
    let Some((heading, rest)) = md.split_once('\n') else { return };
    let title = heading.trim_start_matches('#').trim();
    let _ = writeln!(body, "<section id=\"chain\">\n<h2>{}</h2>\n{}</section>", escape(title), blocks(rest));
}

/// Where the numbers come from: the code, the machine, the CPUs, the calibration, the command.
fn provenance(run: &Run, body: &mut String) {
    let e = &run.environment;
    let _ = writeln!(body, "<section id=\"provenance\">\n<h2>This run</h2>\n<dl>");
    let mut item = |k: &str, v: String| {
        let _ = writeln!(body, "<dt>{}</dt><dd>{}</dd>", escape(k), inline(&v));
    };
    item(
        "commit",
        format!("`{}`{}", e.git_commit, if e.git_dirty { " with uncommitted changes" } else { ", clean tree" }),
    );
    item(
        "code trees",
        e.trees.as_ref().map_or("not recorded".into(), |t| {
            format!("servers/ `{}` · clients/ `{}` · harness/ `{}`", t.servers, t.clients, t.harness)
        }),
    );
    item("machine", super::markdown::machine_line(e));
    item("host", format!("{} ({}), {} RAM", e.hostname, e.os, format::kib(e.memory_kib)));
    item("CPUs", run.cpus.as_ref().map_or("not recorded".into(), |c| c.to_string()));
    item("calibration", run.calibration.as_ref().map_or("not recorded".into(), prose::calibration_line));
    item("build", format!("{} (`{}`)", run.build, run.bin_dir));
    item("ran", format!("{} to {}", run.started_at, run.finished_at));
    item("command", format!("`{}`", e.command_line.join(" ")));
    body.push_str("</dl>\n");
    if !run.notes.is_empty() {
        let _ =
            writeln!(body, "<details>\n<summary>{} notes of the run</summary>\n<ul class=\"note\">", run.notes.len());
        for note in &run.notes {
            let _ = writeln!(body, "<li>{}</li>", inline(note));
        }
        body.push_str("</ul>\n</details>\n");
    }
    body.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_markdown_becomes_escaped_html() {
        assert_eq!(
            inline("**Waiting** (`io`, <10>) a *tie* [evidence](#io)"),
            "<strong>Waiting</strong> (<code>io</code>, &lt;10&gt;) a <em>tie</em> <a href=\"#io\">evidence</a>"
        );
        assert_eq!(inline("[x](https://e.org/a)"), "x (https://e.org/a)", "no link leaves the page");
        assert_eq!(inline("3 * 4 & \"q\""), "3 * 4 &amp; &quot;q&quot;");
    }

    #[test]
    fn a_markdown_table_becomes_an_html_table() {
        let html = blocks("| a | b |\n|---|---:|\n| x <y> | 1 |\n\nSources: `z`.\n");
        assert!(html.contains("<th>a</th><th>b</th>"), "{html}");
        assert!(html.contains("<td>x &lt;y&gt;</td><td class=\"num\">1</td>"), "{html}");
        assert!(html.contains("<p class=\"note\">Sources: <code>z</code>.</p>"), "{html}");
    }
}
