//! Where plugins come from: the [`Source`] trait, one implementation per
//! kind of place, and the parsing of a SOURCE argument into one.
//!
//! A source lists the versions it offers, gives a version's contract
//! before its artifact when it publishes one, and fetches the artifact for
//! this platform into a directory the installer owns, verified against what
//! the source publishes. Everything above (selection, the installer, the
//! commands) speaks only this trait: a new kind of source is one file here.
//!
//! Names a source reads from a server (asset names, tags) are data: they
//! are never joined onto a path. Artifacts are written under file names
//! kplug chooses.

pub mod github;
pub mod index;
pub mod local;
pub mod oci;
pub mod omaha;
pub mod url;

use super::asset::ArchiveKind;
use super::download::Fetched;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::install::asset::Platform;
use crate::protocol::Info;
use semver::{Version, VersionReq};
use std::path::{Path, PathBuf};

/// Which version of a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    /// The newest stable version.
    Latest,
    /// Exactly this tag (tried as given, then with a `v`).
    Tag(String),
    /// The newest version in this range.
    Req(VersionReq),
}

impl Spec {
    /// `v1.2.3` and `1.2.3` are tags, a range is a range, anything else
    /// that is no range is taken for a tag (`nightly`).
    pub fn parse(text: &str) -> Spec {
        let bare = text.strip_prefix('v').unwrap_or(text);
        if Version::parse(bare).is_ok() {
            return Spec::Tag(text.into());
        }
        // Shortened versions: `v1` is the newest 1.x.y, `v1.4` the newest
        // 1.4.z.
        let parts: Vec<&str> = bare.split('.').collect();
        let number = |p: &str| -> Option<u64> {
            (!p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse().ok())
                .flatten()
        };
        let range = match parts.as_slice() {
            [major] => number(major).map(|m| format!(">={m}.0.0, <{}.0.0", m + 1)),
            [major, minor] => number(major)
                .zip(number(minor))
                .map(|(m, n)| format!(">={m}.{n}.0, <{m}.{}.0", n + 1)),
            _ => None,
        };
        if let Some(req) = range.and_then(|r| VersionReq::parse(&r).ok()) {
            return Spec::Req(req);
        }
        match VersionReq::parse(text) {
            Ok(req) => Spec::Req(req),
            Err(_) => Spec::Tag(text.into()),
        }
    }

    pub fn is_explicit(&self) -> bool {
        matches!(self, Spec::Tag(_))
    }

    /// Whether an installed `version` (with its release `tag`) is what this
    /// spec names.
    pub fn admits(&self, version: &str, tag: Option<&str>) -> bool {
        match self {
            Spec::Latest => true,
            Spec::Tag(t) => tag.is_some_and(|vt| vt == t || vt == format!("v{t}")),
            Spec::Req(req) => Version::parse(version).is_ok_and(|v| req.matches(&v)),
        }
    }
}

/// One version a source offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// `None` when the source cannot tell before fetching (a file, a URL).
    pub version: Option<Version>,
    /// How the source names it: a release tag, a version.
    pub label: String,
    /// The source marks it as a prerelease.
    pub prerelease: bool,
    /// The source's own handle on it.
    pub key: usize,
}

impl Candidate {
    /// The version as text, or the label when there is none.
    pub fn shown(&self) -> String {
        self.version
            .as_ref()
            .map_or_else(|| self.label.clone(), Version::to_string)
    }
}

/// A contract a source publishes: the INFO document, or why it cannot be
/// used.
pub type Published = std::result::Result<Info, String>;

pub use crate::store::Verification;

/// What a fetch produced.
#[derive(Debug)]
pub enum Content {
    /// A file (an archive or an executable) with its sha256.
    File { file: Fetched, kind: ArchiveKind },
    /// A directory tree, already unpacked (a local plugin directory).
    Tree(PathBuf),
}

