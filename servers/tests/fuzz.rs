//! Property-based fuzzing with proptest, in two layers:
//!
//! - in process: `Workload::plan` never panics on any method and target and plans exactly what the contract
//!   says, checked against an oracle written from docs/workload.md (not the server's own query parser); a
//!   percent-encoded query decodes back to exactly what was encoded;
//! - over TCP: arbitrary bytes, and valid requests mutated byte by byte, sent to each real server binary never
//!   take it down: after every input the server closes the half-closed connection (no stuck thread or task),
//!   still answers `/health`, and writes nothing on stderr (no panic).
//!
//! The default case counts keep the suite fast (a few seconds per target). `PROPTEST_CASES=100000` runs a
//! long campaign; see tests/hostile/README.md. Every crash found becomes a case in tests/hostile/.

mod common;
mod raw;

use common::TestDir;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use raw::RawConnection;
use servers::process::{workspace_binary, ServerProcess};
use servers::workload::query::Query;
use servers::workload::{Plan, ServerInfo, Workload, MAX_WAIT_MS};
use std::cell::RefCell;
use std::process::Command;
use std::time::Duration;

for_each_server!(tcp_input_never_takes_the_server_down);

/// Cases per run unless `PROPTEST_CASES` says otherwise.
const IN_PROCESS_CASES: u32 = 2_000;
const TCP_CASES: u32 = 400;

/// proptest's configuration: `PROPTEST_CASES` if set, else `default_cases`; no regression files (crashes go to
/// the hostile catalogue, where they are readable); shrinking a failure stops after a minute (over TCP, each
/// failing attempt can cost a few seconds).
fn config(default_cases: u32) -> Config {
    let mut config = Config { failure_persistence: None, ..Config::default() };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default_cases;
    }
    if std::env::var_os("PROPTEST_MAX_SHRINK_TIME").is_none() {
        config.max_shrink_time = 60_000;
    }
    config
}

/// The routes, a few near misses and anything at all.
fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "/say/hello",
            "/fact",
            "/no/param",
            "/db/visit",
            "/db/visits",
            "/block",
            "/health",
            "/",
            "",
            "/fact/",
            "/FACT",
            "//fact",
        ])
        .prop_map(String::from),
        "/[a-z/]{0,12}",
        any::<String>(),
    ]
}

/// Pieces a query is made of, chosen to hit every branch of the parser.
fn query_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "name",
            "n",
            "ms",
            "cache",
            "=",
            "&",
            "+",
            "%",
            "%2",
            "%20",
            "%zz",
            "%ff",
            "%c3%a9",
            "%00",
            "%+1",
            "-1",
            "0",
            "1",
            "1.5",
            "1e3",
            "20000",
            "20001",
            "60000",
            "60001",
            "18446744073709551615",
            "99999999999999999999999",
            "é",
            "\u{0}",
        ])
        .prop_map(String::from),
        "[0-9]{1,25}",
        "[a-z%+=&]{1,8}",
        any::<String>(),
    ]
}

fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (path(), prop::collection::vec(query_piece(), 0..12)).prop_map(|(path, pieces)| {
            if pieces.is_empty() { path } else { format!("{path}?{}", pieces.concat()) }
        }),
        1 => any::<String>(),
    ]
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("GET".to_string()),
        1 => prop::sample::select(vec!["POST", "HEAD", "get", "DELETE"]).prop_map(String::from),
        1 => any::<String>(),
    ]
}

/// What the contract (docs/workload.md, "Routes", "Parameters", "Errors") says a request gets, worked out here
/// from the documents alone — not from the server's query parser, which is what is being checked.
#[derive(Debug, PartialEq, Eq)]
enum Expected {
    /// A rejection: 400, 404 or 405.
    Error(u16),
    Hello {
        name: String,
        wait_ms: u64,
    },
    Block {
        wait_ms: u64,
    },
    Fact {
        n: u64,
        cache: bool,
    },
    Visit {
        name: String,
    },
    Visits {
        name: String,
    },
    /// `/no/param` and `/health`: a 200 with no work.
    Ready,
}

