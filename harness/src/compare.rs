//! The differential comparison as a module: how an outcome is observed and normalised ([`observe`],
//! [`Observation`]), when two observations agree ([`agree`]) or may differ ([`announced_stop`], [`ALLOWED`]),
//! and the seeded corpus of mutated valid requests ([`corpus`]). The servers' `differential.rs` runs it on the
//! lab's servers; `lab verify --strict` sends the corpus to any server.

use crate::raw::{Outcome, RawConnection};
use std::net::SocketAddr;
use std::time::Duration;

/// How long one outcome may take; the servers close an idle or incomplete connection after 1 s.
pub const OUTCOME_TIMEOUT: Duration = Duration::from_secs(4);
/// The most responses read per input (the longest pipelined input has three requests).
pub const MAX_STEPS: usize = 4;

/// What a client can rely on after sending some bytes. Two observations agree when their answers, their
/// `closed` and their `garbage` are equal; `announced_close` only explains a difference ([`announced_stop`]).
#[derive(Debug, Clone)]
pub struct Observation {
    /// The workload's responses, in order: status and body.
    pub answers: Vec<(u16, String)>,
    /// Whether the server closed the connection (as opposed to leaving it open past the header timeout).
    pub closed: bool,
    /// Whether the last answer said `Connection: close`: the server announced that it stops there.
    pub announced_close: bool,
    /// Bytes that were not an HTTP response: never acceptable.
    pub garbage: Option<String>,
}

impl PartialEq for Observation {
    fn eq(&self, other: &Observation) -> bool {
        (&self.answers, self.closed, &self.garbage) == (&other.answers, other.closed, &other.garbage)
    }
}

/// Sends `input` on a fresh connection (then half-closes it if `close_write`) and normalises what comes back;
/// `head_steps` are the responses (from 1) that answer HEAD requests.
pub fn observe(addr: SocketAddr, input: &[u8], head_steps: &[usize], close_write: bool) -> Observation {
    let mut observation = Observation { answers: Vec::new(), closed: false, announced_close: false, garbage: None };
    let mut connection = match RawConnection::send_all(addr, OUTCOME_TIMEOUT, input, close_write) {
        Ok(connection) => connection,
        Err(e) => {
            observation.garbage = Some(format!("cannot connect: {e}"));
            return observation;
        }
    };
    for outcome in connection.read_steps(MAX_STEPS, head_steps, None, |o| !o.is_response()) {
        match outcome {
            Outcome::Response { status, body, server, close } => {
                // A library's own rejection (no lab `Server` header): nothing the workload said.
                if server.as_deref().is_some_and(is_lab_server) {
                    observation.answers.push((status, String::from_utf8_lossy(&body).into_owned()));
                    observation.announced_close = close;
                }
            }
            Outcome::Closed | Outcome::Reset => observation.closed = true,
            Outcome::Silent => {}
            Outcome::Garbage(what) => observation.garbage = Some(what),
        }
    }
    observation
}

/// Whether a `Server` header names one of the lab's servers (the workload answered), not an HTTP library.
pub fn is_lab_server(server: &str) -> bool {
    server.ends_with("-server")
}

/// One documented reason two HTTP implementations may answer the same bytes differently.
pub struct Allowed {
    pub name: &'static str,
    /// Why both answers are acceptable (the RFC's MAY or SHOULD, or the project's contract).
    pub reason: &'static str,
    /// Whether `input` is of this kind.
    pub applies: fn(&[u8]) -> bool,
    /// Whether two observations differ only in the way this row allows.
    pub shape: fn(&Observation, &Observation) -> bool,
}

/// Any difference.
pub fn any(_: &Observation, _: &Observation) -> bool {
    true
}

/// The observation without a final 4xx or 5xx followed by the close: a refusal, whoever wrote it (lean-server
/// writes its own refusals, with its `Server` header). Two observations that agree once both are stripped
/// agree: which code a server picks to refuse is its business.
pub fn without_final_refusal(observation: &Observation) -> Observation {
    let mut stripped = observation.clone();
    if stripped.closed && stripped.answers.last().is_some_and(|(status, _)| *status >= 400) {
        stripped.answers.pop();
    }
    stripped
}

