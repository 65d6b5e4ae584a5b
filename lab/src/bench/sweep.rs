//! Part 4 (cost per connection): the io workload — one request per connection, each waiting D — at many
//! connections at once, run through the matrix's own runner, so that every cell is verified, measured, sampled
//! and explained exactly like a matrix cell (failures by kind, the limit that stopped it). The reach part has a
//! module of its own (`bench/reach.rs`).
//!
//! Concurrency idea: with one request per connection and D longer than it takes to open them all, every
//! connection is in flight at the same moment, so the server's peak RSS and thread count at C connections is
//! what C waiting requests cost it; a line through the peaks at several C has the price of one more connection
//! as its slope.

use super::tools::shell_line;
use crate::client::ClientArgs;
use crate::fit;
use crate::plan::{CellSpec, MatrixConfig, ServerSpec, WorkloadSettings};
use crate::records::bench::TcpCounters;
use crate::records::bench::{KernelCounters, SweepHead, SweepPart};
use crate::records::header::CpuPlacement;
use crate::records::run::{Cell, Client, ProfileName, Workload};
use crate::records::{header::Limits, run::Run};
use crate::run::Runner;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// The client of the sweep: the lab's fastest, and the only one that holds thousands of connections cheaply.
pub const CLIENT: &str = "async-client:lean";
/// Cost: async servers must cost at most this much RSS per in-flight connection (KiB).
pub const ASYNC_KIB_PER_CONNECTION: f64 = 8.0;
/// Cost: lean-server, the floor, at most this much (KiB): its state machine, no buffer while a request waits.
pub const LEAN_KIB_PER_CONNECTION: f64 = 4.0;
/// Cost: a stackful coroutine's connection, user and kernel memory together, at most this fraction of
/// thread-server's (a stack of its own in user space, none in the kernel).
pub const COROUTINE_OVER_THREAD_MEMORY: f64 = 0.25;

/// Where and how a sweep runs.
#[derive(Clone)]
pub struct SweepRun<'a> {
    pub servers: &'a [String],
    pub levels: &'a [u64],
    pub hello_ms: u64,
    pub bin_dir: &'a Path,
    pub scratch: &'a Path,
    pub limits: &'a Limits,
    pub interrupted: Arc<AtomicBool>,
}

impl SweepRun<'_> {
    /// The matrix's runner for `config`, with this sweep's binaries, scratch directory, limits and interrupt flag.
    pub fn runner<'c>(&self, config: &'c MatrixConfig) -> Runner<'c> {
        Runner {
            config,
            bin_dir: self.bin_dir.to_path_buf(),
            scratch: self.scratch.to_path_buf(),
            limits: self.limits.clone(),
            interrupted: self.interrupted.clone(),
            measured: Duration::ZERO,
        }
    }
}

/// What the matrix's runner needs to run io cells of D = `hello_ms` from `client` on `servers` (the bench's own
/// settings, no profile's): one repetition each, keep-alive, the CPUs shared, the default timeout, and a cell budget
/// of a minute — a pool at thousands of connections, which the model predicts to take longer, is skipped with the
/// prediction as its reason.
pub(super) fn io_config(servers: Vec<ServerSpec>, client: Client, hello_ms: u64) -> MatrixConfig {
    MatrixConfig {
        // Names no profile the sweep takes: only `MatrixConfig::cells` reads it, and the sweep makes its own cells.
        profile: ProfileName::Full,
        servers,
        clients: vec![client],
        workloads: vec![Workload::Io],
        // The cells are the sweep's own (`CellSpec`s): the matrix's levels are not used.
        concurrency: vec![],
        io_high_concurrency: vec![],
        blocking_concurrency: vec![],
        requests: None,
        duration: None,
        // Only io's path is sent: D. The others are the matrix's defaults, for the timeout's sake (the longest wait).
        settings: WorkloadSettings { hello_ms, block_ms: 200, fact_n: 2000 },
        repeat: 1,
        keep_alive: true,
        timeout: None,
        cpus: CpuPlacement::Shared { cpus: harness::process::allowed_cpus() },
        server_threads: None,
        strict: false,
        cell_budget: Duration::from_secs(60),
    }
}

