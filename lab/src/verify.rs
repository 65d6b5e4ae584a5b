//! Correctness before speed: every route of the workload contract, checked with exact bodies.
//!
//! Like the TechEmpower toolset's verify mode, a server that answers wrongly is not measured: a fast wrong
//! answer is not a result. Expected factorials are computed here with num-bigint, independently of the servers'
//! own code. Checks run one after another on the lab's thread, each a blocking HTTP request.
//!
//! `lab verify --strict` then holds the server to the framing rules: every hostile-catalogue case
//! (`harness::catalogue`) must get an outcome the case allows, and a seeded corpus of mutated valid requests
//! (`harness::compare::corpus`) must never get more responses than it holds requests (docs/workload.md,
//! "What `lab verify --strict` asserts"). Cases and corpus inputs share one queue with 16 connections in
//! flight, each on a thread of its own that blocks on its socket; the next is sent as soon as one is done.

use crate::http::{self, Reply};
use crate::plan::ServerSpec;
use crate::process::Server;
use crate::records::run::{CheckOutcome, CheckRecord, VerifyRecord, VerifyStatus};
use anyhow::Context;
use harness::catalogue::{self, Judgement};
use harness::compare;
use harness::raw::{Outcome as RawOutcome, RawConnection};
use num_bigint::BigUint;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The largest n the contract accepts for `/fact`.
pub const FACT_MAX: u64 = 20000;

/// n! in decimal.
pub fn factorial(n: u64) -> String {
    static LARGEST: OnceLock<String> = OnceLock::new();
    let compute = || (1..=n).fold(BigUint::from(1u32), |acc, k| acc * k).to_string();
    if n == FACT_MAX {
        return LARGEST.get_or_init(compute).clone();
    }
    compute()
}

/// One check's outcome.
enum Outcome {
    Pass,
    Fail(String),
    /// A protocol detail (a header) the contract asks for and the server does not give; not a wrong answer.
    Warn(String),
    /// An optional check the server does not implement (only `/health`, only for foreign servers).
    Skip(String),
}

/// Runs every check against the server at `addr`. `foreign` makes `/health` optional; `strict` makes every
/// warning a failure.
///
/// As in the TechEmpower verifier, a check either fails (a wrong status or body on a route, a wrong factorial,
/// a wait that does not wait, no answer) — the server is not measured — or warns (a protocol detail: `Allow`
/// on a 405, `Date`, `Server`, `Content-Type`) — the warning is recorded and shown beside the server's name,
/// and the server is measured.
pub fn verify(addr: SocketAddr, foreign: bool, strict: bool) -> VerifyRecord {
    verify_at(&format!("http://{addr}"), foreign, strict)
}

