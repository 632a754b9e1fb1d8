//! The INFO document: what a plugin says about itself.
//!
//! Parsing is two-staged: serde reads the document's shape into a lenient
//! raw form (unknown keys ignored), then [`Info::parse`] validates each field
//! and reports the first problem with its path (`hooks[1].timeout`).

use super::names;
use super::{Event, Mode, ProtocolError, Timeout, parse_duration};
use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};
use serde_yaml::Value;
use std::collections::BTreeMap;

const DOC: &str = "INFO";

/// Default `order` of a hook: lower runs first.
pub const DEFAULT_ORDER: i32 = 50;

/// A validated INFO document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Info {
    pub protocols: Vec<u32>,
    pub name: String,
    pub version: Version,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<String>,
    #[serde(default)]
    pub hooks: Vec<HookDecl>,
    #[serde(default)]
    pub requires: Requires,
    #[serde(default)]
    pub conflicts: Vec<String>,
    /// Things the host accepted but ignored, such as events it does not know
    /// (a plugin written for a newer host). Shown by `kplug plugin info`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// One hook a plugin registers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookDecl {
    pub event: Event,
    pub mode: Mode,
    /// The time the hook asks for; `None` means the host's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Timeout>,
    pub order: i32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Requires {
    /// Range of host versions the plugin works with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kplug: Option<VersionReq>,
    /// Range of Kubernetes server versions the plugin works with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<VersionReq>,
    /// Other plugins this one needs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub plugins: BTreeMap<String, PluginRequirement>,
}

