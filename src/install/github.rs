//! The slice of GitHub's REST API that installing needs: a release by tag
//! or from the paginated list (newest compatible first), and its assets.
//!
//! The base URL comes from `KPLUG_GITHUB_API_URL` (GitHub Enterprise, and
//! the tests' loopback server). The token (`KPLUG_GITHUB_TOKEN`, else
//! `GITHUB_TOKEN`, else `GH_TOKEN`) is sent only to the API's own origin:
//! redirects are followed here, by hand, and a hop to any other origin —
//! such as the storage host an asset download redirects to — goes out
//! without it. The token is never printed.

use super::download::{self, Fetched};
use crate::config::{Config, vars};
use crate::error::{Error, Result};
use crate::{clock, protocol};
use reqwest::blocking::{Client, Response};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue, LOCATION, USER_AGENT};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

pub const DEFAULT_API: &str = "https://api.github.com";
const JSON: &str = "application/vnd.github+json";
const OCTET: &str = "application/octet-stream";
/// Most release pages read when searching by version range.
const MAX_PAGES: u32 = 10;

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
}

pub struct GitHub {
    api: Url,
    token: Option<String>,
    http: Client,
    attempts: u32,
    read_timeout: Duration,
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

impl GitHub {
    pub fn new(cfg: &Config) -> Result<GitHub> {
        let base = cfg
            .var(vars::GITHUB_API_URL)
            .and_then(|v| v.to_str())
            .unwrap_or(DEFAULT_API);
        let api = Url::parse(&format!("{}/", base.trim_end_matches('/'))).map_err(|e| {
            Error::usage(format!("KPLUG_GITHUB_API_URL `{base}` is not a URL"))
                .caused_by(e)
                .with_hint("use e.g. https://github.example.com/api/v3, or unset it for github.com")
        })?;
        let token = vars::TOKENS
            .iter()
            .find_map(|t| cfg.var(t))
            .and_then(|t| t.to_str())
            .map(str::to_string);
        let net = &cfg.file()?.network;
        let http = Client::builder()
            // Redirects are followed by `send`, which decides per hop
            // whether the token may go along.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(net.connect_timeout.0)
            // In the blocking client this bounds each wait for bytes, not
            // the whole download: a stalled server fails, a slow one works.
            .timeout(net.read_timeout.0)
            .build()
            .map_err(|e| Error::new("could not set up HTTPS").caused_by(e))?;
        Ok(GitHub {
            api,
            token,
            http,
            attempts: net.attempts.max(1),
            read_timeout: net.read_timeout.0,
        })
    }

    fn endpoint(&self, path: &str) -> Url {
        self.api
            .join(path)
            .expect("API paths are valid relative URLs")
    }

    /// GET `url`, following redirects (at most 10) and retrying transient
    /// failures with backoff. The token goes to the API origin only.
    fn send(&self, url: Url, accept: &str) -> Result<Response> {
        let mut url = url;
        for _ in 0..10 {
            let resp = self.send_once(&url, accept)?;
            if resp.status().is_redirection()
                && let Some(next) = resp.headers().get(LOCATION).and_then(|l| l.to_str().ok())
            {
                url = url.join(next).map_err(|e| {
                    Error::new(format!(
                        "{} redirected to an invalid URL",
                        url.origin().ascii_serialization()
                    ))
                    .caused_by(e)
                })?;
                continue;
            }
            return Ok(resp);
        }
        Err(Error::new(format!(
            "too many redirects fetching {}",
            display_url(&url)
        )))
    }

