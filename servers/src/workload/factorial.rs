//! The CPU-bound workload: N! in decimal, memoised in one cache shared by every worker of the process.
//!
//! Shared means a lock: workers contend for it only for the lookup and the insert, never while computing.
//! `cache=0` skips the cache entirely, so the lab can measure pure CPU work.

use num_bigint::BigUint;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The largest N the server accepts: 20000! has 77,338 digits and takes a few milliseconds.
pub const MAX_N: u64 = 20_000;

/// At most this many results are kept, so that a client walking every N cannot grow the cache to gigabytes.
const CACHE_CAPACITY: usize = 1024;

#[derive(Default)]
pub struct FactorialCache {
    /// N → N! in decimal. `Arc` so that a hit clones a pointer under the lock, not 77 KB.
    results: Mutex<HashMap<u64, Arc<str>>>,
}

impl FactorialCache {
    /// N! in decimal, from the cache when `use_cache` and present.
    pub fn get(&self, n: u64, use_cache: bool) -> Arc<str> {
        if !use_cache {
            return factorial(n).into();
        }
        if let Some(hit) = self.results.lock().unwrap().get(&n) {
            return Arc::clone(hit);
        }
        // Computed outside the lock: two workers may compute the same N at once, which is cheaper than
        // making every other N wait behind one computation.
        let value: Arc<str> = factorial(n).into();
        let mut results = self.results.lock().unwrap();
        if results.len() < CACHE_CAPACITY {
            results.insert(n, Arc::clone(&value));
        }
        value
    }
}

/// N! in decimal, by splitting the product in halves so that the big multiplications are balanced.
pub fn factorial(n: u64) -> String {
    fn product(lo: u64, hi: u64) -> BigUint {
        if hi - lo < 16 {
            return (lo..=hi).fold(BigUint::from(1u32), |acc, k| acc * k);
        }
        let mid = lo + (hi - lo) / 2;
        product(lo, mid) * product(mid + 1, hi)
    }
    if n < 2 {
        return "1".to_string();
    }
    product(2, n).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values() {
        assert_eq!(factorial(0), "1");
        assert_eq!(factorial(1), "1");
        assert_eq!(factorial(5), "120");
        assert_eq!(factorial(20), "2432902008176640000");
        assert_eq!(factorial(25), "15511210043330985984000000");
        assert_eq!(factorial(100).len(), 158);
        assert_eq!(factorial(MAX_N).len(), 77_338);
    }

    #[test]
    fn cache_returns_the_same_value() {
        let cache = FactorialCache::default();
        assert_eq!(&*cache.get(30, true), factorial(30));
        assert_eq!(&*cache.get(30, true), factorial(30));
        assert_eq!(&*cache.get(30, false), factorial(30));
    }
}
