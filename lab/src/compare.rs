//! `lab compare A.json B.json`: what changed between two runs before what differs between them.
//!
//! The header lists both runs' machine (CPU model, cores, kernel, microcode, governor, calibration), toolchain,
//! commit and code trees, and classifies the comparison ([`Kind`]): same machine and same code (a noise check),
//! same machine and different code (a code comparison), or different machines — whose differences are the
//! machine's until shown otherwise. docs/model.md ("Comparing runs across machines") defines "same machine".
//!
//! Across machines the comparison reads what transfers: each workload's cells moved by one factor (the
//! machine's shift, set beside the calibration's own ratio), each cell judged against that shift instead of
//! against 1, and the servers measured against each other within each run (÷ the run's fastest server at each
//! point, or ÷ a named control server).
//!
//! Noise: the lab's one rule ([`crate::noise`]): two cells differ only where the ranges of their repetitions do
//! not overlap and their medians are at least 5 % apart; otherwise they are a tie. Each cell is judged by its
//! workload's figure (wall time for io and blocking, throughput for the others).

use crate::calibration::{self, Probe, Samples};
use crate::export::table::Table;
use crate::format;
use crate::noise::{self, Metric, Range, Side, Verdict};
use crate::records::header::Calibration;
use crate::records::{
    header::RunHeader,
    run::{Cell, Run},
};
use crate::row;
use std::collections::BTreeMap;
use std::fmt::Write;

/// "tie", or "B 1.5× better" / "B 2.0× worse".
fn verdict_text(verdict: Verdict) -> String {
    match verdict {
        Verdict::Tie => "tie".to_string(),
        Verdict::Differ { better, factor } => {
            format!("B {} {}", format::factor(factor), if better == Side::B { "better" } else { "worse" })
        }
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if a > 0.0 => Some(b / a),
        _ => None,
    }
}

/// What the two runs have in common decides what their differences can mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Same machine, same code: every difference is the machine's noise.
    NoiseCheck,
    /// Same machine, code that differs (or is not known to be the same): differences are the code's.
    CodeComparison,
    /// Different machines: differences are the machine's until shown otherwise.
    MachineChange,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::NoiseCheck => "same machine, same code: a noise check",
            Kind::CodeComparison => "same machine, different code: a code comparison",
            Kind::MachineChange => "different machines: the differences are the machine's until shown otherwise",
        }
    }
}

/// Whether the two runs measured the same code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    Same,
    /// What differs: some of `servers`, `clients`, `harness` (their git trees), `rustc`, `build`.
    Differs(Vec<&'static str>),
    /// The runs cannot tell (uncommitted changes, or no trees recorded and different commits): why.
    Unknown(String),
}

/// What changed between run A and run B, and so what kind of comparison theirs is.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub kind: Kind,
    /// Why the machines count as different: empty when they are the same.
    pub machine_changes: Vec<String>,
    /// Whether both runs carried a calibration that could be compared.
    pub calibrated: bool,
    pub code: Code,
}

/// The options of `lab compare`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The server the others are divided by within each run (default: the run's fastest at each point).
    pub control: Option<String>,
}

/// Both runs' calibrations, when both exist and were run by the same build (a debug probe is not the machine).
fn calibrations<'r>(a: &'r RunHeader, b: &'r RunHeader) -> Option<(&'r Calibration, &'r Calibration)> {
    let (ca, cb) = (a.calibration.as_ref()?, b.calibration.as_ref()?);
    (ca.start.build == cb.start.build).then_some((ca, cb))
}

/// B's speed ÷ A's on a probe over the whole run (> 1: B's machine is faster), and whether the noise rule
/// tells them apart.
fn probe_ratio(a: &Calibration, b: &Calibration, probe: Probe) -> Option<(f64, bool)> {
    let (sa, sb) = (a.over_run(probe)?, b.over_run(probe)?);
    let verdict = noise::judge_ranges(calibration::range(&sa), calibration::range(&sb), Metric::Wall);
    Some((sa.median / sb.median, !verdict.is_tie()))
}

