//! GitHub releases: the slice of the REST API installing needs (a release
//! by tag, the paginated release list, assets), and [`GitHubSource`].
//!
//! The base URL comes from `KPLUG_GITHUB_API_URL` (GitHub Enterprise, and
//! the tests' loopback server). The token (`KPLUG_GITHUB_TOKEN`, else
//! `GITHUB_TOKEN`, else `GH_TOKEN`) is sent only to the API's own origin
//! ([`Http`] follows redirects by hand), never printed. A release's
//! contract is its `kplug-plugin.yaml` asset; an artifact is verified by
//! GitHub's asset `digest`, else a checksums asset of the release.

use super::Request;
use super::{Artifact, Content, FetchContext, Planned, Published, Source, Verification};
use super::{Candidate, Spec};
use crate::config::{Config, vars};
use crate::error::{Error, Result};
use crate::install::asset::{self, Platform};
use crate::install::http::{self, Http};
use crate::install::verify;
use crate::protocol::{EXECUTABLE_PREFIX, Info, names};
use crate::{clock, ui};
use reqwest::blocking::Response;
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use std::fmt;

pub const DEFAULT_API: &str = "https://api.github.com";
/// The release asset carrying a plugin's INFO document (its contract),
/// read before the binary is downloaded; never a candidate for install.
pub const CONTRACT_ASSET: &str = "kplug-plugin.yaml";
const JSON: &str = "application/vnd.github+json";
const OCTET: &str = "application/octet-stream";
/// Most release pages read when listing releases.
const MAX_PAGES: u32 = 10;
/// Largest page of API JSON accepted (a page of 100 releases with their
/// assets is well under 2 MiB).
const MAX_JSON: u64 = 16 * 1024 * 1024;
/// Largest checksums file or contract read into memory.
const MAX_TEXT: u64 = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    pub owner: String,
    pub name: String,
}

impl fmt::Display for Repo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

impl Repo {
    fn parse(owner: &str, name: &str) -> Option<Repo> {
        let ok = |p: &str| {
            !p.is_empty()
                && p.len() <= 100
                && p != "."
                && p != ".."
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        };
        let name = name.strip_suffix(".git").unwrap_or(name);
        (ok(owner) && ok(name)).then(|| Repo {
            owner: owner.into(),
            name: name.into(),
        })
    }

    /// `owner/repo`, or `None` when it is not one.
    pub fn parse_pair(text: &str) -> Option<Repo> {
        let (o, n) = text.split_once('/')?;
        Repo::parse(o, n)
    }

    /// The plugin name a repository stands for: `kplug-registry` and
    /// `registry` both mean `registry`.
    pub fn plugin_name(&self) -> Result<String> {
        let lower = self.name.to_ascii_lowercase();
        let name = lower
            .strip_prefix(EXECUTABLE_PREFIX)
            .unwrap_or(&lower)
            .to_string();
        names::validate(&name).map_err(|e| {
            Error::usage(format!(
                "the repository `{self}` does not name a valid plugin: `{name}` {e}"
            ))
            .with_hint("a plugin repository is named `kplug-<name>` or `<name>`, like `acme/kplug-registry`")
        })?;
        Ok(name)
    }
}

/// A github.com repository or release page URL.
pub(super) fn from_url(cfg: &Config, text: &str, path: &str) -> Result<Request> {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let found = match parts.as_slice() {
        [o, n] | [o, n, "releases"] | [o, n, "releases", "latest"] => {
            Repo::parse(o, n).map(|r| (r, Spec::Latest))
        }
        [o, n, "releases", "tag", tag] => Repo::parse(o, n).map(|r| (r, Spec::Tag((*tag).into()))),
        _ => None,
    };
    match found {
        Some((repo, spec)) => Ok(Request {
            source: Box::new(GitHubSource::new(cfg, repo)),
            spec,
        }),
        None => Err(Error::usage(format!(
            "cannot install from `{}`: not a repository or release page",
            http::display_text(text)
        ))),
    }
}

