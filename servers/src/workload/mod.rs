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
    pub fn text(status: u16, body: impl Into<String>) -> Reply {
        Reply { status, body: Body::Text(body.into()), content_type: "text/plain; charset=utf-8", allow: None }
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
}

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

    /// Routes one request. `target` is the request target: path and optional `?query`.
    pub fn plan(&self, method: &str, target: &str) -> Plan {
        let (path, raw_query) = target.split_once('?').unwrap_or((target, ""));
        if !KNOWN_PATHS.contains(&path) {
            return Plan::Ready(Reply::text(404, format!("no route for {path}")));
        }
        if method != "GET" {
            return Plan::Ready(Reply {
                allow: Some("GET"),
                ..Reply::text(405, format!("{method} is not allowed on {path}; use GET"))
            });
        }
        let query = match Query::parse(raw_query) {
            Ok(query) => query,
            Err(reason) => return Plan::Ready(Reply::bad_request(reason)),
        };
        self.route(path, &query).unwrap_or_else(|reason| Plan::Ready(Reply::bad_request(reason)))
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
            _ => unreachable!("KNOWN_PATHS and route() list the same paths"),
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
            Plan::Factorial { n, use_cache } => {
                Reply { body: Body::Shared(self.factorials.get(n, use_cache)), ..Reply::text(200, "") }
            }
            Plan::Database(call) => self.call_database(call),
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

/// Every path the server knows: anything else is a 404, these with a method other than GET a 405.
const KNOWN_PATHS: &[&str] = &["/say/hello", "/fact", "/no/param", "/db/visit", "/db/visits", "/block", "/health"];

/// A request in flight; see [`Workload::start_request`].
pub struct InFlight<'a>(&'a Workload);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}
