//! The inventory: one document a team hosts that lists plugins, their
//! versions with their contracts, and one artifact per platform for each
//! version; and named, versioned groups of plugins.
//!
//! ```yaml
//! apiVersion: kplug.dev/v1
//! kind: Inventory
//! plugins:
//!   registry:
//!     description: Local image registry wired into your clusters
//!     publisher: Platform team
//!     homepage: https://example.com/registry
//!     versions:
//!       - version: 1.4.0
//!         requires: {kplug: ">=0.1"}
//!         artifacts:
//!           - {os: linux, arch: amd64, url: https://…/kplug-registry_1.4.0_linux_amd64.tar.gz,
//!              sha256: 2cf2…, size: 5242880}
//! groups:
//!   - name: team
//!     version: 1.0.0
//!     plugins: [{name: registry, version: 1.4.0}]
//! ```
//!
//! [`parse`] reads the document a source serves, which is hostile until
//! proven otherwise: it must be YAML or JSON of this shape and version, and
//! every problem is refused with the path inside the document (`plugins.
//! registry.versions[1].artifacts[0].sha256`). An artifact URL must be
//! https, a path (relative to the inventory), or http on a loopback
//! address. The JSON Schema is `docs/inventory.schema.json`.

use super::asset::{Arch, ArchiveKind, Os, Platform};
use crate::protocol::{RawContract, Requires, names};
use semver::Version;
use serde::{Deserialize, Serialize};
use serde_yaml::Value;
use std::collections::BTreeMap;

pub const API_VERSION: &str = "kplug.dev/v1";
pub const KIND: &str = "Inventory";
/// Largest inventory read.
pub const MAX_BYTES: u64 = 64 * 1024 * 1024;

/// A checked inventory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    /// The minisign public key (`RW…`) its publisher signs artifacts with:
    /// trusted when the document itself is signed by a key the source
    /// trusts, else only on first use.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "publicKey")]
    pub public_key: Option<String>,
    pub plugins: BTreeMap<String, PluginEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Group>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginEntry {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caveats: Option<String>,
    /// Newest first.
    pub versions: Vec<VersionEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionEntry {
    pub version: Version,
    #[serde(default, skip_serializing_if = "Requires::is_empty")]
    pub requires: Requires,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<String>,
    pub artifacts: Vec<ArtifactEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactEntry {
    pub os: String,
    pub arch: String,
    pub url: String,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    pub archive: ArchiveKind,
    /// The minisign signature of the artifact's bytes (a `.minisig`'s text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl ArtifactEntry {
    /// Whether it runs on `platform`.
    pub fn is_for(&self, platform: &Platform) -> bool {
        Os::from_name(&self.os) == Some(platform.os)
            && Arch::from_name(&self.arch) == Some(platform.arch)
    }

    /// Its file name: the URL's last segment.
    pub fn file_name(&self) -> &str {
        let path = self.url.split(['?', '#']).next().unwrap_or_default();
        path.rsplit('/')
            .next()
            .filter(|s| !s.is_empty())
            .unwrap_or("artifact")
    }
}

impl VersionEntry {
    pub fn artifact_for(&self, platform: &Platform) -> Option<&ArtifactEntry> {
        self.artifacts.iter().find(|a| a.is_for(platform))
    }
}

/// A named, versioned set of plugin versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    pub version: Version,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub plugins: Vec<GroupMember>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupMember {
    pub name: String,
    pub version: Version,
}

/// What is wrong with a document, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The path inside the document (`plugins.x.versions[0].sha256`), or
    /// empty for the document as a whole.
    pub path: String,
    pub problem: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.problem)
        } else {
            write!(f, "`{}`: {}", self.path, self.problem)
        }
    }
}

