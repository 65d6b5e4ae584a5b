//! The words of a matrix run, written once for every writer: the verdict's claims and the clauses they are
//! made of (tiers, which model does best), the headline table ([`headline`]), the model-miss line and table,
//! the fits, and the sentences of "What the numbers show" ([`narrative`]). The markdown page, the HTML page and
//! the README's figures blocks all format [`Findings`] through these, so each sentence is written here only. The
//! warnings every page of every document opens with are here too ([`warnings`]).

pub mod headline;
pub mod narrative;

use super::table::Table;
use crate::findings::headline::{FarSource, Memory, Row};
use crate::findings::{Claim, Findings, Group, Headline, Metric, Ranking, Topic, FIT_R2_MIN, MISS_BAND};
use crate::findings::{MIN_EFFECT, SINGLE_RUN_NOISE};
use crate::format;
use crate::records::header::{Build, Calibration, RunHeader};
use crate::records::run::{CheckOutcome, Client, ClientKind, Engine, Run, VerifyRecord};
use crate::row;
use harness::calibrate::{Probe, Samples};

/// The verdict's claims as markdown, each with its evidence link (`#io`, a companion's page).
pub fn claims(run: &Run, f: &Findings) -> Vec<(String, &'static str)> {
    let Some(h) = &f.headline else { return vec![] };
    f.claims.iter().filter_map(|c| claim(run, h, c)).collect()
}

/// One claim in words and the section its evidence is in.
fn claim(run: &Run, h: &Headline, c: &Claim) -> Option<(String, &'static str)> {
    let ranked = |r: &Ranking| format!("{}; {}", ranking_text(r), model_verdict(r));
    Some(match (c.topic, &c.ranking) {
        (Topic::Waiting, Some(r)) => {
            let d = format::seconds(run.settings.hello_ms as f64 / 1000.0);
            let mut text = format!("**Waiting** (`io`, {} requests at once, D = {d}): {}", h.level, ranked(r));
            if let Some(scale) = at_scale(h) {
                text.push_str(&format!(". {scale}"));
            }
            text.push('.');
            (text, "#io")
        }
        (Topic::CpuWork, Some(r)) => (
            format!("**CPU work** (`cpu`, {}! per request, {} at once): {}.", run.settings.fact_n, h.level, ranked(r)),
            "#cpu",
        ),
        (Topic::BlockingCall, Some(r)) => (
            format!(
                "**A blocking call in the handler** (`/block` sleeps {}, {} at once): {} — the model predicts ⌈{} ÷ \
                 T⌉ × the sleep, T the threads that can sleep at once.",
                format::seconds(h.block_s),
                h.blocking_level,
                ranking_text(r),
                h.blocking_level
            ),
            "#blocking",
        ),
        (Topic::Memory, _) => (memory_claim(h)?, "#cost-per-in-flight-connection-io"),
        _ => return None,
    })
}

/// `**Model misses: 2 of 40 predictions** (…): [listed here](#model-misses).`, the verdict's last line; `here`
/// names where the list is on the page.
pub fn misses_line(f: &Findings, here: &str) -> String {
    let p = &f.predictions;
    format!(
        "**Model misses: {} of {} predictions** (measured ÷ expected outside {}–{} over the whole repetition \
         range){}",
        p.misses.len(),
        p.checked,
        MISS_BAND.0,
        MISS_BAND.1,
        if p.misses.is_empty() { ".".to_string() } else { format!(": [listed {here}](#model-misses).") }
    )
}

/// The model-miss section's first paragraph: none, or how many missed and then `how` (what the page says of
/// them).
pub fn misses_intro(f: &Findings, how: &str) -> String {
    let p = &f.predictions;
    let (lo, hi) = MISS_BAND;
    if p.misses.is_empty() {
        return format!("None: all {} predictions were within {lo}–{hi} of their measurement.", p.checked);
    }
    format!(
        "{} of {} predictions missed: measured ÷ expected lies outside {lo}–{hi} over the cell's whole repetition \
         range. {how}",
        p.misses.len(),
        p.checked
    )
}

