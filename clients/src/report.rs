//! The JSON document a client prints with `--json` (schema version 1, `clients/SCHEMA.md`): its structs live in
//! the `harness` crate ([`harness::report`]) so that the lab reads and merges reports with the same code; this
//! module builds one from a finished run. Every figure is computed once, at the end of a run, from the merged
//! per-worker `Recorder`s — nothing is shared while requests are in flight.

pub use harness::report::*;

use crate::histogram;
use crate::recorder::Recorder;
use crate::schedule::LATE_AFTER;

/// What a run was asked to do: the parts of the report that do not come from measuring.
#[derive(Debug, Clone)]
pub struct RunMeta {
    pub client: &'static str,
    pub engine: &'static str,
    /// Every `--url`, in order (at least one).
    pub urls: Vec<String>,
    /// Requests the run may send: `-n`, rate × duration, or `u64::MAX` when only the deadline ends it.
    pub requests: u64,
    /// `--duration`, when it bounded the run.
    pub duration: Option<std::time::Duration>,
    pub concurrency: u64,
    pub processes: u64,
    pub keep_alive: bool,
    /// `--rate`: open-loop load at this many requests per second in total; `None` for closed loop.
    pub rate: Option<f64>,
}

/// Builds the report of a finished run from the merged recorder.
pub fn from_run(meta: &RunMeta, recorder: &Recorder, wall_s: f64, cost: Cost) -> ClientReport {
    let succeeded = recorder.succeeded();
    let failures = *recorder.failures();
    ClientReport {
        schema_version: SCHEMA_VERSION,
        client: meta.client.to_string(),
        engine: meta.engine.to_string(),
        url: meta.urls.first().cloned().unwrap_or_default(),
        urls: meta.urls.clone(),
        // A duration-bound run counts what completed; a count-bound one records every request it numbered.
        requests: if meta.duration.is_some() { succeeded + failures.total() } else { meta.requests },
        bound: if meta.duration.is_some() { Bound::Duration } else { Bound::Requests },
        duration_s: meta.duration.map(|d| d.as_secs_f64()),
        concurrency: meta.concurrency,
        processes: meta.processes,
        keep_alive: meta.keep_alive,
        succeeded,
        failed: failures.total(),
        failures,
        wall_s,
        throughput_rps: if wall_s > 0.0 { succeeded as f64 / wall_s } else { 0.0 },
        latency_us: recorder.latency(),
        latency_histogram_us: Some(histogram::encode(recorder.histogram())),
        open_loop: meta.rate.map(|rate_rps| OpenLoop {
            rate_rps,
            late: recorder.late(),
            late_after_us: LATE_AFTER.as_micros() as u64,
        }),
        cost,
        first_failure: recorder.first_failure().map(str::to_string),
        connect_us: recorder.connect_time(),
        timeline: recorder.timeline(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_one_line() {
        let urls = |list: &[&str]| list.iter().map(|u| u.to_string()).collect::<Vec<_>>();
        assert_eq!(describe_urls(&urls(&["http://h:1/a?x=1"])), "http://h:1/a?x=1");
        assert_eq!(
            describe_urls(&urls(&["http://h:1/a", "http://h:1/b?n=5", "http://h:1/"])),
            "http://h:1/a, /b?n=5, / in turn"
        );
        assert_eq!(describe_urls(&[]), "");
    }

    #[test]
    fn documents_without_urls_still_parse() {
        let meta = RunMeta {
            client: "blocking-client",
            engine: "ureq",
            urls: vec!["http://h:1/a".into(), "http://h:1/b".into()],
            requests: 2,
            duration: None,
            concurrency: 1,
            processes: 1,
            keep_alive: true,
            rate: None,
        };
        let report = from_run(&meta, &Recorder::new(false), 0.5, Cost::default());
        assert_eq!((report.url.as_str(), report.urls.len()), ("http://h:1/a", 2));
        let mut json: serde_json::Value = serde_json::to_value(&report).unwrap();
        assert_eq!(json["urls"], serde_json::json!(["http://h:1/a", "http://h:1/b"]));
        json.as_object_mut().unwrap().remove("urls");
        json.as_object_mut().unwrap().remove("bound");
        json.as_object_mut().unwrap().remove("duration_s");
        let old: ClientReport = serde_json::from_value(json).unwrap();
        assert!(old.urls.is_empty());
        assert_eq!((old.bound, old.duration_s), (Bound::Requests, None));
        assert!(
            old.all_failed_reason().starts_with("all 2 requests to http://h:1/a failed"),
            "{}",
            old.all_failed_reason()
        );
    }
}