/// [`verify`] against `origin` (`http://HOST:PORT`): a `--target` keeps the host name it was given.
pub fn verify_at(origin: &str, foreign: bool, strict: bool) -> VerifyRecord {
    let agent = http::agent(Duration::from_secs(20));
    let url = |path: &str| format!("{origin}{path}");
    let get = |path: &str| http::get(&agent, &url(path));
    let mut checks: Vec<CheckRecord> = Vec::new();
    let mut record = |name: String, outcome: Outcome| {
        let (outcome, detail) = match outcome {
            Outcome::Pass => (CheckOutcome::Pass, String::new()),
            Outcome::Fail(why) => (CheckOutcome::Fail, why),
            Outcome::Skip(why) => (CheckOutcome::Skip, why),
            Outcome::Warn(why) => (CheckOutcome::Warn, why),
        };
        checks.push(CheckRecord { name, outcome, detail });
    };

    // /health: the JSON the lab's model reads.
    let health = get("/health");
    let outcome = match &health {
        Ok(reply) if reply.status == 200 => check_health(&reply.body),
        Ok(reply) if foreign => Outcome::Skip(format!("answered {} (optional for a foreign server)", reply.status)),
        Err(e) if foreign => Outcome::Skip(format!("no answer ({e:#}); optional for a foreign server")),
        Ok(reply) => Outcome::Fail(format!("status {} (expected 200)", reply.status)),
        Err(e) => Outcome::Fail(format!("{e:#}")),
    };
    record("GET /health".into(), outcome);

    // /say/hello: the body, and the wait.
    // Always with ms: without it the server waits its own default (3 s, the article's).
    let hello = get("/say/hello?name=lab&ms=0");
    let hello_reply = hello.as_ref().ok().filter(|r| r.status == 200).cloned();
    record("GET /say/hello?name=lab&ms=0".into(), expect_body(hello, "hello lab"));
    record("GET /say/hello?name=lab%20x&ms=0".into(), expect_body(get("/say/hello?name=lab%20x&ms=0"), "hello lab x"));
    let path = "/say/hello?name=lab&ms=100";
    let outcome = match get(path) {
        Ok(reply) if reply.elapsed < Duration::from_millis(98) => {
            Outcome::Fail(format!("answered after {:?}; it must wait 100 ms", reply.elapsed))
        }
        other => expect_body(other, "hello lab"),
    };
    record(format!("GET {path}"), outcome);
    record("GET /say/hello?name=lab&ms=abc".into(), expect_bad_request(get("/say/hello?name=lab&ms=abc")));

    // /fact: exact decimal bodies, cached and uncached, and the bounds.
    for (n, query) in [
        (0, "n=0"),
        (1, "n=1"),
        (20, "n=20"),
        (21, "n=21"),
        (100, "n=100"),
        (100, "n=100 (cached)"),
        (1000, "n=1000&cache=0"),
        (1000, "n=1000"),
        (FACT_MAX, "n=20000"),
    ] {
        let (query, note) = query.split_once(' ').unwrap_or((query, ""));
        let path = format!("/fact?{query}");
        record(
            format!("GET {path}{}", if note.is_empty() { String::new() } else { format!(" {note}") }),
            expect_body(get(&path), &factorial(n)),
        );
    }
    for query in ["n=-1", "n=20001", "n=abc", "", "n="] {
        let path = format!("/fact?{query}");
        let path = path.trim_end_matches('?');
        record(format!("GET {path}"), expect_bad_request(get(path)));
    }

    // /no/param: an empty 200.
    record("GET /no/param".into(), expect_body(get("/no/param"), ""));

    // /db: a fresh name counts 1, 2; reading does not count.
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let name = format!("verify{}x{nanos}", std::process::id());
    record(format!("GET /db/visits?name={name} (unseen)"), expect_body(get(&format!("/db/visits?name={name}")), "0"));
    record(format!("GET /db/visit?name={name}"), expect_body(get(&format!("/db/visit?name={name}")), "1"));
    // POST is the method for a write; GET stays for the article's parity (docs/workload.md).
    let posted = http::post(&agent, &url(&format!("/db/visit?name={name}")));
    record(format!("POST /db/visit?name={name}"), expect_body(posted, "2"));
    record(format!("GET /db/visits?name={name}"), expect_body(get(&format!("/db/visits?name={name}")), "2"));

    // /block: a 200 after at least the sleep.
    let outcome = match get("/block?ms=50") {
        Ok(reply) if reply.status != 200 => Outcome::Fail(format!("status {} (expected 200)", reply.status)),
        Ok(reply) if reply.elapsed < Duration::from_millis(48) => {
            Outcome::Fail(format!("answered after {:?}; it must block 50 ms", reply.elapsed))
        }
        Ok(_) => Outcome::Pass,
        Err(e) => Outcome::Fail(format!("{e:#}")),
    };
    record("GET /block?ms=50".into(), outcome);
    record("GET /block?ms=abc".into(), expect_bad_request(get("/block?ms=abc")));

    // Errors: unknown path, wrong method.
    record("GET /no/such/route".into(), expect_status(get("/no/such/route"), 404));
    let outcome = match http::post(&agent, &url("/no/param")) {
        Ok(reply) if reply.status != 405 => Outcome::Fail(format!("status {} (expected 405)", reply.status)),
        Ok(reply) => match reply.allow {
            Some(allow) if allow.contains("GET") => Outcome::Pass,
            Some(allow) => Outcome::Warn(format!("405 with Allow: {allow:?}, which does not list GET")),
            None => Outcome::Warn("405 without an Allow header (RFC 9110 §15.5.6: it must list GET)".into()),
        },
        Err(e) => Outcome::Fail(format!("{e:#}")),
    };
    record("POST /no/param".into(), outcome);

    // Protocol details (docs/workload.md, Headers): warnings.
    if let Some(reply) = &hello_reply {
        record("header Date".into(), expect_header(&reply.date, |_| true, "a Date (RFC 9110 §6.6.1)"));
        record("header Server".into(), expect_header(&reply.server, |_| true, "a Server header naming the server"));
        record(
            "header Content-Type of /say/hello".into(),
            expect_header(&reply.content_type, |v| v.starts_with("text/plain"), "text/plain; charset=utf-8"),
        );
    }
    if let Ok(reply) = health.as_ref() {
        if reply.status == 200 {
            record(
                "header Content-Type of /health".into(),
                expect_header(&reply.content_type, |v| v.starts_with("application/json"), "application/json"),
            );
        }
    }

    summarize(checks, strict)
}

