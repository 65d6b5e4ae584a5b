use ascii::AsciiString;

use std::io::Error as IoError;
use std::io::Result as IoResult;
use std::io::{BufReader, BufWriter, ErrorKind, Read, Write};

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{HTTPVersion, Method};
use crate::util::{BrokenFraming, RefinedTcpStream};
use crate::util::{SequentialReader, SequentialReaderBuilder, SequentialWriterBuilder};
use crate::Request;

/// A ClientConnection is an object that will store a socket to a client
/// and return Request objects.
pub struct ClientConnection {
    // address of the client
    remote_addr: IoResult<Option<SocketAddr>>,

    // sequence of Readers to the stream, so that the data is not read in
    //  the wrong order
    source: SequentialReaderBuilder<BufReader<RefinedTcpStream>>,

    // sequence of Writers to the stream, to avoid writing response #2 before
    //  response #1
    sink: SequentialWriterBuilder<BufWriter<RefinedTcpStream>>,

    // Reader to read the next header from
    next_header_source: SequentialReader<BufReader<RefinedTcpStream>>,

    // set to true if we know that the previous request is the last one
    no_more_requests: bool,

    // true if the connection goes through SSL
    secure: bool,

    // Lab patch: limits on reading request heads, and the progress of the head being read.
    limits: ConnectionLimits,
    head_deadline: Option<Instant>,
    head_bytes: usize,

    // Lab patch: set if the previous request's body could not be read to its end (src/util/body.rs).
    previous_framing: Option<BrokenFraming>,
}

/// Lab patch: limits on each connection (vendor/README.md).
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// The longest a client may take to deliver a request head. Also the socket's read timeout, so an idle
    /// keep-alive connection is closed after it. `None`: no limit (upstream behaviour).
    pub header_timeout: Option<Duration>,
    /// The largest request head (request line and headers) in bytes; a larger one gets a 431 and the
    /// connection is closed.
    pub max_head_bytes: usize,
    /// The most connections served at once; one more gets a 503 and is closed.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits { header_timeout: None, max_head_bytes: usize::MAX, max_connections: usize::MAX }
    }
}

/// Lab patch: counts a connection as open until dropped.
pub(crate) struct OpenConnection(pub(crate) Arc<AtomicUsize>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Lab patch: answers a connection beyond `max_connections` with a 503 and closes it.
pub(crate) fn refuse_busy(sock: &mut crate::connection::Connection) {
    let body = "too many connections\n";
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        body.len(),
        body
    );
    // A few dozen bytes fit in any socket buffer: this write does not block the accept thread.
    let _ = sock.write_all(response.as_bytes());
}

/// Error that can happen when reading a request.
#[derive(Debug)]
enum ReadError {
    WrongRequestLine,
    WrongHeader(HTTPVersion),
    /// the client sent an unrecognized `Expect` header
    ExpectationFailed(HTTPVersion),
    ReadIoError(IoError),
    /// Lab patch: the request head is larger than `ConnectionLimits::max_head_bytes`.
    HeadTooLarge,
    /// Lab patch: a transfer coding this server does not implement.
    UnsupportedTransferCoding(HTTPVersion),
}

impl ClientConnection {
    /// Creates a new `ClientConnection` that takes ownership of the `TcpStream`.
    pub fn new(
        write_socket: RefinedTcpStream,
        mut read_socket: RefinedTcpStream,
    ) -> ClientConnection {
        let remote_addr = read_socket.peer_addr();
        let secure = read_socket.secure();

        let mut source = SequentialReaderBuilder::new(BufReader::with_capacity(1024, read_socket));
        let first_header = source.next().unwrap();

        ClientConnection {
            source,
            sink: SequentialWriterBuilder::new(BufWriter::with_capacity(1024, write_socket)),
            remote_addr,
            next_header_source: first_header,
            no_more_requests: false,
            secure,
            limits: ConnectionLimits::default(),
            head_deadline: None,
            head_bytes: 0,
            previous_framing: None,
        }
    }

    /// Lab patch: applies limits to the heads read from this connection.
    pub fn with_limits(mut self, limits: ConnectionLimits) -> Self {
        self.limits = limits;
        self
    }

