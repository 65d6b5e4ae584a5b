//! `primitives-<run-id>.md` and `.html`: the costs in three tables (create, switch, memory), each figure beside
//! its published one, the figures more than 2× away listed, and what the models take from them. Both are
//! rebuilt from the JSON alone (`lab report`).

use super::plan::{ANCHOR_FACTOR, CONTEXT_SWITCH, EXPERIMENTS, EXPERIMENT_FACTOR, MEMORY_UNITS, SUBJECTS};
use crate::export::table::Table;
use crate::export::{html, markdown};
use crate::format::kib_per as kib;
use crate::records::primitives::{Anchor, Measure, MemoryFit, PrimitivesRun, Timing};
use crate::records::run::Status;
use std::fmt::Write as _;

/// The HTML page: the markdown's sections, each a heading and its blocks.
pub fn html(run: &PrimitivesRun) -> String {
    let mut body = String::new();
    for section in render(run).split("\n## ") {
        let (title, text) = section.split_once('\n').unwrap_or((section, ""));
        let (tag, title) = match title.strip_prefix("# ") {
            Some(t) => ("h1", t),
            None => ("h2", title),
        };
        let _ = writeln!(body, "<{tag}>{}</{tag}>\n{}", html::inline(title), html::blocks(text));
    }
    html::page(&format!("Primitives {}", run.run_id), &body)
}

/// A duration in ns as people read it: `310 ns`, `1.72 µs`, `39.1 µs`.
fn ns(value: f64) -> String {
    if value >= 10_000.0 {
        format!("{:.1} µs", value / 1000.0)
    } else if value >= 1_000.0 {
        format!("{:.2} µs", value / 1000.0)
    } else {
        format!("{value:.0} ns")
    }
}

/// `1.72 µs (1.70–1.80)`, or why there is no figure.
fn timing_cell(t: Option<&Timing>) -> String {
    match t {
        None => "not run".to_string(),
        Some(t) => match (t.median_ns, t.min_ns, t.max_ns) {
            (Some(m), Some(lo), Some(hi)) if t.ns_per_operation.len() > 1 => {
                format!("{} ({}–{})", ns(m), ns(lo), ns(hi))
            }
            (Some(m), _, _) => ns(m),
            _ => format!("{}: {}", t.status, t.reason.as_deref().unwrap_or("no figure")),
        },
    }
}

/// `CPU 0` or `CPUs 0-1`.
fn cpus_label(cpus: &str) -> String {
    if cpus.contains(['-', ',']) {
        format!("CPUs {cpus}")
    } else {
        format!("CPU {cpus}")
    }
}

/// `0.43×` or `2.3× ⚠` (beyond the factor either way).
fn ratio_cell(anchor: Option<&Anchor>) -> String {
    match anchor.and_then(|a| a.ratio.map(|r| (r, a.beyond()))) {
        Some((r, true)) => format!("{} ⚠", crate::format::factor(r)),
        Some((r, false)) => crate::format::factor(r),
        None => "—".to_string(),
    }
}

