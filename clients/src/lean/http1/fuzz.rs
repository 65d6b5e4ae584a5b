//! Fuzzing the response framing against an independent model of RFC 9112.
//!
//! A generator writes responses from a model of the message syntax (RFC 9112 §4 status line, §5 fields, §6
//! body length: `Content-Length`, `chunked` with extensions and trailers, or a body delimited by the close;
//! 204 and 304 have no body) and records what each one *is*: its status, where its head and its body end, and
//! whether the connection persists (§9.3). Several responses go back to back on one simulated connection, cut
//! into random pieces (partial reads), and the parser must find exactly the model's messages. Then the same
//! bytes are damaged — structurally (bad or overflowing chunk sizes and lengths, `Content-Length` beside
//! `Transfer-Encoding`, a sign before a length, an empty chunk-size line), where the model still knows the
//! answer, and byte by byte (flip, insert, delete), where it does not: there the parser must stop with an
//! error or a reading consistent with the bytes, and must never panic or loop.
//!
//! Deterministic ([`harness::fuzz`]): case `i` uses seed `i`. A failure prints its seed and bytes;
//! `LEAN_FUZZ_SEED=n cargo test -p clients lean::http1::fuzz` re-runs that one case, `LEAN_FUZZ_CASES=n` runs a
//! longer campaign.

use super::*;
use harness::fuzz::{for_each_case, show, Rng};

/// Cases per property unless `LEAN_FUZZ_CASES` says otherwise: a second or two in a debug build.
const CASES: u64 = 3_000;

/// How the model frames a body (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Framing {
    /// 204 and 304: no body whatever the fields say.
    NoBody,
    Length,
    Chunked,
    /// Neither field: the body runs to the close.
    UntilClose,
    /// `Transfer-Encoding` whose final coding is not chunked: also runs to the close (§6.3 item 4).
    OtherCoding,
}

/// One response as the model sees it.
#[derive(Debug, Clone, PartialEq)]
struct Expected {
    status: u16,
    /// Length of the status line and fields, blank line included.
    head_len: usize,
    /// The body as it is on the wire (chunk framing included): the bytes the parser must skip.
    wire_body: Vec<u8>,
    /// The connection does not persist after it (§9.3, §9.6; and §6.1 for Transfer-Encoding on HTTP/1.0).
    close: bool,
}

/// A response's parts before they are written out, so that a mutation can change one of them.
struct Draft {
    version: u8,
    status: u16,
    reason: &'static str,
    /// Fields, in order, as (name, value).
    fields: Vec<(String, String)>,
    framing: Framing,
    /// The body's content (before chunk framing).
    body: Vec<u8>,
    /// Chunked only: the wire form of the body, chunk lines and trailers included.
    chunked_wire: Vec<u8>,
    close: bool,
}

