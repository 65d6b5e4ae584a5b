//! Findings: what a run shows, computed once from its cells, before any writer formats it.
//!
//! - **Model misses.** Every prediction is held against its measurement. A cell whose measured ÷ expected lies
//!   outside [`MISS_BAND`] over its whole repetition range is a miss: it is listed with both numbers and counted,
//!   and nothing here gives it a cause the lab did not measure.
//! - **Like for like.** A concurrency model "does best" at a point only when *every* one of its servers beats
//!   *every* server of each other model by the noise rule ([`crate::noise`]); otherwise the finding names the
//!   servers in order and shows the spread inside each model. A model is never scored by its best server.
//! - **The verdict.** At most five lines, each one measured claim with a link to its evidence, read from the
//!   headline's figures ([`crate::headline::headline`]) and the rankings above: four claims and the count of
//!   model misses.
//!
//! Writers (the matrix markdown, the README lines) only format a [`Findings`].

pub use crate::analysis::{fit_text, FIT_R2_MIN};
use crate::format;
use crate::headline::{self, Group, Headline};
use crate::noise::{self, Metric, Range, Side, Verdict};
use crate::records::run::{Cell, Client, Run, Saturation, Workload};

/// measured ÷ expected outside this band, over the cell's whole repetition range, is a model miss. The band is
/// symmetric on a log scale (÷ 1.25 to × 1.25): a quarter off is more than the model's known simplifications
/// (the io prediction ignores a request's milliseconds of handling against D; a throughput bound is read from
/// the c = 1 cell), and less than the differences the lab's verdicts rest on (the pool's 7×, a blocked
/// executor's 10×). A prediction outside it would mislead a reader who trusted the model.
pub const MISS_BAND: (f64, f64) = (0.8, 1.25);

/// One prediction that the measurement did not bear out.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelMiss {
    pub cell: String,
    pub server: String,
    pub client: Client,
    pub workload: Workload,
    pub concurrency: u64,
    /// What the comparison is in: seconds for a count of requests, req/s for a duration.
    pub metric: Metric,
    pub expected: f64,
    /// The median repetition's figure and the repetitions' range.
    pub measured: f64,
    pub range: (f64, f64),
    /// measured time ÷ expected time (> 1: slower than the model; < 1: faster than its bound allows).
    pub time_ratio: f64,
    pub saturation: Option<Saturation>,
}

/// Every prediction of the run, and the ones it missed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Predictions {
    pub checked: usize,
    pub misses: Vec<ModelMiss>,
}

/// Holds each measured cell that carries a prediction against [`MISS_BAND`].
pub fn model_misses(run: &Run) -> Predictions {
    let mut out = Predictions::default();
    for cell in run.cells.iter().filter(|c| c.is_ok()) {
        let (Some(expected_s), Some(wall_s)) = (cell.expected_wall_s, cell.wall_s) else { continue };
        if expected_s <= 0.0 || wall_s <= 0.0 {
            continue;
        }
        out.checked += 1;
        let (lo, hi) = cell.spread.map_or((wall_s, wall_s), |s| (s.wall_s_min.min(wall_s), s.wall_s_max.max(wall_s)));
        let (band_lo, band_hi) = MISS_BAND;
        if lo / expected_s <= band_hi && hi / expected_s >= band_lo {
            continue;
        }
        let metric = Metric::for_workload(cell.workload);
        let (expected, measured, range) = match metric {
            Metric::Wall => (expected_s, wall_s, (lo, hi)),
            // A duration-bound cell's expected time is its completed requests at the predicted rate.
            Metric::Throughput => {
                let rps = cell.throughput_rps.unwrap_or(0.0);
                let r = Range::of(cell, Metric::Throughput);
                (rps * wall_s / expected_s, rps, r.map_or((rps, rps), |r| (r.min, r.max)))
            }
        };
        out.misses.push(ModelMiss {
            cell: cell.id.clone(),
            server: cell.server.clone(),
            client: cell.client,
            workload: cell.workload,
            concurrency: cell.concurrency,
            metric,
            expected,
            measured,
            range,
            time_ratio: wall_s / expected_s,
            saturation: cell.saturation,
        });
    }
    out
}

