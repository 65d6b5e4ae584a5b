//! Order statistics of small samples: the median of repetitions and rounds, quantiles of probe latencies and
//! connection lifetimes.

/// The value at quantile `q` (0 ≤ q ≤ 1) of an ascending slice, by nearest rank: the smallest value with at least
/// a fraction `q` of the sample at or below it. None for an empty slice.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// The median of `values` in any order (the mean of the middle two for an even count); None when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The index of the median item of `len` sorted items that must be one of them (a repetition that was
/// measured, not an average of two): the lower middle one for an even count.
pub fn median_index(len: usize) -> usize {
    len.saturating_sub(1) / 2
}

/// Where, in `values` as given, the median item is: a value that was measured (the lower middle one for an even
/// count), so that the record it belongs to can be kept whole. None when empty.
pub fn median_position(values: &[f64]) -> Option<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    order.get(median_index(order.len())).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        // Nearest rank on 1..=10: p50 is the 5th value, p90 the 9th, p99 the 10th, p0 the first.
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), Some(5.0));
        assert_eq!(quantile(&v, 0.9), Some(9.0));
        assert_eq!(quantile(&v, 0.99), Some(10.0));
        assert_eq!(quantile(&v, 0.0), Some(1.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        // 1 item: the only one; 2: the lower; 3: the middle; 4: the lower middle.
        assert_eq!([1, 2, 3, 4].map(median_index), [0, 0, 1, 1]);
    }
}
