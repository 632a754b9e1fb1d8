//! A plugin's contract — INFO `requires` and `conflicts` — checked against
//! what is there: the host's version, the Kubernetes version of the cluster
//! in context, and the other plugins present.
//!
//! [`check`] is pure: it judges a contract against an [`Env`] and returns a
//! [`Report`] with one [`Item`] per requirement, each saying what was
//! wanted, what was found, whether it holds and how to fix it. [`Env::now`]
//! builds the environment of this host (the catalog of plugins, from the
//! INFO cache). Nothing here installs or refuses anything: the install
//! pipeline and the commands decide what a failure means.

use crate::config::{Config, vars};
use crate::discovery::{self, CatalogOptions, Origin, Status};
use crate::error::Error;
use crate::protocol::{Info, PluginRequirement, Requires};
use semver::{Version, VersionReq};
use serde::Serialize;
use std::collections::BTreeMap;

/// What a contract is checked against.
#[derive(Debug, Clone)]
pub struct Env {
    /// The host's version.
    pub kplug: Version,
    /// The cluster in context, if any: its name and its Kubernetes server
    /// version as the engine reports it (`v1.31.2+k3s1`).
    pub cluster: Option<Cluster>,
    /// Other plugins present, by name.
    pub plugins: BTreeMap<String, Present>,
}

#[derive(Debug, Clone)]
pub struct Cluster {
    pub name: String,
    pub kubernetes: Option<String>,
}

/// A plugin that is present (installed, or found on a search path).
#[derive(Debug, Clone, Default)]
pub struct Present {
    /// Its version, when its INFO could be read.
    pub version: Option<Version>,
    /// Plugins it declares conflicts with.
    pub conflicts: Vec<String>,
    /// Installed by kplug (as opposed to found on a path).
    pub in_store: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Kplug,
    Kubernetes,
    Plugin,
    Conflict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// The requirement is met.
    Holds,
    /// It is not, and installing something else would not help.
    Fails,
    /// A required plugin is not there (`--with-deps` can fix that).
    Missing,
    /// It cannot be judged now (no cluster in context).
    Unknown,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Holds => "yes",
            State::Fails => "NO",
            State::Missing => "missing",
            State::Unknown => "unknown",
        }
    }
}

/// One requirement and its verdict.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    pub kind: Kind,
    /// `kplug`, `kubernetes`, or the other plugin's name.
    pub name: String,
    /// The range asked for, or `absent` for a conflict.
    pub wanted: String,
    /// What was found (`None`: nothing, or not known).
    pub found: Option<String>,
    pub state: State,
    /// Where a required plugin comes from (`owner/repo`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The verdict as a sentence, naming the requirement and the found value.
    pub detail: String,
    /// What to do about a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// The verdict on a whole contract.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub plugin: String,
    pub version: String,
    pub items: Vec<Item>,
}

impl Report {
    /// Requirements that fail for good (not merely missing plugins).
    pub fn failures(&self) -> impl Iterator<Item = &Item> {
        self.items.iter().filter(|i| i.state == State::Fails)
    }

    /// Required plugins that are not present.
    pub fn missing(&self) -> impl Iterator<Item = &Item> {
        self.items.iter().filter(|i| i.state == State::Missing)
    }

    /// No requirement fails (missing plugins aside: they can be installed).
    pub fn compatible(&self) -> bool {
        self.failures().next().is_none()
    }

    /// Every requirement holds or cannot be judged now.
    pub fn ok(&self) -> bool {
        self.compatible() && self.missing().next().is_none()
    }

    /// The failures, one sentence each (for "skipped because …").
    pub fn reasons(&self) -> Vec<String> {
        self.failures().map(|i| i.detail.clone()).collect()
    }

    /// The failures as one line.
    pub fn summary(&self) -> String {
        self.reasons().join("; ")
    }

    /// An error refusing this plugin version: each failure as a cause, each
    /// fix as a hint.
    pub fn refusal(&self, what: &str) -> Error {
        let mut err = Error::new(format!("refusing {} {}: {what}", self.plugin, self.version));
        for item in self.failures().chain(self.missing()) {
            err = err.caused_by(&item.detail);
        }
        for item in self.failures().chain(self.missing()) {
            if let Some(fix) = &item.fix {
                err = err.with_hint(fix.clone());
            }
        }
        err.with_hint(
            "`--skip-checks` (or KPLUG_SKIP_CHECKS=1) installs it anyway, at your own risk",
        )
    }
}

