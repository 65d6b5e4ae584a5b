//! Latency histograms as text (HdrHistogram V2, deflate, base64): the implementation is
//! [`harness::histogram`], shared with `lab merge`.

pub use harness::histogram::*;
