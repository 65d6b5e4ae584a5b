//! The hostile catalogue as data: the case files in `servers/tests/hostile/` (format in its README), embedded
//! in this crate, parsed, sent over raw TCP, and judged against their expectations. One implementation for
//! every user: the servers' `hostile.rs` (each server against the rules), their `differential.rs` (the servers
//! against each other) and `lab verify --strict` (any server, foreign ones included, against the rules).

use crate::raw::{Outcome, RawConnection};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `case!("NAME")`: the case file `NAME.http`, embedded.
macro_rules! case {
    ($name:literal) => {
        ($name, include_str!(concat!("../../servers/tests/hostile/", $name, ".http")))
    };
}

/// Every case file, embedded so that an installed `lab` carries the catalogue: `(name, text)` in file-name
/// order. The servers' `hostile.rs` checks that this list and the directory hold the same files.
pub const CASE_FILES: &[(&str, &str)] = &[
    case!("01-garbage-request-line"),
    case!("02-request-line-without-version"),
    case!("03-http09-simple-request"),
    case!("04-unknown-http-version"),
    case!("05-http2-request-line"),
    case!("06-http2-preface"),
    case!("07-tls-client-hello"),
    case!("08-unknown-method"),
    case!("09-lowercase-method"),
    case!("10-method-with-separator"),
    case!("11-empty-method"),
    case!("12-tab-separated-request-line"),
    case!("13-double-space-request-line"),
    case!("14-space-in-target"),
    case!("15-target-not-origin-form"),
    case!("16-nul-in-target"),
    case!("17-control-character-in-target"),
    case!("18-raw-non-utf8-in-target"),
    case!("19-bare-lf-line-endings"),
    case!("20-lone-cr"),
    case!("21-only-empty-lines"),
    case!("22-trailing-space-after-version"),
    case!("23-header-without-colon"),
    case!("24-space-before-colon"),
    case!("25-obsolete-line-folding"),
    case!("26-header-name-with-separator"),
    case!("27-nul-in-header-value"),
    case!("28-obs-text-header-value"),
    case!("29-very-long-header-value"),
    case!("30-thousand-headers"),
    case!("31-hundred-twenty-small-headers"),
    case!("32-one-megabyte-uri"),
    case!("33-missing-host-http11"),
    case!("34-unknown-expectation"),
    case!("35-h2c-upgrade"),
    case!("36-absurd-content-length"),
    case!("37-negative-content-length"),
    case!("38-conflicting-content-lengths"),
    case!("39-huge-content-length-on-get"),
    case!("40-body-on-get-is-not-a-request"),
    case!("41-broken-chunked-encoding"),
    case!("42-chunk-size-overflow"),
    case!("43-unknown-transfer-encoding"),
    case!("44-transfer-encoding-and-content-length"),
    case!("45-pipelined-bad-request-in-the-middle"),
    case!("46-closed-mid-request-line"),
    case!("47-closed-mid-headers"),
    case!("48-closed-mid-body"),
    case!("49-bad-percent-encoding"),
    case!("50-truncated-percent-encoding"),
    case!("51-percent-plus-sign"),
    case!("52-non-utf8-query"),
    case!("53-overlong-utf8"),
    case!("54-repeated-parameter"),
    case!("55-negative-number"),
    case!("56-overflowing-number"),
    case!("57-fractional-number"),
    case!("58-number-with-exponent"),
    case!("59-number-with-plus-sign"),
    case!("60-number-above-the-limit"),
    case!("61-wait-above-the-limit"),
    case!("62-empty-name"),
    case!("63-name-too-long"),
    case!("64-bad-flag"),
    case!("65-percent-encoded-nul"),
    case!("66-path-traversal"),
    case!("67-trailing-slash"),
    case!("68-wrong-method-on-a-route"),
    case!("69-pipelined-after-content-length-body"),
    case!("70-pipelined-after-chunked-body"),
    case!("71-pipelined-after-chunked-extensions-and-trailers"),
    case!("72-pipelined-after-large-ignored-body"),
    case!("73-smuggling-cl-te"),
    case!("74-smuggling-te-cl"),
    case!("75-transfer-encoding-xchunked"),
    case!("76-transfer-encoding-header-line-with-leading-space"),
    case!("77-transfer-encoding-chunked-then-identity"),
    case!("78-two-transfer-encoding-headers"),
    case!("79-transfer-encoding-on-http10"),
    case!("80-content-length-with-plus-sign"),
    case!("81-very-long-chunk-extension"),
    case!("82-request-after-upgrade"),
    case!("83-connect"),
    case!("84-options-asterisk"),
    case!("85-head-has-no-body"),
    case!("86-duplicate-host"),
    case!("87-nul-in-header-name"),
    case!("88-fragment-in-target"),
    case!("89-percent-encoded-path"),
    case!("90-form-body-then-pipelined-request"),
    case!("91-chunked-form-body-then-pipelined-request"),
    case!("92-form-body-larger-than-the-route-reads"),
];