/// The topic that marks a repository as a kplug plugin.
pub const PLUGIN_TOPIC: &str = "kplug-plugin";

/// A repository as the search API lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct RepoInfo {
    pub full_name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub html_url: Option<String>,
}

#[derive(Deserialize)]
struct SearchPage {
    #[serde(default)]
    items: Vec<RepoInfo>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Release {
    pub tag_name: String,
    #[serde(default)]
    pub prerelease: bool,
    #[serde(default)]
    pub draft: bool,
    #[serde(default)]
    pub assets: Vec<Asset>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Asset {
    pub name: String,
    /// The API URL of the asset (downloads with `Accept: octet-stream`;
    /// works for private repositories).
    pub url: String,
    pub browser_download_url: String,
    #[serde(default)]
    pub size: u64,
    /// `sha256:<hex>`, on releases made since GitHub started computing it.
    #[serde(default)]
    pub digest: Option<String>,
}

impl Release {
    /// The version a release's tag stands for (`v1.2.3` → 1.2.3).
    pub fn version(&self) -> Option<semver::Version> {
        let t = self.tag_name.trim();
        semver::Version::parse(t.strip_prefix('v').unwrap_or(t)).ok()
    }

    fn asset(&self, name: &str) -> Option<&Asset> {
        self.assets.iter().find(|a| a.name == name)
    }
}

/// The GitHub REST API.
pub struct GitHub {
    api: Url,
    http: Http,
}

impl GitHub {
    pub fn new(cfg: &Config) -> Result<GitHub> {
        let base = cfg
            .var(vars::GITHUB_API_URL)
            .and_then(|v| v.to_str())
            .unwrap_or(DEFAULT_API);
        let api = Url::parse(&format!("{}/", base.trim_end_matches('/'))).map_err(|e| {
            Error::usage(format!(
                "KPLUG_GITHUB_API_URL `{}` is not a URL",
                http::display_text(base)
            ))
            .caused_by(e)
            .with_hint("use e.g. https://github.example.com/api/v3, or unset it for github.com")
        })?;
        let mut http = Http::new(cfg)?.with_header("X-GitHub-Api-Version", "2022-11-28");
        if let Some(token) = vars::TOKENS
            .iter()
            .find_map(|t| cfg.var(t))
            .and_then(|t| t.to_str())
        {
            http = http.with_credential(&api, &format!("Bearer {token}"), "the GitHub token")?;
        }
        Ok(GitHub { api, http })
    }

    fn endpoint(&self, path: &str) -> Url {
        self.api
            .join(path)
            .expect("API paths are valid relative URLs")
    }

    fn send(&self, url: Url, accept: &str) -> Result<Response> {
        let _wait = crate::exec::interrupt::abortable("waiting for GitHub");
        self.http
            .get(url, accept)
            .map_err(|e| e.with_hint("`--offline` installs versions kplug downloaded before"))
    }

    /// Turn an error status into a message a user can act on.
    fn status_error(&self, resp: Response, what: &str) -> Error {
        let status = resp.status();
        let header = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let remaining = header("x-ratelimit-remaining");
        let limited = status == StatusCode::TOO_MANY_REQUESTS
            || (status == StatusCode::FORBIDDEN
                && (remaining.as_deref() == Some("0") || header("retry-after").is_some()));
        if limited {
            let when = header("x-ratelimit-reset")
                .and_then(|r| r.parse::<i64>().ok())
                .map(|reset| {
                    let mins = (reset.saturating_sub(clock::now_unix()).max(0) + 59) / 60;
                    format!("; it resets at {} (in {mins} min)", clock::rfc3339(reset))
                })
                .or_else(|| {
                    header("retry-after")
                        .filter(|s| s.len() <= 10 && s.bytes().all(|b| b.is_ascii_digit()))
                        .map(|s| format!("; retry after {s} s"))
                })
                .unwrap_or_default();
            let hint = if self.http.has_credential() {
                "wait for the reset, or use a token with a higher limit"
            } else {
                "set GITHUB_TOKEN (or KPLUG_GITHUB_TOKEN) to a GitHub token: authenticated requests get a much higher limit"
            };
            return Error::new(format!("GitHub API rate limit exceeded while {what}{when}"))
                .with_hint(hint);
        }
        match status {
            StatusCode::NOT_FOUND => Error::new(format!("{what}: not found")),
            StatusCode::UNAUTHORIZED => Error::new(format!("{what}: GitHub rejected the token (401)"))
                .with_hint("check GITHUB_TOKEN / KPLUG_GITHUB_TOKEN / GH_TOKEN, or unset them for public repositories"),
            s => Error::new(format!("{what}: GitHub answered {s}")),
        }
    }

    fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: Url,
        what: &str,
    ) -> Result<(T, Option<String>)> {
        let resp = self.send(url, JSON)?;
        if !resp.status().is_success() {
            return Err(self.status_error(resp, what));
        }
        let next = resp
            .headers()
            .get("link")
            .and_then(|l| l.to_str().ok())
            .and_then(next_link);
        let body = {
            let _wait = crate::exec::interrupt::abortable("waiting for GitHub");
            self.http.read_body(resp, MAX_JSON, what)?
        };
        let value = serde_json::from_slice(&body).map_err(|e| {
            Error::new(format!("{what}: GitHub sent JSON kplug cannot read")).caused_by(e)
        })?;
        Ok((value, next))
    }

    fn is_not_found(e: &Error) -> bool {
        e.message().ends_with(": not found")
    }

    /// The release tagged `tag` (also tried with a leading `v`).
    pub fn by_tag(&self, repo: &Repo, tag: &str) -> Result<Release> {
        let shown = ui::escape(tag);
        let what = format!("fetching release {shown} of {repo}");
        let path = |t: &str| {
            let mut url = self.endpoint(&format!("repos/{repo}/releases/tags/"));
            // The tag is one path segment, whatever it holds.
            url.path_segments_mut()
                .expect("an http URL has segments")
                .pop_if_empty()
                .push(t);
            url
        };
        let first = self.get_json(path(tag), &what);
        match first {
            Err(e) if Self::is_not_found(&e) && !tag.starts_with('v') => self
                .get_json(path(&format!("v{tag}")), &what)
                .map(|(r, _)| r),
            other => other.map(|(r, _)| r),
        }
        .map_err(|e| {
            if Self::is_not_found(&e) {
                Error::new(format!("{repo} has no release tagged `{shown}`")).with_hint(format!(
                    "see its releases at https://github.com/{repo}/releases"
                ))
            } else {
                e
            }
        })
    }

    /// Every release, newest first as GitHub lists them (up to 1000).
    pub fn releases(&self, repo: &Repo) -> Result<Vec<Release>> {
        let what = format!("listing the releases of {repo}");
        let mut url = self.endpoint(&format!("repos/{repo}/releases?per_page=100"));
        let mut all = Vec::new();
        for _ in 0..MAX_PAGES {
            let (page, next): (Vec<Release>, _) = self.get_json(url, &what).map_err(|e| {
                if Self::is_not_found(&e) {
                    Error::new(format!("no such repository or no releases: {repo}"))
                        .with_hint("check the spelling; for a private repository set GITHUB_TOKEN")
                } else {
                    e
                }
            })?;
            all.extend(page);
            // Pages stay on the API's origin: a Link elsewhere is ignored.
            match next
                .and_then(|n| Url::parse(&n).ok())
                .filter(|n| http::same_origin(n, &self.api))
            {
                Some(n) => url = n,
                None => break,
            }
        }
        Ok(all)
    }

    /// The repositories of `owner` with the topic `kplug-plugin` (at most
    /// 1000), as GitHub's repository search finds them.
    pub fn plugin_repositories(&self, owner: &str) -> Result<Vec<RepoInfo>> {
        let what = format!("searching the plugin repositories of {owner}");
        let mut url = self.endpoint("search/repositories");
        url.query_pairs_mut()
            .append_pair("q", &format!("topic:{PLUGIN_TOPIC} user:{owner}"))
            .append_pair("per_page", "100");
        let mut all = Vec::new();
        for _ in 0..MAX_PAGES {
            let (page, next): (SearchPage, _) = self.get_json(url, &what)?;
            all.extend(page.items);
            match next
                .and_then(|n| Url::parse(&n).ok())
                .filter(|n| http::same_origin(n, &self.api))
            {
                Some(n) => url = n,
                None => break,
            }
        }
        Ok(all)
    }

    /// The response carrying an asset's bytes. With a token the asset API
    /// URL is used (private repositories); without, the public download
    /// URL (not counted against the API rate limit).
    fn open_asset(&self, asset: &Asset) -> Result<Response> {
        let url = if self.http.has_credential() {
            &asset.url
        } else {
            &asset.browser_download_url
        };
        let shown = ui::escape(&asset.name);
        let url = Url::parse(url)
            .map_err(|e| Error::new(format!("asset {shown} has an invalid URL")).caused_by(e))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(Error::new(format!(
                "asset {shown} has a `{}:` URL; kplug downloads over HTTPS only",
                url.scheme()
            )));
        }
        let resp = self.send(url, OCTET)?;
        if !resp.status().is_success() {
            return Err(self.status_error(resp, &format!("downloading {shown}")));
        }
        Ok(resp)
    }