/// The note under the headline table: the noise rule every tier above rests on (`also`: where else it is used).
pub fn noise_note(also: &str) -> String {
    format!(
        "Noise rule (every \"<\", \">\" and tie above{also}): {}. A model does best only where every one of its \
         servers beats every server of the other models.",
        noise_rule()
    )
}

/// The model misses as a table: the cell, both numbers (a throughput bound as "≤"), their ratio, saturation.
pub fn misses_table(f: &Findings) -> Table {
    let mut table = Table::new(&["cell", "expected", "measured (range)", "measured ÷ expected", "saturated"]);
    for m in &f.predictions.misses {
        let show = |x: f64| show(m.metric, x);
        table.row(row![
            format!("{} × {} `{}` c={}", m.server, m.client, m.workload, m.concurrency),
            match m.metric {
                Metric::Wall => show(m.expected),
                Metric::Throughput => format!("≤ {}", show(m.expected)),
            },
            format!("{} ({})", show(m.measured), span(&[m.range.0, m.range.1], show)),
            format!("{:.2}", m.measured / m.expected),
            m.saturation.map_or("—".to_string(), |s| s.to_string())
        ]);
    }
    table
}

/// `16.4 KiB (r² 0.99, 3 points)` or `unclear (r² 0.32, 3 points)`: a memory fit as the tables show it.
pub fn fit_text(kib: f64, r2: f64, points: usize) -> String {
    if r2 < FIT_R2_MIN {
        format!("unclear (r² {r2:.2}, {points} points)")
    } else {
        let digits = if kib.abs() < 1.0 { 2 } else { 1 };
        format!("{kib:.digits$} KiB (r² {r2:.2}, {points} points)")
    }
}

/// A figure as a ranking shows it.
fn show(metric: Metric, x: f64) -> String {
    match metric {
        Metric::Wall => format::seconds(x),
        Metric::Throughput => format::rate(x),
    }
}

/// `a, b 1.00–1.02 s > c 7.00 s (predicted 7.00 s)`: the tiers best first, each with its servers and span; a
/// server whose prediction differs from the best tier's is shown with it, so that a bound the model expected is
/// read as expected.
pub fn ranking_text(r: &Ranking) -> String {
    let top_expected = r.tiers.first().and_then(|t| t.first()).and_then(|s| s.expected_s);
    r.tiers
        .iter()
        .map(|tier| {
            let names: Vec<&str> = tier.iter().map(|s| s.server.as_str()).collect();
            let medians: Vec<f64> = tier.iter().map(|s| s.median).collect();
            let mut text = format!("{} {}", names.join(", "), span(&medians, |x| show(r.metric, x)));
            let predicted: Vec<f64> = tier
                .iter()
                .filter_map(|s| s.expected_s)
                .filter(|e| top_expected.is_some_and(|t| (e / t - 1.0).abs() > 0.05))
                .collect();
            if r.metric == Metric::Wall && !predicted.is_empty() {
                text.push_str(&format!(" (predicted {})", span(&predicted, format::seconds)));
            }
            text
        })
        .collect::<Vec<_>>()
        .join(" > ")
}

/// What the ranking says about the models, in one clause.
pub fn model_verdict(r: &Ranking) -> String {
    if let Some(g) = r.winner {
        return format!("{} does best: every {} server beats every other server", g.name(), g.name());
    }
    let top = r.top_groups();
    let spreads: Vec<String> =
        r.spreads.iter().map(|(g, f)| format!("{} {} apart inside", g.name(), format::factor(*f))).collect();
    let mut text = if top.len() > 1 {
        format!("no model wins: {} share the best tier", names(&top))
    } else {
        "no model wins outright: its servers do not all beat the other models'".to_string()
    };
    if !spreads.is_empty() {
        text.push_str(&format!(" ({})", spreads.join("; ")));
    }
    text
}

