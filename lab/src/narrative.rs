//! Plain sentences generated from the numbers: which model won each workload and by what factor, where
//! thread-per-request paid in memory and threads, where a blocking call stalled an async server, and which
//! cells measured the client rather than the server. Every figure in a sentence is read from the cells.

use crate::format;
use crate::noise;
use crate::records::run::{Bottleneck, Cell, Client, ClientKind, Model, Run, Workload};

pub fn sentences(run: &Run) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(s) = experiment_sentence(run) {
        out.push(s);
    }
    for workload in run.workloads() {
        if let Some(s) = winner_sentence(run, workload) {
            out.push(s);
        }
    }
    out.extend(pool_sentence(run));
    out.extend(memory_sentence(run));
    out.extend(blocking_sentences(run));
    out.extend(per_connection_sentences(run));
    out.extend(client_bound_sentence(run));
    out.extend(failure_sentence(run));
    out
}

fn model_of(run: &Run, server: &str) -> String {
    run.servers.iter().find(|s| s.name == server).map_or("unknown", |s| s.model.as_str()).to_string()
}

fn good(cell: &&Cell) -> bool {
    cell.is_ok() && cell.failed == 0 && cell.wall_s.is_some()
}

/// A cell that can be evidence about its server ([`noise::evidence`]).
fn evidence(cell: &&Cell) -> bool {
    noise::evidence(cell)
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
    let (lo, hi) = blocking.iter().fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    let fast: Vec<String> = asyncs.iter().filter(|(_, x)| *x <= 2.0).map(|(s, x)| format!("{s} {x:.1} D")).collect();
    let slow: Vec<String> = asyncs.iter().filter(|(_, x)| *x > 2.0).map(|(s, x)| format!("{s} {x:.1} D")).collect();
    let range =
        if format!("{lo:.1}") == format!("{hi:.1}") { format!("{lo:.1} D") } else { format!("{lo:.1}–{hi:.1} D") };
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
            asyncs.iter().map(|(s, x)| format!("{s} {x:.1} D")).collect::<Vec<_>>().join(", ")
        );
    }
    s.push('.');
    Some(s)
}

/// The comparison point of a workload: the concurrent client with the most measured cells, at the highest
/// concurrency that at least two servers finished cleanly.
fn comparison(run: &Run, workload: Workload) -> Option<(Client, u64, Vec<&Cell>)> {
    let cells: Vec<&Cell> =
        run.cells_of(workload).filter(evidence).filter(|c| c.client.kind != ClientKind::BlockingClient).collect();
    let mut clients: Vec<(Client, usize)> = Vec::new();
    for c in &cells {
        match clients.iter_mut().find(|(n, _)| *n == c.client) {
            Some((_, count)) => *count += 1,
            None => clients.push((c.client, 1)),
        }
    }
    clients.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.is_async().cmp(&a.0.is_async())));
    for (client, _) in clients {
        let mut levels: Vec<u64> = cells.iter().filter(|c| c.client == client).map(|c| c.concurrency).collect();
        levels.sort_unstable();
        levels.dedup();
        for &level in levels.iter().rev() {
            let at: Vec<&Cell> =
                cells.iter().copied().filter(|c| c.client == client && c.concurrency == level).collect();
            let mut servers: Vec<&str> = at.iter().map(|c| c.server.as_str()).collect();
            servers.dedup();
            if servers.len() >= 2 {
                return Some((client, level, at));
            }
        }
    }
    None
}

/// How the servers compared on a workload, like for like ([`crate::findings::rank`]): the servers in tiers by the
/// noise rule, and a model said to do best only where every one of its servers beats every other server — never
/// a model scored by its best server. Client-saturated cells measure the client, so they are left out (and named
/// by [`client_bound_sentence`]).
fn winner_sentence(run: &Run, workload: Workload) -> Option<String> {
    let (client, level, _) = comparison(run, workload)?;
    let ranking = crate::findings::rank(run, workload, client, level)?;
    Some(format!(
        "On `{workload}` at concurrency {level} ({}): {}; {}.",
        crate::headline::client_name(run, client),
        crate::findings::ranking_text(&ranking),
        crate::findings::model_verdict(&ranking)
    ))
}

fn pool_sentence(run: &Run) -> Option<String> {
    let pool = run.servers.iter().find(|s| s.model == Model::Pool)?;
    let workers = pool.worker_threads?;
    let cell = run
        .cells_of(Workload::Io)
        .filter(good)
        .filter(|c| c.server == pool.name && c.concurrency > workers && c.expected_wall_s.is_some())
        .max_by_key(|c| c.concurrency)?;
    Some(format!(
        "{} has {workers} worker threads, so it waits on at most {workers} io requests at once: {} requests at \
         concurrency {} took {} (the model expects {}).",
        pool.name,
        cell.requests,
        cell.concurrency,
        format::seconds(cell.wall_s?),
        format::seconds(cell.expected_wall_s?)
    ))
}

