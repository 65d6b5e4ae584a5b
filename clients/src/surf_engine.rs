//! The library under comparison: surf with its `h1-client-no-tls` backend (async-h1 over async-std's
//! `TcpStream`, driven by the same async-io reactor as smol).
//!
//! One [`surf::Client`] per process, shared by every slot on every executor thread; its pool opens at most
//! `-c` connections to the host (surf's `max_connections_per_host`), with TCP_NODELAY set on each. A slot
//! borrows a connection from the pool for one request and gives it back when the body has been read. The pool
//! is keyed by origin, and every `--url` shares one, so a mix of URLs shares the same connections. At the start
//! of a run it may open a few more, left as surf's cost: http-client's h1 client looks the host's pool up and,
//! when missing, creates and inserts one in two steps, so slots whose first requests start together may each
//! create a pool; all but one are dropped after that request, with their connection (tests/mixed.rs).
//!
//! One surf behaviour needs working around: when a request future is dropped mid-response (our `--timeout`),
//! its connection goes back to the pool, and the next request on it reads the *late* response — a timed-out
//! request turns into a fast "success" of the next one. So after a timeout the engine retires the whole client:
//! new requests go to a fresh client (a fresh pool), the old pool closes its connections once the requests still
//! using it are done. For the moment of the swap, up to 2 × `-c` connections may be open.
//!
//! And one more: surf's pool ignores a response's `Connection: close`. It takes a connection back after the
//! body and, before lending it again, probes it with one non-blocking read; when the server's FIN has not
//! arrived yet the probe passes, the next request goes out on a connection the server is closing, and async-h1
//! fails it with "connection closed" (or, when the server closed with the request unread, a reset) before any
//! byte of a response. The server did not answer it (RFC 9112 §9.3.1 lets a client retry an idempotent request
//! then), so the engine retries it once on another connection, counts the retries, and says how many on stderr
//! at the end of the run (tests/surf_closed_connection.rs).

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use surf::http::Method;
use surf::{Client, Config, Url};

use crate::cli::{self, CommonArgs};
use crate::outcome::{FailureKind, Outcome};
use crate::runner::Slot;

/// The shared client, replaceable after a timeout.
pub struct SurfEngine {
    /// The client new requests use.
    current: Mutex<Client>,
    /// Bumped whenever `current` is replaced. A slot compares it with its own copy before each request — one
    /// atomic load; the lock is taken only after a replacement.
    generation: AtomicU64,
    /// The `--url`s' methods and URLs, parsed once; each request clones the one it goes to.
    urls: Vec<(Method, Url)>,
    keep_alive: bool,
    connections: usize,
    /// Requests sent a second time because their pooled connection was closed before any response byte.
    retried: AtomicU64,
}

impl SurfEngine {
    /// A client with keep-alive as asked, TCP_NODELAY, and a pool limited to `connections`.
    pub fn new(args: &CommonArgs, connections: usize) -> io::Result<SurfEngine> {
        let urls = args
            .urls
            .iter()
            .map(|target| {
                let method = match target.method {
                    cli::Method::Get => Method::Get,
                    cli::Method::Post => Method::Post,
                };
                Url::parse(target.url.as_str()).map(|url| (method, url)).map_err(|e| io::Error::other(e.to_string()))
            })
            .collect::<io::Result<_>>()?;
        let keep_alive = args.keep_alive.is_on();
        let connections = connections.max(1);
        let client = new_client(keep_alive, connections)?;
        Ok(SurfEngine {
            current: Mutex::new(client),
            generation: AtomicU64::new(0),
            urls,
            keep_alive,
            connections,
            retried: AtomicU64::new(0),
        })
    }

    /// A slot: a handle on the current client.
    pub fn slot(&self) -> SurfSlot<'_> {
        let current = self.lock();
        SurfSlot { engine: self, client: current.clone(), generation: self.generation.load(Ordering::Acquire) }
    }

    fn lock(&self) -> MutexGuard<'_, Client> {
        // A panic while holding this lock cannot leave a `Client` half-replaced: ignore poisoning.
        self.current.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Replaces the client, unless another slot already replaced the one `generation` refers to.
    fn retire(&self, generation: u64) {
        let mut current = self.lock();
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if let Ok(client) = new_client(self.keep_alive, self.connections) {
            *current = client;
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
    }
}

