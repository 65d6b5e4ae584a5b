//! Open-loop load (`--rate`) against real servers: requests leave on schedule whatever the server does, their
//! latency counts from when they were due (so a server slower than the offered rate shows its queue), and
//! requests sent late or given up unsent are counted.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{run_json, start_server};
use servers::process::{workspace_binary, ServerProcess};

/// A server that answers one request at a time, each after `ms` milliseconds: pool-server with one request
/// thread, on `/say/hello?ms=`. Its capacity is 1000 / ms requests per second.
fn serial_server() -> ServerProcess {
    let mut command = Command::new(workspace_binary("pool-server"));
    command.args(["--port", "0", "--quiet", "--threads", "1"]);
    ServerProcess::start(command, Duration::from_secs(30)).expect("start pool-server")
}

#[test]
fn every_client_keeps_the_schedule_on_a_fast_server() {
    let server = start_server("smol-server");
    let url = server.url("/no/param");
    // 40 requests at 50 per second: the last one is due 0.78 s after the first, however fast the server.
    let clients: [(&str, &[&str]); 5] = [
        ("blocking-client", &[]),
        ("pool-client", &["-c", "4"]),
        ("async-client", &["-c", "4"]),
        ("async-client", &["-c", "4", "--engine", "lean"]),
        ("async-client", &["-c", "2", "--processes", "2"]),
    ];
    for (client, extra) in clients {
        let mut args = vec!["--url", url.as_str(), "-n", "40", "--rate", "50", "--warmup", "2"];
        args.extend_from_slice(extra);
        let (run, report) = run_json(client, &args);
        let what = format!("{client} {args:?}: {report:#?}");
        assert_eq!(run.code(), Some(0), "{what}\n{}", run.stderr);
        assert_eq!((report.succeeded, report.failures.unsent), (40, 0), "{what}");
        let open = report.open_loop.expect("an open-loop report");
        assert_eq!((open.rate_rps, open.late_after_us), (50.0, 1_000), "{what}");
        // Spread over the schedule (a closed-loop run of 40 empty answers takes milliseconds)…
        assert!(report.wall_s >= 0.75 && report.wall_s < 2.0, "{what}");
        // …and mostly on time: the server answers in well under the 20 ms between requests.
        assert!(open.late < 20, "{what}");
    }
}

#[test]
fn closed_loop_reports_have_no_open_loop_part() {
    let server = start_server("smol-server");
    let (_, report) = run_json("async-client", &["--url", &server.url("/no/param"), "-n", "5"]);
    assert_eq!(report.open_loop, None);
}

#[test]
fn open_loop_latency_includes_the_queue_closed_loop_hides() {
    let server = serial_server();
    // 20 ms per request, one at a time: at most 50 requests per second.
    let url = server.url("/say/hello?name=q&ms=20");
    let (_, closed) = run_json("async-client", &["--url", &url, "-n", "30", "-c", "2", "--engine", "lean"]);
    assert_eq!(closed.succeeded, 30, "{closed:#?}");
    // Offered twice its capacity for one second: request i is due at 10·i ms but answered near 20·(i+1) ms, so
    // the backlog, and the latency of the requests at the end, grows to about a second.
    let (_, open) =
        run_json("async-client", &["--url", &url, "-n", "100", "-c", "2", "--rate", "100", "--engine", "lean"]);
    assert_eq!(open.succeeded, 100, "{open:#?}");
    let (closed_p99, open_p99) = (closed.latency_us.p99, open.latency_us.p99);
    assert!(closed_p99 < 200_000, "closed-loop p99 {closed_p99} µs: the server should answer in about 40 ms");
    assert!(
        open_p99 >= 5 * closed_p99,
        "open-loop p99 {open_p99} µs is not ≥ 5 × the closed-loop p99 {closed_p99} µs:\n{open:#?}"
    );
    // The requests waited for a connection: most left late.
    assert!(open.open_loop.unwrap().late >= 50, "{open:#?}");
}

#[test]
fn requests_overdue_by_the_timeout_are_given_up_unsent() {
    let server = serial_server();
    let url = server.url("/say/hello?name=u&ms=20");
    for (client, extra) in [("blocking-client", &[][..]), ("async-client", &["-c", "1"][..])] {
        // One connection, a request due every 10 ms, 20 ms each: the backlog grows by 10 ms per request and
        // passes the 0.3 s timeout after about 30 requests; from then on overdue requests are given up.
        let mut args = vec!["--url", url.as_str(), "-n", "80", "--rate", "100", "--timeout", "0.3"];
        args.extend_from_slice(extra);
        let (run, report) = run_json(client, &args);
        let what = format!("{client}: {report:#?}");
        assert_eq!(run.code(), Some(0), "{what}\n{}", run.stderr);
        let (unsent, late) = (report.failures.unsent, report.open_loop.unwrap().late);
        assert!(unsent >= 10, "{what}");
        assert!(late >= 10, "{what}");
        assert_eq!(report.succeeded + unsent + report.failures.timeout, 80, "{what}");
        // Nothing sent waited longer than the timeout for a connection, plus its own 20 ms and some slack.
        assert!(report.latency_us.max < 600_000, "{what}");
        assert!(report.first_failure.as_deref().is_some_and(|f| f.starts_with("unsent: ")), "{what}");
    }
}