/// `At 19,000 connections at once: async 1.44–1.62 s; thread-per-request 15.3 s and 3,958 failed`, from a
/// bench companion's reach part.
fn at_scale(h: &Headline) -> Option<String> {
    let Some((level, FarSource::Bench { source, .. })) = &h.far_level else { return None };
    let per: Vec<String> = group_order(h)
        .into_iter()
        .filter_map(|g| {
            let rows: Vec<&Row> = h.rows.iter().filter(|r| r.group == g && r.io_far.is_some()).collect();
            let walls: Vec<f64> = rows.iter().filter_map(|r| r.io_far.as_ref().map(|x| x.0)).collect();
            let failed: u64 = rows.iter().filter_map(|r| r.io_far.as_ref().map(|x| x.1)).sum();
            (!walls.is_empty()).then(|| {
                let mut s = format!("{} {}", g.name(), span(&walls, format::seconds));
                if failed > 0 {
                    s.push_str(&format!(" and {} failed", format::thousands(failed)));
                }
                s
            })
        })
        .collect();
    (!per.is_empty()).then(|| {
        format!(
            "At {} connections at once ([bench]({})): {}",
            format::thousands(*level),
            source.replace(".json", ".md"),
            per.join("; ")
        )
    })
}

/// The headline's groups in table order.
fn group_order(h: &Headline) -> Vec<Group> {
    let mut g: Vec<Group> = h.rows.iter().map(|r| r.group).collect();
    g.dedup();
    g
}

/// Memory and threads per waiting connection, per model, from the headline's fits that are clear (r² ≥
/// [`FIT_R2_MIN`]); the unclear ones named.
fn memory_claim(h: &Headline) -> Option<String> {
    let fits: Vec<(&Row, &Memory)> = h.rows.iter().filter_map(|r| r.memory.as_ref().map(|m| (r, m))).collect();
    if fits.is_empty() {
        return None;
    }
    let mut parts: Vec<String> = group_order(h)
        .into_iter()
        .filter_map(|g| {
            let clear: Vec<&Memory> =
                fits.iter().filter(|(r, m)| r.group == g && m.r2 >= FIT_R2_MIN).map(|(_, m)| *m).collect();
            if clear.is_empty() {
                return None;
            }
            let kib = |m: &Memory| m.rss_kib + m.kernel_kib.unwrap_or(0.0);
            let total: Vec<f64> = clear.iter().map(|m| kib(m)).collect();
            let threads: Vec<f64> = clear.iter().map(|m| m.threads).collect();
            let digits = |k: f64| if k.abs() < 1.0 { format!("{k:.2}") } else { format!("{k:.1}") };
            Some(format!(
                "{} {} KiB and {} threads",
                g.name(),
                span(&total, digits),
                span(&threads, |t| format!("{t:.1}"))
            ))
        })
        .collect();
    let unclear: Vec<String> =
        fits.iter().filter(|(_, m)| m.r2 < FIT_R2_MIN).map(|(r, m)| format!("{} (r² {:.2})", r.server, m.r2)).collect();
    if !unclear.is_empty() {
        parts.push(format!("unclear for {}", unclear.join(", ")));
    }
    let kernel = fits.iter().any(|(_, m)| m.kernel_kib.is_some());
    Some(format!(
        "**Each waiting connection costs** ({}, slope over {}): {}.",
        if kernel { "server RSS + kernel memory" } else { "server RSS" },
        headline::memory_levels(h),
        parts.join("; ")
    ))
}

