//! `lab merge A.json B.json …`: client reports of several machines (or processes) that loaded one server at the
//! same time, merged into one report as if one client had sent all their requests.
//!
//! Percentiles cannot be averaged, so each client report carries its whole latency histogram
//! (`latency_histogram_us`, HdrHistogram V2); the merge adds the histograms bucket by bucket and counts add up,
//! so the merged percentiles are exactly those of one run with every request, at HDR's precision (3 significant
//! digits). The merge itself is the clients' own ([`harness::merge`]): one implementation for both.
//! docs/distributed.md shows how to collect the reports.

use crate::UsageError;
use anyhow::{Context, Result};
use harness::report::ClientReport;
use std::path::{Path, PathBuf};

/// Reads every report, merges them, writes the merged report as one line of JSON to `out` (or stdout) and a
/// one-line summary on stderr. A file that cannot be read or parsed, or reports that do not fit together, are
/// the user's error (exit 2), named by file.
pub fn command(paths: &[PathBuf], out: Option<&Path>) -> Result<u8> {
    if paths.is_empty() {
        return Err(UsageError("lab merge: give the client reports to merge (A.json B.json …)".into()).into());
    }
    let reports = paths.iter().map(|p| read(p)).collect::<Result<Vec<_>>>()?;
    let merged = harness::merge::merge(&reports).map_err(|e| UsageError(name_the_file(&e, paths)))?;
    let json = serde_json::to_string(&merged).context("serializing the merged report")?;
    match out {
        Some(path) => std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))?,
        None => println!("{json}"),
    }
    let l = &merged.latency_us;
    eprintln!(
        "lab merge: {} reports, {} requests ({} failed), {:.1} requests/s; latency µs p50 {} p90 {} p99 {} p99.9 {} max {}",
        reports.len(),
        merged.requests,
        merged.failed,
        merged.throughput_rps,
        l.p50,
        l.p90,
        l.p99,
        l.p999,
        l.max
    );
    Ok(0)
}

/// One client report: the file as a JSON document, or (a client's saved stdout) its last line that is one.
fn read(path: &Path) -> Result<ClientReport> {
    let bad = |why: String| UsageError(format!("lab merge: {}: {why}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it ({e})")))?;
    Ok(ClientReport::parse(&text).map_err(|e| bad(format!("not a client report: {e}")))?)
}

/// The merge's `report N: …` with the N-th file's name instead.
fn name_the_file(error: &str, paths: &[PathBuf]) -> String {
    let named = error.strip_prefix("report ").and_then(|rest| {
        let (n, why) = rest.split_once(": ")?;
        let path = paths.get(n.parse::<usize>().ok()?.checked_sub(1)?)?;
        Some(format!("{}: {why}", path.display()))
    });
    format!("lab merge: {}", named.unwrap_or_else(|| error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file() {
        let paths = [PathBuf::from("a.json"), PathBuf::from("b.json")];
        assert_eq!(name_the_file("report 2: no latency histogram", &paths), "lab merge: b.json: no latency histogram");
        assert_eq!(name_the_file("no reports to merge", &paths), "lab merge: no reports to merge");
        assert_eq!(name_the_file("report 9: x", &paths), "lab merge: report 9: x");
    }
}