fn problem(path: impl Into<String>, what: impl Into<String>) -> Problem {
    Problem {
        path: path.into(),
        problem: what.into(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDoc {
    api_version: Option<String>,
    kind: Option<String>,
    public_key: Option<String>,
    #[serde(default)]
    plugins: BTreeMap<String, Value>,
    #[serde(default)]
    groups: Vec<Value>,
}

#[derive(Deserialize)]
struct RawPlugin {
    description: Option<String>,
    publisher: Option<String>,
    homepage: Option<String>,
    caveats: Option<String>,
    #[serde(default)]
    versions: Vec<Value>,
}

#[derive(Deserialize)]
struct RawVersion {
    version: Option<Value>,
    #[serde(flatten)]
    contract: RawContractFields,
    #[serde(default)]
    artifacts: Vec<RawArtifact>,
}

/// The contract fields, kept as YAML until [`RawContract`] checks them.
#[derive(Deserialize, Default)]
struct RawContractFields {
    requires: Option<Value>,
    conflicts: Option<Value>,
}

#[derive(Deserialize)]
struct RawArtifact {
    os: Option<String>,
    arch: Option<String>,
    url: Option<String>,
    sha256: Option<String>,
    size: Option<u64>,
    archive: Option<String>,
    signature: Option<String>,
}

#[derive(Deserialize)]
struct RawGroup {
    name: Option<String>,
    version: Option<Value>,
    description: Option<String>,
    #[serde(default)]
    plugins: Vec<RawMember>,
}

#[derive(Deserialize)]
struct RawMember {
    name: Option<String>,
    version: Option<Value>,
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn version_at(path: &str, v: Option<&Value>) -> Result<Version, Problem> {
    let text = v
        .and_then(scalar)
        .ok_or_else(|| problem(path, "is missing (a semantic version like `1.4.0`)"))?;
    let t = text.trim();
    Version::parse(t.strip_prefix('v').unwrap_or(t)).map_err(|e| {
        problem(
            path,
            format!(
                "`{}` is not a semantic version ({e})",
                crate::ui::escape(&text)
            ),
        )
    })
}

/// Whether `host` is a loopback address or name.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether kplug may fetch `url`: https, or plain http on a loopback
/// address; never with user info in it. `Err` says why not.
pub fn check_fetchable(url: &reqwest::Url) -> Result<(), String> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "carries a user name or password; kplug does not send credentials in URLs".into(),
        );
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if url.host_str().is_some_and(is_loopback_host) => Ok(()),
        "http" => Err("uses plain http on a host that is not loopback".into()),
        other => Err(format!(
            "uses the scheme `{}`; kplug fetches over https (or from a path)",
            crate::ui::escape(other)
        )),
    }
}

/// Whether `text` is read as a URL rather than a path: it has a scheme
/// (`x:`), starts with `//`, or holds a backslash (which URL parsers read
/// as a separator).
fn looks_like_url(text: &str) -> bool {
    let scheme_len = text
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || b"+.-".contains(b))
        .count();
    (scheme_len > 0
        && text.as_bytes().get(scheme_len) == Some(&b':')
        && text.as_bytes()[0].is_ascii_alphabetic())
        || text.starts_with("//")
        || text.contains('\\')
}

/// An artifact URL kplug may fetch: https anywhere, http only on loopback,
/// or a path (no scheme), relative to the inventory or absolute.
fn check_url(path: &str, url: &str) -> Result<(), Problem> {
    if url.is_empty() || url.len() > 4096 || url.chars().any(char::is_control) {
        return Err(problem(path, "is not a usable URL"));
    }
    if !looks_like_url(url) {
        return Ok(());
    }
    if url.contains('\\') || url.starts_with("//") {
        return Err(problem(
            path,
            "is neither a URL with a scheme nor a plain path",
        ));
    }
    let parsed =
        reqwest::Url::parse(url).map_err(|e| problem(path, format!("is not a URL ({e})")))?;
    check_fetchable(&parsed).map_err(|why| problem(path, why))
}

