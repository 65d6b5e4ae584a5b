//! Writing a run for people and programs: one small trait, one file per format (after hyperfine's src/export).
//!
//! Every exporter renders from the run JSON alone, so `lab report RUN.json` rebuilds exactly what `lab matrix`
//! wrote. An exporter returns artifacts (a path relative to the output directory, and bytes); writing them is
//! done once, here. A matrix run's formats are handed a [`Report`]: the run and its [`Findings`], computed once
//! before any of them, so that a writer only formats; the words they share are [`prose`]'s.

pub mod csv;
pub mod html;
pub mod json;
pub mod markdown;
pub mod prose;
pub mod readme;
pub mod svg;
pub mod table;

pub use self::csv::CsvExporter;
pub use html::HtmlExporter;
pub use json::JsonExporter;
pub use markdown::MarkdownExporter;
pub use svg::{chart_path, SvgExporter};

use crate::findings::Findings;
use crate::records::run::Run;
use json::JsonDocument;
use std::io;
use std::path::{Path, PathBuf};

/// One file an exporter produces.
pub struct Artifact {
    /// Relative to the output directory: `RUN-ID.md`, `RUN-ID/io.svg`.
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

/// A format a document can be written in: a matrix run by default, or a bench run (`lab bench`).
pub trait Exporter<D = Run> {
    fn render(&self, run: &D) -> io::Result<Vec<Artifact>>;
}

/// A document's page in one format, rendered whole by one function: `Page("md", render)` writes `STEM.md`, the
/// stem the document's JSON has (`bench-RUN-ID.md` beside `bench-RUN-ID.json`).
pub struct Page<D>(pub &'static str, pub fn(&D) -> String);

impl<D: JsonDocument> Exporter<D> for Page<D> {
    fn render(&self, doc: &D) -> io::Result<Vec<Artifact>> {
        let Page(extension, render) = self;
        Ok(vec![Artifact { path: format!("{}.{extension}", doc.file_stem()).into(), bytes: render(doc).into_bytes() }])
    }
}

/// A matrix (or soak) run and what it shows: the document every matrix format renders.
pub struct Report<'a> {
    pub run: &'a Run,
    pub findings: Findings,
}

impl<'a> Report<'a> {
    pub fn of(run: &'a Run) -> Report<'a> {
        Report { run, findings: Findings::of(run) }
    }
}

/// A matrix run's formats, rendered from one [`Report`]: its findings are computed once, before any of them —
/// or handed in by the command that computed them already (for the narrative).
pub struct Reported(Vec<Box<dyn for<'a> Exporter<Report<'a>>>>, Option<Findings>);

impl Exporter for Reported {
    fn render(&self, run: &Run) -> io::Result<Vec<Artifact>> {
        let report = Report { run, findings: self.1.clone().unwrap_or_else(|| Findings::of(run)) };
        let mut artifacts = Vec::new();
        for format in &self.0 {
            artifacts.extend(format.render(&report)?);
        }
        Ok(artifacts)
    }
}

/// Every format: JSON, markdown, CSV, SVG charts, the HTML page; `findings` are the run's.
pub fn all(findings: Findings) -> Vec<Box<dyn Exporter>> {
    let mut all: Vec<Box<dyn Exporter>> = vec![Box::new(JsonExporter)];
    all.extend(report_exporters(Some(findings)));
    all
}

/// What `lab report` rebuilds from a matrix run's JSON: everything but the JSON itself (`findings`: the run's,
/// when already computed).
pub fn report_exporters(findings: Option<Findings>) -> Vec<Box<dyn Exporter>> {
    vec![Box::new(Reported(
        vec![Box::new(MarkdownExporter), Box::new(CsvExporter), Box::new(SvgExporter), Box::new(HtmlExporter)],
        findings,
    ))]
}

/// Renders `run` with `exporters` and writes the files under `dir`. Returns the paths written.
pub fn write<D>(run: &D, exporters: &[Box<dyn Exporter<D>>], dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for exporter in exporters {
        for artifact in exporter.render(run)? {
            let path = dir.join(&artifact.path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, &artifact.bytes)?;
            written.push(path);
        }
    }
    Ok(written)
}

/// Writes `doc` in every format of `exporters` under `out`, then copies its markdown to `{prefix}latest.md`
/// (and its HTML page, when an exporter wrote one, to `{prefix}latest.html`): the newest run under a stable
/// name, the prefix its kind's (`bench-`, or none for a matrix). Returns the files written.
pub fn save<D: JsonDocument>(doc: &D, exporters: &[Box<dyn Exporter<D>>], out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    use anyhow::Context;
    let mut files = write(doc, exporters, out).context("writing the results")?;
    for extension in ["md", "html"] {
        let written = out.join(format!("{}.{extension}", doc.file_stem()));
        if extension == "html" && !files.contains(&written) {
            continue;
        }
        let latest = out.join(format!("{}latest.{extension}", D::KIND.file_prefix()));
        std::fs::copy(&written, &latest)
            .with_context(|| format!("copying {} to {}", written.display(), latest.display()))?;
        files.push(latest);
    }
    Ok(files)
}

/// [`save`] with the JSON first, then what `lab report` rebuilds from it (`report_exporters`).
pub fn save_with_json<D: JsonDocument>(
    doc: &D,
    report_exporters: Vec<Box<dyn Exporter<D>>>,
    out: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut exporters: Vec<Box<dyn Exporter<D>>> = vec![Box::new(JsonExporter)];
    exporters.extend(report_exporters);
    save(doc, &exporters, out)
}
