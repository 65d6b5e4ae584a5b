//! The lean engine reads a response as it arrives, in as many reads as the network hands it: it keeps only the
//! unconsumed tail of one read (a partial head or chunk-size line) until the next, and frames the whole. A
//! fixture server sends each response in pieces cut at the awkward places — inside the status line, inside a
//! header, inside a chunk-size line, between a chunk's data and its CRLF — with the socket flushed (TCP_NODELAY)
//! and a pause between pieces, so that they arrive as separate segments; every request must still be counted a
//! success, on kept-alive connections (a byte left over or missing would fail the next response's framing).

mod common;

use std::io::Write;
use std::thread;
use std::time::Duration;

use common::run_json;

/// Pause between two pieces of a response: long enough for each to be read on its own, usually.
const PIECE_GAP: Duration = Duration::from_millis(5);

/// Serves keep-alive connections on a free port, answering every request with `pieces`, sent one at a time.
fn split_server(pieces: &'static [&'static str]) -> String {
    let port = common::responder(move |mut reader, mut writer| {
        writer.set_nodelay(true).expect("nodelay");
        // Blocks until the client's next request head is in (or it closes the connection).
        while common::read_head(&mut reader) {
            for piece in pieces {
                if writer.write_all(piece.as_bytes()).and_then(|()| writer.flush()).is_err() {
                    return;
                }
                thread::sleep(PIECE_GAP);
            }
        }
    });
    format!("http://127.0.0.1:{port}/split")
}

/// Both of the lab's engines: the lean engine's tasks, and its bytes on an explicit event loop, which is told of
/// new bytes once per arrival (edge-triggered) and must read until the socket is empty.
fn assert_all_succeed(pieces: &'static [&'static str]) {
    let url = split_server(pieces);
    for engine in ["lean", "loop"] {
        let args = ["--url", &url, "-n", "12", "-c", "3", "--engine", engine, "--keep-alive", "on"];
        let (run, report) = run_json("async-client", &args);
        assert_eq!(run.code(), Some(0), "{engine}: stderr:\n{}", run.stderr);
        assert_eq!((report.succeeded, report.failed), (12, 0), "{engine}: {pieces:?}: {report:#?}");
    }
}

#[test]
fn content_length_response_in_pieces() {
    assert_all_succeed(&["HTTP/1.", "1 200 OK\r\nContent-Le", "ngth: 11\r\n", "\r\nhello", " Lucy!"]);
}

#[test]
fn chunked_response_in_pieces() {
    assert_all_succeed(&[
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        "5\r",
        "\nhello",
        "\r\n1",
        "0;ext=1\r\n0123456789abcdef",
        "\r\n0\r\nX-Trailer: 1",
        "\r\n\r\n",
    ]);
}

/// A head split at every byte boundary would take seconds; one split after the last header's CRLF, with the
/// empty line alone, checks that the end of the head is found across reads.
#[test]
fn head_ending_alone() {
    assert_all_succeed(&["HTTP/1.1 204 No Content\r\nServer: split\r\n", "\r\n"]);
}
