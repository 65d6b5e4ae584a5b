//! HTTP/1.1 for the lean server, without I/O: a request head in, a decision out; a response head written into a
//! buffer; a request body walked over and thrown away.
//!
//! httparse does the tokenising (request line, header fields, the characters each may hold). What a server
//! must decide on top of that is *framing* — where this request ends and the next one begins — and that is
//! where request smuggling lives, so it is strict (RFC 9112 §6):
//! - a `Transfer-Encoding` other than exactly `chunked` is refused (400), and so is one on HTTP/1.0;
//! - `Content-Length` must be digits; several that disagree are refused (400);
//! - both at once: the body is read as chunked and the connection closed after the response (§6.1);
//! - a body larger than [`MAX_DISCARDED_BODY`] is not read at all: the request is answered, then the connection
//!   is closed; so is one whose client waits for `100 Continue` (RFC 9110 §10.1.1), which no route asks for;
//! - any refusal closes the connection, since after a framing error nothing that follows can be trusted.

use crate::workload::Reply;
use std::borrow::Cow;
use std::io::Write;
use std::mem::MaybeUninit;
use std::time::SystemTime;

/// Header fields a request may carry; one more is a 431 (hyper's limit too).
pub const MAX_HEADERS: usize = 100;

/// The largest request body read (and thrown away: no route takes one) to keep the connection alive. A larger
/// one is left unread, and the connection closed after the response.
pub const MAX_DISCARDED_BODY: u64 = 64 * 1024;

/// A complete, acceptable request head.
#[derive(Debug, PartialEq, Eq)]
pub struct Head<'b> {
    /// Bytes the head takes in the buffer, line breaks and the empty line included.
    pub len: usize,
    pub method: &'b str,
    /// In origin form (`/path?query`): an absolute-form target is reduced to it.
    pub target: Cow<'b, str>,
    /// How the body that follows the head is delimited.
    pub body: Framing,
    /// Whether the connection may carry another request after this one.
    pub keep_alive: bool,
    /// The `Content-Type` field, for the one route that reads a body.
    pub content_type: Option<&'b str>,
    /// The body the client holds back until it is told `100 Continue` (RFC 9110 §10.1.1): its framing, `body`
    /// being `Unread` then. A route that reads the body sends the `100 Continue` and reads it by this framing.
    pub held_back: Option<Framing>,
}

/// Where the request's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// `Content-Length` bytes, at most [`MAX_DISCARDED_BODY`].
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// A body left unread (too large, or held back by `Expect: 100-continue`): the connection closes after the
    /// response.
    Unread,
}

/// What parsing the bytes buffered so far gives.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<'b> {
    /// Not a whole head yet: read more.
    Partial,
    Head(Head<'b>),
    /// Answer with this status and reason, then close.
    Refused {
        status: u16,
        reason: &'static str,
    },
    /// Close without a word (an HTTP/2 client: a response in HTTP/1.1 would mean nothing to it).
    Dropped,
}

