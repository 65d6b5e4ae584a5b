//! Lab patch: request bodies that keep the connection in step (vendor/README.md, patch 9).
//!
//! A request's body is what lies between its head and the next request. Upstream read a chunked body only as
//! far as the handler read it and then handed the socket to the next request: a handler that answered without
//! reading the body made the server parse the body as the next request (request smuggling). Here every body
//! is a [`Body`]: dropping it reads and discards what the handler left, up to [`MAX_DRAIN_BYTES`], and when the
//! body cannot be brought to its end (malformed chunks, EOF, the limit, a client waiting for `100 Continue`),
//! it marks the connection's framing as broken and the connection is closed instead of read on.
//!
//! The chunked decoder is strict (RFC 9112 §7.1): at most 16 hex digits of size, CRLF only, extensions and
//! trailers bounded.

use std::convert::TryFrom;
use std::io::{self, ErrorKind, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The most unread body bytes read and discarded to keep a connection; past it the connection is closed.
pub const MAX_DRAIN_BYTES: u64 = 1 << 20;
/// The longest chunk-size line (size, extensions, CRLF).
pub const MAX_CHUNK_LINE: usize = 4096;
/// The most bytes of chunk extensions and trailer fields in one body.
pub const MAX_CHUNK_METADATA: usize = 16 * 1024;

/// Set when a body could not be read to its end: where the next request starts is unknown.
#[derive(Clone, Default, Debug)]
pub struct BrokenFraming(Arc<AtomicBool>);

impl BrokenFraming {
    pub fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// How a body's end is found.
enum Framing<R: Read> {
    /// `Content-Length`: this many bytes still to come.
    Length { source: R, remaining: u64 },
    Chunked(ChunkedDecoder<R>),
}

/// A request body; see the module docs.
pub struct Body<R: Read> {
    framing: Framing<R>,
    /// Reached the body's end (a read returned 0 without error).
    complete: bool,
    broken: BrokenFraming,
}

impl<R: Read> Body<R> {
    pub fn with_length(source: R, length: u64, broken: BrokenFraming) -> Self {
        Body { framing: Framing::Length { source, remaining: length }, complete: length == 0, broken }
    }

    pub fn chunked(source: R, broken: BrokenFraming) -> Self {
        Body { framing: Framing::Chunked(ChunkedDecoder::new(source)), complete: false, broken }
    }
}

impl<R: Read> Read for Body<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.complete || buf.is_empty() {
            return Ok(0);
        }
        let result = match &mut self.framing {
            Framing::Length { source, remaining } => {
                let want = buf.len().min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                match source.read(&mut buf[..want]) {
                    Ok(0) => Err(io::Error::new(ErrorKind::UnexpectedEof, "body shorter than its Content-Length")),
                    Ok(n) => {
                        *remaining -= n as u64;
                        Ok(n)
                    }
                    Err(e) => Err(e),
                }
            }
            Framing::Chunked(decoder) => decoder.read(buf),
        };
        match result {
            Ok(0) => self.complete = true,
            Ok(_) => {
                if let Framing::Length { remaining: 0, .. } = self.framing {
                    self.complete = true;
                }
            }
            Err(ref e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => self.broken.set(),
        }
        result
    }
}

impl<R: Read> Drop for Body<R> {
    fn drop(&mut self) {
        if self.complete || self.broken.is_set() {
            return;
        }
        // Blocks this thread (the one that answered) until the client has sent the rest of the body, within
        // the socket's read timeout per read.
        let mut buf = [0; 8 * 1024];
        let mut drained = 0u64;
        while !self.complete {
            if drained > MAX_DRAIN_BYTES {
                self.broken.set();
                return;
            }
            match self.read(&mut buf) {
                Ok(n) => drained += n as u64,
                Err(ref e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return, // `read` has marked the framing broken.
            }
        }
    }
}

enum ChunkState {
    /// Before a chunk-size line.
    Size,
    /// Inside a chunk's data: this many bytes left, then CRLF.
    Data(u64),
    /// After the last chunk: trailer fields up to an empty line.
    Trailers,
    Done,
}

/// A strict decoder of the chunked transfer coding.
pub struct ChunkedDecoder<R: Read> {
    source: R,
    state: ChunkState,
    /// Bytes of extensions and trailers seen so far.
    metadata: usize,
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, format!("bad chunked body: {what}"))
}

impl<R: Read> ChunkedDecoder<R> {
    pub fn new(source: R) -> Self {
        ChunkedDecoder { source, state: ChunkState::Size, metadata: 0 }
    }

    fn byte(&mut self) -> io::Result<u8> {
        let mut byte = [0];
        loop {
            return match self.source.read(&mut byte) {
                Ok(0) => Err(io::Error::new(ErrorKind::UnexpectedEof, "bad chunked body: EOF")),
                Ok(_) => Ok(byte[0]),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
        }
    }

    /// Reads a line up to CRLF (a bare LF or CR is an error), at most `max` bytes; returns it without CRLF.
    fn line(&mut self, max: usize) -> io::Result<Vec<u8>> {
        let mut line = Vec::new();
        loop {
            match self.byte()? {
                b'\r' => {
                    return if self.byte()? == b'\n' { Ok(line) } else { Err(invalid("CR without LF")) };
                }
                b'\n' => return Err(invalid("LF without CR")),
                byte => {
                    if line.len() >= max {
                        return Err(invalid("line too long"));
                    }
                    line.push(byte);
                }
            }
        }
    }

    fn count_metadata(&mut self, bytes: usize) -> io::Result<()> {
        self.metadata += bytes;
        if self.metadata > MAX_CHUNK_METADATA {
            return Err(invalid("too many extension or trailer bytes"));
        }
        Ok(())
    }

    /// `chunk-size [ chunk-ext ] CRLF`: the size.
    fn size_line(&mut self) -> io::Result<u64> {
        let line = self.line(MAX_CHUNK_LINE)?;
        let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        if digits == 0 || digits > 16 {
            return Err(invalid("chunk size is not 1 to 16 hex digits"));
        }
        let size = std::str::from_utf8(&line[..digits])
            .ok()
            .and_then(|s| u64::from_str_radix(s, 16).ok())
            .ok_or_else(|| invalid("chunk size"))?;
        // chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ): after the digits only
        // optional whitespace and then `;`, with no control characters anywhere.
        let rest = &line[digits..];
        let ext = rest.iter().position(|&b| b != b' ' && b != b'\t').map_or(&rest[rest.len()..], |i| &rest[i..]);
        if !ext.is_empty() && ext[0] != b';' {
            return Err(invalid("junk after the chunk size"));
        }
        if ext.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(invalid("control character in a chunk extension"));
        }
        self.count_metadata(rest.len())?;
        Ok(size)
    }
}

impl<R: Read> Read for ChunkedDecoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.state {
                ChunkState::Done => return Ok(0),
                ChunkState::Size => {
                    let size = self.size_line()?;
                    self.state = if size == 0 { ChunkState::Trailers } else { ChunkState::Data(size) };
                }
                ChunkState::Data(0) => {
                    if self.byte()? != b'\r' || self.byte()? != b'\n' {
                        return Err(invalid("chunk data not followed by CRLF"));
                    }
                    self.state = ChunkState::Size;
                }
                ChunkState::Data(remaining) => {
                    if buf.is_empty() {
                        return Ok(0);
                    }
                    let want = buf.len().min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    let n = self.source.read(&mut buf[..want])?;
                    if n == 0 {
                        return Err(io::Error::new(ErrorKind::UnexpectedEof, "bad chunked body: EOF in a chunk"));
                    }
                    self.state = ChunkState::Data(remaining - n as u64);
                    return Ok(n);
                }
                ChunkState::Trailers => {
                    let line = self.line(MAX_CHUNK_LINE)?;
                    if line.is_empty() {
                        self.state = ChunkState::Done;
                        return Ok(0);
                    }
                    // field-line = field-name ":" OWS field-value OWS; the name a token.
                    let colon = line.iter().position(|&b| b == b':').ok_or_else(|| invalid("trailer without ':'"))?;
                    if colon == 0 || !line[..colon].iter().all(|&b| crate::common::is_tchar(b)) {
                        return Err(invalid("trailer name is not a token"));
                    }
                    if line[colon..].iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
                        return Err(invalid("control character in a trailer"));
                    }
                    self.count_metadata(line.len() + 2)?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Read};

    /// Decodes `input`; returns the body, or the error, and what is left for the next request.
    fn decode(input: &[u8]) -> (Result<Vec<u8>, String>, Vec<u8>) {
        let mut source = Cursor::new(input.to_vec());
        let mut body = Vec::new();
        let result = ChunkedDecoder::new(&mut source).read_to_end(&mut body).map(|_| body).map_err(|e| e.to_string());
        let rest = input[source.position() as usize..].to_vec();
        (result, rest)
    }

    #[test]
    fn chunked_bodies_end_where_the_rfc_says() {
        let next = b"GET /next HTTP/1.1\r\n\r\n";
        let cases: [(&[u8], &[u8]); 4] = [
            (b"3\r\nabc\r\n0\r\n\r\n", b"abc"),
            (b"3;name=value;x\r\nabc\r\n00\r\n\r\n", b"abc"),
            (b"3 ;ext\r\nabc\r\n0\r\nX-Trailer: yes\r\nOther:\tx\r\n\r\n", b"abc"),
            (b"A\r\n0123456789\r\n1\r\nZ\r\n0\r\n\r\n", b"0123456789Z"),
        ];
        for (chunked, body) in cases {
            let input = [chunked, next].concat();
            let (decoded, rest) = decode(&input);
            assert_eq!(decoded.as_deref(), Ok(body), "{:?}", String::from_utf8_lossy(chunked));
            assert_eq!(rest, next, "{:?} left the wrong bytes", String::from_utf8_lossy(chunked));
        }
    }

    #[test]
    fn malformed_chunked_bodies_are_errors() {
        let long_extension = [b"1;".as_slice(), &vec![b'a'; MAX_CHUNK_LINE], b"\r\nx\r\n0\r\n\r\n"].concat();
        let many_extensions: Vec<u8> =
            [b"1;".repeat(1), b"a".repeat(3000), b"\r\nx\r\n".to_vec()].concat().repeat(8).into_iter().chain(*b"0\r\n\r\n").collect();
        let cases: Vec<&[u8]> = vec![
            b"zz\r\nabc\r\n0\r\n\r\n",
            b"fffffffffffffffffffff\r\n",
            b"10000000000000000\r\n",
            b"-1\r\n",
            b"+3\r\nabc\r\n0\r\n\r\n",
            b"0x3\r\nabc\r\n0\r\n\r\n",
            b"3\nabc\r\n0\r\n\r\n",
            b"3\r\nabcd\r\n0\r\n\r\n",
            b"3\r\nab",
            b"3 junk\r\nabc\r\n0\r\n\r\n",
            b"3;a\0b\r\nabc\r\n0\r\n\r\n",
            b"0\r\nno colon\r\n\r\n",
            b"0\r\nX-T: a\n\r\n",
            &long_extension,
            &many_extensions,
            b"",
        ];
        for case in cases {
            assert!(decode(case).0.is_err(), "{:?} decoded", String::from_utf8_lossy(case));
        }
    }

    #[test]
    fn a_body_left_unread_is_drained_on_drop() {
        let input = b"5\r\nhello\r\n0\r\n\r\nNEXT";
        let mut source = Cursor::new(input.to_vec());
        let broken = BrokenFraming::default();
        drop(Body::chunked(&mut source, broken.clone()));
        assert!(!broken.is_set());
        assert_eq!(&input[source.position() as usize..], b"NEXT");

        let mut source = Cursor::new(b"helloNEXT".to_vec());
        let mut body = Body::with_length(&mut source, 5, broken.clone());
        let mut first = [0; 2];
        body.read_exact(&mut first).unwrap();
        drop(body);
        assert!(!broken.is_set());
        assert_eq!(source.position(), 5);
    }

    #[test]
    fn a_body_that_cannot_end_breaks_the_framing() {
        for (input, length) in [(b"zz\r\n".as_slice(), None), (b"abc".as_slice(), Some(5))] {
            let broken = BrokenFraming::default();
            let source = Cursor::new(input.to_vec());
            drop(match length {
                None => Body::chunked(source, broken.clone()),
                Some(length) => Body::with_length(source, length, broken.clone()),
            });
            assert!(broken.is_set(), "{:?}", String::from_utf8_lossy(input));
        }
        // Longer than the drain limit: not read to the end, the connection must close.
        let broken = BrokenFraming::default();
        drop(Body::with_length(io::repeat(b'a'), MAX_DRAIN_BYTES * 4, broken.clone()));
        assert!(broken.is_set());
    }
}