/// The verification a command runs before it measures a server: the contract's checks and, with `strict`, the
/// same framing rules as `lab verify --strict` — a server that can be smuggled through is not measured. One that
/// failed the contract is not measured either, and is not probed further.
pub fn before_measuring(origin: &str, foreign: bool, strict: bool) -> VerifyRecord {
    let record = verify_at(origin, foreign, strict);
    if strict && record.status == VerifyStatus::Passed {
        with_framing_checks(record, origin)
    } else {
        record
    }
}

/// The record of a server's checks: failed if any check failed, or, when `strict`, if any warned.
fn summarize(checks: Vec<CheckRecord>, strict: bool) -> VerifyRecord {
    let counts = |outcome: CheckOutcome| checks.iter().filter(|c| c.outcome == outcome).count() as u64;
    let stops = |c: &&CheckRecord| c.outcome == CheckOutcome::Fail || (strict && c.outcome == CheckOutcome::Warn);
    let first_stop = checks.iter().find(stops).map(|c| format!("{}: {}", c.name, c.detail));
    VerifyRecord {
        status: if first_stop.is_none() { VerifyStatus::Passed } else { VerifyStatus::Failed },
        passed: counts(CheckOutcome::Pass),
        failed: counts(CheckOutcome::Fail) + if strict { counts(CheckOutcome::Warn) } else { 0 },
        warnings: counts(CheckOutcome::Warn),
        reason: first_stop,
        checks,
    }
}

fn expect_header(value: &Option<String>, good: impl Fn(&str) -> bool, expected: &str) -> Outcome {
    match value {
        Some(v) if good(v) => Outcome::Pass,
        Some(v) => Outcome::Warn(format!("{v:?}, expected {expected}")),
        None => Outcome::Warn(format!("missing; expected {expected}")),
    }
}

/// `lab verify`: starts each server in turn, runs the checks, prints one line per server (and one per failed
/// check) on stdout. Returns whether every server passed; an error only when the binaries cannot be had.
pub fn verify_servers(servers: &[ServerSpec], bin_dir: Option<PathBuf>, strict: bool) -> anyhow::Result<bool> {
    crate::limits::raise_nofile();
    let needs_binaries = servers.iter().any(|s| matches!(s, ServerSpec::Builtin(_)));
    let bin_dir = if needs_binaries { crate::session::binaries_dir(bin_dir)? } else { PathBuf::from(".") };
    let scratch = harness::temp_dir("lab-verify-").context("cannot create a scratch directory")?;
    let mut all_passed = true;
    for spec in servers {
        let db = scratch.path().join(format!("{}.sqlite", spec.name()));
        let mut server = match Server::start(spec, &bin_dir, &db, Duration::from_secs(15)) {
            Ok(server) => server,
            Err(e) => {
                all_passed = false;
                println!("✘ {}: did not start: {}", spec.name(), e.message);
                if !e.stderr_tail.is_empty() {
                    println!("{}", indent(&e.stderr_tail));
                }
                continue;
            }
        };
        let mut record = verify_at(&server.url(""), !matches!(spec, ServerSpec::Builtin(_)), strict);
        if strict {
            record = with_framing_checks(record, &server.url(""));
        }
        server.stop(Duration::from_secs(2));
        let passed = record.status == VerifyStatus::Passed;
        all_passed &= passed;
        println!(
            "{} {}{}: {} ({} of {} checks passed{})",
            if passed { "✔" } else { "✘" },
            spec.name(),
            if spec.is_remote() { format!(" (remote, {})", server.url("")) } else { String::new() },
            record.status,
            record.passed,
            record.checks.len(),
            match record.warnings {
                0 => String::new(),
                1 => ", 1 warning".to_string(),
                n => format!(", {n} warnings"),
            }
        );
        for check in record.checks.iter().filter(|c| c.outcome != CheckOutcome::Pass) {
            println!("    {} {}: {}", check.outcome, check.name, check.detail);
        }
        if strict {
            let framing = record.checks.iter().filter(|c| c.name.starts_with("catalogue ")).count();
            println!(
                "    strict: {framing} catalogue cases and a corpus of {CORPUS_CASES} (seed {}; LAB_VERIFY_SEED=N for another)",
                corpus_seed()
            );
        }
    }
    Ok(all_passed)
}

