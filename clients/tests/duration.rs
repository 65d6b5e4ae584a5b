//! `--duration`: a run bounded by time instead of a count, against real servers. Every connection keeps
//! sending until the deadline, no request starts after it, and the requests in flight at the deadline are
//! finished, not cut.

mod common;

use clients::report::Bound;
use common::{run_json, start_server};

/// Every client shape: one thread, a pool, both async engines, several processes.
const CLIENTS: [(&str, &[&str]); 6] = [
    ("blocking-client", &[]),
    ("pool-client", &["-c", "4"]),
    ("async-client", &["-c", "4"]),
    ("async-client", &["-c", "4", "--engine", "lean"]),
    ("async-client", &["-c", "4", "--engine", "loop"]),
    ("async-client", &["-c", "2", "--processes", "2"]),
];

#[test]
fn a_one_second_run_lasts_a_second_and_counts_what_completed() {
    let server = start_server("smol-server");
    let url = server.url("/no/param");
    for (client, extra) in CLIENTS {
        let mut args = vec!["--url", url.as_str(), "--duration", "1", "--warmup", "4"];
        args.extend_from_slice(extra);
        let (run, report) = run_json(client, &args);
        let what = format!("{client} {args:?}: {report:#?}");
        assert_eq!(run.code(), Some(0), "{what}\n{}", run.stderr);
        assert_eq!((report.bound, report.duration_s), (Bound::Duration, Some(1.0)), "{what}");
        // An empty answer takes well under a millisecond: the deadline, not a count, ended the run.
        assert!(report.requests > 10 && report.failed == 0, "{what}");
        assert!(report.wall_s >= 1.0 && report.wall_s < 1.5, "{what}");
        // The whole process (start-up and warm-up included) is bounded too.
        assert!(run.elapsed.as_secs_f64() < 4.0, "{what}: took {:?}", run.elapsed);
        let rate = report.succeeded as f64 / report.wall_s;
        assert!((report.throughput_rps - rate).abs() < 1e-6 * rate, "{what}");
    }
}

#[test]
fn a_slow_request_in_flight_at_the_deadline_is_finished() {
    let server = start_server("smol-server");
    // Each request takes 0.7 s: on every connection, one starts at 0 and one at 0.7 s, before the 1 s deadline;
    // the second ends at 1.4 s, after it. None starts at 1.4 s.
    let url = server.url("/say/hello?name=d&ms=700");
    for (client, extra) in CLIENTS {
        let mut args = vec!["--url", url.as_str(), "--duration", "1", "--timeout", "5"];
        args.extend_from_slice(extra);
        let (run, report) = run_json(client, &args);
        let what = format!("{client} {args:?}: {report:#?}");
        assert_eq!(run.code(), Some(0), "{what}\n{}", run.stderr);
        let connections = report.concurrency * report.processes;
        assert_eq!((report.requests, report.succeeded), (2 * connections, 2 * connections), "{what}");
        assert!(report.wall_s >= 1.38 && report.wall_s < 2.0, "{what}");
        assert!(report.latency_us.min >= 690_000, "{what}");
    }
}

#[test]
fn with_a_rate_the_duration_is_the_schedule_length() {
    let server = start_server("smol-server");
    let url = server.url("/no/param");
    for (client, extra) in [("pool-client", &["-c", "4"][..]), ("async-client", &["-c", "2", "--processes", "2"])] {
        let mut args = vec!["--url", url.as_str(), "--duration", "0.8", "--rate", "50"];
        args.extend_from_slice(extra);
        let (run, report) = run_json(client, &args);
        let what = format!("{client} {args:?}: {report:#?}");
        assert_eq!(run.code(), Some(0), "{what}\n{}", run.stderr);
        assert_eq!((report.bound, report.requests, report.succeeded), (Bound::Duration, 40, 40), "{what}");
        // The last of 40 requests at 50 per second is due at 0.78 s.
        assert!(report.wall_s >= 0.75 && report.wall_s < 1.5, "{what}");
    }
}

#[test]
fn counted_runs_say_so() {
    let server = start_server("smol-server");
    let url = server.url("/no/param");
    let (_, report) = run_json("async-client", &["--url", url.as_str(), "-n", "7"]);
    assert_eq!((report.bound, report.duration_s, report.requests), (Bound::Requests, None, 7));
}