/// `+` is a space; `%XX` needs two hex digits; the result must be UTF-8.
fn decode(raw: &str) -> Result<String, ()> {
    let mut bytes = Vec::new();
    let mut input = raw.bytes();
    while let Some(b) = input.next() {
        match b {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex = [input.next().ok_or(())?, input.next().ok_or(())?];
                let digit = |h: u8| (h as char).to_digit(16).ok_or(());
                bytes.push((digit(hex[0])? * 16 + digit(hex[1])?) as u8);
            }
            b => bytes.push(b),
        }
    }
    String::from_utf8(bytes).map_err(|_| ())
}

/// The contract's answer to `method target`, or `None` where the contract does not decide (an empty query
/// component, a component without `=`, an empty parameter name): those are not judged.
fn expected(method: &str, target: &str, hello_ms: u64) -> Option<Expected> {
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let routes = ["/say/hello", "/fact", "/no/param", "/db/visit", "/db/visits", "/block", "/health"];
    if !routes.contains(&path) {
        return Some(Expected::Error(404));
    }
    // Every route takes GET; `/db/visit` takes POST too (its name then in the query or a form body, empty here).
    if method != "GET" && !(method == "POST" && path == "/db/visit") {
        return Some(Expected::Error(405));
    }
    let mut params = std::collections::BTreeMap::new();
    for component in query.map(|q| q.split('&').collect::<Vec<_>>()).unwrap_or_default() {
        let (name, value) = component.split_once('=')?;
        if name.is_empty() {
            return None;
        }
        let (Ok(name), Ok(value)) = (decode(name), decode(value)) else {
            return Some(Expected::Error(400));
        };
        if name.is_empty() {
            return None;
        }
        if params.insert(name, value).is_some() {
            return Some(Expected::Error(400));
        }
    }
    // Plain decimal digits, leading zeros allowed, at most `max`.
    let number = |name: &str, max: u64| -> Result<Option<u64>, ()> {
        match params.get(name) {
            None => Ok(None),
            Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
                let digits = v.trim_start_matches('0');
                let n: u64 = if digits.is_empty() {
                    0
                } else if digits.len() > 6 {
                    return Err(());
                } else {
                    digits.parse().map_err(|_| ())?
                };
                if n > max {
                    Err(())
                } else {
                    Ok(Some(n))
                }
            }
            Some(_) => Err(()),
        }
    };
    let name = || match params.get("name") {
        Some(name) if !name.is_empty() && name.len() <= 256 => Ok(name.clone()),
        _ => Err(()),
    };
    let answer = match path {
        "/say/hello" => name()
            .and_then(|name| Ok(Expected::Hello { name, wait_ms: number("ms", MAX_WAIT_MS)?.unwrap_or(hello_ms) })),
        "/block" => number("ms", MAX_WAIT_MS).and_then(|ms| Ok(Expected::Block { wait_ms: ms.ok_or(())? })),
        "/fact" => number("n", servers::workload::factorial::MAX_N).and_then(|n| {
            let cache = match params.get("cache").map(String::as_str) {
                None | Some("1") => true,
                Some("0") => false,
                Some(_) => return Err(()),
            };
            Ok(Expected::Fact { n: n.ok_or(())?, cache })
        }),
        "/db/visit" => name().map(|name| Expected::Visit { name }),
        "/db/visits" => name().map(|name| Expected::Visits { name }),
        _ => Ok(Expected::Ready),
    };
    Some(answer.unwrap_or(Expected::Error(400)))
}

