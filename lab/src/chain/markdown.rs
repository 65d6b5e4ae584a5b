//! The chain primitive → model → server in a matrix run's markdown: each prediction [`super`] makes from the
//! primitives beside the measured figure, with their ratio.

use super::{cpu_links, memory_links};
use crate::export::table::Table;
use crate::format;
use crate::records::run::{CompanionKind, Run};
use std::fmt::Write as _;

/// A prediction off by more than this factor either way is a miss (as the primitives' published figures).
pub const MISS_FACTOR: f64 = 2.0;

/// `1.27×`, or `2.9× ⚠` beyond [`MISS_FACTOR`] either way.
fn ratio(measured: f64, predicted: f64) -> String {
    let r = measured / predicted;
    let miss = !(1.0 / MISS_FACTOR..=MISS_FACTOR).contains(&r);
    format!("{}{}", format::factor(r), if miss { " ⚠" } else { "" })
}

/// The matrix markdown's section, when the run has a primitives companion.
pub fn section(run: &Run, md: &mut String) {
    let Some((companion, p)) = run
        .companions
        .iter()
        .rev()
        .find_map(|c| Some((c, c.primitives.as_ref().filter(|_| c.kind == CompanionKind::Primitives)?)))
    else {
        return;
    };
    let _ = writeln!(md, "## Primitive → model → server\n");
    let _ = writeln!(
        md,
        "What the servers should cost, predicted from what `{}` (lab primitives, commit {}) measured of the \
         primitives under them, beside what was measured of the servers; measured ÷ predicted beyond {MISS_FACTOR}× \
         either way is marked ⚠ (a miss: the model leaves out a cost, which is a hypothesis until an experiment \
         names it; docs/model.md).\n",
        companion.source, companion.git_commit
    );
    let memory = memory_links(p, run);
    if !memory.is_empty() {
        let _ = writeln!(
            md,
            "Memory per waiting connection = the server's idle keep-alive connection (or, where the primitives run \
             has none, the units the connection holds + the two sockets) + the units a waiting request adds; the \
             units' figures are user + kernel memory (kernel 0 where its line was unclear). Measured: the bench's \
             RSS + kernel slope over its waiting connections.\n"
        );
        let mut table =
            Table::new(&["server", "a waiting connection holds", "predicted", "measured", "measured ÷ predicted"])
                .align_right(2..5);
        for l in &memory {
            let bound = if l.lower_bound { " (without the sockets: a lower bound)" } else { "" };
            table.row(vec![
                l.server.clone(),
                l.holds.to_string(),
                format!("{} = {}{bound}", l.how, format::kib_per(l.predicted_kib)),
                format::kib_per(l.measured_kib),
                ratio(l.measured_kib, l.predicted_kib),
            ]);
        }
        table.write(md);
        md.push('\n');
    }
    let cpu = cpu_links(p, run);
    if !cpu.is_empty() {
        let _ = writeln!(
            md,
            "thread-server's CPU per request = pool-server's (the same tiny_http and handlers, its threads made once) \
             + one thread create-and-join ({:.1} µs on CPU {}); both servers' cells at the same client and level, evidence \
             cells only.\n",
            cpu[0].thread_create_us,
            p.cpus
        );
        let mut table = Table::new(&[
            "workload",
            "client, c",
            "pool-server",
            "+ thread create-and-join",
            "= predicted",
            "thread-server measured",
            "measured ÷ predicted",
        ])
        .align_right(2..7);
        for l in &cpu {
            table.row(vec![
                l.workload.to_string(),
                format!("{}, {}", l.client, l.concurrency),
                format!("{:.1} µs", l.pool_us),
                format!("{:.1} µs", l.thread_create_us),
                format!("{:.1} µs", l.predicted_us()),
                format!("{:.1} µs", l.measured_us),
                ratio(l.measured_us, l.predicted_us()),
            ]);
        }
        table.write(md);
        md.push('\n');
    }
}