/// A fetched, verified artifact.
#[derive(Debug)]
pub struct Artifact {
    pub content: Content,
    /// Its name where it came from (an asset or file name): data for
    /// receipts and messages, never a path.
    pub name: String,
    pub verified: Verification,
    /// The release tag, for sources with releases.
    pub tag: Option<String>,
    /// Told how the install ended, for a source that reports back to its
    /// server (Omaha).
    pub report: Option<Box<dyn Report>>,
    /// The signature accepted for it (set by the installer).
    pub signed: Option<crate::install::signing::Accepted>,
}

/// How an install of a fetched artifact ended, for a source that tells its
/// server. Dropped without [`Report::installed`], the install failed (and
/// the source says so).
pub trait Report: Send + std::fmt::Debug {
    /// The version is installed and live.
    fn installed(self: Box<Self>);
}

impl Artifact {
    /// The sha256 of a file artifact (`None` for a tree).
    pub fn sha256(&self) -> Option<&str> {
        match &self.content {
            Content::File { file, .. } => Some(&file.sha256),
            Content::Tree(_) => None,
        }
    }
}

/// An artifact a source will serve, known before the download.
#[derive(Debug, Clone)]
pub struct Planned {
    pub name: String,
    pub kind: ArchiveKind,
    pub sha256: String,
    /// How the source vouches for that sha256.
    pub verified: Verification,
}

/// What a fetch may use.
pub struct FetchContext<'a> {
    pub cfg: &'a Config,
    /// An empty directory the artifact is written into.
    pub dir: &'a Path,
    pub platform: &'a Platform,
    /// Largest download accepted.
    pub max_bytes: u64,
}

/// A place plugins come from. `Send`: several installs of one command are
/// prepared in parallel, each with its own source.
pub trait Source: Send {
    /// How receipts and messages name it: `owner/repo`, a URL, a path.
    fn address(&self) -> String;

    /// How messages name what is being installed from it (its address,
    /// unless the source says better: `registry in source \`team\``).
    fn label(&self) -> String {
        self.address()
    }

    /// The plugin the source stands for, when it says (a repository named
    /// `kplug-<name>`); `None` when only the artifact's INFO will tell.
    fn plugin_name(&self) -> Option<String>;

    /// Whether fetching from it needs the network.
    fn is_remote(&self) -> bool {
        true
    }

    /// The version of this source installed now in the slot concerned
    /// (`None`: none), and whether the caller means to install what the
    /// source offers or only to look: for a source whose server decides
    /// by it and waits to hear how an offer ended (Omaha).
    fn set_installed(&mut self, _version: Option<&str>, _intent: Intent) {}

    /// Whether a candidate's version is binding: an artifact whose INFO
    /// says another version is refused (the server would offer it again).
    fn exact_versions(&self) -> bool {
        false
    }

    /// Whether it lists its versions without the network (from a copy kept
    /// on disk), so that `--offline` can choose among them.
    fn lists_offline(&self) -> bool {
        false
    }

    /// Whether it offers versions to choose among (a release list), as
    /// opposed to a single artifact (a file, a URL).
    fn has_versions(&self) -> bool {
        true
    }

    /// The versions it offers that `spec` may select; for an explicit tag,
    /// just that one (or an error saying it does not exist).
    fn versions(&mut self, spec: &Spec) -> Result<Vec<Candidate>>;

    /// The contract of `candidate`, read before its artifact, when the
    /// source publishes one (`None` otherwise: it is judged after the
    /// download, from the plugin's INFO).
    fn contract(&mut self, candidate: &Candidate) -> Result<Option<Published>>;

    /// Where [`Source::contract`] reads a contract from, for messages:
    /// "the release's kplug-plugin.yaml", "the inventory".
    fn contract_origin(&self) -> String {
        "its published contract".into()
    }

    /// The artifact `candidate` has for `platform`, as far as the source
    /// says before a download: its name, kind, and the sha256 it publishes
    /// (with it, an artifact already in the cache is never fetched again).
    fn planned(&mut self, _candidate: &Candidate, _platform: &Platform) -> Result<Option<Planned>> {
        Ok(None)
    }

