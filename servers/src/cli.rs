//! The flags every server shares.

use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,

    /// Port to listen on; 0 picks a free one (the `listening on` line says which).
    #[arg(long, default_value_t = 8888)]
    pub port: u16,

    /// Worker or executor threads per process (default: the number of CPUs).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub threads: Option<u16>,

    /// OS processes sharing the port through SO_REUSEPORT, supervised by this one.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub processes: u16,

    /// Default wait of /say/hello in milliseconds (3000, as in the original tornado example).
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub hello_ms: u64,

    /// SQLite file for /db routes (default: a file in the temp dir named after the port).
    #[arg(long)]
    pub db: Option<PathBuf>,

    /// No access log on stderr.
    #[arg(long)]
    pub quiet: bool,

    /// Seconds a client may take to send a request head; an idle keep-alive connection is closed after it too.
    #[arg(long, default_value_t = 10.0, value_parser = seconds)]
    pub header_timeout_s: f64,

    /// Largest request head (request line and headers) in bytes; larger gets a 431 and the connection closed.
    #[arg(long, default_value_t = 16 * 1024, value_parser = clap::value_parser!(u64).range(1024..=1 << 24))]
    pub max_head_bytes: u64,

    /// Most connections served at once per process; one more gets a 503 and is closed.
    #[arg(long, default_value_t = 16_384, value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    pub max_connections: u64,

    /// Seconds a clean shutdown (SIGTERM, SIGINT) waits for requests in flight.
    #[arg(long, default_value_t = 10.0, value_parser = seconds)]
    pub grace_s: f64,

    /// Set by the supervisor of `--processes`: the pid of the parent this worker process must not outlive.
    #[arg(long, hide = true)]
    pub worker_of: Option<u32>,
}

/// A number of seconds from 0 to a day. Checked here because `Duration::from_secs_f64` panics on NaN, infinity
/// and huge values.
fn seconds(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(s) if (0.0..=86_400.0).contains(&s) => Ok(s),
        _ => Err(format!("want a number of seconds from 0 to 86400, not {raw:?}")),
    }
}

/// Limits on each connection, the same on every server (`docs/workload.md`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub max_head_bytes: usize,
    pub max_connections: usize,
}

impl ServerArgs {
    pub fn limits(&self) -> Limits {
        Limits {
            header_timeout: Duration::from_secs_f64(self.header_timeout_s.clamp(0.001, 86_400.0)),
            max_head_bytes: self.max_head_bytes as usize,
            max_connections: self.max_connections as usize,
        }
    }

    /// Threads per process, defaulting to the number of CPUs.
    pub fn threads_or_cpus(&self) -> usize {
        self.threads.map(usize::from).unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}
