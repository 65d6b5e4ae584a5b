//! The hostile catalogue: every malformed or hostile request in `tests/hostile/*.http`, sent over raw TCP to
//! every server binary. Each must get the outcome its file expects (a 4xx, or the connection closed; a few
//! documented exceptions), and after each one the server must still answer a well-formed request and must
//! not have written anything on stderr (it runs with `--quiet`, so a line there is a panic or an abort).
//!
//! The catalogue is data, not code: `tests/hostile/README.md` describes the file format and every place where
//! hyper (the async servers) and tiny_http (the thread servers) legitimately answer differently.

mod common;

use common::Server;
use harness::catalogue::{
    catalogue_dir, load_catalogue, load_catalogue_from, parse_case, run_case, satisfies, Allowed, Family,
};
use std::time::Duration;

for_each_server!(catalogue);

/// How long one response (or the close) may take. The servers run with a 1 s header timeout, so a server that
/// waits for more bytes gives up well within it.
const OUTCOME_TIMEOUT: Duration = Duration::from_secs(5);

/// The header timeout the servers run with here, so that cases a server waits out cost 1 s, not 10.
const HEADER_TIMEOUT_S: &str = "1";

/// Every case against one server binary, then a health check after each and a panic check at the end.
fn catalogue(name: &'static str) {
    let cases = load_catalogue();
    let family = Family::of(name);
    let mut server = Server::start(name, &["--header-timeout-s", HEADER_TIMEOUT_S]);
    let mut failures = Vec::new();
    for case in &cases {
        let expect = case.expectation(family);
        let outcomes = run_case(server.addr(), case, expect.len(), OUTCOME_TIMEOUT);
        if !satisfies(expect, &outcomes) {
            let seen: Vec<String> = outcomes.iter().map(ToString::to_string).collect();
            failures.push(format!("{}: expected {expect:?}, got [{}]", case.name, seen.join(", ")));
        }
        // The server still answers a well-formed request on a new connection.
        match common::get(server.addr(), "/no/param") {
            Ok(response) if response.status == 200 => {}
            other => {
                failures.push(format!("{}: afterwards, GET /no/param gave {other:?}", case.name));
                break;
            }
        }
        // With --quiet a server writes nothing on stderr: any line is a panic, an abort or a reported error.
        // (A process that aborts can go on serving for a second while it prints a backtrace.)
        if let Some(line) = server.process.stderr_lines().first() {
            failures.push(format!("{}: the server wrote on stderr: {line}", case.name));
            break;
        }
    }
    if let Ok(Some(status)) = server.process.try_wait() {
        failures.push(format!("the server exited ({status})"));
    }
    assert!(
        failures.is_empty(),
        "{name}: {} of {} hostile cases failed:\n  {}\nstderr tail:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n  "),
        server.process.stderr_tail(20)
    );
}

/// The catalogue itself: enough cases, every file parses, and the decoder does what the README says.
#[test]
fn catalogue_is_well_formed() {
    let cases = load_catalogue();
    // The embedded list (what an installed `lab verify --strict` sends) is the directory's files, unchanged.
    let on_disk = load_catalogue_from(&catalogue_dir());
    let names = |cases: &[harness::catalogue::Case]| cases.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&cases), names(&on_disk), "harness::catalogue::CASE_FILES must list every case file");
    for (embedded, file) in cases.iter().zip(&on_disk) {
        assert_eq!(embedded.request, file.request, "{}: embedded and on-disk bytes differ", embedded.name);
    }
    assert!(cases.len() >= 30, "the catalogue must hold at least 30 hostile cases, found {}", cases.len());
    for case in &cases {
        assert!(!case.request.is_empty(), "{}: empty request", case.name);
    }
    let case = parse_case(
        "example",
        "# about\n# rule: RFC 9112 §3\n# differs: why\n# head: 2\n# expect: 400|close, 4xx\n# expect[hyper]: 200\n# after: close-write\nA\\r\\n\nB\\x00\\*3{ab\\}}\\\\\n",
    )
    .unwrap();
    assert_eq!(case.request, b"A\r\nB\0ab}ab}ab}\\");
    assert_eq!(case.expect, vec![vec![Allowed::Status(400), Allowed::Close], vec![Allowed::Class(4)]]);
    assert_eq!(case.expectation(Family::Hyper), &vec![vec![Allowed::Status(200)]]);
    assert_eq!(case.expectation(Family::TinyHttp), &case.expect);
    assert!(case.close_write);
    assert_eq!(
        (case.rule.as_str(), case.differs.as_deref(), case.head_steps.as_slice()),
        ("RFC 9112 §3", Some("why"), &[2][..])
    );
    let big = cases.iter().find(|c| c.name.ends_with("one-megabyte-uri")).expect("the 1 MB case");
    assert!(big.request.len() > 1 << 20, "the generator expands: {} bytes", big.request.len());
    let rule = "# rule: contract\n";
    assert!(parse_case("x", &format!("{rule}# expect: 200\n\\*3{{a")).is_err(), "an unclosed repeat is an error");
    assert!(parse_case("x", &format!("{rule}GET\n")).is_err(), "a case without an expectation is an error");
    assert!(parse_case("x", "# expect: 200\nGET\n").is_err(), "a case without a rule is an error");
    assert!(parse_case("x", "# rule: because\n# expect: 200\nGET\n").is_err(), "a rule cites its source");
    assert!(
        parse_case("x", &format!("{rule}# expect: 200\n# expect[hyper]: 400\nGET\n")).is_err(),
        "a difference needs its reason"
    );
}
