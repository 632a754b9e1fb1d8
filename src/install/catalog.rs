//! The configured sources (`sources:` in the config file), the copy of
//! what each offers kept under `$KPLUG_HOME/cache/sources/<name>/`, search
//! over those copies, and turning a plugin name into a [`Request`].
//!
//! A copy is used while it is younger than the source's TTL (default 1h):
//! a search with fresh copies makes no request at all. An older copy is
//! refreshed with a conditional request (`If-None-Match`,
//! `If-Modified-Since`), so an unchanged inventory costs one small answer;
//! an inventory file is re-read when its size or mtime changed. A source
//! that cannot be reached is warned about and its stale copy used; sources
//! are refreshed in parallel, each within `network.readTimeout`.
//!
//! Each copy is `meta.json` (where and when it was fetched), `listing.json`
//! (what search reads: per plugin its description and versions, with
//! whether each has an artifact for this platform) and, for inventories,
//! `inventory.json` (the checked document, for installs). A copy on disk is
//! trusted no more than the source: the inventory is checked again when it
//! is read, and listed names that are not plugin names are dropped.

use super::asset::Platform;
use super::inventory::{self, Inventory};
use super::oci::Reference;
use super::oci::registry::{INDEX, MANIFEST, Registry};
use super::signing;
use super::source::github::{GitHub, Repo};
use super::source::index::{Base, IndexSource};
use super::source::{self, Request, Spec};
use crate::config::{Config, SourceConfig, SourceKind};
use crate::error::{Error, Result};
use crate::install::http::{self, Http};
use crate::protocol::names;
use reqwest::Url;
use reqwest::header::{
    ETAG, HeaderMap, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

const FORMAT: u32 = 3;
const OCI: &str = crate::install::oci::reference::SCHEME;
/// How long a copy is used without asking the source again.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);
/// Largest listing or meta file read back.
const MAX_COPY: u64 = 64 * 1024 * 1024;

/// When and from where a copy was fetched.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    format: u32,
    kind: String,
    address: String,
    /// Milliseconds since the epoch (a TTL may be shorter than a second).
    fetched_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_modified: Option<String>,
    /// Size and mtime of an inventory file when it was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<(u64, i64)>,
    /// The key (one the source trusts) the inventory document was signed
    /// by, when it was checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signed_by: Option<String>,
    /// The source's `trust:` when the copy was checked: a change makes the
    /// copy stale.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    trust: Vec<String>,
}

/// What a source offers, as search needs it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Listing {
    pub plugins: Vec<Listed>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Listed {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// For GitHub sources: the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// Newest first.
    pub versions: Vec<ListedVersion>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListedVersion {
    pub version: semver::Version,
    /// `requires.kplug`, when the source says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kplug: Option<semver::VersionReq>,
    /// Whether it has an artifact for this platform (`true` when the
    /// source cannot tell before a download, as GitHub releases).
    pub host: bool,
}

impl Listed {
    /// The newest stable version this host can install, as far as the
    /// listing tells (`requires.kplug` and the platform).
    pub fn latest_for_host(&self) -> Option<&ListedVersion> {
        let kplug = crate::requirements::Env::host().kplug;
        self.versions.iter().find(|v| {
            v.host
                && v.version.pre.is_empty()
                && v.kplug
                    .as_ref()
                    .is_none_or(|r| crate::requirements::satisfies(r, &kplug))
        })
    }
}

/// How a refresh went.
#[derive(Debug)]
pub enum Refreshed {
    /// The copy is young enough: nothing was asked.
    Fresh,
    /// Asked; the source said nothing changed.
    NotModified,
    /// Fetched anew.
    Updated,
    /// The source could not be asked; the stale copy (if any) stands.
    Failed(Error),
    /// A server without a catalogue (Omaha) answered as it should.
    Answered,
}

/// The configured sources.
pub struct Catalog<'a> {
    cfg: &'a Config,
    pub sources: Vec<SourceConfig>,
}

/// Check a source's name: lowercase letters, digits and `-`, like a plugin.
pub fn check_source_name(name: &str) -> Result<()> {
    names::check_syntax(name).map_err(|e| {
        Error::usage(format!(
            "`{}` cannot name a source: it {e}",
            crate::ui::escape(name)
        ))
        .with_hint("use lowercase letters, digits and `-`, like `team`")
    })?;
    if name.len() > 32 {
        return Err(Error::usage(format!(
            "`{name}` is too long for a source name (at most 32 characters)"
        )));
    }
    Ok(())
}

