//! Seeded, reproducible fuzzing without a framework: a small generator and a loop over numbered cases.
//!
//! The HTTP/1 parsers' fuzz targets (the lean client's response framing, lean-server's request framing) build
//! their inputs from a model of the protocol with [`Rng`], and check the parser against that model. Case `i`
//! uses seed `i`, so a run is the same everywhere; a failure names its seed, and `LEAN_FUZZ_SEED=n` re-runs
//! that one case, `LEAN_FUZZ_CASES=n` a longer campaign.

use std::panic::{self, AssertUnwindSafe};

/// splitmix64 (Steele, Lea and Flood): small, seedable, good enough to pick shapes.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability 1 in `n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }

    /// `bytes` cut at random points: what successive `read`s could return.
    pub fn pieces(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = match self.below(4) {
                0 => 1,
                1 => 1 + self.below(8),
                2 => 1 + self.below(64),
                _ => rest.len(),
            }
            .min(rest.len());
            out.push(rest[..n].to_vec());
            rest = &rest[n..];
        }
        out
    }

    /// 1 to 4 random edits (flip a bit, insert one of `sharp`, delete a byte).
    pub fn mutate(&mut self, bytes: &mut Vec<u8>, sharp: &[u8]) {
        for _ in 0..1 + self.below(4) {
            let at = self.below(bytes.len() + 1);
            match self.below(3) {
                0 if at < bytes.len() => bytes[at] ^= 1 << self.below(8),
                1 => bytes.insert(at, self.pick(sharp)),
                _ if at < bytes.len() => {
                    bytes.remove(at);
                }
                _ => {}
            }
        }
    }
}

/// `body` as a chunked message body (RFC 9112 §7.1): chunks of 1–40 bytes with sizes in lower, upper or
/// zero-padded hex, a chunk extension from `extensions` on about a third of them (§7.1.1), a last chunk, up to
/// two trailer fields from `trailers` (§7.1.2), and the final CRLF. Both lean parsers' fuzz targets frame
/// bodies with it; each passes the extensions and trailers its parser must accept.
pub fn chunked(rng: &mut Rng, body: &[u8], extensions: &[&str], trailers: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let n = 1 + rng.below(rest.len().min(40));
        let size = match rng.below(3) {
            0 => format!("{n:x}"),
            1 => format!("{n:X}"),
            _ => format!("{n:04x}"),
        };
        out.extend_from_slice(size.as_bytes());
        if rng.one_in(3) {
            out.extend_from_slice(rng.pick(extensions).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&rest[..n]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[n..];
    }
    out.extend_from_slice(rng.pick(&["0\r\n", "000\r\n", "0;last=1\r\n"]).as_bytes());
    for _ in 0..rng.below(3) {
        out.extend_from_slice(rng.pick(trailers).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Runs `property` for cases `0..LEAN_FUZZ_CASES` (default `default_cases`), or for the one `LEAN_FUZZ_SEED`
/// names, and panics naming the seed of the first case that fails (an `Err` or a panic) and how to re-run it.
pub fn for_each_case(name: &str, default_cases: u64, property: impl Fn(&mut Rng) -> Result<(), String>) {
    let env = |key: &str| {
        std::env::var(key).ok().map(|v| v.parse::<u64>().unwrap_or_else(|_| panic!("{key} is not a number: {v}")))
    };
    let seeds: Vec<u64> = match env("LEAN_FUZZ_SEED") {
        Some(seed) => vec![seed],
        None => (0..env("LEAN_FUZZ_CASES").unwrap_or(default_cases)).collect(),
    };
    for seed in seeds {
        let problem = match panic::catch_unwind(AssertUnwindSafe(|| property(&mut Rng::new(seed)))) {
            Ok(Ok(())) => continue,
            Ok(Err(problem)) => problem,
            Err(panic) => {
                let text = panic.downcast_ref::<String>().cloned();
                format!(
                    "panicked: {}",
                    text.or(panic.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
                )
            }
        };
        panic!("{name}: seed {seed}: {problem}\nre-run this case alone with LEAN_FUZZ_SEED={seed}");
    }
}

/// Bytes shown as escaped ASCII, for failure messages.
pub fn show(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}
