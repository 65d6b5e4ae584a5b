//! The hostile catalogue: every malformed or hostile request in `tests/hostile/*.http`, sent over raw TCP to
//! every server binary. Each must get the outcome its file expects (a 4xx, or the connection closed; a few
//! documented exceptions), and after each one the server must still answer a well-formed request and must
//! not have written anything on stderr (it runs with `--quiet`, so a line there is a panic or an abort).
//!
//! The catalogue is data, not code: `tests/hostile/README.md` describes the file format and every place where
//! hyper (the async servers) and tiny_http (the thread servers) legitimately answer differently.

mod common;
mod raw;

use common::Server;
use raw::{Outcome, RawConnection};
use std::path::{Path, PathBuf};
use std::time::Duration;

for_each_server!(catalogue);

/// How long one response (or the close) may take. The servers run with a 1 s header timeout, so a server that
/// waits for more bytes gives up well within it.
const OUTCOME_TIMEOUT: Duration = Duration::from_secs(5);

/// The header timeout the servers run with here, so that cases a server waits out cost 1 s, not 10.
const HEADER_TIMEOUT_S: &str = "1";

/// Which HTTP implementation a server binary uses: the only thing its answers to bad HTTP depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// thread-server and pool-server.
    TinyHttp,
    /// async-std-server, smol-server and tokio-server.
    Hyper,
    /// lean-server: its own HTTP/1.1 on httparse, held to the catalogue's plain `expect:`.
    Lean,
}

impl Family {
    fn of(server: &str) -> Family {
        match server {
            "thread-server" | "pool-server" => Family::TinyHttp,
            "async-std-server" | "smol-server" | "tokio-server" => Family::Hyper,
            "lean-server" => Family::Lean,
            other => panic!("unknown server binary {other}"),
        }
    }
}

/// One acceptable outcome of one step.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Allowed {
    /// Exactly this status.
    Status(u16),
    /// Any status of this class: `4xx` is `Class(4)`.
    Class(u16),
    /// The connection closed (or was reset) instead of a response.
    Close,
}

impl Allowed {
    fn accepts(&self, outcome: &Outcome) -> bool {
        match (self, outcome) {
            (Allowed::Status(want), Outcome::Response { status, .. }) => status == want,
            (Allowed::Class(class), Outcome::Response { status, .. }) => status / 100 == *class,
            (Allowed::Close, outcome) => outcome.is_closed(),
            _ => false,
        }
    }
}

/// What must happen, response by response: each step lists its acceptable outcomes (`200, 400|close`).
type Expectation = Vec<Vec<Allowed>>;

/// One catalogue entry.
#[derive(Debug)]
struct Case {
    /// The file name without `.http`.
    name: String,
    /// The raw bytes to send.
    request: Vec<u8>,
    /// `# expect:`: for every server unless overridden.
    expect: Expectation,
    /// `# expect[tiny_http]:` and `# expect[hyper]:`.
    expect_tiny_http: Option<Expectation>,
    expect_hyper: Option<Expectation>,
    /// `# after: close-write`: half-close the connection once the bytes are sent.
    close_write: bool,
}

impl Case {
    fn expectation(&self, family: Family) -> &Expectation {
        let specific = match family {
            Family::TinyHttp => &self.expect_tiny_http,
            Family::Hyper => &self.expect_hyper,
            Family::Lean => &None,
        };
        specific.as_ref().unwrap_or(&self.expect)
    }
}

fn parse_expectation(raw: &str) -> Result<Expectation, String> {
    raw.split(',')
        .map(|step| {
            step.split('|')
                .map(|alternative| match alternative.trim() {
                    "close" => Ok(Allowed::Close),
                    s if s.len() == 3 && s.ends_with("xx") => {
                        s[..1].parse().map(Allowed::Class).map_err(|_| format!("bad status class {s:?}"))
                    }
                    s => s.parse().map(Allowed::Status).map_err(|_| format!("bad outcome {s:?}")),
                })
                .collect()
        })
        .collect()
}

/// Decodes the request part of a case file: file line breaks are layout only; `\r \n \t \0 \\ \xHH` are
/// bytes; `\*N{TEXT}` is TEXT (itself decoded, `\}` for a brace) repeated N times.
fn decode_request(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().filter(|&c| c != '\n').peekable();
    decode_into(&mut chars, &mut out, false)?;
    Ok(out)
}

