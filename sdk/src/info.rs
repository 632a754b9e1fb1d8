//! The INFO document: what a plugin tells kplug about itself.

use crate::PROTOCOL;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A lifecycle event of protocol v1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Event {
    PreClusterCreate,
    PostClusterCreate,
    PreClusterDelete,
    PostClusterDelete,
    PreClusterStart,
    PostClusterStart,
    PreClusterStop,
    PostClusterStop,
    /// Sent only to the plugin that was just installed.
    PostPluginInstall,
    /// Sent only to the plugin about to be removed.
    PrePluginRemove,
}

impl Event {
    /// Every event of protocol v1.
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

    /// The event's name on the wire, e.g. `post-cluster-create`.
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

    /// `pre-*` events run one at a time and may veto or mutate.
    pub fn is_pre(self) -> bool {
        self.as_str().starts_with("pre-")
    }

    /// The mode a hook gets when it declares none: `veto` before, `observe`
    /// after.
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

/// The name is not an event of protocol v1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEvent(pub String);

impl fmt::Display for UnknownEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown event `{}`", self.0)
    }
}

impl std::error::Error for UnknownEvent {}

impl FromStr for Event {
    type Err = UnknownEvent;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Event::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| UnknownEvent(s.to_string()))
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// How a hook's outcome affects the operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A failure is only a warning (the default for `post-*` events).
    Observe,
    /// A failure aborts the operation (the default for `pre-*` events).
    Veto,
    /// Like `Veto`, and the result's engine arguments and annotations are
    /// merged into the operation. `pre-*` events only.
    Mutate,
}

impl Mode {
    /// The mode's name in an INFO document.
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

/// One lifecycle hook a plugin declares.
///
/// Unset fields take the host's defaults: mode `veto` for `pre-*` events and
/// `observe` for `post-*` events, the host's timeout for the event, order 50.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hook {
    pub event: Event,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// A protocol duration such as `30s` or `1m30s`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<i32>,
}

impl Hook {
    /// A hook on `event` with the host's defaults.
    pub fn new(event: Event) -> Hook {
        Hook {
            event,
            mode: None,
            timeout: None,
            order: None,
        }
    }

    /// How the hook's outcome affects the operation. Only `pre-*` hooks may
    /// veto or mutate; kplug refuses a plugin whose `post-*` hook asks to.
    pub fn mode(mut self, mode: Mode) -> Hook {
        self.mode = Some(mode);
        self
    }

    /// How long the hook may take (kplug caps it). Must not be zero;
    /// sub-second precision is kept as milliseconds.
    pub fn timeout(mut self, timeout: Duration) -> Hook {
        self.timeout = Some(format_duration(timeout));
        self
    }

    /// Lower runs first; ties are broken by plugin name. Default 50.
    pub fn order(mut self, order: i32) -> Hook {
        self.order = Some(order);
        self
    }
}

/// A duration in the protocol's syntax: `500ms`, `30s`, `90s`.
fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Another plugin this one needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginRequirement {
    /// A version range in Cargo's syntax, e.g. `^1` or `>=2, <3`.
    pub version: String,
    /// The GitHub repository (`owner/repo`) to install it from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// What a plugin needs: host and Kubernetes versions, other plugins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Requires {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kplug: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub plugins: BTreeMap<String, PluginRequirement>,
}

impl Requires {
    pub fn is_empty(&self) -> bool {
        self.kplug.is_none() && self.kubernetes.is_none() && self.plugins.is_empty()
    }
}

/// The INFO document, built with chained calls and printed as JSON (which
/// is valid YAML) by [`crate::run`].
///
/// ```
/// use kplug_sdk::{Event, Hook, Info, Mode};
/// use std::time::Duration;
///
/// let info = Info::new("registry", "1.4.0")
///     .description("Local image registry wired into your clusters")
///     .usage("registry create|delete|list")
///     .hook(Hook::new(Event::PreClusterCreate).mode(Mode::Mutate).order(20)
///         .timeout(Duration::from_secs(90)))
///     .hook(Hook::new(Event::PostClusterCreate))
///     .requires_kplug(">=0.1")
///     .requires_plugin("dns", "^1")
///     .conflicts_with("other-registry");
/// assert!(info.to_json().contains(r#""timeout":"90s""#));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Info {
    /// Protocol versions the plugin speaks; [`Info::new`] sets `[1]`.
    pub protocols: Vec<u32>,
    /// Must equal the `<name>` of the executable `kplug-<name>`.
    pub name: String,
    /// Semver, e.g. `1.4.0`.
    pub version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<Hook>,
    #[serde(skip_serializing_if = "Requires::is_empty")]
    pub requires: Requires,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<String>,
}

impl Info {
    /// An INFO document for plugin `name` at `version`, speaking protocol 1.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Info {
        Info {
            protocols: vec![PROTOCOL],
            name: name.into(),
            version: version.into(),
            description: String::new(),
            usage: None,
            hooks: Vec::new(),
            requires: Requires::default(),
            conflicts: Vec::new(),
        }
    }

    /// One line for `kplug plugin list`.
    pub fn description(mut self, text: impl Into<String>) -> Info {
        self.description = text.into();
        self
    }

    /// A usage line for `kplug plugin info`, e.g. `registry create|delete`.
    pub fn usage(mut self, text: impl Into<String>) -> Info {
        self.usage = Some(text.into());
        self
    }

    /// Declare a lifecycle hook (each event at most once).
    pub fn hook(mut self, hook: Hook) -> Info {
        self.hooks.push(hook);
        self
    }

    /// The kplug versions the plugin works with, e.g. `>=0.1`.
    pub fn requires_kplug(mut self, range: impl Into<String>) -> Info {
        self.requires.kplug = Some(range.into());
        self
    }

    /// The Kubernetes versions the plugin works with, e.g. `>=1.27`.
    pub fn requires_kubernetes(mut self, range: impl Into<String>) -> Info {
        self.requires.kubernetes = Some(range.into());
        self
    }

    /// Another plugin this one needs, in a version range.
    pub fn requires_plugin(mut self, name: impl Into<String>, range: impl Into<String>) -> Info {
        self.requires.plugins.insert(
            name.into(),
            PluginRequirement {
                version: range.into(),
                source: None,
            },
        );
        self
    }

    /// Another plugin this one needs, and the GitHub repository
    /// (`owner/repo`) to install it from.
    pub fn requires_plugin_from(
        mut self,
        name: impl Into<String>,
        range: impl Into<String>,
        source: impl Into<String>,
    ) -> Info {
        self.requires.plugins.insert(
            name.into(),
            PluginRequirement {
                version: range.into(),
                source: Some(source.into()),
            },
        );
        self
    }

    /// A plugin that must not be installed alongside this one.
    pub fn conflicts_with(mut self, name: impl Into<String>) -> Info {
        self.conflicts.push(name.into());
        self
    }

    /// Whether the plugin declared a hook on `event`.
    pub fn handles(&self, event: Event) -> bool {
        self.hooks.iter().any(|h| h.event == event)
    }

    /// The document as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an INFO document always serialises")
    }
}
