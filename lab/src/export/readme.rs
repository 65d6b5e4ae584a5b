//! The README's figures, generated: a block between `<!-- figures: results/RUN-ID.json -->` and
//! `<!-- /figures -->` holds what that committed run says — a matrix run's answer exactly as its own markdown
//! opens it (links moved to the README's folder), a bench run's targets — and nothing else.
//! `lab report RUN.json --readme README.md` rewrites the block; a test renders every block again from the JSON it
//! names and compares, so no figure in them can drift from its source.

use super::json::JsonDocument;
use crate::records::bench::BenchRun;
use crate::records::header::{RunHeader, RunKind};
use crate::records::run::Run;
use std::path::Path;

const START: &str = "<!-- figures: ";
const END: &str = "<!-- /figures -->";

/// The opening marker of the block for the run at `json` (a path relative to the README, `results/X.json`).
pub fn marker(json: &str) -> String {
    format!("{START}{json} -->")
}

/// Every block of `readme`: the JSON path its marker names and the text between the markers.
pub fn blocks(readme: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = readme;
    while let Some(at) = rest.find(START) {
        let after = &rest[at + START.len()..];
        let Some(close) = after.find(" -->") else { break };
        let json = after[..close].to_string();
        let body_start = &after[close + " -->".len()..];
        let Some(end) = body_start.find(END) else { break };
        out.push((json, body_start[..end].to_string()));
        rest = &body_start[end..];
    }
    out
}

/// The block's body for the document at `root`/`json` (`json` relative to the README in `root`): a matrix run's
/// answer or a bench run's targets.
pub fn render(root: &Path, json: &str) -> anyhow::Result<String> {
    let path = root.join(json);
    Ok(match super::json::kind_of(&path)? {
        RunKind::Bench => bench_body(&BenchRun::load(&path)?, json),
        _ => body(&Run::load(&path)?, json),
    })
}

/// A bench run's block: its machine and its targets.
pub fn bench_body(run: &BenchRun, json: &str) -> String {
    let carries = "the ratios carry to another machine, the absolute figures do not";
    from_line(json, "lab bench", &run.header, "", carries) + &crate::bench::markdown::summary(run)
}

/// A matrix run's block: where it comes from, and its answer.
pub fn body(run: &Run, json: &str) -> String {
    let page = json.trim_end_matches(".json").to_string() + ".md";
    let dir = match json.rfind('/') {
        Some(i) => &json[..=i],
        None => "",
    };
    let answer = super::markdown::answer(run, &crate::findings::Findings::of(run));
    let command = format!("lab matrix --profile {}", run.profile);
    let cpus = run.cpus.as_ref().map_or(String::new(), |c| format!(", CPUs {c}"));
    let carries = "the absolute figures are that machine's, the tiers and ratios are what carries to another";
    from_line(json, &command, &run.header, &cpus, carries) + &super::markdown::rebase_links(&answer, &page, dir)
}

/// A block's first line: the page it comes from, the command and the commit, the machine (and `cpus`) it was
/// measured on, and what of it `carries` to another machine.
fn from_line(json: &str, command: &str, h: &RunHeader, cpus: &str, carries: &str) -> String {
    let page = json.trim_end_matches(".json").to_string() + ".md";
    let e = &h.environment;
    format!(
        "\n*From [`{page}`]({page}) (`{command}`, commit {}{}), measured on {} × {} with Linux {}{cpus}: {carries}.*\n\n",
        e.git_commit,
        if e.git_dirty { ", with uncommitted changes" } else { "" },
        e.cpu_model,
        e.cpu_count,
        e.kernel,
    )
}

/// `readme` with the block for `json` rewritten as `body` (appended at the end when it has none).
pub fn update(readme: &str, json: &str, body: &str) -> String {
    let start = marker(json);
    let fresh = format!("{start}{body}{END}");
    match readme.find(&start) {
        Some(at) => {
            let end = readme[at..].find(END).map_or(readme.len(), |e| at + e + END.len());
            format!("{}{fresh}{}", &readme[..at], &readme[end..])
        }
        None => format!("{readme}\n{fresh}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_is_found_rewritten_and_found_again() {
        let run = Run::default();
        let readme = "# Title\n\nintro\n<!-- figures: results/R.json -->\nold figures\n<!-- /figures -->\n\ntail\n";
        let found = blocks(readme);
        assert_eq!(found, vec![("results/R.json".to_string(), "\nold figures\n".to_string())]);
        let new = update(readme, "results/R.json", &body(&run, "results/R.json"));
        assert!(new.starts_with("# Title\n\nintro\n<!-- figures: results/R.json -->") && new.ends_with("\n\ntail\n"));
        assert!(!new.contains("old figures"), "{new}");
        assert_eq!(blocks(&new), vec![("results/R.json".to_string(), body(&run, "results/R.json"))]);
    }
}
