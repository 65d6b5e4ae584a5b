//! Property-based fuzzing with proptest, in two layers:
//!
//! - in process: `Workload::plan` never panics on any method and target and plans exactly what the contract
//!   says, checked against an oracle written from docs/workload.md (not the server's own query parser); a
//!   percent-encoded query decodes back to exactly what was encoded;
//! - over TCP: arbitrary bytes, and valid requests mutated byte by byte, sent to each real server binary never
//!   take it down: after every input the server closes the half-closed connection (no stuck thread or task),
//!   still answers `/health`, and writes nothing on stderr (no panic); and where an input's framing is
//!   unambiguous (RFC 9112 §6: one request with a valid Content-Length, an invalid Content-Length, or both
//!   Transfer-Encoding and Content-Length), the server answers what the RFC says.
//!
//! Replayable: every failure's seed is appended to `proptest-regressions/fuzz.txt` (committed; every run
//! replays it first), and a failing test prints the run's seed (`PROPTEST_RNG_SEED=…`) to replay it whole.
//!
//! The default case counts keep the suite fast (a few seconds per target). `PROPTEST_CASES=100000` runs a
//! long campaign; see tests/hostile/README.md. Every crash found becomes a case in tests/hostile/.

mod common;
mod raw;

use common::TestDir;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed, TestCaseError, TestError, TestRunner};
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

/// Where proptest keeps the failures it found, committed: before drawing new cases, every run replays each seed
/// listed there (one `cc` line per failure, with the shrunk input as a comment).
const REGRESSIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/proptest-regressions/fuzz.txt");

/// proptest's configuration: `PROPTEST_CASES` if set, else `default_cases`; failures persisted in
/// [`REGRESSIONS`] (readable ones also become cases in tests/hostile/); the run's seed fixed up front —
/// `PROPTEST_RNG_SEED` if set, else a fresh one — so that a failure can print it and the run be replayed whole;
/// shrinking a failure stops after a minute (over TCP, each failing attempt can cost a few seconds). Returns
/// the seed with the configuration.
fn config(default_cases: u32) -> (Config, u64) {
    let mut config = Config {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default_cases;
    }
    if std::env::var_os("PROPTEST_MAX_SHRINK_TIME").is_none() {
        config.max_shrink_time = 60_000;
    }
    let seed = match config.rng_seed {
        RngSeed::Fixed(seed) => seed,
        // A fresh seed from the standard library's per-process random keys: no crate for one number.
        RngSeed::Random => {
            use std::hash::{BuildHasher, Hasher};
            std::collections::hash_map::RandomState::new().build_hasher().finish()
        }
    };
    config.rng_seed = RngSeed::Fixed(seed);
    (config, seed)
}

/// A runner for `default_cases` cases, with the seed to print if it fails.
fn runner(default_cases: u32) -> (TestRunner, u64) {
    let (config, seed) = config(default_cases);
    (TestRunner::new(config), seed)
}

/// The line that replays a failed run of `test`: its seed, and the file the failing case was saved in.
fn replay(test: &str, seed: u64) -> String {
    format!(
        "replay the whole run: PROPTEST_RNG_SEED={seed} cargo nextest run -p servers --test fuzz {test} (the failing \
         case's own seed was appended to {REGRESSIONS}; commit it)"
    )
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
    let (mut runner, seed) = runner(IN_PROCESS_CASES);
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
        panic!("{error}\n{}", replay("plan_follows_the_contract", seed));
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
    let (mut runner, seed) = runner(IN_PROCESS_CASES);
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
        panic!("{error}\n{}", replay("query_decodes_what_was_encoded", seed));
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

/// What is sent: random bytes, a seed request with a few mutations, or a request built around its framing.
fn tcp_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..512),
        3 => (prop::sample::select(SEEDS), prop::collection::vec(mutation(), 1..5))
            .prop_map(|(seed, mutations)| apply(seed.to_vec(), &mutations)),
        2 => framed_input(),
    ]
}

/// Content-Length values that are not 1*DIGIT, or too large for any body (RFC 9110 §8.6).
const INVALID_LENGTHS: &[&str] = &["-1", "+5", "0x10", "1.5", "5 5", "five", "", "1e3", "99999999999999999999999"];

