//! The human output, shaped like the original article's clients: the start time, one line per response as it
//! arrives (status and latency), the end time, then a summary.
//!
//! ```text
//! start 2025-11-26T14:50:01.123Z  10 × http://127.0.0.1:8888/say/hello?name=Lucy (async-client, surf, 10 in flight)
//! #3    200  201.4 ms
//! ...
//! end   2025-11-26T14:50:01.331Z
//! 10 requests: 10 succeeded, 0 failed in 0.208 s (48.1 req/s)
//! latency: min 200.9 ms  p50 201.3 ms  p90 202.0 ms  p99 202.3 ms  max 202.3 ms
//! ```
//!
//! The line per response is [`crate::outcome::response_line`], printed by each worker's recorder as the
//! response arrives.

use std::time::SystemTime;

use super::Exporter;
use crate::report::{describe_urls, ClientReport, RunMeta};

/// The line printed before the first request.
pub fn start_line(meta: &RunMeta) -> String {
    let processes = if meta.processes > 1 { format!(" × {} processes", meta.processes) } else { String::new() };
    let rate = meta.rate.map(|rate| format!(" at {rate} req/s")).unwrap_or_default();
    let amount = match meta.duration {
        Some(duration) if meta.rate.is_none() => format!("{} s of", duration.as_secs_f64()),
        _ => format!("{} ×", meta.requests),
    };
    format!(
        "start {}  {amount} {}{rate} ({}, {}, {} in flight{processes}, keep-alive {})",
        now(),
        describe_urls(&meta.urls),
        meta.client,
        meta.engine,
        meta.concurrency,
        if meta.keep_alive { "on" } else { "off" },
    )
}

/// The current wall-clock time, RFC 3339 with milliseconds.
pub fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// The end time and the summary.
pub struct SummaryExporter;

impl Exporter for SummaryExporter {
    fn serialize(&self, r: &ClientReport) -> String {
        let ms = |us: u64| us as f64 / 1e3;
        let l = &r.latency_us;
        let f = &r.failures;
        let mut text = format!("end   {}\n", now());
        text += &format!(
            "{} requests: {} succeeded, {} failed in {:.3} s ({:.1} req/s)\n",
            r.requests, r.succeeded, r.failed, r.wall_s, r.throughput_rps
        );
        if r.failed > 0 {
            text += &format!(
                "failures: connect {}, timeout {}, status {}, other {}{}\n",
                f.connect,
                f.timeout,
                f.status,
                f.other,
                if f.unsent > 0 { format!(", unsent {}", f.unsent) } else { String::new() }
            );
        }
        if let Some(open) = &r.open_loop {
            text += &format!(
                "open loop: {:.1} req/s offered, {} sent late (> {} µs after their intended time), {} unsent; \
                 latency counts from the intended time\n",
                open.rate_rps, open.late, open.late_after_us, f.unsent
            );
        }
        if r.succeeded > 0 {
            text += &format!(
                "latency: min {:.1} ms  mean {:.1} ms  p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms  max {:.1} ms\n",
                ms(l.min),
                l.mean / 1e3,
                ms(l.p50),
                ms(l.p90),
                ms(l.p99),
                ms(l.max)
            );
        }
        let c = &r.cost;
        text += &format!(
            "client cost: {} threads, {} KiB peak RSS, {:.3} s user, {:.3} s sys\n",
            c.peak_threads, c.peak_rss_kib, c.user_s, c.sys_s
        );
        text
    }
}
