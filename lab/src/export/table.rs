//! A markdown table: a header row, its `|---|` separator, and one row per item. The exporters build rows of
//! strings and leave the pipes to this.

use std::fmt::Write;

/// Collects rows, then writes the table.
pub struct Table {
    header: Vec<String>,
    /// Per column: right-aligned (`---:`) or not (`---`).
    right: Vec<bool>,
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
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            right: vec![false; header.len()],
            rows: Vec::new(),
        }
    }

    /// Right-aligns the given columns (0-based): figures that line up on their units.
    pub fn align_right(mut self, columns: impl IntoIterator<Item = usize>) -> Table {
        for c in columns {
            self.right[c] = true;
        }
        self
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
        let separator: String = self.right.iter().map(|&r| if r { "---:|" } else { "---|" }).collect();
        let _ = writeln!(md, "|{separator}");
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

    #[test]
    fn right_aligned_columns_end_their_separator_with_a_colon() {
        let mut table = Table::new(&["server", "rate", "verdict"]).align_right([1]);
        table.row(row!["smol-server", 800, "held"]);
        let mut md = String::new();
        table.write(&mut md);
        assert_eq!(md, "| server | rate | verdict |\n|---|---:|---|\n| smol-server | 800 | held |\n");
    }
}
