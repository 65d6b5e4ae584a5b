//! The servers held against each other: every hostile-catalogue case and a seeded corpus of mutated valid
//! requests go to every server binary, and their normalised outcomes must agree — exactly between servers on
//! the same HTTP implementation, and across implementations except where [`ALLOWED`] says why they may differ.
//!
//! A normalised outcome ([`Observation`]) is what a client can rely on: the responses the *workload* gave
//! (status and body), in order, and whether the connection was closed afterwards. Rejections produced by the
//! HTTP library itself (hyper's or tiny_http's 400, 408, 431, 501, 505, without the server's `Server` header)
//! count as the connection being refused, and so does any 4xx or 5xx after which the server closed the
//! connection: which code a server picks for a message it refuses is its own business (RFC 9112 allows 400 or
//! a close), whether it answered the request is not.
//!
//! The corpus is reproducible: `DIFFERENTIAL_SEED=N` (default 1) and `DIFFERENTIAL_CASES=M` (default 120);
//! a failure prints the seed and each input in the catalogue's escape syntax, ready to become a case file.
//! The comparison itself is the `compare` module, reusable on other servers (`lab verify`): see its docs.

mod common;

use common::Server;
use harness::catalogue::{load_catalogue, Family};
use harness::compare::*;
use std::collections::BTreeMap;
use std::net::SocketAddr;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One input and what each server made of it.
struct Row {
    label: String,
    input: Vec<u8>,
    head_steps: Vec<usize>,
    close_write: bool,
    /// The case file's `# differs:` reason, for catalogue cases that have one.
    differs: Option<String>,
}