/// Which HTTP implementation a server binary uses: the only thing its answers to bad HTTP depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// thread-server and pool-server.
    TinyHttp,
    /// async-std-server, smol-server and tokio-server.
    Hyper,
    /// lean-server, uring-server and coroutine-server: lean's own HTTP/1.1 on httparse, held to the catalogue's
    /// plain `expect:`.
    Lean,
}

impl Family {
    pub fn of(server: &str) -> Family {
        match server {
            "thread-server" | "pool-server" => Family::TinyHttp,
            "async-std-server" | "smol-server" | "tokio-server" => Family::Hyper,
            "lean-server" | "uring-server" | "coroutine-server" => Family::Lean,
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

/// Where the case files live in the source tree (for the check that [`CASE_FILES`] lists them all).
pub fn catalogue_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../servers/tests/hostile")
}

/// Every embedded case, in file-name order.
pub fn load_catalogue() -> Vec<Case> {
    CASE_FILES
        .iter()
        .map(|(name, text)| parse_case(name, text).unwrap_or_else(|e| panic!("{name}.http: {e}")))
        .collect()
}

/// Every case file in `dir`, in file-name order: the source tree's files, read at run time.
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
    match RawConnection::send_all(addr, timeout, &case.request, case.close_write) {
        Ok(mut connection) => connection.read_steps(steps, &case.head_steps, None, Outcome::is_closed),
        Err(e) => vec![Outcome::Garbage(format!("cannot connect: {e}"))],
    }
}

/// Whether `outcomes` satisfy `expect`; steps after a close must accept a close.
pub fn satisfies(expect: &Expectation, outcomes: &[Outcome]) -> bool {
    expect.iter().enumerate().all(|(i, allowed)| match outcomes.get(i) {
        Some(outcome) => allowed.iter().any(|a| a.accepts(outcome)),
        None => outcomes.last().is_some_and(Outcome::is_closed) && allowed.contains(&Allowed::Close),
    })
}

/// Every outcome a case allows from some server: its `# expect:` and, where servers legitimately differ, each
/// `# expect[...]:` alternative its `# differs:` line gives a reason for.
pub fn allowed_expectations(case: &Case) -> Vec<&Expectation> {
    [Some(&case.expect), case.expect_tiny_http.as_ref(), case.expect_hyper.as_ref()].into_iter().flatten().collect()
}

/// One outcome the contract does not fix, which `lab verify --strict` accepts from any server on top of what
/// a case allows. docs/workload.md ("What `lab verify --strict` asserts") has this table.
pub struct Tolerance {
    pub name: &'static str,
    pub reason: &'static str,
}

/// Another refusal code, or a close, where the case expects a refusal and cites an RFC (not the contract).
pub const OTHER_REFUSAL: Tolerance = Tolerance {
    name: "another refusal",
    reason: "which 4xx/5xx refuses a malformed message (400, 501, 505, 431...) or whether the server just \
             closes is the implementation's choice (RFC 9112 §3, §6.1, §9.6); cases citing the contract \
             (a route's 400, 404, 405) get no such latitude",
};

/// The connection closed, or stayed open and silent, after a response, instead of the steps that followed.
pub const STOPPED_AFTER_A_RESPONSE: Tolerance = Tolerance {
    name: "stopped after a response",
    reason: "a server may close any connection after a response, or stop reading a pipeline (RFC 9112 §9.3, \
             §9.6): nothing after that is answered, so nothing hidden is",
};

/// No response and the connection still open where the case expects a close (or, citing an RFC, a refusal).
pub const LONGER_TIMEOUT: Tolerance = Tolerance {
    name: "longer timeout",
    reason: "the lab's servers close an incomplete or idle connection after their header timeout; a foreign \
             server may wait longer for the rest of a message, and silence answers nothing",
};

/// An answer or a refusal on a case about one of the lab servers' configured limits.
pub const OWN_LIMITS: Tolerance = Tolerance {
    name: "its own limits",
    reason: "the head and body limits are flags of the lab's servers (--max-head-bytes, the 1 MiB drain \
             limit); a foreign server answers under its own limits and refuses over them",
};

/// A refusal where the contract, by a recorded decision, accepts what the RFC refuses.
pub const RFC_STRICTER: Tolerance = Tolerance {
    name: "the RFC's refusal",
    reason: "where the contract accepts what the RFC asks to refuse (HTTP/1.1 without Host, RFC 9112 §3.2), \
             the RFC's answer is right too",
};

/// The request after an ignored `Upgrade` answered as an ordinary pipelined request.
pub const IGNORED_UPGRADE: Tolerance = Tolerance {
    name: "an ignored Upgrade",
    reason: "a server may ignore Upgrade and go on with HTTP/1.1 on the connection (RFC 9110 §7.8); then the \
             bytes that follow are the next request, not a hidden one — closing after the answer is the lab \
             servers' hardening, which the contract chooses and the RFC does not require",
};

/// The tolerances, in the order the docs list them.
pub const TOLERANCES: &[&Tolerance] =
    &[&OTHER_REFUSAL, &STOPPED_AFTER_A_RESPONSE, &LONGER_TIMEOUT, &OWN_LIMITS, &RFC_STRICTER, &IGNORED_UPGRADE];

/// What latitude a case's rule leaves a foreign server (see [`TOLERANCES`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latitude {
    /// The rule cites an RFC first: the refusal code and the moment of the close are not fixed.
    pub rfc_rule: bool,
    /// The rule is about a configured limit of the lab's servers.
    pub own_limit: bool,
    /// The rule records a contract decision to accept what the RFC refuses.
    pub contract_leniency: bool,
    /// The rule lets the server ignore `Upgrade` (RFC 9110 §7.8): the next request may be answered.
    pub ignorable_upgrade: bool,
}

