//! `kplug completion bash|zsh|fish`: shell completion scripts.
//!
//! Built-in commands and flags come from clap ([`clap_complete`]). Plugin
//! names cannot be baked into the script (plugins come and go), so each
//! script asks `kplug completion --plugin-names` when it completes the first
//! word. That lists what discovery finds on disk ([`discovery::names`]): a
//! few directory listings, no plugin is ever executed (no INFO).

use crate::config::Config;
use crate::discovery;
use clap::ValueEnum;
use clap_complete::{Generator, shells};
use std::io::Write;

/// The shells `kplug completion` writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// The command the scripts run to list plugin names.
pub const PLUGIN_NAMES_CALL: &str = "kplug completion --plugin-names";

/// The completion script for `shell`.
pub fn script(shell: Shell) -> String {
    let mut cmd = super::command();
    let builtins: Vec<String> = cmd
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| c.get_name().to_string())
        .chain(["help".to_string()])
        .collect();
    let clap_script = match shell {
        Shell::Bash => generate(shells::Bash, &mut cmd),
        Shell::Zsh => generate(shells::Zsh, &mut cmd),
        Shell::Fish => generate(shells::Fish, &mut cmd),
    };
    let clap_script = strip_hidden_flags(shell, &clap_script, &hidden_flags(&cmd));
    match shell {
        Shell::Bash => bash(&clap_script, &builtins),
        Shell::Zsh => zsh(&clap_script),
        Shell::Fish => fish(&clap_script),
    }
}

/// The long names of hidden flags anywhere in the tree.
fn hidden_flags(cmd: &clap::Command) -> Vec<String> {
    let mut out: Vec<String> = cmd
        .get_arguments()
        .filter(|a| a.is_hide_set())
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .collect();
    for sub in cmd.get_subcommands() {
        out.extend(hidden_flags(sub));
    }
    out
}

/// clap_complete offers hidden flags too; take them out again.
fn strip_hidden_flags(shell: Shell, script: &str, flags: &[String]) -> String {
    let mut out = String::with_capacity(script.len());
    for line in script.split_inclusive('\n') {
        let mut line = line.to_string();
        for flag in flags {
            match shell {
                // `opts="-h --plugin-names --help bash zsh fish"`
                Shell::Bash if line.trim_start().starts_with("opts=") => {
                    line = line.replace(&format!(" {flag}"), "");
                }
                // `'()--plugin-names[Print …]' \`
                Shell::Zsh if line.contains(&format!("{flag}[")) => line.clear(),
                // `complete -c kplug -n "…" -l plugin-names -d '…'`
                Shell::Fish if line.contains(&format!(" -l {} ", &flag[2..])) => line.clear(),
                _ => {}
            }
        }
        out.push_str(&line);
    }
    out
}

fn generate(generator: impl Generator, cmd: &mut clap::Command) -> String {
    let mut out = Vec::new();
    clap_complete::generate(generator, cmd, "kplug", &mut out);
    String::from_utf8(out).expect("clap_complete writes UTF-8")
}

/// Wrap clap's `_kplug` in a function that adds plugin names for the first
/// word and leaves a plugin's own arguments to file completion.
fn bash(clap_script: &str, builtins: &[String]) -> String {
    let registered = clap_script.replace("complete -F _kplug ", "complete -F _kplug_plugins ");
    assert_ne!(
        registered, clap_script,
        "clap_complete's bash script changed shape"
    );
    format!(
        r#"{registered}
# Plugins: names from `{PLUGIN_NAMES_CALL}` (no plugin is run).
_kplug_plugins() {{
    if [[ ${{COMP_CWORD}} -eq 1 && "${{COMP_WORDS[1]}}" != -* ]]; then
        _kplug "$@"
        local plugins
        plugins="$({PLUGIN_NAMES_CALL} 2>/dev/null)"
        COMPREPLY+=( $(compgen -W "${{plugins}}" -- "${{COMP_WORDS[1]}}") )
        return 0
    fi
    case "${{COMP_WORDS[1]}}" in
        {builtins}|-*) _kplug "$@" ;;
        *) COMPREPLY=() ;;
    esac
}}
"#,
        builtins = builtins.join("|"),
    )
}

/// Add plugin names to the list of top-level commands.
fn zsh(clap_script: &str) -> String {
    let anchor = "    _describe -t commands 'kplug commands' commands \"$@\"";
    let with_plugins = format!(
        "    # Plugins: names from `{PLUGIN_NAMES_CALL}` (no plugin is run).\n    \
         local -a plugins; plugins=(${{(f)\"$({PLUGIN_NAMES_CALL} 2>/dev/null)\"}})\n    \
         commands+=(${{^plugins}}':plugin')\n{anchor}"
    );
    let script = clap_script.replacen(anchor, &with_plugins, 1);
    assert_ne!(
        script, clap_script,
        "clap_complete's zsh script changed shape"
    );
    script
}

/// Offer plugin names wherever a command is expected.
fn fish(clap_script: &str) -> String {
    let condition = "__fish_kplug_needs_command";
    assert!(
        clap_script.contains(condition),
        "clap_complete's fish script changed shape"
    );
    format!(
        "{clap_script}\n# Plugins: names from `{PLUGIN_NAMES_CALL}` (no plugin is run).\n\
         complete -c kplug -n \"{condition}\" -f -a \"({PLUGIN_NAMES_CALL} 2>/dev/null)\" -d 'plugin'\n"
    )
}

/// Print the script for `shell`.
pub fn print_script(shell: Shell) -> crate::error::Result<i32> {
    write_out(script(shell).as_bytes())
}

/// Print the names of the plugins kplug can find, one per line (no INFO).
pub fn print_plugin_names(cfg: &Config) -> crate::error::Result<i32> {
    let mut out = String::new();
    for name in discovery::names(cfg) {
        out.push_str(&name);
        out.push('\n');
    }
    write_out(out.as_bytes())
}

fn write_out(bytes: &[u8]) -> crate::error::Result<i32> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| crate::error::Error::new("could not write to stdout").caused_by(e))?;
    Ok(0)
}
