//! A client of the OCI distribution API: manifests, blobs, tags, the
//! catalog, and uploads, with docker's authentication.
//!
//! Every request first goes out with what is known to work for its scope
//! (a Bearer token fetched earlier in this command, or the host's Basic
//! credential once a registry asked for Basic). A 401 is answered from
//! its challenge: Basic with the host's credential, or the Bearer flow
//! (the token endpoint, asked with the credential if there is one, then
//! the request again). Tokens live for the command only.
//!
//! Everything a registry sends is bounded: a manifest at most 4 MiB,
//! small JSON documents at most 4 MiB, a blob at most the size its
//! descriptor gives, and every manifest and blob is checked against its
//! digest as it streams.

use super::auth::{self, Basic, Challenge};
use super::reference::{Reference, is_digest};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::install::download::{self, Fetched};
use crate::install::http::{self, Http, Payload};
use crate::ui::escape;
use reqwest::blocking::Response;
use reqwest::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION, WWW_AUTHENTICATE,
};
use reqwest::{Method, StatusCode, Url};
use sha2::{Digest as _, Sha256, Sha512};
use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::path::Path;

/// Largest manifest accepted.
pub const MAX_MANIFEST: u64 = 4 * 1024 * 1024;
/// Largest JSON document (tag list page, catalog page, token) accepted.
const MAX_JSON: u64 = 4 * 1024 * 1024;
/// Most pages of a tag list or catalog followed.
const MAX_PAGES: usize = 100;

pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// One registry host, as one command talks to it.
pub struct Registry {
    /// The environment credentials are looked up in (on the first 401).
    vars: Vec<(std::ffi::OsString, std::ffi::OsString)>,
    http: Http,
    host: String,
    base: Url,
    basic: OnceCell<Option<Basic>>,
    /// Bearer tokens by scope, for this command.
    tokens: RefCell<HashMap<String, HeaderValue>>,
    /// The registry asked for Basic: send it up front.
    wants_basic: std::cell::Cell<bool>,
}

/// A manifest as fetched: its bytes, media type and digest (verified).
#[derive(Debug, Clone)]
pub struct Fetched1 {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: String,
}

/// The digest of `bytes` in `algorithm` (`sha256` or `sha512`).
pub fn digest_of(algorithm: &str, bytes: &[u8]) -> String {
    match algorithm {
        "sha512" => format!("sha512:{}", crate::fsutil::hex(&Sha512::digest(bytes))),
        _ => format!("sha256:{}", crate::fsutil::hex(&Sha256::digest(bytes))),
    }
}

/// What a request needs to be allowed: reading or writing a repository.
#[derive(Clone, Copy)]
pub enum Access<'r> {
    Pull(&'r str),
    Push(&'r str),
    /// Listing the repositories.
    Catalog,
}

impl Access<'_> {
    fn scope(self) -> String {
        match self {
            Access::Pull(repo) => format!("repository:{repo}:pull"),
            Access::Push(repo) => format!("repository:{repo}:pull,push"),
            Access::Catalog => "registry:catalog:*".to_string(),
        }
    }
}

/// A blob as a descriptor names it.
#[derive(Clone, Copy)]
pub struct Blob<'b> {
    pub repo: &'b str,
    pub digest: &'b str,
    pub size: u64,
}

