//! The JSON report and the human output against a real server: counts add up, every kind of failure is
//! counted as what it is, and a run where everything failed says so and exits non-zero.

mod common;

use std::net::TcpListener;

use common::{run, run_json, start_server};

/// Each client (and each async engine), as arguments before the common ones.
const CLIENTS: [(&str, &[&str]); 5] = [
    ("blocking-client", &[]),
    ("pool-client", &["-c", "3"]),
    ("async-client", &["-c", "3"]),
    ("async-client", &["-c", "3", "--engine", "lean"]),
    ("async-client", &["-c", "3", "--engine", "loop"]),
];

fn with(base: &[&str], more: &[&str]) -> Vec<String> {
    base.iter().chain(more).map(|s| s.to_string()).collect()
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn successful_runs_add_up() {
    let server = start_server("smol-server");
    let url = server.url("/no/param");
    for (client, base) in CLIENTS {
        for keep_alive in ["on", "off"] {
            let args = with(base, &["--url", &url, "-n", "40", "--warmup", "5", "--keep-alive", keep_alive]);
            let (run, report) = run_json(client, &as_strs(&args));
            let what = format!("{client} {args:?}: {report:#?}");
            assert_eq!(run.code(), Some(0), "{what}\n{}", run.stderr);
            assert_eq!((report.requests, report.succeeded, report.failed), (40, 40, 0), "{what}");
            assert_eq!(report.keep_alive, keep_alive == "on", "{what}");
            let l = report.latency_us;
            assert!(l.min > 0 && l.min <= l.p50 && l.p50 <= l.p90 && l.p90 <= l.p99, "{what}");
            assert!(l.p99 <= l.p999 && l.p999 <= l.max && l.mean >= l.min as f64, "{what}");
            assert!((report.throughput_rps - 40.0 / report.wall_s).abs() < 1e-6 * report.throughput_rps, "{what}");
            assert!(report.cost.peak_threads >= 1 && report.cost.peak_rss_kib > 0, "{what}");
            assert_eq!(report.first_failure, None, "{what}");
            // Connect times: only the lean engine opens (and so times) its own sockets; without keep-alive each
            // counted request opened one.
            match (report.engine.as_str(), keep_alive) {
                ("lean" | "loop", "off") => {
                    let c = report.connect_us.unwrap_or_else(|| panic!("no connect times: {what}"));
                    assert_eq!(c.connections, 40, "{what}");
                    let c = c.us;
                    assert!(c.min <= c.p50 && c.p50 <= c.p99 && c.p99 <= c.max && c.max < l.max, "{what}");
                }
                ("lean" | "loop", _) => {}
                _ => assert_eq!(report.connect_us, None, "{what}"),
            }
        }
    }
}

/// `--source-addresses 3`: the lean engine's connections to a loopback server come from 127.0.0.1, .2 and .3,
/// in every process of `--processes`.
#[test]
fn lean_connections_spread_over_source_addresses() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/x", listener.local_addr().unwrap());
    let peers = std::thread::spawn(move || {
        let mut peers = Vec::new();
        for stream in listener.incoming().take(6) {
            let mut stream = stream.unwrap();
            peers.push(stream.peer_addr().unwrap().ip().to_string());
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut buffer = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                }
            });
        }
        peers
    });
    let args = [
        "--engine",
        "lean",
        "--source-addresses",
        "3",
        "--processes",
        "2",
        "--url",
        &url,
        "-n",
        "6",
        "-c",
        "3",
        "--warmup",
        "0",
    ];
    let (run, report) = run_json("async-client", &args);
    assert_eq!((run.code(), report.succeeded), (Some(0), 6), "{report:#?}\n{}", run.stderr);
    assert_eq!(report.connect_us.map(|c| c.connections), Some(6));
    let mut peers = peers.join().unwrap();
    peers.sort();
    assert_eq!(peers, ["127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3"]);
}

