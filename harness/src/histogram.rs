//! Latency histograms as text: HdrHistogram's V2 encoding (deflate-compressed), in base64.
//!
//! A percentile cannot be averaged: the p99 of two runs is not the mean of their p99s. So a report carries its
//! whole histogram, in the encoding every HdrHistogram implementation reads (Java's `HistogramLogReader`,
//! HdrHistogram's plotter, the `hdrhistogram` crate), and reports made by several client processes or machines
//! are merged by adding their histograms bucket by bucket: the merged percentiles are exactly those of one run
//! with all the requests ([`crate::merge`]).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

use crate::report::Latency;

/// Significant decimal digits kept by the latency histograms (0.1 % resolution).
pub const SIGFIG: u8 = 3;

/// An empty auto-resizing histogram of microseconds, as every recorder starts with.
pub fn new() -> Histogram<u64> {
    Histogram::new(SIGFIG).expect("3 significant figures is a valid histogram")
}

/// `histogram` in HdrHistogram's V2 deflate encoding, base64 (standard alphabet, padded).
pub fn encode(histogram: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    // Serializing into a Vec can only fail on a histogram too large for the format's 32-bit lengths, which an
    // auto-resizing histogram of microseconds (at most 2^63) never reaches.
    V2DeflateSerializer::new().serialize(histogram, &mut bytes).expect("a latency histogram serializes");
    STANDARD.encode(bytes)
}

/// The histogram encoded by [`encode`] (or by any HdrHistogram V2 serializer, compressed or not), as an
/// auto-resizing histogram so that others can be added to it.
pub fn decode(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = STANDARD.decode(text.trim()).map_err(|e| format!("the histogram is not base64 ({e})"))?;
    let decoded: Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("the histogram is not an HdrHistogram V2 encoding ({e:?})"))?;
    let mut histogram = new();
    histogram.add(&decoded).map_err(|e| format!("the histogram cannot be merged ({e:?})"))?;
    Ok(histogram)
}

/// The report's latency summary of a histogram of microseconds; all zeros when it is empty.
pub fn summary(h: &Histogram<u64>) -> Latency {
    if h.is_empty() {
        return Latency::default();
    }
    Latency {
        min: h.min(),
        mean: h.mean(),
        p50: h.value_at_quantile(0.50),
        p90: h.value_at_quantile(0.90),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        max: h.max(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_every_bucket() {
        let mut h = new();
        for us in [1u64, 17, 999, 12_345, 1_234_567, 98_765_432] {
            h.record_n(us, us % 7 + 1).unwrap();
        }
        let back = decode(&encode(&h)).unwrap();
        assert_eq!(back, h);
        assert_eq!(summary(&back), summary(&h));
        assert_eq!(decode(&encode(&new())).unwrap().len(), 0);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(decode("not base64!").unwrap_err().contains("base64"));
        assert!(decode("aGVsbG8gd29ybGQ=").unwrap_err().contains("V2"));
    }
}
