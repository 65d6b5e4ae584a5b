//! What every server test needs: start a server binary on a free port with its own database, and talk raw
//! HTTP/1.1 to it over a std `TcpStream` — one request per connection, or several on a keep-alive connection.
//!
//! The client is deliberately dumb and strict: it writes the request bytes itself and parses the response with
//! httparse, so that a test sees exactly what the server sent (a missing `Content-Length`, a chunked body, an
//! extra header) rather than what a forgiving HTTP client library would make of it.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use servers::process::{workspace_binary, ServerProcess};
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// How long a test waits for a server's `listening on` line (a loaded 2-core machine can be slow to exec).
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a request may go unanswered before the test fails instead of hanging.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// `/say/hello`'s default wait in these tests (the real default, 3 s, would make the suite slow).
pub const HELLO_MS: u64 = 50;

/// Expands to one module per server binary (thread-server, pool-server, async-std-server, smol-server,
/// tokio-server, lean-server, uring-server, coroutine-server), each
/// holding one `#[test]` per name that calls `super::NAME(server)`: `for_each_server!(say_hello, fact)` gives
/// `thread_server::say_hello`, `smol_server::fact`, … so that nextest can run (or filter out) one server's tests.
#[macro_export]
macro_rules! for_each_server {
    ($($test:ident),+ $(,)?) => {
        $crate::tests_for!(thread_server = "thread-server", [$($test),+]);
        $crate::tests_for!(pool_server = "pool-server", [$($test),+]);
        $crate::tests_for!(async_std_server = "async-std-server", [$($test),+]);
        $crate::tests_for!(smol_server = "smol-server", [$($test),+]);
        $crate::tests_for!(tokio_server = "tokio-server", [$($test),+]);
        $crate::tests_for!(lean_server = "lean-server", [$($test),+]);
        $crate::tests_for!(uring_server = "uring-server", [$($test),+]);
        $crate::tests_for!(coroutine_server = "coroutine-server", [$($test),+]);
    };
}

/// One module of tests for one server binary; see [`for_each_server!`].
#[macro_export]
macro_rules! tests_for {
    ($module:ident = $server:literal, [$($test:ident),+]) => {
        mod $module {
            $(
                #[test]
                fn $test() {
                    super::$test($server)
                }
            )+
        }
    };
}

/// A directory of its own for one test's files (the SQLite database), removed when dropped.
pub struct TestDir {
    pub path: PathBuf,
    _dir: harness::TempDir,
}

impl TestDir {
    /// `$TMPDIR/servers-test-LABEL-…`: unique per call, so parallel tests never share.
    pub fn new(label: &str) -> TestDir {
        let dir = harness::temp_dir(&format!("servers-test-{label}-")).expect("create test dir");
        TestDir { path: dir.path().to_path_buf(), _dir: dir }
    }
}

/// A running server binary with its own database, killed when dropped.
pub struct Server {
    /// The binary's name: also what its `Server` header and `/health` must say.
    pub name: &'static str,
    pub process: ServerProcess,
    /// The database file given with `--db`.
    pub db: PathBuf,
    /// Declared last: dropped after the process is killed, so that the database is not removed under it.
    _dir: TestDir,
}

impl Server {
    /// Starts `name` with `--port 0 --quiet --hello-ms 50 --db <own file>` and then `extra` (later flags win).
    pub fn start(name: &'static str, extra: &[&str]) -> Server {
        Server::try_start(name, extra).unwrap_or_else(|e| panic!("start {name} {extra:?}: {e}"))
    }

    pub fn try_start(name: &'static str, extra: &[&str]) -> io::Result<Server> {
        Server::launch(name, true, extra)
    }

    /// Like [`Server::start`] but without `--quiet`: the access log goes to stderr.
    pub fn start_logging(name: &'static str, extra: &[&str]) -> Server {
        Server::launch(name, false, extra).unwrap_or_else(|e| panic!("start {name} {extra:?}: {e}"))
    }

    fn launch(name: &'static str, quiet: bool, extra: &[&str]) -> io::Result<Server> {
        let dir = TestDir::new(name);
        let db = dir.path.join("visits.sqlite");
        let mut command = Command::new(workspace_binary(name));
        command
            .args(["--port", "0", "--hello-ms", &HELLO_MS.to_string()])
            .args(quiet.then_some("--quiet"))
            .arg("--db")
            .arg(&db)
            .args(extra);
        let process = ServerProcess::start(command, START_TIMEOUT)?;
        Ok(Server { name, process, db, _dir: dir })
    }

    pub fn addr(&self) -> SocketAddr {
        self.process.addr
    }

    /// One GET on a fresh connection; fails the test on an I/O error or a response lacking the common headers.
    pub fn get(&self, target: &str) -> Response {
        self.request("GET", target)
    }

