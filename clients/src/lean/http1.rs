//! HTTP/1.1 response framing for the lean engine: where a response head ends (httparse does the parsing) and
//! where its body ends (`Content-Length`, chunked, or the connection closing), without copying the body.
//!
//! Pure functions over byte slices, so that every framing rule is unit-tested without a socket.

use std::fmt;

/// Headers looked at per response; more is a malformed response for our purposes.
const MAX_HEADERS: usize = 64;

/// A response that cannot be framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramingError(pub String);

impl fmt::Display for FramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A parsed response head: what the connection loop needs, nothing more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    /// Bytes taken by the status line and headers (the body starts here).
    pub len: usize,
    /// How the body's end is found.
    pub body: Body,
    /// The connection cannot be reused after this response (`Connection: close`, HTTP/1.0, or a body that
    /// ends when the connection closes).
    pub close: bool,
}

/// Parses a response head from the start of `buf`; `Ok(None)` when more bytes are needed.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, FramingError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Partial) => return Ok(None),
        Ok(httparse::Status::Complete(len)) => len,
        Err(e) => return Err(FramingError(format!("malformed response head: {e}"))),
    };
    let status = response.code.unwrap_or_default();
    // HTTP/1.0 closes unless it says keep-alive; HTTP/1.1 keeps alive unless it says close.
    let mut close = response.version == Some(0);
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut transfer_encoding = false;
    for header in response.headers.iter() {
        let value = std::str::from_utf8(header.value).unwrap_or("");
        if header.name.eq_ignore_ascii_case("content-length") {
            // 1*DIGIT (RFC 9110 §8.6): `str::parse` alone would take a sign.
            let digits = value.trim();
            let n: u64 = Some(digits)
                .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|d| d.parse().ok())
                .ok_or_else(|| FramingError(format!("bad Content-Length {value:?}")))?;
            if content_length.is_some_and(|previous| previous != n) {
                return Err(FramingError("conflicting Content-Length headers".into()));
            }
            content_length = Some(n);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked is the final coding when present; any other coding makes the length unknowable here.
            transfer_encoding = true;
            chunked = value.rsplit(',').next().is_some_and(|coding| coding.trim().eq_ignore_ascii_case("chunked"));
        } else if header.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") && response.version == Some(0) {
                    close = false;
                }
            }
        }
    }
    let body = if (100..200).contains(&status) || status == 204 || status == 304 {
        // An interim 1xx is followed by another head we would not expect: do not reuse the connection.
        close |= status < 200;
        Body::Done
    } else if transfer_encoding {
        // Transfer-Encoding overrides Content-Length (RFC 9112 §6.3 items 3 and 4). Both at once, or a coding on
        // HTTP/1.0, means the framing is in doubt: never reuse the connection after it (§6.1).
        close |= content_length.is_some() || response.version == Some(0);
        if chunked {
            Body::Chunked(Chunk::Size)
        } else {
            close = true;
            Body::UntilClose
        }
    } else if let Some(n) = content_length {
        if n == 0 {
            Body::Done
        } else {
            Body::Length(n)
        }
    } else {
        close = true;
        Body::UntilClose
    };
    Ok(Some(Head { status, len, body, close }))
}

/// Where a body stands: fed bytes as they arrive, it says how many it used and when it is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// `Content-Length`: this many bytes still to come.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked(Chunk),
    /// No length: the body ends when the server closes the connection.
    UntilClose,
    /// Complete.
    Done,
}

/// Position inside a chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    /// Expecting a `hex-size[;ext]\r\n` line.
    Size,
    /// Inside a chunk: this many data bytes to skip.
    Data(u64),
    /// Expecting the `\r\n` after a chunk's data.
    DataEnd,
    /// After the last (zero-size) chunk: trailer lines, ended by an empty line.
    Trailer,
}

impl Body {
    pub fn is_done(&self) -> bool {
        *self == Body::Done
    }

    /// Consumes body bytes from the front of `data`; returns how many were used. Fewer than `data.len()` are
    /// used when the body completes (the rest belongs to whatever follows) or when a chunk line is incomplete
    /// (the caller keeps those bytes and feeds them again with more).
    pub fn feed(&mut self, data: &[u8]) -> Result<usize, FramingError> {
        let mut used = 0;
        loop {
            let rest = &data[used..];
            match self {
                Body::Done => return Ok(used),
                Body::UntilClose => return Ok(data.len()),
                Body::Length(remaining) => {
                    let take = (*remaining).min(rest.len() as u64);
                    *remaining -= take;
                    used += take as usize;
                    if *remaining == 0 {
                        *self = Body::Done;
                    }
                    return Ok(used);
                }
                Body::Chunked(chunk) => match *chunk {
                    // chunk-size = 1*HEXDIG (RFC 9112 §7.1); httparse would read an empty size as 0.
                    Chunk::Size if rest.first().is_some_and(|b| !b.is_ascii_hexdigit()) => {
                        return Err(FramingError("bad chunk size line".into()))
                    }
                    Chunk::Size => match httparse::parse_chunk_size(rest) {
                        Ok(httparse::Status::Complete((n, 0))) => {
                            used += n;
                            *chunk = Chunk::Trailer;
                        }
                        Ok(httparse::Status::Complete((n, size))) => {
                            used += n;
                            *chunk = Chunk::Data(size);
                        }
                        Ok(httparse::Status::Partial) => return Ok(used),
                        Err(_) => return Err(FramingError("bad chunk size line".into())),
                    },
                    Chunk::Data(remaining) => {
                        let take = remaining.min(rest.len() as u64);
                        used += take as usize;
                        if take == remaining {
                            *chunk = Chunk::DataEnd;
                        } else {
                            *chunk = Chunk::Data(remaining - take);
                            return Ok(used);
                        }
                    }
                    Chunk::DataEnd => {
                        if rest.len() < 2 {
                            return Ok(used);
                        }
                        if &rest[..2] != b"\r\n" {
                            return Err(FramingError("chunk data not followed by CRLF".into()));
                        }
                        used += 2;
                        *chunk = Chunk::Size;
                    }
                    Chunk::Trailer => {
                        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else { return Ok(used) };
                        used += eol + 2;
                        if eol == 0 {
                            *self = Body::Done;
                        }
                    }
                },
            }
        }
    }