/// Parses the head at the start of `buffered`, a head longer than `max_head` bytes being refused.
pub fn parse_head(buffered: &[u8], max_head: usize) -> Parsed<'_> {
    let refuse = |status, reason| Parsed::Refused { status, reason };
    if buffered.starts_with(b"PRI * HTTP/2.0") {
        return Parsed::Dropped;
    }
    // Left uninitialised: httparse fills in only as many as the head has (zeroing 100 slots, 3 KiB, on every
    // request would cost more than parsing a short head).
    let mut fields = [const { MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut []);
    let len = match request.parse_with_uninit_headers(buffered, &mut fields) {
        Ok(httparse::Status::Complete(len)) if len <= max_head => len,
        Ok(httparse::Status::Partial) if buffered.len() <= max_head => return Parsed::Partial,
        Ok(_) => return refuse(431, "request head larger than --max-head-bytes"),
        Err(httparse::Error::TooManyHeaders) => return refuse(431, "more than 100 header fields"),
        Err(httparse::Error::Version) => return refuse(400, "not an HTTP/1.0 or HTTP/1.1 request"),
        Err(_) => return refuse(400, "malformed request head"),
    };
    let (Some(method), Some(raw_target), Some(minor)) = (request.method, request.path, request.version) else {
        unreachable!("a complete request has a method, a target and a version")
    };
    let Some(target) = origin_form(raw_target) else {
        return refuse(400, "the request target is neither a path nor an absolute URL");
    };

    let mut close = minor == 0; // HTTP/1.0: one request per connection.
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut expects_continue = false;
    let mut hosts = 0;
    let mut content_type = None;
    for field in request.headers.iter() {
        let name = field.name;
        if name.eq_ignore_ascii_case("content-length") {
            if list(field.value).next().is_none() {
                return refuse(400, "empty Content-Length");
            }
            for value in list(field.value) {
                let Some(n) = digits(value) else { return refuse(400, "bad Content-Length") };
                if length.is_some_and(|seen| seen != n) {
                    return refuse(400, "conflicting Content-Length values");
                }
                length = Some(n);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Exactly one coding in all, and it is `chunked`: anything else has no length we could trust.
            for coding in list(field.value) {
                if chunked || !coding.eq_ignore_ascii_case(b"chunked") {
                    return refuse(400, "unsupported Transfer-Encoding (only chunked is)");
                }
                chunked = true;
            }
            if !chunked {
                return refuse(400, "empty Transfer-Encoding");
            }
        } else if name.eq_ignore_ascii_case("connection") {
            // No server here switches protocols: after an Upgrade request, close rather than read what the
            // client (or a proxy that took the upgrade for granted) sends next as requests.
            close |= list(field.value)
                .any(|token| token.eq_ignore_ascii_case(b"close") || token.eq_ignore_ascii_case(b"upgrade"));
        } else if name.eq_ignore_ascii_case("host") {
            // More than one Host is a 400 (RFC 9112 §3.2), as on the other servers.
            if hosts > 0 {
                return refuse(400, "more than one Host header");
            }
            hosts += 1;
        } else if name.eq_ignore_ascii_case("content-type") {
            content_type = Some(std::str::from_utf8(field.value).unwrap_or("(not text)"));
        } else if name.eq_ignore_ascii_case("expect") {
            expects_continue |= list(field.value).any(|token| token.eq_ignore_ascii_case(b"100-continue"));
        }
    }
    let body = match (chunked, length) {
        (true, _) if minor == 0 => return refuse(400, "Transfer-Encoding on an HTTP/1.0 request"),
        (true, length) => {
            // Both: chunked wins, and the connection must not be reused (RFC 9112 §6.1).
            close |= length.is_some();
            Framing::Chunked
        }
        (false, None | Some(0)) => Framing::None,
        (false, Some(n)) if n <= MAX_DISCARDED_BODY => Framing::Length(n),
        (false, Some(_)) => Framing::Unread,
    };
    // The client sends the body only once told to continue, and is answered before that: leave it unsent.
    let held_back = (expects_continue && body != Framing::None).then_some(body);
    let body = if held_back.is_some() { Framing::Unread } else { body };
    let keep_alive = !close && body != Framing::Unread;
    Parsed::Head(Head { len, method, target, body, keep_alive, content_type, held_back })
}

/// The target in origin form: as is when it is a path (or `*`), the path of an absolute URL, None otherwise.
fn origin_form(target: &str) -> Option<Cow<'_, str>> {
    if !target.is_ascii() {
        return None;
    }
    if target.starts_with('/') || target == "*" {
        return Some(Cow::Borrowed(target));
    }
    let (scheme, _) = target.split_once("://")?;
    let is_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    is_scheme.then(|| crate::tiny_http_glue::origin_form(target))
}

/// The elements of a comma-separated header value, without the optional white space around them.
fn list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(|element| element.trim_ascii()).filter(|element| !element.is_empty())
}

/// A `Content-Length` element: decimal digits only (no sign, no space), fitting in a u64.
fn digits(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// A chunked body being skipped, byte by byte as it arrives (RFC 9112 §7.1). Line ends must be CRLF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkedSkip {
    state: Chunk,
    /// Bytes consumed so far, framing included: more than [`MAX_DISCARDED_BODY`] is an error.
    consumed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Hex digits of the chunk size (`digits` so far).
    Size {
        size: u64,
        digits: u8,
    },
    /// A chunk extension, skipped up to the CR (`len` bytes of it so far; at most `MAX_CHUNK_EXTENSION`).
    Extension {
        size: u64,
        len: u16,
    },
    /// The LF after a chunk-size line.
    SizeLf {
        size: u64,
    },
    /// Chunk data still to skip.
    Data {
        left: u64,
    },
    DataCr,
    DataLf,
    /// A trailer line (`empty`: nothing on it yet, so its CRLF ends the body).
    Trailer {
        empty: bool,
    },
    TrailerLf {
        empty: bool,
    },
    Done,
}