    /// One request on a fresh connection; checks the headers every response must carry.
    pub fn request(&self, method: &str, target: &str) -> Response {
        let response = request(self.addr(), method, target).unwrap_or_else(|e| {
            panic!("{} {method} {target}: {e}; server stderr:\n{}", self.name, self.process.stderr_tail(20))
        });
        response.assert_common_headers(self.name, &format!("{method} {target}"));
        response
    }

    /// One request with `fields` (name, value) and `body` on a fresh connection (a `Content-Length` is added
    /// unless a `Transfer-Encoding` is given); checks the headers every response must carry.
    pub fn send(&self, method: &str, target: &str, fields: &[(&str, &str)], body: &[u8]) -> Response {
        let what = format!("{method} {target} {fields:?}");
        let response = request_with(self.addr(), method, target, fields, body)
            .unwrap_or_else(|e| panic!("{} {what}: {e}; server stderr:\n{}", self.name, self.process.stderr_tail(20)));
        response.assert_common_headers(self.name, &what);
        response
    }

    /// `GET target` must answer `status` with exactly `body`.
    pub fn expect(&self, target: &str, status: u16, body: &str) -> Response {
        let response = self.get(target);
        response.assert(status, body, &format!("{} GET {target}", self.name));
        response
    }

    /// `/health`, parsed.
    pub fn health(&self) -> serde_json::Value {
        let response = self.get("/health");
        assert_eq!(response.status, 200, "{}: /health: {response:?}", self.name);
        serde_json::from_slice(&response.body)
            .unwrap_or_else(|e| panic!("{}: /health is not JSON ({e}): {response:?}", self.name))
    }
}

/// An HTTP response as it came off the wire.
pub struct Response {
    pub status: u16,
    /// In the order sent, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body after any chunked decoding.
    pub body: Vec<u8>,
}

impl Response {
    /// The value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// How many headers are called `name`.
    pub fn header_count(&self, name: &str) -> usize {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).count()
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("a UTF-8 body")
    }

    pub fn assert(&self, status: u16, body: &str, what: &str) {
        assert_eq!(
            (self.status, self.text()),
            (status, body),
            "{what}: wrong status or body; headers: {:?}",
            self.headers
        );
    }

    /// The contract: every response has one `Content-Length` (equal to the body's length, so no chunked
    /// encoding), a `Date`, and `Server: <binary name>`.
    pub fn assert_common_headers(&self, server: &str, what: &str) {
        let context = || format!("{server} {what}: headers {:?}", self.headers);
        assert_eq!(self.header_count("Content-Length"), 1, "{}: want exactly one Content-Length", context());
        assert_eq!(
            self.header("Content-Length"),
            Some(self.body.len().to_string().as_str()),
            "{}: Content-Length is not the body's length",
            context()
        );
        assert_eq!(
            self.header("Transfer-Encoding"),
            None,
            "{}: a body with a Content-Length must not be chunked",
            context()
        );
        let date = self.header("Date").unwrap_or_default();
        assert!(date.len() >= 29 && date.ends_with(" GMT"), "{}: want an HTTP date in Date", context());
        assert_eq!(self.header_count("Server"), 1, "{}", context());
        assert_eq!(self.header("Server"), Some(server), "{}", context());
    }
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body = String::from_utf8_lossy(&self.body);
        let shown: String = body.chars().take(200).collect();
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &shown)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Opens a connection with TCP_NODELAY and a read timeout.
fn connect(addr: SocketAddr, read_timeout: Duration) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(read_timeout))?;
    stream.set_write_timeout(Some(read_timeout))?;
    Ok(stream)
}

