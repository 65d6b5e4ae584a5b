//! Servers ranked like for like at one point (workload × client × concurrency): tiers by the noise rule
//! ([`crate::noise`]), and a concurrency model said to do best only when *every* one of its servers beats *every*
//! server of each other model — never a model scored by its best server; otherwise the spread inside each model.
//! Tested with their words, in `export::prose`.

use super::headline::{group_of, Group};
use crate::noise::{self, Metric, Range, Side, Verdict};
use crate::records::run::{Cell, Client, ClientKind, Run, Workload};

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
    pub workload: Workload,
    pub client: Client,
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
    cells.sort_by(|a, b| metric.key(a).total_cmp(&metric.key(b)));
    let group = |c: &Cell| group_of(run, &c.server);
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
    Some(Ranking { workload, client, level, metric, tiers, winner, spreads })
}

/// Each workload's servers ranked at its comparison point ([`comparison`]), in the run's workload order.
pub fn per_workload(run: &Run) -> Vec<Ranking> {
    run.workloads()
        .into_iter()
        .filter_map(|w| comparison(run, w).and_then(|(client, level)| rank(run, w, client, level)))
        .collect()
}

/// The clients of `cells`, the one with the most cells first (async-client first among equals).
pub fn most_cells_first(cells: &[&Cell]) -> Vec<Client> {
    let mut clients = crate::records::grouped(cells.iter().map(|c| (c.client, ())));
    clients.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| b.0.is_async().cmp(&a.0.is_async())));
    clients.into_iter().map(|(client, _)| client).collect()
}

/// The comparison point of a workload: the concurrent client with the most evidence cells, at the highest
/// concurrency that at least two servers finished cleanly.
fn comparison(run: &Run, workload: Workload) -> Option<(Client, u64)> {
    let cells: Vec<&Cell> = run
        .cells_of(workload)
        .filter(|c| noise::evidence(c))
        .filter(|c| c.client.kind != ClientKind::BlockingClient)
        .collect();
    for client in most_cells_first(&cells) {
        let mut levels: Vec<u64> = cells.iter().filter(|c| c.client == client).map(|c| c.concurrency).collect();
        levels.sort_unstable();
        levels.dedup();
        for &level in levels.iter().rev() {
            let mut servers: Vec<&str> = cells
                .iter()
                .filter(|c| c.client == client && c.concurrency == level)
                .map(|c| c.server.as_str())
                .collect();
            servers.dedup();
            if servers.len() >= 2 {
                return Some((client, level));
            }
        }
    }
    None
}