    /// A small text asset (a checksums file, a contract), at most 1 MiB.
    pub fn fetch_text(&self, asset: &Asset) -> Result<String> {
        let shown = ui::escape(&asset.name);
        let resp = self.open_asset(asset)?;
        let body = {
            let _wait = crate::exec::interrupt::abortable("downloading from GitHub");
            self.http
                .read_body(resp, MAX_TEXT, &format!("downloading {shown}"))?
        };
        String::from_utf8(body).map_err(|e| Error::new(format!("{shown} is not text")).caused_by(e))
    }
}

/// A repository's releases as a source.
pub struct GitHubSource {
    repo: Repo,
    /// The API, made on first use (a bad `KPLUG_GITHUB_API_URL` is an error
    /// only when the network is needed).
    api: Option<GitHub>,
    api_error: Option<Error>,
    /// What [`Source::versions`] listed; candidates index it.
    releases: Vec<Release>,
    /// The configured source it was found through, if any.
    configured: Option<String>,
    /// The keys that source trusts.
    trust: Vec<(crate::install::signing::Key, crate::install::signing::How)>,
}

impl GitHubSource {
    pub fn new(cfg: &Config, repo: Repo) -> GitHubSource {
        let (api, api_error) = match GitHub::new(cfg) {
            Ok(g) => (Some(g), None),
            Err(e) => (None, Some(e)),
        };
        GitHubSource {
            repo,
            api,
            api_error,
            releases: Vec::new(),
            configured: None,
            trust: Vec::new(),
        }
    }