impl Registry {
    pub fn new(cfg: &Config, reference: &Reference) -> Result<Registry> {
        Ok(Registry {
            vars: cfg.vars.clone(),
            http: Http::new(cfg)?,
            host: reference.host.clone(),
            base: reference.base(cfg)?,
            basic: OnceCell::new(),
            tokens: RefCell::new(HashMap::new()),
            wants_basic: std::cell::Cell::new(false),
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    fn basic(&self) -> Result<Option<&Basic>> {
        if self.basic.get().is_none() {
            let c = auth::credential(&Config::from_vars(self.vars.clone()), &self.host)?;
            let _ = self.basic.set(c);
        }
        Ok(self.basic.get().and_then(Option::as_ref))
    }

    /// `/v2/<path>` on this registry.
    pub fn url(&self, path: &str) -> Result<Url> {
        self.base
            .join(&format!("v2/{path}"))
            .map_err(|e| Error::new(format!("cannot make a URL of {}", escape(path))).caused_by(e))
    }

    /// Send a request with authentication, answering a 401 once.
    pub fn send(
        &self,
        method: Method,
        url: Url,
        accept: &str,
        headers: &HeaderMap,
        body: &Payload,
        access: Access<'_>,
    ) -> Result<Response> {
        let scope = access.scope();
        let mut h = headers.clone();
        if let Some(t) = self.tokens.borrow().get(&scope) {
            h.insert(AUTHORIZATION, t.clone());
        } else if self.wants_basic.get()
            && let Some(b) = self.basic()?
        {
            h.insert(AUTHORIZATION, sensitive(&b.header())?);
        }
        let _wait = crate::exec::interrupt::abortable("waiting for the registry");
        let resp = self
            .http
            .send(method.clone(), url.clone(), accept, &h, body)?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let challenge = resp
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(auth::parse_challenge);
        let auth = match challenge {
            None => {
                return Err(Error::new(format!(
                    "{} answered 401 Unauthorized without a challenge kplug can answer",
                    escape(&self.host)
                ))
                .with_hint(
                    "the registry must send `WWW-Authenticate: Basic …` or `Bearer realm=…`",
                ));
            }
            Some(Challenge::Basic) => {
                let Some(b) = self.basic()? else {
                    return Err(self.needs_login());
                };
                if h.contains_key(AUTHORIZATION) {
                    return Err(self.refused(b));
                }
                self.wants_basic.set(true);
                sensitive(&b.header())?
            }
            Some(Challenge::Bearer {
                realm,
                service,
                scope: asked,
            }) => {
                // A token of this scope was refused: it may have expired
                // (a long push). A fresh one is asked for, once.
                self.tokens.borrow_mut().remove(&scope);
                let token = self.token(
                    &realm,
                    service.as_deref(),
                    asked.as_deref().unwrap_or(&scope),
                )?;
                self.tokens
                    .borrow_mut()
                    .insert(scope.clone(), token.clone());
                token
            }
        };
        h.insert(AUTHORIZATION, auth);
        let resp = self.http.send(method, url, accept, &h, body)?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            return Err(match self.basic()? {
                Some(b) => self.refused(b),
                None => self.needs_login(),
            });
        }
        Ok(resp)
    }

    fn needs_login(&self) -> Error {
        Error::new(format!("{} requires a login", escape(&self.host))).with_hint(format!(
            "log in with `docker login {0}`, or set KPLUG_REGISTRY_USERNAME and KPLUG_REGISTRY_PASSWORD with `--registry-host {0}`",
            escape(&self.host)
        ))
    }

    fn refused(&self, b: &Basic) -> Error {
        Error::new(format!(
            "{} refused the credential of user `{}` (401 Unauthorized)",
            escape(&self.host),
            escape(&b.username)
        ))
        .caused_by(format!("the credential came from {}", escape(&b.from)))
        .with_hint(format!(
            "check the user name and password, e.g. `docker login {}`",
            escape(&self.host)
        ))
    }

    /// The Bearer flow: GET the realm with `service` and `scope`, with the
    /// host's credential only when the realm is on the same host.
    fn token(&self, realm: &str, service: Option<&str>, scope: &str) -> Result<HeaderValue> {
        let mut url = Url::parse(realm).map_err(|e| {
            Error::new(format!(
                "{} sent a token realm that is not a URL: {}",
                escape(&self.host),
                escape(realm)
            ))
            .caused_by(e)
        })?;
        let loopback = url
            .host_str()
            .is_some_and(crate::install::inventory::is_loopback_host);
        if url.scheme() != "https"
            && !(url.scheme() == "http" && (loopback || self.base.scheme() == "http"))
        {
            return Err(Error::new(format!(
                "{} sent a token realm that is not https: {}",
                escape(&self.host),
                http::display_url(&url)
            )));
        }
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            q.append_pair("scope", scope);
        }
        let mut h = HeaderMap::new();
        // The credential is the registry's: a realm on another origin
        // (another host, port or scheme) is asked without it.
        if http::same_origin(&url, &self.base)
            && let Some(b) = self.basic()?
        {
            h.insert(AUTHORIZATION, sensitive(&b.header())?);
        }
        let shown = http::display_url(&url);
        let resp = self
            .http
            .send(Method::GET, url, "application/json", &h, &Payload::Empty)?;
        if !resp.status().is_success() {
            let status = resp.status();
            return Err(match (status, self.basic()?) {
                (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, Some(b)) => self.refused(b),
                (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, None) => self.needs_login(),
                _ => Error::new(format!("the token endpoint {shown} answered {status}")),
            });
        }
        let body = self
            .http
            .read_body(resp, 1024 * 1024, &format!("the token from {shown}"))?;
        #[derive(serde::Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let t: Token = serde_json::from_slice(&body).map_err(|_| {
            Error::new(format!(
                "the token endpoint {shown} answered something that is not a token"
            ))
            .with_hint("a token endpoint answers JSON with `token` (or `access_token`)")
        })?;
        let token = t
            .token
            .or(t.access_token)
            .filter(|t| !t.is_empty() && t.len() <= 16 * 1024)
            .ok_or_else(|| Error::new(format!("the token endpoint {shown} sent no token")))?;
        sensitive(&format!("Bearer {token}"))
    }

    /// GET a manifest (`reference` a tag or a digest), checked: an accepted
    /// media type, at most 4 MiB, and its digest (the one asked for, else
    /// the registry's `Docker-Content-Digest`).
    pub fn manifest(&self, repo: &str, reference: &str, accept: &[&str]) -> Result<Fetched1> {
        self.manifest_sized(repo, reference, accept, None)
    }

    /// [`Registry::manifest`] of a descriptor: also exactly `size` bytes.
    pub fn manifest_sized(
        &self,
        repo: &str,
        reference: &str,
        accept: &[&str],
        size: Option<u64>,
    ) -> Result<Fetched1> {
        self.fetch_manifest(repo, reference, accept, size, false)
            .map(|m| m.expect("a missing manifest is an error"))
    }

    /// [`Registry::manifest`], `None` when there is no such tag.
    pub fn manifest_if_any(
        &self,
        repo: &str,
        reference: &str,
        accept: &[&str],
    ) -> Result<Option<Fetched1>> {
        self.fetch_manifest(repo, reference, accept, None, true)
    }

    fn fetch_manifest(
        &self,
        repo: &str,
        reference: &str,
        accept: &[&str],
        size: Option<u64>,
        missing_ok: bool,
    ) -> Result<Option<Fetched1>> {
        if !is_digest(reference) && !super::reference::is_tag(reference) {
            return Err(Error::new(format!(
                "`{}` is neither a tag nor a digest kplug can verify (sha256 or sha512)",
                escape(reference)
            ))
            .with_hint("nothing was installed; the index names its manifests by digests kplug cannot check"));
        }
        let url = self.url(&format!("{repo}/manifests/{reference}"))?;
        let what = format!(
            "oci://{}/{repo}{}{reference}",
            self.host,
            if is_digest(reference) { "@" } else { ":" }
        );
        let resp = self.send(
            Method::GET,
            url,
            &accept.join(", "),
            &HeaderMap::new(),
            &Payload::Empty,
            Access::Pull(repo),
        )?;
        match resp.status() {
            s if s.is_success() => {}
            StatusCode::NOT_FOUND if missing_ok => return Ok(None),
            StatusCode::NOT_FOUND => {
                return Err(
                    Error::new(format!("{} does not exist", escape(&what))).with_hint(
                        "check the repository and the tag (`kplug plugin versions` lists tags)",
                    ),
                );
            }
            s => {
                return Err(Error::new(format!(
                    "{} answered {s} for {}",
                    escape(&self.host),
                    escape(&what)
                )));
            }
        }
        let media_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_string())
            .unwrap_or_default();
        let said = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if resp.content_length().is_some_and(|l| l > MAX_MANIFEST) {
            return Err(Error::new(format!(
                "the manifest of {} is larger than 4 MiB; refusing it",
                escape(&what)
            )));
        }
        let bytes = self.http.read_body(
            resp,
            MAX_MANIFEST,
            &format!("the manifest of {}", escape(&what)),
        )?;
        if let Some(n) = size
            && bytes.len() as u64 != n
        {
            return Err(Error::new(format!(
                "the manifest of {} is {} bytes, its descriptor says {n}; refusing it",
                escape(&what),
                bytes.len()
            )));
        }
        // The document's own mediaType, when the header says nothing useful.
        let declared = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| {
                v.get("mediaType")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            });
        let media_type = if accept.contains(&media_type.as_str()) {
            media_type
        } else {
            declared.clone().unwrap_or(media_type)
        };
        if !accept.contains(&media_type.as_str()) {
            return Err(Error::new(format!(
                "{} is a `{}`, not an OCI image index or manifest kplug reads",
                escape(&what),
                escape(&media_type)
            ))
            .with_hint(format!("kplug reads {}", accept.join(", "))));
        }
        let expected = if is_digest(reference) {
            Some(reference.to_string())
        } else {
            said.filter(|d| is_digest(d))
        };
        let algorithm = expected
            .as_deref()
            .and_then(|d| d.split_once(':'))
            .map_or("sha256", |(a, _)| a);
        let digest = digest_of(algorithm, &bytes);
        if let Some(e) = expected
            && e != digest
        {
            return Err(Error::new(format!(
                "the manifest of {} does not match its digest: expected {e}, got {digest}",
                escape(&what)
            ))
            .with_hint(
                "nothing was installed; the registry or something between may be corrupting data",
            ));
        }
        Ok(Some(Fetched1 {
            bytes,
            media_type,
            digest,
        }))
    }

    /// GET a small blob (a config, an inventory) whole, checked against its
    /// digest and size.
    pub fn small_blob(&self, repo: &str, digest: &str, size: u64, limit: u64) -> Result<Vec<u8>> {
        if size > limit {
            return Err(Error::new(format!(
                "blob {digest} of oci://{}/{repo} is {size} bytes, more than the {limit} kplug reads; refusing it",
                self.host
            )));
        }
        let resp = self.blob_response(repo, digest)?;
        let bytes = self
            .http
            .read_body(resp, size, &format!("blob {digest}"))
            .map_err(|_| {
                Error::new(format!(
                    "blob {digest} of oci://{}/{repo} is not the {size} bytes its descriptor says; refusing it",
                    escape(&self.host)
                ))
            })?;
        let algorithm = digest.split_once(':').map_or("sha256", |(a, _)| a);
        let got = digest_of(algorithm, &bytes);
        if got != digest || bytes.len() as u64 != size {
            return Err(mismatch(
                &self.host,
                repo,
                digest,
                &got,
                size,
                bytes.len() as u64,
            ));
        }
        Ok(bytes)
    }

    fn blob_response(&self, repo: &str, digest: &str) -> Result<Response> {
        if !is_digest(digest) {
            return Err(Error::new(format!(
                "`{}` is not a digest kplug can verify",
                escape(digest)
            )));
        }
        let url = self.url(&format!("{repo}/blobs/{digest}"))?;
        let resp = self.send(
            Method::GET,
            url,
            "*/*",
            &HeaderMap::new(),
            &Payload::Empty,
            Access::Pull(repo),
        )?;
        if !resp.status().is_success() {
            return Err(Error::new(format!(
                "{} answered {} for blob {digest} of {repo}",
                escape(&self.host),
                resp.status()
            )));
        }
        Ok(resp)
    }

    /// Stream a blob into a new file at `dest`, checked against its digest
    /// (sha256 or sha512) and its descriptor's size. Returns the file with
    /// its sha256 (for the artifact cache).
    pub fn blob_to_file(
        &self,
        blob: Blob<'_>,
        max: u64,
        dest: &Path,
        label: &str,
    ) -> Result<Fetched> {
        let Blob { repo, digest, size } = blob;
        if size > max {
            return Err(Error::new(format!(
                "{label} is {size} bytes, more than `install.maxDownloadMib` allows; refusing it"
            ))
            .with_hint(
                "raise `install.maxDownloadMib` in the config file if it is really that large",
            ));
        }
        let resp = self.blob_response(repo, digest)?;
        if resp.content_length().is_some_and(|l| l != size) {
            return Err(Error::new(format!(
                "{label}: the registry sends {} bytes, its descriptor says {size}; refusing it",
                resp.content_length().unwrap_or_default()
            )));
        }
        let _wait = crate::exec::interrupt::abortable("downloading from the registry");
        let fetched = download::save_checked(resp, dest, size, Some(size), label, digest)?;
        let len = std::fs::metadata(dest).map(|m| m.len()).unwrap_or_default();
        if len != size {
            let _ = std::fs::remove_file(dest);
            return Err(mismatch(&self.host, repo, digest, "(short)", size, len));
        }
        Ok(fetched)
    }

    /// The digest a tag points at now (`None`: no such tag).
    pub fn manifest_digest(&self, repo: &str, tag: &str) -> Result<Option<String>> {
        let url = self.url(&format!("{repo}/manifests/{tag}"))?;
        let resp = self.send(
            Method::HEAD,
            url,
            &[INDEX, MANIFEST].join(", "),
            &HeaderMap::new(),
            &Payload::Empty,
            Access::Push(repo),
        )?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(Error::new(format!(
                "{} answered {} for the tag {tag} of {repo}",
                escape(&self.host),
                resp.status()
            )));
        }
        Ok(resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .filter(|d| is_digest(d))
            .map(str::to_string))
    }

    /// Whether the registry has blob `digest` in `repo`.
    pub fn has_blob(&self, repo: &str, digest: &str) -> Result<bool> {
        let url = self.url(&format!("{repo}/blobs/{digest}"))?;
        let resp = self.send(
            Method::HEAD,
            url,
            "*/*",
            &HeaderMap::new(),
            &Payload::Empty,
            Access::Push(repo),
        )?;
        Ok(resp.status().is_success())
    }

    /// Every tag of `repo`, following `Link` pagination on this host.
    pub fn tags(&self, repo: &str) -> Result<Vec<String>> {
        let url = self.url(&format!("{repo}/tags/list"))?;
        let tags = self.list(
            url,
            Access::Pull(repo),
            "tags",
            &format!("the tags of {repo}"),
            |status| {
                (status == StatusCode::NOT_FOUND).then(|| {
                    Error::new(format!(
                        "oci://{}/{repo} does not exist",
                        escape(&self.host)
                    ))
                    .with_hint("check the repository name")
                })
            },
        )?;
        Ok(tags
            .into_iter()
            .filter(|t| super::reference::is_tag(t))
            .collect())
    }

    /// The repositories of the registry (`/v2/_catalog`) under `prefix/`.
    pub fn catalog(&self, prefix: &str) -> Result<Vec<String>> {
        let under = format!("{prefix}/");
        let repos = self.list(self.url("_catalog")?, Access::Catalog, "repositories", "the catalog", |status| {
            Some(
                Error::new(format!("{} answered {status} to a catalog request", escape(&self.host)))
                    .with_hint("the registry may not offer `/v2/_catalog`; install its plugins by name, which needs no catalog"),
            )
        })?;
        Ok(repos
            .into_iter()
            .filter(|r| r.starts_with(&under) && super::reference::is_repository(r))
            .collect())
    }

    /// The strings under `key` of a paginated list (`tags/list`,
    /// `_catalog`): pages of 1000 followed through same-origin `Link`
    /// headers, at most [`MAX_PAGES`]. `failed` turns an unsuccessful
    /// status into its error (`None`: a generic one).
    fn list(
        &self,
        mut url: Url,
        access: Access<'_>,
        key: &str,
        what: &str,
        failed: impl Fn(StatusCode) -> Option<Error>,
    ) -> Result<Vec<String>> {
        url.query_pairs_mut().append_pair("n", "1000");
        let mut all = Vec::new();
        for _ in 0..MAX_PAGES {
            let resp = self.send(
                Method::GET,
                url.clone(),
                "application/json",
                &HeaderMap::new(),
                &Payload::Empty,
                access,
            )?;
            if !resp.status().is_success() {
                let status = resp.status();
                return Err(failed(status).unwrap_or_else(|| {
                    Error::new(format!(
                        "{} answered {status} for {what}",
                        escape(&self.host)
                    ))
                }));
            }
            let next = next_link(&resp, &url);
            let body = self.http.read_body(resp, MAX_JSON, what)?;
            let page: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
                Error::new(format!(
                    "{} sent {what} as something that is not JSON",
                    escape(&self.host)
                ))
                .caused_by(e)
            })?;
            let items = match page.get(key) {
                None | Some(serde_json::Value::Null) => Vec::new(),
                Some(v) => serde_json::from_value::<Vec<String>>(v.clone()).map_err(|_| {
                    Error::new(format!(
                        "{} sent {what} with a `{key}` that is not a list of names",
                        escape(&self.host)
                    ))
                })?,
            };
            all.extend(items);
            match next {
                Some(n) if n != url => url = n,
                _ => return Ok(all),
            }
        }
        Err(Error::new(format!(
            "{} lists more than {MAX_PAGES} pages of {what}; refusing to read on",
            escape(&self.host)
        )))
    }

    /// Upload a blob (unless the registry has it): monolithic for up to
    /// `chunk` bytes, else in chunks of `chunk`.
    pub fn push_blob(
        &self,
        repo: &str,
        digest: &str,
        file: &Path,
        len: u64,
        chunk: u64,
    ) -> Result<bool> {
        if self.has_blob(repo, digest)? {
            return Ok(false);
        }
        let start = self.url(&format!("{repo}/blobs/uploads/"))?;
        let resp = self.send(
            Method::POST,
            start,
            "*/*",
            &HeaderMap::new(),
            &Payload::Empty,
            Access::Push(repo),
        )?;
        let mut location = self.upload_location(&resp, repo)?;
        if len > chunk {
            use std::io::{Read, Seek, SeekFrom};
            let mut f = std::fs::File::open(file).map_err(|e| {
                Error::new(format!("could not read {}", file.display())).caused_by(e)
            })?;
            let mut offset = 0u64;
            while offset < len {
                let n = chunk.min(len - offset);
                let mut buf = vec![0u8; n as usize];
                f.seek(SeekFrom::Start(offset))
                    .and_then(|_| f.read_exact(&mut buf))
                    .map_err(|e| {
                        Error::new(format!("could not read {}", file.display())).caused_by(e)
                    })?;
                let mut h = HeaderMap::new();
                h.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                );
                h.insert(
                    "content-range",
                    HeaderValue::from_str(&format!("{offset}-{}", offset + n - 1)).expect("digits"),
                );
                h.insert(CONTENT_LENGTH, HeaderValue::from(n));
                let resp = self.send(
                    Method::PATCH,
                    location.clone(),
                    "*/*",
                    &h,
                    &Payload::Bytes(buf),
                    Access::Push(repo),
                )?;
                if resp.status() != StatusCode::ACCEPTED {
                    return Err(Error::new(format!(
                        "{} answered {} to a chunk of blob {digest}",
                        escape(&self.host),
                        resp.status()
                    )));
                }
                location = self.upload_location(&resp, repo)?;
                offset += n;
            }
            location.query_pairs_mut().append_pair("digest", digest);
            let mut h = HeaderMap::new();
            h.insert(CONTENT_LENGTH, HeaderValue::from(0));
            let resp = self.send(
                Method::PUT,
                location,
                "*/*",
                &h,
                &Payload::Empty,
                Access::Push(repo),
            )?;
            return self.created(resp, &format!("blob {digest}")).map(|_| true);
        }
        location.query_pairs_mut().append_pair("digest", digest);
        let mut h = HeaderMap::new();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        h.insert(CONTENT_LENGTH, HeaderValue::from(len));
        let body = Payload::File {
            path: file.to_path_buf(),
            len,
        };
        let resp = self.send(Method::PUT, location, "*/*", &h, &body, Access::Push(repo))?;
        self.created(resp, &format!("blob {digest}")).map(|_| true)
    }

    fn upload_location(&self, resp: &Response, repo: &str) -> Result<Url> {
        if !(resp.status() == StatusCode::ACCEPTED || resp.status().is_success()) {
            return Err(Error::new(format!(
                "{} answered {} to an upload to {repo}",
                escape(&self.host),
                resp.status()
            ))
            .with_hint("check that the credential may push to this repository"));
        }
        let loc = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Error::new(format!(
                    "{} started an upload without a Location",
                    escape(&self.host)
                ))
            })?;
        let url = self
            .base
            .join(loc)
            .map_err(|e| Error::new("the registry sent an invalid upload location").caused_by(e))?;
        // Uploads go to the registry itself (where the credential belongs).
        if !http::same_origin(&url, &self.base) {
            return Err(Error::new(format!(
                "{} sent an upload location on another host ({}); refusing it",
                escape(&self.host),
                http::display_url(&url)
            )));
        }
        Ok(url)
    }

    fn created(&self, resp: Response, what: &str) -> Result<Response> {
        if resp.status() == StatusCode::CREATED || resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let body = self
            .http
            .read_body(resp, 64 * 1024, what)
            .unwrap_or_default();
        let mut err = Error::new(format!(
            "{} answered {status} to {what}",
            escape(&self.host)
        ));
        // Only the distribution API's error codes and messages, short: a
        // body may echo what was sent (a proxy's page, an upload state).
        if let Some(why) = error_summary(&body) {
            err = err.caused_by(why);
        }
        Err(err)
    }

    /// PUT a manifest (`media_type`) under `reference` (a tag or its
    /// digest); returns its digest.
    pub fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String> {
        let url = self.url(&format!("{repo}/manifests/{reference}"))?;
        let mut h = HeaderMap::new();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_str(media_type).map_err(|_| Error::new("bad media type"))?,
        );
        let resp = self.send(
            Method::PUT,
            url,
            "*/*",
            &h,
            &Payload::Bytes(bytes.to_vec()),
            Access::Push(repo),
        )?;
        self.created(resp, &format!("the manifest {repo}:{reference}"))?;
        Ok(digest_of("sha256", bytes))
    }
}