/// A count no sweep uses, replaced by a placeholder in the text of a command line.
pub(super) const MARK: u64 = 987_654_321;

/// The io client's command for a sweep: one request per connection, `MARK` requests and connections (and
/// `warmup` warm-up requests), for the caller to turn into placeholders.
pub(super) fn marked_command(config: &MatrixConfig, client: &Client, bin_dir: &Path, warmup: u64) -> Command {
    let args = ClientArgs {
        client,
        urls: Workload::Io.paths(&config.settings).iter().map(|p| format!("http://127.0.0.1:PORT{p}")).collect(),
        requests: MARK,
        concurrency: MARK,
        warmup,
        timeout: config.client_timeout(),
        keep_alive: true,
    };
    args.command(bin_dir)
}

/// The client's command line with `PORT` and `C` (the level) as placeholders.
fn client_command(config: &MatrixConfig, client: &Client, bin_dir: &Path, warmup: &str) -> String {
    shell_line(&marked_command(config, client, bin_dir, MARK))
        .replace(&format!("--warmup {MARK}"), &format!("--warmup {warmup}"))
        .replace(&MARK.to_string(), "C")
}

/// Runs the cost sweep. No warm-up: the peaks are what is measured, and a round of D each would only lengthen it.
pub fn run(plan: SweepRun) -> SweepPart {
    let client: Client = CLIENT.parse().expect("a known client");
    let servers: Vec<ServerSpec> = plan.servers.iter().map(|s| ServerSpec::Builtin(s.clone())).collect();
    let config = io_config(servers.clone(), client, plan.hello_ms);
    let cells: Vec<CellSpec> = servers
        .iter()
        .flat_map(|server| {
            plan.levels.iter().map(|&c| CellSpec {
                server: server.clone(),
                client,
                workload: Workload::Io,
                concurrency: c,
                requests: c,
                warmup: 0,
                duration: None,
            })
        })
        .collect();
    // One runner per server, so that the kernel's counters can be read around each server's cells.
    let (mut records, mut measured) = (Vec::new(), Vec::new());
    let mut kernel = Vec::new();
    for server in &servers {
        let mut config = config.clone();
        config.servers = vec![server.clone()];
        let mine: Vec<CellSpec> = cells.iter().filter(|c| &c.server == server).cloned().collect();
        let mut runner = plan.runner(&config);
        let before = TcpCounters::read();
        let part = runner.run(&mine);
        let moved = TcpCounters::read().since(&before);
        kernel.push(KernelCounters {
            server: server.name().to_string(),
            listen_overflows: moved.listen_overflows,
            listen_drops: moved.listen_drops,
            syncookies_sent: moved.syncookies_sent,
        });
        records.extend(part.servers);
        measured.extend(part.cells);
    }
    let run = Run { servers: records.clone(), cells: measured.clone(), ..Run::default() };
    let per_connection = fit::per_connection(&run);
    let any_ok = measured.iter().any(Cell::is_ok);
    let head = SweepHead {
        client: client.label(),
        hello_ms: plan.hello_ms,
        levels: plan.levels.to_vec(),
        client_command: client_command(&config, &client, plan.bin_dir, "0"),
        ..SweepHead::default()
    };
    let mut part = SweepPart { head, servers: records, cells: measured, per_connection, kernel };
    part.finish(any_ok);
    part
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_command_names_its_placeholders() {
        let client = CLIENT.parse().unwrap();
        let line = client_command(&io_config(vec![], client, 2000), &client, Path::new("/b"), "0");
        assert!(line.starts_with("/b/async-client --url 'http://127.0.0.1:PORT/say/hello?name=lab&ms=2000'"), "{line}");
        assert!(
            line.contains(" -n C -c C ") && line.contains("--warmup 0") && line.ends_with("--engine lean"),
            "{line}"
        );
    }
}