/// A well-formed request whose body is framed by one or two Content-Length headers — valid ones with a body of
/// exactly that length, or invalid ones — sometimes with Transfer-Encoding beside them: the inputs on which
/// RFC 9112 §6 says what must happen ([`framing`]), which byte mutations rarely leave intact.
fn framed_input() -> impl Strategy<Value = Vec<u8>> {
    let line = prop::sample::select(vec!["GET /no/param", "POST /no/param", "GET /fact?n=5", "POST /db/visit?name=f"]);
    let length = prop_oneof![
        3 => (0..48usize).prop_map(|n| n.to_string()),
        2 => prop::sample::select(INVALID_LENGTHS).prop_map(String::from),
    ];
    let headers = prop::collection::vec(length, 1..=2);
    (line, headers, prop::bool::weighted(0.2), "[a-z]{0,16}").prop_map(|(line, lengths, chunked, extra)| {
        let mut head = format!("{line} HTTP/1.1\r\nHost: lab\r\n");
        for value in &lengths {
            head.push_str(&format!("Content-Length: {value}\r\n"));
        }
        if chunked {
            head.push_str("Transfer-Encoding: chunked\r\n");
        }
        head.push_str("\r\n");
        // A valid first length gets a body of exactly that many bytes; otherwise whatever bytes follow.
        match lengths[0].parse::<usize>() {
            Ok(n) if !chunked => head.push_str(&"b".repeat(n)),
            _ => head.push_str(&extra),
        }
        head.into_bytes()
    })
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

/// What RFC 9112 §6 makes of an input whose framing is unambiguous: one whole HTTP/1.1 request (GET or POST,
/// an origin-form target, one Host, no Expect, Upgrade or Connection header to ask for anything else) whose
/// message body, if any, is framed by Content-Length alone or is made ambiguous by Transfer-Encoding beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// A valid Content-Length (or none) whose body ends exactly where the input does: exactly one response
    /// (§6.3 items 6 and 7: the body is that many bytes, and nothing after it is a request); then the client
    /// half-closes and the server closes.
    OneRequest,
    /// Transfer-Encoding and Content-Length both present: whether the server rejects it or frames it by the
    /// Transfer-Encoding, it "MUST close the connection after responding" (§6.1). The chunked body may be
    /// incomplete, so the client half-closes if no response came: then at most that one response, never a
    /// second one from bytes after the body.
    BothLengths,
    /// No Transfer-Encoding and an invalid Content-Length (not 1*DIGIT, too large for any body, or differing
    /// values): "the server MUST respond with a 400 (Bad Request) status code and then close the connection"
    /// (§6.3 item 5; the hostile catalogue's absurd, negative and conflicting Content-Length cases) — close
    /// by itself, with the client's side still open.
    InvalidLength,
}

impl Framing {
    /// Whether the client half-closes once the first response has come (else it waits for the server's close).
    fn half_closes_after_the_response(self) -> bool {
        self == Framing::OneRequest
    }

    /// What is wrong with the outcomes (the first, and the next if the first was a response), if anything.
    fn judge(self, outcomes: &[raw::Outcome]) -> Option<String> {
        let shown = outcomes.iter().map(ToString::to_string).collect::<Vec<_>>().join(", then ");
        let closed_after_one = outcomes.len() == 2 && outcomes[0].is_response() && outcomes[1].is_closed();
        let ok = match self {
            Framing::OneRequest => closed_after_one,
            Framing::BothLengths => closed_after_one || outcomes.first().is_some_and(raw::Outcome::is_closed),
            Framing::InvalidLength => closed_after_one && outcomes[0].status() == Some(400),
        };
        let rule = match self {
            Framing::OneRequest => "one request framed by Content-Length gets exactly one response (RFC 9112 §6.3)",
            Framing::BothLengths => {
                "Transfer-Encoding with Content-Length: at most one response, then close (RFC 9112 §6.1)"
            }
            Framing::InvalidLength => "an invalid Content-Length gets 400, then close (RFC 9112 §6.3 item 5)",
        };
        (!ok).then(|| format!("{rule}; got {shown}"))
    }
}