    /// The same, found through the configured source `name`.
    pub fn configured(mut self, name: &str) -> GitHubSource {
        self.configured = Some(name.to_string());
        self
    }

    /// Its plugins must be signed by one of `keys`.
    pub fn trusting(
        mut self,
        keys: Vec<(crate::install::signing::Key, crate::install::signing::How)>,
    ) -> GitHubSource {
        self.trust = keys;
        self
    }

    fn api(&self) -> Result<&GitHub> {
        match (&self.api, &self.api_error) {
            (Some(g), _) => Ok(g),
            (None, Some(e)) => Err(e.clone()),
            (None, None) => unreachable!("one of the two is set"),
        }
    }

    fn release(&self, c: &Candidate) -> &Release {
        &self.releases[c.key]
    }
}

fn candidate(key: usize, r: &Release) -> Candidate {
    Candidate {
        version: r.version(),
        label: r.tag_name.clone(),
        prerelease: r.prerelease || r.version().is_some_and(|v| !v.pre.is_empty()),
        key,
    }
}

impl Source for GitHubSource {
    fn contract_origin(&self) -> String {
        format!("the release's {CONTRACT_ASSET}")
    }

    fn address(&self) -> String {
        self.repo.to_string()
    }

    fn plugin_name(&self) -> Option<String> {
        self.repo.plugin_name().ok()
    }