/// The kind an address looks like: an `http(s)://` URL or a path is an
/// inventory, `owner` or `owner/repo` a GitHub source.
pub fn guess_kind(address: &str) -> Option<SourceKind> {
    if address.starts_with(OCI) {
        return Some(SourceKind::Oci);
    }
    if address.starts_with(source::omaha::SCHEME) {
        return Some(SourceKind::Omaha);
    }
    if address.starts_with("https://")
        || address.starts_with("http://")
        || address.starts_with('/')
        || address.starts_with("./")
        || address.starts_with("../")
        || address.ends_with(".yaml")
        || address.ends_with(".yml")
        || address.ends_with(".json")
    {
        return Some(SourceKind::Index);
    }
    let gh = |p: &str| {
        !p.is_empty()
            && p.len() <= 100
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    match address.split_once('/') {
        None if gh(address) => Some(SourceKind::Github),
        Some((o, r)) if gh(o) && Repo::parse_pair(&format!("{o}/{r}")).is_some() => {
            Some(SourceKind::Github)
        }
        _ => None,
    }
}

/// Check a configured source: its name, and an address of its kind (an
/// inventory URL must be https, or http on a loopback address).
pub fn check_configured(s: &SourceConfig) -> Result<()> {
    check_source_name(&s.name)?;
    trusted_keys(s)?;
    if s.kind != SourceKind::Omaha
        && (s.channel.is_some() || !s.apps.is_empty() || s.require_sha256)
    {
        return Err(Error::usage(format!(
            "source `{}` is of kind {}: `channel`, `apps` and `requireSha256` are for omaha sources",
            s.name,
            s.kind.as_str()
        )));
    }
    match s.kind {
        SourceKind::Omaha => check_omaha(s),
        SourceKind::Oci => {
            let r = Reference::parse(&s.address)?;
            if r.tag.is_some() || r.digest.is_some() {
                return Err(Error::usage(format!(
                    "`{}` names a tag or digest; an oci source is a repository prefix",
                    crate::ui::escape(&s.address)
                ))
                .with_hint(format!("add `{}` instead", r.repository())));
            }
            Ok(())
        }
        SourceKind::Index if s.address.starts_with(OCI) => Reference::parse(&s.address).map(drop),
        SourceKind::Index if s.address.contains("://") => {
            let url = Url::parse(&s.address).map_err(|e| {
                Error::usage(format!("`{}` is not a URL", http::display_text(&s.address)))
                    .caused_by(e)
            })?;
            inventory::check_fetchable(&url).map_err(|why| {
                Error::usage(format!("`{}` {why}", http::display_url(&url)))
                    .with_hint("serve the inventory over https, or give its path")
            })
        }
        SourceKind::Index if s.address.is_empty() || s.address.chars().any(char::is_control) => {
            Err(Error::usage(
                "the inventory's path is empty or holds control characters",
            ))
        }
        SourceKind::Index => Ok(()),
        SourceKind::Github => {
            if guess_kind(&s.address) != Some(SourceKind::Github) {
                return Err(Error::usage(format!(
                    "`{}` is not a GitHub owner or `owner/repo`",
                    crate::ui::escape(&s.address)
                )));
            }
            Ok(())
        }
    }
}

/// The keys a source trusts (`trust:`), each checked.
pub fn trusted_keys(s: &SourceConfig) -> Result<Vec<(signing::Key, signing::How)>> {
    signing::keys(&s.trust, signing::How::Source).map_err(|why| {
        Error::usage(format!("`trust` of source `{}` {why}", s.name))
            .with_hint("give minisign public keys, the `RW…` line of a minisign.pub")
    })
}

/// An omaha source: `omaha+https://…` (or `omaha+http://` on a loopback
/// address), a valid channel, and app ids for plugin names.
fn check_omaha(s: &SourceConfig) -> Result<()> {
    let shown = || http::display_text(&s.address);
    if s.ttl.is_some() {
        return Err(Error::usage(format!(
            "source `{}` is an omaha source: it keeps no copy, so `ttl` means nothing for it",
            s.name
        ))
        .with_hint("remove `ttl`; every install and update asks the server"));
    }
    if !s.trust.is_empty() {
        return Err(Error::usage(format!(
            "source `{}` is an omaha source: its packages carry no signatures, so `trust` cannot be checked",
            s.name
        ))
        .with_hint("remove `trust`; the server's sha256 is what an omaha package is checked against"));
    }
    let Some(endpoint) = s.address.strip_prefix(source::omaha::SCHEME) else {
        return Err(Error::usage(format!(
            "`{}` is not an Omaha address",
            crate::ui::escape(&shown())
        ))
        .with_hint("write it as omaha+https://HOST/v1/update"));
    };
    let url = Url::parse(endpoint).map_err(|e| {
        Error::usage(format!("`{}` is not a URL", crate::ui::escape(&shown()))).caused_by(e)
    })?;
    inventory::check_fetchable(&url).map_err(|why| {
        Error::usage(format!("`{}` {why}", http::display_url(&url))).with_hint(
            "an Omaha server is asked over https (plain http only on a loopback address)",
        )
    })?;
    if let Some(c) = &s.channel {
        source::omaha::check_channel(c).map_err(|why| {
            Error::usage(format!(
                "`{}` cannot be the channel of source `{}`: {why}",
                crate::ui::escape(c),
                s.name
            ))
        })?;
    }
    for (plugin, id) in &s.apps {
        names::validate(plugin).map_err(|e| {
            Error::usage(format!(
                "`apps` of source `{}` names `{}`, which is not a plugin name: it {e}",
                s.name,
                crate::ui::escape(plugin)
            ))
        })?;
        source::omaha::check_app_id(id).map_err(|why| {
            Error::usage(format!(
                "`{}` cannot be the app id of {plugin} in source `{}`: {why}",
                crate::ui::escape(id),
                s.name
            ))
        })?;
    }
    Ok(())
}

/// Check a source as it would be added, and normalise its address (an
/// inventory path becomes absolute).
pub fn check_source(mut s: SourceConfig) -> Result<SourceConfig> {
    check_configured(&s)?;
    if s.kind == SourceKind::Index && !s.address.contains("://") {
        let p = Path::new(&s.address);
        s.address = std::path::absolute(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string();
    }
    Ok(s)
}

impl<'a> Catalog<'a> {
    /// The sources of the config file, each checked as `source add`
    /// checks it (the file may be written by hand).
    pub fn new(cfg: &'a Config) -> Result<Catalog<'a>> {
        let sources = cfg.file()?.sources.clone();
        let mut seen = std::collections::HashSet::new();
        for s in &sources {
            let file = cfg.config_file_path().map_or_else(
                || "the config file".to_string(),
                |p| p.display().to_string(),
            );
            check_configured(s).map_err(|e| {
                e.context(format!(
                    "the source `{}` in {file} is not usable",
                    crate::ui::escape(&s.name)
                ))
                .with_hint("fix it there, or remove it with `kplug plugin source remove NAME`")
            })?;
            if !seen.insert(s.name.as_str()) {
                return Err(
                    Error::new(format!("{file} names the source `{}` twice", s.name))
                        .with_hint("give each source its own name"),
                );
            }
        }
        Ok(Catalog { cfg, sources })
    }

    /// A catalog of just `sources` (one being added, before it is saved).
    pub fn of(cfg: &'a Config, sources: Vec<SourceConfig>) -> Catalog<'a> {
        Catalog { cfg, sources }
    }

    pub fn get(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name == name)
    }

    fn dir(&self, name: &str) -> Result<PathBuf> {
        Ok(self.cfg.home()?.join("cache").join("sources").join(name))
    }

    fn meta(&self, s: &SourceConfig) -> Option<Meta> {
        let dir = self.dir(&s.name).ok()?;
        let bytes = crate::fsutil::read_bounded(&dir.join("meta.json"), 1024 * 1024).ok()?;
        let meta: Meta = serde_json::from_slice(&bytes).ok()?;
        // A copy of another address (the source was re-added) is no copy.
        (meta.format == FORMAT && meta.address == s.address && meta.kind == s.kind.as_str())
            .then_some(meta)
    }

    /// Delete the copy kept of source `name` (it was removed).
    pub fn forget(&self, name: &str) -> Result<()> {
        check_source_name(name)?;
        let dir = self.dir(name)?;
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::new(format!("could not remove {}", dir.display())).caused_by(e))
            }
            _ => Ok(()),
        }
    }

    /// How many plugins the copy of `name` lists, if there is a copy.
    pub fn plugin_count(&self, name: &str) -> Option<usize> {
        self.listing(name).map(|l| l.plugins.len())
    }

    /// The age of `s`'s copy, if there is one.
    pub fn age(&self, s: &SourceConfig) -> Option<Duration> {
        let meta = self.meta(s)?;
        let ms = crate::clock::now_unix_ms()
            .saturating_sub(meta.fetched_ms)
            .max(0);
        Some(Duration::from_millis(ms as u64))
    }

    /// The copy of what `name` offers, if there is one.
    pub fn listing(&self, name: &str) -> Option<Listing> {
        let s = self.get(name)?;
        self.meta(s)?;
        let bytes =
            crate::fsutil::read_bounded(&self.dir(name).ok()?.join("listing.json"), MAX_COPY)
                .ok()?;
        let text = std::str::from_utf8(&bytes).ok()?;
        let mut listing: Listing = serde_json::from_str(text).ok()?;
        listing.plugins.retain(|p| names::validate(&p.name).is_ok());
        Some(listing)
    }

    /// The checked inventory of the index source `name`.
    pub fn inventory(&self, name: &str) -> Result<Inventory> {
        let s = self
            .get(name)
            .ok_or_else(|| Error::new(format!("no source named `{name}`")))?;
        let missing = || {
            Error::new(format!("there is no copy of source `{name}`'s inventory")).with_hint(
                format!("fetch it with `kplug plugin source refresh {name}`"),
            )
        };
        self.meta(s).ok_or_else(missing)?;
        let bytes = crate::fsutil::read_bounded(&self.dir(name)?.join("inventory.json"), MAX_COPY)
            .map_err(|_| missing())?;
        inventory::parse(&bytes).map_err(|p| {
            Error::new(format!(
                "the copy of source `{name}`'s inventory is damaged"
            ))
            .caused_by(p)
            .with_hint(format!(
                "fetch it again with `kplug plugin source refresh {name}`"
            ))
        })
    }

    fn is_fresh(&self, s: &SourceConfig) -> bool {
        // Omaha has no catalogue to keep a copy of: every install asks.
        if s.kind == SourceKind::Omaha {
            return true;
        }
        let ttl = s.ttl.map_or(DEFAULT_TTL, |t| t.0);
        match self.meta(s) {
            // Checked against other keys than the source trusts now.
            Some(m) if m.trust != s.trust => false,
            Some(m) if s.kind == SourceKind::Index && !s.address.contains("://") => {
                // A file: fresh while it is unchanged (a stat, no TTL).
                m.file.is_some() && m.file == file_stamp(Path::new(&s.address))
            }
            // A copy from the future (a clock set back, a tampered file)
            // is not fresh.
            Some(m) if m.fetched_ms > crate::clock::now_unix_ms() => false,
            Some(_) => self.age(s).is_some_and(|age| age < ttl),
            None => false,
        }
    }

    /// Bring the copies of the sources named (all with `None`) up to date:
    /// stale ones (all with `force`) are asked again, in parallel. Each
    /// source's outcome, in order.
    pub fn refresh(&self, only: Option<&str>, force: bool) -> Vec<(String, Refreshed)> {
        let chosen: Vec<&SourceConfig> = self
            .sources
            .iter()
            .filter(|s| only.is_none_or(|o| o == s.name))
            .collect();
        let stale: Vec<&SourceConfig> = chosen
            .iter()
            .copied()
            .filter(|s| force || !self.is_fresh(s))
            .collect();
        let results = crate::exec::parallel_map(&stale, 8, |s| self.refresh_one(s));
        let mut done: std::collections::HashMap<&str, Refreshed> =
            stale.iter().map(|s| s.name.as_str()).zip(results).collect();
        chosen
            .iter()
            .map(|s| {
                let r = done.remove(s.name.as_str()).unwrap_or(Refreshed::Fresh);
                (s.name.clone(), r)
            })
            .collect()
    }

    /// Refresh what is stale among `only` (or all) and warn about sources
    /// that could not be reached: what commands that read the copies call.
    pub fn refresh_and_warn(&self, only: Option<&str>, force: bool) {
        for (name, r) in self.refresh(only, force) {
            if let Refreshed::Failed(e) = r {
                let stale = self.get(&name).and_then(|s| self.age(s)).map_or_else(
                    || "and there is no copy of it yet".to_string(),
                    |age| {
                        format!(
                            "using the copy from {} ago",
                            crate::protocol::format_duration(Duration::from_secs(age.as_secs()))
                        )
                    },
                );
                let mut text = format!(
                    "source `{name}` could not be refreshed, {stale}: {}",
                    e.message()
                );
                for c in e.causes() {
                    text.push_str(&format!(": {c}"));
                }
                crate::ui::warn(self.cfg, &text);
            }
        }
    }

    fn refresh_one(&self, s: &SourceConfig) -> Refreshed {
        let result = match s.kind {
            SourceKind::Index if s.address.starts_with(OCI) => self.refresh_oci_inventory(s),
            SourceKind::Oci => self.refresh_oci_prefix(s),
            SourceKind::Index if s.address.contains("://") => self.refresh_url(s),
            SourceKind::Index => self.refresh_file(s),
            SourceKind::Github => self.refresh_github(s),
            SourceKind::Omaha => self.probe_omaha(s),
        };
        match result {
            Ok(r) => r,
            Err(e) => Refreshed::Failed(e),
        }
    }

    fn write_copy(
        &self,
        s: &SourceConfig,
        meta: &Meta,
        inv: Option<&Inventory>,
        listing: &Listing,
    ) -> Result<()> {
        crate::store::check_layout(self.cfg)?;
        let dir = self.dir(&s.name)?;
        let write = |file: &str, bytes: Vec<u8>| {
            crate::fsutil::write_atomic(&dir.join(file), &bytes).map_err(|e| {
                Error::new(format!("could not write {}", dir.join(file).display())).caused_by(e)
            })
        };
        if let Some(inv) = inv {
            write("inventory.json", inventory::to_json(inv))?;
        }
        write(
            "listing.json",
            serde_json::to_vec(listing).expect("a listing serialises"),
        )?;
        // Last: a copy is only a copy once its meta says so.
        write(
            "meta.json",
            serde_json::to_vec(meta).expect("meta serialises"),
        )
    }

    fn new_meta(s: &SourceConfig) -> Meta {
        Meta {
            format: FORMAT,
            kind: s.kind.as_str().into(),
            address: s.address.clone(),
            fetched_ms: crate::clock::now_unix_ms(),
            trust: s.trust.clone(),
            ..Meta::default()
        }
    }

    fn refresh_file(&self, s: &SourceConfig) -> Result<Refreshed> {
        let path = Path::new(&s.address);
        // Stamped before it is read: a change while reading is seen next time.
        let stamp = file_stamp(path);
        let bytes = crate::fsutil::read_bounded(path, inventory::MAX_BYTES).map_err(|e| {
            Error::new(format!("could not read the inventory {}", path.display())).caused_by(e)
        })?;
        let inv = parse_inventory(s, &bytes)?;
        let mut meta = Self::new_meta(s);
        let name = Path::new(&s.address)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        meta.signed_by = check_document(s, signing::Over::Bytes(bytes.clone()), &name, || {
            let sig = PathBuf::from(format!("{}.minisig", s.address));
            match crate::fsutil::read_bounded(&sig, signing::MAX_SIGNATURE) {
                Ok(b) => Ok(Some(String::from_utf8_lossy(&b).into_owned())),
                Err(crate::fsutil::ReadError::Missing) => Ok(None),
                Err(e) => Err(Error::new(format!("could not read {}", sig.display())).caused_by(e)),
            }
        })?;
        meta.file = stamp;
        self.write_copy(s, &meta, Some(&inv), &listing_of(&inv))?;
        Ok(Refreshed::Updated)
    }

    fn refresh_url(&self, s: &SourceConfig) -> Result<Refreshed> {
        let url = Url::parse(&s.address).map_err(|e| Error::new("not a URL").caused_by(e))?;
        let http = Http::new(self.cfg)?;
        // Conditional only when the copy is whole: a 304 must leave a
        // usable copy behind.
        // A copy checked against other keys is fetched whole again.
        let old = self
            .meta(s)
            .filter(|m| m.trust == s.trust)
            .filter(|_| self.listing(&s.name).is_some() && self.inventory(&s.name).is_ok());
        let mut headers = HeaderMap::new();
        if let Some(m) = &old {
            if let Some(tag) = m
                .etag
                .as_deref()
                .and_then(|t| HeaderValue::from_str(t).ok())
            {
                headers.insert(IF_NONE_MATCH, tag);
            }
            if let Some(lm) = m
                .last_modified
                .as_deref()
                .and_then(|t| HeaderValue::from_str(t).ok())
            {
                headers.insert(IF_MODIFIED_SINCE, lm);
            }
        }
        let resp = {
            let _wait = crate::exec::interrupt::abortable("fetching an inventory");
            http.get_with(url.clone(), "application/yaml, application/json", &headers)?
        };
        let shown = http::display_url(&url);
        if resp.status() == reqwest::StatusCode::NOT_MODIFIED
            && let Some(mut m) = old
        {
            m.fetched_ms = crate::clock::now_unix_ms();
            let dir = self.dir(&s.name)?;
            crate::fsutil::write_atomic(
                &dir.join("meta.json"),
                &serde_json::to_vec(&m).expect("meta serialises"),
            )
            .map_err(|e| Error::new("could not update the source's copy").caused_by(e))?;
            return Ok(Refreshed::NotModified);
        }
        if !resp.status().is_success() {
            return Err(Error::new(format!("{shown} answered {}", resp.status()))
                .with_hint("check the source's address with `kplug plugin source list`"));
        }
        let header = |h| {
            resp.headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .filter(|v| v.len() <= 256)
                .map(str::to_string)
        };
        let (etag, last_modified) = (header(ETAG), header(LAST_MODIFIED));
        let bytes = {
            let _wait = crate::exec::interrupt::abortable("fetching an inventory");
            http.read_body(resp, inventory::MAX_BYTES, &format!("fetching {shown}"))?
        };
        let inv = parse_inventory(s, &bytes)?;
        let mut meta = Self::new_meta(s);
        let name = url
            .path_segments()
            .and_then(|mut p| p.next_back())
            .unwrap_or_default()
            .to_string();
        meta.signed_by = check_document(s, signing::Over::Bytes(bytes.clone()), &name, || {
            let mut sig_url = url.clone();
            sig_url.set_path(&format!("{}.minisig", url.path()));
            let resp = {
                let _wait = crate::exec::interrupt::abortable("fetching an inventory");
                http.get(sig_url.clone(), "text/plain")?
            };
            if resp.status() == reqwest::StatusCode::NOT_FOUND {
                return Ok(None);
            }
            if !resp.status().is_success() {
                return Err(Error::new(format!(
                    "{} answered {}",
                    http::display_url(&sig_url),
                    resp.status()
                )));
            }
            let body = http.read_body(
                resp,
                signing::MAX_SIGNATURE,
                "fetching the inventory's signature",
            )?;
            Ok(Some(String::from_utf8_lossy(&body).into_owned()))
        })?;
        meta.etag = etag;
        meta.last_modified = last_modified;
        self.write_copy(s, &meta, Some(&inv), &listing_of(&inv))?;
        Ok(Refreshed::Updated)
    }

    /// An inventory pushed as an OCI artifact: a manifest with one layer
    /// holding the document. Its digest stands in for an ETag: the same
    /// digest as the copy's means nothing changed, and the layer is not
    /// fetched again.
    fn refresh_oci_inventory(&self, s: &SourceConfig) -> Result<Refreshed> {
        let r = Reference::parse(&s.address)?;
        let reg = Registry::new(self.cfg, &r)?;
        let label = r
            .digest
            .clone()
            .or_else(|| r.tag.clone())
            .unwrap_or_else(|| "latest".to_string());
        let m = reg.manifest(&r.repo, &label, &[MANIFEST])?;
        // A copy checked against other keys is fetched whole again.
        let old = self
            .meta(s)
            .filter(|m| m.trust == s.trust)
            .filter(|_| self.listing(&s.name).is_some() && self.inventory(&s.name).is_ok());
        if let Some(mut old) = old
            && old.etag.as_deref() == Some(m.digest.as_str())
        {
            old.fetched_ms = crate::clock::now_unix_ms();
            let dir = self.dir(&s.name)?;
            crate::fsutil::write_atomic(
                &dir.join("meta.json"),
                &serde_json::to_vec(&old).expect("meta serialises"),
            )
            .map_err(|e| Error::new("could not update the source's copy").caused_by(e))?;
            return Ok(Refreshed::NotModified);
        }
        let manifest = super::oci::artifact::parse_manifest(&m.bytes)
            .map_err(|why| Error::new(format!("{}: {why}", crate::ui::escape(&s.address))))?;
        let [layer] = manifest.layers().as_slice() else {
            return Err(Error::new(format!(
                "{} has {} layers; an inventory artifact has exactly one, the document",
                crate::ui::escape(&s.address),
                manifest.layers().len()
            )));
        };
        let bytes = reg.small_blob(
            &r.repo,
            layer.digest().as_ref(),
            layer.size(),
            inventory::MAX_BYTES,
        )?;
        let inv = parse_inventory(s, &bytes)?;
        let mut meta = Self::new_meta(s);
        // In a registry, the document's signature is a signature artifact
        // beside its manifest (over the manifest's digest).
        meta.signed_by = check_document(s, signing::Over::Text(m.digest.clone()), "", || {
            super::oci::artifact::signature_of(
                &reg,
                &r.repo,
                &m.digest,
                &format!("the inventory of source `{}`", s.name),
            )
            .map(|found| found.map(|(text, _)| text))
        })?;
        meta.etag = Some(m.digest);
        self.write_copy(s, &meta, Some(&inv), &listing_of(&inv))?;
        Ok(Refreshed::Updated)
    }

    /// An `oci` source: the repositories under its prefix (the registry's
    /// catalog), each with its semver tags and the description its newest
    /// version's index carries.
    fn refresh_oci_prefix(&self, s: &SourceConfig) -> Result<Refreshed> {
        let prefix = Reference::parse(&s.address)?;
        let reg = Registry::new(self.cfg, &prefix)?;
        let mut listing = Listing::default();
        // Bounded: a catalog may list far more than plugins.
        const MAX_REPOSITORIES: usize = 500;
        let repos = reg.catalog(&prefix.repo)?;
        if repos.len() > MAX_REPOSITORIES {
            crate::ui::warn(
                self.cfg,
                &format!(
                    "source `{}` lists {} repositories; only the first {MAX_REPOSITORIES} are searched",
                    s.name,
                    repos.len()
                ),
            );
        }
        for repo in repos.into_iter().take(MAX_REPOSITORIES) {
            let Some(name) = repo.strip_prefix(&format!("{}/", prefix.repo)) else {
                continue;
            };
            if names::validate(name).is_err() {
                continue;
            }
            // One repository that cannot be read (no pull access) is left
            // out, not the whole source.
            let tags = match reg.tags(&repo) {
                Ok(t) => t,
                Err(e) => {
                    crate::ui::warn(
                        self.cfg,
                        &format!("source `{}`: {} is left out: {}", s.name, repo, e.message()),
                    );
                    continue;
                }
            };
            let mut versions: Vec<(semver::Version, String)> = tags
                .into_iter()
                .filter_map(|t| {
                    semver::Version::parse(t.strip_prefix('v').unwrap_or(&t))
                        .ok()
                        .map(|v| (v, t))
                })
                .collect();
            versions.sort_by(|a, b| b.0.cmp(&a.0));
            let description = versions
                .first()
                .and_then(|(_, tag)| reg.manifest(&repo, tag, &[INDEX, MANIFEST]).ok())
                .and_then(|m| serde_json::from_slice::<serde_json::Value>(&m.bytes).ok())
                .and_then(|v| {
                    v.pointer("/annotations/org.opencontainers.image.description")
                        .and_then(|d| d.as_str())
                        .map(|d| d.chars().take(500).collect::<String>())
                })
                .unwrap_or_default();
            listing.plugins.push(Listed {
                name: name.to_string(),
                description,
                repo: None,
                versions: versions
                    .into_iter()
                    .map(|(version, _)| ListedVersion {
                        version,
                        kplug: None,
                        host: true,
                    })
                    .collect(),
            });
        }
        listing.plugins.sort_by(|a, b| a.name.cmp(&b.name));
        self.write_copy(s, &Self::new_meta(s), None, &listing)?;
        Ok(Refreshed::Updated)
    }

    fn refresh_github(&self, s: &SourceConfig) -> Result<Refreshed> {
        let gh = GitHub::new(self.cfg)?;
        let repos: Vec<(String, String, Option<String>)> = match Repo::parse_pair(&s.address) {
            Some(repo) => vec![(repo.to_string(), String::new(), None)],
            None => gh
                .plugin_repositories(&s.address)?
                .into_iter()
                .map(|r| (r.full_name, r.description.unwrap_or_default(), r.html_url))
                .collect(),
        };
        let mut listing = Listing::default();
        for (full, description, _) in repos {
            let Some(repo) = Repo::parse_pair(&full) else {
                continue;
            };
            let Ok(name) = repo.plugin_name() else {
                continue;
            };
            let mut versions: Vec<ListedVersion> = gh
                .releases(&repo)?
                .into_iter()
                .filter(|r| !r.draft)
                .filter_map(|r| {
                    let v = r.version()?;
                    // A release flagged prerelease counts as one.
                    let version = if r.prerelease && v.pre.is_empty() {
                        semver::Version {
                            pre: semver::Prerelease::new("pre").expect("valid"),
                            ..v
                        }
                    } else {
                        v
                    };
                    Some(ListedVersion {
                        version,
                        kplug: None,
                        host: true,
                    })
                })
                .collect();
            versions.sort_by(|a, b| b.version.cmp(&a.version));
            listing.plugins.push(Listed {
                name,
                description: description.trim().to_string(),
                repo: Some(repo.to_string()),
                versions,
            });
        }
        listing.plugins.sort_by(|a, b| a.name.cmp(&b.name));
        self.write_copy(s, &Self::new_meta(s), None, &listing)?;
        Ok(Refreshed::Updated)
    }

    /// Whether an omaha source's endpoint speaks Omaha: a check for an
    /// application no server has must come back as an Omaha answer (an
    /// error status is one). Nothing is registered for an unknown app.
    fn probe_omaha(&self, s: &SourceConfig) -> Result<Refreshed> {
        source::omaha::OmahaSource::new(self.cfg, s, "kplug-source-probe")
            .probe()
            .map(|()| Refreshed::Answered)
    }

    /// The request for `plugin` from the source `source`, at `spec`.
    pub fn request_from(&self, source: &str, plugin: &str, spec: Spec) -> Result<Request> {
        names::validate(plugin).map_err(|e| {
            Error::usage(format!(
                "`{}` is not a plugin name: it {e}",
                crate::ui::escape(plugin)
            ))
        })?;
        let s = self.get(source).ok_or_else(|| {
            Error::usage(format!("no source named `{}`", crate::ui::escape(source)))
                .with_hint("see the sources with `kplug plugin source list`")
        })?;
        let not_there = || {
            Error::new(format!("source `{source}` has no plugin named `{plugin}`")).with_hint(
                format!("see what it offers with `kplug plugin search --source {source}`"),
            )
        };
        match s.kind {
            SourceKind::Index => {
                let inv = self.inventory(source)?;
                let entry = inv.plugins.get(plugin).cloned().ok_or_else(not_there)?;
                let base = if s.address.starts_with(OCI) {
                    Base::Registry
                } else if s.address.contains("://") {
                    Base::Url(
                        Url::parse(&s.address).map_err(|e| Error::new("not a URL").caused_by(e))?,
                    )
                } else {
                    Base::Dir(
                        Path::new(&s.address)
                            .parent()
                            .map(Path::to_path_buf)
                            .unwrap_or_default(),
                    )
                };
                // The publisher key is vouched for when the document was
                // signed by a key the source trusts; otherwise it is only
                // good for a first use.
                let mut vouched = trusted_keys(s)?;
                let publisher = inv
                    .public_key
                    .as_deref()
                    .and_then(|k| signing::Key::parse(k).ok());
                // Signed by a key the source still trusts.
                let signed = self
                    .meta(s)
                    .and_then(|m| m.signed_by)
                    .is_some_and(|id| vouched.iter().any(|(k, _)| k.id == id));
                let offered = match publisher {
                    Some(k) if signed => {
                        vouched.push((k, signing::How::Inventory));
                        None
                    }
                    other => other,
                };
                Ok(Request {
                    source: Box::new(
                        IndexSource::new(
                            source,
                            &s.address,
                            base,
                            plugin,
                            entry,
                            Http::new(self.cfg)?,
                        )
                        .with_keys(vouched, offered),
                    ),
                    spec,
                })
            }
            SourceKind::Omaha => Ok(Request {
                source: Box::new(source::omaha::OmahaSource::new(self.cfg, s, plugin)),
                spec,
            }),
            SourceKind::Oci => {
                let prefix = Reference::parse(&s.address)?;
                let (src, _) = source::oci::OciSource::new(self.cfg, &prefix.child(plugin));
                Ok(Request {
                    source: Box::new(src.configured(source).trusting(trusted_keys(s)?)),
                    spec,
                })
            }
            SourceKind::Github => {
                let listing = self.listing(source).ok_or_else(|| {
                    Error::new(format!("there is no copy of what source `{source}` offers"))
                        .with_hint(format!(
                            "fetch it with `kplug plugin source refresh {source}`"
                        ))
                })?;
                let listed = listing
                    .plugins
                    .into_iter()
                    .find(|p| p.name == plugin)
                    .ok_or_else(not_there)?;
                let repo = listed
                    .repo
                    .as_deref()
                    .and_then(Repo::parse_pair)
                    .ok_or_else(not_there)?;
                Ok(Request {
                    source: Box::new(
                        source::github::GitHubSource::new(self.cfg, repo)
                            .configured(source)
                            .trusting(trusted_keys(s)?),
                    ),
                    spec,
                })
            }
        }
    }

    /// The group `name` (at `version`, else its newest version) of the
    /// index sources, with the source that has it.
    pub fn group(&self, name: &str, version: Option<&str>) -> Result<(String, inventory::Group)> {
        let wanted = match version {
            Some(v) => Some(
                semver::Version::parse(v.trim_start_matches('v')).map_err(|e| {
                    Error::usage(format!("`{}` is not a group version", crate::ui::escape(v)))
                        .caused_by(e)
                })?,
            ),
            None => None,
        };
        let mut found: Vec<(String, inventory::Group)> = Vec::new();
        for s in self.sources.iter().filter(|s| s.kind == SourceKind::Index) {
            let Ok(inv) = self.inventory(&s.name) else {
                continue;
            };
            for g in inv.groups.into_iter().filter(|g| g.name == name) {
                if wanted.as_ref().is_none_or(|w| *w == g.version) {
                    found.push((s.name.clone(), g));
                }
            }
        }
        found.sort_by(|a, b| b.1.version.cmp(&a.1.version));
        let sources: std::collections::BTreeSet<&str> =
            found.iter().map(|(s, _)| s.as_str()).collect();
        if sources.len() > 1 {
            return Err(Error::new(format!(
                "the group `{name}` is in several sources: {}",
                sources.into_iter().collect::<Vec<_>>().join(", ")
            ))
            .with_hint(
                "remove the source you do not mean, or give the group a distinct name there",
            ));
        }
        found.into_iter().next().ok_or_else(|| {
            let at = version.map(|v| format!(" {v}")).unwrap_or_default();
            Error::new(format!("no source has the group `{name}`{at}"))
                .with_hint("groups are listed in inventories (`index` sources); see `kplug plugin source list`")
        })
    }

    /// Which sources offer `plugin`.
    pub fn offering(&self, plugin: &str) -> Vec<&SourceConfig> {
        self.sources
            .iter()
            .filter(|s| {
                // An omaha source lists nothing; the plugins it maps to app
                // ids are what it is known to offer.
                (s.kind == SourceKind::Omaha && s.apps.contains_key(plugin))
                    || self
                        .listing(&s.name)
                        .is_some_and(|l| l.plugins.iter().any(|p| p.name == plugin))
            })
            .collect()
    }
}

