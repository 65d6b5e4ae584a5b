//! The workload: what every server does for every request, whatever its concurrency model.
//!
//! A server turns a request line into a [`Plan`] with [`Workload::plan`], then carries the plan out in its own
//! model's way. The plan says *what kind of waiting* a request involves, so that each server can wait naturally:
//!
//! | plan            | thread servers          | async servers                                  |
//! |-----------------|-------------------------|------------------------------------------------|
//! | `Sleep`         | the thread sleeps       | an async timer: the task yields, nothing blocks |
//! | `Block`         | the thread sleeps       | the executor thread sleeps (the anti-pattern)  |
//! | `Factorial`     | CPU on the thread       | CPU on the executor thread (the default)       |
//! | `Database`      | blocking call           | moved off the executor to a blocking pool      |
//! | `Ready`         | answer at once          | answer at once                                 |
//! | `ReadForm`      | read the body (blocking) | read the body: the task yields               |
//!
//! The HTTP semantics every server shares are decided here too, so that no HTTP layer has a say in them: which
//! methods a route takes ([`Route`], the `Allow` header of a 405) and how long a cache may keep each answer
//! ([`CacheControl`], RFC 9111). The HTTP layers only copy them into headers.
//!
//! The contract itself is documented in `docs/workload.md`; the tests in `servers/tests/` check it.

pub mod db;
pub mod factorial;
pub mod query;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use db::VisitDb;
pub use factorial::FactorialCache;
use query::{BadRequest, Query};

/// The longest wait a client may ask for with `ms=` (a minute): longer is a 400.
pub const MAX_WAIT_MS: u64 = 60_000;
/// The longest `name=` accepted.
pub const MAX_NAME_LEN: usize = 256;
/// The largest form body `POST /db/visit` reads: a name of 256 bytes percent-encoded is 768, with room to
/// spare. A larger body is a 413 and is not read (RFC 9110 §15.5.14).
pub const MAX_FORM_BYTES: usize = 4096;
/// The media type of the one body a route takes (`POST /db/visit`): `name=NAME`, encoded as in a query.
pub const FORM_MEDIA_TYPE: &str = "application/x-www-form-urlencoded";

/// Who is serving: reported by `/health` and in the `Server` header.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServerInfo {
    /// The binary's name, e.g. `smol-server`; also the `Server` response header.
    pub server: &'static str,
    /// The concurrency model in a few words, e.g. `async tasks on a smol executor`.
    pub model: &'static str,
    /// Worker or executor threads per process; 0 means one thread per request (no fixed number).
    pub threads: usize,
    /// OS processes sharing the port.
    pub processes: usize,
}

/// A finished response, independent of any HTTP library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: Body,
    pub content_type: &'static str,
    /// The `Allow` header of a 405.
    pub allow: Option<&'static str>,
    /// The `Cache-Control` header: every response states whether and how long it may be reused.
    pub cache: CacheControl,
    /// The request's body was left unread (too large for the route): the connection must close after this
    /// response (RFC 9110 §15.5.14), since what follows on it is still that body.
    pub close: bool,
}

/// How long a cache (a browser's, a proxy's, a CDN's) may reuse a response (RFC 9111 §5.2.2), the
/// `Cache-Control` header of every response the workload gives. A response without one may be given a
/// heuristic lifetime by any cache (RFC 9111 §4.2.2), which for a visit count means serving a stale number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheControl {
    /// `no-store`: never reused. The answer changes from one request to the next (`/db/visit`, `/db/visits`,
    /// `/health`), or the point of the request is the work the server does for it (`/say/hello`'s wait,
    /// `/block`, `/no/param`'s bare cost): a cache that answered instead would measure nothing. Every error too.
    NoStore,
    /// `max-age=86400`: the same target always gets the same answer (`/fact?n=N`).
    MaxAge,
}

impl CacheControl {
    /// The header's value.
    pub const fn header_value(self) -> &'static str {
        match self {
            CacheControl::NoStore => "no-store",
            CacheControl::MaxAge => "max-age=86400",
        }
    }
}

/// A response body: most are short strings; cached factorials are shared, not copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Text(String),
    Shared(Arc<str>),
}

impl Body {
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Body::Text(s) => s.as_bytes(),
            Body::Shared(s) => s.as_bytes(),
        }
    }
}

impl Reply {
    /// A `text/plain` reply that no cache may store.
    pub fn text(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            body: Body::Text(body.into()),
            content_type: "text/plain; charset=utf-8",
            allow: None,
            cache: CacheControl::NoStore,
            close: false,
        }
    }

    fn bad_request(reason: BadRequest) -> Reply {
        Reply::text(400, reason.0)
    }

    fn internal_error(what: impl std::fmt::Display) -> Reply {
        Reply::text(500, format!("internal error: {what}"))
    }
}