/// "same machine" is: the same CPU model, kernel and number of CPUs, and — when both runs were calibrated —
/// every calibration probe a tie by the noise rule. "same code" is: the same git trees of servers/, clients/ and
/// harness/ (or, before runs recorded trees, the same commit), no uncommitted changes (unless both are one run),
/// the same rustc and build.
pub fn classify(a: &RunHeader, b: &RunHeader) -> Setting {
    let (ea, eb) = (&a.environment, &b.environment);
    let mut machine_changes = Vec::new();
    if ea.cpu_model != eb.cpu_model {
        machine_changes.push(format!("CPU model {} → {}", ea.cpu_model, eb.cpu_model));
    }
    if ea.cpu_count != eb.cpu_count {
        machine_changes.push(format!("{} → {} CPUs", ea.cpu_count, eb.cpu_count));
    }
    if ea.kernel != eb.kernel {
        machine_changes.push(format!("kernel {} → {}", ea.kernel, eb.kernel));
    }
    let calibrated = calibrations(a, b).is_some();
    if let Some((ca, cb)) = calibrations(a, b) {
        for &probe in Probe::ALL {
            if let Some((speed, true)) = probe_ratio(ca, cb, probe) {
                machine_changes.push(format!("calibration: {probe} probe {} in B", faster_or_slower(speed)));
            }
        }
    }
    let mut differs = Vec::new();
    let mut unknown = None;
    let same_run = a.run_id == b.run_id && a.started_at == b.started_at;
    if same_run {
        // A run against itself: whatever its tree held, it is the same code.
    } else if ea.git_dirty || eb.git_dirty {
        unknown = Some("a run was made from a tree with uncommitted changes".to_string());
    } else {
        match (&ea.trees, &eb.trees) {
            (Some(ta), Some(tb)) => {
                for (part, x, y) in [
                    ("servers", &ta.servers, &tb.servers),
                    ("clients", &ta.clients, &tb.clients),
                    ("harness", &ta.harness, &tb.harness),
                ] {
                    if x != y {
                        differs.push(part);
                    }
                }
            }
            _ if ea.git_commit == eb.git_commit && ea.git_commit != "unknown" => {}
            _ => unknown = Some("the commits differ and the runs did not record their code trees".to_string()),
        }
    }
    if ea.rustc != eb.rustc {
        differs.push("rustc");
    }
    if a.build != b.build {
        differs.push("build");
    }
    let code = match unknown {
        Some(why) => Code::Unknown(why),
        None if differs.is_empty() => Code::Same,
        None => Code::Differs(differs),
    };
    let kind = if !machine_changes.is_empty() {
        Kind::MachineChange
    } else if code == Code::Same {
        Kind::NoiseCheck
    } else {
        Kind::CodeComparison
    };
    Setting { kind, machine_changes, calibrated, code }
}

/// `1.41× faster` / `1.20× slower` for a speed ratio.
fn faster_or_slower(speed: f64) -> String {
    if speed >= 1.0 {
        format!("{} faster", format::factor(speed))
    } else {
        format!("{} slower", format::factor(1.0 / speed))
    }
}

/// The header: both runs side by side, then what kind of comparison this is.
fn header(md: &mut String, a: &Run, b: &Run, setting: &Setting) {
    let (ea, eb) = (&a.environment, &b.environment);
    let mut table = Table::new(&["", "A", "B"]);
    table.row(row!["run", a.run_id, b.run_id]);
    table.row(row![
        "machine",
        format!("{} × {}", ea.cpu_model, ea.cpu_count),
        format!("{} × {}", eb.cpu_model, eb.cpu_count)
    ]);
    table.row(row!["kernel", ea.kernel, eb.kernel]);
    let detail = |run: &Run, pick: fn(&Calibration) -> Option<String>| {
        run.calibration.as_ref().map_or("not recorded".to_string(), |c| pick(c).unwrap_or_else(|| "—".to_string()))
    };
    table.row(row!["microcode", detail(a, |c| c.microcode.clone()), detail(b, |c| c.microcode.clone())]);
    table.row(row!["governor", detail(a, |c| c.governor.clone()), detail(b, |c| c.governor.clone())]);
    table.row(row!["rustc", ea.rustc, eb.rustc]);
    table.row(row!["build · profile", format!("{} · {}", a.build, a.profile), format!("{} · {}", b.build, b.profile)]);
    let commit = |e: &crate::records::header::Environment| {
        format!("{}{}", e.git_commit, if e.git_dirty { " (with uncommitted changes)" } else { "" })
    };
    table.row(row!["commit", commit(ea), commit(eb)]);
    let trees = |e: &crate::records::header::Environment| {
        e.trees.as_ref().map_or("not recorded".to_string(), |t| {
            format!("{} · {} · {}", short(&t.servers), short(&t.clients), short(&t.harness))
        })
    };
    table.row(row!["trees servers · clients · harness", trees(ea), trees(eb)]);
    for &probe in Probe::ALL {
        let figure = |run: &Run| match run.calibration.as_ref() {
            None => "not recorded".to_string(),
            Some(c) => c.over_run(probe).map_or("—".to_string(), |s| samples_text(s, probe)),
        };
        table.row(row![format!("calibration: {probe}"), figure(a), figure(b)]);
    }
    let drift = |run: &Run| match run.calibration.as_ref() {
        None => "not recorded".to_string(),
        Some(c) if c.end.is_none() => "end not measured".to_string(),
        Some(c) => {
            let drifted: Vec<String> =
                c.drifted().map(|d| format!("**{} {}**", d.probe, format::factor(d.factor))).collect();
            if drifted.is_empty() {
                "within noise".to_string()
            } else {
                format!("{} (end ÷ start)", drifted.join(", "))
            }
        }
    };
    table.row(row!["calibration drift, start → end", drift(a), drift(b)]);
    table.write(md);
    md.push('\n');

    let label = match (&setting.kind, &setting.code) {
        (Kind::CodeComparison, Code::Unknown(_)) => {
            "same machine, code not known to be the same: read as a code comparison"
        }
        (kind, _) => kind.label(),
    };
    let _ = write!(md, "**This is a comparison of {label}.** ");
    match setting.kind {
        Kind::MachineChange => {
            let _ = write!(md, "What differs between the machines: {}. ", setting.machine_changes.join("; "));
        }
        _ if setting.calibrated => {
            let _ =
                write!(md, "Same CPU model, kernel and cores, and every calibration probe a tie by the noise rule. ");
        }
        _ => {
            let _ = write!(
                md,
                "Same CPU model, kernel and cores — by description only: the runs carry no comparable calibration. "
            );
        }
    }
    match &setting.code {
        Code::Same => {
            let _ = writeln!(md, "The code is the same (trees or commit, rustc, build).");
        }
        Code::Differs(parts) => {
            let _ = writeln!(md, "The code differs in: {}.", parts.join(", "));
        }
        Code::Unknown(why) => {
            let _ = writeln!(md, "The runs cannot tell whether the code is the same: {why}.");
        }
    }
    for (side, run) in [("A", a), ("B", b)] {
        if run.calibration.as_ref().is_some_and(|c| c.drifted().next().is_some()) {
            let _ = writeln!(
                md,
                "\n> ⚠ Run {side}'s machine changed speed during the run (its calibration drifted beyond the noise \
                 rule): its own cells are not all measured on the same machine."
            );
        }
    }
    if let (Some(ca), Some(cb)) = (&a.calibration, &b.calibration) {
        if ca.start.build != cb.start.build {
            let _ = writeln!(
                md,
                "\n> The calibrations were run by different builds ({} and {}): they are not compared.",
                ca.start.build, cb.start.build
            );
        }
    }
    md.push('\n');
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(7)]
}