/// One server's figure at a point.
#[derive(Debug, Clone, PartialEq)]
pub struct Standing {
    pub server: String,
    pub group: Group,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// The model's expectation for the cell, when it has one (seconds).
    pub expected_s: Option<f64>,
}

/// Servers ranked at one point (workload × client × concurrency), best first, with the noise rule between them.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    pub workload: String,
    pub client: String,
    pub level: u64,
    pub metric: Metric,
    /// Tiers, best first: within a tier each server ties with the next one; between tiers, a difference.
    pub tiers: Vec<Vec<Standing>>,
    /// The model every one of whose servers beats every server of each other model, if one does.
    pub winner: Option<Group>,
    /// Per model with two servers or more: its best ÷ its worst (≥ 1), when they differ by the noise rule.
    pub spreads: Vec<(Group, f64)>,
}

impl Ranking {
    /// The models whose servers share the best tier.
    pub fn top_groups(&self) -> Vec<Group> {
        let mut groups: Vec<Group> = self.tiers.first().map_or(vec![], |t| t.iter().map(|s| s.group).collect());
        groups.sort();
        groups.dedup();
        groups
    }
}

/// `a` does better than `b` by the noise rule.
fn beats(a: &Cell, b: &Cell, metric: Metric) -> bool {
    matches!(noise::judge(a, b, metric), Some(Verdict::Differ { better: Side::A, .. }))
}

/// The servers' evidence cells at `workload` × `client` × `level` ranked by the noise rule; None with fewer
/// than two servers.
pub fn rank(run: &Run, workload: Workload, client: Client, level: u64) -> Option<Ranking> {
    let metric = Metric::for_workload(workload);
    let mut cells: Vec<&Cell> = Vec::new();
    for cell in run.cells.iter().filter(|c| c.workload == workload && c.client == client && c.concurrency == level) {
        if !noise::evidence(cell) {
            continue;
        }
        match cells.iter_mut().find(|c| c.server == cell.server) {
            Some(have) if cell.requests > have.requests => *have = cell,
            Some(_) => {}
            None => cells.push(cell),
        }
    }
    if cells.len() < 2 {
        return None;
    }
    let value = |c: &Cell| match metric {
        Metric::Wall => c.wall_s.unwrap_or(f64::MAX),
        Metric::Throughput => -c.throughput_rps.unwrap_or(0.0),
    };
    cells.sort_by(|a, b| value(a).total_cmp(&value(b)));
    let group = |c: &Cell| headline::group_of(run, &c.server);
    let standing = |c: &Cell| {
        let r = Range::of(c, metric).expect("an evidence cell has its figure");
        Standing {
            server: c.server.clone(),
            group: group(c),
            median: r.median,
            min: r.min,
            max: r.max,
            expected_s: c.expected_wall_s,
        }
    };
    let mut tiers: Vec<Vec<Standing>> = vec![vec![standing(cells[0])]];
    for pair in cells.windows(2) {
        if beats(pair[0], pair[1], metric) {
            tiers.push(vec![]);
        }
        tiers.last_mut().expect("a tier").push(standing(pair[1]));
    }
    let mut groups: Vec<Group> = cells.iter().map(|c| group(c)).collect();
    groups.sort();
    groups.dedup();
    let winner = (groups.len() > 1)
        .then(|| {
            groups.iter().copied().find(|&g| {
                let (ours, theirs): (Vec<&&Cell>, Vec<&&Cell>) = cells.iter().partition(|c| group(c) == g);
                ours.iter().all(|a| theirs.iter().all(|b| beats(a, b, metric)))
            })
        })
        .flatten();
    let spreads = groups
        .iter()
        .filter_map(|&g| {
            let members: Vec<&&Cell> = cells.iter().filter(|c| group(c) == g).collect();
            let (first, last) = (members.first()?, members.last()?);
            match noise::judge(first, last, metric)? {
                Verdict::Differ { factor, .. } if members.len() > 1 => Some((g, factor)),
                _ => None,
            }
        })
        .collect();
    Some(Ranking { workload: workload.to_string(), client: client.to_string(), level, metric, tiers, winner, spreads })
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
            let mut text = format!("{} {}", names.join(", "), headline::span(&medians, |x| show(r.metric, x)));
            let predicted: Vec<f64> = tier
                .iter()
                .filter_map(|s| s.expected_s)
                .filter(|e| top_expected.is_some_and(|t| (e / t - 1.0).abs() > 0.05))
                .collect();
            if r.metric == Metric::Wall && !predicted.is_empty() {
                text.push_str(&format!(" (predicted {})", headline::span(&predicted, format::seconds)));
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
        format!("no model wins: {} share the best tier", headline::names(&top))
    } else {
        "no model wins outright: its servers do not all beat the other models'".to_string()
    };
    if !spreads.is_empty() {
        text.push_str(&format!(" ({})", spreads.join("; ")));
    }
    text
}