    /// true if the connection is HTTPS
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// Reads the next line from self.next_header_source.
    ///
    /// Reads until `CRLF` is reached. The next read will start
    ///  at the first byte of the new line.
    fn read_next_line(&mut self) -> IoResult<AsciiString> {
        let mut buf = Vec::new();
        let mut prev_byte_was_cr = false;

        loop {
            let byte = self.next_header_source.by_ref().bytes().next();

            let byte = match byte {
                Some(b) => b?,
                None => return Err(IoError::new(ErrorKind::ConnectionAborted, "Unexpected EOF")),
            };

            if byte == b'\n' && prev_byte_was_cr {
                buf.pop(); // removing the '\r'
                return AsciiString::from_ascii(buf)
                    .map_err(|_| IoError::new(ErrorKind::InvalidInput, "Header is not in ASCII"));
            }

            // Lab patch: a CR not followed by LF is invalid (RFC 9112 §2.2). Upstream kept it inside the line, so
            // `Host: a\rTransfer-Encoding: chunked` was one header here and two to a parser that ends lines at CR.
            if prev_byte_was_cr && byte != b'\n' {
                return Err(IoError::new(ErrorKind::InvalidData, "bare CR"));
            }

            prev_byte_was_cr = byte == b'\r';

            // Lab patch: bound the head's size, and its time: a client trickling a byte at a time beats a
            // socket read timeout, not this deadline. Checked at every byte (a vDSO clock read, tens of ns):
            // checking every 8th let a client at one byte a second hold the connection 8 s past the deadline.
            self.head_bytes += 1;
            if self.head_bytes > self.limits.max_head_bytes {
                return Err(IoError::new(ErrorKind::InvalidData, "request head too large"));
            }
            if self.head_deadline.is_some_and(|d| Instant::now() > d) {
                return Err(IoError::new(ErrorKind::TimedOut, "request head too slow"));
            }

            buf.push(byte);
        }
    }

    /// Reads a request from the stream.
    /// Blocks until the header has been read.
    fn read(&mut self) -> Result<Request, ReadError> {
        // Lab patch: wait until the previous request's body has been read or drained (that happens when the
        // request is dropped, on the thread that answered it); if it could not be, where this request starts
        // is unknown, and the connection is closed without reading another byte.
        let handed_over = self.next_header_source.wait_turn();
        if !handed_over || self.previous_framing.take().is_some_and(|f| f.is_set()) {
            let e = IoError::new(ErrorKind::ConnectionAborted, "previous request body unreadable");
            return Err(ReadError::ReadIoError(e));
        }
        let (method, path, version, headers) = {
            // reading the request line
            // Lab patch: each head gets the whole `header_timeout` and `max_head_bytes`.
            self.head_bytes = 0;
            self.head_deadline = self.limits.header_timeout.map(|t| Instant::now() + t);
            let (method, path, version) = {
                let line = self.read_next_line().map_err(read_error)?;

                // Lab patch: not trimmed: a request line is exactly `method SP target SP version` (RFC 9112 §3).
                parse_request_line(line.as_str())?
            };

            // getting all headers
            let headers = {
                let mut headers = Vec::new();
                loop {
                    let line = self.read_next_line().map_err(read_error)?;

                    if line.is_empty() {
                        break;
                    };
                    // Lab patch: a line starting with whitespace is an obsolete line folding (RFC 9112 §5.2),
                    // or a header hidden from servers that do not trim it: `\x20Transfer-Encoding: chunked`
                    // was trimmed and taken as a header. Reject it (400, close), as hyper does.
                    if line.as_bytes().first().is_some_and(|&b| b == b' ' || b == b'\t') {
                        return Err(ReadError::WrongHeader(version));
                    }
                    headers.push(match FromStr::from_str(line.as_str().trim()) {
                        // TODO: remove this conversion
                        Ok(h) => h,
                        _ => return Err(ReadError::WrongHeader(version)),
                    });
                }

                // Lab patch: more than one Host is a 400 (RFC 9112 §3.2): which one names the resource?
                if headers.iter().filter(|h: &&crate::Header| h.field.equiv("Host")).count() > 1 {
                    return Err(ReadError::WrongHeader(version));
                }

                headers
            };

            (method, path, version, headers)
        };

        // building the writer for the request
        let writer = self.sink.next().unwrap();

        // follow-up for next potential request
        let mut data_source = self.source.next().unwrap();
        std::mem::swap(&mut self.next_header_source, &mut data_source);

        // building the next reader
        let framing = BrokenFraming::default();
        self.previous_framing = Some(framing.clone());
        let request = crate::request::new_request_with_framing(
            self.secure,
            method,
            path,
            version.clone(),
            headers,
            // Lab patch: a client that disconnected before peer_addr() was read used to panic this thread.
            match self.remote_addr.as_ref() {
                Ok(addr) => *addr,
                Err(e) => return Err(ReadError::ReadIoError(IoError::new(e.kind(), e.to_string()))),
            },
            data_source,
            writer,
            framing,
        )
        .map_err(|e| {
            use crate::request;
            match e {
                request::RequestCreationError::CreationIoError(e) => ReadError::ReadIoError(e),
                request::RequestCreationError::ExpectationFailed => {
                    ReadError::ExpectationFailed(version)
                }
                // Lab patch: the body's length is unknown, so is where the next request starts: 400, close.
                request::RequestCreationError::BadFraming => ReadError::WrongHeader(version),
                request::RequestCreationError::UnsupportedTransferCoding => {
                    ReadError::UnsupportedTransferCoding(version)
                }
            }
        })?;

        // return the request
        Ok(request)
    }
}