impl Requires {
    pub fn is_empty(&self) -> bool {
        self.kplug.is_none() && self.kubernetes.is_none() && self.plugins.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginRequirement {
    pub version: VersionReq,
    /// Where to install it from (`owner/repo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

#[derive(Deserialize)]
struct RawInfo {
    protocols: Option<Vec<u32>>,
    name: Option<String>,
    version: Option<Value>,
    description: Option<String>,
    usage: Option<String>,
    hooks: Option<Vec<RawHook>>,
    requires: Option<RawRequires>,
    conflicts: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct RawHook {
    event: Option<String>,
    mode: Option<String>,
    timeout: Option<Value>,
    order: Option<i32>,
}

#[derive(Deserialize)]
struct RawRequires {
    kplug: Option<Value>,
    kubernetes: Option<Value>,
    plugins: Option<BTreeMap<String, Value>>,
}

fn err(field: impl Into<String>, problem: impl Into<String>) -> ProtocolError {
    ProtocolError::field(DOC, field, problem)
}

/// A YAML scalar as text: `version: 1.4` parses as a float, and we want to
/// say "`1.4` is not a semantic version", not "expected a string".
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse_version(field: &str, v: &Value) -> Result<Version, ProtocolError> {
    let text = scalar_text(v).ok_or_else(|| err(field, "must be a string like `1.4.0`"))?;
    let t = text.trim();
    Version::parse(t.strip_prefix('v').unwrap_or(t)).map_err(|e| {
        err(
            field,
            format!("`{text}` is not a semantic version like `1.4.0` ({e})"),
        )
    })
}

fn parse_req(field: &str, v: &Value) -> Result<VersionReq, ProtocolError> {
    let text = scalar_text(v).ok_or_else(|| err(field, "must be a version range like `>=1.2`"))?;
    VersionReq::parse(text.trim())
        .map_err(|e| err(field, format!("`{text}` is not a version range ({e})")))
}

impl Info {
    /// Parse and validate an INFO document (YAML; JSON is valid YAML).
    pub fn parse(doc: &[u8]) -> Result<Info, ProtocolError> {
        let text = std::str::from_utf8(doc)
            .map_err(|e| ProtocolError::new(DOC, format!("is not UTF-8 text ({e})")))?;
        if text.trim().is_empty() {
            return Err(ProtocolError::new(
                DOC,
                "is empty (the plugin printed nothing)",
            ));
        }
        // serde_yaml puts the path of a mistyped field at the front of its
        // message (`protocols[0]: invalid type: …`).
        let raw: RawInfo = super::yaml::from_str(text)
            .map_err(|e| ProtocolError::new(DOC, format!("is malformed: {e}")))?;
        Self::validate(raw)
    }

    fn validate(raw: RawInfo) -> Result<Info, ProtocolError> {
        let protocols = raw.protocols.ok_or_else(|| {
            err(
                "protocols",
                "is missing (list the protocol versions, e.g. `protocols: [1]`)",
            )
        })?;
        if protocols.is_empty() {
            return Err(err("protocols", "is empty"));
        }
        let name = raw.name.ok_or_else(|| err("name", "is missing"))?;
        names::validate(&name).map_err(|e| err("name", format!("`{name}` {e}")))?;
        let version = parse_version(
            "version",
            raw.version
                .as_ref()
                .ok_or_else(|| err("version", "is missing"))?,
        )?;

        let mut warnings = Vec::new();
        let mut hooks: Vec<HookDecl> = Vec::new();
        for (i, h) in raw.hooks.unwrap_or_default().into_iter().enumerate() {
            let path = |f: &str| format!("hooks[{i}].{f}");
            let event_name = h.event.ok_or_else(|| err(path("event"), "is missing"))?;
            let Ok(event) = event_name.parse::<Event>() else {
                // Forward compatibility: a newer plugin may hook events this
                // host does not have yet. Ignore the hook, keep the plugin.
                warnings.push(format!(
                    "hooks[{i}]: event `{event_name}` is unknown to this kplug and was ignored"
                ));
                continue;
            };
            if hooks.iter().any(|d| d.event == event) {
                return Err(err(path("event"), format!("`{event}` is declared twice")));
            }
            let mode = match h.mode {
                None => event.default_mode(),
                Some(m) => m.parse::<Mode>().map_err(|e| err(path("mode"), e))?,
            };
            if !event.is_pre() && mode != Mode::Observe {
                return Err(err(
                    path("mode"),
                    format!(
                        "`{mode}` is only allowed on pre-* events; `{event}` hooks can only observe"
                    ),
                ));
            }
            let timeout = match h.timeout {
                None => None,
                Some(v) => {
                    let text = scalar_text(&v)
                        .ok_or_else(|| err(path("timeout"), "must be a duration like `30s`"))?;
                    Some(Timeout(
                        parse_duration(&text).map_err(|e| err(path("timeout"), e))?,
                    ))
                }
            };
            hooks.push(HookDecl {
                event,
                mode,
                timeout,
                order: h.order.unwrap_or(DEFAULT_ORDER),
            });
        }

        let requires = match raw.requires {
            Some(r) => parse_requires(DOC, "requires", r)?,
            None => Requires::default(),
        };
        let conflicts = parse_conflicts(DOC, "conflicts", raw.conflicts.unwrap_or_default())?;

        Ok(Info {
            protocols,
            name,
            version,
            description: raw.description.unwrap_or_default().trim().to_string(),
            usage: raw.usage,
            hooks,
            requires,
            conflicts,
            warnings,
        })
    }

    /// The hook this plugin declared for `event`, if any.
    pub fn hook(&self, event: Event) -> Option<&HookDecl> {
        self.hooks.iter().find(|h| h.event == event)
    }
}

/// A `requires` mapping (of INFO, or of an inventory version), checked
/// field by field; errors name `prefix.field`.
fn parse_requires(
    doc: &'static str,
    prefix: &str,
    r: RawRequires,
) -> Result<Requires, ProtocolError> {
    let field = |f: &str| format!("{prefix}.{f}");
    let at = |f: String, problem: String| ProtocolError::field(doc, f, problem);
    let req = |f: &str, v: &Value| {
        parse_req(&field(f), v).map_err(|e| ProtocolError { document: doc, ..e })
    };
    let mut requires = Requires::default();
    if let Some(v) = &r.kplug {
        requires.kplug = Some(req("kplug", v)?);
    }
    if let Some(v) = &r.kubernetes {
        requires.kubernetes = Some(req("kubernetes", v)?);
    }
    for (dep, v) in r.plugins.unwrap_or_default() {
        let path = format!("plugins.{dep}");
        names::validate(&dep).map_err(|e| at(field(&path), format!("`{dep}` {e}")))?;
        let parsed = match &v {
            Value::Mapping(m) => {
                let version = match m.get("version") {
                    Some(v) => req(&format!("{path}.version"), v)?,
                    None => VersionReq::STAR,
                };
                let source = match m.get("source") {
                    None => None,
                    Some(Value::String(s)) if is_repo(s) => Some(s.clone()),
                    Some(_) => {
                        return Err(at(
                            field(&format!("{path}.source")),
                            "must be a GitHub repository like `owner/repo`".into(),
                        ));
                    }
                };
                PluginRequirement { version, source }
            }
            other => PluginRequirement {
                version: req(&path, other)?,
                source: None,
            },
        };
        requires.plugins.insert(dep, parsed);
    }
    Ok(requires)
}

/// A `conflicts` list: plugin names.
fn parse_conflicts(
    doc: &'static str,
    prefix: &str,
    conflicts: Vec<String>,
) -> Result<Vec<String>, ProtocolError> {
    for (i, c) in conflicts.iter().enumerate() {
        names::check_syntax(c).map_err(|e| {
            ProtocolError::field(doc, format!("{prefix}[{i}]"), format!("`{c}` {e}"))
        })?;
    }
    Ok(conflicts)
}

/// The contract part of a document other than INFO (an inventory's
/// version): `requires` and `conflicts` as they are written in INFO.
#[derive(Deserialize, Default)]
pub struct RawContract {
    requires: Option<RawRequires>,
    conflicts: Option<Vec<String>>,
}

impl RawContract {
    /// Check it; errors name `doc` and `prefix.requires…`.
    pub fn parse(
        self,
        doc: &'static str,
        prefix: &str,
    ) -> Result<(Requires, Vec<String>), ProtocolError> {
        let requires = match self.requires {
            Some(r) => parse_requires(doc, &format!("{prefix}.requires"), r)?,
            None => Requires::default(),
        };
        let conflicts = parse_conflicts(
            doc,
            &format!("{prefix}.conflicts"),
            self.conflicts.unwrap_or_default(),
        )?;
        Ok((requires, conflicts))
    }
}

fn is_repo(s: &str) -> bool {
    let mut parts = s.split('/');
    let ok = |p: Option<&str>| {
        p.is_some_and(|p| {
            !p.is_empty()
                && p != "."
                && p != ".."
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
    };
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const FULL: &str = r#"
protocols: [1]
name: registry
version: 1.4.0
description: Local image registry wired into your clusters
usage: "registry create|delete|list"
hooks:
  - event: pre-cluster-create
    mode: mutate
    timeout: 30s
    order: 20
  - event: post-cluster-create
  - event: pre-cluster-delete
requires:
  kplug: ">=0.1"
  kubernetes: ">=1.27"
  plugins: { dns: "^1", certs: { version: ">=2", source: acme/kplug-certs } }
conflicts: [other-registry]
someFutureKey: { whatever: true }
"#;

    fn problem(doc: &str) -> ProtocolError {
        Info::parse(doc.as_bytes()).expect_err("document should be refused")
    }

    #[test]
    fn parses_the_design_example() {
        let info = Info::parse(FULL.as_bytes()).unwrap();
        assert_eq!(info.name, "registry");
        assert_eq!(info.version, Version::new(1, 4, 0));
        assert_eq!(info.hooks.len(), 3);
        let pre = info.hook(Event::PreClusterCreate).unwrap();
        assert_eq!(pre.mode, Mode::Mutate);
        assert_eq!(pre.timeout, Some(Timeout(Duration::from_secs(30))));
        assert_eq!(pre.order, 20);
        let post = info.hook(Event::PostClusterCreate).unwrap();
        assert_eq!(
            (post.mode, post.order, post.timeout),
            (Mode::Observe, 50, None)
        );
        assert_eq!(info.hook(Event::PreClusterDelete).unwrap().mode, Mode::Veto);
        assert_eq!(
            info.requires.plugins["dns"].version,
            VersionReq::parse("^1").unwrap()
        );
        assert_eq!(
            info.requires.plugins["certs"].source.as_deref(),
            Some("acme/kplug-certs")
        );
        assert_eq!(info.conflicts, ["other-registry"]);
        assert!(info.warnings.is_empty());
    }

    #[test]
    fn json_is_accepted_and_round_trips() {
        let info = Info::parse(FULL.as_bytes()).unwrap();
        let json = serde_json::to_string(&info).unwrap();
        assert_eq!(Info::parse(json.as_bytes()).unwrap(), info);
        let back: Info = serde_json::from_str(&json).unwrap();
        assert_eq!(back, info);
    }

    #[test]
    fn minimal_document() {
        let info = Info::parse(b"protocols: [1]\nname: hello\nversion: v0.1.0\n").unwrap();
        assert_eq!(info.version, Version::new(0, 1, 0));
        assert!(info.hooks.is_empty() && info.requires.is_empty());
    }

    #[test]
    fn unknown_events_are_ignored_with_a_warning() {
        let info = Info::parse(
            b"protocols: [1, 2]\nname: x\nversion: 1.0.0\nhooks: [{event: pre-cluster-upgrade}, {event: post-cluster-create}]",
        )
        .unwrap();
        assert_eq!(info.hooks.len(), 1);
        assert!(
            info.warnings[0].contains("pre-cluster-upgrade"),
            "{:?}",
            info.warnings
        );
    }

    #[test]
    fn each_problem_names_its_field() {
        let cases = [
            ("name: x\nversion: 1.0.0", "protocols", "missing"),
            (
                "protocols: []\nname: x\nversion: 1.0.0",
                "protocols",
                "empty",
            ),
            ("protocols: [1]\nversion: 1.0.0", "name", "missing"),
            (
                "protocols: [1]\nname: X\nversion: 1.0.0",
                "name",
                "lowercase",
            ),
            (
                "protocols: [1]\nname: plugin\nversion: 1.0.0",
                "name",
                "built-in",
            ),
            ("protocols: [1]\nname: x", "version", "missing"),
            (
                "protocols: [1]\nname: x\nversion: 1.4",
                "version",
                "`1.4` is not a semantic version",
            ),
            (
                "protocols: [1]\nname: x\nversion: 1.0.0\nhooks: [{mode: veto}]",
                "hooks[0].event",
                "missing",
            ),
            (
                "protocols: [1]\nname: x\nversion: 1.0.0\nhooks: [{event: pre-cluster-create, mode: vet}]",
                "hooks[0].mode",
                "unknown mode",
            ),
            (
                "protocols: [1]\nname: x\nversion: 1.0.0\nhooks: [{event: post-cluster-create, mode: veto}]",
                "hooks[0].mode",
                "only allowed on pre-*",
            ),
            (
                "protocols: [1]\nname: x\nversion: 1.0.0\nhooks: [{event: pre-cluster-create, timeout: 3x}]",
                "hooks[0].timeout",
                "not a duration",
            ),
            (
                "protocols: [1]\nname: x\nversion: 1.0.0\nhooks: [{event: pre-cluster-create}, {event: pre-cluster-create}]",
                "hooks[1].event",
                "twice",
            ),
            (
                "protocols: [1]\nname: x\nversion: 1.0.0\nrequires: {kplug: 'not a range'}",
                "requires.kplug",
                "not a version range",
            ),
            (
                "protocols: [1]\nname: x\nversion: 1.0.0\nrequires: {plugins: {Bad: '1'}}",
                "requires.plugins.Bad",
                "lowercase",
            ),
            (
                "protocols: [1]\nname: x\nversion: 1.0.0\nrequires: {plugins: {d: {source: 'a/b/c'}}}",
                "requires.plugins.d.source",
                "owner/repo",
            ),
            (
                "protocols: [1]\nname: x\nversion: 1.0.0\nconflicts: ['../x']",
                "conflicts[0]",
                "lowercase",
            ),
        ];
        for (doc, field, problem_text) in cases {
            let e = problem(doc);
            assert_eq!(e.field.as_deref(), Some(field), "{doc}: {e}");
            assert!(e.problem.contains(problem_text), "{doc}: {e}");
        }
    }

    #[test]
    fn shape_errors_carry_the_path() {
        let e = problem("protocols: [one]\nname: x\nversion: 1.0.0");
        assert!(e.to_string().contains("protocols[0]"), "{e}");
        let e = problem("protocols: [1]\nname: x\nversion: 1.0.0\nhooks: {event: x}");
        assert!(e.to_string().contains("hooks"), "{e}");
        let e = problem("{{{ not yaml");
        assert!(e.to_string().contains("INFO document"), "{e}");
        assert!(problem("").problem.contains("empty"));
        assert!(problem("- a list").to_string().contains("INFO document"));
        assert!(
            Info::parse(b"\xff\xfe")
                .unwrap_err()
                .problem
                .contains("UTF-8")
        );
    }
}
