//! The records read what the lab wrote: every committed `results/*.json` (a matrix or soak run, a bench, a
//! capacity, slowloris or primitives run) loads into its typed record and writes back what it held. The committed
//! JSON is the oracle: reading may add a field a newer lab writes (with its default: the reader's rule in
//! `lab/SCHEMA.md`), but never drop, rename or change one; and a document that gains nothing writes back byte for
//! byte the same (same words, same field order, same number formatting).
//!
//! Run it alone with `cargo nextest run -p lab --test records`.

use lab::export::json::JsonDocument;
use lab::records::bench::BenchRun;
use lab::records::capacity::CapacityRun;
use lab::records::primitives::PrimitivesRun;
use lab::records::run::Run;
use lab::records::slowloris::SlowlorisRun;
use lab::records::soak::SoakRun;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Every committed `results/*.json`, sorted by name.
fn committed_documents() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../results");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("results/ is committed")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// The document at `path` read as its kind's record and written again as the lab writes it (pretty, a newline).
fn rewritten(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let kind = serde_json::from_str::<serde_json::Value>(&text).unwrap()["kind"].as_str().map(str::to_string);
    let json = match kind.as_deref() {
        Some("bench") => serde_json::to_string_pretty(&BenchRun::load(path).unwrap()),
        Some("capacity") => serde_json::to_string_pretty(&CapacityRun::load(path).unwrap()),
        Some("slowloris") => serde_json::to_string_pretty(&SlowlorisRun::load(path).unwrap()),
        Some("primitives") => serde_json::to_string_pretty(&PrimitivesRun::load(path).unwrap()),
        Some("soak") => serde_json::to_string_pretty(&SoakRun::load(path).unwrap()),
        Some("matrix") | None => serde_json::to_string_pretty(&Run::load(path).unwrap()),
        Some(other) => panic!("{}: unknown kind {other:?}", path.display()),
    };
    json.unwrap() + "\n"
}

/// Whether `committed` is contained in `written`: every field of every object with a contained value, arrays of the
/// same length element by element, every other value equal.
fn contained(committed: &Value, written: &Value) -> bool {
    match (committed, written) {
        (Value::Object(a), Value::Object(b)) => a.iter().all(|(k, v)| b.get(k).is_some_and(|w| contained(v, w))),
        (Value::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(v, w)| contained(v, w)),
        (a, b) => a == b,
    }
}

#[test]
fn every_committed_document_reads_back_and_writes_the_same_bytes() {
    let files = committed_documents();
    // The repository commits matrix, soak, bench, capacity, slowloris and primitives runs.
    assert!(files.len() >= 6, "too few committed results/*.json: {files:?}");
    let (mut differing, mut older) = (Vec::new(), 0);
    for path in &files {
        let committed = std::fs::read_to_string(path).unwrap();
        let written = rewritten(path);
        let (old, new): (Value, Value) =
            (serde_json::from_str(&committed).unwrap(), serde_json::from_str(&written).unwrap());
        if old != new {
            // Written by an older lab: only fields added since may appear.
            assert!(contained(&old, &new), "{}: reading it lost or changed a field", path.display());
            older += 1;
        } else if written != committed {
            let line = committed.lines().zip(written.lines()).position(|(a, b)| a != b);
            let at = match line {
                Some(i) => format!(
                    "line {}:\n  committed: {}\n  written:   {}",
                    i + 1,
                    committed.lines().nth(i).unwrap_or(""),
                    written.lines().nth(i).unwrap_or("")
                ),
                None => format!("{} lines committed, {} written", committed.lines().count(), written.lines().count()),
            };
            differing.push(format!("{}: {at}", path.display()));
        }
    }
    assert!(differing.is_empty(), "{} of {} documents differ:\n{}", differing.len(), files.len(), differing.join("\n"));
    // Most committed documents are the current writer's own: the byte-for-byte rule must have checked some.
    assert!(older < files.len() / 2, "{older} of {} documents are older than the writer", files.len());
}
