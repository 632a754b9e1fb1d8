//! Lifecycle hooks: who runs on an event, in which order, and how.
//!
//! This module owns the *plan* of an event ([`plan`]: registered plugin
//! hooks plus user hook scripts, ordered by `order` then name), *firing* it
//! ([`fire`]: `pre-*` one at a time with veto/mutate semantics, `post-*`
//! concurrently), the EXEC environment of a hook, and the journal of every
//! hook run ([`journal`]). It knows nothing of engines: the caller hands it
//! the context document to send.

pub mod fire;
pub mod journal;

pub use fire::{FireOptions, HookRun, RunStatus, fire_post, fire_pre};

use crate::config::Config;
use crate::discovery::{self, CatalogOptions, Status};
use crate::error::Result;
use crate::protocol::{self, Event, Mode};
use serde::Serialize;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

/// Where a hook comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A plugin that declared the event in its INFO.
    Plugin,
    /// An executable in `$XDG_CONFIG_HOME/kplug/hooks/<event>.d/`.
    Script,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Plugin => "plugin",
            Kind::Script => "script",
        }
    }
}

/// One entry of an event's plan.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Hook {
    /// The plugin's name, or the script's file name.
    pub name: String,
    pub kind: Kind,
    pub mode: Mode,
    pub order: i32,
    /// The time it gets: its own request (capped) or the event's default.
    #[serde(serialize_with = "serialize_duration")]
    pub timeout: Duration,
    pub path: PathBuf,
    /// `KPLUG_PLUGIN_DIR`.
    #[serde(skip)]
    pub dir: PathBuf,
    /// The protocol version spoken with it.
    #[serde(skip)]
    pub protocol: u32,
    /// The Kubernetes versions its plugin declared it works with
    /// (`requires.kubernetes`), checked when the cluster's version is known.
    #[serde(skip)]
    pub kubernetes: Option<semver::VersionReq>,
}

fn serialize_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&protocol::format_duration(*d))
}

impl Hook {
    pub fn target(&self) -> crate::exec::Target<'_> {
        crate::exec::Target {
            name: &self.name,
            path: &self.path,
            dir: &self.dir,
        }
    }
}

/// The order scripts take from a numeric file-name prefix (`10-notify` → 10),
/// run-parts style; 50 (the plugin default) otherwise.
fn script_order(file: &str) -> i32 {
    let digits: String = file.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(protocol::DEFAULT_ORDER)
}

/// The plan of `event`: every hook that will run, in the order it runs
/// (`order`, then name; reversed for the delete events).
///
/// `only_plugin` restricts it to one plugin (the plugin lifecycle events,
/// which are sent only to the plugin concerned; scripts do not run for
/// them). Disabled and invalid plugins are left out. INFO comes from the
/// cache, so planning runs no plugin unless one changed since it was last
/// asked.
pub fn plan(cfg: &Config, event: Event, only_plugin: Option<&str>) -> Result<Vec<Hook>> {
    let timeouts = &cfg.file()?.timeouts;
    let default = if event.is_pre() {
        timeouts.pre.0
    } else {
        timeouts.post.0
    };
    let max = timeouts.max.0;
    let mut hooks = Vec::new();
    for p in discovery::catalog(cfg, CatalogOptions::default()) {
        if p.status != Status::Valid || only_plugin.is_some_and(|o| o != p.name) {
            continue;
        }
        let Some(info) = &p.info else { continue };
        let Some(decl) = info.hook(event) else {
            continue;
        };
        hooks.push(Hook {
            name: p.name.clone(),
            kind: Kind::Plugin,
            mode: decl.mode,
            order: decl.order,
            timeout: decl.timeout.map_or(default, |t| t.0.min(max)),
            path: p.path.clone(),
            dir: p.dir.clone(),
            protocol: p.protocol.unwrap_or(protocol::CURRENT_PROTOCOL),
            kubernetes: info.requires.kubernetes.clone(),
        });
    }
    if only_plugin.is_none()
        && let Some(dir) = cfg.hooks_dir().map(|d| d.join(format!("{event}.d")))
        && let Ok(entries) = std::fs::read_dir(&dir)
    {
        for entry in entries.flatten() {
            let Some(file) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            // Editor backups and hidden files are not hooks.
            if file.starts_with('.') || file.ends_with('~') {
                continue;
            }
            let path = entry.path();
            let executable = std::fs::metadata(&path)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
            if !executable {
                continue;
            }
            hooks.push(Hook {
                order: script_order(&file),
                name: file,
                kind: Kind::Script,
                mode: event.default_mode(),
                timeout: default,
                path,
                dir: dir.clone(),
                protocol: protocol::CURRENT_PROTOCOL,
                kubernetes: None,
            });
        }
    }
    hooks.sort_by(|a, b| (a.order, &a.name).cmp(&(b.order, &b.name)));
    // Teardown undoes in the reverse order of set-up.
    if matches!(event, Event::PreClusterDelete | Event::PostClusterDelete) {
        hooks.reverse();
    }
    Ok(hooks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_take_their_order_from_the_file_name() {
        assert_eq!(script_order("10-notify"), 10);
        assert_eq!(script_order("99zz"), 99);
        assert_eq!(script_order("notify"), 50);
    }
}