#[test]
fn every_server_agrees_on_the_catalogue_and_the_corpus() {
    let seed = env_number("DIFFERENTIAL_SEED", 1);
    let cases = env_number("DIFFERENTIAL_CASES", 120) as usize;
    let mut rows: Vec<Row> = load_catalogue()
        .into_iter()
        .map(|case| Row {
            label: case.name,
            input: case.request,
            head_steps: case.head_steps,
            close_write: case.close_write,
            differs: case.differs,
        })
        .collect();
    rows.extend(corpus(seed, cases).into_iter().enumerate().map(|(i, input)| Row {
        label: format!("corpus seed {seed} #{i}"),
        input,
        head_steps: Vec::new(),
        close_write: false,
        differs: None,
    }));

    let names = common::server_names();
    // Every server at once, each input on a fresh connection, several inputs in flight: an input a server waits
    // out costs the 1 s header timeout, on one connection while the others go on.
    let observations: BTreeMap<&str, Vec<Observation>> = std::thread::scope(|scope| {
        let handles: Vec<_> = names
            .iter()
            .map(|&name| {
                let rows = &rows;
                scope.spawn(move || {
                    let server = Server::start(name, &["--header-timeout-s", "1"]);
                    let seen = observe_all(server.addr(), rows);
                    (name, seen)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a server's observations")).collect()
    });

    let mut failures = Vec::new();
    let mut allowed_used: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, row) in rows.iter().enumerate() {
        let seen: Vec<(&str, &Observation)> = names.iter().map(|&n| (n, &observations[n][i])).collect();
        for (name, observation) in &seen {
            if let Some(garbage) = &observation.garbage {
                failures.push(format!("{}: {name} sent garbage: {garbage}", row.label));
            }
        }
        let (first_name, first) = seen[0];
        for &(name, observation) in &seen[1..] {
            if agree(observation, first) {
                continue;
            }
            let same_family = Family::of(name) == Family::of(first_name);
            let reason = match (&row.differs, allowed_difference(&row.input, first, observation)) {
                _ if announced_stop(first, observation) => Some("stopped with Connection: close"),
                _ if same_family => None,
                (Some(_), _) => Some("the case's `# differs:` line"),
                (None, Some(allowed)) => Some(allowed.name),
                (None, None) => None,
            };
            match reason {
                Some(reason) => *allowed_used.entry(reason).or_default() += 1,
                None => failures.push(format!(
                    "{}: {first_name} {first:?} but {name} {observation:?}\n    input: {}",
                    row.label,
                    as_case_text(&row.input)
                )),
            }
        }
    }
    println!(
        "{} inputs ({} catalogue cases, {cases} corpus, seed {seed}) on {names:?}",
        rows.len(),
        rows.len() - cases
    );
    println!("allowed differences used: {allowed_used:?}");
    assert!(
        failures.is_empty(),
        "{} disagreements (DIFFERENTIAL_SEED={seed} DIFFERENTIAL_CASES={cases} repeats this run):\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

/// Observes every row on one server, 8 connections in flight: as one row's observation ends (answered, closed, or
/// timed out), the next row's connection opens. Results in the rows' order.
fn observe_all(addr: SocketAddr, rows: &[Row]) -> Vec<Observation> {
    harness::parallel::map_in_flight(rows, 8, |row| observe(addr, &row.input, &row.head_steps, row.close_write))
}

/// The bytes in the catalogue's escape syntax (tests/hostile/README.md), to paste into a case file.
fn as_case_text(bytes: &[u8]) -> String {
    let mut text = String::new();
    for &b in bytes {
        match b {
            b'\r' => text.push_str("\\r"),
            b'\n' => text.push_str("\\n"),
            b'\t' => text.push_str("\\t"),
            b'\\' => text.push_str("\\\\"),
            0x20..=0x7e => text.push(b as char),
            _ => text.push_str(&format!("\\x{b:02x}")),
        }
    }
    text
}

#[test]
fn the_corpus_is_reproducible_and_the_server_list_is_the_macros() {
    assert_eq!(corpus(7, 50), corpus(7, 50), "the same seed gives the same corpus");
    assert_ne!(corpus(7, 50), corpus(8, 50), "another seed gives another corpus");
    let names = common::server_names();
    for name in ["thread-server", "pool-server", "async-std-server", "smol-server"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    assert!(strict_request_line(b"GET /fact?n=1 HTTP/1.1"));
    assert!(!strict_request_line(b"GET  /fact HTTP/1.1"));
    for base in [BASES[2], BASES[3], BASES[4]] {
        let lines: Vec<&[u8]> = request_lines(base.as_bytes()).collect();
        assert_eq!(lines.len(), 2, "{base:?}: {lines:?}");
        assert!(lines.iter().all(|line| strict_request_line(line)), "{base:?}: {lines:?}");
    }
    let answered =
        Observation { answers: vec![(200, "6".into())], closed: true, announced_close: false, garbage: None };
    let refused = Observation { answers: vec![], closed: true, announced_close: false, garbage: None };
    let expect = b"GET /a HTTP/1.1\r\nExpect: x\r\n\r\n";
    assert!(allowed_difference(expect, &answered, &refused).is_some_and(|a| a.name == "Expect"));
    assert!(allowed_difference(BASES[3].as_bytes(), &answered, &refused).is_none());
    assert!(body_cut_short(b"GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\nab"));
    assert!(!body_cut_short(b"GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n"));
    let smuggled = Observation {
        answers: vec![(200, "6".into()), (200, "24".into())],
        closed: true,
        announced_close: false,
        garbage: None,
    };
    let chunked = BASES[4].as_bytes();
    assert!(allowed_difference(chunked, &answered, &smuggled).is_some(), "stopping early is allowed");
    let other = Observation { answers: vec![(404, "x".into())], closed: true, announced_close: false, garbage: None };
    assert!(allowed_difference(chunked, &other, &smuggled).is_none(), "different answers are not");
    let closing = Observation { announced_close: true, ..answered.clone() };
    assert!(announced_stop(&closing, &smuggled) && !announced_stop(&answered, &smuggled));
    let refused = Observation { answers: vec![(200, "6".into()), (400, "bad".into())], ..answered.clone() };
    assert!(agree(&answered, &refused) && !agree(&other, &refused));
}
