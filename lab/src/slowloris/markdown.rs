//! `slowloris-<run-id>.md`: one table across the servers, a sentence each, and their second-by-second timelines.

use crate::export::markdown;
use crate::export::table::Table;
use crate::format;
use crate::records::run::Status;
use crate::records::slowloris::SlowlorisRun;
use crate::row;
use std::fmt::Write;

pub fn render(run: &SlowlorisRun) -> String {
    let mut md = String::new();
    let s = &run.settings;
    let title = format!("Slow clients (slowloris) — run {}", run.run_id);
    markdown::opening(&title, &run.header, "the servers not reached are marked skipped", &mut md);
    let timeout = s.header_timeout_s.map_or("each server's default (10 s for the lab's servers)".to_string(), |t| {
        format!("`--header-timeout-s {t}`")
    });
    let _ = writeln!(
        md,
        "{} connections per server, each sending a request head one byte a second (`{}` then `a` forever: the head \
         never ends) for {}, loopback only. Header timeout: {timeout}. Meanwhile `GET /no/param` on a fresh connection \
         every {} ms (timeout {}). The figures are in [slowloris-{}.json](slowloris-{}.json) (schema: lab/SCHEMA.md).\n",
        format::thousands(s.connections),
        s.head_prefix.escape_debug(),
        format::seconds(s.duration_s),
        s.probe_interval_ms,
        format::seconds(s.probe_timeout_s),
        run.run_id,
        run.run_id
    );
    let mut table = Table::new(&[
        "server",
        "opened",
        "dropped",
        "first drop",
        "90 % dropped",
        "median lifetime",
        "peak threads",
        "peak RSS",
        "probes within 1 s",
        "probe p50",
        "p99",
        "max",
        "failed",
        "longest stall",
    ]);
    let secs = |v: Option<f64>| v.map_or("—".to_string(), format::seconds);
    let us = |v: Option<f64>| v.map_or("—".to_string(), format::micros);
    for server in &run.servers {
        let (a, p, c) = (&server.attack, &server.probes, &server.server_cost);
        if server.status == Status::Skipped || (server.status == Status::Failed && a.opened == 0) {
            let mut cells = vec![String::new(); 14];
            cells[0] = server.server.clone();
            cells[1] = server.reason.clone().unwrap_or_default().replace('|', "\\|");
            table.row(cells);
            continue;
        }
        table.row(row![
            server.server,
            format::thousands(a.opened),
            format::thousands(a.dropped),
            secs(a.first_drop_s),
            secs(a.most_dropped_s),
            secs(a.median_lifetime_s),
            c.peak_threads,
            format::kib(c.peak_rss_kib),
            format!("{} / {}", p.within_1s, p.sent),
            us(p.p50_us),
            us(p.p99_us),
            us(p.max_us),
            p.failed,
            if p.longest_stall_s > 0.0 { format::seconds(p.longest_stall_s) } else { "none".to_string() }
        ]);
    }
    table.write(&mut md);
    let _ = writeln!(md, "\n## What it shows\n");
    for server in &run.servers {
        let _ = writeln!(md, "- {}", server.verdict);
    }
    let _ = writeln!(md, "\n## Second by second\n");
    for server in run.servers.iter().filter(|s| !s.timeline.is_empty()) {
        let _ = writeln!(md, "<details><summary>{}</summary>\n", server.server);
        let mut table =
            Table::new(&["second", "attack connections open", "probes ok / sent", "slowest probe", "threads", "RSS"]);
        for t in &server.timeline {
            table.row(row![
                t.second,
                t.attack_open,
                format!("{} / {}", t.probes_ok, t.probes),
                t.probe_max_ms.map_or("—".to_string(), |ms| format::seconds(ms / 1000.0)),
                t.server_threads.map_or("—".to_string(), |n| n.to_string()),
                t.server_rss_kib.map_or("—".to_string(), format::kib)
            ]);
        }
        table.write(&mut md);
        let _ = writeln!(md, "\n</details>\n");
    }
    let failed: Vec<_> =
        run.servers.iter().filter(|s| s.stderr_tail.as_deref().is_some_and(|t| !t.is_empty())).collect();
    for server in failed {
        let _ = writeln!(
            md,
            "{} stderr (last lines):\n\n```\n{}\n```\n",
            server.server,
            server.stderr_tail.clone().unwrap_or_default()
        );
    }
    let _ = writeln!(md, "## This run\n");
    let times = [run.started_at.as_str(), &run.finished_at, run.build.as_str(), &run.bin_dir];
    markdown::command_lines(&mut md, &run.environment, times);
    markdown::machine_lines(&mut md, &run.environment);
    let e = &run.environment;
    let _ = writeln!(
        md,
        "- Code: commit {}{} · {}",
        e.git_commit,
        if e.git_dirty { " (with uncommitted changes)" } else { "" },
        e.rustc
    );
    for server in &run.servers {
        if !server.command.is_empty() {
            let _ = writeln!(md, "- {}: `{}`", server.server, server.command);
        }
    }
    for note in &run.notes {
        let _ = writeln!(md, "- {note}");
    }
    md
}