/// The input's framing when RFC 9112 §6 leaves no doubt about it; None for anything else (a head httparse does
/// not accept or that is cut short, a chunked body, a list-valued Content-Length that a recipient MAY read
/// either way (RFC 9110 §8.6), pipelined bytes after the body…), where only the server's survival is checked.
fn framing(bytes: &[u8]) -> Option<Framing> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(head_len)) = request.parse(bytes) else { return None };
    // A head with bytes outside visible ASCII (obs-text, NUL, other controls) is one a recipient MAY reject
    // outright (RFC 9110 §5.5): tiny_http closes on it (the catalogue's obs-text case), so no framing rule binds.
    let visible = |b: &u8| b.is_ascii_graphic() || b" \t\r\n".contains(b);
    // Lines end in CRLF: a bare LF is one a recipient MAY accept (RFC 9112 §2.2), and a bare CR is invalid.
    let head = &bytes[..head_len];
    let crlf_only = head.iter().enumerate().all(|(i, b)| match b {
        b'\n' => i > 0 && head[i - 1] == b'\r',
        b'\r' => head.get(i + 1) == Some(&b'\n'),
        _ => true,
    });
    let plain = head.iter().all(visible)
        && crlf_only
        && request.version == Some(1)
        && matches!(request.method, Some("GET" | "POST"))
        && request.path.is_some_and(|p| p.starts_with('/'))
        && head_len <= 4096;
    if !plain {
        return None;
    }
    let named = |name: &'static str| request.headers.iter().filter(move |h| h.name.eq_ignore_ascii_case(name));
    if named("host").count() != 1 || ["expect", "upgrade", "connection"].into_iter().any(|n| named(n).count() > 0) {
        return None;
    }
    // Field values without the optional whitespace around them (RFC 9110 §5.5).
    let lengths: Vec<&[u8]> = named("content-length").map(|h| h.value.trim_ascii()).collect();
    let chunked = named("transfer-encoding").count() > 0;
    match (chunked, lengths.is_empty()) {
        (true, false) => return Some(Framing::BothLengths),
        // A chunked body's end depends on its chunks: not judged here (the catalogue has those cases).
        (true, true) => return None,
        _ => {}
    }
    if lengths.iter().any(|v| v.contains(&b',')) {
        return None;
    }
    let digits = |v: &[u8]| !v.is_empty() && v.iter().all(u8::is_ascii_digit);
    let value = |v: &[u8]| std::str::from_utf8(v).ok()?.parse::<u64>().ok();
    let mut values = Vec::new();
    for length in &lengths {
        match (digits(length), value(length)) {
            (false, _) => return Some(Framing::InvalidLength),
            // More digits than any length (the catalogue's 10^23): unrecoverable, like a non-number.
            (true, None) => return Some(Framing::InvalidLength),
            (true, Some(n)) => values.push(n),
        }
    }
    if values.windows(2).any(|w| w[0] != w[1]) {
        return Some(Framing::InvalidLength);
    }
    // The same value twice is a list a recipient MAY reject or MAY read as one value (RFC 9110 §8.6).
    if values.len() > 1 {
        return None;
    }
    let body = values.first().copied().unwrap_or(0);
    (bytes.len() as u64 - head_len as u64 == body).then_some(Framing::OneRequest)
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
    /// is 1 s), or its connection thread or task is stuck. Where the input's framing is unambiguous
    /// ([`framing`]), what came back must also be what RFC 9112 §6 says. Returns what is wrong, if anything.
    fn try_input(&mut self, bytes: &[u8]) -> Option<String> {
        let mut connection = match RawConnection::connect(self.process.addr, Duration::from_secs(5)) {
            Ok(connection) => connection,
            Err(e) => return Some(format!("cannot connect: {e}")),
        };
        let _ = connection.send(bytes);
        let wrong = match framing(bytes) {
            None => {
                connection.close_write();
                (!connection.closed_within(Duration::from_secs(3)))
                    .then(|| "the connection was still open 3 s after the client's EOF".to_string())
            }
            Some(framing) => {
                // No RFC asks a server to answer a request whose client has half-closed (many treat the EOF as
                // the client leaving), so the client half-closes only where the rule allows it (`Framing`).
                connection.set_timeout(Duration::from_secs(3));
                let mut first = connection.next_outcome();
                if framing == Framing::BothLengths && matches!(first, raw::Outcome::Silent) {
                    // Framed by its Transfer-Encoding, the body is incomplete (a route that reads bodies, such as
                    // POST /db/visit, waits for the rest, as it may): the client's EOF ends the message, and what
                    // the server does then is judged.
                    connection.close_write();
                    first = connection.next_outcome();
                }
                if framing.half_closes_after_the_response() || !first.is_response() {
                    connection.close_write();
                }
                let outcomes = match first.is_response() {
                    true => vec![first, connection.next_outcome()],
                    false => vec![first],
                };
                framing.judge(&outcomes)
            }
        };
        // What the server did to this connection and how the server is afterwards, together: a wrong outcome
        // with a line on stderr (a panic on the acceptor, say) is one event, not two.
        together([wrong, self.trouble()])
    }

    /// Why the server is no longer fine, if it is not: it wrote on stderr (with --quiet, only a panic or an
    /// abort does), it exited (and how: a signal such as SIGSEGV leaves no line on stderr), or it no longer
    /// answers /health.
    fn trouble(&mut self) -> Option<String> {
        let health = match common::get(self.process.addr, "/health") {
            Ok(response) if response.status == 200 => None,
            other => Some(format!("GET /health afterwards gave {other:?}")),
        };
        let exited = health.as_ref().and_then(|_| self.process.try_wait().ok().flatten());
        if exited.is_some() {
            // What a dying process wrote reaches the test through a pipe and a reader thread: give it time to
            // arrive once the process is gone.
            common::wait_until(Duration::from_secs(1), || !self.process.stderr_lines().is_empty());
        }
        let stderr = self.process.stderr_lines().first().map(|line| format!("the server wrote on stderr: {line}"));
        let exited = exited.map(|status| format!("the server exited ({status})"));
        together([stderr, exited, health])
    }

    /// Whether `bytes` alone upsets a fresh server, watching it for a second afterwards.
    fn reproduces(name: &str, bytes: &[u8]) -> Option<String> {
        let mut fresh = FuzzTarget::start(name);
        let mut problem = fresh.try_input(bytes);
        common::wait_until(Duration::from_secs(1), || {
            problem = problem.take().or_else(|| fresh.trouble());
            problem.is_some()
        });
        problem
    }
}

