//! lean-server's request framing (servers/src/lean/http1.rs) fuzzed against an independent model of RFC 9112.
//!
//! A generator writes requests from a model of the syntax (request line in origin or absolute form, fields,
//! a body framed by `Content-Length` or `chunked` with extensions and trailers, `Expect: 100-continue`) and
//! records what the server must decide for each: its method and target, where it ends, whether the connection
//! may carry another (RFC 9112 §9.3, and the module's stricter policy: HTTP/1.0 and `Upgrade` close). Several
//! go back to back on a connection cut into random reads (pipelining, partial reads), and the parser plus the
//! body skipping must find exactly the model's requests. Then framings RFC 9112 §6 says to reject (signed,
//! overflowing or disagreeing lengths, obfuscated or unsupported codings, a coding on HTTP/1.0, broken chunk
//! sizes) must be refused; and byte-level mutations must never panic, loop, or read a request that is not in
//! the bytes.
//!
//! Case `i` uses seed `i` ([`harness::fuzz`]); a failure prints its seed and bytes, `LEAN_FUZZ_SEED=n` re-runs
//! that case, `LEAN_FUZZ_CASES=n` runs a longer campaign.

use harness::fuzz::{for_each_case, show, Rng};
use servers::lean::http1::{parse_head, ChunkedSkip, Framing, Parsed};

const CASES: u64 = 3_000;
/// The largest head parsed (lean-server's `--max-head-bytes` default).
const MAX_HEAD: usize = 16 * 1024;

/// What the server must make of one request.
#[derive(Debug, Clone, PartialEq)]
enum Decision {
    /// Served: method, target in origin form, bytes taken (head and body), whether another request may follow.
    Served { method: String, target: String, len: usize, keep_alive: bool },
    /// Answered with this status and the connection closed.
    Refused(u16),
}

struct Draft {
    method: &'static str,
    /// As sent, and as the server must see it (origin form).
    target: (&'static str, &'static str),
    minor: u8,
    fields: Vec<(String, String)>,
    body: Vec<u8>,
    /// The body on the wire (chunked framing included when chunked).
    wire_body: Vec<u8>,
    keep_alive: bool,
}