impl Latitude {
    pub fn of(case: &Case) -> Latitude {
        let rule = case.rule.as_str();
        Latitude {
            rfc_rule: rule.starts_with("RFC"),
            own_limit: rule.contains("--max-head-bytes") || rule.contains("drain limit"),
            contract_leniency: rule.contains("contract decision"),
            ignorable_upgrade: rule.contains("may ignore Upgrade"),
        }
    }
}

/// Whether `outcomes` meet `expect` once the [`TOLERANCES`] the case's `latitude` allows are applied; `Ok`
/// names the tolerances used.
pub fn tolerantly_satisfies(
    expect: &Expectation,
    outcomes: &[Outcome],
    latitude: Latitude,
) -> Result<Vec<&'static str>, String> {
    let mut used = Vec::new();
    for (i, allowed) in expect.iter().enumerate() {
        let after_response = i > 0 && outcomes.get(i - 1).is_some_and(Outcome::is_response);
        let Some(outcome) = outcomes.get(i) else {
            // The connection ended (or went silent) earlier.
            let stop = outcomes.last().map(ToString::to_string).unwrap_or_default();
            if allowed.contains(&Allowed::Close) && outcomes.last().is_some_and(Outcome::is_closed) {
                continue;
            }
            if outcomes.iter().any(Outcome::is_response) {
                used.push(STOPPED_AFTER_A_RESPONSE.name);
                break;
            }
            return Err(format!("step {}: {stop} before it", i + 1));
        };
        if allowed.iter().any(|a| a.accepts(outcome)) {
            continue;
        }
        let refusal_expected = allowed.iter().any(|a| match a {
            Allowed::Status(status) => *status >= 400,
            Allowed::Class(class) => *class >= 4,
            Allowed::Close => false,
        });
        let refusal_seen = outcome.is_closed() || outcome.status().is_some_and(|s| (400..600).contains(&s));
        let answered = outcome.status().is_some_and(|s| (200..300).contains(&s));
        if latitude.rfc_rule && refusal_expected && refusal_seen {
            used.push(OTHER_REFUSAL.name);
        } else if latitude.own_limit && (refusal_seen || answered) {
            used.push(OWN_LIMITS.name);
        } else if latitude.contract_leniency && refusal_seen {
            used.push(RFC_STRICTER.name);
        } else if after_response && (outcome.is_closed() || *outcome == Outcome::Silent) {
            used.push(STOPPED_AFTER_A_RESPONSE.name);
            break;
        } else if *outcome == Outcome::Silent
            && (allowed.contains(&Allowed::Close) || (latitude.rfc_rule && refusal_expected))
        {
            used.push(LONGER_TIMEOUT.name);
            break;
        } else {
            return Err(format!("step {}: {outcome}", i + 1));
        }
    }
    used.dedup();
    Ok(used)
}

