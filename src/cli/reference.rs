//! The CLI reference, docs/cli.md, rendered from clap's command tree: every
//! command and subcommand with its usage, description, arguments and
//! options. The text is exactly the `--help` text, so the reference cannot
//! drift from the code (a test compares the file with this rendering).

use clap::{Arg, Command};
use std::fmt::Write;

/// Render `cmd` and all its visible subcommands as Markdown.
pub fn render(cmd: &Command) -> String {
    let mut cmd = cmd.clone();
    // Fills in bin names (`kplug cluster create`) and the generated flags.
    cmd.build();
    let mut all = Vec::new();
    collect(&cmd, &mut all);

    let mut out = String::new();
    out.push_str("# kplug command-line reference\n\n");
    out.push_str(
        "<!-- Generated from kplug's clap definitions; do not edit by hand.\n     \
         Regenerate with `UPDATE_CLI_REFERENCE=1 cargo test --test it reference`. -->\n\n",
    );
    out.push_str(
        "Every command also takes `-h` (short help) and `--help` (this text). \
         `kplug <plugin> [ARGS]...` runs the plugin `kplug-<plugin>` with ARGS \
         untouched; see [protocol.md](protocol.md).\n\n",
    );
    for c in &all {
        let depth = path_of(c).matches(' ').count();
        let _ = writeln!(
            out,
            "{}- [{}](#{})",
            "  ".repeat(depth),
            path_of(c),
            anchor(&path_of(c))
        );
    }
    for c in &all {
        out.push('\n');
        command(&mut out, c);
    }
    let end = out.trim_end().len();
    out.truncate(end);
    out.push('\n');
    out
}

/// `cmd` and its visible subcommands, depth first (clap's generated `help`
/// subcommand left out).
fn collect<'a>(cmd: &'a Command, out: &mut Vec<&'a Command>) {
    out.push(cmd);
    for sub in visible_subcommands(cmd) {
        collect(sub, out);
    }
}

fn visible_subcommands(cmd: &Command) -> impl Iterator<Item = &Command> {
    cmd.get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
}

fn path_of(cmd: &Command) -> String {
    cmd.get_bin_name().unwrap_or(cmd.get_name()).to_string()
}

/// GitHub's heading anchor for a plain-text heading.
fn anchor(heading: &str) -> String {
    heading.to_lowercase().replace(' ', "-")
}

/// Indent every line after the first, so that further paragraphs of a long
/// help stay inside their list item.
fn indent_rest(text: &str) -> String {
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            out.push('\n');
            if !line.is_empty() {
                out.push_str("  ");
            }
        }
        out.push_str(line);
    }
    out
}

fn command(out: &mut String, cmd: &Command) {
    let _ = writeln!(out, "## {}\n", path_of(cmd));
    if let Some(about) = cmd.get_long_about().or(cmd.get_about()) {
        let _ = writeln!(out, "{}\n", about.to_string().trim_end());
    }
    let usage = cmd.clone().render_usage().to_string();
    let _ = writeln!(out, "```text\n{}\n```\n", usage.trim_end());
    let aliases: Vec<String> = cmd
        .get_visible_aliases()
        .map(|a| format!("`{a}`"))
        .collect();
    if !aliases.is_empty() {
        let _ = writeln!(out, "Alias: {}\n", aliases.join(", "));
    }

    let subs: Vec<&Command> = visible_subcommands(cmd).collect();
    if !subs.is_empty() {
        out.push_str("Commands:\n\n");
        for s in subs {
            let about = s.get_about().map(|a| a.to_string()).unwrap_or_default();
            let _ = writeln!(
                out,
                "- [`{}`](#{}) — {}",
                s.get_name(),
                anchor(&path_of(s)),
                about.trim_end()
            );
        }
        out.push('\n');
    }

    let args: Vec<&Arg> = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && a.get_id() != "help")
        .collect();
    let (positionals, options): (Vec<&Arg>, Vec<&Arg>) =
        args.into_iter().partition(|a| a.is_positional());
    for (title, list) in [("Arguments", positionals), ("Options", options)] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{title}:\n");
        for a in list {
            argument(out, a);
        }
        out.push('\n');
    }
    // One blank line before the next section.
    let end = out.trim_end().len();
    out.truncate(end);
    out.push('\n');
}

fn value_names(a: &Arg) -> Vec<String> {
    match a.get_value_names() {
        Some(names) => names.iter().map(|n| n.to_string()).collect(),
        None => vec![a.get_id().as_str().to_uppercase()],
    }
}

/// `<NAME>`, `[NAME]`, `-- <ARGS>...`, `-o, --output <OUTPUT>`, `--refresh`.
fn synopsis(a: &Arg) -> String {
    let multiple = a
        .get_num_args()
        .is_some_and(|n| n.max_values() > 1 || n.max_values() == usize::MAX);
    let dots = if multiple { "..." } else { "" };
    if a.is_positional() {
        let name = value_names(a).join(" ");
        let name = if a.is_required_set() {
            format!("<{name}>{dots}")
        } else {
            format!("[{name}]{dots}")
        };
        return match (a.is_last_set(), a.is_required_set()) {
            (false, _) => name,
            (true, true) => format!("-- {name}"),
            (true, false) => format!("[-- <{}>{dots}]", value_names(a).join(" ")),
        };
    }
    let mut flags = Vec::new();
    if let Some(s) = a.get_short() {
        flags.push(format!("-{s}"));
    }
    if let Some(l) = a.get_long() {
        flags.push(format!("--{l}"));
    }
    let mut text = flags.join(", ");
    if a.get_action().takes_values() {
        for v in value_names(a) {
            let _ = write!(text, " <{v}>");
        }
        text.push_str(dots);
    }
    text
}

fn argument(out: &mut String, a: &Arg) {
    let help = a
        .get_long_help()
        .or(a.get_help())
        .map(|h| h.to_string())
        .unwrap_or_default();
    let mut text = help.trim_end().to_string();
    let mut facts = Vec::new();
    let values: Vec<String> = a
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| format!("`{}`", v.get_name()))
        .collect();
    if !values.is_empty() && a.get_action().takes_values() {
        facts.push(format!("possible values: {}", values.join(", ")));
    }
    let defaults: Vec<String> = a
        .get_default_values()
        .iter()
        .map(|v| format!("`{}`", v.to_string_lossy()))
        .collect();
    if !defaults.is_empty() && a.get_action().takes_values() {
        facts.push(format!("default: {}", defaults.join(", ")));
    }
    if a.is_required_set() && !a.is_positional() {
        facts.push("required".to_string());
    }
    if !facts.is_empty() {
        if !text.is_empty() {
            text.push(' ');
        }
        let _ = write!(text, "[{}]", facts.join("; "));
    }
    let _ = writeln!(out, "- `{}` — {}", synopsis(a), indent_rest(&text));
}