impl Draft {
    fn head(&self) -> Vec<u8> {
        let mut out = format!("HTTP/1.{} {} {}\r\n", self.version, self.status, self.reason).into_bytes();
        for (name, value) in &self.fields {
            out.extend_from_slice(format!("{name}:{value}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    fn wire_body(&self) -> Vec<u8> {
        match self.framing {
            Framing::NoBody => Vec::new(),
            Framing::Chunked => self.chunked_wire.clone(),
            Framing::Length | Framing::UntilClose | Framing::OtherCoding => self.body.clone(),
        }
    }

    fn expected(&self) -> Expected {
        Expected { status: self.status, head_len: self.head().len(), wire_body: self.wire_body(), close: self.close }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = self.head();
        out.extend(self.wire_body());
        out
    }
}

/// Optional whitespace around a field value (RFC 9110 §5.6.3), which a recipient strips.
fn ows(rng: &mut Rng) -> &'static str {
    rng.pick(&["", " ", "  ", "\t", " \t"])
}

fn field_name(rng: &mut Rng, canonical: &str) -> String {
    match rng.below(3) {
        0 => canonical.to_string(),
        1 => canonical.to_ascii_lowercase(),
        _ => canonical.to_ascii_uppercase(),
    }
}

fn chunked_wire(rng: &mut Rng, body: &[u8]) -> Vec<u8> {
    // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ), RFC 9112 §7.1.1.
    let extensions = [";a", ";name=value", " ; q=\"quoted;\\\" value\"", ";x;y=1"];
    let trailers = ["X-Checksum: abc\r\n", "Expires:\r\n", "t: a: b\r\n"];
    harness::fuzz::chunked(rng, body, &extensions, &trailers)
}

/// A valid response. `last` allows a body delimited by the close (nothing can follow it).
fn draft(rng: &mut Rng, last: bool) -> Draft {
    let version = if rng.one_in(6) { 0 } else { 1 };
    let status = rng.pick(&[200, 200, 200, 201, 204, 301, 304, 400, 404, 500, 503, 299, 599]);
    let reason = rng.pick(&["OK", "", "Some Reason", "x"]);
    let mut fields: Vec<(String, String)> = Vec::new();
    let filler = ["Server: lab", "Date: Fri, 27 Nov 2026 14:00:00 GMT", "Content-Type: text/plain", "X-Empty:"];
    for _ in 0..rng.below(4) {
        let (name, value) = rng.pick(&filler).split_once(':').unwrap();
        fields.push((name.to_string(), value.to_string()));
    }
    let size = if rng.one_in(4) { 0 } else { rng.below(200) };
    let body = rng.bytes(size);

    let framing = if status == 204 || status == 304 {
        Framing::NoBody
    } else {
        match rng.below(if last { 5 } else { 3 }) {
            0 | 1 => Framing::Length,
            2 => Framing::Chunked,
            3 => Framing::UntilClose,
            _ => Framing::OtherCoding,
        }
    };
    match framing {
        Framing::Length => {
            let value = format!("{}{}{}", ows(rng), body.len(), ows(rng));
            fields.push((field_name(rng, "Content-Length"), value.clone()));
            if rng.one_in(8) {
                // The same length twice is the same message (RFC 9110 §8.6).
                fields.push((field_name(rng, "Content-Length"), value));
            }
        }
        Framing::Chunked => {
            let codings = rng.pick(&["chunked", "Chunked", "gzip, chunked", "gzip,chunked"]);
            fields.push((field_name(rng, "Transfer-Encoding"), format!("{}{codings}{}", ows(rng), ows(rng))));
        }
        Framing::OtherCoding => {
            fields.push((field_name(rng, "Transfer-Encoding"), " chunked, gzip".into()));
        }
        Framing::NoBody if status == 304 && rng.one_in(2) => {
            // The length of the representation a 200 would carry: not a body here (RFC 9110 §8.6).
            fields.push(("Content-Length".into(), " 1234".into()));
        }
        Framing::NoBody | Framing::UntilClose => {}
    }

    // Persistence (RFC 9112 §9.3): `close` ends it; HTTP/1.0 persists only with `keep-alive`.
    let connection = rng.pick(&["", "", "close", "keep-alive", "Keep-Alive", "upgrade, close", "foo", "Close"]);
    if !connection.is_empty() {
        fields.push((field_name(rng, "Connection"), format!("{}{connection}", ows(rng))));
    }
    let tokens: Vec<String> = connection.split(',').map(|t| t.trim().to_ascii_lowercase()).collect();
    let mut close = tokens.iter().any(|t| t == "close") || (version == 0 && !tokens.iter().any(|t| t == "keep-alive"));
    close |= matches!(framing, Framing::UntilClose | Framing::OtherCoding);
    // Transfer-Encoding on HTTP/1.0: the framing is suspect, close after the message (RFC 9112 §6.1).
    if version == 0 && matches!(framing, Framing::Chunked) {
        close = true;
    }
    rng.shuffle(&mut fields);
    let chunked_wire = if framing == Framing::Chunked { chunked_wire(rng, &body) } else { Vec::new() };
    Draft { version, status, reason, fields, framing, body, chunked_wire, close }
}

/// Responses on one connection: each persists except possibly the last.
fn connection(rng: &mut Rng) -> Vec<Draft> {
    let mut drafts = Vec::new();
    for _ in 0..1 + rng.below(4) {
        let draft = draft(rng, true);
        let close = draft.close;
        drafts.push(draft);
        if close {
            break;
        }
    }
    drafts
}

/// What the parser made of a connection's bytes.
#[derive(Debug, PartialEq)]
struct Reading {
    messages: Vec<Expected>,
    /// Why reading stopped before the end of the input, if it did.
    error: Option<String>,
}

/// Reads responses the way the lean engine's connection loop does ([`super::super::LeanSlot`]): buffer reads
/// until the head parses, feed the body, keep an unconsumed chunk-line tail, and at end of input let the body
/// decide whether the close was its end. Unlike the engine it keeps reading after a response, so that where
/// one message ends is checked by the next one starting there.
fn read_all(pieces: &[Vec<u8>]) -> Reading {
    let mut input = pieces.iter();
    let mut buffer: Vec<u8> = Vec::new();
    let mut messages = Vec::new();
    // Each step consumes bytes or takes a piece; more than this is a loop that makes no progress.
    let mut budget = 4 * pieces.iter().map(Vec::len).sum::<usize>() + 4 * pieces.len() + 16;
    let fail = |messages, e: String| Reading { messages, error: Some(e) };
    loop {
        // The head.
        let head = loop {
            budget = budget.checked_sub(1).expect("the parser makes no progress");
            match parse_head(&buffer) {
                Err(e) => return fail(messages, e.0),
                Ok(Some(head)) => break head,
                Ok(None) => match input.next() {
                    Some(piece) => buffer.extend_from_slice(piece),
                    None if buffer.is_empty() => return Reading { messages, error: None },
                    None => return fail(messages, "closed mid-head".into()),
                },
            }
        };
        assert!(head.len <= buffer.len(), "head length {} beyond the {} bytes read", head.len, buffer.len());
        let mut wire_body = Vec::new();
        let mut body = head.body;
        let mut start = head.len;
        loop {
            budget = budget.checked_sub(1).expect("the body makes no progress");
            let used = match body.feed(&buffer[start..]) {
                Ok(used) => used,
                Err(e) => return fail(messages, e.0),
            };
            assert!(used <= buffer.len() - start, "used {used} of {} bytes", buffer.len() - start);
            wire_body.extend_from_slice(&buffer[start..start + used]);
            start += used;
            if body.is_done() {
                break;
            }
            match input.next() {
                Some(piece) => buffer.extend_from_slice(piece),
                None => match body.finish_at_eof() {
                    Ok(()) => break,
                    Err(e) => return fail(messages, e.0),
                },
            }
        }
        messages.push(Expected { status: head.status, head_len: head.len, wire_body, close: head.close });
        buffer.drain(..start);
        if head.close {
            // Whatever follows a closing response is not read.
            return Reading { messages, error: None };
        }
    }
}

#[test]
fn valid_responses_are_read_as_the_model_says() {
    for_each_case("valid", CASES, |rng| {
        let drafts = connection(rng);
        let bytes: Vec<u8> = drafts.iter().flat_map(Draft::bytes).collect();
        let want: Vec<Expected> = drafts.iter().map(Draft::expected).collect();
        let got = read_all(&rng.pieces(&bytes));
        if got.error.is_some() || got.messages != want {
            return Err(format!("bytes {}\nwant {want:?}\ngot {got:?}", show(&bytes)));
        }
        Ok(())
    });
}

/// What the model requires of a damaged connection.
enum Verdict {
    /// These messages (the intact ones before the damaged one), then an error.
    Error(Vec<Expected>),
    /// Either an error or exactly these messages.
    ErrorOr(Vec<Expected>),
}

/// Damages one response of a connection in a way RFC 9112 has a rule for.
fn structural_damage(rng: &mut Rng, drafts: &mut [Draft]) -> Verdict {
    let victim = rng.below(drafts.len());
    let mut want: Vec<Expected> = drafts[..victim].iter().map(Draft::expected).collect();
    let draft = &mut drafts[victim];
    let set = |draft: &mut Draft, name: &str, value: String| {
        draft.fields.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        draft.fields.push((name.to_string(), value));
    };
    let bad_length = |rng: &mut Rng, n: usize| {
        // Content-Length = 1*DIGIT (RFC 9110 §8.6): no sign, no overflow, no other characters.
        rng.pick(&["+{n}", "-{n}", "{n}x", "0x{n}", "99999999999999999999999", "{n}.0", "", "{n} {n}"])
            .replace("{n}", &n.to_string())
    };
    let first_line = |wire: &[u8]| wire.iter().position(|&b| b == b'\r').unwrap();
    match draft.framing {
        Framing::Length if draft.body.is_empty() || rng.one_in(2) => {
            let value = bad_length(rng, draft.body.len());
            set(draft, "Content-Length", value);
            Verdict::Error(want)
        }
        Framing::Length => {
            // Two different lengths: the framing is unknowable (RFC 9110 §8.6, RFC 9112 §6.3 item 5).
            draft.fields.push(("Content-Length".into(), (draft.body.len() + 1).to_string()));
            Verdict::Error(want)
        }
        Framing::UntilClose => {
            let value = bad_length(rng, draft.body.len());
            set(draft, "Content-Length", value);
            Verdict::Error(want)
        }
        Framing::NoBody => {
            // 204 and 304 have no body whatever the fields say (RFC 9112 §6.3 item 1); a recipient may still
            // refuse a malformed Content-Length.
            let value = bad_length(rng, draft.body.len());
            set(draft, "Content-Length", value);
            want.push(draft.expected());
            Verdict::ErrorOr(want)
        }
        Framing::Chunked | Framing::OtherCoding if rng.one_in(3) => {
            // Content-Length beside Transfer-Encoding: the coding decides, and the connection must not be
            // reused after it (RFC 9112 §6.3 item 3: such a message "ought to be handled as an error").
            draft.fields.push(("Content-Length".into(), draft.body.len().saturating_sub(1).to_string()));
            draft.close = true;
            want.push(draft.expected());
            Verdict::ErrorOr(want)
        }
        Framing::OtherCoding => {
            // An obsolete or unknown coding after chunked is still not chunked: to the close. Put chunked
            // last but break its first size line.
            draft.fields.retain(|(n, _)| !n.eq_ignore_ascii_case("transfer-encoding"));
            draft.fields.push(("Transfer-Encoding".into(), "chunked".into()));
            draft.framing = Framing::Chunked;
            draft.chunked_wire = b"zz\r\n".to_vec();
            Verdict::Error(want)
        }
        Framing::Chunked if draft.body.is_empty() || rng.one_in(2) => {
            // A chunk size that is not 1*HEXDIG, or that overflows 64 bits (RFC 9112 §7.1).
            let bad = rng.pick(&["zz", "-1", "", "ffffffffffffffffffff", "0x10", ";ext", "+5"]);
            let end = first_line(&draft.chunked_wire);
            let mut wire = bad.as_bytes().to_vec();
            wire.extend_from_slice(&draft.chunked_wire[end..]);
            draft.chunked_wire = wire;
            Verdict::Error(want)
        }
        Framing::Chunked => {
            // A chunk's data longer than its size line says: no CRLF where the chunk ends.
            let end = first_line(&draft.chunked_wire);
            let line = std::str::from_utf8(&draft.chunked_wire[..end]).unwrap();
            let size = usize::from_str_radix(line.split([';', ' ']).next().unwrap(), 16).unwrap();
            draft.chunked_wire.insert(end + 2 + size, b'!');
            Verdict::Error(want)
        }
    }
}

#[test]
fn damaged_framing_is_an_error_or_the_model_reading() {
    for_each_case("damaged", CASES, |rng| {
        let mut drafts = connection(rng);
        let verdict = structural_damage(rng, &mut drafts);
        let bytes: Vec<u8> = drafts.iter().flat_map(Draft::bytes).collect();
        let got = read_all(&rng.pieces(&bytes));
        match verdict {
            Verdict::Error(ref want) if got.error.is_some() && got.messages == *want => Ok(()),
            Verdict::ErrorOr(ref want) if got.error.is_some() && want.starts_with(&got.messages) => Ok(()),
            Verdict::ErrorOr(ref want) if got.messages == *want => Ok(()),
            Verdict::Error(want) => Err(format!("bytes {}\nwant {want:?} then an error\ngot {got:?}", show(&bytes))),
            Verdict::ErrorOr(want) => Err(format!("bytes {}\nwant an error or {want:?}\ngot {got:?}", show(&bytes))),
        }
    });
}

#[test]
fn a_connection_cut_short_is_an_error() {
    for_each_case("cut short", CASES, |rng| {
        let drafts = connection(rng);
        let last = drafts.last().unwrap();
        let bytes: Vec<u8> = drafts.iter().flat_map(Draft::bytes).collect();
        // A close anywhere inside the head, or inside a framed body, leaves a message incomplete (RFC 9112 §8).
        let start = bytes.len() - last.bytes().len();
        let framed = !matches!(last.framing, Framing::UntilClose | Framing::OtherCoding);
        let end = if framed { bytes.len() } else { start + last.head().len() };
        let cut = start + 1 + rng.below(end - start - 1);
        let want: Vec<Expected> = drafts[..drafts.len() - 1].iter().map(Draft::expected).collect();
        let got = read_all(&rng.pieces(&bytes[..cut]));
        if got.error.is_none() || got.messages != want {
            return Err(format!("bytes {}\nwant {want:?} then an error\ngot {got:?}", show(&bytes[..cut])));
        }
        Ok(())
    });
}

/// Bytes that matter to framing, for insertions.
const SHARP: &[u8] = b"\r\n :;0fF9\t\0\x7f\xff-+,\"";

#[test]
fn mutated_bytes_never_panic_nor_loop_and_any_reading_is_consistent() {
    for_each_case("mutated", CASES, |rng| {
        let drafts = connection(rng);
        let mut bytes: Vec<u8> = drafts.iter().flat_map(Draft::bytes).collect();
        rng.mutate(&mut bytes, SHARP);
        let got = read_all(&rng.pieces(&bytes));
        // Whatever was read must be there in the bytes: each head a status line and fields ended by an empty
        // line, its status the three digits of the status line, heads and bodies tiling the input in order.
        let mut at = 0;
        for message in &got.messages {
            let head = &bytes[at..at + message.head_len];
            if !head.ends_with(b"\n\r\n") && !head.ends_with(b"\n\n") {
                return Err(format!("bytes {}\nhead without a blank line: {}", show(&bytes), show(head)));
            }
            // httparse skips empty lines before the status line, as RFC 9112 §2.2 lets a request's recipient do.
            let line = &head[head.iter().position(|b| !b"\r\n".contains(b)).unwrap_or(head.len())..];
            let digits = line.get(9..12).and_then(|d| std::str::from_utf8(d).ok()).and_then(|d| d.parse().ok());
            if !line.starts_with(b"HTTP/1.") || digits != Some(message.status) {
                return Err(format!("bytes {}\nstatus {} not in {}", show(&bytes), message.status, show(head)));
            }
            at += message.head_len;
            if bytes[at..].get(..message.wire_body.len()) != Some(&message.wire_body[..]) {
                return Err(format!("bytes {}\nbody not where it was read", show(&bytes)));
            }
            at += message.wire_body.len();
        }
        Ok(())
    });
}