/// `CODE: message; …` of a distribution error document, at most 300
/// characters, escaped.
fn error_summary(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Doc {
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let doc: Doc = serde_json::from_slice(body).ok()?;
    let text: String = doc
        .errors
        .iter()
        .take(3)
        .map(|e| format!("{}: {}", e.code, e.message))
        .collect::<Vec<_>>()
        .join("; ")
        .chars()
        .take(300)
        .collect();
    (!text.is_empty()).then(|| escape(&text).into_owned())
}

fn sensitive(value: &str) -> Result<HeaderValue> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        Error::usage("the registry credential holds characters that cannot be sent")
    })?;
    v.set_sensitive(true);
    Ok(v)
}

fn mismatch(host: &str, repo: &str, digest: &str, got: &str, size: u64, len: u64) -> Error {
    Error::new(format!(
        "blob {digest} of oci://{}/{repo} does not match its descriptor (got {got}, {len} of {size} bytes)",
        escape(host)
    ))
    .with_hint("nothing was installed; the registry or something between may be corrupting data")
}

/// The `rel="next"` of a `Link` header, on the same origin only.
fn next_link(resp: &Response, current: &Url) -> Option<Url> {
    let link = resp.headers().get("link")?.to_str().ok()?;
    let target = link
        .split(',')
        .find(|p| p.contains("rel=\"next\""))?
        .split(';')
        .next()?
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    let url = current.join(target).ok()?;
    http::same_origin(&url, current).then_some(url)
}