fn decode_into(
    chars: &mut std::iter::Peekable<impl Iterator<Item = char>>,
    out: &mut Vec<u8>,
    in_repeat: bool,
) -> Result<(), String> {
    while let Some(c) = chars.next() {
        match c {
            '}' if in_repeat => return Ok(()),
            '\\' => match chars.next().ok_or("a lone backslash at the end")? {
                'r' => out.push(b'\r'),
                'n' => out.push(b'\n'),
                't' => out.push(b'\t'),
                '0' => out.push(0),
                '\\' => out.push(b'\\'),
                '}' => out.push(b'}'),
                'x' => {
                    let hex: String = chars.by_ref().take(2).collect();
                    out.push(u8::from_str_radix(&hex, 16).map_err(|_| format!("bad \\x escape {hex:?}"))?);
                }
                '*' => {
                    let mut count = String::new();
                    while let Some(d) = chars.next_if(char::is_ascii_digit) {
                        count.push(d);
                    }
                    let count: usize = count.parse().map_err(|_| "\\* needs a count".to_string())?;
                    if chars.next() != Some('{') {
                        return Err("\\*N must be followed by {".into());
                    }
                    let mut unit = Vec::new();
                    decode_into(chars, &mut unit, true)?;
                    out.extend(unit.iter().copied().cycle().take(unit.len() * count));
                }
                other => return Err(format!("unknown escape \\{other}")),
            },
            c => {
                let mut utf8 = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
        }
    }
    if in_repeat {
        return Err("unclosed \\*N{".into());
    }
    Ok(())
}

fn parse_case(name: &str, text: &str) -> Result<Case, String> {
    let (mut expect, mut expect_tiny_http, mut expect_hyper, mut close_write) = (None, None, None, false);
    let mut request = String::new();
    let mut in_header = true;
    for line in text.lines() {
        if in_header {
            if let Some(comment) = line.strip_prefix('#') {
                let comment = comment.trim();
                if let Some(raw) = comment.strip_prefix("expect:") {
                    expect = Some(parse_expectation(raw)?);
                } else if let Some(raw) = comment.strip_prefix("expect[tiny_http]:") {
                    expect_tiny_http = Some(parse_expectation(raw)?);
                } else if let Some(raw) = comment.strip_prefix("expect[hyper]:") {
                    expect_hyper = Some(parse_expectation(raw)?);
                } else if let Some(raw) = comment.strip_prefix("after:") {
                    match raw.trim() {
                        "close-write" => close_write = true,
                        other => return Err(format!("unknown `after: {other}`")),
                    }
                }
                continue;
            }
            in_header = false;
        }
        request.push_str(line);
        request.push('\n');
    }
    Ok(Case {
        name: name.to_string(),
        request: decode_request(&request)?,
        expect: expect.ok_or("no `# expect:` line")?,
        expect_tiny_http,
        expect_hyper,
        close_write,
    })
}

fn catalogue_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile")
}

/// Every case file, in file-name order.
fn load_catalogue() -> Vec<Case> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(catalogue_dir())
        .expect("tests/hostile exists")
        .map(|entry| entry.expect("readable dir").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "http"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let name = path.file_stem().and_then(|s| s.to_str()).expect("UTF-8 file name");
            let text = std::fs::read_to_string(path).expect("readable case file");
            parse_case(name, &text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect()
}

/// Sends one case on a fresh connection and reads as many outcomes as the expectation has steps (fewer if
/// the connection closes first).
fn run_case(server: &Server, case: &Case, steps: usize) -> Vec<Outcome> {
    let mut connection = match RawConnection::connect(server.addr(), OUTCOME_TIMEOUT) {
        Ok(connection) => connection,
        Err(e) => return vec![Outcome::Garbage(format!("cannot connect: {e}"))],
    };
    // A write error means the server stopped reading and closed (a 431 halfway through a 1 MB target):
    // what it answered before that is still to be read.
    let _ = connection.send(&case.request);
    if case.close_write {
        connection.close_write();
    }
    let mut outcomes = Vec::new();
    for _ in 0..steps {
        let outcome = connection.next_outcome();
        let closed = outcome.is_closed();
        outcomes.push(outcome);
        if closed {
            break;
        }
    }
    outcomes
}

/// Whether `outcomes` satisfy `expect`; steps after a close must accept a close.
fn satisfies(expect: &Expectation, outcomes: &[Outcome]) -> bool {
    expect.iter().enumerate().all(|(i, allowed)| match outcomes.get(i) {
        Some(outcome) => allowed.iter().any(|a| a.accepts(outcome)),
        None => outcomes.last().is_some_and(Outcome::is_closed) && allowed.contains(&Allowed::Close),
    })
}

/// Every case against one server binary, then a health check after each and a panic check at the end.
fn catalogue(name: &'static str) {
    let cases = load_catalogue();
    let family = Family::of(name);
    let mut server = Server::start(name, &["--header-timeout-s", HEADER_TIMEOUT_S]);
    let mut failures = Vec::new();
    for case in &cases {
        let expect = case.expectation(family);
        let outcomes = run_case(&server, case, expect.len());
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
    assert!(cases.len() >= 30, "the catalogue must hold at least 30 hostile cases, found {}", cases.len());
    for case in &cases {
        assert!(!case.request.is_empty(), "{}: empty request", case.name);
    }
    let case = parse_case(
        "example",
        "# about\n# expect: 400|close, 4xx\n# expect[hyper]: 200\n# after: close-write\nA\\r\\n\nB\\x00\\*3{ab\\}}\\\\\n",
    )
    .unwrap();
    assert_eq!(case.request, b"A\r\nB\0ab}ab}ab}\\");
    assert_eq!(case.expect, vec![vec![Allowed::Status(400), Allowed::Close], vec![Allowed::Class(4)]]);
    assert_eq!(case.expectation(Family::Hyper), &vec![vec![Allowed::Status(200)]]);
    assert_eq!(case.expectation(Family::TinyHttp), &case.expect);
    assert!(case.close_write);
    let big = cases.iter().find(|c| c.name.ends_with("one-megabyte-uri")).expect("the 1 MB case");
    assert!(big.request.len() > 1 << 20, "the generator expands: {} bytes", big.request.len());
    assert!(parse_case("x", "# expect: 200\n\\*3{a").is_err(), "an unclosed repeat is an error");
    assert!(parse_case("x", "GET\n").is_err(), "a case without an expectation is an error");
}
