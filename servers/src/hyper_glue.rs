//! The workload on hyper 1 (HTTP/1.1), for the three async servers.
//!
//! The async servers speak HTTP through the same maintained implementation — hyper 1, over `futures-io`
//! streams adapted by [`SocketIo`] below (async-std, smol) or tokio streams adapted by hyper-util — so that
//! comparing async-std-server, smol-server and tokio-server compares the runtimes alone. Both adapters read into
//! hyper's buffer without touching more of it than a read can fill, as the runtimes' own sockets do.
//! (async-h1, async-std's own HTTP crate, is dormant and rests on the unmaintained http-types.)
//!
//! What differs between runtimes is captured by [`Runtime`]: how to wait without blocking, where to run a
//! call that must block, and which timer hyper uses. Everything else — one task per connection, hyper parsing
//! requests and writing responses — is shared.

use crate::access_log::AccessLog;
use crate::cli::Limits;
use crate::launch::{Drain, Served};
use crate::workload::{BodyError, Plan, Reply, Workload, MAX_FORM_BYTES};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{
    HeaderMap, HeaderValue, ALLOW, CACHE_CONTROL, CONNECTION, CONTENT_TYPE, HOST, SERVER, TRANSFER_ENCODING,
};
use hyper::rt::{Read, Write};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use smol::future;
use smol_hyper::rt::SmolTimer;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The two things an async runtime must provide to run the workload.
pub trait Runtime: 'static {
    /// Waits for `duration` without blocking the thread: the task yields to the executor until a timer fires.
    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send;

    /// Runs `blocking` on a thread pool meant for blocking calls, so that the executor threads stay free.
    fn unblock<T: Send + 'static>(blocking: impl FnOnce() -> T + Send + 'static) -> impl Future<Output = T> + Send;

    /// The timer hyper uses for its header read timeout: async-io's (smol's reactor) unless a runtime has its own.
    fn timer() -> impl hyper::rt::Timer + Send + Sync + 'static {
        SmolTimer::new()
    }
}

/// What every connection task of one server process shares.
#[derive(Clone)]
pub struct Connections {
    workload: Arc<Workload>,
    log: AccessLog,
    limits: Limits,
    /// Connections being served, for `limits.max_connections`.
    open: Arc<AtomicUsize>,
    /// Clean shutdown: connections finish their request and close.
    drain: Drain,
}

impl Connections {
    pub fn new(served: &Served) -> Connections {
        Connections {
            workload: Arc::clone(&served.workload),
            log: served.log,
            limits: served.limits,
            open: Arc::new(AtomicUsize::new(0)),
            drain: served.drain.clone(),
        }
    }

    /// The task for one accepted connection: serves it until the client closes it, or answers 503 and closes
    /// it when `--max-connections` are already open. `stream` is the socket adapted to hyper's I/O traits.
    pub fn task<R: Runtime>(
        &self,
        stream: impl Read + Write + Unpin + Send + 'static,
        peer: SocketAddr,
    ) -> impl Future<Output = ()> + Send + 'static {
        let admitted = self.open.fetch_add(1, Ordering::Relaxed) < self.limits.max_connections;
        let open = OpenConnection(Arc::clone(&self.open));
        let connections = self.clone();
        async move {
            let _open = open;
            if admitted {
                connections.serve::<R>(stream, peer).await;
            } else {
                refuse_busy(stream).await;
            }
        }
    }

    async fn serve<R: Runtime>(self, stream: impl Read + Write + Unpin + Send + 'static, peer: SocketAddr) {
        let Connections { workload, log, limits, drain, .. } = self;
        let _draining = drain.hold();
        let service = service_fn(move |request| {
            let workload = Arc::clone(&workload);
            async move { Ok::<_, Infallible>(respond::<R>(request, &workload, peer, log).await) }
        });
        let connection = http1::Builder::new()
            // hyper's own timers (the header read timeout): async-io's under smol and async-std, tokio's under tokio.
            .timer(R::timer())
            // Counted from when hyper starts waiting for a head, so it also closes idle keep-alive connections.
            .header_read_timeout(limits.header_timeout)
            // hyper's read buffer holds the head; it cannot be smaller than 8 KiB.
            .max_buf_size(limits.max_head_bytes.max(8192))
            // The head limit itself, checked against each whole head. The buffer limit alone is checked only
            // when a read leaves a head incomplete, which let heads of up to twice the limit through.
            .max_header_size(limits.max_head_bytes)
            .serve_connection(stream, service);
        let mut connection = pin!(connection);
        // Serve until the client closes the connection or a clean shutdown starts; the task yields on both.
        let closed = future::or(async { connection.as_mut().await.map(|()| true) }, async {
            drain.started().await;
            Ok(false)
        })
        .await;
        if let Ok(false) = closed {
            // Finish the request in progress, write its response, then close; an idle connection closes now.
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
        // An error is the client's doing (reset, malformed request, timeout): hyper has already answered what
        // could be answered, and the connection is over either way.
    }
}

