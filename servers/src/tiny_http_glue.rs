//! The workload on tiny_http, for the two thread servers: one blocking call that answers one request.
//!
//! Two ways in. [`server`]: tiny_http accepts, reads every connection on a thread of its own and hands requests
//! out through `Server::recv()` (thread-server). [`serve_connection`]: the server accepts and runs a whole
//! connection on a thread of its choosing (pool-server's workers). Either way [`answer`] blocks its thread for
//! as long as the request takes: a 3 s `/say/hello` holds a whole OS thread for 3 s. That is the thread model.

use crate::access_log::AccessLog;
use crate::launch::Served;
use crate::workload::{BodyError, Plan, Reply, Workload, MAX_FORM_BYTES};
use std::io::{self, Read};
use std::net::TcpStream;
use std::time::Instant;
use tiny_http::{ConnectionLimits, ConnectionRequests, Header, Request, Response, Server, StatusCode};

/// Wraps the already-listening socket (with TCP_NODELAY set) in a tiny_http server with the server's limits.
/// (tiny_http has no limits of its own; the vendored copy adds them: vendor/README.md.)
pub fn server(served: &Served) -> io::Result<Server> {
    let listener = served.listener.try_clone()?;
    Server::from_listener_with_limits(listener, None, limits(served)).map_err(io::Error::other)
}

/// The server's limits in tiny_http's terms.
pub fn limits(served: &Served) -> ConnectionLimits {
    ConnectionLimits {
        header_timeout: Some(served.limits.header_timeout),
        max_head_bytes: served.limits.max_head_bytes,
        max_connections: served.limits.max_connections,
    }
}

/// Serves one accepted connection on the calling thread, request after request, until the client closes it,
/// a limit does, its framing breaks, or `others_waiting()` says other connections wait for this thread when a
/// response is ready to be written: that response says `Connection: close` and the thread is given up. Asked
/// then, not when the request was read: a request that waited D while the queue filled would otherwise leave
/// its connection open, idle, holding this thread until the header timeout (docs/model.md, "The bounded pool"). Blocks this
/// thread the whole time, idle keep-alive gaps included: between two requests it waits in `read` for the next
/// head, up to the header timeout.
pub fn serve_connection(
    stream: TcpStream,
    limits: ConnectionLimits,
    workload: &Workload,
    log: AccessLog,
    others_waiting: impl Fn() -> bool,
) {
    let requests = match ConnectionRequests::new(stream, limits) {
        Ok(requests) => requests,
        Err(error) => return crate::launch::report_accept_error(&error),
    };
    for request in requests {
        if respond(request, workload, log, &others_waiting) {
            break;
        }
    }
}

/// The next request, blocking this thread until tiny_http has read one. Accept errors (out of file descriptors,
/// for one) are reported and skipped: tiny_http's accept thread backs off and goes on (vendor/README.md).
pub fn next_request(server: &Server) -> Request {
    loop {
        match server.recv() {
            Ok(request) => return request,
            Err(error) => crate::launch::report_accept_error(&error),
        }
    }
}

/// Runs the request to completion on the calling thread and sends the response.
pub fn answer(request: Request, workload: &Workload, log: AccessLog) {
    respond(request, workload, log, || false);
}

/// [`answer`], with `Connection: close` on the response if `close`.
/// Answers `request`, with `Connection: close` if `close()` says so once the reply is ready; returns whether it did.
fn respond(mut request: Request, workload: &Workload, log: AccessLog, close: impl Fn() -> bool) -> bool {
    let started = Instant::now();
    let _in_flight = workload.start_request();
    let target = origin_form(request.url()).into_owned();
    let content_type = request.headers().iter().find(|h| h.field.equiv("Content-Type")).map(|h| h.value.as_str());
    let mut plan = workload.plan(request.method().as_str(), &target, content_type);
    if let Plan::ReadForm(pending) = plan {
        let body = read_form(&mut request);
        plan = workload.plan_form(pending, body.as_deref().map_err(|e| *e));
    }
    // Blocks this thread through any sleep, factorial or database call the request needs.
    let reply = workload.run_blocking(plan);
    let (status, method, peer) = (reply.status, request.method().to_string(), request.remote_addr().copied());
    // respond() blocks on the socket write; an error means the client went away, which is not ours to report.
    let reply_close = reply.close;
    let response = to_response(reply, workload.info.server);
    let close = reply_close || close();
    let _ = request.respond(if close { response.with_connection_close() } else { response });
    log.record(started, status, &method, &target, peer);
    close
}