/// Whether two observations agree (see [`without_final_refusal`]).
pub fn agree(a: &Observation, b: &Observation) -> bool {
    let (stripped_a, stripped_b) = (without_final_refusal(a), without_final_refusal(b));
    a == b || stripped_a == *b || *a == stripped_b || stripped_a == stripped_b
}

/// Any server, on any input: one side answered with `Connection: close` and stopped there, the other went on
/// to answer what followed. RFC 9112 §9.6 lets a server close any connection after a response that says so;
/// pool-server does when other connections wait for a worker (docs/model.md). Outcomes that differ otherwise
/// are compared as usual.
pub fn announced_stop(a: &Observation, b: &Observation) -> bool {
    let short = if a.answers.len() <= b.answers.len() { a } else { b };
    short.announced_close && !short.answers.is_empty() && stopped_early(a, b)
}

/// One side stopped early: its answers are the other's first ones, and it closed the connection there.
pub fn stopped_early(a: &Observation, b: &Observation) -> bool {
    let (short, long) = if a.answers.len() <= b.answers.len() { (a, b) } else { (b, a) };
    short.closed && long.answers.starts_with(&short.answers)
}

/// The allowed differences between hyper (async servers) and tiny_http (thread servers). Servers on the same
/// implementation must agree exactly. Catalogue cases with `expect[...]` lines state their own reason in a
/// `# differs:` line (tests/hostile/README.md has the table).
pub const ALLOWED: &[Allowed] = &[
    Allowed {
        name: "lenient request line",
        reason: "tiny_http trims the request line, takes any word as a method (405) and passes any target to \
                 the routes (404); hyper rejects what is not `token SP origin-form SP HTTP/1.x` (RFC 9112 §3: \
                 SHOULD 400)",
        applies: |input| request_lines(input).any(|line| !strict_request_line(line)),
        shape: any,
    },
    Allowed {
        name: "unusual bytes in the head",
        reason: "bare LF (RFC 9112 §2.2: MAY accept), NUL or controls in values (RFC 9110 §5.5: reject or \
                 replace), obs-text (MAY reject): hyper and tiny_http each take a permitted choice",
        applies: |input| {
            let head = head_of(input);
            head.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r')
                || head.first() == Some(&b'\n')
                || head.iter().any(|&b| b >= 0x80 || (b < 0x20 && !matches!(b, b'\r' | b'\n')) || b == 0x7f)
        },
        shape: any,
    },
    Allowed {
        name: "Expect",
        reason: "RFC 9110 §10.1.1: tiny_http answers 417 to an unknown expectation and closes after an unread \
                 100-continue body; hyper ignores the one and answers without the body on the other",
        applies: |input| header_lines(input).any(|line| starts_with_ignore_case(line, b"expect:")),
        shape: any,
    },
    Allowed {
        name: "many header fields",
        reason: "hyper refuses more than 100 fields (RFC 6585 §5: 431); tiny_http limits only bytes",
        applies: |input| header_lines(input).count() > 100,
        shape: any,
    },
    Allowed {
        name: "fragment or non-origin-form target",
        reason: "`#` (RFC 9112 §3.2: not in origin-form) is dropped by hyper and passed on by tiny_http; an \
                 authority-form or `*` target reaches the routes as `/` from hyper and as sent from tiny_http",
        applies: |input| {
            request_lines(input).any(|line| {
                let target = line.split(|&b| b == b' ').nth(1).unwrap_or_default();
                target.contains(&b'#') || !target.starts_with(b"/")
            })
        },
        shape: any,
    },
    Allowed {
        name: "transfer coding before chunked",
        reason: "RFC 9112 §6.1: an unknown coding SHOULD get 501 (tiny_http); hyper decodes the chunks and \
                 leaves the other coding to the application, which ignores the body",
        applies: |input| {
            header_lines(input).any(|line| {
                starts_with_ignore_case(line, b"transfer-encoding:")
                    && !line[18..].iter().all(|b| b" \tchunkedCHUNKED".contains(b))
            })
        },
        shape: any,
    },
    Allowed {
        name: "body cut short",
        reason: "a Content-Length body the input never completes: tiny_http reads a body of up to 1 KiB before \
                 the route runs and so waits for it (then closes at the timeout); hyper runs the route first \
                 and answers (RFC 9112 §8: an incomplete message; neither answer is wrong)",
        applies: body_cut_short,
        shape: stopped_early,
    },
    Allowed {
        name: "close after an unread chunked body",
        reason: "RFC 9112 §9.3 lets a server close instead of reading on: hyper reads an unread chunked body with \
                 extensions or trailers no further and closes after the response; tiny_http drains it and \
                 answers the next request. The answers agree up to the close (the catalogue's smuggling cases \
                 check that no hidden request is answered)",
        applies: |input| header_lines(input).any(|line| starts_with_ignore_case(line, b"transfer-encoding:")),
        shape: stopped_early,
    },
];

