//! `RUN-ID.json`: the run itself, pretty-printed; the source every other format is rebuilt from.

use super::{Artifact, Exporter};
use crate::results::Run;
use std::io;

pub struct JsonExporter;

impl Exporter for JsonExporter {
    fn render(&self, run: &Run) -> io::Result<Vec<Artifact>> {
        let mut bytes = serde_json::to_vec_pretty(run).map_err(io::Error::other)?;
        bytes.push(b'\n');
        Ok(vec![Artifact { path: format!("{}.json", run.run_id).into(), bytes }])
    }
}