/// What `lab verify --strict` concluded about one case.
#[derive(Debug)]
pub enum Judgement {
    /// An allowed outcome; the tolerances it needed, if any.
    Pass(Vec<&'static str>),
    /// A response beyond every allowed outcome: the server answered a request hidden in the case's bytes
    /// (a body, or what follows a framing error). Never tolerated.
    Smuggled(String),
    /// Some other outcome no allowed expectation and no tolerance accepts.
    Fail(String),
}

/// Sends `case` to any server and judges what came back against every outcome the case allows
/// ([`allowed_expectations`]) with the [`TOLERANCES`]. After the expected steps, a connection still open gets
/// `extra_wait` to send one more response: one would answer a request the case hides.
pub fn judge_any_server(addr: SocketAddr, case: &Case, timeout: Duration, extra_wait: Duration) -> Judgement {
    let expectations = allowed_expectations(case);
    let steps = expectations.iter().map(|e| e.len()).max().unwrap_or(1);
    let mut connection = match RawConnection::send_all(addr, timeout, &case.request, case.close_write) {
        Ok(connection) => connection,
        Err(e) => return Judgement::Fail(format!("cannot connect: {e}")),
    };
    // One step more than any expectation: it blocks until one more response, the close, or `extra_wait`.
    let outcomes = connection.read_steps(steps + 1, &case.head_steps, Some(extra_wait), |o| !o.is_response());
    judge(case, &outcomes)
}

/// Judges what a server sent back for `case` against every outcome the case allows, with the [`TOLERANCES`].
pub fn judge(case: &Case, outcomes: &[Outcome]) -> Judgement {
    let expectations = allowed_expectations(case);
    let seen: Vec<String> = outcomes.iter().map(ToString::to_string).collect();
    let seen = format!("[{}]", seen.join(", "));
    if let Some(garbage) = outcomes.iter().find(|o| matches!(o, Outcome::Garbage(_))) {
        return Judgement::Fail(format!("got {seen}: {garbage}"));
    }
    let responses = answers(outcomes);
    let most = expectations
        .iter()
        .map(|e| e.iter().take_while(|step| step.iter().any(|a| *a != Allowed::Close)).count())
        .max()
        .unwrap_or(0);
    let latitude = Latitude::of(case);
    if latitude.ignorable_upgrade && responses == most + 1 {
        return Judgement::Pass(vec![IGNORED_UPGRADE.name]);
    }
    if responses > most {
        return Judgement::Smuggled(format!(
            "{responses} answers where the case allows at most {most}: got {seen}; a request hidden in the \
             bytes was answered"
        ));
    }
    let mut errors = Vec::new();
    for expect in &expectations {
        match tolerantly_satisfies(expect, outcomes, latitude) {
            Ok(used) => return Judgement::Pass(used),
            Err(e) => errors.push(format!("{} ({e})", describe(expect))),
        }
    }
    Judgement::Fail(format!("got {seen}, expected {}", errors.join(" or ")))
}

/// How many of `outcomes` answer a request: every response but a final refusal (4xx or 5xx), which is the
/// server giving up on bytes it cannot frame, as `compare::without_final_refusal` has it. A response to a
/// hidden request is counted; so is a refusal followed by more responses.
pub fn answers(outcomes: &[Outcome]) -> usize {
    let responses: Vec<u16> = outcomes.iter().filter_map(Outcome::status).collect();
    let final_refusal = responses.last().is_some_and(|&status| status >= 400);
    responses.len() - usize::from(final_refusal)
}

/// An expectation in the case files' syntax: `405, 200|close`.
pub fn describe(expect: &Expectation) -> String {
    let step = |allowed: &Vec<Allowed>| {
        let alternatives: Vec<String> = allowed
            .iter()
            .map(|a| match a {
                Allowed::Status(status) => status.to_string(),
                Allowed::Class(class) => format!("{class}xx"),
                Allowed::Close => "close".into(),
            })
            .collect();
        alternatives.join("|")
    };
    expect.iter().map(step).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16) -> Outcome {
        Outcome::Response { status, body: Vec::new(), server: None, close: false }
    }