impl Iterator for ClientConnection {
    type Item = Request;

    /// Blocks until the next Request is available.
    /// Returns None when no new Requests will come from the client.
    fn next(&mut self) -> Option<Request> {
        use crate::{Response, StatusCode};

        // the client sent a "connection: close" header in this previous request
        //  or is using HTTP 1.0, meaning that no new request will come
        if self.no_more_requests {
            return None;
        }

        loop {
            let rq = match self.read() {
                Err(ReadError::WrongRequestLine) => {
                    let writer = self.sink.next().unwrap();
                    let response = Response::new_empty(StatusCode(400));
                    response
                        .raw_print(writer, HTTPVersion(1, 1), &[], false, None)
                        .ok();
                    return None; // we don't know where the next request would start,
                                 // se we have to close
                }

                Err(ReadError::WrongHeader(ver)) => {
                    let writer = self.sink.next().unwrap();
                    let response = Response::new_empty(StatusCode(400));
                    response.raw_print(writer, ver, &[], false, None).ok();
                    return None; // we don't know where the next request would start,
                                 // se we have to close
                }

                Err(ReadError::ReadIoError(ref err)) if err.kind() == ErrorKind::TimedOut => {
                    // request timeout
                    let writer = self.sink.next().unwrap();
                    let response = Response::new_empty(StatusCode(408));
                    response
                        .raw_print(writer, HTTPVersion(1, 1), &[], false, None)
                        .ok();
                    return None; // closing the connection
                }

                Err(ReadError::ExpectationFailed(ver)) => {
                    let writer = self.sink.next().unwrap();
                    let response = Response::new_empty(StatusCode(417));
                    response.raw_print(writer, ver, &[], true, None).ok();
                    return None; // TODO: should be recoverable, but needs handling in case of body
                }

                Err(ReadError::HeadTooLarge) => {
                    let writer = self.sink.next().unwrap();
                    let response = Response::new_empty(StatusCode(431));
                    response
                        .raw_print(writer, HTTPVersion(1, 1), &[], false, None)
                        .ok();
                    return None; // the rest of the head is unread: close
                }

                Err(ReadError::UnsupportedTransferCoding(ver)) => {
                    let writer = self.sink.next().unwrap();
                    let response = Response::new_empty(StatusCode(501));
                    response.raw_print(writer, ver, &[], false, None).ok();
                    return None; // the body's end is unknown: close
                }

                Err(ReadError::ReadIoError(_)) => return None,

                Ok(rq) => rq,
            };

            // checking HTTP version
            if *rq.http_version() > (1, 1) {
                // Lab patch: upstream took a second writer from `self.sink` here while `rq` still held the
                // first, and the second waits for the first to be dropped: `GET / HTTP/2.0` hung this
                // connection's thread forever. Answer through the request's own writer instead, and flush,
                // since nothing else will until the next response.
                let mut writer = rq.into_writer();
                let response = Response::from_string(
                    "This server only supports HTTP versions 1.0 and 1.1".to_owned(),
                )
                .with_status_code(StatusCode(505));
                response
                    .raw_print(&mut writer, HTTPVersion(1, 1), &[], false, None)
                    .ok();
                writer.flush().ok();
                continue;
            }

            // updating the status of the connection
            let connection_header = rq
                .headers()
                .iter()
                .find(|h| h.field.equiv("Connection"))
                .map(|h| h.value.as_str());

            let lowercase = connection_header.map(|h| h.to_ascii_lowercase());

            match lowercase {
                Some(ref val) if val.contains("close") => self.no_more_requests = true,
                Some(ref val) if val.contains("upgrade") => self.no_more_requests = true,
                Some(ref val)
                    if !val.contains("keep-alive") && *rq.http_version() == HTTPVersion(1, 0) =>
                {
                    self.no_more_requests = true
                }
                None if *rq.http_version() == HTTPVersion(1, 0) => self.no_more_requests = true,
                _ => (),
            };

            // Lab patch: a message with both `Transfer-Encoding` and `Content-Length` is read as chunked, and
            // the connection closed after it: the sender and any intermediary may disagree on where the next
            // request starts (RFC 9112 §6.1).
            let has = |name: &'static str| rq.headers().iter().any(|h| h.field.equiv(name));
            if has("Transfer-Encoding") && has("Content-Length") {
                self.no_more_requests = true;
            }

            // returning the request
            return Some(rq);
        }
    }
}