/// For a source that trusts keys, the inventory document must be signed by
/// one (`<address>.minisig`, fetched by `signature`): the key that did, or
/// the refusal. A source that trusts none does not ask.
fn check_document(
    s: &SourceConfig,
    over: signing::Over,
    file: &str,
    signature: impl FnOnce() -> Result<Option<String>>,
) -> Result<Option<String>> {
    let trust = trusted_keys(s)?;
    if trust.is_empty() {
        return Ok(None);
    }
    let trusted = trust
        .iter()
        .map(|(k, _)| k.id.clone())
        .collect::<Vec<_>>()
        .join(", ");
    let refuse = |why: String| {
        Error::new(format!(
            "source `{}` serves an inventory {why}; refusing it",
            s.name
        ))
        .with_hint(format!(
            "the document or its signature was tampered with, or not signed by a key the source trusts ({trusted}); its previous copy (if any) stays"
        ))
    };
    let Some(text) = signature()? else {
        return Err(refuse(
            "without a signature (`.minisig` beside it), though the source trusts keys".into(),
        ));
    };
    let sig = signing::Sig::parse(&text).map_err(|why| refuse(format!("whose signature {why}")))?;
    let Some((key, _)) = trust.iter().find(|(k, _)| k.id == sig.key_id) else {
        return Err(refuse(format!(
            "signed by key {}, which it does not trust",
            sig.key_id
        )));
    };
    signing::verify(key, &sig, &over, inventory::MAX_BYTES).map_err(|why| {
        refuse(format!(
            "whose signature by key {} does not verify: {why}",
            sig.key_id
        ))
    })?;
    // A signature of another document (an older inventory replayed under
    // this name would carry its own name, or another).
    if let Some(named) = sig.named_file()
        && !file.is_empty()
        && named != file
    {
        return Err(refuse(format!(
            "whose signature is for the file `{}`",
            crate::ui::escape(&named.chars().take(100).collect::<String>())
        )));
    }
    Ok(Some(sig.key_id))
}