/// `2.16 ns/iteration (1.66–3.16)`.
fn samples_text(s: Samples, probe: Probe) -> String {
    format!(
        "{} {} ({}–{})",
        format::significant(s.median),
        probe.unit(),
        format::significant(s.min),
        format::significant(s.max)
    )
}

/// B's speed ÷ A's on the cell's own figure (> 1: B did better): throughput B ÷ A, or wall time A ÷ B.
fn speed(a: &Cell, b: &Cell, metric: Metric) -> Option<f64> {
    let (ra, rb) = (Range::of(a, metric)?, Range::of(b, metric)?);
    let ratio = match metric {
        Metric::Throughput => rb.median / ra.median,
        Metric::Wall => ra.median / rb.median,
    };
    (ratio.is_finite() && ratio > 0.0).then_some(ratio)
}

/// B's range moved back to A's machine: divided by the shift `speed` (B's speed ÷ A's).
fn unshifted(range: Range, metric: Metric, speed: f64) -> Range {
    let f = match metric {
        Metric::Throughput => 1.0 / speed,
        Metric::Wall => speed,
    };
    Range { median: range.median * f, min: range.min * f, max: range.max * f }
}

fn median(values: &[f64]) -> Option<f64> {
    harness::stats::median(values)
}

/// The cells both runs measured with figures, matched by id.
fn pairs<'r>(a: &'r Run, b: &'r Run) -> Vec<(&'r Cell, &'r Cell)> {
    a.cells
        .iter()
        .filter_map(|ca| Some((ca, b.cells.iter().find(|c| c.id == ca.id)?)))
        .filter(|(ca, cb)| ca.is_ok() && cb.is_ok())
        .collect()
}

/// Each workload's shift: the median over its cells of B's speed ÷ A's.
/// Keyed by the workload's word, so that the table lists workloads alphabetically.
pub fn shifts(a: &Run, b: &Run) -> BTreeMap<&'static str, f64> {
    let mut speeds: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    for (ca, cb) in pairs(a, b) {
        if let Some(s) = speed(ca, cb, Metric::for_workload(ca.workload)) {
            speeds.entry(ca.workload.as_str()).or_default().push(s);
        }
    }
    speeds.into_iter().filter_map(|(w, s)| Some((w, median(&s)?))).collect()
}

/// The noise rule on a cell once its workload's shift is taken out of B.
fn judge_beyond_shift(ca: &Cell, cb: &Cell, shift: f64) -> Option<Verdict> {
    let metric = Metric::for_workload(ca.workload);
    Some(noise::judge_ranges(Range::of(ca, metric)?, unshifted(Range::of(cb, metric)?, metric, shift), metric))
}