    fn send_once(&self, url: &Url, accept: &str) -> Result<Response> {
        let mut delay = Duration::from_millis(250);
        let mut attempt = 1;
        loop {
            let mut req = self
                .http
                .get(url.clone())
                .header(ACCEPT, accept)
                .header(USER_AGENT, format!("kplug/{}", crate::VERSION))
                .header("X-GitHub-Api-Version", "2022-11-28");
            if let Some(token) = &self.token
                && same_origin(url, &self.api)
            {
                let mut value =
                    HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                        Error::usage("the GitHub token contains characters that cannot be sent")
                    })?;
                value.set_sensitive(true);
                req = req.header(AUTHORIZATION, value);
            }
            let result = req.send();
            let transient = match &result {
                Ok(r) => matches!(
                    r.status(),
                    StatusCode::INTERNAL_SERVER_ERROR
                        | StatusCode::BAD_GATEWAY
                        | StatusCode::SERVICE_UNAVAILABLE
                        | StatusCode::GATEWAY_TIMEOUT
                ),
                // A refused or reset connection may be a blip; a timeout
                // already waited long enough.
                Err(e) => e.is_connect() || (e.is_request() && !e.is_timeout()),
            };
            if transient && attempt < self.attempts {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(4));
                attempt += 1;
                continue;
            }
            return result.map_err(|e| self.transport_error(url, e));
        }
    }

    fn transport_error(&self, url: &Url, e: reqwest::Error) -> Error {
        let what = if e.is_timeout() {
            format!(
                "{} did not answer within {}",
                display_url(url),
                protocol::format_duration(self.read_timeout)
            )
        } else if e.is_connect() {
            format!(
                "could not connect to {}",
                url.origin().ascii_serialization()
            )
        } else {
            format!("the request to {} failed", display_url(url))
        };
        // reqwest's own message may carry the URL, never headers.
        let mut cause = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            cause = format!("{cause}: {s}");
            source = s.source();
        }
        Error::new(what)
            .caused_by(cause)
            .with_hint("check the network (and KPLUG_GITHUB_API_URL if set), then try again; `--offline` installs from the download cache")
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
                    let mins = ((reset - clock::now_unix()).max(0) + 59) / 60;
                    format!("; it resets at {} (in {mins} min)", clock::rfc3339(reset))
                })
                .or_else(|| header("retry-after").map(|s| format!("; retry after {s} s")))
                .unwrap_or_default();
            let hint = if self.token.is_some() {
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
        let body = resp
            .bytes()
            .map_err(|e| Error::new(format!("{what}: the response broke off")).caused_by(e))?;
        let value = serde_json::from_slice(&body).map_err(|e| {
            Error::new(format!("{what}: GitHub sent JSON kplug cannot read")).caused_by(e)
        })?;
        Ok((value, next))
    }

    fn not_found(e: Error, repo: &str) -> Error {
        if e.message().ends_with(": not found") {
            Error::new(format!("no such repository or no releases: {repo}"))
                .with_hint("check the spelling; for a private repository set GITHUB_TOKEN")
        } else {
            e
        }
    }

    /// The release tagged `tag` (also tried with a leading `v`).
    pub fn by_tag(&self, repo: &str, tag: &str) -> Result<Release> {
        let what = format!("fetching release {tag} of {repo}");
        let first = self.get_json(
            self.endpoint(&format!("repos/{repo}/releases/tags/{tag}")),
            &what,
        );
        match first {
            Err(e) if e.message().ends_with(": not found") && !tag.starts_with('v') => self
                .get_json(
                    self.endpoint(&format!("repos/{repo}/releases/tags/v{tag}")),
                    &what,
                )
                .map(|(r, _)| r),
            other => other.map(|(r, _)| r),
        }
        .map_err(|e| {
            if e.message().ends_with(": not found") {
                Error::new(format!("{repo} has no release tagged `{tag}`")).with_hint(format!(
                    "see its releases at https://github.com/{repo}/releases"
                ))
            } else {
                e
            }
        })
    }

    /// Every release, newest first as GitHub lists them (up to 1000).
    pub fn releases(&self, repo: &str) -> Result<Vec<Release>> {
        let what = format!("listing the releases of {repo}");
        let mut url = self.endpoint(&format!("repos/{repo}/releases?per_page=100"));
        let mut all = Vec::new();
        for _ in 0..MAX_PAGES {
            let (page, next): (Vec<Release>, _) = self
                .get_json(url, &what)
                .map_err(|e| Self::not_found(e, repo))?;
            all.extend(page);
            match next.and_then(|n| Url::parse(&n).ok()) {
                Some(n) => url = n,
                None => break,
            }
        }
        Ok(all)
    }

    /// Download an asset into `dest`, hashing as it streams. With a token
    /// the asset API URL is used (private repositories); without, the public
    /// download URL (not counted against the API rate limit).
    pub fn download(&self, asset: &Asset, dest: &Path, max_bytes: u64) -> Result<Fetched> {
        let resp = self.open_asset(asset)?;
        let total = resp.content_length();
        download::save(resp, dest, max_bytes, total, &asset.name)
    }

    /// The response carrying an asset's bytes.
    fn open_asset(&self, asset: &Asset) -> Result<Response> {
        let url = if self.token.is_some() {
            &asset.url
        } else {
            &asset.browser_download_url
        };
        let url = Url::parse(url).map_err(|e| {
            Error::new(format!("asset {} has an invalid URL", asset.name)).caused_by(e)
        })?;
        let resp = self.send(url, OCTET)?;
        if !resp.status().is_success() {
            return Err(self.status_error(resp, &format!("downloading {}", asset.name)));
        }
        Ok(resp)
    }

    /// A small text asset (a checksums file, a contract), at most 1 MiB,
    /// read into memory: several may be fetched in one run.
    pub fn fetch_text(&self, asset: &Asset) -> Result<String> {
        const LIMIT: u64 = 1024 * 1024;
        let mut body = Vec::new();
        self.open_asset(asset)?
            .take(LIMIT + 1)
            .read_to_end(&mut body)
            .map_err(|e| {
                Error::new(format!("the download of {} broke off", asset.name)).caused_by(e)
            })?;
        if body.len() as u64 > LIMIT {
            return Err(Error::new(format!(
                "{} is larger than 1 MiB; it is not a checksums or contract file",
                asset.name
            )));
        }
        String::from_utf8(body)
            .map_err(|e| Error::new(format!("{} is not text", asset.name)).caused_by(e))
    }
}

