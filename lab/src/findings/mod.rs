//! Findings: what a run shows, computed once from its cells before any writer formats it — numbers, enums and
//! names, no sentences (the words are `export::prose`'s).
//!
//! - **The original experiment** and its shape check are the run's own analysis (`crate::analysis`, in the
//!   JSON); the findings add the client its "ten at once" column reads.
//! - **Model misses** ([`misses`]): every prediction held against its measurement.
//! - **Like for like** ([`ranking`]): servers in tiers by the noise rule; a model "does best" at a point only
//!   when every one of its servers beats every server of each other model.
//! - **The headline** ([`headline`]): one row per server with its figures and their ratio to the best.
//! - **The narrative's evidence** ([`evidence`]): the pool's bound, thread-per-request's cost beside async, and
//!   what a blocking call did to each server that waits without a thread.
//! - **The claims**: at most four, each a topic with the ranking it rests on (memory reads the headline's fits),
//!   which with the count of model misses make the verdict's five lines.
//!
//! The findings layer reads records, the analysis and the noise rule; it never imports `export`.

pub mod evidence;
pub mod headline;
pub mod misses;
pub mod ranking;

pub use self::headline::{group_of, Group, Headline};
pub use self::misses::{model_misses, ModelMiss, Predictions, MISS_BAND};
pub use self::ranking::{rank, Ranking, Standing};
pub use crate::analysis::SHAPE_TOLERANCE;
pub use crate::fit::FIT_R2_MIN;
pub use crate::noise::{Metric, MIN_EFFECT, SINGLE_RUN_NOISE};
use crate::records::run::{Client, Run, Workload};

/// What a claim is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// `io`: requests that wait, at the headline level.
    Waiting,
    /// `cpu`: a factorial per request, at the headline level.
    CpuWork,
    /// `blocking`: a sleep on the handler's thread, at the headline's blocking level.
    BlockingCall,
    /// Memory and threads per waiting connection, from the headline's fits.
    Memory,
}

/// One measured claim of the verdict: its topic and the ranking it rests on (none for [`Topic::Memory`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub topic: Topic,
    pub ranking: Option<Ranking>,
}

/// Everything the writers format.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Findings {
    /// The concurrent client of the original experiment's "ten at once" (async-client when the run has it).
    pub experiment_client: Option<Client>,
    pub headline: Option<Headline>,
    /// At most four: with the model-miss count, the verdict's five lines.
    pub claims: Vec<Claim>,
    pub predictions: Predictions,
    /// Each workload's servers ranked at its comparison point (the narrative's winners).
    pub rankings: Vec<Ranking>,
    /// The narrative's other evidence ([`evidence`]): the pool's bound, thread-per-request's cost beside async,
    /// and what a blocking call did to each server that waits without a thread.
    pub pool: Option<evidence::PoolBound>,
    pub memory: Option<evidence::MemoryPair>,
    pub stalls: Vec<evidence::Stall>,
}

impl Findings {
    /// The findings of a run.
    pub fn of(run: &Run) -> Findings {
        let headline = headline::headline(run);
        let mut claims = Vec::new();
        if let Some(h) = &headline {
            let at =
                |topic, workload, level| Some(Claim { topic, ranking: Some(rank(run, workload, h.client, level)?) });
            claims.extend(at(Topic::Waiting, Workload::Io, h.level));
            claims.extend(at(Topic::CpuWork, Workload::Cpu, h.level));
            claims.extend(at(Topic::BlockingCall, Workload::Blocking, h.blocking_level));
            if h.rows.iter().any(|r| r.memory.is_some()) {
                claims.push(Claim { topic: Topic::Memory, ranking: None });
            }
        }
        let predictions = model_misses(run);
        Findings {
            experiment_client: crate::analysis::experiment_client(run),
            headline,
            claims,
            stalls: evidence::stalls(run, &predictions.misses),
            predictions,
            rankings: ranking::per_workload(run),
            pool: evidence::pool_bound(run),
            memory: evidence::memory_pair(run),
        }
    }
}