/// The bytes of a request without a body. `close` asks the server to close the connection after answering.
fn request_bytes(addr: SocketAddr, method: &str, target: &str, close: bool) -> Vec<u8> {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\n");
    if method != "GET" && method != "HEAD" {
        head.push_str("Content-Length: 0\r\n");
    }
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// One request on a new connection with `Connection: close`; reads the whole response.
pub fn request(addr: SocketAddr, method: &str, target: &str) -> io::Result<Response> {
    request_within(addr, method, target, READ_TIMEOUT)
}

/// [`request`] with each read (and write) blocking at most `read_timeout` instead of [`READ_TIMEOUT`].
fn request_within(addr: SocketAddr, method: &str, target: &str, read_timeout: Duration) -> io::Result<Response> {
    let mut stream = connect(addr, read_timeout)?;
    stream.write_all(&request_bytes(addr, method, target, true))?;
    let mut reader = BufReader::new(stream);
    read_response(&mut reader, true)
}

/// One request with header `fields` and `body` on a new connection with `Connection: close`; reads the whole
/// response. `Content-Length` is added unless `fields` has a `Transfer-Encoding` (then `body` must be framed).
pub fn request_with(
    addr: SocketAddr,
    method: &str,
    target: &str,
    fields: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in fields {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !fields.iter().any(|(name, _)| name.eq_ignore_ascii_case("transfer-encoding")) {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut stream = connect(addr, READ_TIMEOUT)?;
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut reader = BufReader::new(stream);
    read_response(&mut reader, true)
}

/// `GET target` on a new connection.
pub fn get(addr: SocketAddr, target: &str) -> io::Result<Response> {
    request(addr, "GET", target)
}

/// `GET target` on a new connection, each read blocking at most `read_timeout`: for a probe that is only timed,
/// where waiting out [`READ_TIMEOUT`] would tell nothing more.
pub fn get_within(addr: SocketAddr, target: &str, read_timeout: Duration) -> io::Result<Response> {
    request_within(addr, "GET", target, read_timeout)
}

/// A keep-alive connection: several requests, one after the other, on one socket.
pub struct KeepAlive {
    addr: SocketAddr,
    reader: BufReader<TcpStream>,
}

impl KeepAlive {
    /// Connects; each response must then arrive within `read_timeout`.
    pub fn connect(addr: SocketAddr, read_timeout: Duration) -> io::Result<KeepAlive> {
        Ok(KeepAlive { addr, reader: BufReader::new(connect(addr, read_timeout)?) })
    }

    /// Sends `GET target` without waiting for the answer.
    pub fn send(&mut self, target: &str) -> io::Result<()> {
        let bytes = request_bytes(self.addr, "GET", target, false);
        self.reader.get_mut().write_all(&bytes)
    }

    /// Reads one response; it must have a `Content-Length` (or be chunked) since the connection stays open.
    pub fn receive(&mut self) -> io::Result<Response> {
        read_response(&mut self.reader, false)
    }

    /// Sends `GET target` and reads its response.
    pub fn get(&mut self, target: &str) -> io::Result<Response> {
        self.send(target)?;
        self.receive()
    }

    /// The client side's local address (to find the server's end of this connection in /proc/net/tcp).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.reader.get_ref().local_addr()
    }
}

/// The longest response head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// Reads one response. `until_close`: with neither `Content-Length` nor chunking, the body runs to EOF.
fn read_response(reader: &mut impl BufRead, until_close: bool) -> io::Result<Response> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let n = reader.read_until(b'\n', &mut head)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "connection closed after {} bytes of response head: {:?}",
                    head.len(),
                    String::from_utf8_lossy(&head)
                ),
            ));
        }
        if head.len() > MAX_HEAD {
            return Err(io::Error::other("response head too long"));
        }
    }
    let mut parsed_headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut parsed_headers);
    match parsed.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad response head ({other:?}): {:?}", String::from_utf8_lossy(&head)),
            ))
        }
    }
    let status = parsed.code.expect("a complete response has a status");
    let headers: Vec<(String, String)> =
        parsed.headers.iter().map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).into_owned())).collect();
    let find = |name: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());

    let body = if let Some(length) = find("Content-Length") {
        let length: usize =
            length.trim().parse().map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad Content-Length"))?;
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        body
    } else if find("Transfer-Encoding").is_some_and(|te| te.eq_ignore_ascii_case("chunked")) {
        read_chunked(reader)?
    } else if until_close {
        let mut body = Vec::new();
        reader.read_to_end(&mut body)?;
        body
    } else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("keep-alive response without a length: {headers:?}"),
        ));
    };
    Ok(Response { status, headers, body })
}

/// Decodes a chunked body (no trailers expected).
fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let size = line.trim().split(';').next().unwrap_or_default();
        let size = usize::from_str_radix(size, 16).map_err(|_| bad("bad chunk size"))?;
        if size == 0 {
            let mut end = String::new();
            reader.read_line(&mut end)?;
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = [0; 2];
        reader.read_exact(&mut crlf)?;
        if &crlf != b"\r\n" {
            return Err(bad("chunk not followed by CRLF"));
        }
    }
}

/// Runs `task(i)` for `i in 0..n` on `n` threads released at the same instant; returns the results in order
/// and the time from the release to the last result.
pub fn concurrently<T: Send>(n: usize, task: impl Fn(usize) -> T + Sync) -> (Duration, Vec<T>) {
    let barrier = Barrier::new(n + 1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (barrier, task) = (&barrier, &task);
                scope.spawn(move || {
                    barrier.wait();
                    task(i)
                })
            })
            .collect();
        // The clock starts before this thread lets the clients go: started after the barrier, it could miss
        // the first requests (a client runs on while this thread waits for a CPU), and a lower bound, such as
        // four 300 ms blocks in a row on one thread, would come out a few milliseconds short.
        let started = Instant::now();
        barrier.wait();
        let results: Vec<T> = handles.into_iter().map(|h| h.join().expect("client thread panicked")).collect();
        (started.elapsed(), results)
    })
}