/// A client as the tables name it: its engine and its threads. The async client's threads are the most OS
/// threads it was seen using in this run (its executor threads and the main thread, `client_cost.peak_threads`).
pub fn client_name(run: &Run, client: Client) -> String {
    let peak = run
        .cells
        .iter()
        .filter(|c| c.client == client)
        .filter_map(|c| c.client_cost.as_ref().and_then(|k| k.peak_threads))
        .max();
    match client.kind {
        ClientKind::BlockingClient => "blocking-client (one request at a time, 1 thread)".to_string(),
        ClientKind::PoolClient => "pool-client (one thread per connection)".to_string(),
        ClientKind::AsyncClient => {
            let engine = client.engine.unwrap_or(Engine::Surf);
            match peak {
                Some(n) => format!("async-client ({engine}, {})", format::count(n, "thread")),
                None => format!("async-client ({engine})"),
            }
        }
    }
}

pub fn names(groups: &[Group]) -> String {
    let n: Vec<&str> = groups.iter().map(|g| g.name()).collect();
    match n.len() {
        0 => String::new(),
        1 => n[0].to_string(),
        _ => format!("{} and {}", n[..n.len() - 1].join(", "), n[n.len() - 1]),
    }
}

/// `1.00–1.02 s`: the lowest and highest of `values`, the unit said once when both ends share it.
pub fn span(values: &[f64], show: impl Fn(f64) -> String) -> String {
    let lo = show(values.iter().copied().fold(f64::MAX, f64::min));
    let hi = show(values.iter().copied().fold(f64::MIN, f64::max));
    if lo == hi {
        return lo;
    }
    match (lo.rsplit_once(' '), hi.rsplit_once(' ')) {
        (Some((l, lu)), Some((_, hu))) if lu == hu => format!("{l}–{hi}"),
        _ => format!("{lo}–{hi}"),
    }
}

/// What every page of a document warns of first, each a paragraph: binaries that are not a release build, a tree
/// with uncommitted changes, an interrupted run (`stopped`: what it left out), a machine that changed speed.
pub fn warnings(h: &RunHeader, stopped: &str) -> Vec<String> {
    let e = &h.environment;
    let build = (h.build != Build::Release).then(|| {
        format!(
            "**⚠ These numbers are from a {} build** (binaries in `{}`), not a release build: they show the shape of \
             the comparison, not its real figures.",
            h.build, h.bin_dir
        )
    });
    let dirty = e.git_dirty.then(|| {
        format!(
            "**⚠ Made from a tree with uncommitted changes** (commit {} plus edits): the commit alone does not \
             reproduce these figures.",
            e.git_commit
        )
    });
    let interrupted = h.interrupted.then(|| format!("**⚠ This run was interrupted**: {stopped}."));
    [build, dirty, interrupted, drift_warning(h.calibration.as_ref())].into_iter().flatten().collect()
}

/// The warning of a run whose machine changed speed between start and end (None otherwise).
fn drift_warning(calibration: Option<&Calibration>) -> Option<String> {
    let drifted: Vec<String> = calibration?
        .drifted()
        .map(|d| {
            let change = if d.factor >= 1.0 {
                format!("{} slower", format::factor(d.factor))
            } else {
                format!("{} faster", format::factor(1.0 / d.factor))
            };
            format!("{} {change} at the end", d.probe)
        })
        .collect();
    (!drifted.is_empty()).then(|| {
        format!(
            "**⚠ The machine changed speed during this run**: its calibration drifted beyond the noise rule \
             ({}): figures from the start and the end of the run are not measured on the same machine.",
            drifted.join(", ")
        )
    })
}