/// Parses a "HTTP/1.1" string.
fn parse_http_version(version: &str) -> Result<HTTPVersion, ReadError> {
    let (major, minor) = match version {
        "HTTP/0.9" => (0, 9),
        "HTTP/1.0" => (1, 0),
        "HTTP/1.1" => (1, 1),
        "HTTP/2.0" => (2, 0),
        "HTTP/3.0" => (3, 0),
        _ => return Err(ReadError::WrongRequestLine),
    };

    Ok(HTTPVersion(major, minor))
}

/// Parses the request line of the request.
/// eg. GET / HTTP/1.1
///
/// Lab patch: strict, as RFC 9112 §3 asks: exactly three parts separated by single spaces, the method a token,
/// the target in origin form (`/...`), absolute form (`scheme://...`), `*` or (for CONNECT) authority form,
/// with no control characters. Upstream took any word as a method (`GE(T`, `,abcGET`) and any target, so a
/// body misread as a request was answered (405, 404) instead of refused.
fn parse_request_line(line: &str) -> Result<(Method, String, HTTPVersion), ReadError> {
    let parts: Vec<&str> = line.split(' ').collect();
    let (method, path, version) = match parts.as_slice() {
        [method, path, version] => (*method, *path, *version),
        _ => return Err(ReadError::WrongRequestLine),
    };
    if method.is_empty() || !method.bytes().all(crate::common::is_tchar) {
        return Err(ReadError::WrongRequestLine);
    }
    let target_form = path.starts_with('/')
        || path == "*"
        || path.find("://").is_some_and(|i| i > 0 && path[..i].bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)))
        || (method == "CONNECT" && !path.is_empty());
    if !target_form || !path.bytes().all(|b| b > 0x20 && b < 0x7f) {
        return Err(ReadError::WrongRequestLine);
    }
    let method = method.parse().map_err(|_| ReadError::WrongRequestLine)?;
    let version = parse_http_version(version)?;
    Ok((method, path.to_owned(), version))
}

#[cfg(test)]
mod test {
    #[test]
    fn test_parse_request_line() {
        let (method, path, ver) = super::parse_request_line("GET /hello HTTP/1.1").unwrap();

        assert!(method == crate::Method::Get);
        assert!(path == "/hello");
        assert!(ver == crate::common::HTTPVersion(1, 1));

        assert!(super::parse_request_line("GET /hello").is_err());
        assert!(super::parse_request_line("qsd qsd qsd").is_err());
    }
}

/// Lab patch: maps a head-reading error, telling an oversized head apart from I/O errors.
fn read_error(e: IoError) -> ReadError {
    if e.kind() == ErrorKind::InvalidData && e.to_string() == "request head too large" {
        ReadError::HeadTooLarge
    } else if e.kind() == ErrorKind::InvalidData && e.to_string() == "bare CR" {
        ReadError::WrongRequestLine
    } else {
        ReadError::ReadIoError(e)
    }
}