/// `n` concurrent `GET target`, each on its own connection; every one must answer 200 with the common headers.
pub fn concurrent_gets(server: &Server, n: usize, target: &str) -> (Duration, Vec<Response>) {
    let addr = server.addr();
    let (elapsed, results) = concurrently(n, |_| get(addr, target));
    let responses = results
        .into_iter()
        .enumerate()
        .map(|(i, result)| {
            let response = result.unwrap_or_else(|e| {
                panic!(
                    "{}: concurrent GET {target} #{i}: {e}; stderr:\n{}",
                    server.name,
                    server.process.stderr_tail(20)
                )
            });
            assert_eq!(response.status, 200, "{}: GET {target} #{i}: {response:?}", server.name);
            response.assert_common_headers(server.name, target);
            response
        })
        .collect();
    (elapsed, responses)
}

/// The parent pid and state letter of a process from /proc/PID/stat; `None` once it is gone.
pub fn proc_stat(pid: u32) -> Option<(u32, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `PID (COMMAND) STATE PPID …`; COMMAND may contain spaces and parentheses, so split at the last ')'.
    let after = &stat[stat.rfind(')')? + 2..];
    let mut fields = after.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((ppid, state))
}

/// Whether `pid` is a live process: some thread of it has not exited. The main thread alone is not enough:
/// after a SIGKILL it can show as a zombie while the other threads are still exiting and still hold the
/// process's file descriptors (its listening socket among them).
pub fn is_alive(pid: u32) -> bool {
    let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    threads.filter_map(|t| t.ok()?.file_name().to_str()?.parse::<u32>().ok()).any(|tid| {
        std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat"))
            .ok()
            .and_then(|stat| stat.rfind(')').and_then(|end| stat[end + 2..].chars().next()))
            .is_some_and(|state| state != 'Z' && state != 'X')
    })
}

/// Every live process whose parent is `parent`.
pub fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| matches!(proc_stat(pid), Some((ppid, state)) if ppid == parent && state != 'Z'))
        .collect()
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Bytes the server has not yet read from its end of the connection whose client end is `client`, from
/// /proc/net/tcp (`rx_queue` of the socket `server → client`). `None` if no such socket is listed.
pub fn server_unread_bytes(server: SocketAddr, client: SocketAddr) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let row = harness::net::tcp_rows(&table).find(|row| row.local == server && row.remote == client);
    row.map(|row| row.rx_queue)
}

/// N! in decimal, computed independently of the server: schoolbook multiplication on base-10^9 limbs.
pub fn decimal_factorial(n: u32) -> String {
    const BASE: u64 = 1_000_000_000;
    let mut limbs: Vec<u64> = vec![1]; // least significant first
    for k in 2..=u64::from(n) {
        let mut carry = 0;
        for limb in &mut limbs {
            let product = *limb * k + carry;
            *limb = product % BASE;
            carry = product / BASE;
        }
        while carry > 0 {
            limbs.push(carry % BASE);
            carry /= BASE;
        }
    }
    let mut digits = limbs.last().expect("at least one limb").to_string();
    for limb in limbs.iter().rev().skip(1) {
        digits.push_str(&format!("{limb:09}"));
    }
    digits
}

/// The value of a decimal string modulo `m`.
pub fn decimal_mod(digits: &str, m: u64) -> u64 {
    digits.bytes().fold(0, |acc, d| (acc * 10 + u64::from(d - b'0')) % m)
}

/// N! modulo `m`.
pub fn factorial_mod(n: u64, m: u64) -> u64 {
    (2..=n).fold(1 % m, |acc, k| acc * (k % m) % m)
}

/// The server binaries [`for_each_server!`] expands to, read from that macro's own text, so that a test that
/// needs every server in one place (the differential test) follows the one list.
pub fn server_names() -> Vec<&'static str> {
    let source = include_str!("mod.rs");
    let start = source.find("macro_rules! for_each_server").expect("for_each_server! is defined here");
    let body = &source[start..];
    let body = &body[..body.find("\n}\n").expect("the macro ends")];
    body.lines().filter(|line| line.contains("tests_for!(")).filter_map(|line| line.split('"').nth(1)).collect()
}

/// The server's resident memory, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let line = status.lines().find_map(|line| line.strip_prefix("VmRSS:")).expect("VmRSS");
    line.trim().trim_end_matches("kB").trim().parse().expect("a number")
}

/// Bytes that the server's sockets on `server`'s port have received and it has not read yet, over all of them
/// (one read of /proc/net/tcp: checking thousands of connections one by one would take minutes).
pub fn unread_on(server: std::net::SocketAddr) -> u64 {
    let port = format!(":{:04X}", server.port());
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (_, rx) = fields.get(4)?.split_once(':')?;
            fields.get(1)?.ends_with(&port).then(|| u64::from_str_radix(rx, 16).ok()).flatten()
        })
        .sum()
}