/// Counts a connection as open until dropped.
struct OpenConnection(Arc<AtomicUsize>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Answers a connection beyond `--max-connections` with a 503, then closes it.
async fn refuse_busy(mut stream: impl Write + Unpin) {
    const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 21\r\n\
                          Connection: close\r\n\r\ntoo many connections\n";
    let mut unsent = BUSY;
    // The task yields here if the socket buffer is full; a few dozen bytes normally go at once.
    while !unsent.is_empty() {
        match future::poll_fn(|cx| Pin::new(&mut stream).poll_write(cx, unsent)).await {
            Ok(0) | Err(_) => return,
            Ok(n) => unsent = &unsent[n..],
        }
    }
    let _ = future::poll_fn(|cx| Pin::new(&mut stream).poll_shutdown(cx)).await;
}

async fn respond<R: Runtime>(
    request: Request<Incoming>,
    workload: &Arc<Workload>,
    peer: SocketAddr,
    log: AccessLog,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let _in_flight = workload.start_request();
    let (head, body) = request.into_parts();
    let method = head.method.as_str();
    let target = head.uri.path_and_query().map_or("/", |pq| pq.as_str());
    // No server here accepts an upgrade: close after answering, so that bytes a client (or a proxy that took the
    // upgrade for granted) sends after the request are never read as requests. The thread servers do the same.
    let upgrade = head
        .headers
        .get_all(CONNECTION)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.split(',').any(|token| token.trim().eq_ignore_ascii_case("upgrade"))));
    if let Some(reason) = refused(&head.headers) {
        let mut response = Response::new(Full::new(Bytes::from_static(reason.as_bytes())));
        *response.status_mut() = StatusCode::BAD_REQUEST;
        response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    let content_type = head.headers.get(CONTENT_TYPE).map(|v| v.to_str().unwrap_or("(not text)"));
    let mut plan = workload.plan(method, target, content_type);
    if let Plan::ReadForm(pending) = plan {
        // The task yields while the body arrives (hyper sends `100 Continue` first if the client asked).
        let body = match Limited::new(body, MAX_FORM_BYTES).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
            Err(_) => Err(BodyError::Unreadable),
        };
        plan = workload.plan_form(pending, body.as_deref().map_err(|e| *e));
    }
    let reply = match plan {
        Plan::Sleep { wait, reply } => {
            // The task yields here; the executor thread goes on with other connections until the timer fires.
            R::sleep(wait).await;
            reply
        }
        Plan::Database(call) => {
            let workload = Arc::clone(workload);
            // The blocking SQLite call runs on the blocking pool; this task yields until it is done.
            R::unblock(move || workload.call_database(call)).await
        }
        // `Block` sleeps *this executor thread* and `Factorial` computes on it: every other task on the thread
        // waits. That is what the lab demonstrates; a real server would move both off the executor.
        other => workload.run_blocking(other),
    };
    log.record(started, reply.status, method, target, Some(peer));
    let close = reply.close;
    let mut response = to_response(reply, workload.info.server);
    if upgrade || close {
        response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// What hyper lets through and the thread servers' tiny_http rejects (400, close): more than one Host
/// (RFC 9112 §3.2), and `chunked` applied twice (RFC 9112 §6.1), which hyper decodes as once — a front end
/// that frames it otherwise would see another request in the body.
fn refused(headers: &HeaderMap) -> Option<&'static str> {
    if headers.get_all(HOST).iter().nth(1).is_some() {
        return Some("more than one Host header");
    }
    let chunked = headers
        .get_all(TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .filter(|coding| coding.trim_ascii().eq_ignore_ascii_case(b"chunked"))
        .count();
    (chunked > 1).then_some("chunked applied more than once")
}

fn to_response(reply: Reply, server: &'static str) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::new(Full::new(Bytes::copy_from_slice(reply.body.as_bytes())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(reply.content_type));
    headers.insert(SERVER, HeaderValue::from_static(server));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(reply.cache.header_value()));
    if let Some(allow) = reply.allow {
        headers.insert(ALLOW, HeaderValue::from_static(allow));
    }
    response
}

/// hyper's I/O traits for a `futures-io` socket (async-io's `Async<TcpStream>`, async-std's `TcpStream`).
///
/// hyper reads into memory it has not initialized; `futures-io`'s `poll_read` takes an initialized `&mut [u8]`.
/// smol-hyper's adapter bridges the two by zeroing all of hyper's spare buffer (8 KiB) before every read, even
/// one that then finds nothing to read. That is the adapter's cost, not the runtime's — tokio's streams read
/// into uninitialized memory — and in a burst of 10,000 connections it was half of the CPU per connection
/// smol-server spent beyond tokio-server's, and one page fault per connection
/// (results/experiments/futures-io-zeroing.txt). This adapter zeroes only a window: a connection's first read
/// may fill 2 KiB, a read that fills its window doubles it, up to hyper's whole buffer. A request head of a few
/// hundred bytes costs 2 KiB of zeroing per read, in the page the head is written to anyway.
pub struct SocketIo<T> {
    socket: T,
    /// How many bytes of hyper's buffer the next read may fill (and so must be zeroed first).
    window: usize,
}

impl<T> SocketIo<T> {
    /// The first window: larger than the heads of nearly every request.
    const FIRST_WINDOW: usize = 2048;