/// What a request needs done. Produced by [`Workload::plan`], carried out by the server.
#[derive(Debug)]
pub enum Plan {
    /// The answer is known: send it.
    Ready(Reply),
    /// Wait `wait` without holding anything, then send `reply` (`/say/hello`).
    Sleep { wait: Duration, reply: Reply },
    /// Block the current thread for `wait`, whatever the model, then send `reply` (`/block`).
    Block { wait: Duration, reply: Reply },
    /// Compute N! on the current thread (`/fact`).
    Factorial { n: u64, use_cache: bool },
    /// A blocking database call (`/db/...`).
    Database(DbCall),
    /// `POST /db/visit`: read the request's body (at most [`MAX_FORM_BYTES`]; an empty one is fine), then
    /// plan again with [`Workload::plan_form`].
    ReadForm(PendingForm),
}

/// A `POST /db/visit` whose body has not been read yet: its query, already checked.
#[derive(Debug)]
pub struct PendingForm {
    query: Query,
}

/// Why a request body could not be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Larger than [`MAX_FORM_BYTES`]: left unread.
    TooLarge,
    /// Cut short or badly framed (the client went away, a broken chunk).
    Unreadable,
}

/// A route and the methods it takes: a known path with another method is a 405 whose `Allow` header is the
/// route's list.
struct Route {
    path: &'static str,
    /// The `Allow` header's value.
    allow: &'static str,
}

/// Every path the server knows: anything else is a 404.
const ROUTES: &[Route] = &[
    Route { path: "/say/hello", allow: "GET" },
    Route { path: "/fact", allow: "GET" },
    Route { path: "/no/param", allow: "GET" },
    // POST is the method for a request that changes something (RFC 9110 §9.3.3). GET stays for the article's
    // parity (its tornado app counts a visit on GET): docs/workload.md says why that GET is not ours.
    Route { path: "/db/visit", allow: "GET, POST" },
    Route { path: "/db/visits", allow: "GET" },
    Route { path: "/block", allow: "GET" },
    Route { path: "/health", allow: "GET" },
];

/// A database call, carried out by [`Workload::call_database`] on a thread that may block.
#[derive(Debug)]
pub enum DbCall {
    Visit { name: String },
    Visits { name: String },
}

/// The state every worker of one server process shares.
pub struct Workload {
    pub info: ServerInfo,
    /// The default wait of `/say/hello`, from `--hello-ms` (3000 as in the original article).
    hello_ms: u64,
    /// One factorial cache for every worker, as in the original tornado app.
    factorials: FactorialCache,
    /// The visit counts.
    db: VisitDb,
    /// Requests started and not yet answered: a clean shutdown waits for this to reach zero.
    in_flight: AtomicUsize,
}

impl Workload {
    pub fn new(info: ServerInfo, hello_ms: u64, db_path: &Path) -> rusqlite::Result<Workload> {
        Ok(Workload {
            info,
            hello_ms,
            factorials: FactorialCache::default(),
            db: VisitDb::open(db_path)?,
            in_flight: AtomicUsize::new(0),
        })
    }

    /// Routes one request. `target` is the request target: path and optional `?query`; `content_type` the
    /// request's `Content-Type`, which matters only to a route that reads a body.
    pub fn plan(&self, method: &str, target: &str, content_type: Option<&str>) -> Plan {
        let (path, raw_query) = target.split_once('?').unwrap_or((target, ""));
        let Some(route) = ROUTES.iter().find(|route| route.path == path) else {
            return Plan::Ready(Reply::text(404, format!("no route for {path}")));
        };
        if !route.allow.split(", ").any(|allowed| allowed == method) {
            let allowed = route.allow.replace(", ", " or ");
            return Plan::Ready(Reply {
                allow: Some(route.allow),
                ..Reply::text(405, format!("{method} is not allowed on {path}; use {allowed}"))
            });
        }
        let query = match Query::parse(raw_query) {
            Ok(query) => query,
            Err(reason) => return Plan::Ready(Reply::bad_request(reason)),
        };
        if method == "POST" {
            // The one route that takes a body. A body of another type is refused before it is read.
            if let Some(other) = content_type.filter(|t| !is_form(t)) {
                let reason = format!("{method} {path} takes an {FORM_MEDIA_TYPE} body, not {other:?}");
                return Plan::Ready(Reply::text(415, reason));
            }
            return Plan::ReadForm(PendingForm { query });
        }
        self.route(path, &query).unwrap_or_else(|reason| Plan::Ready(Reply::bad_request(reason)))
    }

