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

pub use fire::{FireOptions, fire_post, fire_pre};

use crate::config::Config;
use crate::discovery::{self, CatalogOptions, Status};
use crate::error::Result;
use crate::protocol::{self, Event, HookResult, Mode};
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

/// How one hook run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunStatus {
    Ok,
    /// Failed: the code of its error document (or one kplug assigned) and a
    /// message.
    Failed {
        code: Option<u32>,
        msg: String,
    },
}

#[derive(Debug, Clone)]
pub struct HookRun {
    pub hook: Hook,
    pub status: RunStatus,
    pub result: HookResult,
    /// The process's exit status, when it exited by itself.
    pub exit: Option<i32>,
    pub stderr_tail: String,
    pub elapsed: Duration,
}

impl HookRun {
    pub fn ok(&self) -> bool {
        self.status == RunStatus::Ok
    }

    pub(crate) fn failed_with(&self, code: protocol::ErrorCode) -> bool {
        matches!(self.status, RunStatus::Failed { code: Some(c), .. } if c == code.code())
    }

    /// `plugin `x``/`script `y`` for messages.
    pub fn label(&self) -> String {
        format!("{} `{}`", self.hook.kind.as_str(), self.hook.name)
    }

    pub fn message(&self) -> &str {
        match &self.status {
            RunStatus::Ok => "ok",
            RunStatus::Failed { msg, .. } => msg,
        }
    }
}

/// The order scripts take from a numeric file-name prefix (`10-notify` → 10),
/// run-parts style; 50 (the plugin default) otherwise.
fn script_order(file: &str) -> i32 {
    let digits: String = file.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(protocol::DEFAULT_ORDER)
}

/// The time a hook of `event` gets: what it asked for (`requested`),
/// capped by `timeouts.max`, else the event's default (`timeouts.pre` or
/// `timeouts.post`). The one rule, for firing and for `plugin validate`.
pub fn timeout(
    timeouts: &crate::config::Timeouts,
    event: Event,
    requested: Option<protocol::Timeout>,
) -> Duration {
    match requested {
        Some(t) => t.0.min(timeouts.max.0),
        None if event.is_pre() => timeouts.pre.0,
        None => timeouts.post.0,
    }
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
    let default = timeout(timeouts, event, None);
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
            timeout: timeout(timeouts, event, decl.timeout),
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

/// The hooks of a plan whose plugin works with the cluster's Kubernetes
/// version; each one left out is named in a warning. `KPLUG_SKIP_CHECKS=1`
/// keeps them all, as does a version kplug cannot read.
pub fn kubernetes_gate(
    cfg: &Config,
    hooks: Vec<Hook>,
    cluster: &str,
    kubernetes: Option<&str>,
) -> Vec<Hook> {
    let Some(version) = kubernetes else {
        return hooks;
    };
    if hooks.iter().all(|h| h.kubernetes.is_none()) {
        return hooks;
    }
    if crate::requirements::skip_checks(cfg, false) {
        // Loudly: each hook that would have been left out runs anyway.
        let (_, dropped) = split_by_kubernetes(hooks.clone(), version);
        for (name, req) in dropped {
            crate::ui::warn(
                cfg,
                &format!(
                    "requirement checks SKIPPED (KPLUG_SKIP_CHECKS): running the hook of plugin {name}, which requires Kubernetes {req}, on cluster `{cluster}` ({version})"
                ),
            );
        }
        return hooks;
    }
    let (kept, dropped) = split_by_kubernetes(hooks, version);
    for (name, req) in dropped {
        crate::ui::warn(
            cfg,
            &format!(
                "skipping the hook of plugin {name}: it requires Kubernetes {req}, but cluster `{cluster}` runs {version} (KPLUG_SKIP_CHECKS=1 runs it anyway)"
            ),
        );
    }
    kept
}

/// Split hooks by whether their plugin's Kubernetes range admits `version`:
/// the hooks kept, and each plugin left out with its range. Hooks without a
/// range (scripts, plugins that declare none) and versions kplug cannot
/// read keep all.
pub fn split_by_kubernetes(
    hooks: Vec<Hook>,
    version: &str,
) -> (Vec<Hook>, Vec<(String, semver::VersionReq)>) {
    let Some(v) = crate::requirements::parse_lenient(version) else {
        return (hooks, Vec::new());
    };
    let mut dropped = Vec::new();
    let kept = hooks
        .into_iter()
        .filter(|h| match &h.kubernetes {
            Some(req) if !crate::requirements::satisfies(req, &v) => {
                dropped.push((h.name.clone(), req.clone()));
                false
            }
            _ => true,
        })
        .collect();
    (kept, dropped)
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

    #[test]
    fn hooks_are_split_by_the_cluster_kubernetes_version() {
        use crate::protocol::Mode;
        let req = |s: &str| semver::VersionReq::parse(s).unwrap();
        let hook = |name: &str, kind: Kind, wants: Option<&str>| Hook {
            name: name.into(),
            kind,
            mode: Mode::Observe,
            order: 50,
            timeout: std::time::Duration::from_secs(1),
            path: "/x".into(),
            dir: "/".into(),
            protocol: 1,
            kubernetes: wants.map(req),
        };
        let hooks = vec![
            hook("new", Kind::Plugin, Some(">=1.32")),
            hook("old", Kind::Plugin, Some(">=1.20")),
            hook("any", Kind::Plugin, None),
            hook("new", Kind::Script, None),
        ];
        let (kept, dropped) = split_by_kubernetes(hooks.clone(), "v1.31.2+k3s1");
        let names: Vec<(&str, Kind)> = kept.iter().map(|h| (h.name.as_str(), h.kind)).collect();
        assert_eq!(
            names,
            [
                ("old", Kind::Plugin),
                ("any", Kind::Plugin),
                ("new", Kind::Script)
            ]
        );
        assert_eq!(dropped, [("new".to_string(), req(">=1.32"))]);
        let (kept, dropped) = split_by_kubernetes(hooks, "unknown");
        assert_eq!((kept.len(), dropped.len()), (4, 0));
    }
}
