//! `RUN-ID.json`: the run itself, pretty-printed; the source every other format is rebuilt from. The same
//! exporter writes every other document (`bench-RUN-ID.json`, …), and this module reads them back.

use super::{Artifact, Exporter};
use crate::records::capacity::CapacityRun;
use crate::records::header::RunKind;
use crate::records::primitives::PrimitivesRun;
use crate::records::run::{Companion, CompanionKind};
use crate::records::{bench::BenchRun, Document};
use crate::UsageError;
use serde_json::Value;
use std::io;
use std::path::Path;

pub struct JsonExporter;

/// A document as JSON: written as `STEM.json` by [`JsonExporter`], read back by [`JsonDocument::load`].
pub trait JsonDocument: Document {
    /// Reads the document at `path`. A file that is not one — not JSON, another kind, a schema version this lab
    /// does not read (refused before its fields are), missing fields — is the user's input error.
    fn load(path: &Path) -> Result<Self, UsageError> {
        let (text, kind, version) = read(path)?;
        if kind != Self::KIND {
            return Err(format!("{} is a {kind} run, not a {} run", path.display(), Self::KIND).into());
        }
        let versions = Self::VERSIONS;
        match version {
            Some(v) if versions.contains(&v) => {}
            Some(v) => {
                let (low, high) = (versions.start(), versions.end());
                let read = if low == high { format!("version {low}") } else { format!("versions {low} to {high}") };
                return Err(format!("{} has schema_version {v}; this lab reads {kind} {read}", path.display()).into());
            }
            None => return Err(format!("{} has no schema_version: not a lab run", path.display()).into()),
        }
        Ok(serde_json::from_str(&text).map_err(|e| format!("{} is not a {kind} run: {e}", path.display()))?)
    }
}

impl<D: Document> JsonDocument for D {}

/// The text of the JSON document at `path`, the command that wrote it (its header's `kind`; `matrix` when it has
/// none: runs written before it was added) and its `schema_version`, if a number.
fn read(path: &Path) -> Result<(String, RunKind, Option<u32>), UsageError> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
    let kind = match value.get("kind") {
        None => RunKind::Matrix,
        Some(word) => word
            .as_str()
            .and_then(RunKind::from_word)
            .ok_or_else(|| format!("{}: unknown kind {word}: not a document of this lab", path.display()))?,
    };
    let version = value.get("schema_version").and_then(Value::as_u64).and_then(|v| u32::try_from(v).ok());
    Ok((text, kind, version))
}

/// The command that wrote a JSON document; a kind this lab does not know is the user's input error.
pub fn kind_of(path: &Path) -> Result<RunKind, UsageError> {
    Ok(read(path)?.1)
}

/// Reads a companion file: a `capacity-*.json`, a `bench-*.json` with a reach part or a `primitives-*.json`, by
/// the kind its header names. Anything else is the user's input error, in one line.
pub fn load_companion(path: &Path) -> Result<Companion, UsageError> {
    let err = |m: String| UsageError(format!("--with {}: {m}", path.display()));
    let source = path.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned());
    match kind_of(path)? {
        RunKind::Capacity => crate::companion::of_capacity(&CapacityRun::load(path)?, &source),
        RunKind::Bench => crate::companion::of_bench(&BenchRun::load(path)?, &source),
        RunKind::Primitives => {
            let run = PrimitivesRun::load(path)?;
            let head = crate::companion::head(CompanionKind::Primitives, &run.header, &source);
            Ok(crate::chain::companion(head, &run))
        }
        other => Err(format!(
            "not a capacity, bench or primitives run (kind {other}); give a capacity-*.json, a bench-*.json or a \
             primitives-*.json"
        )),
    }
    .map_err(err)
}

impl<D: JsonDocument> Exporter<D> for JsonExporter {
    fn render(&self, run: &D) -> io::Result<Vec<Artifact>> {
        let mut bytes = serde_json::to_vec_pretty(run).map_err(io::Error::other)?;
        bytes.push(b'\n');
        Ok(vec![Artifact { path: format!("{}.json", run.file_stem()).into(), bytes }])
    }
}