    #[test]
    fn the_embedded_catalogue_parses() {
        assert!(load_catalogue().len() >= 89);
    }

    /// RFC 9110 §7.8 lets a server ignore Upgrade: the request after it is then an ordinary one. Any other case
    /// answered once more than it allows is smuggling.
    #[test]
    fn only_an_ignorable_upgrade_lets_the_next_request_be_answered() {
        let cases = load_catalogue();
        let case = |prefix: &str| cases.iter().find(|c| c.name.starts_with(prefix)).expect("case in the catalogue");
        let upgrade = case("82-");
        assert!(matches!(
            judge(upgrade, &[response(200), response(200), Outcome::Silent]),
            Judgement::Pass(used) if used == vec![IGNORED_UPGRADE.name]
        ));
        assert!(matches!(judge(upgrade, &[response(200), Outcome::Closed]), Judgement::Pass(used) if used.is_empty()));
        let pipelined_after_body = case("40-");
        let expected = allowed_expectations(pipelined_after_body).iter().map(|e| e.len()).max().unwrap();
        let mut hidden: Vec<Outcome> = (0..=expected).map(|_| response(200)).collect();
        hidden.push(Outcome::Silent);
        assert!(matches!(judge(pipelined_after_body, &hidden), Judgement::Smuggled(_)));
    }

    #[test]
    fn tolerances_accept_what_the_contract_leaves_open_and_nothing_hidden() {
        let expect = parse_expectation("400, close").unwrap();
        let rfc = Latitude { rfc_rule: true, ..Latitude::default() };
        let contract = Latitude::default();
        let ok = |outcomes: &[Outcome], latitude| tolerantly_satisfies(&expect, outcomes, latitude);
        assert_eq!(ok(&[response(400), Outcome::Closed], rfc), Ok(vec![]));
        assert_eq!(ok(&[response(501), Outcome::Closed], rfc), Ok(vec![OTHER_REFUSAL.name]));
        assert!(ok(&[response(501), Outcome::Closed], contract).is_err(), "a contract case fixes its code");
        assert_eq!(ok(&[response(400), Outcome::Silent], rfc), Ok(vec![STOPPED_AFTER_A_RESPONSE.name]));
        assert!(ok(&[response(200), Outcome::Closed], rfc).is_err(), "a 200 is no refusal");
        assert!(ok(&[response(400), response(400)], rfc).is_err(), "a second response where a close is due");
        let pipelined = parse_expectation("405, 200").unwrap();
        assert!(tolerantly_satisfies(&pipelined, &[response(405), Outcome::Closed], contract).is_ok());
        assert!(tolerantly_satisfies(&pipelined, &[response(405), response(400)], contract).is_err());
        let close = parse_expectation("close").unwrap();
        assert_eq!(tolerantly_satisfies(&close, &[Outcome::Silent], rfc), Ok(vec![LONGER_TIMEOUT.name]));
        assert_eq!(answers(&[response(200), response(400), Outcome::Closed]), 1, "a final refusal answers nothing");
        assert_eq!(answers(&[response(200), response(400), response(200)]), 3);
        assert_eq!(describe(&parse_expectation("405|4xx, close").unwrap()), "405|4xx, close");
    }
}