/// `Calibration (start → end): cpu 2.9 → 3.0 ns/iteration · …; no drift beyond the noise rule.`: the line a
/// run's markdown gives its calibration, under the machine.
pub fn calibration_line(calibration: &Calibration) -> String {
    let figure = |s: Option<Samples>| s.map_or("—".to_string(), |s| format::significant(s.median));
    let probes: Vec<String> = Probe::ALL
        .iter()
        .map(|&probe| {
            let start = figure(calibration.start.get(probe));
            match &calibration.end {
                Some(end) => format!("{probe} {start} → {} {}", figure(end.get(probe)), probe.unit()),
                None => format!("{probe} {start} {}", probe.unit()),
            }
        })
        .collect();
    let verdict = match (&calibration.end, calibration.drifted().count()) {
        (None, _) => "the end was not measured",
        (Some(_), 0) => "no drift beyond the noise rule",
        (Some(_), _) => "**drifted beyond the noise rule**",
    };
    let mut details = String::new();
    if let Some(microcode) = &calibration.microcode {
        details.push_str(&format!(" · microcode {microcode}"));
    }
    if let Some(governor) = &calibration.governor {
        details.push_str(&format!(" · governor {governor}"));
    }
    let when = if calibration.end.is_some() { " (start → end)" } else { "" };
    format!("Calibration{when}: {}; {verdict}{details}.", probes.join(" · "))
}

/// The warnings of a record, in one line: what the markdown shows beside the server's name.
pub fn verify_warnings(record: &VerifyRecord) -> Option<String> {
    let warned: Vec<String> = record
        .checks
        .iter()
        .filter(|c| c.outcome == CheckOutcome::Warn)
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect();
    (!warned.is_empty()).then(|| warned.join("; "))
}

