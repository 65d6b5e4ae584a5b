//! The lab's servers: one workload, eight concurrency models.
//!
//! Everything a request *does* lives in [`workload`] (routes, parsing, the factorial, the database); everything
//! about *how requests are run concurrently* lives in the binaries under `src/bin/`. What they share around that
//! — flags, binding, processes, signals, the access log — is in [`cli`], [`net`], [`launch`] and
//! [`access_log`]; [`tiny_http_glue`] adapts the workload to tiny_http for the two thread servers, [`hyper_glue`] to hyper
//! for the three async servers; [`lean`] is the lean server's event loop and its own HTTP/1.1; [`uring`] is the uring
//! server's completion loop on io_uring, and [`coro`] the coroutine server's connections, both on lean's HTTP/1.1.
//! Read two servers side by side: their diff is the lesson.

pub mod access_log;
pub mod blocking_pool;
pub mod cli;
pub mod coro;
pub mod hyper_glue;
pub mod launch;
pub mod lean;
pub mod net;
pub mod process;
pub mod tiny_http_glue;
pub mod uring;
pub mod workload;