    /// The configured source this is (`kplug plugin source add`), when it
    /// is one: recorded in receipts, so that updates ask the same source.
    fn source_name(&self) -> Option<String> {
        None
    }

    /// Fetch `candidate`'s artifact for this platform into `ctx.dir` and
    /// verify it against what the source publishes.
    fn fetch(&mut self, candidate: &Candidate, ctx: &FetchContext<'_>) -> Result<Artifact>;

    /// The minisign signature the source publishes for `artifact` (of
    /// `candidate`), with the keys it vouches for; `None`: unsigned.
    fn signature(
        &mut self,
        _candidate: &Candidate,
        _artifact: &Artifact,
    ) -> Result<Option<crate::install::signing::Published>> {
        Ok(None)
    }

    /// The keys the source vouches for (its configured `trust:`): with
    /// any, its artifacts must be signed by one of them.
    fn trusted(&self) -> Vec<(crate::install::signing::Key, crate::install::signing::How)> {
        Vec::new()
    }
}

/// Why a caller asks a source for its versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// To install one: an offer not taken is a failed update.
    Install,
    /// To show or plan (`outdated`, `versions`, `--dry-run`).
    Look,
}

/// A parsed SOURCE argument: where, and which version.
pub struct Request {
    pub source: Box<dyn Source>,
    pub spec: Spec,
}

const FORMS: &str = "install from `owner/repo`, `owner/repo@v1.2.3`, `owner/repo@^1.2`, a github.com URL, a local file or directory (`./path`), or a URL with `--sha256`";

