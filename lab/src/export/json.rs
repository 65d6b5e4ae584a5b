//! `RUN-ID.json`: the run itself, pretty-printed; the source every other format is rebuilt from. The same
//! exporter writes a bench run (`bench-RUN-ID.json`).

use super::{Artifact, Exporter};
use crate::results::Run;
use serde::Serialize;
use std::io;

pub struct JsonExporter;

/// A document written as `STEM.json`.
pub trait JsonDocument: Serialize {
    fn file_stem(&self) -> String;
}

impl JsonDocument for Run {
    fn file_stem(&self) -> String {
        self.run_id.clone()
    }
}

impl<D: JsonDocument> Exporter<D> for JsonExporter {
    fn render(&self, run: &D) -> io::Result<Vec<Artifact>> {
        let mut bytes = serde_json::to_vec_pretty(run).map_err(io::Error::other)?;
        bytes.push(b'\n');
        Ok(vec![Artifact { path: format!("{}.json", run.file_stem()).into(), bytes }])
    }
}