/// Parse and check an inventory document (YAML or JSON).
pub fn parse(doc: &[u8]) -> Result<Inventory, Problem> {
    let text = std::str::from_utf8(doc).map_err(|_| problem("", "is not UTF-8 text"))?;
    if text.trim().is_empty() {
        return Err(problem("", "is empty"));
    }
    let raw: RawDoc = crate::protocol::yaml::from_str(text)
        .map_err(|e| problem("", format!("is not an inventory document: {e}")))?;
    match raw.api_version.as_deref() {
        Some(API_VERSION) => {}
        Some(other) => {
            return Err(problem(
                "apiVersion",
                format!(
                    "`{}` is not a version of the inventory this kplug reads (`{API_VERSION}`); a newer kplug may",
                    crate::ui::escape(other)
                ),
            ));
        }
        None => {
            return Err(problem(
                "apiVersion",
                format!("is missing (`{API_VERSION}`)"),
            ));
        }
    }
    if raw.kind.as_deref() != Some(KIND) {
        return Err(problem("kind", format!("must be `{KIND}`")));
    }
    let mut inv = Inventory::default();
    if let Some(k) = raw.public_key {
        crate::install::signing::Key::parse(&k).map_err(|why| problem("publicKey", why))?;
        inv.public_key = Some(k.trim().to_string());
    }
    for (name, value) in raw.plugins {
        let at = format!("plugins.{}", crate::ui::escape(&name));
        names::validate(&name).map_err(|e| problem(&at, format!("the name {e}")))?;
        let p: RawPlugin = serde_yaml::from_value(value)
            .map_err(|e| problem(&at, format!("has the wrong shape: {e}")))?;
        let mut entry = PluginEntry {
            description: p.description.unwrap_or_default().trim().to_string(),
            publisher: p.publisher,
            homepage: p.homepage,
            caveats: p.caveats,
            versions: Vec::new(),
        };
        for (i, v) in p.versions.into_iter().enumerate() {
            let vat = format!("{at}.versions[{i}]");
            entry.versions.push(version_entry(&vat, v)?);
        }
        if entry.versions.is_empty() {
            return Err(problem(format!("{at}.versions"), "lists no version"));
        }
        entry.versions.sort_by(|a, b| b.version.cmp(&a.version));
        if let Some(w) = entry
            .versions
            .windows(2)
            .find(|w| w[0].version == w[1].version)
        {
            return Err(problem(
                format!("{at}.versions"),
                format!("lists version {} twice", w[0].version),
            ));
        }
        inv.plugins.insert(name, entry);
    }
    for (i, g) in raw.groups.into_iter().enumerate() {
        let at = format!("groups[{i}]");
        let g: RawGroup = serde_yaml::from_value(g)
            .map_err(|e| problem(&at, format!("has the wrong shape: {e}")))?;
        let name = g
            .name
            .ok_or_else(|| problem(format!("{at}.name"), "is missing"))?;
        names::validate(&name)
            .map_err(|e| problem(format!("{at}.name"), format!("`{name}` {e}")))?;
        let version = version_at(&format!("{at}.version"), g.version.as_ref())?;
        let mut members = Vec::new();
        for (j, m) in g.plugins.into_iter().enumerate() {
            let mat = format!("{at}.plugins[{j}]");
            let mname = m
                .name
                .ok_or_else(|| problem(format!("{mat}.name"), "is missing"))?;
            let mversion = version_at(&format!("{mat}.version"), m.version.as_ref())?;
            let Some(p) = inv.plugins.get(&mname) else {
                return Err(problem(
                    format!("{mat}.name"),
                    format!(
                        "`{}` is not a plugin of this inventory",
                        crate::ui::escape(&mname)
                    ),
                ));
            };
            if !p.versions.iter().any(|v| v.version == mversion) {
                return Err(problem(
                    format!("{mat}.version"),
                    format!("{mname} has no version {mversion} in this inventory"),
                ));
            }
            members.push(GroupMember {
                name: mname,
                version: mversion,
            });
        }
        if inv
            .groups
            .iter()
            .any(|o: &Group| o.name == name && o.version == version)
        {
            return Err(problem(
                at,
                format!("group {name} {version} is listed twice"),
            ));
        }
        inv.groups.push(Group {
            name,
            version,
            description: g.description.unwrap_or_default(),
            plugins: members,
        });
    }
    Ok(inv)
}