    /// Plans a `POST /db/visit` once its body has been read: `name` comes from the query or the form, not both.
    pub fn plan_form(&self, pending: PendingForm, body: Result<&[u8], BodyError>) -> Plan {
        let body = match body {
            Ok(body) => body,
            Err(BodyError::TooLarge) => {
                let reason = format!("the request body is larger than {MAX_FORM_BYTES} bytes");
                return Plan::Ready(Reply { close: true, ..Reply::text(413, reason) });
            }
            Err(BodyError::Unreadable) => {
                return Plan::Ready(Reply { close: true, ..Reply::text(400, "the request body could not be read") })
            }
        };
        let form = match std::str::from_utf8(body) {
            Ok(form) => Query::parse(form),
            Err(_) => Err(BadRequest("the form body is not UTF-8".into())),
        };
        let visit = form
            .and_then(|form| pending.query.merged(form))
            .and_then(|query| Ok(DbCall::Visit { name: query.text("name", MAX_NAME_LEN)?.to_string() }));
        match visit {
            Ok(call) => Plan::Database(call),
            Err(reason) => Plan::Ready(Reply::bad_request(reason)),
        }
    }

    fn route(&self, path: &str, query: &Query) -> Result<Plan, BadRequest> {
        Ok(match path {
            "/say/hello" => {
                let name = query.text("name", MAX_NAME_LEN)?;
                let ms = query.number("ms", Some(self.hello_ms), MAX_WAIT_MS)?;
                Plan::Sleep { wait: Duration::from_millis(ms), reply: Reply::text(200, format!("hello {name}")) }
            }
            "/fact" => {
                Plan::Factorial { n: query.number("n", None, factorial::MAX_N)?, use_cache: query.flag("cache", true)? }
            }
            "/no/param" => Plan::Ready(Reply::text(200, "")),
            "/db/visit" => Plan::Database(DbCall::Visit { name: query.text("name", MAX_NAME_LEN)?.to_string() }),
            "/db/visits" => Plan::Database(DbCall::Visits { name: query.text("name", MAX_NAME_LEN)?.to_string() }),
            "/block" => {
                let ms = query.number("ms", None, MAX_WAIT_MS)?;
                Plan::Block { wait: Duration::from_millis(ms), reply: Reply::text(200, format!("blocked {ms} ms")) }
            }
            "/health" => Plan::Ready(self.health()),
            _ => unreachable!("ROUTES and route() list the same paths"),
        })
    }

    fn health(&self) -> Reply {
        let body = serde_json::json!({
            "server": self.info.server,
            "model": self.info.model,
            "pid": std::process::id(),
            "threads": self.info.threads,
            "processes": self.info.processes,
            "backlog": crate::net::backlog(),
        });
        Reply { content_type: "application/json", ..Reply::text(200, body.to_string()) }
    }

    /// Carries out a plan on the calling thread, blocking it for every kind of wait.
    /// This is all a thread server needs; async servers handle `Sleep` and `Database` themselves first.
    pub fn run_blocking(&self, plan: Plan) -> Reply {
        match plan {
            Plan::Ready(reply) => reply,
            // Blocks this thread: in a thread server that is the model; in an async server, a stall.
            Plan::Sleep { wait, reply } | Plan::Block { wait, reply } => {
                std::thread::sleep(wait);
                reply
            }
            Plan::Factorial { n, use_cache } => Reply {
                body: Body::Shared(self.factorials.get(n, use_cache)),
                cache: CacheControl::MaxAge,
                ..Reply::text(200, "")
            },
            Plan::Database(call) => self.call_database(call),
            // A server reads the body and calls `plan_form` first; one that did not is a bug, answered as such.
            Plan::ReadForm(_) => Reply::internal_error("the request body was not read"),
        }
    }

    /// Runs a database call. Blocks the calling thread on SQLite.
    pub fn call_database(&self, call: DbCall) -> Reply {
        let result = match &call {
            DbCall::Visit { name } => self.db.visit(name),
            DbCall::Visits { name } => self.db.visits(name),
        };
        match result {
            Ok(count) => Reply::text(200, count.to_string()),
            Err(error) => Reply::internal_error(error),
        }
    }

    /// Marks a request as started; dropping the guard marks it answered.
    pub fn start_request(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(self)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
}

/// Whether a `Content-Type` value is the form media type (case-insensitive, parameters such as `charset`
/// allowed: RFC 9110 §8.3.1).
fn is_form(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case(FORM_MEDIA_TYPE)
}

/// A request in flight; see [`Workload::start_request`].
pub struct InFlight<'a>(&'a Workload);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}