/// What a claim is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    Waiting,
    CpuWork,
    BlockingCall,
    Memory,
}

/// One measured claim of the verdict, with where its evidence is.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub topic: Topic,
    pub text: String,
    /// A link target: a section of the run's markdown (`#io`) or a companion file.
    pub evidence: String,
}

/// Everything the writers format.
#[derive(Debug, Clone, PartialEq)]
pub struct Findings {
    pub headline: Option<Headline>,
    /// At most four: with the model-miss count, the verdict's five lines.
    pub claims: Vec<Claim>,
    pub predictions: Predictions,
    pub rankings: Vec<Ranking>,
}

/// The findings of a run.
pub fn findings(run: &Run) -> Findings {
    let predictions = model_misses(run);
    let Some(h) = headline::headline(run) else {
        return Findings { headline: None, claims: vec![], predictions, rankings: vec![] };
    };
    let mut claims = Vec::new();
    let mut rankings = Vec::new();
    let d = format::seconds(run.settings.hello_ms as f64 / 1000.0);
    if let Some(r) = rank(run, Workload::Io, h.client, h.level) {
        let mut text = format!(
            "**Waiting** (`io`, {} requests at once, D = {d}): {}; {}",
            h.level,
            ranking_text(&r),
            model_verdict(&r)
        );
        if let Some(scale) = at_scale(&h) {
            text.push_str(&format!(". {scale}"));
        }
        text.push('.');
        claims.push(Claim { topic: Topic::Waiting, text, evidence: "#io".into() });
        rankings.push(r);
    }
    if let Some(r) = rank(run, Workload::Cpu, h.client, h.level) {
        claims.push(Claim {
            topic: Topic::CpuWork,
            text: format!(
                "**CPU work** (`cpu`, {}! per request, {} at once): {}; {}.",
                run.settings.fact_n,
                h.level,
                ranking_text(&r),
                model_verdict(&r)
            ),
            evidence: "#cpu".into(),
        });
        rankings.push(r);
    }
    if let Some(r) = rank(run, Workload::Blocking, h.client, h.blocking_level) {
        claims.push(Claim {
            topic: Topic::BlockingCall,
            text: format!(
                "**A blocking call in the handler** (`/block` sleeps {}, {} at once): {} — the model predicts ⌈{} ÷ \
                 T⌉ × the sleep, T the threads that can sleep at once.",
                format::seconds(h.block_s),
                h.blocking_level,
                ranking_text(&r),
                h.blocking_level
            ),
            evidence: "#blocking".into(),
        });
        rankings.push(r);
    }
    if let Some(text) = memory_claim(&h) {
        claims.push(Claim { topic: Topic::Memory, text, evidence: "#cost-per-in-flight-connection-io".into() });
    }
    claims.truncate(4);
    Findings { headline: Some(h), claims, predictions, rankings }
}