fn version_entry(at: &str, v: Value) -> Result<VersionEntry, Problem> {
    let raw: RawVersion =
        serde_yaml::from_value(v).map_err(|e| problem(at, format!("has the wrong shape: {e}")))?;
    let version = version_at(&format!("{at}.version"), raw.version.as_ref())?;
    let contract: RawContract = serde_yaml::from_value(
        serde_yaml::to_value(ContractValue {
            requires: raw.contract.requires,
            conflicts: raw.contract.conflicts,
        })
        .unwrap_or_default(),
    )
    .map_err(|e| problem(at, format!("has a contract of the wrong shape: {e}")))?;
    let (requires, conflicts) = contract
        .parse("inventory", at)
        .map_err(|e| problem(e.field.unwrap_or_default(), e.problem))?;
    let mut artifacts: Vec<ArtifactEntry> = Vec::new();
    for (k, a) in raw.artifacts.into_iter().enumerate() {
        let aat = format!("{at}.artifacts[{k}]");
        let field = |f: &str| format!("{aat}.{f}");
        let os = a.os.ok_or_else(|| problem(field("os"), "is missing"))?;
        if Os::from_name(&os).is_none() {
            return Err(problem(
                field("os"),
                format!(
                    "`{}` is not one of linux, darwin, windows",
                    crate::ui::escape(&os)
                ),
            ));
        }
        let arch = a.arch.ok_or_else(|| problem(field("arch"), "is missing"))?;
        if Arch::from_name(&arch).is_none() {
            return Err(problem(
                field("arch"),
                format!(
                    "`{}` is not one of amd64, arm64, arm, 386",
                    crate::ui::escape(&arch)
                ),
            ));
        }
        let url = a.url.ok_or_else(|| problem(field("url"), "is missing"))?;
        check_url(&field("url"), &url)?;
        let sha256 = a.sha256.ok_or_else(|| {
            problem(
                field("sha256"),
                "is missing: every artifact needs its sha256",
            )
        })?;
        if !crate::fsutil::is_sha256(&sha256) {
            return Err(problem(field("sha256"), "is not 64 hex digits"));
        }
        let archive = match a.archive.as_deref() {
            Some("tar.gz") | Some("tgz") => ArchiveKind::TarGz,
            Some("zip") => ArchiveKind::Zip,
            Some("binary") => ArchiveKind::Binary,
            Some(other) => {
                return Err(problem(
                    field("archive"),
                    format!(
                        "`{}` is not one of tar.gz, zip, binary",
                        crate::ui::escape(other)
                    ),
                ));
            }
            None => super::asset::archive_kind(url.split(['?', '#']).next().unwrap_or(&url))
                .unwrap_or(ArchiveKind::Binary),
        };
        let entry = ArtifactEntry {
            os: Os::from_name(&os).expect("checked").inventory_name().into(),
            arch: Arch::from_name(&arch)
                .expect("checked")
                .inventory_name()
                .into(),
            url,
            sha256: sha256.to_ascii_lowercase(),
            size: a.size,
            archive,
            signature: match a.signature {
                Some(s) if crate::install::signing::Sig::parse(&s).is_err() => {
                    return Err(problem(field("signature"), "is not a minisign signature"));
                }
                s => s,
            },
        };
        if artifacts
            .iter()
            .any(|o| o.os == entry.os && o.arch == entry.arch)
        {
            return Err(problem(
                aat,
                format!("a second artifact for {}/{}", entry.os, entry.arch),
            ));
        }
        artifacts.push(entry);
    }
    Ok(VersionEntry {
        version,
        requires,
        conflicts,
        artifacts,
    })
}

#[derive(Serialize)]
struct ContractValue {
    #[serde(skip_serializing_if = "Option::is_none")]
    requires: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    conflicts: Option<Value>,
}

/// The document as YAML (what `plugin inventory build` writes).
pub fn to_yaml(inv: &Inventory) -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Doc<'a> {
        api_version: &'static str,
        kind: &'static str,
        #[serde(flatten)]
        inventory: &'a Inventory,
    }
    serde_yaml::to_string(&Doc {
        api_version: API_VERSION,
        kind: KIND,
        inventory: inv,
    })
    .expect("an inventory serialises")
}

/// The document as JSON (what a source's copy keeps; read back through
/// [`parse`], as a copy on disk is no more trusted than the source).
pub fn to_json(inv: &Inventory) -> Vec<u8> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Doc<'a> {
        api_version: &'static str,
        kind: &'static str,
        #[serde(flatten)]
        inventory: &'a Inventory,
    }
    serde_json::to_vec(&Doc {
        api_version: API_VERSION,
        kind: KIND,
        inventory: inv,
    })
    .expect("an inventory serialises")
}

