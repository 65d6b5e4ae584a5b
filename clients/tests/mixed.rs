//! A repeated `--url` (the lab's `mixed` workload): requests cycle through the URLs on every client and engine,
//! with and without `--processes`, each URL getting exactly its share — counted by the server's access log, not
//! by the client — over connections shared between the URLs. URLs on different origins are refused.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{run, run_json, start_logging_server};
use servers::process::ServerProcess;

/// The URLs cycled through, by path and query: an empty 200, a factorial, a SQLite read.
const PATHS: [&str; 3] = ["/no/param", "/fact?n=5", "/db/visits?name=x"];

/// What the server's access log says about the requests to `PATHS`.
struct Logged {
    /// Requests per path with a 200.
    ok: BTreeMap<String, u64>,
    /// Log lines for these paths with any other status.
    not_ok: Vec<String>,
    /// Client ends (`IP:PORT`) of the connections the requests came on, with the requests each carried.
    peers: BTreeMap<String, u64>,
}

/// Reads the access log until it holds `expected` lines for `PATHS` (the last lines may still be in the pipe
/// when the client exits), then a little longer in case of extra ones.
fn wait_for_log(server: &ServerProcess, expected: u64) -> Logged {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let logged = read_log(server);
        let total = logged.ok.values().sum::<u64>() + logged.not_ok.len() as u64;
        if total >= expected || Instant::now() > deadline {
            return logged;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read_log(server: &ServerProcess) -> Logged {
    let mut logged = Logged { ok: BTreeMap::new(), not_ok: Vec::new(), peers: BTreeMap::new() };
    for line in server.stderr_lines() {
        // TIME STATUS METHOD TARGET PEER DURATION
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [_, status, "GET", target, peer, _] = fields[..] else { continue };
        if !PATHS.contains(&target) {
            continue;
        }
        *logged.peers.entry(peer.to_string()).or_default() += 1;
        if status == "200" {
            *logged.ok.entry(target.to_string()).or_default() += 1;
        } else {
            logged.not_ok.push(line.clone());
        }
    }
    logged
}

/// How many connections a client may open for `in_flight` requests at once.
#[derive(Clone, Copy)]
enum Connections {
    /// At most one per request in flight, for the whole run: the lab's own engines and clients.
    Shared,
    /// surf (http-client 6.5.3's h1 pool): the same, plus connections that each carried a single request. The
    /// pool for a host is looked up and, when missing, created and inserted in two steps (h1/mod.rs, `send`), so
    /// slots whose first requests start together may each create a pool; all but the last inserted are dropped
    /// after that one request, with their connection. Measured: 29 of 150 runs of `-c 4 -n 30 --warmup 3`
    /// opened a fifth connection, and every extra one carried one request.
    SharedAfterPoolRace,
}

/// A client's run: its name, flags, requests, warm-up requests, requests in flight at once, connection rule.
type Case = (&'static str, &'static [&'static str], u64, u64, usize, Connections);

#[test]
fn requests_cycle_through_the_urls_on_every_client() {
    use Connections::{Shared, SharedAfterPoolRace};
    let cases: [Case; 9] = [
        ("blocking-client", &[], 30, 3, 1, Shared),
        ("pool-client", &["-c", "3"], 30, 3, 3, Shared),
        ("async-client", &["-c", "4", "--engine", "surf"], 30, 3, 4, SharedAfterPoolRace),
        ("async-client", &["-c", "4", "--engine", "lean"], 30, 3, 4, Shared),
        ("async-client", &["-c", "4", "--engine", "loop"], 30, 3, 4, Shared),
        // 33 requests over 2 processes: 17 + 16. The second child's first request is number 17, so only a
        // cycle that runs over the whole run (not restarting in each child) gives every URL exactly 11.
        // Warm-up is 0 here: each child numbers its own warm-up from 0.
        ("async-client", &["-c", "2", "--processes", "2", "--engine", "surf"], 33, 0, 4, SharedAfterPoolRace),
        ("async-client", &["-c", "2", "--processes", "2", "--engine", "lean"], 33, 0, 4, Shared),
        ("async-client", &["-c", "5", "--threads", "2", "--engine", "lean"], 60, 0, 5, Shared),
        ("async-client", &["-c", "2", "--processes", "2", "--engine", "loop"], 33, 0, 4, Shared),
    ];
    for (client, flags, requests, warmup, in_flight, rule) in cases {
        // A fresh server per run, so that its access log holds this run only.
        let server = start_logging_server("smol-server");
        let urls: Vec<String> = PATHS.iter().map(|path| server.url(path)).collect();
        let mut args: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
        for url in &urls {
            args.extend(["--url".to_string(), url.clone()]);
        }
        args.extend(["-n".into(), requests.to_string(), "--warmup".into(), warmup.to_string()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (run, report) = run_json(client, &args);
        let what = format!("{client} {args:?}");
        assert_eq!(run.code(), Some(0), "{what}: {}", run.stderr);
        assert_eq!((report.requests, report.succeeded, report.failed), (requests, requests, 0), "{what}: {report:#?}");
        assert_eq!(report.url, urls[0], "{what}");
        assert_eq!(report.urls, urls, "{what}");

        let total = requests + warmup;
        let logged = wait_for_log(&server, total);
        assert!(logged.not_ok.is_empty(), "{what}: requests failed on the server: {:?}", logged.not_ok);
        let share = total / PATHS.len() as u64;
        let expected: BTreeMap<String, u64> = PATHS.iter().map(|path| (path.to_string(), share)).collect();
        assert_eq!(logged.ok, expected, "{what}: requests per URL");
        // Connections are shared between the URLs: no more of them than requests in flight (surf: no more that
        // carried several requests, and at most one single-request connection per slot beside them).
        let reused = logged.peers.values().filter(|&&carried| carried > 1).count();
        let (reused_at_most, all_at_most) = match rule {
            Shared => (in_flight, in_flight),
            SharedAfterPoolRace => (in_flight, 2 * in_flight),
        };
        assert!(
            !logged.peers.is_empty() && reused <= reused_at_most && logged.peers.len() <= all_at_most,
            "{what}: {} connections ({reused} carried more than one request) for {in_flight} in flight: {:?}",
            logged.peers.len(),
            logged.peers
        );
    }
}

#[test]
fn human_output_names_every_url() {
    let server = start_logging_server("smol-server");
    let (first, second) = (server.url("/no/param"), server.url("/fact?n=5"));
    let run = run("blocking-client", &["--url", &first, "--url", &second, "-n", "4"]);
    assert_eq!(run.code(), Some(0), "{run:?}");
    let start = run.stdout.lines().next().unwrap_or_default();
    assert!(start.contains(&format!("4 × {first}, /fact?n=5 in turn")), "{start}");
    assert!(run.stdout.contains("4 requests: 4 succeeded"), "{}", run.stdout);
}

#[test]
fn urls_on_different_origins_exit_2() {
    let a = "http://127.0.0.1:8081/no/param";
    let others = ["http://127.0.0.1:8082/no/param", "http://localhost:8081/no/param"];
    for client in ["blocking-client", "pool-client", "async-client"] {
        for other in others {
            for args in [vec!["--url", a, "--url", other], vec!["--url", a, "--url", a, "--url", other, "-n", "3"]] {
                let run = run(client, &args);
                let what = format!("{client} {args:?}: {run:?}");
                assert_eq!(run.code(), Some(2), "{what}");
                assert_eq!(run.stderr.trim_end().lines().count(), 1, "{what}");
                assert!(run.stderr.starts_with(&format!("{client}: --url {other}: ")), "{what}");
                assert!(run.stderr.contains("origin http://127.0.0.1:8081"), "{what}");
                assert!(run.stdout.is_empty(), "{what}");
            }
        }
    }
    // And the children of --processes never see such a command line: the parent refuses it first.
    let run = run("async-client", &["--url", a, "--url", others[0], "--processes", "2"]);
    assert_eq!(run.code(), Some(2), "{run:?}");
}