fn file_stamp(path: &Path) -> Option<(u64, i64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.size(), m.mtime_nsec() + m.mtime() * 1_000_000_000))
}

fn parse_inventory(s: &SourceConfig, bytes: &[u8]) -> Result<Inventory> {
    inventory::parse(bytes).map_err(|p| {
        Error::new(format!(
            "source `{}` serves an inventory kplug refuses",
            s.name
        ))
        .caused_by(p)
        .with_hint(format!(
            "fix the document at {}; until then its previous copy (if any) is used",
            http::display_text(&s.address)
        ))
    })
}

/// What search needs of an inventory.
pub fn listing_of(inv: &Inventory) -> Listing {
    let platform = Platform::host();
    Listing {
        plugins: inv
            .plugins
            .iter()
            .map(|(name, p)| Listed {
                name: name.clone(),
                description: p.description.clone(),
                repo: None,
                versions: p
                    .versions
                    .iter()
                    .map(|v| ListedVersion {
                        version: v.version.clone(),
                        kplug: v.requires.kplug.clone(),
                        host: platform
                            .as_ref()
                            .is_some_and(|pl| v.artifact_for(pl).is_some()),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Parse a SOURCE argument that may name configured sources: `NAME`,
/// `NAME@VERSION` (a plugin some source offers), `SOURCE/NAME[@VERSION]`
/// (a plugin of that source); anything else as [`source::parse`] reads it
/// (`owner/repo`, a URL, a path). A configured source's name wins over a
/// GitHub owner of the same name.
///
/// Stale copies are refreshed first when `refresh` (a caller resolving
/// several names refreshes once, then passes `false`).
pub fn request(cfg: &Config, text: &str, sha256: Option<&str>, refresh: bool) -> Result<Request> {
    let text = text.trim();
    let looks_local = text.contains("://")
        || text.starts_with('/')
        || text.starts_with('.')
        || text.starts_with('~')
        // A plain name is a plugin's, even beside a file of that name
        // (`./lint` is the directory).
        || (Path::new(text).exists() && names::check_syntax(text).is_err());
    if looks_local {
        return source::parse(cfg, text, sha256);
    }
    let (what, version) = match text.split_once('@') {
        Some((w, v)) => (w, Some(v.trim())),
        None => (text, None),
    };
    let spec = match version {
        None => Spec::Latest,
        Some("") => return source::parse(cfg, text, sha256),
        Some(v) => Spec::parse(v),
    };
    let catalog = Catalog::new(cfg)?;
    match what.split_once('/') {
        Some((src, plugin)) if catalog.get(src).is_some() => {
            names::validate(plugin).map_err(|e| {
                Error::usage(format!(
                    "`{}` is not a plugin name: it {e}",
                    crate::ui::escape(plugin)
                ))
            })?;
            if refresh {
                catalog.refresh_and_warn(Some(src), false);
            }
            catalog.request_from(src, plugin, spec)
        }
        Some(_) => source::parse(cfg, text, sha256),
        None => {
            names::validate(what).map_err(|e| {
                Error::usage(format!(
                    "cannot tell what to install from `{}`: `{}` is not a plugin name ({e})",
                    crate::ui::escape(text),
                    crate::ui::escape(what)
                ))
                .with_hint(
                    "install `NAME`, `SOURCE/NAME`, `owner/repo`, a URL with `--sha256`, or a path",
                )
            })?;
            if catalog.sources.is_empty() {
                return Err(Error::usage(format!(
                    "no source is configured to find `{what}` in"
                ))
                .with_hint("install it by repository (`kplug plugin install owner/kplug-NAME`), or add a source: `kplug plugin source add NAME ADDRESS`"));
            }
            if refresh {
                catalog.refresh_and_warn(None, false);
            }
            let offering = catalog.offering(what);
            match offering.as_slice() {
                [one] => catalog.request_from(&one.name.clone(), what, spec),
                [] => Err(
                    Error::new(format!("no source offers a plugin named `{what}`"))
                        .with_hint(format!("search with `kplug plugin search {what}`")),
                ),
                several => {
                    let mut err = Error::new(format!(
                        "`{what}` is offered by {} sources; say which",
                        several.len()
                    ));
                    for s in several {
                        err = err.caused_by(format!(
                            "{} ({} {})",
                            s.name,
                            s.kind.as_str(),
                            http::display_text(&s.address)
                        ));
                    }
                    let tail = version.map(|v| format!("@{v}")).unwrap_or_default();
                    for s in several {
                        err =
                            err.with_hint(format!("kplug plugin install {}/{what}{tail}", s.name));
                    }
                    Err(err)
                }
            }
        }
    }
}

/// One line of `kplug plugin search`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Found {
    pub name: String,
    /// The newest version this host can install (`None`: none can).
    pub version: Option<String>,
    /// With `--all-versions`: every version the source lists, newest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    pub description: String,
    pub source: String,
    /// The version in kplug's store, if it is installed.
    pub installed: Option<String>,
}

/// What the configured sources (or `only`) offer whose name or description
/// contains `term` (any case), by name then source. Stale copies are
/// refreshed first (`refresh`: every copy); a source that cannot be
/// reached is warned about and its copy used.
pub fn search(
    cfg: &Config,
    term: Option<&str>,
    only: Option<&str>,
    all_versions: bool,
    refresh: bool,
) -> Result<Vec<Found>> {
    let catalog = Catalog::new(cfg)?;
    if let Some(o) = only
        && catalog.get(o).is_none()
    {
        return Err(
            Error::usage(format!("no source named `{}`", crate::ui::escape(o)))
                .with_hint("see the sources with `kplug plugin source list`"),
        );
    }
    if catalog.sources.is_empty() {
        return Err(Error::new("no sources are configured to search").with_hint(
            "add one with `kplug plugin source add NAME ADDRESS` (an inventory, or a GitHub owner)",
        ));
    }
    catalog.refresh_and_warn(only, refresh);
    let needle = term.map(str::to_lowercase);
    // What is installed, read once (not a readlink per result).
    let installed: std::collections::HashMap<String, String> = crate::store::Store::new(cfg)
        .map(|st| {
            st.plugins()
                .into_iter()
                .filter_map(|n| st.current(&n).map(|v| (n, v)))
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    for s in catalog
        .sources
        .iter()
        .filter(|s| only.is_none_or(|o| o == s.name))
    {
        let Some(listing) = catalog.listing(&s.name) else {
            continue;
        };
        for p in listing.plugins {
            if let Some(n) = &needle
                && !p.name.contains(n.as_str())
                && !p.description.to_lowercase().contains(n.as_str())
            {
                continue;
            }
            out.push(Found {
                version: p.latest_for_host().map(|v| v.version.to_string()),
                versions: if all_versions {
                    p.versions.iter().map(|v| v.version.to_string()).collect()
                } else {
                    Vec::new()
                },
                installed: installed.get(&p.name).cloned(),
                name: p.name,
                description: p.description,
                source: s.name.clone(),
            });
        }
    }
    out.sort_by(|a, b| (&a.name, &a.source).cmp(&(&b.name, &b.source)));
    Ok(out)
}
