//! Every route of every server checked by an outside HTTP linter: REDbot (Mark Nottingham's "lint for HTTP",
//! `pip install redbot`), through its Python API (`tests/redbot/lint.py`). A note REDbot rates `warning` or
//! `bad` on any response fails the test, listed with the request it came from; `good` and `info` notes pass.
//! One exception, named on its check: REDbot rates every 400 a warning by its status alone
//! (`STATUS_BAD_REQUEST`, "the server didn't understand the request"), which is what a deliberately bad
//! request must get; that note is required there, and any other warning on the 400 still fails.
//! The article's tornado app (examples/tornado) is held to the same checks when tornado is installed.
//!
//! REDbot repeats a request for its active checks (content negotiation, and validation when a response gives a
//! validator), `/db/visit` included: the visit count must move by exactly the requests REDbot says it sent,
//! no more (a server that counted a request twice) and no fewer (one that answered without counting).
//!
//! Without redbot the test prints `SKIP: <test>: redbot missing (pip install redbot)` on stderr and passes;
//! under `CI=true` it fails with that install line instead (`.ci/run` installs it).

mod common;

use common::Server;
use servers::process::ServerProcess;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// One request REDbot makes, and the status the contract (docs/workload.md) gives it.
struct Check {
    method: &'static str,
    target: &'static str,
    /// A form body (`application/x-www-form-urlencoded`), or another `Content-Type` and body.
    body: Option<(&'static str, &'static str)>,
    status: u16,
    /// The request counts a visit of `red`.
    visits: bool,
    /// The warning REDbot gives this status whatever the response says (required, and the only one allowed).
    status_note: Option<&'static str>,
}

const FORM: &str = "application/x-www-form-urlencoded";

const fn check(method: &'static str, target: &'static str, status: u16) -> Check {
    Check { method, target, body: None, status, visits: false, status_note: None }
}

/// Every route, with each method it takes, and an error of each kind the workload gives.
const CHECKS: &[Check] = &[
    check("GET", "/say/hello?name=red&ms=0", 200),
    check("GET", "/fact?n=5", 200),
    check("GET", "/fact?n=30&cache=0", 200),
    check("GET", "/no/param", 200),
    check("GET", "/db/visits?name=red", 200),
    Check { visits: true, ..check("GET", "/db/visit?name=red", 200) },
    Check { visits: true, ..check("POST", "/db/visit?name=red", 200) },
    Check { body: Some((FORM, "name=red")), visits: true, ..check("POST", "/db/visit", 200) },
    check("GET", "/block?ms=0", 200),
    check("GET", "/health", 200),
    Check { status_note: Some("STATUS_BAD_REQUEST"), ..check("GET", "/fact?n=-1", 400) },
    check("GET", "/nope", 404),
    check("POST", "/fact?n=5", 405),
    check("DELETE", "/db/visit?name=red", 405),
    Check { body: Some(("application/json", "{}")), ..check("POST", "/db/visit", 415) },
];

/// What REDbot made of one request (one line of lint.py's output).
#[derive(serde::Deserialize)]
struct Linted {
    status: Option<u16>,
    /// Requests REDbot sent for this check.
    sent: u64,
    notes: Vec<Note>,
    error: Option<String>,
}

#[derive(serde::Deserialize)]
struct Note {
    level: String,
    id: String,
    summary: String,
}

fn lint_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/redbot/lint.py")
}

/// Whether REDbot can be imported; if not, fails under CI and skips (with one visible line) elsewhere.
fn redbot_or_skip(test: &str) -> bool {
    let found = Command::new("python3")
        .args(["-c", "import redbot.resource"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: redbot missing under CI: python3 -m pip install redbot"
        );
        eprintln!("SKIP: {test}: redbot missing (pip install redbot)");
    }
    found
}