/// `At 19,000 connections at once: async 1.44–1.62 s; thread-per-request 15.3 s and 3,958 failed`, from a
/// bench companion's reach part.
fn at_scale(h: &Headline) -> Option<String> {
    let Some((level, headline::FarSource::Bench { source, .. })) = &h.far_level else { return None };
    let per: Vec<String> = group_order(h)
        .into_iter()
        .filter_map(|g| {
            let rows: Vec<&headline::Row> = h.rows.iter().filter(|r| r.group == g && r.io_far.is_some()).collect();
            let walls: Vec<f64> = rows.iter().filter_map(|r| r.io_far.as_ref().map(|x| x.0)).collect();
            let failed: u64 = rows.iter().filter_map(|r| r.io_far.as_ref().map(|x| x.1)).sum();
            (!walls.is_empty()).then(|| {
                let mut s = format!("{} {}", g.name(), headline::span(&walls, format::seconds));
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
    let fits: Vec<(&headline::Row, &headline::Memory)> =
        h.rows.iter().filter_map(|r| r.memory.as_ref().map(|m| (r, m))).collect();
    if fits.is_empty() {
        return None;
    }
    let mut parts: Vec<String> = group_order(h)
        .into_iter()
        .filter_map(|g| {
            let clear: Vec<&headline::Memory> =
                fits.iter().filter(|(r, m)| r.group == g && m.r2 >= FIT_R2_MIN).map(|(_, m)| *m).collect();
            if clear.is_empty() {
                return None;
            }
            let kib = |m: &headline::Memory| m.rss_kib + m.kernel_kib.unwrap_or(0.0);
            let total: Vec<f64> = clear.iter().map(|m| kib(m)).collect();
            let threads: Vec<f64> = clear.iter().map(|m| m.threads).collect();
            let digits = |k: f64| if k.abs() < 1.0 { format!("{k:.2}") } else { format!("{k:.1}") };
            Some(format!(
                "{} {} KiB and {} threads",
                g.name(),
                headline::span(&total, digits),
                headline::span(&threads, |t| format!("{t:.1}"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::run::{Model, ServerRecord};
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
    fn a_prediction_outside_the_band_is_a_miss_and_inside_is_not() {
        let mut serial = synthetic_cell("fake-async", "blocking", 2.0, 1.99, 2.01, 4);
        serial.expected_wall_s = Some(1.0);
        let mut held = synthetic_cell("thread-server", "blocking", 0.21, 0.2, 0.22, 4);
        held.expected_wall_s = Some(0.2);
        // Its range reaches into the band: not a miss, though the median is outside.
        let mut edge = synthetic_cell("edge", "io", 1.3, 1.2, 1.4, 4);
        edge.expected_wall_s = Some(1.0);
        let run = run_of(vec![], vec![serial, held, edge]);
        let p = model_misses(&run);
        assert_eq!(p.checked, 3);
        assert_eq!(p.misses.len(), 1, "{:?}", p.misses);
        let miss = &p.misses[0];
        assert_eq!((miss.server.as_str(), miss.expected, miss.measured), ("fake-async", 1.0, 2.0));
        assert!((miss.time_ratio - 2.0).abs() < 1e-9);
    }

    #[test]
    fn fits_below_the_threshold_are_unclear() {
        assert_eq!(fit_text(1.2, 0.32, 3), "unclear (r² 0.32, 3 points)");
        assert_eq!(fit_text(0.35, 0.98, 5), "0.35 KiB (r² 0.98, 5 points)");
        assert_eq!(fit_text(16.44, 0.99, 3), "16.4 KiB (r² 0.99, 3 points)");
    }
}
