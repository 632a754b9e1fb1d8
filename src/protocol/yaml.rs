//! Reading YAML that someone else wrote (a plugin's INFO, a server's
//! contract, a state file) within bounds.
//!
//! The YAML parser takes time quadratic in the nesting depth of flow
//! collections (`[[[[…]]]]`): a megabyte of brackets would run for hours.
//! Documents kplug reads are shallow, so nesting is counted first, in one
//! linear pass, and a document nested deeper than [`MAX_DEPTH`] is refused
//! before the parser sees it. (Block nesting needs indentation, which a
//! size-capped document cannot afford deeply enough to matter.)

/// Deepest flow nesting accepted.
pub const MAX_DEPTH: usize = 64;

/// Refuse `text` if its flow collections nest deeper than `max`. Quoted
/// scalars and comments are skipped, so brackets inside them do not count.
pub fn check_depth(text: &str, max: usize) -> Result<(), String> {
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    let mut bytes = text.bytes().peekable();
    let mut prev = b'\n';
    while let Some(b) = bytes.next() {
        match quote {
            Some(b'"') if b == b'\\' => {
                bytes.next();
                continue;
            }
            Some(q) if b == q => {
                // `''` inside a single-quoted scalar is an escaped quote.
                if q == b'\'' && bytes.peek() == Some(&b'\'') {
                    bytes.next();
                } else {
                    quote = None;
                }
            }
            Some(_) => {}
            None => match b {
                b'"' | b'\'' => quote = Some(b),
                b'#' if prev == b' ' || prev == b'\t' || prev == b'\n' => {
                    for c in bytes.by_ref() {
                        if c == b'\n' {
                            break;
                        }
                    }
                    prev = b'\n';
                    continue;
                }
                b'[' | b'{' => {
                    depth += 1;
                    if depth > max {
                        return Err(format!(
                            "nests collections more than {max} deep; refusing to parse it"
                        ));
                    }
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        prev = b;
    }
    Ok(())
}

/// Parse `text` as `T`, refusing it first if it nests too deep.
pub fn from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    check_depth(text, MAX_DEPTH)?;
    serde_yaml::from_str(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_flow_nesting_is_refused_before_parsing() {
        let deep = format!("a: {}{}", "[".repeat(500_000), "]".repeat(500_000));
        let t = std::time::Instant::now();
        let e = from_str::<serde_yaml::Value>(&deep).unwrap_err();
        assert!(e.contains("more than 64 deep"), "{e}");
        // Linear: well under what parsing would take (minutes).
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
        assert!(check_depth(&format!("{}{}", "{".repeat(64), "}".repeat(64)), 64).is_ok());
        assert!(check_depth(&format!("{}{}", "{".repeat(65), "}".repeat(65)), 64).is_err());
    }

    #[test]
    fn brackets_in_quotes_and_comments_do_not_count() {
        let doc = format!(
            "a: \"{0}\"\nb: '{0}'\nc: x # {0}\nd: 'it''s {0}'\ne: \"\\\"{0}\"\n",
            "[".repeat(100)
        );
        assert!(check_depth(&doc, 4).is_ok(), "{doc}");
        let v: serde_yaml::Value = from_str(&doc).unwrap();
        assert_eq!(v["c"], serde_yaml::Value::from("x"));
    }
}