/// The markdown document.
pub fn render(run: &PrimitivesRun) -> String {
    let mut md = String::new();
    let s = &run.settings;
    let title = format!("What the primitives cost here — primitives-{}", run.run_id);
    markdown::opening(&title, &run.header, "what it did not reach is marked skipped", &mut md);
    let _ = writeln!(
        md,
        "{} · {} build · {} to {}\n",
        markdown::machine_line(&run.environment).trim_end_matches('.'),
        run.build,
        run.started_at,
        run.finished_at
    );
    let _ = writeln!(
        md,
        "Each timing is `primitive create|switch SUBJECT --count N` (package `primitives`) in a process of its own, \
         pinned to CPU {}{}, repeated {} times in rounds: median (min–max). A create is a create-and-join of {} \
         units one after another; a switch is one hand-off of a token, {} round trips. Published figures: {}; \
         measured ÷ published beyond {}× either way is marked ⚠.\n",
        s.cpu_sets.first().map_or("0", String::as_str),
        s.cpu_sets.get(1).map_or(String::new(), |two| format!(", then to CPUs {two}")),
        s.repetitions,
        crate::format::thousands(s.create_count),
        crate::format::thousands(s.switch_count),
        CONTEXT_SWITCH,
        ANCHOR_FACTOR
    );
    for note in &run.notes {
        let _ = writeln!(md, "Note: {note}\n");
    }
    for (measure, title) in [(Measure::Create, "Create and join"), (Measure::Switch, "Switch (one hand-off)")] {
        let _ = writeln!(md, "## {title}\n");
        let one = s.cpu_sets.first().cloned().unwrap_or_default();
        let two = s.cpu_sets.get(1).cloned();
        let mut header = vec!["primitive".to_string(), cpus_label(&one)];
        header.extend(two.iter().map(|t| cpus_label(t)));
        header.extend(["published".to_string(), format!("measured ÷ published ({})", cpus_label(&one))]);
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        let mut table = Table::new(&header).align_right(1..header.len());
        for subject in SUBJECTS.iter().filter(|x| x.measure == measure) {
            let find = |cpus: &str| {
                run.timings.iter().find(|t| t.measure == measure && t.subject == subject.word && t.cpus == cpus)
            };
            let first = find(&one);
            let mut row = vec![format!("{} (`{}`)", subject.what, subject.word), timing_cell(first)];
            if let Some(two) = &two {
                row.push(timing_cell(find(two)));
            }
            row.push(subject.anchor_ns.map_or("—".to_string(), ns));
            row.push(ratio_cell(first.and_then(|t| t.anchor.as_ref())));
            table.row(row);
        }
        table.write(&mut md);
        md.push('\n');
    }
    memory_section(&mut md, run);
    connections_section(&mut md, run);
    beyond_section(&mut md, run);
    experiments_section(&mut md, run);
    models_section(&mut md, run);
    let _ = writeln!(
        md,
        "Written by `lab primitives` from `primitives-{id}.json`; `lab report primitives-{id}.json` rebuilds it.",
        id = run.run_id
    );
    md
}

fn memory_section(md: &mut String, run: &PrimitivesRun) {
    let counts: Vec<String> = run.settings.memory_counts.iter().map(|&c| crate::format::thousands(c)).collect();
    let _ = writeln!(
        md,
        "## Memory of an idle unit\n\nSlopes of lines through {} idle units held at once, pinned to one CPU: the \
         process's resident memory (RSS), and the growth of the machine's `KernelStack` and `Slab` (/proc/meminfo; \
         machine-wide, so r² shows how much else moved). A slope whose line has r² under {} is unclear.\n",
        counts.join(", "),
        crate::fit::FIT_R2_MIN
    );
    let mut table = Table::new(&[
        "idle unit",
        "user (RSS)",
        "KernelStack",
        "Slab",
        "user + kernel",
        "published (user)",
        "measured ÷ published",
    ])
    .align_right(1..7);
    for fit in &run.memory {
        let what = MEMORY_UNITS.iter().find(|u| u.0 == fit.unit).map_or(fit.unit.as_str(), |u| u.1);
        let mut row = vec![what.to_string()];
        row.extend(fit_cells(fit));
        if fit.status == Status::Ok {
            row.push(fit.user_anchor.as_ref().map_or("—".to_string(), |a| kib(a.value)));
            row.push(ratio_cell(fit.user_anchor.as_ref()));
        }
        row.resize(7, String::new());
        table.row(row);
    }
    table.write(md);
    md.push('\n');
}

/// A fit's user, `KernelStack`, `Slab` and total cells (a slope under the r² bar said unclear), or its status.
fn fit_cells(fit: &MemoryFit) -> Vec<String> {
    if fit.status != Status::Ok {
        return vec![format!("{}: {}", fit.status, fit.reason.as_deref().unwrap_or(""))];
    }
    let clear = |value: Option<f64>, r2: Option<f64>| match (value, r2) {
        (Some(v), Some(r2)) if r2 >= crate::fit::FIT_R2_MIN => kib(v),
        (Some(v), Some(r2)) => format!("unclear ({}, r² {r2:.2})", kib(v)),
        _ => "—".to_string(),
    };
    let kernel = fit.kernel_stack_kib_per_unit.zip(fit.slab_kib_per_unit).map(|(a, b)| a + b);
    let total = fit.user_kib_per_unit.zip(kernel).map(|(u, k)| u + k);
    // An unclear slope already says its r².
    let user_clear = fit.user_r2.is_some_and(|r| r >= crate::fit::FIT_R2_MIN);
    let user_r2 = fit.user_r2.filter(|_| user_clear).map(|r| format!(" (r² {r:.2})")).unwrap_or_default();
    vec![
        format!("{}{user_r2}", clear(fit.user_kib_per_unit, fit.user_r2)),
        clear(fit.kernel_stack_kib_per_unit, fit.kernel_r2),
        clear(fit.slab_kib_per_unit, fit.kernel_r2),
        clear(total, fit.kernel_r2.zip(fit.user_r2).map(|(a, b)| a.min(b))),
    ]
}

