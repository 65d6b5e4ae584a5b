//! The header every document of the lab starts with (`RunHeader`, flattened into the top level of the JSON): the
//! run id, the times, the build, the machine and the code (`Environment`), where servers and clients ran
//! (`CpuPlacement`) and the machine's speed at the start and the end (`Calibration`).
//!
//! Only the records: `session` fills the header, `env` and `limits` read the machine, `calibration` runs the
//! probes, `plan` parses `--cpus`.

pub use harness::calibrate::{Measures, Probe, Samples};
use serde::{Deserialize, Serialize};

/// The fields every run document starts with (flattened into it: the JSON keeps them at the top level).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunHeader {
    pub schema_version: u32,
    /// What wrote the document: `matrix`, `soak`, `bench`, `slowloris`, `capacity` or `primitives` (absent from matrix
    /// runs written before it was added: see [`RunHeader::kind`]).
    #[serde(default, rename = "kind", skip_serializing_if = "Option::is_none")]
    pub written_by: Option<RunKind>,
    /// UTC start time plus short git commit, e.g. `20261126T150102Z-1a2b3c4`; names every file of the run.
    pub run_id: String,
    /// RFC 3339 start and end of the run (builds excluded).
    pub started_at: String,
    pub finished_at: String,
    /// Which cargo profile built the measured binaries: `release`, `debug` or `unknown`. Debug numbers say so.
    pub build: Build,
    /// Where the server and client binaries were taken from.
    pub bin_dir: String,
    pub environment: Environment,
    /// True when Ctrl-C (or SIGTERM) stopped the run: what was not reached is `skipped` or `not-run`.
    pub interrupted: bool,
    /// Where the servers and the clients ran (matrix and soak): split onto CPU sets of their own, or shared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<CpuPlacement>,
    /// Anything the reader must know that has no field of its own.
    #[serde(default)]
    pub notes: Vec<String>,
    /// The machine's speed at the start and at the end of the run (`lab/src/calibration.rs`); absent from runs made
    /// before the lab calibrated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
}

impl RunHeader {
    /// The command that wrote the document; a document without a `kind` is a matrix run written before it had one.
    pub fn kind(&self) -> RunKind {
        self.written_by.unwrap_or(RunKind::Matrix)
    }
}

word_enum! {
    /// The command that wrote a document (the header's `kind`).
    RunKind {
        #[default]
        Matrix = "matrix",
        Soak = "soak",
        Bench = "bench",
        Slowloris = "slowloris",
        Capacity = "capacity",
        Primitives = "primitives",
    }
}

impl RunKind {
    /// What its files' names start with: nothing for a matrix run or a soak (`RUN-ID.json`, `latest.md`), else
    /// the kind (`bench-RUN-ID.json`, `bench-latest.md`).
    pub fn file_prefix(self) -> &'static str {
        match self {
            RunKind::Matrix | RunKind::Soak => "",
            RunKind::Bench => "bench-",
            RunKind::Slowloris => "slowloris-",
            RunKind::Capacity => "capacity-",
            RunKind::Primitives => "primitives-",
        }
    }
}

word_enum! {
    /// The cargo profile that built the measured binaries: the name of their directory (`target/release`).
    Build {
        Release = "release",
        Debug = "debug",
        /// A directory named otherwise: the lab cannot tell.
        #[default]
        Unknown = "unknown",
    }
}

/// The machine and the code that produced the numbers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Environment {
    pub cpu_model: String,
    pub cpu_count: u64,
    pub memory_kib: u64,
    pub kernel: String,
    pub os: String,
    pub hostname: String,
    pub rustc: String,
    pub git_commit: String,
    pub git_dirty: bool,
    /// The git tree hashes of the code that ran (`servers/`, `clients/`, `harness/`) at `git_commit`: two runs
    /// measured the same code exactly when these match and neither tree was dirty. Absent in runs made before
    /// the lab recorded them, or outside git.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trees: Option<CodeTrees>,
    /// The exact command line of the lab.
    pub command_line: Vec<String>,
    pub limits: Limits,
}

/// The git tree hash of each part of the code a measurement depends on (`git rev-parse HEAD:servers`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeTrees {
    pub servers: String,
    pub clients: String,
    pub harness: String,
}

