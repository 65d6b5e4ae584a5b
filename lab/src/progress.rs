//! Progress of a long matrix: the cell running, cells done of total, elapsed time and an estimate of what is left.
//!
//! The bar advances in *estimated milliseconds*, not in cells: an io cell at D = 1 s and a baseline cell of a
//! few thousand requests take very different times, so counting cells would make indicatif's ETA useless. When
//! stderr is not a terminal (CI, tests) the bar hides itself and each cell gets a plain line instead.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::Duration;

pub struct Progress {
    bar: ProgressBar,
    total_cells: usize,
    done_cells: usize,
}

impl Progress {
    /// A bar over `estimated_ms` of work in `total_cells` cells, drawn on stderr when it is a terminal.
    pub fn new(total_cells: usize, estimated_ms: u64) -> Progress {
        let bar = ProgressBar::with_draw_target(Some(estimated_ms.max(1)), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed_precise} [{bar:20}] ~{eta} left · {wide_msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        if !bar.is_hidden() {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        Progress { bar, total_cells, done_cells: 0 }
    }

    /// Says which cell is running.
    pub fn start_cell(&self, label: &str) {
        let message = format!("cell {}/{}: {label}", self.done_cells + 1, self.total_cells);
        if self.bar.is_hidden() {
            eprintln!("[{}/{}] running {label}", self.done_cells + 1, self.total_cells);
        }
        self.bar.set_message(message);
    }

    /// Announces one repetition (round `round` of `rounds`) of the cells in `labels`.
    pub fn start_repetition(&self, round: u32, rounds: u32, labels: &str) {
        let message =
            format!("round {round}/{rounds}, {} of {} cells done: {labels}", self.done_cells, self.total_cells);
        if self.bar.is_hidden() {
            eprintln!("[round {round}/{rounds}] running {labels}");
        }
        self.bar.set_message(message);
    }

    /// Moves the bar by one repetition's estimate, without a line.
    pub fn advance(&self, estimated_ms: u64) {
        self.bar.inc(estimated_ms);
    }

    /// Marks a cell done, advancing by its estimate, and prints its one-line result.
    pub fn finish_cell(&mut self, estimated_ms: u64, result_line: &str) {
        self.done_cells += 1;
        self.bar.inc(estimated_ms);
        self.line(&format!("[{}/{}] {result_line}", self.done_cells, self.total_cells));
    }

    /// A line above the bar (or on stderr when the bar is hidden).
    pub fn line(&self, text: &str) {
        if self.bar.is_hidden() {
            eprintln!("{text}");
        } else {
            self.bar.println(text);
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