fn memory_sentence(run: &Run) -> Option<String> {
    let threaded: Vec<&str> =
        run.servers.iter().filter(|s| s.model == Model::ThreadPerRequest).map(|s| s.name.as_str()).collect();
    let asyncs: Vec<&str> = run.servers.iter().filter(|s| s.model == Model::Async).map(|s| s.name.as_str()).collect();
    let io: Vec<&Cell> = run.cells_of(Workload::Io).filter(good).filter(|c| c.server_cost.is_some()).collect();
    // The highest concurrency where a thread-per-request and an async server were both measured by one client.
    let mut best: Option<(&Cell, &Cell)> = None;
    for t in io.iter().filter(|c| threaded.contains(&c.server.as_str())) {
        for a in io.iter().filter(|c| asyncs.contains(&c.server.as_str())) {
            if a.client == t.client
                && a.concurrency == t.concurrency
                && a.requests == t.requests
                && best.is_none_or(|(b, _)| t.concurrency > b.concurrency)
            {
                best = Some((t, a));
            }
        }
    }
    let (t, a) = best?;
    if t.concurrency < 10 {
        return None;
    }
    let (tc, ac) = (t.server_cost.as_ref()?, a.server_cost.as_ref()?);
    let memory_ratio = tc.peak_rss_kib as f64 / ac.peak_rss_kib.max(1) as f64;
    let paid = if memory_ratio >= 1.2 {
        format!("in threads and memory ({} the RSS)", format::factor(memory_ratio))
    } else {
        "in threads (their stacks are mostly untouched, so RSS stayed close)".to_string()
    };
    Some(format!(
        "Thread-per-request paid {paid}: at {} concurrent io requests {} peaked at {} threads and {} RSS, while {} \
         used {} threads and {}.",
        t.concurrency,
        t.server,
        tc.peak_threads,
        format::kib(tc.peak_rss_kib),
        a.server,
        ac.peak_threads,
        format::kib(ac.peak_rss_kib)
    ))
}

/// What a blocking call in the handler did to each async server, one sentence per outcome (servers that stalled
/// alike are said together), with a thread-per-request server's figure for the same requests.
fn blocking_sentences(run: &Run) -> Vec<String> {
    let block_s = run.settings.block_ms as f64 / 1000.0;
    let misses = crate::findings::model_misses(run).misses;
    // (stalled, figure text, threads) → servers
    type Outcome = (bool, String, String);
    let mut groups: Vec<(Outcome, Vec<&Cell>)> = Vec::new();
    for server in run.servers.iter().filter(|s| s.model.waits_without_a_thread()) {
        let Some(cell) = run
            .cells_of(Workload::Blocking)
            .filter(good)
            .filter(|c| c.server == server.name && c.concurrency > 1)
            .max_by_key(|c| c.concurrency)
        else {
            continue;
        };
        let wall = cell.wall_s.unwrap_or(0.0);
        let key = (
            wall >= 2.0 * block_s,
            format!(
                "{} concurrent `/block` requests took {} ({:.1}× the {} sleep)",
                cell.requests,
                format::seconds(wall),
                wall / block_s,
                format::seconds(block_s)
            ),
            // The threads the measured instance reported, else the verified one's.
            match cell.runs.iter().find_map(|m| m.instance).map_or(server.worker_threads, |i| i.worker_threads) {
                Some(1) => format!("its one {}", server.model.thread_word()),
                Some(t) => format!("one of {t} {}s", server.model.thread_word()),
                None => format!("one of its {}s", server.model.thread_word()),
            },
        );
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, cells)) => cells.push(cell),
            None => groups.push((key, vec![cell])),
        }
    }
    groups
        .into_iter()
        .map(|((stalled, figure, threads), cells)| {
            let names: Vec<&str> = cells.iter().map(|c| c.server.as_str()).collect();
            if !stalled {
                return format!("A blocking call did not stall {}: {figure}.", names.join(", "));
            }
            let cell = cells[0];
            // The model's mechanism is said only where its prediction held; a miss is reported, not explained.
            let missed: Vec<&str> =
                cells.iter().filter(|c| misses.iter().any(|m| m.cell == c.id)).map(|c| c.server.as_str()).collect();
            let mut s = if missed.is_empty() {
                format!(
                    "A blocking call stalled {}: {figure}, because each sleep held {threads} and every other task on \
                     it waited",
                    names.join(", ")
                )
            } else {
                format!(
                    "A blocking call stalled {}: {figure}, which the model did not predict for {} (see Model misses)",
                    names.join(", "),
                    missed.join(", ")
                )
            };
            let threaded = run.cells_of(Workload::Blocking).filter(good).find(|c| {
                c.concurrency == cell.concurrency
                    && c.client == cell.client
                    && model_of(run, &c.server) == "thread-per-request"
            });
            if let Some(t) = threaded {
                s.push_str(&format!(
                    "; {} (thread-per-request) took {} for the same requests",
                    t.server,
                    format::seconds(t.wall_s.unwrap_or(0.0))
                ));
            }
            s.push('.');
            s
        })
        .collect()
}