/// What moved with the machine: per workload, the shift, beside the calibration's ratios, and the cells that
/// moved differently. Returns how many cells differ beyond their workload's shift.
fn machine_shift(md: &mut String, a: &Run, b: &Run) -> usize {
    let shifts = shifts(a, b);
    let probes = calibrations(a, b);
    let probe = |p: Probe| probes.and_then(|(ca, cb)| probe_ratio(ca, cb, p)).map(|(r, _)| r);
    let (cpu, echo) = (probe(Probe::Cpu), probe(Probe::Echo));
    let _ = writeln!(md, "## What moved with the machine\n");
    let _ = writeln!(
        md,
        "Speed is B ÷ A on each cell's figure (throughput B ÷ A, or wall time A ÷ B): above 1, B did better. A \
         workload's shift is the median over its cells; a cell differs *beyond the shift* when the noise rule still \
         tells it from A once B's figures are divided by its workload's shift. \"÷ cpu probe\" and \"÷ echo probe\" \
         divide the shift by the calibration's own speed ratio: near 1, the calibration accounts for the shift.\n"
    );
    let mut table = Table::new(&[
        "workload",
        "cells",
        "shift (median speed B ÷ A)",
        "range",
        "÷ cpu probe",
        "÷ echo probe",
        "differ beyond the shift",
    ])
    .align_right(1..7);
    let mut all_speeds = Vec::new();
    let mut beyond = 0;
    for (workload, &shift) in &shifts {
        let cells: Vec<(&Cell, &Cell)> =
            pairs(a, b).into_iter().filter(|(ca, _)| ca.workload.as_str() == *workload).collect();
        let Some((first, _)) = cells.first() else { continue };
        let metric = Metric::for_workload(first.workload);
        let speeds: Vec<f64> = cells.iter().filter_map(|(ca, cb)| speed(ca, cb, metric)).collect();
        let differ =
            cells.iter().filter(|(ca, cb)| judge_beyond_shift(ca, cb, shift).is_some_and(|v| !v.is_tie())).count();
        beyond += differ;
        let lo = speeds.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = speeds.iter().cloned().fold(0.0, f64::max);
        let over = |r: Option<f64>| r.map_or("—".to_string(), |r| format!("{:.2}", shift / r));
        table.row(row![
            workload,
            speeds.len(),
            format::factor(shift),
            format!("{:.2}–{:.2}", lo, hi),
            over(cpu),
            over(echo),
            differ
        ]);
        all_speeds.extend(speeds);
    }
    table.write(md);
    let overall = median(&all_speeds).unwrap_or(1.0);
    let same_way = all_speeds.iter().all(|&s| s > 1.0) || all_speeds.iter().all(|&s| s < 1.0);
    let per_workload: Vec<String> = shifts.iter().map(|(w, s)| format!("{w} {}", format::factor(*s))).collect();
    let _ = writeln!(md);
    if all_speeds.is_empty() {
        let _ = writeln!(md, "No cell was measured in both runs.\n");
    } else if beyond == 0 {
        let moved = if same_way { "Every cell moved the same way" } else { "Every cell moved with its workload" };
        let _ = writeln!(
            md,
            "**{moved}, by a median {} ({}; {}): the machine.** No cell differs once its workload's shift is \
             taken out.\n",
            format::factor(overall),
            if overall >= 1.0 { "B faster" } else { "B slower" },
            per_workload.join(", ")
        );
    } else {
        let _ = writeln!(
            md,
            "The cells moved by a median {} ({}): the machine's shift. **{beyond} of {} cells differ beyond their \
             workload's shift** (their verdict in the table below); the rest moved with the machine.\n",
            format::factor(overall),
            per_workload.join(", "),
            all_speeds.len()
        );
    }
    beyond
}

/// Each measured cell's speed relative to its point's reference in the same run — the control server, or the
/// run's fastest server at that point (same client, workload, concurrency and size) — as a range of the noise
/// rule (higher is faster, the reference is 1), keyed by cell id.
fn relative_to_reference(run: &Run, control: Option<&str>) -> BTreeMap<String, Range> {
    let mut points: BTreeMap<&str, Vec<&Cell>> = BTreeMap::new();
    for cell in run.cells.iter().filter(|c| c.is_ok()) {
        if let Some((_, point)) = cell.id.split_once('/') {
            points.entry(point).or_default().push(cell);
        }
    }
    let mut ratios = BTreeMap::new();
    for cells in points.values() {
        let metric = Metric::for_workload(cells[0].workload);
        // In speed terms: throughput, or 1 ÷ wall time.
        let speed_range = |c: &Cell| {
            let r = Range::of(c, metric)?;
            Some(match metric {
                Metric::Throughput => r,
                Metric::Wall => Range { median: 1.0 / r.median, min: 1.0 / r.max, max: 1.0 / r.min },
            })
        };
        let reference = match control {
            Some(name) => cells.iter().find(|c| c.server == name).and_then(|c| speed_range(c)),
            None => cells.iter().filter_map(|c| speed_range(c)).max_by(|x, y| x.median.total_cmp(&y.median)),
        };
        let Some(reference) = reference.filter(|r| r.median > 0.0) else { continue };
        for cell in cells {
            if let Some(r) = speed_range(cell) {
                let m = reference.median;
                ratios.insert(cell.id.clone(), Range { median: r.median / m, min: r.min / m, max: r.max / m });
            }
        }
    }
    ratios
}

