//! `kplug completion bash|zsh|fish`: shell completion scripts.
//!
//! Built-in commands, flags and fixed values (engines, events) come from
//! clap ([`clap_complete`]). Plugin and cluster names cannot be baked into
//! the script (they come and go), so each script asks `kplug __complete
//! plugins|installed|clusters` when it completes one: the first word, the
//! NAME of `plugin info|remove|update|…`, of `cluster delete|get|…`, and
//! `--cluster`. That lists what is on disk (discovery's names, the store,
//! kplug's cluster records): a few directory listings, no plugin is ever
//! executed (no INFO) and no engine is asked.

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

/// What `kplug __complete` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Words {
    /// Every plugin kplug can find.
    Plugins,
    /// Plugins in kplug's store.
    Installed,
    /// Clusters kplug created.
    Clusters,
}

/// The command the scripts run to list plugin names.
pub const PLUGIN_NAMES_CALL: &str = "kplug __complete plugins";

/// `plugin` subcommands whose NAME is any plugin kplug finds, and those
/// whose NAME is a plugin in the store.
const ANY_PLUGIN: &[&str] = &["info", "disable", "enable", "contract", "validate"];
const STORE_PLUGIN: &[&str] = &[
    "remove",
    "rm",
    "uninstall",
    "update",
    "upgrade",
    "versions",
    "use",
    "rollback",
    "pin",
    "unpin",
];
/// `cluster` subcommands whose NAME is an existing cluster.
const EXISTING_CLUSTER: &[&str] = &["delete", "start", "stop", "get"];

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
# Plugin and cluster names from `kplug __complete …` (no plugin is run).
_kplug_words() {{
    COMPREPLY=( $(compgen -W "$(kplug __complete "$1" 2>/dev/null)" -- "${{COMP_WORDS[COMP_CWORD]}}") )
}}
_kplug_plugins() {{
    if [[ ${{COMP_CWORD}} -eq 1 && "${{COMP_WORDS[1]}}" != -* ]]; then
        _kplug "$@"
        local plugins
        plugins="$({PLUGIN_NAMES_CALL} 2>/dev/null)"
        COMPREPLY+=( $(compgen -W "${{plugins}}" -- "${{COMP_WORDS[1]}}") )
        return 0
    fi
    if [[ "${{COMP_WORDS[COMP_CWORD-1]}}" == --cluster ]]; then
        _kplug_words clusters; return 0
    fi
    if [[ ${{COMP_CWORD}} -eq 3 ]]; then
        case "${{COMP_WORDS[1]}} ${{COMP_WORDS[2]}}" in
            {any}) _kplug_words plugins; return 0 ;;
            {store}) _kplug_words installed; return 0 ;;
            {clusters}) _kplug_words clusters; return 0 ;;
        esac
    fi
    case "${{COMP_WORDS[1]}}" in
        {builtins}|-*) _kplug "$@" ;;
        *) COMPREPLY=() ;;
    esac
}}
"#,
        builtins = builtins.join("|"),
        any = alternatives("plugin", ANY_PLUGIN),
        store = alternatives("plugin", STORE_PLUGIN),
        clusters = alternatives("cluster", EXISTING_CLUSTER),
    )
}

/// `plugin info|plugin disable|…` for a bash `case` pattern.
fn alternatives(group: &str, subs: &[&str]) -> String {
    subs.iter()
        .map(|s| format!("\"{group} {s}\""))
        .collect::<Vec<_>>()
        .join("|")
}

/// Add plugin names to the list of top-level commands, and complete the
/// NAME of the commands that take a plugin or a cluster.
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
    let mut out = String::with_capacity(script.len() + 512);
    let mut replaced = 0;
    // The subcommand whose arguments follow (clap writes `(remove)` first).
    let mut sub = String::new();
    for line in script.split_inclusive('\n') {
        if let Some(name) = line
            .trim()
            .strip_prefix('(')
            .and_then(|l| l.strip_suffix(')'))
        {
            sub = name.to_string();
        }
        let words = if line.contains("The plugin'\\''s name") && !line.contains("kplug-NAME") {
            Some(if STORE_PLUGIN.contains(&sub.as_str()) {
                "_kplug_words installed"
            } else {
                "_kplug_words plugins"
            })
        } else if line.contains("The cluster'\\''s name") || line.starts_with("'--cluster=") {
            Some("_kplug_words clusters")
        } else {
            None
        };
        match words {
            Some(w) if line.contains(":_default'") => {
                out.push_str(&line.replacen(":_default'", &format!(":{w}'"), 1));
                replaced += 1;
            }
            _ => out.push_str(line),
        }
    }
    assert!(replaced > 10, "clap_complete's zsh arguments changed shape");
    format!(
        "{out}\n# Plugin and cluster names from `kplug __complete …` (no plugin is run).\n\
         _kplug_words() {{\n    local -a words; words=(${{(f)\"$(kplug __complete $1 2>/dev/null)\"}})\n    \
         compadd -a words\n}}\n"
    )
}

/// Offer plugin names wherever a command is expected, and plugin and
/// cluster names where a command takes one.
fn fish(clap_script: &str) -> String {
    let condition = "__fish_kplug_needs_command";
    assert!(
        clap_script.contains(condition) && clap_script.contains("__fish_kplug_using_subcommand"),
        "clap_complete's fish script changed shape"
    );
    let mut out = format!(
        "{clap_script}\n# Plugin and cluster names from `kplug __complete …` (no plugin is run).\n\
         complete -c kplug -n \"{condition}\" -f -a \"({PLUGIN_NAMES_CALL} 2>/dev/null)\" -d 'plugin'\n"
    );
    for (group, subs, words) in [
        ("plugin", ANY_PLUGIN, "plugins"),
        ("plugin", STORE_PLUGIN, "installed"),
        ("cluster", EXISTING_CLUSTER, "clusters"),
    ] {
        out.push_str(&format!(
            "complete -c kplug -n \"__fish_kplug_using_subcommand {group}; and __fish_seen_subcommand_from {}\" -f -a \"(kplug __complete {words} 2>/dev/null)\"\n",
            subs.join(" ")
        ));
    }
    out.push_str("complete -c kplug -n \"__fish_seen_argument -l cluster\" -l cluster -f -a \"(kplug __complete clusters 2>/dev/null)\"\n");
    out
}

/// Print the script for `shell`.
pub fn print_script(shell: Shell) -> crate::error::Result<i32> {
    write_out(script(shell).as_bytes())
}

/// Print the words of `what`, one per line (no INFO, no engine).
pub fn print_words(cfg: &Config, what: Words) -> crate::error::Result<i32> {
    let words: Vec<String> = match what {
        Words::Plugins => discovery::names(cfg),
        Words::Installed => crate::store::Store::new(cfg)
            .map(|s| s.plugins())
            .unwrap_or_default(),
        Words::Clusters => crate::lifecycle::recorded_clusters(cfg),
    };
    let mut out = String::new();
    for w in words {
        out.push_str(&w);
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
