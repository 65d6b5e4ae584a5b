//! The README's figures are the committed runs' own: every figures block in README.md (`<!-- figures:
//! results/…json -->`) is rendered again from the JSON it names and must match byte for byte (`lab report RUN.json
//! --readme README.md` writes them). A README without a block would quote figures from nowhere: it must have one.

use lab::export::readme::{blocks, render};
use std::path::PathBuf;

#[test]
fn every_figure_block_of_the_readme_is_its_runs_own() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let found = blocks(&readme);
    assert!(!found.is_empty(), "README.md has no figures block: its Results quote no committed run");
    for (json, text) in found {
        let expected = render(&root, &json).unwrap_or_else(|e| panic!("{json}: {e}"));
        assert!(!expected.contains("with uncommitted changes"), "{json} was made from a dirty tree");
        assert_eq!(
            text, expected,
            "README.md's block for {json} is not what `lab report {json} --readme README.md` writes"
        );
    }
}