/// One server's ratios to the reference over the points of a workload: in A, in B, and how many points differ.
type Standing = (Vec<f64>, Vec<f64>, usize);

/// The servers against each other within each run: what a change of machine leaves alone, unless the machine
/// changed the servers' relative costs.
fn servers_within_runs(md: &mut String, a: &Run, b: &Run, control: Option<&str>) {
    let (ra, rb) = (relative_to_reference(a, control), relative_to_reference(b, control));
    let reference = control.map_or("the run's fastest server at the same point".to_string(), |c| c.to_string());
    let _ = writeln!(md, "## The servers against each other, within each run\n");
    let _ = writeln!(
        md,
        "Each cell's speed ÷ {reference} (same client, workload, concurrency and size), in A and in B; medians over \
         a server's points of a workload. A point *differs* where the noise rule tells the two ratios apart (each \
         ratio's range is the cell's range over the reference's median).\n"
    );
    // (workload, server) → the ratios in A, in B, and the points that differ.
    let mut groups: BTreeMap<(String, String), Standing> = BTreeMap::new();
    let mut moved = Vec::new();
    for cell in &a.cells {
        let (Some(x), Some(y)) = (ra.get(&cell.id), rb.get(&cell.id)) else { continue };
        let group = groups.entry((cell.workload.to_string(), cell.server.clone())).or_default();
        group.0.push(x.median);
        group.1.push(y.median);
        if let Verdict::Differ { .. } = noise::judge_ranges(*x, *y, Metric::Throughput) {
            group.2 += 1;
            moved.push(format!("{} {:.2} → {:.2}", cell.id, x.median, y.median));
        }
    }
    let mut table = Table::new(&["workload", "server", "points", "A (median)", "B (median)", "points that differ"])
        .align_right(2..6);
    for ((workload, server), (xs, ys, differ)) in &groups {
        table.row(row![
            workload,
            server,
            xs.len(),
            median(xs).map_or("—".into(), |m| format!("{m:.2}")),
            median(ys).map_or("—".into(), |m| format!("{m:.2}")),
            differ
        ]);
    }
    table.write(md);
    let _ = writeln!(md);
    if moved.is_empty() {
        let _ = writeln!(md, "No server's standing against {reference} changed beyond the noise rule.\n");
    } else {
        let shown = moved.len().min(12);
        let _ = writeln!(
            md,
            "Where a server's standing changed (A → B; {} points): {}{}.\n",
            moved.len(),
            moved[..shown].join("; "),
            if moved.len() > shown { "; …" } else { "" }
        );
    }
}

/// The comparison as markdown, the servers within each run read against their fastest.
pub fn compare(a: &Run, b: &Run) -> String {
    compare_with(a, b, &Options::default())
}