/// Idle keep-alive connections on each server, and the two sockets alone on a plain listener (version 2).
fn connections_section(md: &mut String, run: &PrimitivesRun) {
    if run.connections.is_empty() {
        return;
    }
    let counts: Vec<String> = run.settings.connection_counts.iter().map(|&c| crate::format::thousands(c)).collect();
    let _ = writeln!(
        md,
        "## Memory of an idle keep-alive connection\n\nEach server started as the matrix starts it (its executor \
         sized for CPU {}, idle connections kept for an hour), then {} connections held at once, each after one \
         `GET /no/param` answered with the connection kept open: slopes of the server's process-tree RSS and of the \
         machine's `KernelStack` and `Slab`. The kernel's figures hold both ends of each connection (the lab's \
         client socket too); the plain listener holds both ends and no server, so \"beyond the sockets\" (the \
         server's kernel slope minus the listener's) is what the server adds in the kernel.\n",
        run.settings.cpu_sets.first().map_or("0", String::as_str),
        counts.join(", ")
    );
    let mut table =
        Table::new(&["server", "user (RSS)", "KernelStack", "Slab", "user + kernel", "kernel beyond the sockets"])
            .align_right(1..6);
    let sockets = run.connections.iter().find(|f| f.unit == super::connections::LISTENER).and_then(kernel_kib);
    for fit in &run.connections {
        let listener = fit.unit == super::connections::LISTENER;
        let mut row = vec![if listener {
            "a plain listener in the lab (the two sockets alone)".to_string()
        } else {
            format!("`{}`", fit.unit)
        }];
        row.extend(fit_cells(fit));
        if fit.status == Status::Ok && !listener {
            row.push(kernel_kib(fit).zip(sockets).map_or("—".to_string(), |(k, s)| kib(k - s)));
        }
        row.resize(6, String::new());
        table.row(row);
    }
    table.write(md);
    md.push('\n');
}

/// A fit's kernel slope (`KernelStack` + `Slab`, KiB per unit) where its line is clear.
pub fn kernel_kib(fit: &MemoryFit) -> Option<f64> {
    let clear = fit.status == Status::Ok && fit.kernel_r2.is_some_and(|r2| r2 >= crate::fit::FIT_R2_MIN);
    clear.then(|| fit.kernel_stack_kib_per_unit.zip(fit.slab_kib_per_unit).map(|(a, b)| a + b)).flatten()
}

/// Every figure beyond the factor, said as it is: the lab reports the difference, it does not explain it.
fn beyond_section(md: &mut String, run: &PrimitivesRun) {
    let mut lines = Vec::new();
    for t in run.timings.iter().filter(|t| t.anchor.as_ref().is_some_and(Anchor::beyond)) {
        let (Some(a), Some(m)) = (&t.anchor, t.median_ns) else { continue };
        lines.push(format!(
            "- {} `{}` on {}: {} here, {} published ({}).",
            t.measure,
            t.subject,
            cpus_label(&t.cpus),
            ns(m),
            ns(a.value),
            crate::format::factor(m / a.value)
        ));
    }
    for fit in &run.memory {
        for (what, anchor, value) in [
            ("user memory", &fit.user_anchor, fit.user_kib_per_unit),
            ("KernelStack", &fit.kernel_stack_anchor, fit.kernel_stack_kib_per_unit),
        ] {
            if let (Some(a), Some(v)) = (anchor, value) {
                if a.beyond() {
                    lines.push(format!(
                        "- {what} of an idle `{}`: {} here, {} published ({}; {}).",
                        fit.unit,
                        kib(v),
                        kib(a.value),
                        crate::format::factor(v / a.value),
                        a.source
                    ));
                }
            }
        }
    }
    let _ = writeln!(md, "## Beyond {ANCHOR_FACTOR}× of the published figure\n");
    if lines.is_empty() {
        md.push_str("None: every figure is within the factor of its published one.\n\n");
    } else {
        md.push_str(
            "These differ from the published figure by more than the factor. This run measures them; it does not \
             say why — a cause is a hypothesis until an experiment (the kernel, the allocator, the CPU's \
             mitigations, the executor's threads) has tested it.\n\n",
        );
        for line in lines {
            let _ = writeln!(md, "{line}");
        }
        md.push('\n');
    }
}