    fn versions(&mut self, spec: &Spec) -> Result<Vec<Candidate>> {
        // A repository that names no valid plugin is refused before any
        // request.
        self.repo.plugin_name()?;
        let releases = match spec {
            Spec::Tag(tag) => vec![self.api()?.by_tag(&self.repo, tag)?],
            _ => self
                .api()?
                .releases(&self.repo)?
                .into_iter()
                .filter(|r| !r.draft)
                .collect(),
        };
        self.releases = releases;
        Ok(self
            .releases
            .iter()
            .enumerate()
            .map(|(i, r)| candidate(i, r))
            .collect())
    }

    fn contract(&mut self, c: &Candidate) -> Result<Option<Published>> {
        let release = self.release(c);
        let Some(asset) = release.asset(CONTRACT_ASSET) else {
            return Ok(None);
        };
        let text = self.api()?.fetch_text(asset)?;
        let info = match Info::parse(text.as_bytes()) {
            Ok(info) => info,
            Err(e) => return Ok(Some(Err(e.to_string()))),
        };
        if let Some(v) = release.version()
            && v != info.version
        {
            return Ok(Some(Err(format!(
                "it says version {}, but the release is {v}",
                info.version
            ))));
        }
        Ok(Some(Ok(info)))
    }

    fn planned(&mut self, c: &Candidate, platform: &Platform) -> Result<Option<Planned>> {
        let Some(name) = self.plugin_name() else {
            return Ok(None);
        };
        let release = self.release(c);
        let names: Vec<&str> = release.assets.iter().map(|a| a.name.as_str()).collect();
        let Ok(choice) = asset::select(&names, &name, platform) else {
            return Ok(None);
        };
        let chosen = &release.assets[choice.index];
        Ok(chosen
            .digest
            .as_deref()
            .and_then(|d| verify::parse_digest(d).ok())
            .map(|sha256| Planned {
                name: chosen.name.clone(),
                kind: choice.kind,
                sha256,
                verified: Verification::GitHubDigest,
            }))
    }

    fn source_name(&self) -> Option<String> {
        self.configured.clone()
    }

    fn trusted(&self) -> Vec<(crate::install::signing::Key, crate::install::signing::How)> {
        self.trust.clone()
    }