/// The comparison as markdown: what changed, then (across machines) what moved with the machine and the servers
/// within each run, then every cell.
pub fn compare_with(a: &Run, b: &Run, options: &Options) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Comparing {} (A) with {} (B)\n", a.run_id, b.run_id);
    let setting = classify(a, b);
    header(&mut md, a, b, &setting);
    let across = setting.kind == Kind::MachineChange;
    let shifts = shifts(a, b);
    let mut beyond = 0;
    if across {
        beyond = machine_shift(&mut md, a, b);
        servers_within_runs(&mut md, a, b, options.control.as_deref());
        let _ = writeln!(md, "## Every cell\n");
    } else if options.control.is_some() {
        servers_within_runs(&mut md, a, b, options.control.as_deref());
    }
    let _ = writeln!(
        md,
        "Ratios are B ÷ A. Each cell is judged by its workload's figure (wall time for io and blocking, throughput \
         otherwise): {}.{}\n",
        crate::export::prose::noise_rule(),
        if across {
            " Across machines the verdict is given once B's figures are divided by the shift of the cell's \
             workload: \"tie\" means the cell moved with the machine."
        } else {
            ""
        }
    );
    if a.settings.hello_ms != b.settings.hello_ms {
        let _ = writeln!(
            md,
            "> ⚠ The runs used different D ({} ms vs {} ms): io cells are not comparable.\n",
            a.settings.hello_ms, b.settings.hello_ms
        );
    }
    let mut table = Table::new(&[
        "cell",
        "wall A",
        "wall B",
        "ratio",
        "throughput A",
        "throughput B",
        "ratio",
        "p99 A",
        "p99 B",
        "ratio",
        "verdict",
    ]);
    let mut only_a = Vec::new();
    let mut matched = 0;
    let mut differing = 0;
    // What identical cells would give: the sum over compared cells of the chance that their ranges are disjoint.
    let mut by_chance = 0.0;
    for ca in &a.cells {
        let Some(cb) = b.cells.iter().find(|c| c.id == ca.id) else {
            only_a.push(ca.id.clone());
            continue;
        };
        matched += 1;
        if !ca.is_ok() || !cb.is_ok() {
            table.row(row![
                format!("`{}`", ca.id),
                ca.status,
                cb.status,
                "—",
                "",
                "",
                "",
                "",
                "",
                "",
                "not comparable"
            ]);
            continue;
        }
        let wall = ratio(ca.wall_s, cb.wall_s);
        let rate = ratio(ca.throughput_rps, cb.throughput_rps);
        let p99 = ratio(ca.latency_us.map(|l| l.p99), cb.latency_us.map(|l| l.p99));
        let judged = if across {
            let shift = shifts.get(ca.workload.as_str()).copied().unwrap_or(1.0);
            judge_beyond_shift(ca, cb, shift)
        } else {
            noise::judge(ca, cb, Metric::for_workload(ca.workload))
        };
        // A cell the rule cannot judge (a figure missing) counts as differing, as a tie does not.
        if !judged.is_some_and(|v| v.is_tie()) {
            differing += 1;
        }
        let verdict = match judged {
            None => "—".to_string(),
            Some(Verdict::Tie) => "tie".to_string(),
            Some(v) if across => format!("{} beyond the shift", verdict_text(v)),
            Some(v) => verdict_text(v),
        };
        by_chance += match (ca.spread, cb.spread) {
            (Some(sa), Some(sb)) if sa.repeats > 1 && sb.repeats > 1 => noise::chance_disjoint(sa.repeats, sb.repeats),
            _ => 0.0,
        };
        let show_ratio = |r: Option<f64>| r.map_or("—".to_string(), |r| format!("{r:.2}"));
        table.row(row![
            format!("`{}`", ca.id),
            ca.wall_s.map_or("—".into(), format::seconds),
            cb.wall_s.map_or("—".into(), format::seconds),
            show_ratio(wall),
            ca.throughput_rps.map_or("—".into(), format::rate),
            cb.throughput_rps.map_or("—".into(), format::rate),
            show_ratio(rate),
            ca.latency_us.map_or("—".into(), |l| format::micros(l.p99)),
            cb.latency_us.map_or("—".into(), |l| format::micros(l.p99)),
            show_ratio(p99),
            verdict
        ]);
    }
    table.write(&mut md);
    let only_b: Vec<&str> =
        b.cells.iter().filter(|c| !a.cells.iter().any(|x| x.id == c.id)).map(|c| c.id.as_str()).collect();
    if across {
        let _ = writeln!(
            md,
            "\n{matched} cells in both runs; {beyond} of them differ beyond their workload's shift, the others \
             moved with the machine."
        );
    } else {
        let _ = writeln!(
            md,
            "\n{matched} cells in both runs; {differing} of them differ by the noise rule, the others tie."
        );
    }
    if by_chance > 0.0 && !across {
        let _ = writeln!(
            md,
            "Had nothing changed, chance alone would make about {by_chance:.1} of these cells' ranges disjoint \
             (ranges of R and R′ repetitions from one distribution are disjoint with probability 2 ÷ C(R + R′, R)); \
             the {:.0} % effect size then removes some of those.",
            noise::MIN_EFFECT * 100.0
        );
    }
    for (side, only) in [("A", only_a.iter().map(String::as_str).collect::<Vec<&str>>()), ("B", only_b)] {
        match only.len() {
            0 => {}
            n @ 1..=12 => {
                let _ = writeln!(md, "Only in {side} ({n}): {}.", only.join(", "));
            }
            n => {
                let _ = writeln!(md, "Only in {side} ({n} cells), among them: {}, …", only[..12].join(", "));
            }
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_read_from_b() {
        assert_eq!(verdict_text(Verdict::Tie), "tie");
        assert_eq!(verdict_text(Verdict::Differ { better: Side::B, factor: 1.5 }), "B 1.50× better");
        assert_eq!(verdict_text(Verdict::Differ { better: Side::A, factor: 2.0 }), "B 2.0× worse");
    }

    use crate::records::header::CodeTrees;
    use crate::records::header::{Calibration, Measures};
    use crate::run::synthetic_cell;

    const SERVERS: [&str; 3] = ["thread-server", "smol-server", "tokio-server"];
    const WORKLOADS: [&str; 3] = ["cpu", "db", "io"];

    fn trees() -> CodeTrees {
        CodeTrees { servers: "a".repeat(40), clients: "b".repeat(40), harness: "c".repeat(40) }
    }

    /// One probe's samples around `median` (±2 %, 5 repetitions).
    fn samples(median: f64) -> Option<Samples> {
        Some(Samples { median, min: median * 0.98, max: median * 1.02, repeats: 5 })
    }

    fn calibration(cpu_ns: f64, end_cpu_ns: f64) -> Calibration {
        let measures = |cpu: f64| Measures {
            build: "release".into(),
            cpu_ns: samples(cpu),
            memory_ns: samples(90.0),
            echo_us: samples(20.0),
            ..Measures::default()
        };
        Calibration { start: measures(cpu_ns), ..Calibration::default() }.finished(measures(end_cpu_ns))
    }

    /// A run on `cpu_model` whose cells take `base ÷ speed` seconds (each server and workload its own base), with
    /// the repetitions' range ±3 %.
    fn run(id: &str, cpu_model: &str, speed: f64) -> Run {
        let mut run = Run::default();
        run.header.run_id = id.into();
        run.header.build = crate::records::header::Build::Release;
        let e = &mut run.header.environment;
        (e.cpu_model, e.cpu_count, e.kernel, e.rustc) = (cpu_model.into(), 2, "6.18".into(), "rustc 1.95".into());
        e.git_commit = "1234567".into();
        e.trees = Some(trees());
        run.header.calibration = Some(calibration(2.0 / speed, 2.0 / speed));
        for (i, server) in SERVERS.iter().enumerate() {
            for (j, workload) in WORKLOADS.iter().enumerate() {
                let base = (1.0 + i as f64 * 0.3) * (1.0 + j as f64) / speed;
                run.cells.push(synthetic_cell(server, workload, base, base * 0.97, base * 1.03, 4));
            }
        }
        run
    }

    /// The verdict column of the cell table.
    fn verdicts(md: &str) -> Vec<String> {
        md.lines()
            .filter(|l| l.starts_with("| `"))
            .map(|l| l.trim_end_matches('|').rsplit('|').next().unwrap().trim().to_string())
            .collect()
    }

    #[test]
    fn a_uniform_shift_on_another_cpu_is_the_machine_and_no_cell_is_better() {
        let (a, b) = (run("A", "Intel(R) Xeon(R) Processor", 1.0), run("B", "AMD EPYC", 1.4));
        let setting = classify(&a, &b);
        assert_eq!(setting.kind, Kind::MachineChange, "{setting:?}");
        assert!(setting.machine_changes.iter().any(|c| c.contains("AMD EPYC")), "{setting:?}");
        // The calibration saw the same 1.4× on the cpu probe (2.0 ns against 1.43 ns).
        assert!(setting.machine_changes.iter().any(|c| c.contains("cpu probe 1.40× faster")), "{setting:?}");
        assert_eq!(setting.code, Code::Same);

        let md = compare(&a, &b);
        let shifted = verdicts(&md);
        assert_eq!(shifted.len(), SERVERS.len() * WORKLOADS.len(), "{md}");
        assert!(shifted.iter().all(|v| v == "tie"), "{shifted:?}\n{md}");
        assert!(md.contains("Every cell moved the same way, by a median 1.40× (B faster"), "{md}");
        assert!(md.contains("the machine"), "{md}");
        assert!(md.contains("0 of them differ beyond their workload's shift"), "{md}");
        // Every server kept its standing against the fastest.
        assert!(md.contains("No server's standing against the run's fastest server"), "{md}");

        // The control: the same cells on the same CPU model are read as they are, and every one is "better" —
        // which is what the machine's shift must not produce.
        let b_same_cpu = run("B", "Intel(R) Xeon(R) Processor", 1.4);
        let mut b_same_cpu_uncalibrated = b_same_cpu.clone();
        b_same_cpu_uncalibrated.header.calibration = None;
        assert_eq!(classify(&a, &b_same_cpu_uncalibrated).kind, Kind::NoiseCheck);
        let raw = verdicts(&compare(&a, &b_same_cpu_uncalibrated));
        assert!(raw.iter().all(|v| v.starts_with("B 1.40× better")), "{raw:?}");
        // With both calibrations, the same CPU model running 1.4× faster is not the same machine.
        assert_eq!(classify(&a, &b_same_cpu).kind, Kind::MachineChange);
    }

    #[test]
    fn a_cell_that_moved_against_the_machine_is_named_beyond_the_shift() {
        let (a, mut b) = (run("A", "Intel", 1.0), run("B", "AMD", 1.4));
        // smol-server's db cell got twice as slow on B's machine while everything else went 1.4× faster.
        let cell = b
            .cells
            .iter_mut()
            .find(|c| c.server == "smol-server" && c.workload == crate::records::run::Workload::Db)
            .unwrap();
        let base = 1.3 * 2.0 * 2.0;
        *cell = synthetic_cell("smol-server", "db", base, base * 0.97, base * 1.03, 4);
        let md = compare(&a, &b);
        let flagged: Vec<String> = verdicts(&md).into_iter().filter(|v| v != "tie").collect();
        assert_eq!(flagged.len(), 1, "{md}");
        assert!(flagged[0].contains("worse beyond the shift"), "{flagged:?}");
        assert!(md.contains("1 of 9 cells differ beyond their"), "{md}");
        // Within B, smol-server's db cell fell from 1 ÷ 1.3 of the fastest (thread-server's 2.0 s in A) to
        // (2.0 ÷ 1.4) ÷ 5.2 of it.
        let expected = format!("smol-server/async-client/db/c10/n10 {:.2} → {:.2}", 1.0 / 1.3, (2.0 / 1.4) / base);
        assert!(md.contains(&expected), "{expected}\n{md}");
    }

    #[test]
    fn same_machine_same_trees_is_a_noise_check_and_a_changed_tree_a_code_comparison() {
        let (a, b) = (run("A", "Intel", 1.0), run("B", "Intel", 1.0));
        assert_eq!(classify(&a, &b).kind, Kind::NoiseCheck);
        assert!(compare(&a, &b).contains("same machine, same code: a noise check"));

        let mut changed = b.clone();
        changed.header.environment.trees = Some(CodeTrees { servers: "d".repeat(40), ..trees() });
        changed.header.environment.git_commit = "89abcde".into();
        let setting = classify(&a, &changed);
        assert_eq!((setting.kind, setting.code), (Kind::CodeComparison, Code::Differs(vec!["servers"])));

        // A commit that changed only the docs: the trees are the same, so is the code.
        let mut docs_only = b.clone();
        docs_only.header.environment.git_commit = "89abcde".into();
        assert_eq!(classify(&a, &docs_only).kind, Kind::NoiseCheck);

        // Uncommitted changes: nobody can say — unless it is one run compared with itself.
        let mut dirty = b.clone();
        dirty.header.environment.git_dirty = true;
        assert!(matches!(classify(&a, &dirty).code, Code::Unknown(_)));
        assert_eq!(classify(&a, &dirty).kind, Kind::CodeComparison);
        assert_eq!(classify(&dirty, &dirty).kind, Kind::NoiseCheck);

        // Runs from before trees were recorded: the same commit is the same code, another commit is unknown.
        let (mut old_a, mut old_b) = (a.clone(), b.clone());
        old_a.header.environment.trees = None;
        old_b.header.environment.trees = None;
        assert_eq!(classify(&old_a, &old_b).code, Code::Same);
        old_b.header.environment.git_commit = "89abcde".into();
        assert!(matches!(classify(&old_a, &old_b).code, Code::Unknown(_)));

        // Another kernel is another machine.
        let mut kernel = b.clone();
        kernel.header.environment.kernel = "6.19".into();
        assert_eq!(classify(&a, &kernel).kind, Kind::MachineChange);
    }

    #[test]
    fn a_run_whose_calibration_drifted_is_flagged_in_the_comparison() {
        let (a, mut b) = (run("A", "Intel", 1.0), run("B", "Intel", 1.0));
        // B's cpu probe: 2.0 ns at the start, 2.5 ns at the end — ranges ±2 %, 25 % apart.
        b.header.calibration = Some(calibration(2.0, 2.5));
        let md = compare(&a, &b);
        assert!(md.contains("Run B's machine changed speed during the run"), "{md}");
        assert!(md.contains("**cpu 1.25×**"), "{md}");
        assert!(!md.contains("Run A's machine changed speed"), "{md}");
    }

    #[test]
    fn a_control_server_is_the_reference_within_each_run() {
        let (a, b) = (run("A", "Intel", 1.0), run("B", "AMD", 1.4));
        let md = compare_with(&a, &b, &Options { control: Some("tokio-server".into()) });
        // thread-server is 1.6 ÷ 1.0 as fast as tokio-server in both runs (bases 1.0 and 1.6).
        let row = md.lines().find(|l| l.starts_with("| cpu | thread-server |")).unwrap_or_else(|| panic!("{md}"));
        assert!(row.contains("| 1.60 | 1.60 | 0 |"), "{row}");
        assert!(md.contains("÷ tokio-server"), "{md}");
    }
}