/// The longest chunk extension skipped, per chunk.
const MAX_CHUNK_EXTENSION: u16 = 4096;

/// The body is not well-formed chunked coding, or is larger than the server reads.
#[derive(Debug, PartialEq, Eq)]
pub struct BadChunk;

impl Default for ChunkedSkip {
    fn default() -> ChunkedSkip {
        ChunkedSkip { state: Chunk::Size { size: 0, digits: 0 }, consumed: 0 }
    }
}

impl ChunkedSkip {
    /// Skips what it can of `bytes`: how many bytes belonged to the body, and whether the body is over.
    pub fn skip(&mut self, bytes: &[u8]) -> Result<(usize, bool), BadChunk> {
        self.decode(bytes, None)
    }

    /// Like [`ChunkedSkip::skip`], appending the chunks' data to `data`.
    pub fn read(&mut self, bytes: &[u8], data: &mut Vec<u8>) -> Result<(usize, bool), BadChunk> {
        self.decode(bytes, Some(data))
    }

    fn decode(&mut self, bytes: &[u8], mut data: Option<&mut Vec<u8>>) -> Result<(usize, bool), BadChunk> {
        let mut used = 0;
        while used < bytes.len() && self.state != Chunk::Done {
            if let Chunk::Data { left } = self.state {
                let n = left.min((bytes.len() - used) as u64);
                if let Some(data) = data.as_deref_mut() {
                    data.extend_from_slice(&bytes[used..used + n as usize]);
                }
                used += n as usize;
                self.state = if n == left { Chunk::DataCr } else { Chunk::Data { left: left - n } };
                continue;
            }
            self.state = next_state(self.state, bytes[used])?;
            used += 1;
        }
        self.consumed += used as u64;
        if self.consumed > MAX_DISCARDED_BODY {
            return Err(BadChunk);
        }
        Ok((used, self.state == Chunk::Done))
    }
}

/// One byte of chunk framing.
fn next_state(state: Chunk, byte: u8) -> Result<Chunk, BadChunk> {
    Ok(match (state, byte) {
        (Chunk::Size { size, digits }, _) if byte.is_ascii_hexdigit() => {
            // Fifteen hex digits already exceed any body we read: more is an overflow attempt.
            if digits >= 15 {
                return Err(BadChunk);
            }
            let digit = (byte as char).to_digit(16).expect("a hex digit") as u64;
            Chunk::Size { size: size * 16 + digit, digits: digits + 1 }
        }
        (Chunk::Size { size, digits: 1.. }, b';') => Chunk::Extension { size, len: 0 },
        (Chunk::Size { size, digits: 1.. } | Chunk::Extension { size, .. }, b'\r') => Chunk::SizeLf { size },
        // RFC 9112 §7.1.1: a server ought to limit chunk extensions; the others do too (4 KiB a line, 16 KiB).
        (Chunk::Extension { len, .. }, _) if len >= MAX_CHUNK_EXTENSION => return Err(BadChunk),
        (Chunk::Extension { size, len }, _) if byte == b'\t' || !byte.is_ascii_control() => {
            Chunk::Extension { size, len: len + 1 }
        }
        (Chunk::SizeLf { size: 0 }, b'\n') => Chunk::Trailer { empty: true },
        (Chunk::SizeLf { size }, b'\n') => Chunk::Data { left: size },
        (Chunk::DataCr, b'\r') => Chunk::DataLf,
        (Chunk::DataLf, b'\n') => Chunk::Size { size: 0, digits: 0 },
        (Chunk::Trailer { empty }, b'\r') => Chunk::TrailerLf { empty },
        (Chunk::Trailer { .. }, _) if byte == b'\t' || !byte.is_ascii_control() => Chunk::Trailer { empty: false },
        (Chunk::TrailerLf { empty: true }, b'\n') => Chunk::Done,
        (Chunk::TrailerLf { empty: false }, b'\n') => Chunk::Trailer { empty: true },
        _ => return Err(BadChunk),
    })
}

/// What a response head says besides its status.
pub struct ResponseHead<'a> {
    pub status: u16,
    pub content_type: &'a str,
    pub allow: Option<&'a str>,
    /// The `Cache-Control` value.
    pub cache_control: &'a str,
    pub server: &'a str,
    /// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`).
    pub date: &'a str,
    pub content_length: usize,
    /// Adds `Connection: close`.
    pub close: bool,
}