impl Drop for SurfEngine {
    fn drop(&mut self) {
        let retried = self.retried.load(Ordering::Relaxed);
        if retried > 0 {
            eprintln!(
                "surf engine: {retried} request(s) retried once: their pooled connection was closed by the server \
                 before any byte of a response"
            );
        }
    }
}

/// async-h1's error when the connection ends before the first byte of a response head.
const CLOSED_BEFORE_RESPONSE: &str = "connection closed";

/// Whether `error` says the connection ended before any byte of a response: async-h1's "connection closed",
/// or the kernel's reset, which is how a close arrives when the server closed with the request unread.
fn closed_before_response(error: &surf::Error) -> bool {
    let reset = |kind| matches!(kind, io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe);
    let reason = error.to_string();
    reason == CLOSED_BEFORE_RESPONSE
        || error.downcast_ref::<io::Error>().map(io::Error::kind).is_some_and(reset)
        || reason.contains("(os error 104)")
        || reason.contains("(os error 32)")
}

fn new_client(keep_alive: bool, connections: usize) -> io::Result<Client> {
    Config::new()
        .set_http_keep_alive(keep_alive)
        .set_tcp_no_delay(true)
        // The runner enforces `--timeout` itself (the same way for every engine).
        .set_timeout(None)
        .set_max_connections_per_host(connections)
        .try_into()
        .map_err(|e| io::Error::other(format!("building the surf client: {e:?}")))
}

pub struct SurfSlot<'a> {
    engine: &'a SurfEngine,
    /// This slot's handle on the client (cloning a `Client` clones a handle on the same pool).
    client: Client,
    /// Which client `client` is.
    generation: u64,
}

impl Slot for SurfSlot<'_> {
    async fn send(&mut self, url: usize) -> Outcome {
        if self.engine.generation.load(Ordering::Acquire) != self.generation {
            let current = self.engine.lock();
            self.client = current.clone();
            self.generation = self.engine.generation.load(Ordering::Acquire);
        }
        let (method, url) = &self.engine.urls[url];
        // A POST goes with an empty body (`Content-Length: 0`).
        let request = surf::Request::new(*method, url.clone());
        // Yields until a pooled connection is free, the request is written and the response head is in.
        let mut response = match self.client.send(request.clone()).await {
            Ok(response) => response,
            // A pooled connection the server had closed (see the module's doc): the request went unanswered, so
            // once more, on the connection the pool lends next (it drops the closed one). For a POST too: the
            // lab's servers close a connection only between requests (after a response that says so, or idle
            // at their header timeout), never with a request read and unanswered, which is the means to know
            // that the request was never applied that RFC 9112 §9.3.1 asks for before retrying one.
            Err(error) if self.engine.keep_alive && closed_before_response(&error) => {
                self.engine.retried.fetch_add(1, Ordering::Relaxed);
                match self.client.send(request).await {
                    Ok(response) => response,
                    Err(error) => return classify(&error),
                }
            }
            Err(error) => return classify(&error),
        };
        let status: u16 = response.status().into();
        let announced = response.len();
        // Yields until the body has been read; only then can the connection serve another request.
        match response.body_bytes().await {
            // async-h1 ends a body early without an error when the server closes the connection mid-body:
            // check the length against Content-Length, as the other engines do.
            Ok(body) if announced.is_some_and(|len| len != body.len()) => Outcome::failure(
                FailureKind::Other,
                format!("body cut short: {} of {} bytes", body.len(), announced.unwrap_or_default()),
            ),
            Ok(_) => Outcome::from_status(status),
            Err(error) => match classify(&error) {
                Outcome::Failure { kind, reason, .. } => Outcome::failure(kind, format!("reading the body: {reason}")),
                success => success,
            },
        }
    }

    fn reset(&mut self) {
        // The dropped request's connection is back in the pool with a response still to come: retire the pool.
        self.engine.retire(self.generation);
    }
}

/// surf wraps errors in `http_types::Error`; pool errors (e.g. a refused connect) arrive as text only.
fn classify(error: &surf::Error) -> Outcome {
    let reason = error.to_string();
    let kind = match error.downcast_ref::<io::Error>().map(io::Error::kind) {
        Some(io::ErrorKind::ConnectionRefused) => FailureKind::Connect,
        Some(io::ErrorKind::TimedOut) => FailureKind::Timeout,
        Some(_) => FailureKind::Other,
        None if reason.contains("Connection refused") || reason.contains("os error 111") => FailureKind::Connect,
        None => FailureKind::Other,
    };
    Outcome::failure(kind, reason)
}
