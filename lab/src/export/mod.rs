//! Writing a run for people and programs: one small trait, one file per format (after hyperfine's src/export).
//!
//! Every exporter renders from the run JSON alone, so `lab report RUN.json` rebuilds exactly what `lab matrix`
//! wrote. An exporter returns artifacts (a path relative to the output directory, and bytes); writing them is
//! done once, here.

pub mod csv;
pub mod html;
pub mod json;
pub mod markdown;
pub mod readme;
pub mod svg;
pub mod table;

pub use self::csv::CsvExporter;
pub use html::HtmlExporter;
pub use json::JsonExporter;
pub use markdown::MarkdownExporter;
pub use svg::{chart_path, SvgExporter};

use crate::records::run::Run;
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

/// Every format: JSON, markdown, CSV, SVG charts, the HTML page.
pub fn all() -> Vec<Box<dyn Exporter>> {
    let mut all: Vec<Box<dyn Exporter>> = vec![Box::new(JsonExporter)];
    all.extend(report_exporters());
    all
}

/// What `lab report` rebuilds from a matrix run's JSON: everything but the JSON itself.
pub fn report_exporters() -> Vec<Box<dyn Exporter>> {
    vec![Box::new(MarkdownExporter), Box::new(CsvExporter), Box::new(SvgExporter), Box::new(HtmlExporter)]
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
