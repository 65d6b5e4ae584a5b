//! A markdown table: a header row, its `|---|` separator, and one row per item. The exporters build rows of
//! strings and leave the pipes to this.

use std::fmt::Write;

/// Collects rows, then writes the table.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// The cells of one row, each turned into a string: `row![c.server, c.concurrency, format::seconds(w)]`.
#[macro_export]
macro_rules! row {
    ($($cell:expr),* $(,)?) => {
        vec![$($cell.to_string()),*]
    };
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table { header: header.iter().map(|h| h.to_string()).collect(), rows: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Writes the table (no blank line after it).
    pub fn write(&self, md: &mut String) {
        let line = |md: &mut String, cells: &[String]| {
            let _ = writeln!(md, "| {} |", cells.join(" | "));
        };
        line(md, &self.header);
        let _ = writeln!(md, "|{}", "---|".repeat(self.header.len()));
        for row in &self.rows {
            line(md, row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_header_separator_and_rows() {
        let mut table = Table::new(&["server", "c"]);
        table.row(row!["smol-server", 10]);
        table.row(row!["thread-server", 1]);
        let mut md = String::new();
        table.write(&mut md);
        assert_eq!(md, "| server | c |\n|---|---|\n| smol-server | 10 |\n| thread-server | 1 |\n");
    }
}
