//! Plugin name rules.
//!
//! A name is `^[a-z][a-z0-9-]*$`, at most 64 characters, and may not make a
//! built-in command unreachable: `plugin` and `plugin-foo` are both refused,
//! because `kplug plugin foo` always means the built-in.

use std::fmt;

pub const MAX_LEN: usize = 64;

/// The built-in commands of kplug. A plugin can neither be named one of these
/// nor start with one followed by `-`.
pub const BUILTINS: &[&str] = &[
    "cluster",
    "completion",
    "config",
    "help",
    "hooks",
    "init",
    "plugin",
    "self",
    "version",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    Empty,
    TooLong(usize),
    BadStart(char),
    BadChar(char),
    TrailingDash,
    Builtin(&'static str),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => f.write_str("a plugin name cannot be empty"),
            NameError::TooLong(n) => {
                write!(f, "is {n} characters long; at most {MAX_LEN} are allowed")
            }
            NameError::BadStart(c) => write!(f, "must start with a lowercase letter, not {c:?}"),
            NameError::BadChar(c) => write!(
                f,
                "contains {c:?}; only lowercase letters, digits and `-` are allowed"
            ),
            NameError::TrailingDash => f.write_str("must not end with `-`"),
            NameError::Builtin(b) => write!(f, "would shadow the built-in command `{b}`"),
        }
    }
}

impl std::error::Error for NameError {}

/// Check the syntax of a name (the regex and length), ignoring built-ins.
pub fn check_syntax(name: &str) -> Result<(), NameError> {
    let mut chars = name.chars();
    let first = chars.next().ok_or(NameError::Empty)?;
    if !first.is_ascii_lowercase() {
        return Err(NameError::BadStart(first));
    }
    if let Some(c) = chars.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')) {
        return Err(NameError::BadChar(c));
    }
    if name.len() > MAX_LEN {
        return Err(NameError::TooLong(name.len()));
    }
    if name.ends_with('-') {
        return Err(NameError::TrailingDash);
    }
    Ok(())
}

/// The built-in command a name would shadow, if any.
pub fn shadowed_builtin(name: &str) -> Option<&'static str> {
    BUILTINS.iter().copied().find(|b| {
        name == *b
            || (name.len() > b.len() && name.starts_with(b) && name.as_bytes()[b.len()] == b'-')
    })
}

/// Check a plugin name completely: syntax, then built-in collision.
pub fn validate(name: &str) -> Result<(), NameError> {
    check_syntax(name)?;
    match shadowed_builtin(name) {
        Some(b) => Err(NameError::Builtin(b)),
        None => Ok(()),
    }
}

/// Whether `word` may be one segment of a multi-word plugin command
/// (`kplug a b` → `kplug-a-b`). Cheap: used on the dispatch path.
pub fn is_segment(word: &[u8]) -> bool {
    matches!(word.first(), Some(b'a'..=b'z'))
        && word
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_good_names() {
        for n in ["a", "hello", "k3d-registry", "x1", &"a".repeat(64)] {
            assert_eq!(validate(n), Ok(()), "{n}");
        }
    }

    #[test]
    fn refuses_bad_names() {
        assert_eq!(validate(""), Err(NameError::Empty));
        assert_eq!(validate("Hello"), Err(NameError::BadStart('H')));
        assert_eq!(validate("1a"), Err(NameError::BadStart('1')));
        assert_eq!(validate("-a"), Err(NameError::BadStart('-')));
        assert_eq!(validate("a/b"), Err(NameError::BadChar('/')));
        assert_eq!(validate("../x"), Err(NameError::BadStart('.')));
        assert_eq!(validate("a..b"), Err(NameError::BadChar('.')));
        assert_eq!(validate("a_b"), Err(NameError::BadChar('_')));
        assert_eq!(validate("né"), Err(NameError::BadChar('é')));
        assert_eq!(validate("a-"), Err(NameError::TrailingDash));
        assert_eq!(validate(&"a".repeat(65)), Err(NameError::TooLong(65)));
    }

    #[test]
    fn refuses_builtins_and_their_prefixes() {
        assert_eq!(validate("plugin"), Err(NameError::Builtin("plugin")));
        assert_eq!(validate("plugin-foo"), Err(NameError::Builtin("plugin")));
        assert_eq!(validate("cluster-x"), Err(NameError::Builtin("cluster")));
        assert_eq!(validate("version"), Err(NameError::Builtin("version")));
        // A name merely starting with the same letters is fine.
        assert_eq!(validate("plugins"), Ok(()));
        assert_eq!(validate("helpers"), Ok(()));
    }

    #[test]
    fn segments() {
        assert!(is_segment(b"registry"));
        assert!(is_segment(b"a-b1"));
        assert!(!is_segment(b"--flag"));
        assert!(!is_segment(b"Foo"));
        assert!(!is_segment(b"a/b"));
        assert!(!is_segment(b""));
    }
}