/// What was found wrong, as one message (None when nothing was).
fn together<const N: usize>(found: [Option<String>; N]) -> Option<String> {
    let found: Vec<String> = found.into_iter().flatten().collect();
    (!found.is_empty()).then(|| found.join("; "))
}

/// The state of one fuzzing run over TCP.
struct TcpFuzzing {
    target: FuzzTarget,
    /// The input before the current one: a crash that shows late is blamed on it if the current input alone
    /// does not reproduce it.
    previous: Option<Vec<u8>>,
    /// An input found to upset a fresh server on its own, when it is not the one proptest is shrinking.
    culprit: Option<(Vec<u8>, String)>,
    /// Inputs sent, and how many of them RFC 9112's framing rules judged ([`framing`]).
    sent: u32,
    judged: u32,
}

/// Arbitrary and mutated requests over TCP never take the server down. A server in trouble is replaced by a
/// fresh one, and the input replayed against another fresh one, so that what is reported (and what proptest
/// shrinks) is an input that does the damage by itself.
fn tcp_input_never_takes_the_server_down(name: &'static str) {
    let target = FuzzTarget::start(name);
    let state = RefCell::new(TcpFuzzing { target, previous: None, culprit: None, sent: 0, judged: 0 });
    let (mut runner, seed) = runner(TCP_CASES);
    let result = runner.run(&tcp_input(), |bytes| {
        let mut state = state.borrow_mut();
        state.sent += 1;
        state.judged += u32::from(framing(&bytes).is_some());
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
    let TcpFuzzing { culprit, sent, judged, .. } = state.into_inner();
    let replay = replay(&format!("tcp_input_never_takes_the_server_down_{}", name.replace('-', "_")), seed);
    match (result, culprit) {
        (Ok(()), _) => {}
        (Err(_), Some((bytes, reason))) => {
            panic!("{name}: the input `{}`: {reason}\n{replay}", as_case_text(&bytes))
        }
        (Err(TestError::Fail(reason, bytes)), None) => {
            panic!("{name}: the input `{}`: {reason}\n{replay}", as_case_text(&bytes))
        }
        (Err(error), None) => panic!("{name}: {error}\n{replay}"),
    }
    // The RFC's outcomes are asserted on a good share of the inputs, not on a lucky few.
    eprintln!("{name}: {judged} of {sent} inputs had an unambiguous framing, judged by RFC 9112 §6");
    assert!(judged * 10 >= sent, "{name}: only {judged} of {sent} inputs were judged by RFC 9112 §6\n{replay}");
}

/// Every run replays the committed failures: the file is there, and its lines are comments or proptest's seeds.
#[test]
fn the_regressions_file_is_committed_and_replayed() {
    let text = std::fs::read_to_string(REGRESSIONS).expect("proptest-regressions/fuzz.txt is committed");
    assert!(text.lines().all(|l| l.is_empty() || l.starts_with('#') || l.starts_with("cc ")), "{text}");
    let (config, seed) = config(1);
    assert_eq!(config.rng_seed, RngSeed::Fixed(seed), "the run's seed is fixed, so that it can be printed");
    assert!(config.failure_persistence.is_some(), "failures are persisted");
}

/// The framing judge on inputs whose RFC 9112 outcome is known, written from the RFC and the hostile
/// catalogue's cases (36, 37, 38, 44, 69, 80), not from what a server answered.
#[test]
fn framing_is_judged_only_where_the_rfc_leaves_no_doubt() {
    let f = |text: &str| framing(text.as_bytes());
    assert_eq!(f("GET /no/param HTTP/1.1\r\nHost: lab\r\n\r\n"), Some(Framing::OneRequest));
    assert_eq!(f("POST /no/param HTTP/1.1\r\nHost: lab\r\nContent-Length:  3 \r\n\r\nabc"), Some(Framing::OneRequest));
    for length in ["-1", "+5", "99999999999999999999999", "0x10", ""] {
        let text = format!("GET /no/param HTTP/1.1\r\nHost: lab\r\nContent-Length: {length}\r\n\r\n");
        assert_eq!(f(&text), Some(Framing::InvalidLength), "{length:?}");
    }
    let conflicting = "GET /no/param HTTP/1.1\r\nHost: lab\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab";
    assert_eq!(f(conflicting), Some(Framing::InvalidLength));
    let both =
        "POST /no/param HTTP/1.1\r\nHost: lab\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    assert_eq!(f(both), Some(Framing::BothLengths));
    for unjudged in [
        // A pipelined second request, a body cut short, a chunked body, a list (or the same length twice) a
        // recipient MAY accept, HTTP/1.0, no Host, an interim response asked for, HEAD (no body in its
        // response), a cut head, a head with obs-text (which tiny_http MAY reject by closing, RFC 9110 §5.5),
        // a bare LF (RFC 9112 §2.2).
        "POST /no/param HTTP/1.1\r\nHost: lab\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "POST /no/param HTTP/1.1\r\nHost: lab\r\nContent-Length: 5\r\n\r\nabc",
        "POST /no/param HTTP/1.1\r\nHost: lab\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /no/param HTTP/1.1\r\nHost: lab\r\nContent-Length: 3, 3\r\n\r\nabc",
        "POST /no/param HTTP/1.1\r\nHost: lab\r\nContent-Length: 3\r\nContent-Length: 003\r\n\r\nabc",
        "GET /no/param HTTP/1.0\r\nHost: lab\r\n\r\n",
        "GET /no/param HTTP/1.1\r\n\r\n",
        "POST /no/param HTTP/1.1\r\nHost: lab\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\na",
        "HEAD /no/param HTTP/1.1\r\nHost: lab\r\n\r\n",
        "GET /no/param HTTP/1.1\r\nHost: lab\r\n",
        "POST /no/param HTTP/1.1\r\nHost: lab\r\nContent-Length: : \u{80}x\r\n\r\n",
        "GET /no/param HTTP/1.1\r\nHost: l\n\r\n",
    ] {
        assert_eq!(f(unjudged), None, "{unjudged:?}");
    }
    // The judge: one response then the end; 400 then the end; never a second response.
    use raw::Outcome::{Closed, Reset, Silent};
    let response = |status| raw::Outcome::Response { status, body: vec![], server: None, close: false };
    assert_eq!(Framing::OneRequest.judge(&[response(404), Closed]), None);
    assert!(Framing::OneRequest.judge(&[response(200), response(200)]).is_some());
    assert!(Framing::OneRequest.judge(&[response(200), Silent]).is_some());
    assert!(Framing::OneRequest.judge(&[Closed]).is_some());
    assert_eq!(Framing::InvalidLength.judge(&[response(400), Reset]), None);
    assert!(Framing::InvalidLength.judge(&[response(200), Closed]).is_some());
    assert_eq!(Framing::BothLengths.judge(&[Closed]), None);
    assert_eq!(Framing::BothLengths.judge(&[response(405), Closed]), None);
    assert!(Framing::BothLengths.judge(&[response(405), response(200)]).is_some());
}