    pub fn new(socket: T) -> SocketIo<T> {
        SocketIo { socket, window: Self::FIRST_WINDOW }
    }
}

impl<T: smol::io::AsyncRead + Unpin> Read for SocketIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = &mut *self;
        // SAFETY: only initialized bytes are written to it (zeroes, then what the socket read).
        let unfilled = unsafe { buf.as_mut() };
        let len = this.window.min(unfilled.len());
        let window = &mut unfilled[..len];
        // SAFETY: zeroing initializes the window, as `futures-io` requires of a read buffer; it is plain bytes.
        let window: &mut [u8] = unsafe {
            window.as_mut_ptr().write_bytes(0, window.len());
            std::slice::from_raw_parts_mut(window.as_mut_ptr().cast(), window.len())
        };
        // The task yields here when the socket has nothing to read: the runtime wakes it when it has.
        let n = std::task::ready!(Pin::new(&mut this.socket).poll_read(cx, window))?;
        if n == len {
            this.window = this.window.saturating_mul(2);
        }
        // SAFETY: the socket wrote `n` bytes into the window, which starts where the cursor does.
        unsafe { buf.advance(n) };
        std::task::Poll::Ready(Ok(()))
    }
}

/// Writes go straight to the socket. Not vectored (hyper's default): hyper then gathers a response's head and body
/// into one buffer and writes it at once, as with smol-hyper's adapter; writev(2) measured no different
/// (results/experiments/futures-io-zeroing.txt).
impl<T: smol::io::AsyncWrite + Unpin> Write for SocketIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        Pin::new(&mut self.socket).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.socket).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.socket).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::ServerInfo;
    use smol::{Async, Timer};
    use std::net::{TcpListener, TcpStream};

    /// smol-server's runtime, as the binary defines it.
    struct Smol;

    impl Runtime for Smol {
        async fn sleep(duration: Duration) {
            Timer::after(duration).await;
        }

        fn unblock<T: Send + 'static>(blocking: impl FnOnce() -> T + Send + 'static) -> impl Future<Output = T> + Send {
            smol::unblock(blocking)
        }
    }

    /// The adapter's rule: a connection's first read may fill 2 KiB of hyper's buffer; a read that fills its
    /// window doubles it, up to what hyper offers. 10,000 bytes through 8 KiB buffers come as 2 KiB, 4 KiB and
    /// the rest, unchanged.
    #[test]
    fn the_read_window_starts_at_2_kib_and_doubles_when_filled() {
        let sent: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let mut io = SocketIo::new(smol::io::Cursor::new(sent.clone()));
        let (mut received, mut reads) = (Vec::new(), Vec::new());
        loop {
            let mut storage = [std::mem::MaybeUninit::<u8>::uninit(); 8192];
            let mut buf = hyper::rt::ReadBuf::uninit(&mut storage);
            smol::block_on(future::poll_fn(|cx| Pin::new(&mut io).poll_read(cx, buf.unfilled()))).unwrap();
            if buf.filled().is_empty() {
                break;
            }
            reads.push(buf.filled().len());
            received.extend_from_slice(buf.filled());
        }
        assert_eq!(reads, [2048, 4096, 10_000 - 2048 - 4096]);
        assert!(received == sent, "the bytes changed on the way");
    }

    /// The size of the future a function returns, without calling it.
    fn returned_future_size<A, F: Future>(_: &impl Fn(A) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// docs/model.md ("What a connection costs") decomposes an async connection's memory: the task itself is
    /// small next to hyper's two 8 KiB buffers. The task's future (the connection state machine, hyper's `Conn`
    /// inline in it) and the handler's future (hyper boxes one per connection while a request is in flight) are
    /// measured here; together they must stay under a quarter of those 16 KiB, or the decomposition is wrong.
    #[test]
    fn a_connection_task_is_small_next_to_hypers_buffers() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (stream, peer) = listener.accept().unwrap();
        let db = std::env::temp_dir().join(format!("hyper-glue-size-{}.sqlite", std::process::id()));
        let info = ServerInfo { server: "smol-server", model: "test", threads: 1, processes: 1 };
        let workload = Arc::new(Workload::new(info, 3000, &db).unwrap());
        let (_start, started) = smol::channel::bounded(1);
        let connections = Connections {
            workload: Arc::clone(&workload),
            log: AccessLog::new(true),
            limits: Limits { header_timeout: Duration::from_secs(10), max_head_bytes: 16 * 1024, max_connections: 16 },
            open: Arc::default(),
            drain: Drain::for_test(started),
        };
        let task = connections.task::<Smol>(SocketIo::new(Async::new(stream).unwrap()), peer);
        let task_bytes = std::mem::size_of_val(&task);
        let log = AccessLog::new(true);
        let handler_bytes = returned_future_size(&|request| respond::<Smol>(request, &workload, peer, log));
        eprintln!("connection task future: {task_bytes} bytes; handler future: {handler_bytes} bytes");
        assert!(task_bytes + handler_bytes <= 4096, "task {task_bytes} B + handler {handler_bytes} B");
        drop(task);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
    }
}
