//! Durations as plugins write them: `500ms`, `30s`, `2m`, `1h`, `1m30s`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::Duration;

/// A hook timeout; serialises in the same human form it is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timeout(pub Duration);

/// The longest duration accepted: a week. Anything longer is a typo or an
/// attack on the arithmetic of deadlines, not a timeout.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Parse a duration of one or more `<number><unit>` parts, unit one of
/// `ms`, `s`, `m`, `h`. Zero is refused (a hook needs some time to run), and
/// so is anything over [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration (write e.g. `30s`, `2m`, `1m30s`)");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let part = match &rest[..unit_len] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total = total.saturating_add(part);
    }
    if total.is_zero() {
        return Err(format!("{text:?} is zero; a timeout must be positive"));
    }
    if total > MAX_DURATION {
        return Err(format!(
            "{text:?} is longer than a week (168h), the longest timeout kplug accepts"
        ));
    }
    Ok(total)
}

/// The shortest human form of a duration: `1m30s`, `500ms`, `2h`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let (h, rem) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rem) = (rem / 60_000, rem % 60_000);
    let (s, ms) = (rem / 1000, rem % 1000);
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s"), (ms, "ms")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

impl Serialize for Timeout {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Timeout {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text)
            .map(Timeout)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
    }

    #[test]
    fn refuses_nonsense() {
        for t in ["", "30", "s", "3x", "-1s", "1.5s", "0s", "30 s", "1m 30s"] {
            assert!(parse_duration(t).is_err(), "{t:?} should be refused");
        }
    }

    #[test]
    fn formats_round_trip() {
        for t in ["30s", "2m", "1h", "500ms", "1m30s", "1h1m1s1ms"] {
            assert_eq!(format_duration(parse_duration(t).unwrap()), t);
        }
    }
}
