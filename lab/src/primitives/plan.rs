//! What `lab primitives` measures: every primitive timed (create and join, a switch), the units held idle for
//! memory, the experiments that test a hypothesis about a figure, and the published figure each is compared
//! with. The plan the command runs and its writers label, in one place.

use crate::records::primitives::Measure;

/// A primitive that differs from its published figure by more than this factor either way is flagged.
pub const ANCHOR_FACTOR: f64 = 2.0;

/// Where the published figures come from.
pub const CONTEXT_SWITCH: &str = "jimblandy/context-switch (README: Rust async vs Linux threads, 2020)";
pub const KERNEL_STACK_SOURCE: &str = "Linux x86-64 THREAD_SIZE (arch/x86/include/asm/page_64_types.h): 16 KiB";

/// One subject of a timing: the `primitive` binary's word for it, what it is in a sentence, and the published
/// figure it is compared with (ns), if any.
pub struct Subject {
    pub measure: Measure,
    pub word: &'static str,
    pub what: &'static str,
    pub anchor_ns: Option<f64>,
}

/// Everything timed, in the order of the tables.
pub const SUBJECTS: [Subject; 14] = [
    Subject { measure: Measure::Create, word: "thread", what: "an OS thread", anchor_ns: Some(17_000.0) },
    Subject { measure: Measure::Create, word: "tokio-task", what: "a tokio task", anchor_ns: Some(300.0) },
    Subject { measure: Measure::Create, word: "smol-task", what: "a smol task", anchor_ns: Some(300.0) },
    Subject {
        measure: Measure::Create,
        word: "async-std-task",
        what: "an async-std task (global executor)",
        anchor_ns: Some(300.0),
    },
    Subject {
        measure: Measure::Create,
        word: "smol-task-from-task",
        what: "a smol task, created by a task",
        anchor_ns: Some(300.0),
    },
    Subject {
        measure: Measure::Create,
        word: "async-std-task-from-task",
        what: "an async-std task, created by a task",
        anchor_ns: Some(300.0),
    },
    Subject {
        measure: Measure::Create,
        word: "coroutine",
        what: "a may coroutine (64 KiB stack), created by a coroutine",
        anchor_ns: None,
    },
    Subject {
        measure: Measure::Switch,
        word: "thread-condvar",
        what: "two threads, a condition variable (futex)",
        anchor_ns: Some(1_700.0),
    },
    Subject {
        measure: Measure::Switch,
        word: "thread-pipe",
        what: "two threads, a pipe each way",
        anchor_ns: Some(1_700.0),
    },
    Subject {
        measure: Measure::Switch,
        word: "tokio-channel",
        what: "two tokio tasks on one thread, a channel",
        anchor_ns: Some(200.0),
    },
    Subject {
        measure: Measure::Switch,
        word: "smol-channel",
        what: "two smol tasks on one thread, a channel",
        anchor_ns: Some(200.0),
    },
    Subject {
        measure: Measure::Switch,
        word: "smol-channel-tasks",
        what: "two smol tasks on one thread, a channel, neither of them `block_on`'s future",
        anchor_ns: Some(200.0),
    },
    Subject {
        measure: Measure::Switch,
        word: "coroutine-channel",
        what: "two may coroutines on one worker, a channel",
        anchor_ns: None,
    },
    Subject {
        measure: Measure::Switch,
        word: "smol-socketpair",
        what: "two smol tasks on one thread, woken by epoll through a socket pair",
        // The published finding: woken through I/O readiness, tasks converge on the threads' figure.
        anchor_ns: Some(1_700.0),
    },
];

/// Experiments run beside the figures they question: the same primitive measured two ways in the same rounds.
/// Each says what it tests; the run's figures decide whether the hypothesis held.
pub struct Experiment {
    pub measure: Measure,
    /// The figure questioned, and the variant that removes one suspected cost.
    pub baseline: &'static str,
    pub variant: &'static str,
    /// The suspected cost, as a hypothesis.
    pub hypothesis: &'static str,
}

/// The hypothesis holds where the variant is at least this many times cheaper than the baseline.
pub const EXPERIMENT_FACTOR: f64 = 2.0;

pub const EXPERIMENTS: [Experiment; 3] = [
    Experiment {
        measure: Measure::Create,
        baseline: "smol-task",
        variant: "smol-task-from-task",
        hypothesis: "the time goes to waking the future `block_on` drives (the creator, not a task of the executor), \
                     not to the task",
    },
    Experiment {
        measure: Measure::Create,
        baseline: "async-std-task",
        variant: "async-std-task-from-task",
        hypothesis: "the time goes to handing the task to an executor thread and waking the main thread, which a \
                     task on a worker thread does not need",
    },
    Experiment {
        measure: Measure::Switch,
        baseline: "smol-channel",
        variant: "smol-channel-tasks",
        hypothesis: "the time goes to waking `block_on`'s future at every hand-off, not to the channel",
    },
];

/// Units held idle for the memory part, with the published user-space figure (KiB per unit), if any.
pub const MEMORY_UNITS: [(&str, &str, Option<f64>); 5] = [
    ("thread", "an idle OS thread (blocked on a condition variable)", Some(9.5)),
    ("tokio-task", "an idle tokio task (pending on a channel)", Some(0.4)),
    ("smol-task", "an idle smol task (pending on a channel)", Some(0.4)),
    ("async-std-task", "an idle async-std task (pending on a channel)", Some(0.4)),
    ("coroutine", "an idle may coroutine (64 KiB stack, parked on a channel)", None),
];

/// The published kernel figure per thread (KiB): the kernel stack.
pub const KERNEL_STACK_ANCHOR_KIB: f64 = 16.0;
