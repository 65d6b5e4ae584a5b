//! Strict parsing of the query string: percent-decoding, UTF-8, repeated and numeric parameters.
//!
//! Lenient parsers turn bad input into surprising behaviour; every server here shares this one so that a
//! malformed query gets the same one-line 400 reason whichever concurrency model runs it.

use std::fmt;

/// A reason a query was rejected: becomes the body of a 400 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest(pub String);

impl fmt::Display for BadRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The decoded `name=value` pairs of one query string, in order.
#[derive(Debug, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Decodes `a=1&b=x%20y`. Rejects bad percent-encoding, non-UTF-8 results and repeated names.
    pub fn parse(raw: &str) -> Result<Query, BadRequest> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for part in raw.split('&').filter(|part| !part.is_empty()) {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            let name = decode(name)?;
            let value = decode(value)?;
            if pairs.iter().any(|(seen, _)| *seen == name) {
                return Err(BadRequest(format!("parameter {name:?} is given more than once")));
            }
            pairs.push((name, value));
        }
        Ok(Query { pairs })
    }

    /// This query and a form body's pairs as one list: a name given in both is given more than once.
    pub fn merged(mut self, form: Query) -> Result<Query, BadRequest> {
        for (name, value) in form.pairs {
            if self.get(&name).is_some() {
                return Err(BadRequest(format!("parameter {name:?} is given more than once")));
            }
            self.pairs.push((name, value));
        }
        Ok(self)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// A required, non-empty text parameter of at most `max_len` bytes.
    pub fn text(&self, name: &str, max_len: usize) -> Result<&str, BadRequest> {
        match self.get(name) {
            None => Err(BadRequest(format!("missing parameter {name:?}"))),
            Some("") => Err(BadRequest(format!("parameter {name:?} is empty"))),
            Some(v) if v.len() > max_len => {
                Err(BadRequest(format!("parameter {name:?} is longer than {max_len} bytes")))
            }
            Some(v) => Ok(v),
        }
    }

    /// An optional whole number in `0..=max`; `default` when absent.
    pub fn number(&self, name: &str, default: Option<u64>, max: u64) -> Result<u64, BadRequest> {
        let Some(raw) = self.get(name) else {
            return default.ok_or_else(|| BadRequest(format!("missing parameter {name:?}")));
        };
        let out_of_range =
            || BadRequest(format!("parameter {name:?} must be a whole number from 0 to {max}, not {raw:?}"));
        if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(out_of_range());
        }
        match raw.parse::<u64>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(out_of_range()),
        }
    }

    /// An optional flag given as `0` or `1`.
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, BadRequest> {
        match self.get(name) {
            None => Ok(default),
            Some("1") => Ok(true),
            Some("0") => Ok(false),
            Some(other) => Err(BadRequest(format!("parameter {name:?} must be 0 or 1, not {other:?}"))),
        }
    }
}

/// Percent-decodes one component (`+` is a space, as in HTML forms); the result must be UTF-8.
fn decode(raw: &str) -> Result<String, BadRequest> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
                match byte {
                    // from_str_radix accepts a leading '+': require two hex digits.
                    Some(b) if hex.is_some_and(|h| h.bytes().all(|c| c.is_ascii_hexdigit())) => out.push(b),
                    _ => return Err(BadRequest(format!("bad percent-encoding in {raw:?}"))),
                }
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| BadRequest(format!("query component {raw:?} is not UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_rejects() {
        let q = Query::parse("name=a%20b+c&n=12").unwrap();
        assert_eq!(q.get("name"), Some("a b c"));
        assert_eq!(q.number("n", None, 20).unwrap(), 12);
        assert!(q.number("n", None, 11).is_err());
        assert!(Query::parse("a=%zz").is_err());
        assert!(Query::parse("a=%4").is_err());
        assert!(Query::parse("a=%+1").is_err());
        assert!(Query::parse("a=%ff").is_err(), "lone 0xff is not UTF-8");
        assert!(Query::parse("a=1&a=2").is_err());
        let q = Query::parse("n=-1&m=1.5&k=99999999999999999999999").unwrap();
        assert!(q.number("n", None, 10).is_err());
        assert!(q.number("m", None, 10).is_err());
        assert!(q.number("k", None, u64::MAX).is_err());
        assert_eq!(q.number("absent", Some(7), 10).unwrap(), 7);
    }

    #[test]
    fn a_form_adds_to_the_query() {
        let both = Query::parse("ms=1").unwrap().merged(Query::parse("name=a+b").unwrap()).unwrap();
        assert_eq!((both.get("ms"), both.get("name")), (Some("1"), Some("a b")));
        let twice = Query::parse("name=a").unwrap().merged(Query::parse("%6Eame=b").unwrap());
        assert_eq!(twice.unwrap_err().0, r#"parameter "name" is given more than once"#);
    }
}
