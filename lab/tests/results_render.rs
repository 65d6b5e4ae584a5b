//! The committed results stay true to their JSON: every `results/*.md` that has a `*.json` beside it (a matrix
//! run, a bench, a capacity or a slowloris run) is rebuilt with `lab report` into a scratch directory and must
//! equal the committed file byte for byte. The JSON is the record; the markdown is only its rendering, so a
//! markdown that no longer renders from its JSON was either edited by hand or written by an older writer.
//!
//! Run it alone with `cargo nextest run -p lab --test results_render`; after a change to a writer, rebuild the
//! committed files with `lab report results/NAME.json` and commit them with the change.

mod common;

use std::path::{Path, PathBuf};

/// The committed results directory of the workspace.
fn results_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../results")
}

/// Every `results/NAME.md` with a `results/NAME.json` beside it, sorted by name.
fn rendered_pairs() -> Vec<(PathBuf, PathBuf)> {
    let mut pairs: Vec<(PathBuf, PathBuf)> = std::fs::read_dir(results_dir())
        .expect("results/ is committed")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|json| (json.with_extension("md"), json))
        .filter(|(md, _)| md.is_file())
        .collect();
    pairs.sort();
    pairs
}

/// The first line where two texts differ, for the failure message.
fn first_difference(committed: &str, rebuilt: &str) -> String {
    let line = committed.lines().zip(rebuilt.lines()).position(|(a, b)| a != b);
    match line {
        Some(i) => format!(
            "line {}:\n  committed: {}\n  rebuilt:   {}",
            i + 1,
            committed.lines().nth(i).unwrap_or(""),
            rebuilt.lines().nth(i).unwrap_or("")
        ),
        None => format!(
            "lengths differ: {} lines committed, {} rebuilt",
            committed.lines().count(),
            rebuilt.lines().count()
        ),
    }
}

#[test]
fn every_committed_markdown_rebuilds_from_its_json() {
    let pairs = rendered_pairs();
    // The repository commits matrix, bench, capacity and slowloris runs; a test that finds none checks nothing.
    assert!(pairs.len() >= 4, "no committed results/*.md with a JSON beside it: {pairs:?}");
    let mut differing = Vec::new();
    for (md, json) in &pairs {
        let name = md.file_name().unwrap().to_string_lossy().into_owned();
        let out = common::scratch("results-render");
        let output = common::lab().arg("report").arg(json).arg("--out").arg(&*out).output().unwrap();
        assert!(output.status.success(), "lab report {} failed: {}", json.display(), common::text(&output.stderr));
        let rebuilt = std::fs::read_to_string(out.join(&name))
            .unwrap_or_else(|e| panic!("lab report {} wrote no {name}: {e}", json.display()));
        let committed = std::fs::read_to_string(md).unwrap();
        if rebuilt != committed {
            differing.push(format!("{name}: {}", first_difference(&committed, &rebuilt)));
        }
    }
    assert!(
        differing.is_empty(),
        "{} of {} committed results/*.md no longer render from their JSON (rebuild them with `lab report \
         results/NAME.json`):\n{}",
        differing.len(),
        pairs.len(),
        differing.join("\n")
    );
}