fn per_connection_sentences(run: &Run) -> Vec<String> {
    // One sentence per client, servers side by side, from fits that reach at least 100 connections.
    let mut clients: Vec<Client> = Vec::new();
    for p in &run.analysis.per_connection {
        if !clients.contains(&p.client) {
            clients.push(p.client);
        }
    }
    clients
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
    let mut groups: Vec<(String, Vec<&Cell>)> = Vec::new();
    for cell in run.cells.iter().filter(|c| c.status == crate::records::run::Status::Failed) {
        let mut reason = cell.reason.clone().unwrap_or_default();
        if let Some(h) = &cell.limit_hint {
            reason.push_str(&format!(" — limit: {h}"));
        }
        match groups.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, cells)) => cells.push(cell),
            None => groups.push((reason, vec![cell])),
        }
    }
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
            let mut workloads: Vec<&str> = cells.iter().map(|c| c.workload.name()).collect();
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
    use crate::records::run::Saturation;
    use crate::run::synthetic_cell;

    /// A run of `cells` whose servers are the headline fixture's: thread-server (thread-per-request),
    /// pool-server (pool, 16 threads), smol-server (async, 2 threads), tornado (foreign).
    fn run_of(cells: Vec<Cell>) -> Run {
        let servers = crate::headline::fixture().servers;
        Run { cells, servers, ..Run::default() }
    }

    #[test]
    fn two_models_whose_ranges_overlap_tie() {
        // io at c=10: 1.01 s [1.00, 1.05] vs 1.03 s [1.02, 1.20]: overlapping ranges, one tier.
        let run = run_of(vec![
            synthetic_cell("thread-server", "io", 1.01, 1.00, 1.05, 3),
            synthetic_cell("smol-server", "io", 1.03, 1.02, 1.20, 3),
        ]);
        let s = winner_sentence(&run, Workload::Io).unwrap();
        assert!(s.contains("thread-server, smol-server 1.01–1.03 s; no model wins"), "{s}");
        // Disjoint but 2 % apart: below the minimum effect size, still a tie.
        let run = run_of(vec![
            synthetic_cell("thread-server", "io", 1.00, 0.999, 1.001, 3),
            synthetic_cell("smol-server", "io", 1.02, 1.019, 1.021, 3),
        ]);
        assert!(winner_sentence(&run, Workload::Io).unwrap().contains("share the best tier"));
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
        let s = winner_sentence(&run, Workload::Io).unwrap();
        assert!(s.contains("thread-server, smol-server 1.00–1.02 s > pool-server 5.00 s"), "{s}");
        assert!(s.contains("no model wins: thread-per-request and async share the best tier"), "{s}");
        // cpu: every async server beats every thread-per-request one: async does best.
        let thread = synthetic_cell("thread-server", "cpu", 0.02, 0.0198, 0.0202, 3);
        let smol = synthetic_cell("smol-server", "cpu", 0.01, 0.0099, 0.0101, 3);
        let s = winner_sentence(&run_of(vec![thread, smol]), Workload::Cpu).unwrap();
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
        let s = winner_sentence(&run, Workload::Io).unwrap();
        assert!(!s.contains("pool-server"), "{s}");
        assert!(s.contains("tie"), "{s}");
        // With only the client-bound cell and one other, there is nothing to compare.
        let mut bound = synthetic_cell("pool-server", "io", 5.0, 4.9, 5.2, 3);
        bound.bottleneck = Some(Bottleneck::ClientBound);
        let run = run_of(vec![synthetic_cell("thread-server", "io", 1.0, 0.98, 1.04, 3), bound]);
        assert_eq!(winner_sentence(&run, Workload::Io), None);
        // The same with a saturated client CPU set (the placement's flag).
        let mut saturated = synthetic_cell("pool-server", "io", 5.0, 4.9, 5.2, 3);
        saturated.saturation = Some(Saturation::Client);
        let run = run_of(vec![synthetic_cell("thread-server", "io", 1.0, 0.98, 1.04, 3), saturated]);
        assert_eq!(winner_sentence(&run, Workload::Io), None);
    }
}
