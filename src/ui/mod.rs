//! Presentation: error and warning lines, tables, and the machine-readable
//! formats behind `--output`. Data goes to stdout; everything else to
//! stderr.

pub mod progress;
mod table;

pub use table::Table;

use crate::config::Config;
use crate::error::Error;
use serde::Serialize;
use std::io::{IsTerminal, Write};

/// Output format of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Table,
    Json,
    Yaml,
}

fn styled(cfg: &Config, code: &str, text: &str) -> String {
    if cfg.color_allowed() && std::io::stderr().is_terminal() {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// Whether `c` would do something to a terminal rather than show: C0 and
/// C1 controls (escape sequences start with ESC or CSI), DEL, and the
/// bidirectional overrides that reorder what a line shows.
fn is_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn escape_with(text: &str, keep_newlines: bool) -> std::borrow::Cow<'_, str> {
    let keep = |c: char| keep_newlines && (c == '\n' || c == '\t');
    if !text.chars().any(|c| is_control(c) && !keep(c)) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !is_control(c) || keep(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Text a plugin, a server or a file supplied, made safe to print on one
/// line: every control character (newlines included) is shown escaped
/// (`\x1b`, `\n`), so it can neither drive the terminal nor forge a line.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    escape_with(text, false)
}

/// [`escape`] for text that may span lines (a stderr tail, a report):
/// newlines and tabs stay, every other control character is escaped.
pub fn escape_lines(text: &str) -> std::borrow::Cow<'_, str> {
    escape_with(text, true)
}

/// `warning: …` on stderr.
pub fn warn(cfg: &Config, message: &str) {
    progress::suspend(|| {
        let _ = writeln!(
            std::io::stderr().lock(),
            "{} {}",
            styled(cfg, "1;33", "warning:"),
            escape_lines(message)
        );
    });
}

/// `error: …`, its causes and its hint, on stderr.
pub fn print_error(cfg: &Config, err: &Error) {
    let mut out = String::new();
    out.push_str(&styled(cfg, "1;31", "error:"));
    out.push(' ');
    out.push_str(&escape_lines(err.message()));
    out.push('\n');
    for cause in err.causes() {
        for (i, line) in escape_lines(cause).lines().enumerate() {
            if i == 0 {
                out.push_str("  caused by: ");
            } else {
                out.push_str("    ");
            }
            out.push_str(line);
            out.push('\n');
        }
    }
    for hint in err.hints() {
        out.push_str(&styled(cfg, "1;36", "hint:"));
        out.push(' ');
        out.push_str(&escape_lines(hint));
        out.push('\n');
    }
    let _ = std::io::stderr().lock().write_all(out.as_bytes());
}

/// Write `value` as JSON or YAML to stdout (through [`print_stdout`]).
pub fn emit<T: Serialize>(format: Format, value: &T) -> std::io::Result<()> {
    let text = match format {
        Format::Json => {
            let mut t = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
            t.push('\n');
            t
        }
        Format::Yaml => serde_yaml::to_string(value).map_err(std::io::Error::other)?,
        Format::Table => unreachable!("tables are rendered by each command"),
    };
    print_stdout(&text)
}

/// Write text to stdout, treating a closed pipe (`kplug plugin list | head`)
/// as success.
pub fn print_stdout(text: &str) -> std::io::Result<()> {
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

/// The candidate closest to `word`, if it is close enough to be a typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

/// Levenshtein distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(escape("plain text"), "plain text");
        assert_eq!(escape("a\x1b[2Jb"), "a\\x1b[2Jb");
        assert_eq!(escape("row\nforged"), "row\\nforged");
        assert_eq!(escape("\u{9b}31m"), "\\x9b31m");
        assert_eq!(escape("\u{202e}txt.exe"), "\\u{202e}txt.exe");
        assert_eq!(escape_lines("one\ntwo\x07"), "one\ntwo\\x07");
        // Idempotent: an escaped text has nothing left to escape.
        let once = escape("\x1b]0;title\x07").into_owned();
        assert_eq!(escape(&once), once);
    }

    #[test]
    fn suggestions() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(did_you_mean("helo", ["hello", "plugin"]), Some("hello"));
        assert_eq!(did_you_mean("plugn", ["hello", "plugin"]), Some("plugin"));
        assert_eq!(did_you_mean("zzz", ["hello", "plugin"]), None);
    }
}