/// The first row of [`ALLOWED`] that applies to `input` and allows the way `a` and `b` differ.
pub fn allowed_difference(input: &[u8], a: &Observation, b: &Observation) -> Option<&'static Allowed> {
    ALLOWED.iter().find(|allowed| (allowed.applies)(input) && (allowed.shape)(a, b))
}

/// Whether some request in `input` announces a `Content-Length` body longer than what follows its head.
pub fn body_cut_short(input: &[u8]) -> bool {
    let mut rest = input;
    while let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") {
        let length = header_lines(rest)
            .find(|line| starts_with_ignore_case(line, b"content-length:"))
            .and_then(|line| std::str::from_utf8(&line[15..]).ok()?.trim().parse::<usize>().ok())
            .unwrap_or(0);
        rest = &rest[end + 4..];
        if length > rest.len() {
            return true;
        }
        rest = &rest[length..];
    }
    false
}

pub fn head_of(input: &[u8]) -> &[u8] {
    let end = input.windows(4).position(|w| w == b"\r\n\r\n").map_or(input.len(), |i| i + 4);
    &input[..end]
}

pub fn first_line(input: &[u8]) -> &[u8] {
    let line_end = input.windows(2).position(|w| w == b"\r\n").unwrap_or(input.len());
    &input[..line_end]
}

/// The request line of every request in `input`, as RFC 9112 frames them: after a head, a `Content-Length` or
/// chunked body is skipped. Stops where the framing cannot be followed.
pub fn request_lines(input: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut starts = vec![0];
    let mut rest = 0;
    while let Some(end) = input[rest..].windows(4).position(|w| w == b"\r\n\r\n") {
        let head = &input[rest..rest + end + 4];
        let mut at = rest + end + 4;
        let value = |name: &[u8]| {
            header_lines(head)
                .find(|line| starts_with_ignore_case(line, name))
                .map(|line| String::from_utf8_lossy(&line[name.len()..]).trim().to_ascii_lowercase())
        };
        if value(b"transfer-encoding:").is_some_and(|te| te == "chunked") {
            match skip_chunked(&input[at..]) {
                Some(length) => at += length,
                None => break,
            }
        } else if let Some(length) = value(b"content-length:") {
            match length.parse::<usize>() {
                Ok(length) => at += length,
                Err(_) => break,
            }
        }
        if at >= input.len() {
            break;
        }
        starts.push(at);
        rest = at;
    }
    starts.into_iter().map(move |i| first_line(&input[i..]))
}

/// The length of the chunked body at the start of `bytes` (trailers included), if it is complete and valid.
pub fn skip_chunked(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let line_end = at + bytes[at..].windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&bytes[at..line_end]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        at = line_end + 2;
        if size == 0 {
            // Trailer lines up to an empty one.
            loop {
                let line_end = at + bytes[at..].windows(2).position(|w| w == b"\r\n")?;
                let empty = line_end == at;
                at = line_end + 2;
                if empty {
                    return Some(at);
                }
            }
        }
        at = at.checked_add(size)?.checked_add(2)?;
        if at > bytes.len() {
            return None;
        }
    }
}

pub fn header_lines(input: &[u8]) -> impl Iterator<Item = &[u8]> {
    let head = head_of(input);
    let head = head.strip_suffix(b"\r\n\r\n").unwrap_or(head);
    let start = head.windows(2).position(|w| w == b"\r\n").map_or(head.len(), |i| i + 2);
    head[start..].split(|&b| b == b'\n').map(|line| line.strip_suffix(b"\r").unwrap_or(line))
}