/// `29.0 KiB in user and kernel memory`, or `0.47 KiB in user memory, no kernel growth measurable` when the
/// kernel's line is unclear.
fn memory_words(m: &MemoryFit) -> String {
    let user = m.user_kib_per_unit.unwrap_or(0.0);
    match (m.kernel_stack_kib_per_unit.zip(m.slab_kib_per_unit), m.kernel_r2) {
        (Some((stack, slab)), Some(r2)) if r2 >= crate::fit::FIT_R2_MIN => {
            format!("{} in user and kernel memory here", kib(user + stack + slab))
        }
        _ => format!("{} in user memory here, no kernel growth measurable", kib(user)),
    }
}

/// Each experiment with both figures and whether they bore the hypothesis out.
fn experiments_section(md: &mut String, run: &PrimitivesRun) {
    let one = run.settings.cpu_sets.first().cloned().unwrap_or_default();
    let _ = writeln!(
        md,
        "## Experiments\n\nThe same primitive two ways, in the same rounds on {}: a hypothesis holds where the \
         variant is at least {}× cheaper.\n",
        cpus_label(&one),
        EXPERIMENT_FACTOR
    );
    for e in &EXPERIMENTS {
        let median = |word: &str| {
            run.timings.iter().find(|t| t.measure == e.measure && t.subject == word && t.cpus == one)?.median_ns
        };
        let verdict = match (median(e.baseline), median(e.variant)) {
            (Some(b), Some(v)) if v > 0.0 => format!(
                "`{}` {}, `{}` {} ({} cheaper): {}.",
                e.baseline,
                ns(b),
                e.variant,
                ns(v),
                crate::format::factor(b / v),
                if b / v >= EXPERIMENT_FACTOR { "holds" } else { "does not hold" }
            ),
            _ => "not measured.".to_string(),
        };
        let _ = writeln!(md, "- {} `{}`: {} — {verdict}", e.measure, e.baseline, e.hypothesis);
    }
    md.push('\n');
}

/// The chain from primitive to model: the costs docs/model.md uses, as measured here.
fn models_section(md: &mut String, run: &PrimitivesRun) {
    let one = run.settings.cpu_sets.first().cloned().unwrap_or_default();
    let median = |measure, subject: &str| {
        run.timings.iter().find(|t| t.measure == measure && t.subject == subject && t.cpus == one)?.median_ns
    };
    let memory = |unit: &str| run.memory.iter().find(|m| m.unit == unit && m.status == Status::Ok);
    let _ = writeln!(md, "## What the models take from them\n");
    if let (Some(thread), Some(task)) = (median(Measure::Create, "thread"), median(Measure::Create, "tokio-task")) {
        let _ = writeln!(
            md,
            "- A thread-per-request server creates a thread for every request: {} of CPU each here, against {} \
             for a tokio task ({} as much). At 1,000 requests/s that is {:.1} % of one CPU for the threads alone.",
            ns(thread),
            ns(task),
            crate::format::factor(thread / task),
            thread * 1000.0 / 1e9 * 100.0
        );
    }
    if let (Some(thread), Some(task)) = (memory("thread"), memory("tokio-task")) {
        let _ = writeln!(
            md,
            "- A request that waits holds a thread on thread-server ({}) and a task on an async server ({}); both \
             also hold the connection's socket and the request's state, which the bench's cost part measures whole \
             (`lab bench --parts cost`).",
            memory_words(thread),
            memory_words(task)
        );
    }
    if let (Some(thread), Some(coroutine)) = (memory("thread"), memory("coroutine")) {
        let _ = writeln!(
            md,
            "- coroutine-server holds a coroutine per waiting request ({}) where thread-server holds a thread ({}).",
            memory_words(coroutine),
            memory_words(thread)
        );
    }
    if let (Some(threads), Some(tasks)) =
        (median(Measure::Switch, "thread-condvar"), median(Measure::Switch, "tokio-channel"))
    {
        let _ = writeln!(
            md,
            "- Handing work from one waiting unit to the next costs {} between threads and {} between tasks on \
             one thread here: what an executor saves each time a request's wait ends.",
            ns(threads),
            ns(tasks)
        );
    }
    md.push('\n');
}
