//! The lab's own HTTP requests (verification, readiness, health), made with ureq: one blocking request at a
//! time on the calling thread. The load itself is never generated here — that is the client binaries' job.

use anyhow::Context;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What came back from one request.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    /// The `Allow` header, for 405 answers.
    pub allow: Option<String>,
    /// The headers verification holds to the contract as protocol details (warnings, not failures).
    pub date: Option<String>,
    pub server: Option<String>,
    pub content_type: Option<String>,
    pub elapsed: Duration,
}

/// An agent that returns 4xx/5xx as answers (not errors) and gives up after `timeout`.
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .max_idle_connections(0)
        .build()
        .into()
}

/// GET `url`. Blocks until the answer or the agent's timeout.
pub fn get(agent: &ureq::Agent, url: &str) -> anyhow::Result<Reply> {
    let started = Instant::now();
    let response = agent.get(url).call()?;
    reply(response, started)
}

/// POST an empty body to `url`.
pub fn post(agent: &ureq::Agent, url: &str) -> anyhow::Result<Reply> {
    let started = Instant::now();
    let response = agent.post(url).send_empty()?;
    reply(response, started)
}

fn reply(mut response: ureq::http::Response<ureq::Body>, started: Instant) -> anyhow::Result<Reply> {
    let status = response.status().as_u16();
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (allow, date, server, content_type) =
        (header("allow"), header("date"), header("server"), header("content-type"));
    let body = response.body_mut().read_to_string().context("reading the body")?;
    Ok(Reply { status, body, allow, date, server, content_type, elapsed: started.elapsed() })
}

/// True when something at `addr` answers a GET of `path` with any HTTP status, within half a second.
pub fn answers(addr: SocketAddr, path: &str) -> bool {
    get(&agent(Duration::from_millis(500)), &format!("http://{addr}{path}")).is_ok()
}
