//! Lifecycle events and hook modes.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A lifecycle event a plugin can hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    PreClusterCreate,
    PostClusterCreate,
    PreClusterDelete,
    PostClusterDelete,
    PreClusterStart,
    PostClusterStart,
    PreClusterStop,
    PostClusterStop,
    /// Sent only to the plugin just installed.
    PostPluginInstall,
    /// Sent only to the plugin about to be removed.
    PrePluginRemove,
}

impl Event {
    pub const ALL: [Event; 10] = [
        Event::PreClusterCreate,
        Event::PostClusterCreate,
        Event::PreClusterDelete,
        Event::PostClusterDelete,
        Event::PreClusterStart,
        Event::PostClusterStart,
        Event::PreClusterStop,
        Event::PostClusterStop,
        Event::PostPluginInstall,
        Event::PrePluginRemove,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Event::PreClusterCreate => "pre-cluster-create",
            Event::PostClusterCreate => "post-cluster-create",
            Event::PreClusterDelete => "pre-cluster-delete",
            Event::PostClusterDelete => "post-cluster-delete",
            Event::PreClusterStart => "pre-cluster-start",
            Event::PostClusterStart => "post-cluster-start",
            Event::PreClusterStop => "pre-cluster-stop",
            Event::PostClusterStop => "post-cluster-stop",
            Event::PostPluginInstall => "post-plugin-install",
            Event::PrePluginRemove => "pre-plugin-remove",
        }
    }

    /// `pre-*` events run before the operation and may stop it.
    pub fn is_pre(self) -> bool {
        self.as_str().starts_with("pre-")
    }

    /// The mode a hook gets when it declares none.
    pub fn default_mode(self) -> Mode {
        if self.is_pre() {
            Mode::Veto
        } else {
            Mode::Observe
        }
    }

    /// Events about a plugin's own lifecycle, sent only to that plugin.
    pub fn is_plugin_event(self) -> bool {
        matches!(self, Event::PostPluginInstall | Event::PrePluginRemove)
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Event {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Event::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| format!("unknown event `{s}`"))
    }
}

/// How a hook's outcome affects the operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Failure is reported as a warning; the result is informational.
    Observe,
    /// Failure aborts the operation (pre-* only).
    Veto,
    /// Like veto, and the result's `engineArgs`/`annotations` are merged
    /// into the operation (pre-* only).
    Mutate,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Observe => "observe",
            Mode::Veto => "veto",
            Mode::Mutate => "mutate",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "observe" => Ok(Mode::Observe),
            "veto" => Ok(Mode::Veto),
            "mutate" => Ok(Mode::Mutate),
            _ => Err(format!(
                "unknown mode `{s}` (expected observe, veto or mutate)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for e in Event::ALL {
            assert_eq!(e.as_str().parse::<Event>(), Ok(e));
            assert_eq!(serde_json::to_string(&e).unwrap(), format!("\"{e}\""));
        }
        assert!("pre-cluster-explode".parse::<Event>().is_err());
    }

    #[test]
    fn default_modes() {
        assert_eq!(Event::PreClusterCreate.default_mode(), Mode::Veto);
        assert_eq!(Event::PostClusterCreate.default_mode(), Mode::Observe);
        assert_eq!(Event::PrePluginRemove.default_mode(), Mode::Veto);
    }
}