impl ResponseHead<'_> {
    /// Appends the head, empty line included, to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let _ = write!(
            out,
            "HTTP/1.1 {} {}\r\nServer: {}\r\nDate: {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
             Cache-Control: {}\r\n",
            self.status,
            reason_phrase(self.status),
            self.server,
            self.date,
            self.content_type,
            self.content_length,
            self.cache_control
        );
        if let Some(allow) = self.allow {
            let _ = write!(out, "Allow: {allow}\r\n");
        }
        if self.close {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// The whole response to `reply`: its head, then its body unless the request was a HEAD (RFC 9110 §9.3.2).
/// `keep_alive: false` says `Connection: close`.
pub fn encode_response(reply: &Reply, server: &str, date: &str, keep_alive: bool, head_only: bool) -> Vec<u8> {
    let body = reply.body.as_bytes();
    let mut output = Vec::with_capacity(256 + body.len());
    ResponseHead {
        status: reply.status,
        content_type: reply.content_type,
        allow: reply.allow,
        cache_control: reply.cache.header_value(),
        server,
        date,
        content_length: body.len(),
        close: !keep_alive,
    }
    .write_to(&mut output);
    if !head_only {
        output.extend_from_slice(body);
    }
    output
}

/// The `Date` header's value, formatted once a second.
#[derive(Default)]
pub struct HttpDate {
    second: u64,
    /// The value, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
    pub text: String,
}

impl HttpDate {
    /// Formats the value again if the second has changed since the last call.
    pub fn refresh(&mut self) {
        let now = SystemTime::now();
        let second = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second != self.second || self.text.is_empty() {
            self.second = second;
            self.text = httpdate::fmt_http_date(now);
        }
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        // The reason phrase is optional (RFC 9112 §4); the workload uses none other than the above.
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 16 * 1024;

    fn head(raw: &str) -> Head<'_> {
        match parse_head(raw.as_bytes(), MAX) {
            Parsed::Head(head) => head,
            other => panic!("{raw:?}: {other:?}"),
        }
    }

    fn refused(raw: &str) -> u16 {
        match parse_head(raw.as_bytes(), MAX) {
            Parsed::Refused { status, .. } => status,
            other => panic!("{raw:?}: want a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_simple_get() {
        let raw = "GET /fact?n=5 HTTP/1.1\r\nHost: x\r\n\r\nGET /next";
        let parsed = head(raw);
        assert_eq!(parsed.len, raw.len() - "GET /next".len());
        assert_eq!((parsed.method, parsed.target.as_ref()), ("GET", "/fact?n=5"));
        assert_eq!((parsed.body, parsed.keep_alive), (Framing::None, true));
        assert_eq!(parse_head(b"GET /fact?n=5 HTTP/1.1\r\nHost:", MAX), Parsed::Partial);
    }

    #[test]
    fn connection_reuse_follows_rfc_9112_section_9_3() {
        assert!(!head("GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n").keep_alive);
        assert!(!head("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(head("GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n").keep_alive);
    }

    #[test]
    fn absolute_form_is_reduced_to_the_path() {
        assert_eq!(head("GET http://h:1/fact?n=1 HTTP/1.1\r\n\r\n").target, "/fact?n=1");
        assert_eq!(head("GET http://h:1 HTTP/1.1\r\n\r\n").target, "/");
        assert_eq!(refused("GET no/param HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(refused("GET h:1 HTTP/1.1\r\n\r\n"), 400);
    }

    /// RFC 9112 §6.1 and §6.3: the framing rules the module's doc lists.
    #[test]
    fn framing() {
        let body = |raw: &str| head(raw).body;
        assert_eq!(body("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n"), Framing::Length(5));
        assert_eq!(body("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"), Framing::Length(5));
        assert_eq!(body("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), Framing::None);
        assert_eq!(body("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"), Framing::Chunked);
        let huge = head("GET / HTTP/1.1\r\nContent-Length: 1000000000000\r\n\r\n");
        assert_eq!((huge.body, huge.keep_alive), (Framing::Unread, false));
        let waiting = head("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(
            (waiting.body, waiting.keep_alive, waiting.held_back),
            (Framing::Unread, false, Some(Framing::Length(5)))
        );
        assert!(head("GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n").keep_alive);
        let both = head("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!((both.body, both.keep_alive), (Framing::Chunked, false));
        for bad in [
            "Content-Length: 1\r\nContent-Length: 2",
            "Content-Length: 1, 2",
            "Content-Length: -1",
            "Content-Length: +1",
            "Content-Length: 1 2",
            "Content-Length: 0x10",
            "Content-Length: 99999999999999999999999",
            "Transfer-Encoding: gzip",
            "Transfer-Encoding: gzip, chunked",
            "Transfer-Encoding: chunked, chunked",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
            "Transfer-Encoding: xchunked",
            "Transfer-Encoding: chunked;q=1",
            "Transfer-Encoding:",
            "Content-Length:",
        ] {
            assert_eq!(refused(&format!("POST / HTTP/1.1\r\n{bad}\r\n\r\n")), 400, "{bad:?}");
        }
        assert_eq!(refused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
    }

    #[test]
    fn limits() {
        let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "v".repeat(2000));
        assert!(matches!(parse_head(long.as_bytes(), 1024), Parsed::Refused { status: 431, .. }));
        assert!(matches!(parse_head(&long.as_bytes()[..1500], 1024), Parsed::Refused { status: 431, .. }));
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "X: v\r\n".repeat(101));
        assert_eq!(refused(&many), 431);
        assert_eq!(parse_head(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", MAX), Parsed::Dropped);
    }

    fn skip_all(body: &[u8]) -> Result<(usize, bool), BadChunk> {
        ChunkedSkip::default().skip(body)
    }

    #[test]
    fn chunked_bodies_are_skipped_to_their_end() {
        let body = b"5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nTrailer: x\r\n\r\nGET /next";
        assert_eq!(skip_all(body), Ok((body.len() - "GET /next".len(), true)));
        // Byte by byte, the same.
        let mut skip = ChunkedSkip::default();
        let ends: Vec<bool> = body[..body.len() - 9].iter().map(|b| skip.skip(&[*b]).unwrap().1).collect();
        assert_eq!(ends.iter().filter(|&&end| end).count(), 1);
        assert!(ends.last().unwrap());
        assert_eq!(skip_all(b"0\r\n\r\n"), Ok((5, true)));
        assert_eq!(skip_all(b"5\r\nhel"), Ok((6, false)));
        // Read, the data comes out without the framing.
        let mut data = Vec::new();
        assert_eq!(ChunkedSkip::default().read(body, &mut data), Ok((body.len() - "GET /next".len(), true)));
        assert_eq!(data, b"helloabc");
    }

    #[test]
    fn broken_chunked_bodies_are_errors() {
        for bad in [
            &b"zz\r\nabc\r\n0\r\n\r\n"[..],
            b"fffffffffffffffffffff\r\n",
            b"\r\n",
            b"5\nhello\r\n",
            b"5\r\nhelloX",
            b" 5\r\n",
            b"0\r\n\n",
            b"-1\r\n",
        ] {
            assert_eq!(skip_all(bad), Err(BadChunk), "{:?}", String::from_utf8_lossy(bad));
        }
        let too_big = format!("10000\r\n{}\r\n0\r\n\r\n", "x".repeat(0x10000));
        assert_eq!(skip_all(too_big.as_bytes()), Err(BadChunk));
    }

    #[test]
    fn response_head() {
        let mut out = Vec::new();
        let date = "Sun, 06 Nov 1994 08:49:37 GMT";
        ResponseHead {
            status: 405,
            content_type: "text/plain",
            allow: Some("GET"),
            cache_control: "no-store",
            server: "lean-server",
            date,
            content_length: 3,
            close: true,
        }
        .write_to(&mut out);
        let mut fields = [httparse::EMPTY_HEADER; 8];
        let mut response = httparse::Response::new(&mut fields);
        assert_eq!(response.parse(&out), Ok(httparse::Status::Complete(out.len())));
        assert_eq!((response.code, response.reason), (Some(405), Some("Method Not Allowed")));
        let field = |name: &str| response.headers.iter().find(|h| h.name == name).map(|h| h.value);
        assert_eq!(field("Content-Length"), Some(&b"3"[..]));
        assert_eq!(field("Allow"), Some(&b"GET"[..]));
        assert_eq!(field("Cache-Control"), Some(&b"no-store"[..]));
        assert_eq!(field("Connection"), Some(&b"close"[..]));
        assert_eq!(field("Date"), Some(date.as_bytes()));
    }
}