/// Runs REDbot on every check against `origin` (`http://HOST:PORT`): one line of lint.py's output per check.
fn lint(origin: &str) -> Vec<Linted> {
    let mut input = String::new();
    for check in CHECKS {
        input.push_str(&format!("{} {origin}{}", check.method, check.target));
        if let Some((content_type, body)) = check.body {
            input.push_str(&format!(" {content_type} {body}"));
        }
        input.push('\n');
    }
    let mut child = Command::new("python3")
        .arg(lint_script())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write the checks");
    // Blocks until REDbot has checked every request (each needs a response or REDbot's own timeout).
    let output = child.wait_with_output().expect("lint.py's output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "lint.py failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let linted: Vec<Linted> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("lint.py: {e}: {line}")))
        .collect();
    assert_eq!(linted.len(), CHECKS.len(), "one result per check:\n{stdout}");
    linted
}

/// `/db/visits?name=red` on `addr`.
fn visits(addr: std::net::SocketAddr) -> u64 {
    let response = common::get(addr, "/db/visits?name=red").expect("GET /db/visits");
    assert_eq!(response.status, 200, "{response:?}");
    response.text().parse().expect("a count")
}

/// REDbot on every check against the server at `addr`: no note rated warning or bad, every status as the
/// contract says, and the visits exactly those REDbot sent.
fn judge(server: &str, addr: std::net::SocketAddr) {
    let before = visits(addr);
    let linted = lint(&format!("http://{addr}"));
    let after = visits(addr);
    let mut findings = Vec::new();
    let mut sent_visits = 0;
    for (check, linted) in CHECKS.iter().zip(&linted) {
        let request = format!("{} {}", check.method, check.target);
        if let Some(error) = &linted.error {
            findings.push(format!("{request}: REDbot could not fetch it: {error}"));
            continue;
        }
        if linted.status != Some(check.status) {
            findings.push(format!("{request}: status {:?}, the contract says {}", linted.status, check.status));
        }
        let warned = |note: &&Note| note.level == "warning" || note.level == "bad";
        for note in linted.notes.iter().filter(warned).filter(|note| Some(note.id.as_str()) != check.status_note) {
            findings.push(format!("{request}: {} {}: {}", note.level, note.id, note.summary));
        }
        if let Some(id) = check.status_note.filter(|id| !linted.notes.iter().any(|note| note.id == *id)) {
            findings.push(format!("{request}: REDbot did not rate the status ({id}): was it linted at all?"));
        }
        if check.visits {
            sent_visits += linted.sent;
        }
    }
    assert!(findings.is_empty(), "{server}: REDbot's findings:\n  {}", findings.join("\n  "));
    assert!(sent_visits >= 3, "{server}: REDbot sent {sent_visits} visits for 3 visit checks");
    assert_eq!(after - before, sent_visits, "{server}: visits counted vs visits REDbot sent");
}

fn redbot_finds_nothing_to_warn_about(name: &'static str) {
    if !redbot_or_skip(&format!("{}::redbot_finds_nothing_to_warn_about", name.replace('-', "_"))) {
        return;
    }
    let server = Server::start(name, &[]);
    judge(name, server.addr());
}

for_each_server!(redbot_finds_nothing_to_warn_about);

/// The article's tornado app, where tornado is installed (`.ci/run` installs it): the same checks.
#[test]
fn tornado_redbot_finds_nothing_to_warn_about() {
    const TEST: &str = "tornado_redbot_finds_nothing_to_warn_about";
    if !redbot_or_skip(TEST) {
        return;
    }
    let tornado = Command::new("python3").args(["-c", "import tornado"]).status().is_ok_and(|s| s.success());
    if !tornado {
        eprintln!("SKIP: {TEST}: tornado missing (pip install tornado)");
        return;
    }
    let dir = common::TestDir::new("redbot-tornado");
    let app = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/tornado/app.py");
    let mut command = Command::new("python3");
    command.arg(app).args(["--port=0", "--quiet"]).arg(format!("--db={}", dir.path.join("visits.sqlite").display()));
    let server = ServerProcess::start(command, Duration::from_secs(20)).expect("start tornado");
    judge("tornado", server.addr);
}
