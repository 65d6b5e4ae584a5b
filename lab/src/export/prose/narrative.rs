//! Plain sentences generated from the numbers: which model won each workload and by what factor, where
//! thread-per-request paid in memory and threads, where a blocking call stalled an async server, and which
//! cells measured the client rather than the server. Every figure in a sentence is read from the cells.

use crate::findings::evidence::{MemoryPair, PoolBound, Stall, MEMORY_PAID};
use crate::findings::{Findings, Ranking};
use crate::format;
use crate::records::run::{Bottleneck, Run};
use crate::records::{first_seen, grouped};

/// The sentences of "What the numbers show", kept in the run's JSON (`analysis.narrative`) when it is written.
pub fn sentences(run: &Run, f: &Findings) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(s) = experiment_sentence(run) {
        out.push(s);
    }
    out.extend(f.rankings.iter().map(|r| winner_sentence(run, r)));
    out.extend(f.pool.as_ref().map(pool_sentence));
    out.extend(f.memory.as_ref().map(memory_sentence));
    out.extend(blocking_sentences(&f.stalls));
    out.extend(per_connection_sentences(run));
    out.extend(client_bound_sentence(run));
    out.extend(failure_sentence(run));
    out
}

fn experiment_sentence(run: &Run) -> Option<String> {
    let rows = &run.analysis.experiment;
    let d = run.settings.hello_ms as f64 / 1000.0;
    let blocking: Vec<f64> = rows.iter().filter_map(|r| r.ten_blocking.map(|p| p.measured_s / d)).collect();
    let asyncs: Vec<(String, f64)> =
        rows.iter().filter_map(|r| r.ten_async.map(|p| (r.server.clone(), p.measured_s / d))).collect();
    if blocking.is_empty() || asyncs.is_empty() {
        return None;
    }
    let named = |(s, x): &(String, f64)| format!("{s} {x:.1} D");
    let fast: Vec<String> = asyncs.iter().filter(|(_, x)| *x <= 2.0).map(named).collect();
    let slow: Vec<String> = asyncs.iter().filter(|(_, x)| *x > 2.0).map(named).collect();
    let range = super::span(&blocking, |x| format!("{x:.1} D"));
    let mut s = format!(
        "The original experiment holds its shape with D = {}: ten requests sent one after another took {range} on \
         every server, while ten sent at once took about one D",
        format::seconds(d),
    );
    if !fast.is_empty() {
        s.push_str(&format!(" ({})", fast.join(", ")));
    }
    if !slow.is_empty() {
        s.push_str(&format!(", except where the server bounds its concurrency ({})", slow.join(", ")));
    }
    if !run.analysis.shape.holds {
        s = format!(
            "The original experiment's shape does NOT hold in this run (see the checks below); measured: ten one after \
             another {range}; ten at once {}",
            asyncs.iter().map(named).collect::<Vec<_>>().join(", ")
        );
    }
    s.push('.');
    Some(s)
}

/// How the servers compared on a workload, like for like (the findings' ranking at its comparison point): the
/// servers in tiers by the noise rule, and a model said to do best only where every one of its servers beats
/// every other server. Client-saturated cells measure the client, so they are left out (and named by
/// [`client_bound_sentence`]).
fn winner_sentence(run: &Run, ranking: &Ranking) -> String {
    format!(
        "On `{}` at concurrency {} ({}): {}; {}.",
        ranking.workload,
        ranking.level,
        super::client_name(run, ranking.client),
        super::ranking_text(ranking),
        super::model_verdict(ranking)
    )
}

fn pool_sentence(p: &PoolBound) -> String {
    format!(
        "{} has {} worker threads, so it waits on at most {} io requests at once: {} requests at concurrency {} took \
         {} (the model expects {}).",
        p.server,
        p.workers,
        p.workers,
        p.requests,
        p.concurrency,
        format::seconds(p.wall_s),
        format::seconds(p.expected_s)
    )
}

fn memory_sentence(m: &MemoryPair) -> String {
    let paid = if m.rss_ratio() >= MEMORY_PAID {
        format!("in threads and memory ({} the RSS)", format::factor(m.rss_ratio()))
    } else {
        "in threads (their stacks are mostly untouched, so RSS stayed close)".to_string()
    };
    let (t, a) = (&m.threaded, &m.asynchronous);
    format!(
        "Thread-per-request paid {paid}: at {} concurrent io requests {} peaked at {} threads and {} RSS, while {} \
         used {} threads and {}.",
        m.concurrency,
        t.server,
        t.threads,
        format::kib(t.rss_kib),
        a.server,
        a.threads,
        format::kib(a.rss_kib)
    )
}