    fn fetch(&mut self, c: &Candidate, ctx: &FetchContext<'_>) -> Result<Artifact> {
        let repo = self.repo.to_string();
        let name = self.repo.plugin_name()?;
        let gh = self.api()?;
        let release = self.release(c);
        let tag = ui::escape(&release.tag_name);
        let names: Vec<&str> = release.assets.iter().map(|a| a.name.as_str()).collect();
        let choice = asset::select(&names, &name, ctx.platform).map_err(|e| {
            Error::new(format!("{repo} {tag} has no asset kplug can install here"))
                .caused_by(e)
                .with_hint("plugin authors: publish `kplug-<name>_<os>_<arch>.tar.gz` assets (see docs/install.md)")
        })?;
        let chosen = &release.assets[choice.index];
        let shown = ui::escape(&chosen.name);
        // A present but unusable digest refuses: never "no checksum".
        let digest = match chosen.digest.as_deref().map(verify::parse_digest) {
            Some(Err(problem)) => {
                return Err(Error::new(format!(
                    "{repo} {tag}: the digest GitHub lists for {shown} is unusable ({problem}); refusing it"
                ))
                .with_hint("nothing was installed; report it to the plugin's author"));
            }
            Some(Ok(d)) => Some(d),
            None => None,
        };
        // The download gets a name kplug chose: the asset's own name is data.
        let dest = ctx.dir.join("artifact");
        let resp = gh.open_asset(chosen)?;
        let file = {
            let _wait = crate::exec::interrupt::abortable("downloading from GitHub");
            gh.http.save(resp, &dest, ctx.max_bytes, &shown)?
        };
        let verified = if let Some(expected) = digest {
            verify::check_sha(&file, &expected, &chosen.name)?;
            Verification::GitHubDigest
        } else {
            let mut how = Verification::None;
            for sums in verify::checksum_assets(&chosen.name, &names) {
                let sums_asset = release.asset(sums).expect("from the list");
                let text = gh.fetch_text(sums_asset)?;
                let single = sums
                    .to_ascii_lowercase()
                    .starts_with(&chosen.name.to_ascii_lowercase());
                if let Some(expected) = verify::find_checksum(&text, &chosen.name, single) {
                    verify::check_sha(&file, &expected, &chosen.name)?;
                    how = Verification::ChecksumsFile;
                    break;
                }
            }
            how
        };
        Ok(Artifact {
            content: Content::File {
                file,
                kind: choice.kind,
            },
            name: chosen.name.clone(),
            verified,
            tag: Some(release.tag_name.clone()),
            report: None,
            signed: None,
        })
    }

    /// `<asset>.minisig` of the same release, and the release's
    /// `minisign.pub` as the key for first use.
    fn signature(
        &mut self,
        c: &Candidate,
        artifact: &Artifact,
    ) -> Result<Option<crate::install::signing::Published>> {
        use crate::install::signing::{Key, Over, Published};
        let Content::File { file, .. } = &artifact.content else {
            return Ok(None);
        };
        let origin = format!("{}.minisig", artifact.name);
        let gh = self.api()?;
        let release = self.release(c);
        let Some(sig) = release.asset(&origin) else {
            return Ok(None);
        };
        let signature = gh.fetch_text(sig)?;
        let offered = match release.asset(PUBLIC_KEY_ASSET) {
            Some(a) => Key::parse(&gh.fetch_text(a)?).ok(),
            None => None,
        };
        Ok(Some(Published {
            signature,
            origin: format!("{} {}", release.tag_name, origin),
            over: Over::File(file.path.clone()),
            vouched: self.trust.clone(),
            offered,
        }))
    }
}

/// The release asset holding the public key its assets are signed with.
pub const PUBLIC_KEY_ASSET: &str = "minisign.pub";

/// The `rel="next"` URL of a Link header.
pub(crate) fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == "rel=\"next\"")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers() {
        let h = r#"<https://api.github.com/repositories/1/releases?page=2>; rel="next", <https://api.github.com/repositories/1/releases?page=5>; rel="last""#;
        assert_eq!(
            next_link(h).as_deref(),
            Some("https://api.github.com/repositories/1/releases?page=2")
        );
        assert_eq!(next_link(r#"<https://x/?page=1>; rel="prev""#), None);
    }

    #[test]
    fn repositories_and_their_plugin_names() {
        let e = Repo::parse("acme", "Kplug_Bad")
            .unwrap()
            .plugin_name()
            .unwrap_err();
        assert!(e.message().contains("does not name a valid plugin"), "{e}");
        assert_eq!(
            Repo::parse("acme", "kplug-registry")
                .unwrap()
                .plugin_name()
                .unwrap(),
            "registry"
        );
        assert_eq!(
            Repo::parse("acme", "stern").unwrap().plugin_name().unwrap(),
            "stern"
        );
        for bad in ["a/..", "./b", "a/b/c", "a/", "/b", "a b/c", "a/b\u{1b}[2J"] {
            assert!(Repo::parse_pair(bad).is_none(), "{bad:?}");
        }
    }
}