pub fn starts_with_ignore_case(line: &[u8], prefix: &[u8]) -> bool {
    line.len() >= prefix.len() && line[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// `token SP /target SP HTTP/1.x`, with nothing odd in the target.
pub fn strict_request_line(line: &[u8]) -> bool {
    let parts: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let tchar = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
    parts.len() == 3
        && !parts[0].is_empty()
        && parts[0].iter().all(tchar)
        && parts[1].starts_with(b"/")
        && parts[1].iter().all(|&b| b > 0x20 && b < 0x7f)
        && (parts[2] == b"HTTP/1.1" || parts[2] == b"HTTP/1.0")
}

/// splitmix64: a small, well-mixed, seedable generator, so the corpus is the same on every machine.
pub struct Rng(pub u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Valid requests the corpus mutates: every body framing, pipelining, both versions, and the one route that
/// reads a body (`POST /db/visit`). No request that counts a visit (its count would depend on the order the
/// inputs reach a server), so that every server's answers depend on the input alone: the form POST is refused
/// for its media type (415), or, mutated, for a missing name (400).
pub const BASES: &[&str] = &[
    "GET /fact?n=5 HTTP/1.1\r\nHost: lab\r\n\r\n",
    "GET /say/hello?name=ab&ms=1 HTTP/1.1\r\nHost: lab\r\nAccept: */*\r\nUser-Agent: differential\r\n\r\n",
    "GET /no/param HTTP/1.1\r\nHost: lab\r\n\r\nGET /fact?n=3 HTTP/1.1\r\nHost: lab\r\n\r\n",
    "POST /no/param HTTP/1.1\r\nHost: lab\r\nContent-Length: 3\r\n\r\nabcGET /fact?n=4 HTTP/1.1\r\nHost: lab\r\n\r\n",
    "POST /no/param HTTP/1.1\r\nHost: lab\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /fact?n=4 HTTP/1.1\r\nHost: lab\r\n\r\n",
    "GET /no/param HTTP/1.0\r\nHost: lab\r\n\r\n",
    "GET /fact?n=7 HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n",
    "POST /db/visit HTTP/1.1\r\nHost: lab\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}GET /fact?n=4 HTTP/1.1\r\nHost: lab\r\n\r\n",
];

/// Pieces inserted at line starts or anywhere: the framing headers smuggling is made of, separators, digits.
pub const TOKENS: &[&str] = &[
    "Transfer-Encoding: chunked\r\n",
    "Content-Length: 3\r\n",
    "Content-Length: 0\r\n",
    "Connection: close\r\n",
    "Host: other\r\n",
    "\r\n",
    " ",
    "\t",
    ":",
    ";",
    ",",
    "0",
    "f",
    "chunked",
    "0\r\n\r\n",
    "%2",
    "?",
    "/",
];

/// Bytes a single-byte substitution uses.
pub const BYTES: &[u8] = b" \t\r\n:;,0aZ/?%#\x00\x7f\xff";

/// One mutated valid request, from `rng`.
pub fn mutated(rng: &mut Rng) -> Vec<u8> {
    let mut bytes = rng.pick(BASES).as_bytes().to_vec();
    for _ in 0..=rng.below(3) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(5) {
            0 if !bytes.is_empty() => {
                let i = at.min(bytes.len() - 1);
                bytes[i] = *rng.pick(BYTES);
            }
            1 => {
                let token = rng.pick(TOKENS).as_bytes();
                bytes.splice(at..at, token.iter().copied());
            }
            2 => {
                // At the start of a header line: structure-aware.
                let starts: Vec<usize> =
                    bytes.windows(2).enumerate().filter(|(_, w)| w == b"\r\n").map(|(i, _)| i + 2).collect();
                let at = *rng.pick(&starts);
                let token = rng.pick(&TOKENS[..5]).as_bytes();
                bytes.splice(at..at, token.iter().copied());
            }
            3 => {
                let end = (at + 1 + rng.below(8)).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            _ => {
                // Duplicate the line `at` is in.
                let start = bytes[..at].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                let end = bytes[at..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |i| at + i + 1);
                let line = bytes[start..end].to_vec();
                bytes.splice(end..end, line);
            }
        }
    }
    bytes
}

/// `cases` mutated valid requests from `seed`: the same on every run and every machine.
pub fn corpus(seed: u64, cases: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng(seed);
    (0..cases).map(|_| mutated(&mut rng)).collect()
}