impl Draft {
    fn head(&self) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.{}\r\n", self.method, self.target.0, self.minor).into_bytes();
        for (name, value) in &self.fields {
            out.extend_from_slice(format!("{name}:{value}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out
    }
    fn bytes(&self) -> Vec<u8> {
        let mut out = self.head();
        out.extend_from_slice(&self.wire_body);
        out
    }
    fn decision(&self) -> Decision {
        Decision::Served {
            method: self.method.into(),
            target: self.target.1.into(),
            len: self.bytes().len(),
            keep_alive: self.keep_alive,
        }
    }
}

fn chunked_wire(rng: &mut Rng, body: &[u8]) -> Vec<u8> {
    let extensions = [";a", ";name=value", ";q=\"quoted value\"", ";x;y=1"];
    harness::fuzz::chunked(rng, body, &extensions, &["X-Checksum: abc\r\n", "Expires:\r\n"])
}

fn draft(rng: &mut Rng) -> Draft {
    let method = rng.pick(&["GET", "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS"]);
    let target = rng.pick(&[
        ("/say/hello?name=Lucy", "/say/hello?name=Lucy"),
        ("/fact?n=5", "/fact?n=5"),
        ("/", "/"),
        ("/a%20b/c?d=%2F", "/a%20b/c?d=%2F"),
        ("http://lab:8888/fact?n=1", "/fact?n=1"),
        ("http://lab", "/"),
    ]);
    let minor = if rng.one_in(5) { 0 } else { 1 };
    let mut fields: Vec<(String, String)> = Vec::new();
    if minor == 1 || rng.one_in(2) {
        fields.push(("Host".into(), " lab".into()));
    }
    for _ in 0..rng.below(3) {
        let (name, value) = rng.pick(&["User-Agent: fuzz", "Accept: */*", "X-Empty:"]).split_once(':').unwrap();
        fields.push((name.into(), value.into()));
    }
    let size = if rng.one_in(3) { 0 } else { rng.below(300) };
    let body = rng.bytes(size);
    // Transfer-Encoding is refused on HTTP/1.0 (RFC 9112 §6.1): valid 1.0 requests use Content-Length.
    let chunked = minor == 1 && rng.one_in(3);
    let mut keep_alive = minor == 1;
    let wire_body = if chunked {
        let name = rng.pick(&["Transfer-Encoding", "transfer-encoding", "TRANSFER-ENCODING"]);
        fields.push((name.into(), rng.pick(&[" chunked", "chunked", " Chunked ", "\tchunked"]).into()));
        chunked_wire(rng, &body)
    } else if !body.is_empty() || rng.one_in(3) {
        let name = rng.pick(&["Content-Length", "content-length"]);
        let value = format!("{}{}{}", rng.pick(&["", " ", "\t"]), body.len(), rng.pick(&["", " "]));
        fields.push((name.into(), value.clone()));
        if rng.one_in(8) {
            // The same length twice, or as a list of equal values: one length (RFC 9110 §8.6).
            fields.push((name.into(), rng.pick(&[value.as_str(), &format!("{0}, {0}", body.len())]).into()));
        }
        body.clone()
    } else {
        Vec::new()
    };
    let connection = rng.pick(&["", "", "keep-alive", "close", "Keep-Alive, Close", "upgrade", "foo"]);
    if !connection.is_empty() {
        fields.push(("Connection".into(), format!(" {connection}")));
        let tokens: Vec<String> = connection.split(',').map(|t| t.trim().to_ascii_lowercase()).collect();
        // close ends the connection (§9.6); no route switches protocols, so Upgrade closes too (module policy).
        keep_alive &= !tokens.iter().any(|t| t == "close" || t == "upgrade");
    }
    let expects = !wire_body.is_empty() && rng.one_in(8);
    if expects {
        // A client waiting for 100 Continue sends no body until told (RFC 9110 §10.1.1): nothing to read.
        fields.push(("Expect".into(), " 100-continue".into()));
        keep_alive = false;
    }
    rng.shuffle(&mut fields);
    let wire_body = if expects { Vec::new() } else { wire_body };
    Draft { method, target, minor, fields, body, wire_body, keep_alive }
}

/// Requests on one connection: each keeps it alive except possibly the last.
fn connection(rng: &mut Rng) -> Vec<Draft> {
    let mut drafts = Vec::new();
    for _ in 0..1 + rng.below(4) {
        let draft = draft(rng);
        let keep_alive = draft.keep_alive;
        drafts.push(draft);
        if !keep_alive {
            break;
        }
    }
    drafts
}

/// What the server's connection loop makes of the bytes (servers/src/lean/event_loop.rs does the same with a
/// socket): parse a head, skip its body, go on while the connection is kept alive.
fn serve(pieces: &[Vec<u8>]) -> (Vec<Decision>, Option<String>) {
    let mut input = pieces.iter();
    let mut buffer: Vec<u8> = Vec::new();
    let mut decisions = Vec::new();
    let mut budget = 4 * pieces.iter().map(Vec::len).sum::<usize>() + 4 * pieces.len() + 16;
    let mut more = |buffer: &mut Vec<u8>| input.next().map(|piece| buffer.extend_from_slice(piece)).is_some();
    loop {
        let head = loop {
            budget = budget.checked_sub(1).expect("the parser makes no progress");
            let partial = match parse_head(&buffer, MAX_HEAD) {
                Parsed::Head(head) => {
                    break (head.len, head.method.to_string(), head.target.to_string(), head.body, head.keep_alive)
                }
                Parsed::Refused { status, .. } => {
                    decisions.push(Decision::Refused(status));
                    return (decisions, None);
                }
                Parsed::Dropped => return (decisions, Some("dropped".into())),
                Parsed::Partial => buffer.is_empty(),
            };
            if !more(&mut buffer) {
                return (decisions, (!partial).then(|| "closed mid-head".to_string()));
            }
        };
        let (head_len, method, target, body, keep_alive) = head;
        assert!(head_len <= buffer.len(), "head of {head_len} bytes in {} read", buffer.len());
        let mut taken = head_len;
        match body {
            Framing::None => {}
            Framing::Unread => {
                decisions.push(Decision::Served { method, target, len: taken, keep_alive });
                return (decisions, None);
            }
            Framing::Length(n) => {
                while buffer.len() < head_len + n as usize {
                    budget = budget.checked_sub(1).expect("no progress");
                    if !more(&mut buffer) {
                        return (decisions, Some("closed mid-body".into()));
                    }
                }
                taken += n as usize;
            }
            Framing::Chunked => {
                let mut skip = ChunkedSkip::default();
                loop {
                    budget = budget.checked_sub(1).expect("the chunked body makes no progress");
                    match skip.skip(&buffer[taken..]) {
                        Err(_) => {
                            decisions.push(Decision::Refused(400));
                            return (decisions, None);
                        }
                        Ok((used, done)) => {
                            assert!(used <= buffer.len() - taken);
                            taken += used;
                            if done {
                                break;
                            }
                        }
                    }
                    if !more(&mut buffer) {
                        return (decisions, Some("closed mid-body".into()));
                    }
                }
            }
        }
        decisions.push(Decision::Served { method, target, len: taken, keep_alive });
        buffer.drain(..taken);
        if !keep_alive {
            return (decisions, None);
        }
    }
}

#[test]
fn valid_requests_are_framed_as_the_model_says() {
    for_each_case("valid", CASES, |rng| {
        let drafts = connection(rng);
        let bytes: Vec<u8> = drafts.iter().flat_map(Draft::bytes).collect();
        let want: Vec<Decision> = drafts.iter().map(Draft::decision).collect();
        let got = serve(&rng.pieces(&bytes));
        if got != (want.clone(), None) {
            return Err(format!("bytes {}\nwant {want:?}\ngot {got:?}", show(&bytes)));
        }
        Ok(())
    });
}

/// Framings RFC 9112 §6 and RFC 9110 §8.6 leave no single reading of, put on one request of a connection: the
/// requests before it are served, it is refused with 400, nothing after it is read.
#[test]
fn ambiguous_framing_is_refused() {
    for_each_case("ambiguous", CASES, |rng| {
        let mut drafts = connection(rng);
        let victim = rng.below(drafts.len());
        drafts.truncate(victim + 1);
        let mut want: Vec<Decision> = drafts[..victim].iter().map(Draft::decision).collect();
        let draft = &mut drafts[victim];
        let n = draft.body.len();
        let framing =
            |name: &str| name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("transfer-encoding");
        draft.fields.retain(|(name, _)| !framing(name));
        let bad: Vec<(String, String)> = match rng.below(4) {
            // Content-Length = 1*DIGIT.
            0 => vec![(
                "Content-Length".into(),
                rng.pick(&["+1", "-1", "1x", "0x10", "99999999999999999999999", "", "1 2"]).into(),
            )],
            // Two lengths that disagree.
            1 => vec![("Content-Length".into(), format!("{n}")), ("Content-Length".into(), format!("{}", n + 1))],
            // Codings other than exactly one `chunked` (obfuscated, unsupported, repeated).
            2 => rng
                .pick(&[
                    &["xchunked"][..],
                    &["chunked, identity"],
                    &["gzip"],
                    &["gzip, chunked"],
                    &["chunked", "chunked"],
                    &["chunked;q=1"],
                    &[""],
                ])
                .iter()
                .map(|v| ("Transfer-Encoding".to_string(), format!(" {v}")))
                .collect(),
            // A chunk size that is not hex or overflows.
            _ => {
                draft.wire_body =
                    rng.pick(&["zz\r\n", "-1\r\n", "\r\n", "fffffffffffffffffff\r\n", " 5\r\n"]).as_bytes().to_vec();
                draft.minor = 1;
                vec![("Transfer-Encoding".into(), " chunked".into())]
            }
        };
        draft.fields.extend(bad);
        draft.fields.retain(|(name, _)| !name.eq_ignore_ascii_case("expect"));
        let bytes: Vec<u8> = drafts.iter().flat_map(Draft::bytes).collect();
        want.push(Decision::Refused(400));
        let got = serve(&rng.pieces(&bytes));
        if got != (want.clone(), None) {
            return Err(format!("bytes {}\nwant {want:?}\ngot {got:?}", show(&bytes)));
        }
        Ok(())
    });
}

/// Content-Length beside Transfer-Encoding (a smuggling shape): the chunked reading, then the connection closed
/// (RFC 9112 §6.1) — never the Content-Length reading.
#[test]
fn content_length_beside_chunked_reads_chunked_and_closes() {
    for_each_case("CL and TE", CASES, |rng| {
        let mut draft = draft(rng);
        draft.minor = 1;
        draft.fields.retain(|(name, _)| {
            !["content-length", "transfer-encoding", "expect"].contains(&name.to_ascii_lowercase().as_str())
        });
        draft.wire_body = chunked_wire(rng, &draft.body.clone());
        draft.fields.push(("Content-Length".into(), format!(" {}", draft.body.len())));
        draft.fields.push(("Transfer-Encoding".into(), " chunked".into()));
        rng.shuffle(&mut draft.fields);
        draft.keep_alive = false;
        let mut bytes = draft.bytes();
        bytes.extend_from_slice(b"GET /hidden HTTP/1.1\r\nHost: lab\r\n\r\n");
        let want = vec![draft.decision()];
        let got = serve(&rng.pieces(&bytes));
        if got != (want.clone(), None) {
            return Err(format!("bytes {}\nwant {want:?}\ngot {got:?}", show(&bytes)));
        }
        Ok(())
    });
}

const SHARP: &[u8] = b"\r\n :;0fF9\t\0\x7f\xff-+,/?%";

#[test]
fn mutated_requests_never_panic_nor_loop_and_any_reading_is_in_the_bytes() {
    for_each_case("mutated", CASES, |rng| {
        let drafts = connection(rng);
        let mut bytes: Vec<u8> = drafts.iter().flat_map(Draft::bytes).collect();
        rng.mutate(&mut bytes, SHARP);
        let (decisions, _) = serve(&rng.pieces(&bytes));
        let mut at = 0;
        for decision in decisions {
            let Decision::Served { method, target, len, .. } = decision else { break };
            let request = &bytes[at..at + len];
            let line_start = request.iter().position(|b| !b"\r\n".contains(b)).unwrap_or(request.len());
            let line = &request[line_start..];
            // The method starts the request line and the target is in it: as sent (origin form), or as the path
            // and query of an absolute URL, whose empty path is "/" (RFC 9112 §3.2.2).
            let path = target.trim_start_matches('/').as_bytes();
            let in_line = path.is_empty() || line.windows(path.len()).any(|w| w == path);
            if !line.starts_with(method.as_bytes()) || !in_line {
                return Err(format!("bytes {}\nread {method} {target} from {}", show(&bytes), show(request)));
            }
            at += len;
        }
        Ok(())
    });
}