/// Parse a SOURCE argument (as `plugin install` takes it, and as a
/// plugin's `requires.plugins.*.source` and receipts spell it).
pub fn parse(cfg: &Config, text: &str, sha256: Option<&str>) -> Result<Request> {
    let text = text.trim();
    if text.starts_with(omaha::SCHEME) {
        return Err(Error::usage(format!(
            "`{}` is an Omaha server: plugins are installed from it through a source",
            crate::ui::escape(text)
        ))
        .with_hint("add it with `kplug plugin source add NAME omaha+https://HOST/v1/update --channel CHANNEL`, then `kplug plugin install NAME/PLUGIN`"));
    }
    if text.starts_with(crate::install::oci::reference::SCHEME) {
        let reference = crate::install::oci::Reference::parse(text)?;
        let (src, spec) = oci::OciSource::new(cfg, &reference);
        return Ok(Request {
            source: Box::new(src),
            spec,
        });
    }
    if let Some(rest) = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
    {
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        if host.eq_ignore_ascii_case("github.com") || host.eq_ignore_ascii_case("www.github.com") {
            return github::from_url(cfg, text, path).map_err(|e| e.with_hint(FORMS));
        }
        let Some(sha256) = sha256 else {
            return Err(
                Error::usage("installing from a plain URL needs `--sha256 <hex>`").with_hint(
                    "the sha256 is what makes a download from an arbitrary server trustworthy",
                ),
            );
        };
        return Ok(Request {
            source: Box::new(url::UrlSource::new(cfg, text, sha256)?),
            spec: Spec::Latest,
        });
    }
    let path = Path::new(text);
    let looks_local = text.starts_with('/')
        || text.starts_with("./")
        || text.starts_with("../")
        || text.starts_with("~/");
    if path.exists() {
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let source: Box<dyn Source> = if abs.is_dir() {
            if sha256.is_some() {
                return Err(Error::usage(
                    "`--sha256` checks a single file; it cannot check a directory",
                ));
            }
            Box::new(local::LocalDir::new(abs))
        } else {
            Box::new(local::LocalFile::new(abs)?)
        };
        return Ok(Request {
            source,
            spec: Spec::Latest,
        });
    }
    if looks_local {
        return Err(Error::usage(format!("no such file or directory: `{text}`")));
    }
    let (repo, version) = match text.split_once('@') {
        Some((r, v)) => (r, Some(v.trim())),
        None => (text, None),
    };
    let spec = match version {
        None => Spec::Latest,
        Some("") => {
            return Err(Error::usage(format!(
                "cannot tell what to install from `{text}`: nothing after `@`"
            ))
            .with_hint(FORMS));
        }
        Some(v) => Spec::parse(v),
    };
    match github::Repo::parse_pair(repo) {
        Some(repo) => Ok(Request {
            source: Box::new(github::GitHubSource::new(cfg, repo)),
            spec,
        }),
        None => {
            Err(Error::usage(format!("cannot tell what to install from `{text}`")).with_hint(FORMS))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config::from_vars(vec![])
    }

    fn parsed(text: &str) -> (String, Spec) {
        let r = parse(&cfg(), text, None).unwrap_or_else(|e| panic!("{text}: {e}"));
        (r.source.address(), r.spec)
    }

    #[test]
    fn github_forms() {
        assert_eq!(
            parsed("acme/kplug-registry"),
            ("acme/kplug-registry".into(), Spec::Latest)
        );
        assert_eq!(
            parsed("acme/kplug-registry@v1.2.3").1,
            Spec::Tag("v1.2.3".into())
        );
        assert_eq!(
            parsed("acme/kplug-registry@1.2.3").1,
            Spec::Tag("1.2.3".into())
        );
        assert_eq!(
            parsed("acme/kplug-registry@nightly").1,
            Spec::Tag("nightly".into())
        );
        assert_eq!(
            parsed("acme/kplug-registry@^1.2").1,
            Spec::Req(semver::VersionReq::parse("^1.2").unwrap())
        );
        assert_eq!(
            parsed("https://github.com/acme/kplug-registry").1,
            Spec::Latest
        );
        assert_eq!(
            parsed("https://github.com/acme/kplug-registry.git").0,
            "acme/kplug-registry"
        );
        assert_eq!(
            parsed("https://github.com/acme/kplug-registry/releases/tag/v2.0.0").1,
            Spec::Tag("v2.0.0".into())
        );
        let r = parse(&cfg(), "acme/kplug-registry", None).unwrap();
        assert_eq!(r.source.plugin_name().as_deref(), Some("registry"));
    }

    #[test]
    fn other_forms() {
        let r = parse(
            &cfg(),
            "https://example.com/x.tar.gz?sig=1",
            Some(&"a".repeat(64)),
        )
        .unwrap();
        assert_eq!(r.source.address(), "https://example.com/x.tar.gz");
        assert!(!r.source.has_versions());
        let dir = tempfile::tempdir().unwrap();
        let d = parse(&cfg(), dir.path().to_str().unwrap(), None).unwrap();
        assert_eq!(d.source.address(), dir.path().display().to_string());
        let file = dir.path().join("kplug-x");
        std::fs::write(&file, "").unwrap();
        let f = parse(&cfg(), file.to_str().unwrap(), None).unwrap();
        assert_eq!(f.source.address(), file.display().to_string());
        assert!(f.source.plugin_name().is_none());
    }

    #[test]
    fn refusals() {
        for bad in [
            "",
            "justaname",
            "a/b/c",
            "../nope/here",
            "https://github.com/acme",
            "a/b@",
            "../x",
            "a/../b",
        ] {
            assert!(
                parse(&cfg(), bad, None).is_err(),
                "{bad:?} should be refused"
            );
        }
        let e = parse(&cfg(), "https://example.com/x.tar.gz", None)
            .err()
            .unwrap();
        assert!(e.message().contains("needs `--sha256"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let e = parse(&cfg(), dir.path().to_str().unwrap(), Some(&"a".repeat(64)))
            .err()
            .unwrap();
        assert!(e.message().contains("cannot check a directory"), "{e}");
    }
}
