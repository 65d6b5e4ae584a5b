//! The lab's clients: the original article's experiment seen from the client side, and the lab's load
//! generators.
//!
//! Three binaries, three ways to have requests in flight:
//! - `blocking-client`: one thread, one request at a time ([`blocking`], ureq);
//! - `pool-client`: `-c` threads, one request each ([`blocking`] on a rayon pool);
//! - `async-client`: `-c` requests in flight on a few threads ([`runner`]), through surf ([`surf_engine`], the
//!   library under comparison) or the lean engine ([`lean`], the lab's instrument for raw throughput);
//!   `--processes P` runs P copies of it as child processes ([`processes`]).
//!
//! Every worker records into its own [`recorder::Recorder`]; the merged result becomes a
//! [`report::ClientReport`], printed by [`export`] as JSON or as the article's human output. [`cost`] measures
//! what a process costs — the client itself, and (for the lab) the servers.
//!
//! The layers run one way: [`outcome`] (what became of a request) under [`recorder`] under [`report`] under
//! [`export`]; [`phase`] (one phase of a run, and the trait of what runs it) under both [`runner`]'s tasks and the
//! lean engine's event loop; [`async_process`] (one process's share) under both [`async_client`] and
//! [`processes`].
//!
//! Every client can also run open-loop (`--rate`, [`schedule`]): requests leave on a fixed schedule and latency
//! counts from when each was due. Reports carry their latency histograms ([`histogram`]), so that reports of
//! several processes or machines merge exactly ([`merge`]).

pub mod async_client;
pub mod async_process;
pub mod blocking;
pub mod cli;
pub mod cost;
pub mod export;
pub mod histogram;
pub mod lean;
pub mod merge;
pub mod outcome;
pub mod phase;
pub mod processes;
pub mod recorder;
pub mod report;
pub mod runner;
pub mod schedule;
pub mod surf_engine;