/// What a blocking call in the handler did to each server that waits without a thread, one sentence per outcome
/// (servers whose sentence reads alike are said together), with a thread-per-request server's figure for the same
/// requests.
fn blocking_sentences(stalls: &[Stall]) -> Vec<String> {
    // (stalled, figure text, threads) → servers
    let groups = grouped(stalls.iter().map(|stall| {
        let key = (
            stall.stalled,
            format!(
                "{} concurrent `/block` requests took {} ({:.1}× the {} sleep)",
                stall.requests,
                format::seconds(stall.wall_s),
                stall.wall_s / stall.block_s,
                format::seconds(stall.block_s)
            ),
            match stall.threads {
                Some(1) => format!("its one {}", stall.model.thread_word()),
                Some(t) => format!("one of {t} {}s", stall.model.thread_word()),
                None => format!("one of its {}s", stall.model.thread_word()),
            },
        );
        (key, stall)
    }));
    groups
        .into_iter()
        .map(|((stalled, figure, threads), group)| {
            let names = group.iter().map(|s| s.server.as_str()).collect::<Vec<_>>().join(", ");
            if !stalled {
                return format!("A blocking call did not stall {names}: {figure}.");
            }
            // The model's mechanism is said only where its prediction held; a miss is reported, not explained.
            let missed: Vec<&str> = group.iter().filter(|s| s.missed).map(|s| s.server.as_str()).collect();
            let mut s = if missed.is_empty() {
                format!(
                    "A blocking call stalled {names}: {figure}, because each sleep held {threads} and every other task \
                     on it waited"
                )
            } else {
                format!(
                    "A blocking call stalled {names}: {figure}, which the model did not predict for {} (see Model \
                     misses)",
                    missed.join(", ")
                )
            };
            if let Some((server, wall_s)) = &group[0].threaded {
                s.push_str(&format!(
                    "; {server} (thread-per-request) took {} for the same requests",
                    format::seconds(*wall_s)
                ));
            }
            s.push('.');
            s
        })
        .collect()
}

fn per_connection_sentences(run: &Run) -> Vec<String> {
    // One sentence per client, servers side by side, from fits that reach at least 100 connections.
    first_seen(run.analysis.per_connection.iter().map(|p| p.client))
        .into_iter()
        .filter_map(|client| {
            let fits: Vec<String> = run
                .analysis
                .per_connection
                .iter()
                .filter(|p| p.client == client && p.points.last().is_some_and(|l| l.0 >= 100))
                .map(|p| {
                    format!(
                        "{} {:.1} KiB and {:.2} threads",
                        p.server, p.rss_kib_per_connection, p.threads_per_connection
                    )
                })
                .collect();
            let levels: Vec<String> = run
                .analysis
                .per_connection
                .iter()
                .find(|p| p.client == client)?
                .points
                .iter()
                .map(|x| x.0.to_string())
                .collect();
            (!fits.is_empty()).then(|| {
                format!(
                    "Each in-flight io connection ({client}, slope over concurrency {}) cost {}.",
                    levels.join(", "),
                    fits.join("; ")
                )
            })
        })
        .collect()
}

fn client_bound_sentence(run: &Run) -> Option<String> {
    let bound: Vec<String> = run
        .cells
        .iter()
        .filter(|c| {
            c.bottleneck == Some(Bottleneck::ClientBound)
                || matches!(
                    c.saturation,
                    Some(crate::records::run::Saturation::Client | crate::records::run::Saturation::Both)
                )
        })
        .map(|c| format!("{} × {} {} c={}", c.server, c.client, c.workload, c.concurrency))
        .collect();
    if bound.is_empty() {
        return None;
    }
    let shown: Vec<String> = bound.iter().take(6).cloned().collect();
    Some(format!(
        "{} cell(s) were client-bound or client-saturated — the client's CPUs were busy (both sides', for \
         both-saturated) — so their throughput is the instrument's or the machine's limit, not the server's, and no \
         conclusion above rests on them: {}{}.",
        bound.len(),
        shown.join("; "),
        if bound.len() > shown.len() { "; …" } else { "" }
    ))
}