#[test]
fn report_has_every_schema_field() {
    let server = start_server("smol-server");
    let run = run("async-client", &["--url", &server.url("/no/param"), "-n", "3", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    for key in [
        "schema_version",
        "client",
        "engine",
        "url",
        "requests",
        "concurrency",
        "processes",
        "keep_alive",
        "succeeded",
        "failed",
        "failures",
        "wall_s",
        "throughput_rps",
        "latency_us",
        "latency_histogram_us",
        "open_loop",
        "cost",
    ] {
        assert!(json.get(key).is_some(), "missing {key} in {json}");
    }
    for key in ["connect", "timeout", "status", "other", "unsent"] {
        assert!(json["failures"][key].is_u64(), "failures.{key} in {json}");
    }
    for key in ["min", "p50", "p90", "p99", "p999", "max"] {
        assert!(json["latency_us"][key].is_u64(), "latency_us.{key} in {json}");
    }
    assert!(json["latency_us"]["mean"].is_f64());
    for key in ["peak_threads", "peak_rss_kib"] {
        assert!(json["cost"][key].is_u64(), "cost.{key} in {json}");
    }
    for key in ["user_s", "sys_s"] {
        assert!(json["cost"][key].is_f64(), "cost.{key} in {json}");
    }
    assert_eq!(json["engine"], "surf");
    assert!(json["latency_histogram_us"].as_str().is_some_and(|h| h.starts_with("HISTF")), "{json}");
    assert!(json["open_loop"].is_null(), "{json}");
}

/// Every request fails the same way: the JSON counts them all as `kind`, and the client exits 1 with one line.
fn assert_all_failed(client: &str, args: &[String], kind: &str, requests: u64) {
    let (run, report) = run_json(client, &as_strs(args));
    let what = format!("{client} {args:?}: {report:#?}\nstderr: {}", run.stderr);
    assert_eq!(run.code(), Some(1), "{what}");
    assert_eq!((report.succeeded, report.failed), (0, requests), "{what}");
    let f = report.failures;
    let counted = match kind {
        "connect" => f.connect,
        "timeout" => f.timeout,
        "status" => f.status,
        "other" => f.other,
        _ => unreachable!(),
    };
    assert_eq!(counted, requests, "{what}");
    assert_eq!(report.latency_us, Default::default(), "{what}");
    let stderr = run.stderr.trim_end();
    assert_eq!(stderr.lines().count(), 1, "{what}");
    assert!(stderr.contains("failed") && stderr.contains(kind), "{what}");
}

#[test]
fn refused_connections_are_connect_failures() {
    // A port that was free a moment ago and that nobody listens on now.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/say/hello");
    for (client, base) in CLIENTS {
        assert_all_failed(client, &with(base, &["--url", &url, "-n", "3"]), "connect", 3);
    }
}

#[test]
fn slow_responses_are_timeouts() {
    let server = start_server("smol-server");
    let url = server.url("/say/hello?name=Lucy&ms=2000");
    for (client, base) in CLIENTS {
        let args = with(base, &["--url", &url, "-n", "2", "--timeout", "0.2"]);
        let started = std::time::Instant::now();
        assert_all_failed(client, &args, "timeout", 2);
        // Given up after 0.2 s per request, not after the server's 2 s.
        assert!(started.elapsed().as_secs_f64() < 1.5, "{client} {args:?} took {:?}", started.elapsed());
    }
}

#[test]
fn a_late_response_is_never_taken_for_the_next_one() {
    // Each request times out 50 ms before its response arrives. A client that reused the connection would
    // read that late response as the next request's, and count a fast success.
    let server = start_server("smol-server");
    let url = server.url("/say/hello?name=Lucy&ms=300");
    let one_at_a_time: [(&str, &[&str]); 5] = [
        ("blocking-client", &[]),
        ("pool-client", &["-c", "1"]),
        ("async-client", &["-c", "1"]),
        ("async-client", &["-c", "1", "--engine", "lean"]),
        ("async-client", &["-c", "1", "--engine", "loop"]),
    ];
    std::thread::scope(|scope| {
        for (client, base) in one_at_a_time {
            let url = &url;
            scope.spawn(move || {
                let args = with(base, &["--url", url, "-n", "3", "--timeout", "0.25"]);
                assert_all_failed(client, &args, "timeout", 3);
            });
        }
    });
}

#[test]
fn bad_requests_are_status_failures() {
    let server = start_server("thread-server");
    let url = server.url("/fact?n=x");
    for (client, base) in CLIENTS {
        assert_all_failed(client, &with(base, &["--url", &url, "-n", "4"]), "status", 4);
    }
}

/// A small HTTP/1.1 responder on a real socket whose answers rotate through three framings the servers of
/// the lab do not all produce: a chunked 200, a 500 with a body, and a 200 with `Connection: close` (after
/// which it closes the connection). Returns its port; it runs until the test process exits.
fn rotating_responder() -> u16 {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};

    // One count per responder, shared by its connections' threads (leaked: it lives as long as they do).
    let served: &'static AtomicU64 = Box::leak(Box::new(AtomicU64::new(0)));
    common::responder(move |mut reader, mut writer| {
        // Read one request head at a time (GETs have no body).
        while common::read_head(&mut reader) {
            let (response, close): (&[u8], bool) = match served.fetch_add(1, Ordering::SeqCst) % 3 {
                0 => (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1\r\n!\r\n0\r\n\r\n", false),
                1 => (b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops", false),
                _ => (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", true),
            };
            if writer.write_all(response).is_err() || close {
                return;
            }
        }
    })
}

#[test]
fn mixed_outcomes_are_counted_and_exit_0() {
    for (client, base) in CLIENTS {
        let url = format!("http://127.0.0.1:{}/mixed", rotating_responder());
        let args = with(base, &["--url", &url, "-n", "9"]);
        let (run, report) = run_json(client, &as_strs(&args));
        let what = format!("{client} {args:?}: {report:#?}\nstderr: {}", run.stderr);
        // Whatever the order, every third response is a 500.
        assert_eq!((report.succeeded, report.failures.status, report.failed), (6, 3, 3), "{what}");
        assert_eq!(report.first_failure.as_deref(), Some("status: HTTP 500"), "{what}");
        assert_eq!(run.code(), Some(0), "{what}");
    }
}

#[test]
fn human_output_has_start_lines_end_and_summary() {
    let server = start_server("smol-server");
    let url = server.url("/say/hello?name=Lucy&ms=10");
    for (client, base) in CLIENTS {
        let args = with(base, &["--url", &url, "-n", "6"]);
        let run = run(client, &as_strs(&args));
        assert_eq!(run.code(), Some(0), "{client}: {}", run.stderr);
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert!(lines[0].starts_with("start "), "{}", run.stdout);
        let responses: Vec<&&str> = lines.iter().filter(|line| line.starts_with('#')).collect();
        assert_eq!(responses.len(), 6, "{}", run.stdout);
        assert!(responses.iter().all(|line| line.contains(" 200 ") && line.ends_with(" ms")), "{}", run.stdout);
        for n in 1..=6 {
            assert!(responses.iter().any(|line| line.starts_with(&format!("#{n} "))), "#{n}: {}", run.stdout);
        }
        assert!(lines.iter().any(|line| line.starts_with("end ")), "{}", run.stdout);
        assert!(run.stdout.contains("6 requests: 6 succeeded, 0 failed"), "{}", run.stdout);
    }
}

#[test]
fn all_failed_in_human_mode_is_one_line_on_stderr() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let run = run("blocking-client", &["--url", &format!("http://127.0.0.1:{port}/"), "-n", "2"]);
    assert_eq!(run.code(), Some(1));
    assert_eq!(run.stderr.trim_end().lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.starts_with("blocking-client: all 2 requests"), "{}", run.stderr);
}

/// A responder that announces 1,000 bytes, sends 10 and closes: every engine must count a failure, not a
/// short success (async-h1, under surf, ends such a body without an error).
fn cut_body_responder() -> u16 {
    use std::io::Write;

    common::responder(|mut reader, mut writer| {
        common::read_head(&mut reader);
        let _ = writer.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789");
    })
}

#[test]
fn a_body_cut_short_is_a_failure() {
    let url = format!("http://127.0.0.1:{}/cut", cut_body_responder());
    for (client, base) in CLIENTS {
        assert_all_failed(client, &with(base, &["--url", &url, "-n", "3", "--timeout", "5"]), "other", 3);
    }
}