/// The noise rule ([`crate::noise`]) in one sentence, for the documents that apply it (the matrix pages, `lab
/// compare`).
pub fn noise_rule() -> String {
    format!(
        "two cells differ only where the ranges (min–max) of their repetitions do not overlap and their medians \
         differ by at least {:.0} %; otherwise they are a *tie* (a cell measured once counts as ±{:.0} % around \
         its figure)",
        MIN_EFFECT * 100.0,
        SINGLE_RUN_NOISE * 100.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::headline::{cell, fixture, row};
    use crate::findings::headline::{headline as headline_of, FarSource, Held};
    use crate::findings::rank;
    use crate::records::run::{Cell, Model, ServerRecord, Status, Workload};
    use crate::run::synthetic_cell;

    fn server(name: &str, model: Model) -> ServerRecord {
        ServerRecord::passed(name, model, None)
    }

    /// A `cpu` cell at c=10 whose throughput is `rps` (four repetitions within ±1 %).
    fn cpu(server: &str, rps: f64) -> Cell {
        let wall = 10.0 / rps;
        synthetic_cell(server, "cpu", wall, wall * 0.99, wall * 1.01, 4)
    }

    fn run_of(servers: Vec<ServerRecord>, cells: Vec<Cell>) -> Run {
        Run { servers, cells, ..Run::default() }
    }

    #[test]
    fn a_model_wins_only_when_every_server_of_it_beats_every_other() {
        // A split verdict: two async servers above the pool, two below it, so no model wins.
        let servers = vec![
            server("pool-server", Model::Pool),
            server("tokio-server", Model::Async),
            server("lean-server", Model::Async),
            server("smol-server", Model::Async),
        ];
        let cells = vec![cpu("pool-server", 4552.0), cpu("tokio-server", 5170.0), cpu("lean-server", 5133.0), {
            cpu("smol-server", 3813.0)
        }];
        let run = run_of(servers.clone(), cells);
        let r = rank(&run, Workload::Cpu, "async-client".parse().unwrap(), 10).unwrap();
        assert_eq!(r.winner, None);
        let order: Vec<Vec<&str>> = r.tiers.iter().map(|t| t.iter().map(|s| s.server.as_str()).collect()).collect();
        assert_eq!(order, vec![vec!["tokio-server", "lean-server"], vec!["pool-server"], vec!["smol-server"]]);
        // The spread inside async is shown: 5,170 ÷ 3,813.
        let (g, f) = r.spreads[0];
        assert_eq!(g, Group::Async);
        assert!((f - 5170.0 / 3813.0).abs() < 0.01, "{f}");
        assert!(model_verdict(&r).starts_with("no model wins outright"), "{}", model_verdict(&r));

        // Every async server above the pool: async does best.
        let cells = vec![cpu("pool-server", 3000.0), cpu("tokio-server", 5170.0), cpu("smol-server", 3813.0)];
        let r = rank(&run_of(servers, cells), Workload::Cpu, "async-client".parse().unwrap(), 10).unwrap();
        assert_eq!(r.winner, Some(Group::Async));
        assert!(ranking_text(&r).starts_with("tokio-server 5,170 req/s > smol-server"), "{}", ranking_text(&r));
    }

    #[test]
    fn fits_below_the_threshold_are_unclear() {
        assert_eq!(fit_text(1.2, 0.32, 3), "unclear (r² 0.32, 3 points)");
        assert_eq!(fit_text(0.35, 0.98, 5), "0.35 KiB (r² 0.98, 5 points)");
        assert_eq!(fit_text(16.44, 0.99, 3), "16.4 KiB (r² 0.99, 3 points)");
    }

    #[test]
    fn the_claims_say_the_tiers_like_for_like() {
        let claim = |run: &Run, topic: Topic| {
            let f = Findings::of(run);
            let c = f.claims.iter().find(|c| c.topic == topic).expect("the claim");
            super::claim(run, f.headline.as_ref().unwrap(), c).expect("its words").0
        };
        let run = fixture();
        let waiting = claim(&run, Topic::Waiting);
        assert!(waiting.contains("smol-server, thread-server, tornado 1.00–1.02 s > pool-server 7.02 s"), "{waiting}");
        assert!(waiting.contains("no model wins: thread-per-request, async and foreign share the best tier"));
        // cpu: smol 4,000 and the pool's 3,846 tie; thread-server 2,000 below both — no model beats all others.
        let cpu = claim(&run, Topic::CpuWork);
        assert!(cpu.contains("smol-server, pool-server 3,846–4,000 req/s > thread-server 2,000 req/s"), "{cpu}");
        assert!(cpu.contains("no model wins: pool and async share the best tier"), "{cpu}");
        let blocking = claim(&run, Topic::BlockingCall);
        assert!(blocking.contains("thread-server 0.201 s > smol-server 2.00 s"), "{blocking}");
        // If thread-server had been slow on io too, it would be in a tier of its own.
        let mut run = fixture();
        let slow = run.cells.iter_mut().find(|c| c.server == "thread-server" && c.concurrency == 100).unwrap();
        *slow = cell("thread-server", "io", 100, 2.0, 1.99, 2.01, None);
        let waiting = claim(&run, Topic::Waiting);
        assert!(waiting.contains("smol-server, tornado 1.00–1.02 s > thread-server 2.00 s > pool-server"), "{waiting}");
    }

    #[test]
    fn companions_fill_reach_and_capacity_with_their_source() {
        use crate::companion::{capacity_run, companion_from_file};
        use crate::records::bench::{BenchRun, Cause, PartStatus, ReachCell};
        use crate::records::header::RunKind;
        let capacity = capacity_run("R1", "abc1234", &[("smol-server", 950.0, 1000.0), ("pool-server", 15.5, 16.0)]);
        let mut bench = BenchRun::default();
        bench.header.written_by = Some(RunKind::Bench);
        bench.header.schema_version = crate::records::bench::BENCH_SCHEMA_VERSION;
        bench.header.run_id = "R2".into();
        bench.header.environment.git_commit = "def5678".into();
        bench.reach.head.status = PartStatus::Ok;
        bench.reach.head.client = "async-client:lean".into();
        let reach = |server: &str, connections: u64, wall_s: f64, failed: u64, stopped: Option<Cause>| ReachCell {
            server: server.into(),
            connections,
            wall_s: Some(wall_s),
            failed,
            status: Status::Ok,
            stopped,
            ..ReachCell::default()
        };
        bench.reach.cells = vec![
            reach("smol-server", 1000, 1.05, 0, None),
            reach("smol-server", 10_000, 1.3, 0, None),
            reach("thread-server", 10_000, 5.4, 2, Some(Cause::FdLimit { limit: 20_000 })),
        ];
        let dir = tempfile::tempdir().unwrap();
        let mut run = fixture();
        run.companions = vec![
            companion_from_file(dir.path(), "capacity-R1.json", &capacity).unwrap(),
            companion_from_file(dir.path(), "bench-R2.json", &bench).unwrap(),
        ];
        let h = headline_of(&run).unwrap();
        assert!(matches!(&h.far_level, Some((10_000, FarSource::Bench { source, .. })) if source == "bench-R2.json"));
        assert_eq!(row(&h, "smol-server").io_far, Some((1.3, 0, None)));
        assert_eq!(row(&h, "thread-server").io_far, Some((5.4, 2, Some("fd-limit".to_string()))));
        assert_eq!(
            row(&h, "smol-server").capacity,
            vec![(Workload::Io, Some(Held { rps: 950.0, first_failed: Some(1_000.0), client_bound: false }))]
        );
        let md = headline::table(&run, &h);
        // Neither companion records its code trees: the table says it cannot vouch for them.
        assert!(md.contains("`bench-R2.json` (lab bench reach, commit def5678, ⚠ not shown"), "{md}");
        assert!(md.contains("`capacity-R1.json` (lab capacity, commit abc1234, ⚠ not shown"), "{md}");
        assert!(md.contains("| capacity io |"), "{md}");
        assert!(md.contains("| 5.40 s · stopped by fd-limit · ⚠ 2 failed |"), "{md}");
        // The figures survive the run's JSON: a report made from the JSON alone shows them.
        let back: Run = serde_json::from_str(&serde_json::to_string(&run).unwrap()).unwrap();
        assert_eq!(headline_of(&back).as_ref(), Some(&h));
        let mut at_max = run.clone();
        at_max.companions[0].capacity[0].first_failed_rps = None;
        assert!(headline::table(&at_max, &headline_of(&at_max).unwrap()).contains("| ≥ 950 req/s |"));
    }

    #[test]
    fn clients_are_named_with_engine_and_threads() {
        let mut run = fixture();
        run.cells[0].client_cost =
            Some(crate::records::run::ClientCost { peak_threads: Some(2), ..Default::default() });
        assert_eq!(client_name(&run, "async-client".parse().unwrap()), "async-client (surf, 2 threads)");
        assert_eq!(client_name(&run, "async-client:lean".parse().unwrap()), "async-client (lean)");
        assert!(client_name(&run, "blocking-client".parse().unwrap()).contains("1 thread"));
    }

    #[test]
    fn a_calibration_that_drifted_is_said_and_a_calm_one_is_not() {
        use harness::calibrate::Measures;
        let cpu = |median: f64, min: f64, max: f64| Measures {
            cpu_ns: Some(Samples { median, min, max, repeats: 5 }),
            ..Measures::default()
        };
        let start = Calibration { start: cpu(10.0, 9.8, 10.2), ..Calibration::default() };
        // 20 % slower at the end, ranges disjoint: the machine slowed down.
        let warning = drift_warning(Some(&start.finished(cpu(12.0, 11.9, 12.3)))).expect("flagged");
        assert!(warning.contains("changed speed") && warning.contains("cpu 1.20× slower at the end"), "{warning}");
        assert_eq!(drift_warning(Some(&start.finished(cpu(10.3, 10.25, 10.4)))), None);
        assert_eq!(drift_warning(None), None);
        let line = calibration_line(&start.finished(cpu(10.3, 10.25, 10.4)));
        assert!(
            line.starts_with("Calibration (start → end): cpu 10.0 → 10.3 ns/iteration") && line.contains("no drift"),
            "{line}"
        );
    }
}