/// What a plan says it will do, in the oracle's terms.
fn planned(plan: Plan) -> Expected {
    match plan {
        Plan::Ready(reply) if reply.status == 200 => Expected::Ready,
        Plan::Ready(reply) => Expected::Error(reply.status),
        Plan::Sleep { wait, reply } => Expected::Hello {
            name: String::from_utf8_lossy(reply.body.as_bytes())
                .strip_prefix("hello ")
                .unwrap_or("(not a hello)")
                .to_string(),
            wait_ms: wait.as_millis() as u64,
        },
        Plan::Block { wait, .. } => Expected::Block { wait_ms: wait.as_millis() as u64 },
        Plan::Factorial { n, use_cache } => Expected::Fact { n, cache: use_cache },
        Plan::Database(servers::workload::DbCall::Visit { name }) => Expected::Visit { name },
        Plan::Database(servers::workload::DbCall::Visits { name }) => Expected::Visits { name },
        Plan::ReadForm(_) => panic!("a form is read before the plan is judged"),
    }
}

/// Any method and target: no panic, and exactly what the contract says, checked against an oracle written
/// from docs/workload.md. The run must judge most inputs (the oracle leaves a few undecided).
#[test]
fn plan_follows_the_contract() {
    const HELLO_MS: u64 = 50;
    let dir = TestDir::new("fuzz-plan");
    let info = ServerInfo { server: "fuzz", model: "in process", threads: 1, processes: 1 };
    let workload = Workload::new(info, HELLO_MS, &dir.path.join("visits.sqlite")).expect("workload");
    let (judged, total) = (std::cell::Cell::new(0u32), std::cell::Cell::new(0u32));
    let mut runner = TestRunner::new(config(IN_PROCESS_CASES));
    let result = runner.run(&(method(), target()), |(method, target)| {
        let plan = match workload.plan(&method, &target, None) {
            // A POST /db/visit with an empty body, as the oracle assumes.
            Plan::ReadForm(pending) => workload.plan_form(pending, Ok(b"")),
            plan => plan,
        };
        let plan = planned(plan);
        total.set(total.get() + 1);
        if let Some(expected) = expected(&method, &target, HELLO_MS) {
            judged.set(judged.get() + 1);
            prop_assert_eq!(&plan, &expected, "{:?} {:?}", method, target);
        }
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    assert!(judged.get() * 2 > total.get(), "the oracle judged only {} of {} inputs", judged.get(), total.get());
}

/// The oracle itself, on the contract's own examples (docs/workload.md).
#[test]
fn the_contract_oracle_follows_the_docs() {
    let e = |target: &str| expected("GET", target, 3000);
    assert_eq!(e("/say/hello?name=a+b"), Some(Expected::Hello { name: "a b".into(), wait_ms: 3000 }));
    assert_eq!(e("/fact?n=007"), Some(Expected::Fact { n: 7, cache: true }));
    assert_eq!(e("/fact?n=20001"), Some(Expected::Error(400)));
    assert_eq!(e("/say/hello?name=a&%6Eame=b"), Some(Expected::Error(400)));
    assert_eq!(e("/say/hello?name=%zz"), Some(Expected::Error(400)));
    assert_eq!(e("/say/hello?name=%ff"), Some(Expected::Error(400)));
    assert_eq!(e("/say/hello?name=%+1"), Some(Expected::Error(400)));
    assert_eq!(e("/block?ms=60001"), Some(Expected::Error(400)));
    assert_eq!(e("/no/param?unused=1"), Some(Expected::Ready));
    assert_eq!(e("/say/hello/"), Some(Expected::Error(404)));
    assert_eq!(expected("POST", "/fact?n=1", 3000), Some(Expected::Error(405)));
    assert_eq!(expected("POST", "/nope", 3000), Some(Expected::Error(404)));
    assert_eq!(e("/no/param?&"), None);
}

/// Percent-encoding every byte of distinct names and arbitrary values, then parsing, gives them back exactly.
#[test]
fn query_decodes_what_was_encoded() {
    let pairs = prop::collection::btree_map("[a-z]{1,6}", any::<String>(), 0..6);
    let mut runner = TestRunner::new(config(IN_PROCESS_CASES));
    let result = runner.run(&pairs, |pairs| {
        let encode = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
        let raw = pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&");
        let query = Query::parse(&raw).map_err(|e| TestCaseError::fail(format!("{raw:?}: {e}")))?;
        for (name, value) in &pairs {
            prop_assert_eq!(query.get(name), Some(value.as_str()), "{:?}", raw);
        }
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}

/// Well-formed requests that the mutations start from. None of them waits long: mutations only change bytes,
/// and no seed holds `ms=` or `/block` for them to turn into a long wait.
const SEEDS: &[&[u8]] = &[
    b"GET /no/param HTTP/1.1\r\nHost: lab\r\n\r\n",
    b"GET /fact?n=25&cache=0 HTTP/1.1\r\nHost: lab\r\nAccept: */*\r\n\r\n",
    b"GET /say/hello?name=fuzz%20me HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n",
    b"GET /db/visits?name=fuzz HTTP/1.1\r\nHost: lab\r\n\r\nGET /health HTTP/1.1\r\nHost: lab\r\n\r\n",
    b"POST /db/visit?name=fuzz HTTP/1.1\r\nHost: lab\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /no/param HTTP/1.1\r\nHost: lab\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"GET http://lab/no/param HTTP/1.0\r\n\r\n",
];

/// Byte strings that parsers treat specially, for insertion.
const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r",
    b"\0",
    b" ",
    b"\t",
    b":",
    b"%",
    b"?",
    b"&",
    b"=",
    b"\xff",
    b"HTTP/1.1",
    b"HTTP/2.0",
    b"Content-Length: ",
    b"Transfer-Encoding: chunked\r\n",
    b"99999999999999999999",
    b"1000000000000",
    b"-1",
    b"\r\n\r\n",
    b"Expect: 100-continue\r\n",
    b"Connection: close\r\n",
    b"HTTP/0.9",
    b"PRI",
    b"*",
    b"gzip",
    b"chunked",
    b"",
    b"ffffffffffffffffff",
];

/// Whole header lines that change how a request is framed or answered, for insertion at a line start.
const HEADER_LINES: &[&[u8]] = &[
    b"Content-Length: 1000000000000\r\n",
    b"Content-Length: 2000\r\n",
    b"Content-Length: -1\r\n",
    b"Content-Length: 99999999999999999999\r\n",
    b"Content-Length: 0\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip\r\n",
    b"Expect: 100-continue\r\n",
    b"Expect: nonsense\r\n",
    b"Connection: close\r\n",
    b"Connection: upgrade\r\nUpgrade: websocket\r\n",
    b"No colon\r\n",
];

#[derive(Debug, Clone)]
enum Mutation {
    /// XOR the byte at the index with a non-zero mask.
    Flip(Index, u8),
    Insert(Index, Vec<u8>),
    /// Replace up to N bytes from the index with other bytes.
    Replace(Index, usize, Vec<u8>),
    /// Replace one whole word (a method, a version, a header value, a number) with other bytes: structure-aware,
    /// so that `HTTP/1.1` becomes `HTTP/2.0` or a length becomes 10^12 often enough to matter.
    ReplaceWord(Index, Vec<u8>),
    /// Insert a header line at the start of a line after the first.
    InsertLine(Index, Vec<u8>),
    Remove(Index, usize),
    /// Copy a slice of the request to the end (pipelining fragments).
    Duplicate(Index, usize),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let token = || prop::sample::select(TOKENS).prop_map(<[u8]>::to_vec);
    prop_oneof![
        1 => (any::<Index>(), 1..=255u8).prop_map(|(at, mask)| Mutation::Flip(at, mask)),
        1 => (any::<Index>(), token()).prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        1 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        1 => (any::<Index>(), 1..10usize, token()).prop_map(|(at, len, bytes)| Mutation::Replace(at, len, bytes)),
        3 => (any::<Index>(), token()).prop_map(|(at, bytes)| Mutation::ReplaceWord(at, bytes)),
        2 => (any::<Index>(), prop::sample::select(HEADER_LINES).prop_map(<[u8]>::to_vec))
            .prop_map(|(at, line)| Mutation::InsertLine(at, line)),
        1 => (any::<Index>(), 1..16usize).prop_map(|(at, len)| Mutation::Remove(at, len)),
        1 => (any::<Index>(), 1..64usize).prop_map(|(at, len)| Mutation::Duplicate(at, len)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

/// The `(start, end)` of every word: a run of bytes between separators of the request syntax.
fn words(bytes: &[u8]) -> Vec<(usize, usize)> {
    let is_separator = |b: &u8| b" \r\n:?&=".contains(b);
    let mut words = Vec::new();
    let mut start = None;
    for (i, b) in bytes.iter().enumerate() {
        match (start, is_separator(b)) {
            (None, false) => start = Some(i),
            (Some(s), true) => {
                words.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        words.push((s, bytes.len()));
    }
    words
}

fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for mutation in mutations {
        let len = bytes.len().max(1);
        match mutation {
            Mutation::Flip(at, mask) if !bytes.is_empty() => {
                let at = at.index(len);
                bytes[at] ^= mask;
            }
            Mutation::Flip(..) => {}
            Mutation::Insert(at, new) => {
                let at = at.index(len + 1).min(bytes.len());
                bytes.splice(at..at, new.iter().copied());
            }
            Mutation::Replace(at, n, new) => {
                let at = at.index(len).min(bytes.len());
                bytes.splice(at..(at + n).min(bytes.len()), new.iter().copied());
            }
            Mutation::ReplaceWord(at, new) => {
                let words = words(&bytes);
                if !words.is_empty() {
                    let (start, end) = words[at.index(words.len())];
                    bytes.splice(start..end, new.iter().copied());
                }
            }
            Mutation::InsertLine(at, line) => {
                let starts: Vec<usize> =
                    bytes.iter().enumerate().filter(|&(_, &b)| b == b'\n').map(|(i, _)| i + 1).collect();
                let at = if starts.is_empty() { bytes.len() } else { starts[at.index(starts.len())] };
                bytes.splice(at..at, line.iter().copied());
            }
            Mutation::Remove(at, n) => {
                let at = at.index(len).min(bytes.len());
                bytes.drain(at..(at + n).min(bytes.len()));
            }
            Mutation::Duplicate(at, n) => {
                let at = at.index(len).min(bytes.len());
                let slice = bytes[at..(at + n).min(bytes.len())].to_vec();
                bytes.extend(slice);
            }
            Mutation::Truncate(at) => bytes.truncate(at.index(len + 1)),
        }
    }
    bytes
}

/// What is sent: random bytes, or a seed request with a few mutations.
fn tcp_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..512),
        3 => (prop::sample::select(SEEDS), prop::collection::vec(mutation(), 1..5))
            .prop_map(|(seed, mutations)| apply(seed.to_vec(), &mutations)),
    ]
}

/// Escapes bytes the way tests/hostile/*.http writes them, so that a failing input can be pasted into a case.
fn as_case_text(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            b'\r' => "\\r".to_string(),
            b'\n' => "\\n".to_string(),
            b'\t' => "\\t".to_string(),
            b'\\' => "\\\\".to_string(),
            0x20..=0x7e => (b as char).to_string(),
            b => format!("\\x{b:02x}"),
        })
        .collect()
}

/// A server for fuzzing: quiet, a 1 s header timeout, and `RUST_BACKTRACE=0` so that a crashing process dies at
/// once instead of serving on for a second while it prints a backtrace (which would blame the next input).
struct FuzzTarget {
    process: ServerProcess,
    _dir: TestDir,
}

impl FuzzTarget {
    fn start(name: &str) -> FuzzTarget {
        let dir = TestDir::new("fuzz-tcp");
        let mut command = Command::new(workspace_binary(name));
        command
            .args(["--port", "0", "--quiet", "--hello-ms", "50", "--header-timeout-s", "1", "--db"])
            .arg(dir.path.join("visits.sqlite"))
            .env("RUST_BACKTRACE", "0");
        let process = ServerProcess::start(command, Duration::from_secs(20)).expect("start the server");
        FuzzTarget { process, _dir: dir }
    }

    /// Sends `bytes`, half-closes, and waits for the server to close the connection; then checks the server.
    /// A server that has read EOF has nothing left to wait for: it must close within 3 s (its header timeout
    /// is 1 s), or its connection thread or task is stuck. Returns what is wrong, if anything.
    fn try_input(&self, bytes: &[u8]) -> Option<String> {
        let mut connection = match RawConnection::connect(self.process.addr, Duration::from_secs(5)) {
            Ok(connection) => connection,
            Err(e) => return Some(format!("cannot connect: {e}")),
        };
        let _ = connection.send(bytes);
        connection.close_write();
        if !connection.closed_within(Duration::from_secs(3)) {
            return Some("the connection was still open 3 s after the client's EOF".into());
        }
        self.trouble()
    }

    /// Why the server is no longer fine, if it is not: it wrote on stderr (with --quiet, only a panic or an
    /// abort does), or it no longer answers /health.
    fn trouble(&self) -> Option<String> {
        let health = match common::get(self.process.addr, "/health") {
            Ok(response) if response.status == 200 => None,
            other => Some(format!("GET /health afterwards gave {other:?}")),
        };
        let stderr = self.process.stderr_lines().first().map(|line| format!("the server wrote on stderr: {line}"));
        stderr.or(health)
    }

    /// Whether `bytes` alone upsets a fresh server, watching it for a second afterwards.
    fn reproduces(name: &str, bytes: &[u8]) -> Option<String> {
        let fresh = FuzzTarget::start(name);
        let mut problem = fresh.try_input(bytes);
        common::wait_until(Duration::from_secs(1), || {
            problem = problem.take().or_else(|| fresh.trouble());
            problem.is_some()
        });
        problem
    }
}

/// The state of one fuzzing run over TCP.
struct TcpFuzzing {
    target: FuzzTarget,
    /// The input before the current one: a crash that shows late is blamed on it if the current input alone
    /// does not reproduce it.
    previous: Option<Vec<u8>>,
    /// An input found to upset a fresh server on its own, when it is not the one proptest is shrinking.
    culprit: Option<(Vec<u8>, String)>,
}

/// Arbitrary and mutated requests over TCP never take the server down. A server in trouble is replaced by a
/// fresh one, and the input replayed against another fresh one, so that what is reported (and what proptest
/// shrinks) is an input that does the damage by itself.
fn tcp_input_never_takes_the_server_down(name: &'static str) {
    let state = RefCell::new(TcpFuzzing { target: FuzzTarget::start(name), previous: None, culprit: None });
    let mut runner = TestRunner::new(config(TCP_CASES));
    let result = runner.run(&tcp_input(), |bytes| {
        let mut state = state.borrow_mut();
        let Some(problem) = state.target.try_input(&bytes) else {
            state.previous = Some(bytes);
            return Ok(());
        };
        state.target = FuzzTarget::start(name);
        if let Some(reproduced) = FuzzTarget::reproduces(name, &bytes) {
            return Err(TestCaseError::fail(reproduced));
        }
        if let Some(previous) = state.previous.take() {
            if let Some(reproduced) = FuzzTarget::reproduces(name, &previous) {
                state.culprit.get_or_insert((previous, reproduced));
            }
        }
        Err(TestCaseError::fail(format!("{problem} (not reproduced by this input alone)")))
    });
    let culprit = state.into_inner().culprit;
    match (result, culprit) {
        (Ok(()), _) => {}
        (Err(_), Some((bytes, reason))) => {
            panic!("{name}: the input `{}` takes the server down: {reason}", as_case_text(&bytes))
        }
        (Err(TestError::Fail(reason, bytes)), None) => {
            panic!("{name}: the input `{}` takes the server down: {reason}", as_case_text(&bytes))
        }
        (Err(error), None) => panic!("{name}: {error}"),
    }
}