    /// The server closed the connection: fine for a body that ends that way, a truncation otherwise.
    pub fn finish_at_eof(&mut self) -> Result<(), FramingError> {
        match self {
            Body::UntilClose | Body::Done => {
                *self = Body::Done;
                Ok(())
            }
            _ => Err(FramingError("connection closed before the end of the body".into())),
        }
    }
}

#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head {
        parse_head(text.as_bytes()).unwrap().unwrap()
    }

    /// Feeds `body` one byte at a time (the worst split), returning bytes used and whether it completed.
    fn feed_bytewise(mut framing: Body, body: &[u8]) -> (usize, bool) {
        let mut pending: Vec<u8> = Vec::new();
        let mut used_total = 0;
        for &byte in body {
            pending.push(byte);
            let used = framing.feed(&pending).unwrap();
            pending.drain(..used);
            used_total += used;
            if framing.is_done() {
                break;
            }
        }
        (used_total, framing.is_done())
    }

    #[test]
    fn content_length() {
        let text = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello Lucy";
        let h = head(text);
        assert_eq!((h.status, h.len, h.body, h.close), (200, text.len() - 10, Body::Length(10), false));
        let mut body = h.body;
        assert_eq!(body.feed(b"hello").unwrap(), 5);
        assert!(!body.is_done());
        assert_eq!(body.feed(b" LucyHTTP/1.1").unwrap(), 5);
        assert!(body.is_done());
        assert_eq!(head("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").body, Body::Done);
    }

    #[test]
    fn partial_and_malformed_heads() {
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Le").unwrap(), None);
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n").is_err());
        assert!(parse_head(b"garbage\r\n\r\n").is_err());
    }

    #[test]
    fn connection_semantics() {
        assert!(head("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").close);
        assert!(head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").close);
        assert!(!head("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n").close);
        let until_close = head("HTTP/1.1 200 OK\r\n\r\n");
        assert!(until_close.close);
        let mut body = until_close.body;
        assert_eq!(body.feed(b"anything").unwrap(), 8);
        body.finish_at_eof().unwrap();
        assert!(body.is_done());
        assert!(Body::Length(3).finish_at_eof().is_err());
    }

    #[test]
    fn no_body_statuses() {
        assert_eq!(head("HTTP/1.1 204 No Content\r\n\r\n").body, Body::Done);
        assert!(!head("HTTP/1.1 204 No Content\r\n\r\n").close);
        assert_eq!(head("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n").body, Body::Done);
        let interim = head("HTTP/1.1 100 Continue\r\n\r\n");
        assert!(interim.body.is_done() && interim.close);
    }

    #[test]
    fn chunked_whole_and_bytewise() {
        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n");
        assert_eq!(h.body, Body::Chunked(Chunk::Size));
        let body = b"5\r\nhello\r\n1;ext=1\r\n \r\n4\r\nLucy\r\n0\r\n\r\nNEXT";
        let mut whole = h.body;
        assert_eq!(whole.feed(body).unwrap(), body.len() - 4);
        assert!(whole.is_done());
        assert_eq!(feed_bytewise(h.body, body), (body.len() - 4, true));
    }

    #[test]
    fn chunked_with_trailers() {
        let body = b"3\r\nabc\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n";
        assert_eq!(feed_bytewise(Body::Chunked(Chunk::Size), body), (body.len(), true));
    }

    #[test]
    fn chunked_errors() {
        assert!(Body::Chunked(Chunk::Size).feed(b"zz\r\n").is_err());
        assert!(Body::Chunked(Chunk::Size).feed(b"2\r\nabXY").is_err());
        let mut partial = Body::Chunked(Chunk::Size);
        assert_eq!(partial.feed(b"2\r\na").unwrap(), 4);
        assert_eq!(partial, Body::Chunked(Chunk::Data(1)));
        assert!(partial.finish_at_eof().is_err());
    }

    #[test]
    fn other_transfer_codings_are_not_chunked() {
        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n");
        assert_eq!(h.body, Body::UntilClose);
        // Transfer-Encoding overrides Content-Length even when its final coding is not chunked (RFC 9112 §6.3).
        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n");
        assert_eq!((h.body, h.close), (Body::UntilClose, true));
    }

    /// Found by the fuzz target (`fuzz.rs`): each was accepted before.
    #[test]
    fn framing_in_doubt() {
        // RFC 9112 §6.1: Transfer-Encoding on HTTP/1.0, or beside Content-Length: close after the message.
        assert!(head("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n").close);
        assert!(head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n").close);
        // Content-Length = 1*DIGIT; chunk-size = 1*HEXDIG.
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n").is_err());
        assert!(Body::Chunked(Chunk::Size).feed(b"\r\n\r\n").is_err());
    }
}