/// Reads a request body of at most [`MAX_FORM_BYTES`], blocking this thread until it has arrived (tiny_http
/// sends `100 Continue` first if the client asked). A larger one is left unread.
fn read_form(request: &mut Request) -> Result<Vec<u8>, BodyError> {
    if request.body_length().is_some_and(|length| length > MAX_FORM_BYTES) {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    match request.as_reader().take(MAX_FORM_BYTES as u64 + 1).read_to_end(&mut body) {
        Ok(n) if n > MAX_FORM_BYTES => Err(BodyError::TooLarge),
        Ok(_) => Ok(body),
        Err(_) => Err(BodyError::Unreadable),
    }
}

/// Runs `job(value)` on a new thread from `builder`. When the kernel refuses the thread (EAGAIN: out of threads,
/// of memory for a stack, or of `RLIMIT_NPROC`), `value` comes back with the error, so that the caller can still
/// answer for it: `std::thread::spawn` would panic instead, taking the accept thread with it.
pub fn spawn_with<T: Send + 'static>(
    builder: std::thread::Builder,
    value: T,
    job: impl FnOnce(T) + Send + 'static,
) -> Result<(), (T, io::Error)> {
    // The value travels through a slot rather than the closure, which `spawn` consumes even when it fails.
    let slot = std::sync::Arc::new(std::sync::Mutex::new(Some(value)));
    let theirs = std::sync::Arc::clone(&slot);
    let spawned = builder.spawn(move || {
        let value = theirs.lock().map(|mut v| v.take()).ok().flatten();
        drop(theirs);
        if let Some(value) = value {
            job(value);
        }
    });
    match spawned {
        Ok(_) => Ok(()),
        Err(error) => match slot.lock().map(|mut v| v.take()).ok().flatten() {
            Some(value) => Err((value, error)),
            None => unreachable!("a thread that was never started took the value"),
        },
    }
}

/// Answers `503 Service Unavailable` with `reason`, on the calling thread: for a request no thread could be
/// started for.
pub fn refuse(request: Request, workload: &Workload, reason: String) {
    let reply = Reply::text(503, reason);
    let _ = request.respond(to_response(reply, workload.info.server));
}

/// The target as `/path?query`. An HTTP/1.1 server must also accept the absolute form (`http://host/path?query`,
/// what clients send to proxies); tiny_http passes it through as is, hyper reduces it to the path, so reduce it
/// here too, or the thread servers would answer 404 where the async ones answer 200.
pub(crate) fn origin_form(target: &str) -> std::borrow::Cow<'_, str> {
    let Some(after_scheme) = target.split_once("://").filter(|(scheme, _)| !scheme.contains('/')).map(|(_, r)| r)
    else {
        return target.into();
    };
    match after_scheme.find(['/', '?']) {
        Some(i) if after_scheme[i..].starts_with('/') => after_scheme[i..].into(),
        Some(i) => format!("/{}", &after_scheme[i..]).into(),
        None => "/".into(),
    }
}

fn to_response(reply: Reply, server: &'static str) -> Response<io::Cursor<Vec<u8>>> {
    let mut headers = vec![
        Header::from_bytes("Content-Type", reply.content_type).expect("valid header"),
        Header::from_bytes("Server", server).expect("valid header"),
        Header::from_bytes("Cache-Control", reply.cache.header_value()).expect("valid header"),
    ];
    if let Some(allow) = reply.allow {
        headers.push(Header::from_bytes("Allow", allow).expect("valid header"));
    }
    let body = reply.body.as_bytes().to_vec();
    let len = body.len();
    // tiny_http switches to chunked encoding (no Content-Length) for bodies of 32 KiB or more, such as
    // /fact?n=20000: the length is known, so always send it, as the contract and the async servers do.
    Response::new(StatusCode(reply.status), headers, io::Cursor::new(body), Some(len), None)
        .with_chunked_threshold(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::spawn_with;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn a_started_thread_gets_the_value() {
        let (done, finished) = mpsc::channel();
        let spawned = spawn_with(std::thread::Builder::new(), 7u32, move |v| done.send(v).unwrap());
        assert!(spawned.is_ok());
        assert_eq!(finished.recv_timeout(Duration::from_secs(10)), Ok(7));
    }

    /// A thread the kernel refuses: a 64 TiB stack is more memory than any machine here can reserve, so
    /// `pthread_create` fails (EAGAIN or ENOMEM) as it does when threads run out.
    #[test]
    fn a_refused_thread_gives_the_value_back_with_the_error() {
        let builder = std::thread::Builder::new().stack_size(1 << 46);
        let (ran, never) = mpsc::channel::<()>();
        let (value, error) = spawn_with(builder, String::from("the request"), move |_| ran.send(()).unwrap())
            .expect_err("a 64 TiB stack must be refused");
        assert_eq!(value, "the request");
        assert!(error.raw_os_error().is_some(), "an OS error: {error}");
        assert!(never.recv_timeout(Duration::from_millis(100)).is_err(), "the job must not run");
    }
}