fn failure_sentence(run: &Run) -> Option<String> {
    // Grouped by reason: the same fault on twenty cells is one line, not twenty.
    let groups = grouped(run.cells.iter().filter(|c| c.status == crate::records::run::Status::Failed).map(|cell| {
        let hint = cell.limit_hint.as_ref().map_or(String::new(), |h| format!(" — limit: {h}"));
        (cell.reason.clone().unwrap_or_default() + &hint, cell)
    }));
    if groups.is_empty() {
        return None;
    }
    let total: usize = groups.iter().map(|(_, c)| c.len()).sum();
    let parts: Vec<String> = groups
        .iter()
        .map(|(reason, cells)| {
            if cells.len() == 1 {
                let c = cells[0];
                return format!("{} × {} {} c={}: {reason}", c.server, c.client, c.workload, c.concurrency);
            }
            let mut workloads: Vec<&str> = cells.iter().map(|c| c.workload.as_str()).collect();
            workloads.sort_unstable();
            workloads.dedup();
            let mut servers: Vec<&str> = cells.iter().map(|c| c.server.as_str()).collect();
            servers.sort_unstable();
            servers.dedup();
            format!("{} cells ({} on {}): {reason}", cells.len(), workloads.join(", "), servers.join(", "))
        })
        .collect();
    Some(format!("{total} cell(s) failed — {}.", parts.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::run::{Cell, Saturation, Workload};
    use crate::run::synthetic_cell;

    /// The sentence on `workload`'s ranking, if the findings rank it.
    fn winner(run: &Run, workload: Workload) -> Option<String> {
        Findings::of(run).rankings.iter().find(|r| r.workload == workload).map(|r| winner_sentence(run, r))
    }

    /// A run of `cells` whose servers are the headline fixture's: thread-server (thread-per-request),
    /// pool-server (pool, 16 threads), smol-server (async, 2 threads), tornado (foreign).
    fn run_of(cells: Vec<Cell>) -> Run {
        let servers = crate::findings::headline::fixture().servers;
        Run { cells, servers, ..Run::default() }
    }

    #[test]
    fn two_models_whose_ranges_overlap_tie() {
        // io at c=10: 1.01 s [1.00, 1.05] vs 1.03 s [1.02, 1.20]: overlapping ranges, one tier.
        let run = run_of(vec![
            synthetic_cell("thread-server", "io", 1.01, 1.00, 1.05, 3),
            synthetic_cell("smol-server", "io", 1.03, 1.02, 1.20, 3),
        ]);
        let s = winner(&run, Workload::Io).unwrap();
        assert!(s.contains("thread-server, smol-server 1.01–1.03 s; no model wins"), "{s}");
        // Disjoint but 2 % apart: below the minimum effect size, still a tie.
        let run = run_of(vec![
            synthetic_cell("thread-server", "io", 1.00, 0.999, 1.001, 3),
            synthetic_cell("smol-server", "io", 1.02, 1.019, 1.021, 3),
        ]);
        assert!(winner(&run, Workload::Io).unwrap().contains("share the best tier"));
    }

    #[test]
    fn a_real_difference_names_the_servers_in_tiers() {
        let mut pool = synthetic_cell("pool-server", "io", 5.0, 4.9, 5.2, 3);
        pool.expected_wall_s = Some(5.0);
        let run = run_of(vec![
            synthetic_cell("thread-server", "io", 1.0, 0.98, 1.04, 3),
            synthetic_cell("smol-server", "io", 1.02, 1.01, 1.05, 3),
            pool,
        ]);
        let s = winner(&run, Workload::Io).unwrap();
        assert!(s.contains("thread-server, smol-server 1.00–1.02 s > pool-server 5.00 s"), "{s}");
        assert!(s.contains("no model wins: thread-per-request and async share the best tier"), "{s}");
        // cpu: every async server beats every thread-per-request one: async does best.
        let thread = synthetic_cell("thread-server", "cpu", 0.02, 0.0198, 0.0202, 3);
        let smol = synthetic_cell("smol-server", "cpu", 0.01, 0.0099, 0.0101, 3);
        let s = winner(&run_of(vec![thread, smol]), Workload::Cpu).unwrap();
        assert!(s.contains("smol-server 1,000 req/s > thread-server 500 req/s; async does best"), "{s}");
    }

    #[test]
    fn a_client_bound_cell_is_not_evidence_about_its_server() {
        // pool-server looks 5× slower, but its client was the bottleneck: no conclusion may rest on it, so the
        // only comparable cells left are two servers that tie.
        let mut bound = synthetic_cell("pool-server", "io", 5.0, 4.9, 5.2, 3);
        bound.bottleneck = Some(Bottleneck::ClientBound);
        let run = run_of(vec![
            synthetic_cell("thread-server", "io", 1.0, 0.98, 1.04, 3),
            synthetic_cell("smol-server", "io", 1.02, 1.01, 1.05, 3),
            bound,
        ]);
        let s = winner(&run, Workload::Io).unwrap();
        assert!(!s.contains("pool-server"), "{s}");
        assert!(s.contains("tie"), "{s}");
        // With only the client-bound cell and one other, there is nothing to compare.
        let mut bound = synthetic_cell("pool-server", "io", 5.0, 4.9, 5.2, 3);
        bound.bottleneck = Some(Bottleneck::ClientBound);
        let run = run_of(vec![synthetic_cell("thread-server", "io", 1.0, 0.98, 1.04, 3), bound]);
        assert_eq!(winner(&run, Workload::Io), None);
        // The same with a saturated client CPU set (the placement's flag).
        let mut saturated = synthetic_cell("pool-server", "io", 5.0, 4.9, 5.2, 3);
        saturated.saturation = Some(Saturation::Client);
        let run = run_of(vec![synthetic_cell("thread-server", "io", 1.0, 0.98, 1.04, 3), saturated]);
        assert_eq!(winner(&run, Workload::Io), None);
    }
}
