//! Lab patch: regression tests of the lab's patches that need a real connection (vendor/README.md). Each
//! test names its patch; the body decoder's own tests are in src/util/body.rs.

use crate::client::ClientConnection;
use crate::util::RefinedTcpStream;
use crate::{Response, Server};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// A connected pair: the client's end, and the server's end as a tiny_http connection.
fn connection() -> (TcpStream, ClientConnection) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    server.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let (read, write) = RefinedTcpStream::new(crate::connection::Connection::from(server)).unwrap();
    (client, ClientConnection::new(write, read))
}

/// Patch 9: after a request whose body the handler did not read, the next request is the one the client
/// sent after the body, for every way of framing a body.
#[test]
fn the_request_after_an_unread_body_is_the_next_request() {
    let bodies: [(&str, &str); 4] = [
        ("Content-Length: 3", "abc"),
        ("Transfer-Encoding: chunked", "3\r\nabc\r\n0\r\n\r\n"),
        ("Transfer-Encoding: chunked", "3;ext=1\r\nabc\r\n0\r\nTrailer: x\r\n\r\n"),
        ("Content-Length: 2000", &"GET /hidden HTTP/1.1\r\n\r\n".repeat(100)[..2000]),
    ];
    for (header, body) in bodies {
        let (mut client, mut requests) = connection();
        write!(client, "POST /first HTTP/1.1\r\n{header}\r\n\r\n{body}GET /second HTTP/1.1\r\n\r\n").unwrap();
        let first = requests.next().expect("the first request");
        assert_eq!(first.url(), "/first");
        drop(first.respond(Response::empty(405)));
        let second = requests.next().unwrap_or_else(|| panic!("{}: no second request", header));
        assert_eq!(second.url(), "/second", "{header}");
    }
}

/// Patch 9: a body that cannot be read to its end (a broken chunk, EOF) ends the connection: whatever
/// follows is never taken for a request.
#[test]
fn a_broken_body_ends_the_connection() {
    for body in ["zz\r\nabc\r\n0\r\n\r\n", "fffffffffffffffffffff\r\n", "1;\r\nab\r\n0\r\n\r\n"] {
        let (mut client, mut requests) = connection();
        write!(client, "POST /first HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{body}GET /hidden HTTP/1.1\r\n\r\n")
            .unwrap();
        drop(requests.next().expect("the first request").respond(Response::empty(405)));
        assert!(requests.next().is_none(), "{:?}: the hidden request was read", body);
    }
}

/// Patch 9: framings that cannot be trusted are refused (`None` after a 4xx/5xx), and a message with both
/// Transfer-Encoding and Content-Length is the connection's last.
#[test]
fn untrusted_framing_is_refused_or_ends_the_connection() {
    let refused = [
        ("HTTP/1.1", "Transfer-Encoding: gzip", "400"),
        ("HTTP/1.1", "Transfer-Encoding: xchunked", "400"),
        ("HTTP/1.1", "Transfer-Encoding: chunked, identity", "400"),
        ("HTTP/1.1", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked", "400"),
        ("HTTP/1.1", "Transfer-Encoding: gzip, chunked", "501"),
        ("HTTP/1.0", "Transfer-Encoding: chunked", "400"),
        ("HTTP/1.1", "Content-Length: +3", "400"),
        ("HTTP/1.1", "Content-Length: 3\r\nContent-Length: 4", "400"),
        ("HTTP/1.1", "Host: a\r\n Transfer-Encoding: chunked", "400"),
        ("HTTP/1.1", "Host: a\r\nHost: b", "400"),
        ("HTTP/1.1", "X-A\0B: c", "400"),
        ("HTTP/1.1", "Host: a\rTransfer-Encoding: chunked", "400"),
    ];
    for (version, headers, status) in refused {
        let (mut client, mut requests) = connection();
        write!(client, "POST / {version}\r\n{headers}\r\n\r\n0\r\n\r\nGET /hidden HTTP/1.1\r\n\r\n").unwrap();
        assert!(requests.next().is_none(), "{:?} was accepted", headers);
        drop(requests);
        let mut answer = String::new();
        client.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with(&format!("HTTP/1.1 {status}")) || answer.starts_with(&format!("HTTP/1.0 {status}")),
            "{:?}: {:?}", headers, answer);
    }

    let (mut client, mut requests) = connection();
    write!(client, "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /hidden HTTP/1.1\r\n\r\n")
        .unwrap();
    drop(requests.next().expect("the CL+TE request").respond(Response::empty(200)));
    assert!(requests.next().is_none(), "the request after a CL+TE message was read");
}

/// Patch 4: a client that is gone before its connection is served (its address unreadable) is dropped
/// without a panic.
#[test]
fn a_vanished_client_is_dropped_quietly() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    drop(client);
    server.shutdown(Shutdown::Both).unwrap();
    // Once both sides have closed, the socket has no peer: getpeername() fails with ENOTCONN.
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.peer_addr().is_ok() {
        assert!(Instant::now() < deadline, "the closed socket still has a peer");
        std::thread::sleep(Duration::from_millis(5));
    }
    let (read, write) = RefinedTcpStream::new(crate::connection::Connection::from(server)).unwrap();
    let mut requests = ClientConnection::new(write, read);
    assert!(requests.next().is_none());
}

/// Patch 6: `HTTP/2.0` in a request line gets a 505, and the connection goes on to the next request instead
/// of hanging its thread.
#[test]
fn an_http2_request_line_gets_a_505_and_does_not_hang() {
    let (mut client, mut requests) = connection();
    client.write_all(b"GET / HTTP/2.0\r\n\r\nGET /next HTTP/1.1\r\n\r\n").unwrap();
    let next = requests.next().expect("the request after the HTTP/2.0 one");
    assert_eq!(next.url(), "/next");
    let mut buf = [0; 12];
    client.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"HTTP/1.1 505");
}

/// Patch 2: the server is still there after accept errors; patch 3: a head over the limit gets a 431.
#[test]
fn a_head_over_the_limit_gets_a_431() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = crate::ConnectionLimits { max_head_bytes: 1024, ..Default::default() };
    let _server = Server::from_listener_with_limits(listener, None, limits).unwrap();
    let mut client = TcpStream::connect(addr).unwrap();
    client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = write!(client, "GET /{} HTTP/1.1\r\n\r\n", "a".repeat(2000));
    let mut buf = [0; 12];
    client.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"HTTP/1.1 431");
}

/// Patch 10: a request line is `token SP target SP version`, nothing looser.
#[test]
fn loose_request_lines_are_refused() {
    for line in ["GE(T / HTTP/1.1", ",abcGET / HTTP/1.1", "GET no/param HTTP/1.1", "GET / HTTP/1.1 ", "GET  / HTTP/1.1", "GET /a\x7f HTTP/1.1"] {
        let (mut client, mut requests) = connection();
        write!(client, "{}\r\n\r\n", line).unwrap();
        assert!(requests.next().is_none(), "{:?} was accepted", line);
    }
    for line in ["GET /a?b=c HTTP/1.1", "GET http://lab/a HTTP/1.1", "OPTIONS * HTTP/1.1", "CONNECT lab:443 HTTP/1.1"] {
        let (mut client, mut requests) = connection();
        write!(client, "{}\r\n\r\n", line).unwrap();
        assert!(requests.next().is_some(), "{:?} was refused", line);
    }
}