/// Parse a version the way engines and tags spell it: an optional `v`,
/// missing minor/patch numbers (`1.31` → 1.31.0), build metadata and
/// prerelease suffixes kept when they parse.
pub fn parse_lenient(text: &str) -> Option<Version> {
    let t = text.trim();
    let t = t.strip_prefix('v').unwrap_or(t);
    if let Ok(v) = Version::parse(t) {
        return Some(v);
    }
    let core: String = t
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let mut parts = core.split('.').filter(|p| !p.is_empty());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    let patch = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    Some(Version::new(major, minor, patch))
}

/// Whether `v` satisfies `req`. A prerelease or build of a version counts as
/// that version (`1.31.0-rc.1+k3s1` satisfies `>=1.27`): host and cluster
/// versions carry such suffixes, and semver's strict rule would refuse them.
pub fn satisfies(req: &VersionReq, v: &Version) -> bool {
    req.matches(v) || req.matches(&Version::new(v.major, v.minor, v.patch))
}

/// A command line, quoted for a POSIX shell where needed.
fn command(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| shell_words::quote(w).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The command that installs a required plugin.
pub fn install_command(source: &str, req: &VersionReq) -> String {
    if *req == VersionReq::STAR {
        command(&["kplug", "plugin", "install", source])
    } else {
        command(&["kplug", "plugin", "install", &format!("{source}@{req}")])
    }
}

/// Judge a plugin's contract: one [`Item`] per requirement, in the order
/// kplug, Kubernetes, plugins, conflicts (its own, then those declared
/// against it).
pub fn check(
    name: &str,
    version: &Version,
    requires: &Requires,
    conflicts: &[String],
    env: &Env,
) -> Report {
    let mut items = Vec::new();
    items.extend(requires.kplug.as_ref().map(|r| judge_kplug(name, r, env)));
    items.extend(
        requires
            .kubernetes
            .as_ref()
            .map(|r| judge_kubernetes(name, r, env)),
    );
    items.extend(
        requires
            .plugins
            .iter()
            .map(|(dep, r)| judge_plugin(name, dep, r, env)),
    );
    items.extend(conflicts.iter().map(|other| judge_conflict(other, env)));
    items.extend(judge_conflicts_against(name, conflicts, env));
    Report {
        plugin: name.to_string(),
        version: version.to_string(),
        items,
    }
}

fn versions_cmd(name: &str) -> String {
    format!("`kplug plugin versions {name}`")
}

/// `requires.kplug` against this host.
fn judge_kplug(name: &str, req: &VersionReq, env: &Env) -> Item {
    let holds = satisfies(req, &env.kplug);
    Item {
        kind: Kind::Kplug,
        name: "kplug".into(),
        wanted: req.to_string(),
        found: Some(env.kplug.to_string()),
        state: if holds { State::Holds } else { State::Fails },
        detail: if holds {
            format!("requires kplug {req}: this kplug is {}", env.kplug)
        } else {
            format!("requires kplug {req}, but this kplug is {}", env.kplug)
        },
        fix: (!holds).then(|| {
            format!(
                "upgrade kplug to a version matching {req}, or use a release of {name} made for kplug {} (see {})",
                env.kplug,
                versions_cmd(name)
            )
        }),
        source: None,
    }
}

/// `requires.kubernetes` against the cluster in context (unknown without
/// one, or when its version cannot be read).
fn judge_kubernetes(name: &str, req: &VersionReq, env: &Env) -> Item {
    let unknown = |found: Option<&str>, why: String| {
        (
            State::Unknown,
            found.map(str::to_string),
            format!("requires Kubernetes {req}: not checked, {why}"),
            None,
        )
    };
    let (state, found, detail, fix) = match &env.cluster {
        None => unknown(None, "no cluster in context".into()),
        Some(c) => match c.kubernetes.as_deref() {
            None => unknown(
                None,
                format!(
                    "the engine does not report the version of cluster `{}`",
                    c.name
                ),
            ),
            Some(text) => match parse_lenient(text) {
                None => unknown(
                    Some(text),
                    format!(
                        "cluster `{}` reports a version kplug cannot read (`{text}`)",
                        c.name
                    ),
                ),
                Some(v) if satisfies(req, &v) => (
                    State::Holds,
                    Some(text.to_string()),
                    format!(
                        "requires Kubernetes {req}: cluster `{}` runs {text}",
                        c.name
                    ),
                    None,
                ),
                Some(_) => (
                    State::Fails,
                    Some(text.to_string()),
                    format!(
                        "requires Kubernetes {req}, but cluster `{}` runs {text}",
                        c.name
                    ),
                    Some(format!(
                        "use a cluster running Kubernetes {req}, or a release of {name} that supports {text} (see {})",
                        versions_cmd(name)
                    )),
                ),
            },
        },
    };
    Item {
        kind: Kind::Kubernetes,
        name: "kubernetes".into(),
        wanted: req.to_string(),
        found,
        state,
        source: None,
        detail,
        fix,
    }
}

/// One `requires.plugins` entry against the plugins present.
fn judge_plugin(name: &str, dep: &str, r: &PluginRequirement, env: &Env) -> Item {
    let (state, found, detail, fix) = match env.plugins.get(dep) {
        None => {
            let fix = match &r.source {
                Some(src) => format!(
                    "install it first with `{}`, or add `--with-deps`",
                    install_command(src, &r.version)
                ),
                None => format!(
                    "install the plugin `{dep}` ({}) first; {name} does not say where it comes from",
                    r.version
                ),
            };
            (
                State::Missing,
                None,
                format!(
                    "requires the plugin {dep} {}, which is not installed",
                    r.version
                ),
                Some(fix),
            )
        }
        Some(p) => match &p.version {
            Some(v) if satisfies(&r.version, v) => (
                State::Holds,
                Some(v.to_string()),
                format!(
                    "requires the plugin {dep} {}: {dep} {v} is there",
                    r.version
                ),
                None,
            ),
            Some(v) => {
                let fix = match (&r.source, p.in_store) {
                    (Some(src), _) => format!(
                        "switch {dep} to a matching version with `{}`",
                        install_command(src, &r.version)
                    ),
                    (None, true) => format!(
                        "switch {dep} to a version matching {} (`kplug plugin versions {dep}`)",
                        r.version
                    ),
                    (None, false) => {
                        format!("replace {dep} with a version matching {}", r.version)
                    }
                };
                (
                    State::Fails,
                    Some(v.to_string()),
                    format!(
                        "requires the plugin {dep} {}, but {dep} {v} is installed",
                        r.version
                    ),
                    Some(fix),
                )
            }
            None => (
                State::Fails,
                None,
                format!(
                    "requires the plugin {dep} {}, but {dep} is there and does not work (its INFO fails)",
                    r.version
                ),
                Some(format!(
                    "see `kplug plugin list` for what is wrong with {dep}"
                )),
            ),
        },
    };
    Item {
        kind: Kind::Plugin,
        name: dep.to_string(),
        wanted: r.version.to_string(),
        found,
        state,
        source: r.source.clone(),
        detail,
        fix,
    }
}

/// How to get rid of a conflicting plugin.
fn removal(other: &str, p: &Present) -> String {
    if p.in_store {
        format!("remove {other} first (`kplug plugin remove {other}`)")
    } else {
        format!("remove {other} from your PATH / KPLUG_PLUGIN_PATH first")
    }
}

fn shown_version(p: &Present) -> String {
    p.version
        .as_ref()
        .map_or_else(|| "present".to_string(), Version::to_string)
}

/// A conflict the plugin declares.
fn judge_conflict(other: &str, env: &Env) -> Item {
    let present = env.plugins.get(other);
    Item {
        kind: Kind::Conflict,
        name: other.to_string(),
        wanted: "absent".into(),
        found: present.map(shown_version),
        state: if present.is_some() {
            State::Fails
        } else {
            State::Holds
        },
        source: None,
        detail: match present {
            Some(_) => format!("conflicts with the plugin {other}, which is installed"),
            None => format!("conflicts with the plugin {other}: not installed"),
        },
        fix: present.map(|p| removal(other, p)),
    }
}

/// Conflicts that plugins present declare against this one: they count the
/// same as its own.
fn judge_conflicts_against(name: &str, conflicts: &[String], env: &Env) -> Vec<Item> {
    env.plugins
        .iter()
        .filter(|(other, p)| p.conflicts.iter().any(|c| c == name) && !conflicts.contains(other))
        .map(|(other, p)| Item {
            kind: Kind::Conflict,
            name: other.clone(),
            wanted: "absent".into(),
            found: Some(shown_version(p)),
            state: State::Fails,
            source: None,
            detail: format!("the installed plugin {other} declares a conflict with {name}"),
            fix: Some(removal(other, p)),
        })
        .collect()
}

/// Judge an INFO document's contract.
pub fn check_info(info: &Info, env: &Env) -> Report {
    check(
        &info.name,
        &info.version,
        &info.requires,
        &info.conflicts,
        env,
    )
}

/// `--skip-checks`, or `KPLUG_SKIP_CHECKS=1`.
pub fn skip_checks(cfg: &Config, flag: bool) -> bool {
    flag || cfg.flag(vars::SKIP_CHECKS)
}

/// Say loudly that checks were skipped, and what they would have found.
pub fn warn_skipped(cfg: &Config, report: &Report) {
    let mut msg = format!(
        "requirement checks SKIPPED for {} {} (--skip-checks / KPLUG_SKIP_CHECKS): kplug version, Kubernetes version, plugin dependencies and conflicts were not enforced",
        report.plugin, report.version
    );
    let problems: Vec<String> = report
        .failures()
        .chain(report.missing())
        .map(|i| i.detail.clone())
        .collect();
    if !problems.is_empty() {
        msg.push_str(&format!(
            "; it would have been refused: {}",
            problems.join("; ")
        ));
    }
    crate::ui::warn(cfg, &msg);
}

impl Env {
    /// An environment with just the host.
    pub fn host() -> Env {
        Env {
            kplug: parse_lenient(crate::version()).unwrap_or_else(|| Version::new(0, 0, 0)),
            cluster: None,
            plugins: BTreeMap::new(),
        }
    }

    /// This host now: its version and every plugin the catalog finds
    /// (except `exclude`, the plugin being judged).
    pub fn now(cfg: &Config, exclude: &str, cluster: Option<Cluster>) -> Env {
        let mut env = Env::host();
        env.cluster = cluster;
        for p in discovery::catalog(cfg, CatalogOptions::default()) {
            if p.name == exclude || p.status == Status::Shadowed {
                continue;
            }
            env.plugins.insert(
                p.name.clone(),
                Present {
                    version: p.info.as_ref().map(|i| i.version.clone()),
                    conflicts: p.info.map(|i| i.conflicts).unwrap_or_default(),
                    in_store: p.origin == Origin::Store,
                },
            );
        }
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::PluginRequirement;

    fn req(s: &str) -> VersionReq {
        VersionReq::parse(s).unwrap()
    }

    fn env(kplug: &str, k8s: Option<&str>, plugins: &[(&str, Option<&str>, &[&str])]) -> Env {
        Env {
            kplug: Version::parse(kplug).unwrap(),
            cluster: Some(Cluster {
                name: "dev".into(),
                kubernetes: k8s.map(str::to_string),
            }),
            plugins: plugins
                .iter()
                .map(|(n, v, c)| {
                    (
                        n.to_string(),
                        Present {
                            version: v.map(|v| Version::parse(v).unwrap()),
                            conflicts: c.iter().map(|s| s.to_string()).collect(),
                            in_store: true,
                        },
                    )
                })
                .collect(),
        }
    }

    fn requires(
        kplug: Option<&str>,
        k8s: Option<&str>,
        deps: &[(&str, &str, Option<&str>)],
    ) -> Requires {
        Requires {
            kplug: kplug.map(req),
            kubernetes: k8s.map(req),
            plugins: deps
                .iter()
                .map(|(n, r, s)| {
                    (
                        n.to_string(),
                        PluginRequirement {
                            version: req(r),
                            source: s.map(str::to_string),
                        },
                    )
                })
                .collect(),
        }
    }

    fn states(r: &Report) -> Vec<(Kind, String, State)> {
        r.items
            .iter()
            .map(|i| (i.kind, i.name.clone(), i.state))
            .collect()
    }

    #[test]
    fn lenient_versions() {
        assert_eq!(
            parse_lenient("v1.31.2+k3s1").unwrap(),
            Version::parse("1.31.2+k3s1").unwrap()
        );
        assert_eq!(parse_lenient("1.31").unwrap(), Version::new(1, 31, 0));
        assert_eq!(parse_lenient("v1").unwrap(), Version::new(1, 0, 0));
        assert_eq!(parse_lenient("v1.30.0-rc.1").unwrap().pre.as_str(), "rc.1");
        assert!(parse_lenient("latest").is_none());
        assert!(parse_lenient("").is_none());
        // Suffixes do not make a version fail a plain range.
        assert!(satisfies(
            &req(">=1.27"),
            &parse_lenient("v1.31.0-rc.1+k3s1").unwrap()
        ));
        assert!(satisfies(
            &req(">=0.1"),
            &Version::parse("0.2.0-dev").unwrap()
        ));
        assert!(!satisfies(
            &req(">=1.27"),
            &parse_lenient("v1.24.3").unwrap()
        ));
    }

    /// The constraint matrix: host × kubernetes × plugins × conflicts.
    #[test]
    fn the_matrix() {
        let v = Version::new(1, 0, 0);
        type Case<'a> = (Requires, &'a [&'a str], Env, &'a [(Kind, &'a str, State)]);
        let cases: Vec<Case> = vec![
            // Nothing declared: nothing to check.
            (requires(None, None, &[]), &[], env("0.1.0", None, &[]), &[]),
            // Host.
            (
                requires(Some(">=0.1"), None, &[]),
                &[],
                env("0.1.0", None, &[]),
                &[(Kind::Kplug, "kplug", State::Holds)],
            ),
            (
                requires(Some(">=0.2"), None, &[]),
                &[],
                env("0.1.0", None, &[]),
                &[(Kind::Kplug, "kplug", State::Fails)],
            ),
            (
                requires(Some("^0.1"), None, &[]),
                &[],
                env("0.1.5-dev", None, &[]),
                &[(Kind::Kplug, "kplug", State::Holds)],
            ),
            // Kubernetes: holds, fails, unknown (no version reported).
            (
                requires(None, Some(">=1.27"), &[]),
                &[],
                env("0.1.0", Some("v1.31.2+k3s1"), &[]),
                &[(Kind::Kubernetes, "kubernetes", State::Holds)],
            ),
            (
                requires(None, Some(">=1.27"), &[]),
                &[],
                env("0.1.0", Some("v1.24.3"), &[]),
                &[(Kind::Kubernetes, "kubernetes", State::Fails)],
            ),
            (
                requires(None, Some(">=1.27, <1.30"), &[]),
                &[],
                env("0.1.0", Some("v1.30.0"), &[]),
                &[(Kind::Kubernetes, "kubernetes", State::Fails)],
            ),
            (
                requires(None, Some(">=1.27"), &[]),
                &[],
                env("0.1.0", None, &[]),
                &[(Kind::Kubernetes, "kubernetes", State::Unknown)],
            ),
            // Plugins: present and matching, wrong version, missing, broken.
            (
                requires(None, None, &[("dns", "^1", None)]),
                &[],
                env("0.1.0", None, &[("dns", Some("1.4.0"), &[])]),
                &[(Kind::Plugin, "dns", State::Holds)],
            ),
            (
                requires(None, None, &[("dns", "^1", Some("acme/kplug-dns"))]),
                &[],
                env("0.1.0", None, &[("dns", Some("2.0.0"), &[])]),
                &[(Kind::Plugin, "dns", State::Fails)],
            ),
            (
                requires(None, None, &[("dns", "^1", Some("acme/kplug-dns"))]),
                &[],
                env("0.1.0", None, &[]),
                &[(Kind::Plugin, "dns", State::Missing)],
            ),
            (
                requires(None, None, &[("dns", "*", None)]),
                &[],
                env("0.1.0", None, &[("dns", None, &[])]),
                &[(Kind::Plugin, "dns", State::Fails)],
            ),
            // Conflicts, both ways.
            (
                requires(None, None, &[]),
                &["old-registry"],
                env("0.1.0", None, &[]),
                &[(Kind::Conflict, "old-registry", State::Holds)],
            ),
            (
                requires(None, None, &[]),
                &["old-registry"],
                env("0.1.0", None, &[("old-registry", Some("0.3.0"), &[])]),
                &[(Kind::Conflict, "old-registry", State::Fails)],
            ),
            (
                requires(None, None, &[]),
                &[],
                env("0.1.0", None, &[("other", Some("1.0.0"), &["demo"])]),
                &[(Kind::Conflict, "other", State::Fails)],
            ),
            // Everything at once.
            (
                requires(
                    Some(">=0.1"),
                    Some(">=1.27"),
                    &[("dns", "^1", None), ("certs", ">=2", None)],
                ),
                &["legacy"],
                env(
                    "0.1.0",
                    Some("v1.29.0"),
                    &[("dns", Some("1.0.0"), &[]), ("legacy", Some("9.0.0"), &[])],
                ),
                &[
                    (Kind::Kplug, "kplug", State::Holds),
                    (Kind::Kubernetes, "kubernetes", State::Holds),
                    (Kind::Plugin, "certs", State::Missing),
                    (Kind::Plugin, "dns", State::Holds),
                    (Kind::Conflict, "legacy", State::Fails),
                ],
            ),
        ];
        for (i, (req, conflicts, env, want)) in cases.into_iter().enumerate() {
            let conflicts: Vec<String> = conflicts.iter().map(|s| s.to_string()).collect();
            let report = check("demo", &v, &req, &conflicts, &env);
            let want: Vec<(Kind, String, State)> = want
                .iter()
                .map(|(k, n, s)| (*k, n.to_string(), *s))
                .collect();
            assert_eq!(states(&report), want, "case {i}: {report:#?}");
            let fails = want.iter().any(|w| w.2 == State::Fails);
            let missing = want.iter().any(|w| w.2 == State::Missing);
            assert_eq!(report.compatible(), !fails, "case {i}");
            assert_eq!(report.ok(), !fails && !missing, "case {i}");
            // Every failure says what it found and how to fix it.
            for item in report.failures().chain(report.missing()) {
                assert!(item.fix.is_some(), "case {i}: {item:?}");
            }
        }
    }

    #[test]
    fn messages_name_the_requirement_the_value_and_the_fix() {
        let r = check(
            "demo",
            &Version::new(2, 0, 0),
            &requires(
                Some(">=99"),
                Some(">=1.27"),
                &[("dns", ">=1.2", Some("acme/kplug-dns"))],
            ),
            &[],
            &env("0.1.0", Some("v1.24.3"), &[]),
        );
        assert_eq!(
            r.reasons(),
            [
                "requires kplug >=99, but this kplug is 0.1.0",
                "requires Kubernetes >=1.27, but cluster `dev` runs v1.24.3",
            ]
        );
        let dns = r.missing().next().unwrap();
        assert_eq!(
            dns.fix.as_deref(),
            Some(
                "install it first with `kplug plugin install 'acme/kplug-dns@>=1.2'`, or add `--with-deps`"
            )
        );
        let e = r.refusal("its requirements do not hold");
        assert_eq!(
            e.message(),
            "refusing demo 2.0.0: its requirements do not hold"
        );
        assert_eq!(e.causes().len(), 3);
        assert!(e.hints().iter().any(|h| h.contains("--skip-checks")));
        assert!(e.hints()[0].contains("upgrade kplug"), "{:?}", e.hints());
        assert_eq!(
            install_command("a/b", &VersionReq::STAR),
            "kplug plugin install a/b"
        );
        assert_eq!(
            install_command("a/b", &req("^1")),
            "kplug plugin install a/b@^1"
        );
    }

    #[test]
    fn skip_checks_from_flag_or_env() {
        let cfg = |v: &str| Config::from_vars(vec![(vars::SKIP_CHECKS.into(), v.into())]);
        assert!(skip_checks(&cfg(""), true));
        assert!(!skip_checks(&cfg(""), false));
        assert!(skip_checks(&cfg("1"), false));
        assert!(!skip_checks(&cfg("0"), false));
    }
}
