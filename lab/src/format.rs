//! How numbers are written for people: one place, so the markdown, the narrative, progress lines and
//! comparisons all print the same figure the same way (and tests can check the markdown against the JSON).

/// Seconds: `1.02 s`, `0.205 s`, `12.3 ms` below 0.1 s.
pub fn seconds(s: f64) -> String {
    if s >= 10.0 {
        format!("{s:.1} s")
    } else if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 0.1 {
        format!("{s:.3} s")
    } else {
        format!("{:.1} ms", s * 1000.0)
    }
}

/// Microseconds as a duration: `850 µs`, `12.3 ms`, `1.02 s`.
pub fn micros(us: f64) -> String {
    if us >= 100_000.0 {
        seconds(us / 1e6)
    } else if us >= 1000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

/// Requests per second: `12,345 req/s`, `9.8 req/s`.
pub fn rate(rps: f64) -> String {
    if rps >= 100.0 {
        format!("{} req/s", thousands(rps.round() as u64))
    } else {
        format!("{rps:.1} req/s")
    }
}

/// KiB as `812 KiB`, `12.3 MiB`, `1.20 GiB`.
pub fn kib(k: u64) -> String {
    let k = k as f64;
    if k >= 1024.0 * 1024.0 {
        format!("{:.2} GiB", k / 1024.0 / 1024.0)
    } else if k >= 1024.0 {
        format!("{:.1} MiB", k / 1024.0)
    } else {
        format!("{k:.0} KiB")
    }
}

/// A per-unit memory figure: `0.46 KiB`, `31.2 KiB`.
pub fn kib_per(k: f64) -> String {
    if k.abs() >= 10.0 {
        format!("{k:.1} KiB")
    } else {
        format!("{k:.2} KiB")
    }
}

/// A ratio: `4.9×`, `1.00×`.
pub fn factor(x: f64) -> String {
    if x >= 10.0 {
        format!("{x:.0}×")
    } else if x >= 2.0 {
        format!("{x:.1}×")
    } else {
        format!("{x:.2}×")
    }
}

/// `1 thread`, `2 threads`: a count and its noun, plural when it is not one.
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Percent with no decimals: `7 %`.
pub fn percent(fraction: f64) -> String {
    format!("{:.0} %", fraction * 100.0)
}

/// Three significant figures: `2.91`, `95.2`, `1234`.
pub fn significant(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(seconds(1.0234), "1.02 s");
        assert_eq!(seconds(0.2051), "0.205 s");
        assert_eq!(seconds(0.0123), "12.3 ms");
        assert_eq!(seconds(10.04), "10.0 s");
        assert_eq!(micros(850.2), "850 µs");
        assert_eq!(micros(12_345.0), "12.3 ms");
        assert_eq!(micros(1_020_000.0), "1.02 s");
        assert_eq!(rate(12345.4), "12,345 req/s");
        assert_eq!(rate(9.81), "9.8 req/s");
        assert_eq!(kib(812), "812 KiB");
        assert_eq!(kib(12_595), "12.3 MiB");
        assert_eq!(factor(4.93), "4.9×");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