/// The seed of the corpus `--strict` sends: `LAB_VERIFY_SEED`, 1 by default (printed with the results).
pub fn corpus_seed() -> u64 {
    std::env::var("LAB_VERIFY_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(1)
}

/// How many corpus inputs `--strict` sends.
const CORPUS_CASES: usize = 60;
/// How long each response (or the close) may take in the framing checks.
const FRAMING_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a connection still open after the expected responses is watched for one more.
const EXTRA_WAIT: Duration = Duration::from_millis(500);
/// Cases and corpus inputs in flight at once, each on its own connection: as one is answered (or times out), the
/// next is sent.
const AT_ONCE: usize = 16;

/// `record` with the `--strict` framing checks added: one per catalogue case and one for the corpus.
pub fn with_framing_checks(record: VerifyRecord, origin: &str) -> VerifyRecord {
    let mut checks = record.checks;
    let addr = origin.trim_start_matches("http://").to_socket_addrs().ok().and_then(|mut a| a.next());
    let Some(addr) = addr else {
        checks.push(CheckRecord {
            name: "framing".into(),
            outcome: CheckOutcome::Fail,
            detail: format!("cannot resolve {origin} for the raw framing checks"),
        });
        return summarize(checks, true);
    };
    let seed = corpus_seed();
    let cases = catalogue::load_catalogue();
    let inputs = corpus_inputs(seed, CORPUS_CASES);
    // The catalogue and the corpus in one queue, AT_ONCE in flight: a case that waits out FRAMING_TIMEOUT holds
    // up one thread, while the others go on through the rest.
    let probes: Vec<Probe> = cases.iter().map(Probe::Case).chain(inputs.iter().map(|i| Probe::Input(i))).collect();
    let found = harness::parallel::map_in_flight(&probes, AT_ONCE, |probe| match probe {
        Probe::Case(case) => Found::Judged(catalogue::judge_any_server(addr, case, FRAMING_TIMEOUT, EXTRA_WAIT)),
        Probe::Input(input) => Found::Problem(corpus_problem(addr, input)),
    });
    // Results come back in the queue's order: the cases' judgements, then the corpus's problems.
    let mut judgements = Vec::with_capacity(cases.len());
    let mut problems = Vec::new();
    for found in found {
        match found {
            Found::Judged(judgement) => judgements.push(judgement),
            Found::Problem(problem) => problems.extend(problem),
        }
    }
    checks.extend(catalogue_checks(&cases, judgements));
    checks.push(corpus_check(seed, inputs.len(), CORPUS_CASES, &problems));
    summarize(checks, true)
}

/// One item of the `--strict` queue: a hostile-catalogue case or a corpus input.
enum Probe<'a> {
    Case(&'a catalogue::Case),
    Input(&'a [u8]),
}

/// What one [`Probe`] found.
enum Found {
    Judged(Judgement),
    /// What is wrong with the server's answer to a corpus input, if anything.
    Problem(Option<String>),
}

/// One check per hostile-catalogue case, from its judgement: the outcome must be one the case allows, with the
/// tolerances of `harness::catalogue::TOLERANCES`; an answer to a hidden request is named as such.
fn catalogue_checks(cases: &[catalogue::Case], judgements: Vec<Judgement>) -> Vec<CheckRecord> {
    cases
        .iter()
        .zip(judgements)
        .map(|(case, judgement)| {
            let name = format!("catalogue {}", case.name);
            let (outcome, detail) = match judgement {
                Judgement::Pass(used) if used.is_empty() => (CheckOutcome::Pass, String::new()),
                Judgement::Pass(used) => (CheckOutcome::Pass, format!("allowed: {}", used.join(", "))),
                Judgement::Smuggled(what) => (CheckOutcome::Fail, format!("SMUGGLING: {what} (rule: {})", case.rule)),
                Judgement::Fail(what) => (CheckOutcome::Fail, format!("{what} (rule: {})", case.rule)),
            };
            CheckRecord { name, outcome, detail }
        })
        .collect()
}

/// The rows of `harness::compare::ALLOWED` under which RFC 9112 leaves a server free to frame an input
/// otherwise (a lenient request line, bare LF or odd bytes in a head): such inputs are not judged.
const AMBIGUOUS: &[&str] = &["lenient request line", "unusual bytes in the head"];

/// Whether RFC 9112 frames `input` one way only: no row of [`AMBIGUOUS`] applies to it.
fn unambiguous(input: &[u8]) -> bool {
    !compare::ALLOWED.iter().any(|row| AMBIGUOUS.contains(&row.name) && (row.applies)(input))
}

/// The seeded corpus's inputs whose framing RFC 9112 makes unambiguous (strict request lines, no unusual bytes in
/// a head: [`AMBIGUOUS`]).
fn corpus_inputs(seed: u64, cases: usize) -> Vec<Vec<u8>> {
    compare::corpus(seed, cases).into_iter().filter(|input| unambiguous(input)).collect()
}

/// Sends one corpus input on a connection of its own, blocking until the answers, the close, or a timeout: the
/// server must not answer more requests than the input holds ([`catalogue::answers`]: a final refusal answers
/// none), and must send nothing that is not HTTP. None when it did neither.
fn corpus_problem(addr: SocketAddr, input: &[u8]) -> Option<String> {
    let requests = compare::request_lines(input).count();
    let mut connection = match RawConnection::send_all(addr, FRAMING_TIMEOUT, input, false) {
        Ok(connection) => connection,
        Err(e) => return Some(format!("cannot connect: {e}")),
    };
    // One step more than the input holds requests: it watches `EXTRA_WAIT` for an answer to a hidden one.
    let outcomes = connection.read_steps(requests + 1, &[], Some(EXTRA_WAIT), |o| !o.is_response());
    if let Some(RawOutcome::Garbage(what)) = outcomes.last() {
        return Some(format!("{what} after {:?}", shorten_bytes(input)));
    }
    let answers = catalogue::answers(&outcomes);
    (answers > requests)
        .then(|| format!("SMUGGLING: {answers} answers to {requests} requests: {:?}", shorten_bytes(input)))
}

/// The corpus's one check, from the problems of its `kept` inputs (of `cases` generated from `seed`).
fn corpus_check(seed: u64, kept: usize, cases: usize, problems: &[String]) -> CheckRecord {
    let name = format!("corpus seed {seed} ({kept} of {cases} inputs with unambiguous framing)");
    match problems.first() {
        None => CheckRecord { name, outcome: CheckOutcome::Pass, detail: String::new() },
        Some(first) => CheckRecord {
            name,
            outcome: CheckOutcome::Fail,
            detail: format!("{} inputs: {first} (rule: RFC 9112 §6.3, one response per request)", problems.len()),
        },
    }
}

fn shorten_bytes(input: &[u8]) -> String {
    String::from_utf8_lossy(&input[..input.len().min(160)]).into_owned()
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}

/// A record for a server that could not be verified (it did not start, or the run was interrupted).
pub fn not_run(reason: &str) -> VerifyRecord {
    VerifyRecord {
        status: VerifyStatus::NotRun,
        passed: 0,
        failed: 0,
        warnings: 0,
        reason: Some(reason.to_string()),
        checks: vec![],
    }
}

fn check_health(body: &str) -> Outcome {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(body) else {
        return Outcome::Fail(format!("not JSON: {}", shorten(body)));
    };
    for (field, is_number) in
        [("server", false), ("model", false), ("pid", true), ("threads", true), ("processes", true)]
    {
        let ok = match value.get(field) {
            Some(v) if is_number => v.is_u64(),
            Some(v) => v.is_string(),
            None => false,
        };
        if !ok {
            let kind = if is_number { "a number" } else { "a string" };
            return Outcome::Fail(format!("field {field:?} missing or not {kind} in {}", shorten(body)));
        }
    }
    Outcome::Pass
}

fn expect_status(reply: anyhow::Result<Reply>, status: u16) -> Outcome {
    match reply {
        Ok(r) if r.status == status => Outcome::Pass,
        Ok(r) => Outcome::Fail(format!("status {} (expected {status}), body {}", r.status, shorten(&r.body))),
        Err(e) => Outcome::Fail(format!("{e:#}")),
    }
}

fn expect_body(reply: anyhow::Result<Reply>, expected: &str) -> Outcome {
    match reply {
        Ok(r) if r.status != 200 => {
            Outcome::Fail(format!("status {} (expected 200), body {}", r.status, shorten(&r.body)))
        }
        Ok(r) if r.body != expected => {
            Outcome::Fail(format!("expected body {}, got {}", shorten(expected), shorten(&r.body)))
        }
        Ok(_) => Outcome::Pass,
        Err(e) => Outcome::Fail(format!("{e:#}")),
    }
}

/// 400 with a one-line, non-empty reason.
fn expect_bad_request(reply: anyhow::Result<Reply>) -> Outcome {
    match reply {
        Ok(r) if r.status != 400 => {
            Outcome::Fail(format!("status {} (expected 400), body {}", r.status, shorten(&r.body)))
        }
        Ok(r) if r.body.trim().is_empty() => Outcome::Fail("400 without a reason in the body".into()),
        Ok(r) if r.body.trim().contains('\n') => {
            Outcome::Fail(format!("the reason is not one line: {}", shorten(&r.body)))
        }
        Ok(_) => Outcome::Pass,
        Err(e) => Outcome::Fail(format!("{e:#}")),
    }
}

/// A body for an error message: quoted, and cut in the middle if long (a wrong 20000! is 77,000 digits).
fn shorten(body: &str) -> String {
    const KEEP: usize = 24;
    if body.chars().count() <= 2 * KEEP + 10 {
        return format!("{body:?}");
    }
    let head: String = body.chars().take(KEEP).collect();
    let tail: String = body.chars().rev().take(KEEP).collect::<Vec<_>>().into_iter().rev().collect();
    format!("{head:?}…{tail:?} ({} chars)", body.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factorials_are_exact() {
        assert_eq!(factorial(0), "1");
        assert_eq!(factorial(20), "2432902008176640000");
        assert_eq!(factorial(25), "15511210043330985984000000");
        let big = factorial(FACT_MAX);
        assert_eq!(big.len(), 77338);
        assert!(big.starts_with("1819206320230345134827641"));
    }

    #[test]
    fn the_ambiguous_framings_name_rows_of_the_differential_table() {
        for name in AMBIGUOUS {
            assert!(compare::ALLOWED.iter().any(|row| row.name == *name), "{name} is not a row of ALLOWED");
        }
        // The filter keeps most of the corpus, and drops a bare-LF head.
        let kept = corpus_inputs(1, CORPUS_CASES).len();
        assert!(kept >= CORPUS_CASES / 3, "{kept} of {CORPUS_CASES}");
        let bare_lf = compare::ALLOWED.iter().find(|row| row.name == AMBIGUOUS[1]).unwrap();
        assert!((bare_lf.applies)(b"GET / HTTP/1.1\nHost: lab\r\n\r\n"));
    }

    #[test]
    fn long_bodies_are_shortened() {
        let s = shorten(&"7".repeat(1000));
        assert!(s.contains("1000 chars") && s.len() < 100, "{s}");
        assert_eq!(shorten("hello lab"), "\"hello lab\"");
    }
}