/// Add `other`'s plugin versions and groups to `inv`; a version both list
/// gets `other`'s artifacts for the platforms `other` has (a rebuilt
/// platform replaces the old one), and `other`'s plugin descriptions win
/// when they are not empty.
pub fn merge(inv: &mut Inventory, other: Inventory) {
    for (name, entry) in other.plugins {
        let mine = inv.plugins.entry(name).or_default();
        if !entry.description.is_empty() {
            mine.description = entry.description;
        }
        for field in [
            (&mut mine.publisher, entry.publisher),
            (&mut mine.homepage, entry.homepage),
            (&mut mine.caveats, entry.caveats),
        ] {
            if field.1.is_some() {
                *field.0 = field.1;
            }
        }
        for v in entry.versions {
            match mine.versions.iter_mut().find(|m| m.version == v.version) {
                Some(m) => {
                    m.requires = v.requires;
                    m.conflicts = v.conflicts;
                    for a in v.artifacts {
                        m.artifacts.retain(|o| !(o.os == a.os && o.arch == a.arch));
                        m.artifacts.push(a);
                    }
                    m.artifacts
                        .sort_by(|a, b| (&a.os, &a.arch).cmp(&(&b.os, &b.arch)));
                }
                None => mine.versions.push(v),
            }
        }
        mine.versions.sort_by(|a, b| b.version.cmp(&a.version));
    }
    for g in other.groups {
        inv.groups
            .retain(|o| !(o.name == g.name && o.version == g.version));
        inv.groups.push(g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    /// The worked example of docs/sources.md is a valid inventory, and
    /// the JSON Schema beside it is JSON that requires what `parse` does.
    #[test]
    fn the_documented_example_and_schema_hold() {
        let page = include_str!("../../docs/sources.md");
        let start = page
            .find("```yaml\napiVersion: kplug.dev/v1")
            .expect("the example")
            + 8;
        let end = start + page[start..].find("```").expect("its end");
        let inv = parse(&page.as_bytes()[start..end]).unwrap_or_else(|p| panic!("{p}"));
        let registry = &inv.plugins["registry"];
        assert_eq!(registry.versions.len(), 2);
        assert_eq!(registry.versions[0].artifacts.len(), 2);
        assert_eq!(inv.groups[0].plugins[0].name, "registry");
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../docs/inventory.schema.json")).unwrap();
        assert_eq!(
            schema["$defs"]["artifact"]["required"],
            serde_json::json!(["os", "arch", "url", "sha256"])
        );
        assert_eq!(schema["properties"]["apiVersion"]["const"], API_VERSION);
    }

    fn doc(plugins: &str, groups: &str) -> String {
        format!("apiVersion: kplug.dev/v1\nkind: Inventory\nplugins:\n{plugins}\ngroups:\n{groups}")
    }

    fn one(version: &str, artifact: &str) -> String {
        format!(
            "  registry:\n    description: Local registry\n    versions:\n      - version: {version}\n        requires: {{kplug: '>=0.1'}}\n        artifacts:\n          - {artifact}\n"
        )
    }

    fn art(extra: &str) -> String {
        format!("{{os: linux, arch: amd64, url: 'https://e.x/r.tar.gz', sha256: {SHA}{extra}}}")
    }

    #[test]
    fn a_good_document_reads_and_round_trips() {
        let text = doc(
            &format!(
                "{}      - version: v1.5.0\n        artifacts: [{{os: darwin, arch: aarch64, url: r.zip, sha256: {}}}]\n",
                one("1.4.0", &art(", size: 12")),
                SHA.to_uppercase()
            ),
            "  - {name: team, version: 1.0.0, plugins: [{name: registry, version: 1.4.0}]}\n",
        );
        let inv = parse(text.as_bytes()).unwrap();
        let r = &inv.plugins["registry"];
        assert_eq!(r.description, "Local registry");
        assert_eq!(r.versions[0].version.to_string(), "1.5.0", "newest first");
        let a = &r.versions[0].artifacts[0];
        assert_eq!(
            (a.os.as_str(), a.arch.as_str()),
            ("darwin", "arm64"),
            "normalised"
        );
        assert_eq!(a.sha256, SHA, "lower-cased");
        assert_eq!(a.archive, ArchiveKind::Zip);
        assert_eq!(
            r.versions[1].requires.kplug.as_ref().unwrap().to_string(),
            ">=0.1"
        );
        assert_eq!(r.versions[1].artifacts[0].size, Some(12));
        assert_eq!(inv.groups[0].plugins[0].name, "registry");
        // What build writes reads back the same.
        assert_eq!(parse(to_yaml(&inv).as_bytes()).unwrap(), inv);
        // JSON is YAML.
        let json = serde_json::json!({"apiVersion": API_VERSION, "kind": KIND, "plugins": {}});
        assert!(
            parse(json.to_string().as_bytes())
                .unwrap()
                .plugins
                .is_empty()
        );
    }

    #[test]
    fn every_bad_input_names_its_place() {
        let cases: Vec<(String, &str, &str)> = vec![
            ("not: [yaml".into(), "", "not an inventory"),
            (
                "apiVersion: kplug.dev/v9\nkind: Inventory\n".into(),
                "apiVersion",
                "kplug.dev/v9",
            ),
            ("kind: Inventory\n".into(), "apiVersion", "missing"),
            (
                "apiVersion: kplug.dev/v1\nkind: Other\n".into(),
                "kind",
                "Inventory",
            ),
            (
                doc(&one("1.4", &art("")), ""),
                "plugins.registry.versions[0].version",
                "not a semantic version",
            ),
            (
                doc(
                    &one(
                        "1.4.0",
                        "{os: linux, arch: amd64, url: 'https://e.x/r.tar.gz'}",
                    ),
                    "",
                ),
                "plugins.registry.versions[0].artifacts[0].sha256",
                "missing",
            ),
            (
                doc(
                    &one("1.4.0", &art("").replace("https://e.x", "ftp://e.x")),
                    "",
                ),
                "plugins.registry.versions[0].artifacts[0].url",
                "scheme `ftp`",
            ),
            (
                doc(
                    &one("1.4.0", &art("").replace("https://e.x", "http://e.x")),
                    "",
                ),
                "plugins.registry.versions[0].artifacts[0].url",
                "not loopback",
            ),
            (
                doc(
                    &format!("{}          - {}\n", one("1.4.0", &art("")), art("")),
                    "",
                ),
                "plugins.registry.versions[0].artifacts[1]",
                "second artifact for linux/amd64",
            ),
            (
                doc(&one("1.4.0", &art("").replace("amd64", "sparc")), ""),
                "plugins.registry.versions[0].artifacts[0].arch",
                "sparc",
            ),
            (
                doc(
                    &one("1.4.0", &art("")),
                    "  - {name: team, version: 1.0.0, plugins: [{name: nope, version: 1.0.0}]}\n",
                ),
                "groups[0].plugins[0].name",
                "not a plugin of this inventory",
            ),
            (
                doc(
                    &one("1.4.0", &art("")),
                    "  - {name: team, version: 1.0.0, plugins: [{name: registry, version: 9.0.0}]}\n",
                ),
                "groups[0].plugins[0].version",
                "no version 9.0.0",
            ),
            (
                doc(
                    &one("1.4.0", &art(""))
                        .replace("requires: {kplug: '>=0.1'}", "requires: {kplug: 'soon'}"),
                    "",
                ),
                "plugins.registry.versions[0].requires.kplug",
                "not a version range",
            ),
            (
                doc(
                    &format!(
                        "{}      - version: 1.4.0\n        artifacts: []\n",
                        one("1.4.0", &art(""))
                    ),
                    "",
                ),
                "plugins.registry.versions",
                "twice",
            ),
            (
                doc("  Bad_Name:\n    versions: []\n", ""),
                "plugins.Bad_Name",
                "the name",
            ),
        ];
        for (text, path, needle) in cases {
            let e = parse(text.as_bytes()).unwrap_err();
            assert_eq!(e.path, path, "{text}\n{e}");
            assert!(e.problem.contains(needle), "{e} lacks {needle:?}");
        }
        let deep = format!("plugins: {}{}", "[".repeat(1000), "]".repeat(1000));
        assert!(parse(deep.as_bytes()).unwrap_err().problem.contains("deep"));
    }

    #[test]
    fn loopback_http_and_paths_are_allowed() {
        for url in [
            "http://127.0.0.1:8080/x.tar.gz",
            "http://[::1]/x",
            "http://localhost/x",
            "r.tar.gz",
            "/srv/r.tar.gz",
        ] {
            assert!(check_url("u", url).is_ok(), "{url}");
        }
        for url in [
            "http://127.0.0.1.evil.com/x",
            "http://user@10.0.0.1/x",
            "file:///etc/passwd",
            "",
        ] {
            assert!(check_url("u", url).is_err(), "{url}");
        }
    }

    #[test]
    fn merging_adds_versions_and_replaces_rebuilt_platforms() {
        let a = parse(doc(&one("1.4.0", &art("")), "").as_bytes()).unwrap();
        let mut b = a.clone();
        let v = &mut b.plugins.get_mut("registry").unwrap().versions[0];
        v.artifacts[0].sha256 = "0".repeat(64);
        v.artifacts.push(ArtifactEntry {
            os: "darwin".into(),
            arch: "arm64".into(),
            url: "r.zip".into(),
            sha256: SHA.into(),
            size: None,
            archive: ArchiveKind::Zip,
            signature: None,
        });
        let mut c = b.clone();
        c.plugins.get_mut("registry").unwrap().versions[0].version = Version::new(1, 5, 0);
        let mut merged = a;
        merge(&mut merged, b);
        merge(&mut merged, c);
        let r = &merged.plugins["registry"];
        assert_eq!(r.versions.len(), 2);
        assert_eq!(r.versions[0].version, Version::new(1, 5, 0));
        assert_eq!(r.versions[1].artifacts.len(), 2);
        assert_eq!(
            r.versions[1].artifacts[1].sha256,
            "0".repeat(64),
            "linux rebuilt"
        );
    }
}