/// A plain URL (`install https://…/x.tar.gz --sha256 …`): no token, ever.
pub fn download_url(cfg: &Config, url: &str, dest: &Path, max_bytes: u64) -> Result<Fetched> {
    let mut plain = GitHub::new(cfg)?;
    plain.token = None;
    let parsed =
        Url::parse(url).map_err(|e| Error::usage(format!("`{url}` is not a URL")).caused_by(e))?;
    let name = parsed
        .path_segments()
        .and_then(|mut s| s.next_back())
        .unwrap_or("download")
        .to_string();
    let resp = plain.send(parsed, OCTET)?;
    if !resp.status().is_success() {
        return Err(plain.status_error(resp, &format!("downloading {url}")));
    }
    let total = resp.content_length();
    download::save(resp, dest, max_bytes, total, &name)
}

/// A URL for messages: no query string (signed URLs carry credentials).
fn display_url(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// The `rel="next"` URL of a Link header.
fn next_link(header: &str) -> Option<String> {
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
    fn origins() {
        let a = Url::parse("http://127.0.0.1:8080/api/").unwrap();
        assert!(same_origin(
            &a,
            &Url::parse("http://127.0.0.1:8080/x").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("http://127.0.0.2:8080/x").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("http://127.0.0.1:8081/x").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("https://127.0.0.1:8080/x").unwrap()
        ));
    }

    #[test]
    fn urls_in_messages_lose_their_query() {
        let u = Url::parse("https://objects.example/x.tar.gz?X-Amz-Signature=secret").unwrap();
        assert_eq!(display_url(&u), "https://objects.example/x.tar.gz");
    }
}
