//! How a finished run is printed: one small trait, one file per format (after hyperfine's `src/export`).
//!
//! [`json`] is the machine format the lab parses; [`human`] is the original article's output (start time, a
//! line per response, end time, summary). [`finish`] prints the chosen one and picks the exit code.

pub mod human;
pub mod json;

use std::io::Write;
use std::process::ExitCode;

use crate::cli::EXIT_ALL_FAILED;
use crate::report::ClientReport;

/// Turns a finished run into text.
pub trait Exporter {
    fn serialize(&self, report: &ClientReport) -> String;
}

/// Prints the report (JSON with `--json`, otherwise the end time and the summary) and returns the exit code:
/// 1 with a one-line reason on stderr when every request failed, 0 otherwise.
pub fn finish(name: &str, report: &ClientReport, json: bool) -> ExitCode {
    let text = if json { json::JsonExporter.serialize(report) } else { human::SummaryExporter.serialize(report) };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
    if report.all_failed() {
        eprintln!("{name}: {}", report.all_failed_reason());
        return ExitCode::from(EXIT_ALL_FAILED);
    }
    ExitCode::SUCCESS
}
