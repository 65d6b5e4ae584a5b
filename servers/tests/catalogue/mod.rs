//! The hostile catalogue as data: the case files in `tests/hostile/` (format in its README), parsed, sent over
//! raw TCP, and judged against their expectations. Shared by `hostile.rs` (each server against the rules) and
//! `differential.rs` (the servers against each other); a crate that wants to probe another server with the
//! same cases includes this module and `raw` with `#[path]` and calls [`load_catalogue`] and [`run_case`].

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use crate::raw::{Outcome, RawConnection};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which HTTP implementation a server binary uses: the only thing its answers to bad HTTP depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// thread-server and pool-server.
    TinyHttp,
    /// async-std-server, smol-server and tokio-server.
    Hyper,
    /// lean-server: its own HTTP/1.1 on httparse, held to the catalogue's plain `expect:`.
    Lean,
}

impl Family {
    pub fn of(server: &str) -> Family {
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
pub enum Allowed {
    /// Exactly this status.
    Status(u16),
    /// Any status of this class: `4xx` is `Class(4)`.
    Class(u16),
    /// The connection closed (or was reset) instead of a response.
    Close,
}

impl Allowed {
    pub fn accepts(&self, outcome: &Outcome) -> bool {
        match (self, outcome) {
            (Allowed::Status(want), Outcome::Response { status, .. }) => status == want,
            (Allowed::Class(class), Outcome::Response { status, .. }) => status / 100 == *class,
            (Allowed::Close, outcome) => outcome.is_closed(),
            _ => false,
        }
    }
}

/// What must happen, response by response: each step lists its acceptable outcomes (`200, 400|close`).
pub type Expectation = Vec<Vec<Allowed>>;

/// One catalogue entry.
#[derive(Debug)]
pub struct Case {
    /// The file name without `.http`.
    pub name: String,
    /// The raw bytes to send.
    pub request: Vec<u8>,
    /// `# expect:`: for every server unless overridden.
    pub expect: Expectation,
    /// `# expect[tiny_http]:` and `# expect[hyper]:`.
    pub expect_tiny_http: Option<Expectation>,
    pub expect_hyper: Option<Expectation>,
    /// `# after: close-write`: half-close the connection once the bytes are sent.
    pub close_write: bool,
    /// `# rule:`: the RFC section or the part of the project's contract the expectation follows.
    pub rule: String,
    /// `# differs:`: why the families' answers legitimately differ (required with `expect[...]`).
    pub differs: Option<String>,
    /// `# head: 1, 3`: the steps (from 1) that answer a HEAD request, so have no body.
    pub head_steps: Vec<usize>,
}

impl Case {
    pub fn expectation(&self, family: Family) -> &Expectation {
        let specific = match family {
            Family::TinyHttp => &self.expect_tiny_http,
            Family::Hyper => &self.expect_hyper,
            Family::Lean => &None,
        };
        specific.as_ref().unwrap_or(&self.expect)
    }
}

pub fn parse_expectation(raw: &str) -> Result<Expectation, String> {
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
pub fn decode_request(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().filter(|&c| c != '\n').peekable();
    decode_into(&mut chars, &mut out, false)?;
    Ok(out)
}

pub fn decode_into(
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

pub fn parse_case(name: &str, text: &str) -> Result<Case, String> {
    let (mut expect, mut expect_tiny_http, mut expect_hyper, mut close_write) = (None, None, None, false);
    let (mut rule, mut differs, mut head_steps) = (None, None, Vec::new());
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
                } else if let Some(raw) = comment.strip_prefix("rule:") {
                    rule = Some(raw.trim().to_string());
                } else if let Some(raw) = comment.strip_prefix("differs:") {
                    differs = Some(raw.trim().to_string());
                } else if let Some(raw) = comment.strip_prefix("head:") {
                    head_steps = raw
                        .split(',')
                        .map(|step| step.trim().parse().map_err(|_| format!("bad `head:` step {step:?}")))
                        .collect::<Result<_, _>>()?;
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
    let rule = rule.ok_or("no `# rule:` line")?;
    if !["RFC ", "contract"].iter().any(|source| rule.contains(source)) {
        return Err(format!("`# rule:` must cite an RFC section or the contract: {rule:?}"));
    }
    if (expect_tiny_http.is_some() || expect_hyper.is_some()) != differs.is_some() {
        return Err("`# differs:` gives the reason for `expect[...]`: one needs the other".into());
    }
    Ok(Case {
        name: name.to_string(),
        request: decode_request(&request)?,
        expect: expect.ok_or("no `# expect:` line")?,
        expect_tiny_http,
        expect_hyper,
        close_write,
        rule,
        differs,
        head_steps,
    })
}

pub fn catalogue_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile")
}

/// Every case file of this crate's catalogue, in file-name order.
pub fn load_catalogue() -> Vec<Case> {
    load_catalogue_from(&catalogue_dir())
}

/// Every case file in `dir`, in file-name order (another crate passes `servers/tests/hostile`).
pub fn load_catalogue_from(dir: &Path) -> Vec<Case> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
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
pub fn run_case(addr: SocketAddr, case: &Case, steps: usize, timeout: Duration) -> Vec<Outcome> {
    let mut connection = match RawConnection::connect(addr, timeout) {
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
    for step in 1..=steps {
        let outcome =
            if case.head_steps.contains(&step) { connection.next_head_outcome() } else { connection.next_outcome() };
        let closed = outcome.is_closed();
        outcomes.push(outcome);
        if closed {
            break;
        }
    }
    outcomes
}

/// Whether `outcomes` satisfy `expect`; steps after a close must accept a close.
pub fn satisfies(expect: &Expectation, outcomes: &[Outcome]) -> bool {
    expect.iter().enumerate().all(|(i, allowed)| match outcomes.get(i) {
        Some(outcome) => allowed.iter().any(|a| a.accepts(outcome)),
        None => outcomes.last().is_some_and(Outcome::is_closed) && allowed.contains(&Allowed::Close),
    })
}
