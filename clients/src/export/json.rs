//! The `--json` format: one pretty-printed [`ClientReport`] document, schema in `clients/SCHEMA.md`.

use super::Exporter;
use crate::report::ClientReport;

pub struct JsonExporter;

impl Exporter for JsonExporter {
    fn serialize(&self, report: &ClientReport) -> String {
        // A report holds only numbers and strings: serializing it cannot fail.
        let mut text = serde_json::to_string_pretty(report).expect("a report serializes");
        text.push('\n');
        text
    }
}
