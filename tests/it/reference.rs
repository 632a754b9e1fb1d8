//! docs/cli.md is the CLI reference rendered from clap, and must be current.

use std::path::PathBuf;

fn cli_md() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/cli.md"))
}

const REGENERATE: &str =
    "run `UPDATE_CLI_REFERENCE=1 cargo test --test it reference` to regenerate it";

#[test]
// The switch is the test's own, not one kplug honours (see src/config.rs).
#[allow(clippy::disallowed_methods)]
fn docs_cli_md_is_current() {
    let rendered = kplug::cli::reference();
    let path = cli_md();
    if std::env::var_os("UPDATE_CLI_REFERENCE").is_some() {
        std::fs::write(&path, &rendered).unwrap();
        return;
    }
    let current = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}; {REGENERATE}", path.display()));
    if current != rendered {
        let (line, (old, new)) = current
            .lines()
            .chain(std::iter::repeat("<end of file>"))
            .zip(rendered.lines().chain(std::iter::repeat("<end of file>")))
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .expect("texts differ");
        panic!(
            "docs/cli.md is out of date with kplug's clap definitions; {REGENERATE}\n\
             first difference at line {}:\n  docs/cli.md: {old}\n  rendered:    {new}",
            line + 1
        );
    }
}

/// Every visible command has a section, and every visible flag is listed.
#[test]
fn the_reference_covers_every_command_and_flag() {
    let text = kplug::cli::reference();
    let mut cmd = kplug::cli::command();
    cmd.build();
    let mut stack = vec![cmd];
    let mut sections = 0;
    while let Some(c) = stack.pop() {
        let path = c.get_bin_name().unwrap_or(c.get_name()).to_string();
        let section_start = text
            .find(&format!("\n## {path}\n"))
            .unwrap_or_else(|| panic!("no section for `{path}`"));
        let section = &text[section_start + 1..];
        let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
        sections += 1;
        if let Some(about) = c.get_about() {
            assert!(
                section.contains(&about.to_string()),
                "{path}: about missing"
            );
        }
        for a in c.get_arguments().filter(|a| !a.is_hide_set()) {
            if let Some(long) = a.get_long().filter(|l| *l != "help") {
                assert!(
                    section.contains(&format!("--{long}")),
                    "{path}: --{long} missing"
                );
            }
        }
        stack.extend(
            c.get_subcommands()
                .filter(|s| !s.is_hide_set() && s.get_name() != "help")
                .cloned(),
        );
    }
    assert!(sections > 15, "only {sections} sections");
    assert!(!text.contains("plugin-names"), "hidden flags stay hidden");
}
