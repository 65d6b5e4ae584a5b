//! The headline as a markdown table of at most seven columns, with a line naming the source of every column,
//! and the capacity table a companion adds; the HTML page shows the same markdown.

use super::{client_name, fit_text, span};
use crate::export::table::Table;
use crate::findings::headline::{FarSource, Held, Ranked};
use crate::findings::{Headline, FIT_R2_MIN};
use crate::format;
use crate::records::run::Run;

/// The headline as a markdown table of at most seven columns — server, model, waiting at the headline level and
/// at scale, CPU work, memory per connection, a blocking call — with a line naming the source of every column.
/// Capacity figures, when a companion gave them, follow in a table of their own.
pub fn table(run: &Run, h: &Headline) -> String {
    let client = client_name(run, h.client);
    let io_head = format!("waiting: io, {} at once", h.level);
    let far_head = h.far_level.as_ref().map(|(l, _)| format!("waiting: io, {} at once", format::thousands(*l)));
    let cpu_head = format!("CPU work: cpu, {} at once", h.level);
    let blocking_head = format!("blocking call: {} × /block at once", h.blocking_level);
    let mut header: Vec<&str> = vec!["server", "model", &io_head];
    if let Some(f) = &far_head {
        header.push(f);
    }
    header.extend([cpu_head.as_str(), "memory per waiting connection", &blocking_head]);
    let mut t = Table::new(&header);
    let opt = |v: Option<String>| v.unwrap_or_else(|| "—".into());
    // Each figure with its range and its ratio to the column's best: the ratio is what carries to another machine.
    let best_io = h.rows.iter().filter_map(|r| r.io.map(|x| x.median)).fold(f64::INFINITY, f64::min);
    let best_cpu = h.rows.iter().filter_map(|r| r.cpu_rps.map(|x| x.median)).fold(0.0, f64::max);
    let ranged = |r: &Ranked, show: fn(f64) -> String, best: f64| {
        let ratio = format!("{:.2}×", r.median / best);
        if show(r.min) == show(r.max) {
            format!("{} · {ratio}", show(r.median))
        } else {
            format!("{} ({}) · {ratio}", show(r.median), span(&[r.min, r.max], show))
        }
    };
    for r in &h.rows {
        let mut model = r.group.name().to_string();
        match r.worker_threads {
            Some(1) => model.push_str(" · 1 thread"),
            Some(n) => model.push_str(&format!(" · {n} threads")),
            None => {}
        }
        if r.offloads_cpu_work {
            model.push_str(" · CPU work on a worker pool");
        }
        let mut cells = vec![r.server.clone(), model, opt(r.io.map(|x| ranged(&x, format::seconds, best_io)))];
        if h.far_level.is_some() {
            cells.push(opt(r.io_far.as_ref().map(|(w, failed, stopped)| {
                let mut text = format::seconds(*w);
                if let Some(cause) = stopped {
                    text.push_str(&format!(" · stopped by {cause}"));
                }
                if *failed > 0 {
                    text.push_str(&format!(" · ⚠ {} failed", format::thousands(*failed)));
                }
                text
            })));
        }
        cells.push(opt(r.cpu_rps.map(|x| {
            let mut text = ranged(&x, format::rate, best_cpu);
            if let Some((us, c)) = r.cpu_us_cpu.filter(|(_, c)| *c == h.level) {
                let _ = c;
                text.push_str(&format!(" · {us:.0} µs CPU/request"));
            }
            text
        })));
        cells.push(opt(r.memory.as_ref().map(|m| {
            let mut text = fit_text(m.rss_kib, m.r2, m.levels.len());
            if m.r2 >= FIT_R2_MIN {
                if let Some(kernel) = m.kernel_kib {
                    text = format!("{text} + {kernel:.1} KiB kernel");
                }
                if m.threads >= 0.5 {
                    text = format!("{text} + {:.1} threads", m.threads);
                }
            }
            text
        })));
        cells.push(opt(r.blocking.map(|(wall, expected)| match expected {
            Some(e) => format!("{} (predicted {})", format::seconds(wall), format::seconds(e)),
            None => format::seconds(wall),
        })));
        t.row(cells);
    }
    let mut md = String::new();
    t.write(&mut md);
    md.push_str(&format!(
        "\nSources: this run's {client} (its threads: the most OS threads the client was seen using), median of the \
         repetitions (range in brackets) and its ratio to the column's best (×: the figure that carries to another \
         machine), evidence cells only (a client-saturated cell is left out). Model and \
         threads: what each measured instance said on `/health`. CPU work: req/s and the server's CPU time per \
         request. Memory: the slope of peak server RSS (and of the machine's kernel memory, where recorded) over {}, \
         with its r² and points (below r² {} the fit says nothing). Blocking call: the wall time of {} concurrent `/block` requests that each sleep {}.",
        memory_levels(h),
        FIT_R2_MIN,
        h.blocking_level,
        format::seconds(h.block_s)
    ));
    if let Some((l, source)) = &h.far_level {
        match source {
            FarSource::Run => md.push_str(&format!(" Waiting at {}: this run's cells.", format::thousands(*l))),
            FarSource::Bench { source, commit, client, same_code } => md.push_str(&format!(
                " Waiting at {}: from `{source}` (lab bench reach, commit {commit}, {}, {client}).",
                format::thousands(*l),
                code_note(*same_code)
            )),
        }
    }
    md.push('\n');
    if let Some((source, commit, client, same_code)) = &h.capacity_source {
        let heads: Vec<String> = h.capacity_workloads.iter().map(|w| format!("capacity {w}")).collect();
        let mut header: Vec<&str> = vec!["server"];
        header.extend(heads.iter().map(String::as_str));
        let mut t = Table::new(&header);
        for r in &h.rows {
            let mut cells = vec![r.server.clone()];
            cells.extend(r.capacity.iter().map(|(_, held)| opt(held.map(held_label))));
            t.row(cells);
        }
        md.push_str(&format!(
            "\nOpen-loop capacity: the highest rate held with p99 under the target, from `{source}` (lab capacity, \
             commit {commit}, {}, {client}); \"≥\" where no offered rate failed, \"(client-bound)\" \
             where the load generator, not the server, set the figure.\n\n",
            code_note(*same_code)
        ));
        t.write(&mut md);
    }
    md
}

/// `250, 500, 1,000, 2,000 and 4,000 waiting connections (the bench's cost part)`, or this run's io sweep.
pub fn memory_levels(h: &Headline) -> String {
    let Some(m) = h.rows.iter().find_map(|r| r.memory.as_ref()) else { return "the io sweep".into() };
    let levels: Vec<String> = m.levels.iter().map(|l| format::thousands(*l)).collect();
    let source = match &h.far_level {
        Some((_, FarSource::Bench { source, .. })) if m.levels.iter().any(|&l| l > h.level) => {
            format!(" (`{source}`'s cost part)")
        }
        _ => " (this run's io sweep)".into(),
    };
    format!("{} waiting connections{source}", levels.join(", "))
}

/// How a table's source line says whether a companion measured this run's code.
fn code_note(same_code: bool) -> &'static str {
    if same_code {
        "the same servers/, clients/ and harness/ as this run"
    } else {
        "⚠ not shown to be this run's code: its figures may describe older servers"
    }
}

/// `7,600 req/s`, or `≥ 40,000 req/s` when no rate failed.
fn held_label(held: Held) -> String {
    if held.client_bound {
        return format!("≥ {} (client-bound)", format::rate(held.rps));
    }
    match held.first_failed {
        Some(_) => format::rate(held.rps),
        None => format!("≥ {}", format::rate(held.rps)),
    }
}