impl CodeTrees {
    /// The first part whose tree differs from `other`'s, if any.
    pub fn first_difference(&self, other: &CodeTrees) -> Option<&'static str> {
        [
            ("servers", &self.servers, &other.servers),
            ("clients", &self.clients, &other.clients),
            ("harness", &self.harness, &other.harness),
        ]
        .into_iter()
        .find(|(_, a, b)| a != b)
        .map(|(part, _, _)| part)
    }
}

/// The system limits that cap concurrency, read at the start of the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Limits {
    /// RLIMIT_NOFILE soft limit before the lab raised it, and after (the hard limit).
    pub nofile_soft_before: u64,
    pub nofile_soft: u64,
    pub nofile_hard: u64,
    /// net.core.somaxconn: the cap on a listen backlog.
    pub somaxconn: Option<u64>,
    /// net.ipv4.ip_local_port_range size: outgoing connections to one address:port.
    pub ephemeral_ports: Option<u64>,
    /// kernel.threads-max, kernel.pid_max, vm.max_map_count and RLIMIT_NPROC: the caps on threads.
    pub threads_max: Option<u64>,
    pub pid_max: Option<u64>,
    pub max_map_count: Option<u64>,
    pub nproc_soft: Option<u64>,
}

/// Where the server and the client run (`--cpus`): on CPU sets of their own, so that a cell's throughput is
/// the server's and not the machine's, or shared (both on every CPU, as before).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "placement")]
pub enum CpuPlacement {
    Shared { cpus: Vec<usize> },
    Split { server: Vec<usize>, client: Vec<usize> },
}

impl CpuPlacement {
    /// The server's CPUs.
    pub fn server(&self) -> &[usize] {
        match self {
            CpuPlacement::Shared { cpus } => cpus,
            CpuPlacement::Split { server, .. } => server,
        }
    }

    /// The client's CPUs.
    pub fn client(&self) -> &[usize] {
        match self {
            CpuPlacement::Shared { cpus } => cpus,
            CpuPlacement::Split { client, .. } => client,
        }
    }

    /// The CPUs to pin the server and the client to; None when shared (nothing to apply).
    pub fn pins(&self) -> Option<(&[usize], &[usize])> {
        match self {
            CpuPlacement::Shared { .. } => None,
            CpuPlacement::Split { server, client } => Some((server, client)),
        }
    }
}

impl std::fmt::Display for CpuPlacement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use harness::process::cpu_list;
        match self {
            CpuPlacement::Shared { cpus } => write!(f, "shared (server and client both on CPUs {})", cpu_list(cpus)),
            CpuPlacement::Split { server, client } => {
                write!(f, "server on CPU {}, client on CPU {}", cpu_list(server), cpu_list(client))
            }
        }
    }
}

/// How one probe moved from the start of the run to its end.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    pub probe: Probe,
    /// End median ÷ start median (> 1: the machine was slower at the end).
    pub factor: f64,
    /// Whether the noise rule calls start and end different.
    pub beyond_noise: bool,
}

/// The calibration of a run, in its header: the machine's details /proc and /sys expose, the probes at the start
/// and at the end, and the drift between them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// `microcode` of /proc/cpuinfo, when the machine exposes it.
    #[serde(default)]
    pub microcode: Option<String>,
    /// The CPU frequency governor (/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor), when there is one.
    #[serde(default)]
    pub governor: Option<String>,
    pub start: Measures,
    /// Absent when the run did not reach its end (or wrote its header before it).
    #[serde(default)]
    pub end: Option<Measures>,
    #[serde(default)]
    pub drift: Vec<Drift>,
}

impl Calibration {
    /// The probes that drifted beyond the noise rule.
    pub fn drifted(&self) -> impl Iterator<Item = &Drift> {
        self.drift.iter().filter(|d| d.beyond_noise)
    }

    /// One probe's figures over the whole run (start and end pooled), when it ran.
    pub fn over_run(&self, probe: Probe) -> Option<Samples> {
        let start = self.start.get(probe)?;
        match self.end.as_ref().and_then(|e| e.get(probe)) {
            Some(end) => Some(start.pooled(&end)),
            None => Some(start),
        }
    }
}
