//! `RUN-ID.json`: the run itself, pretty-printed; the source every other format is rebuilt from. The same
//! exporter writes every other document (`bench-RUN-ID.json`, …), and this module reads them back.

use super::{Artifact, Exporter};
use crate::records::header::RunKind;
use crate::records::run::{Companion, Run, SCHEMA_VERSION};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io;
use std::path::Path;

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

impl Run {
    /// Reads a run JSON; a file that is not one (of this schema version) is the user's input error.
    pub fn load(path: &Path) -> Result<Run, crate::UsageError> {
        /// The version, read first: a run of another version is refused before its fields are.
        #[derive(serde::Deserialize)]
        struct Version {
            schema_version: Option<serde_json::Number>,
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let version = match serde_json::from_str::<Version>(&text) {
            Ok(version) => version.schema_version.and_then(|v| v.as_u64()),
            Err(e) if e.is_syntax() || e.is_eof() => return Err(format!("{} is not JSON: {e}", path.display()).into()),
            // JSON, but not an object with a numeric version.
            Err(_) => None,
        };
        match version {
            // Versions 2 and 3 only added optional fields (placement, CPU per request, saturation; companions):
            // 1 still reads.
            Some(v) if (1..=u64::from(SCHEMA_VERSION)).contains(&v) => {}
            Some(v) => {
                return Err(format!(
                    "{} has schema_version {v}; this lab reads versions 1 to {SCHEMA_VERSION}",
                    path.display()
                )
                .into())
            }
            None => return Err(format!("{} has no schema_version: not a lab run", path.display()).into()),
        }
        Ok(serde_json::from_str(&text).map_err(|e| format!("{} is not a lab run: {e}", path.display()))?)
    }
}

/// Reads a document of `kind` (the header's `kind`: `bench`, `slowloris`, `capacity`); a file that is not one is
/// the user's input error.
pub fn load<D: DeserializeOwned>(path: &Path, kind: &str) -> Result<D, crate::UsageError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| crate::UsageError(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| crate::UsageError(format!("{} is not a {kind} run: {e}", path.display())))
}

/// The command that wrote a JSON document, from its header's `kind` (`matrix` when it has none: runs written
/// before it was added); a kind this lab does not know is the user's input error.
pub fn kind_of(path: &Path) -> Result<RunKind, crate::UsageError> {
    #[derive(serde::Deserialize)]
    struct Kind {
        kind: Option<String>,
    }
    let document: Kind = load(path, "lab")?;
    match document.kind {
        None => Ok(RunKind::Matrix),
        Some(word) => RunKind::from_word(&word).ok_or_else(|| {
            crate::UsageError(format!("{}: unknown kind {word:?}: not a document of this lab", path.display()))
        }),
    }
}

/// Reads a companion file: a `capacity-*.json`, a `bench-*.json` with a reach part or a `primitives-*.json`, by
/// the kind its header names. Anything else is the user's input error, in one line.
pub fn load_companion(path: &Path) -> Result<Companion, crate::UsageError> {
    let err = |m: String| crate::UsageError(format!("--with {}: {m}", path.display()));
    let source = path.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned());
    match kind_of(path)? {
        RunKind::Capacity => crate::companion::of_capacity(&load(path, "capacity")?, &source),
        RunKind::Bench => crate::companion::of_bench(&load(path, "bench")?, &source),
        RunKind::Primitives => {
            let run: crate::records::primitives::PrimitivesRun = load(path, "primitives")?;
            let head = crate::companion::head(crate::records::run::CompanionKind::Primitives, &run.header, &source);
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
