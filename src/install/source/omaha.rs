//! A plugin (or kplug itself) from an Omaha update server, such as
//! Nebraska: the `omaha` source kind, `omaha+https://HOST/v1/update`.
//!
//! Omaha has no catalogue: each plugin is an application (`kplug-plugin-
//! <name>` unless the source maps the name to another id), and the
//! server's channel decides which version this machine gets. A check sends
//! the installed version and the machine id; the answer is either "no
//! update" (the installed version is the one on offer) or one version,
//! with its package.
//!
//! The server is told how an update went, with only the events Nebraska
//! records: (13,1) when the download starts and (14,1) when it arrived
//! verified, from [`Source::fetch`]; (800,1) and (3,1) once the version is
//! installed and live; (3,0) with an error code when anything after the
//! server granted the update fails — a bad download here, and every later
//! refusal (the smoke test, the contract, the health probe) when the
//! artifact's [`Report`] is dropped unfinished.

use super::{Artifact, Candidate, Content, FetchContext, Intent, Published, Report, Source, Spec};
use crate::config::{Config, SourceConfig, vars};
use crate::error::{Error, Result};
use crate::install::asset;
use crate::install::download::Broke;
use crate::install::download::Fetched;
use crate::install::http::{Http, Payload, display_text};
use crate::store::Verification;
use crate::ui::escape;
use omaha_client::{Check, Client, Event, ServerStatus, Transport, TransportError, Update};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use semver::Version;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

/// The address prefix of an omaha source.
pub const SCHEME: &str = "omaha+";

/// The default channel.
pub const DEFAULT_CHANNEL: &str = "stable";

/// The longest machine id Nebraska stores.
const MAX_MACHINE_ID: usize = 50;

/// The endpoint an omaha source's address names (without `omaha+`).
pub fn endpoint(address: &str) -> &str {
    address.strip_prefix(SCHEME).unwrap_or(address)
}

/// The application id of `plugin` in source `s`.
pub fn app_id(s: &SourceConfig, plugin: &str) -> String {
    match s.apps.get(plugin) {
        Some(id) => id.clone(),
        None if plugin == "kplug" => "kplug".to_string(),
        None => format!("kplug-plugin-{plugin}"),
    }
}

/// Why a channel name is refused, if it is.
pub fn check_channel(channel: &str) -> std::result::Result<(), String> {
    if channel.is_empty() || channel.len() > 64 {
        return Err("a channel has 1 to 64 characters".into());
    }
    if !channel
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err("a channel has only letters, digits, `.`, `_` and `-`".into());
    }
    Ok(())
}

/// Why an application id is refused, if it is (Nebraska's ids are UUIDs
/// or product ids like `io.example.app`).
pub fn check_app_id(id: &str) -> std::result::Result<(), String> {
    if !is_id(id, 128) {
        return Err("an app id has 1 to 128 letters, digits or `._-{}:`".into());
    }
    Ok(())
}

/// An Omaha id (app id, machine id): 1 to `max` letters, digits or
/// `._-{}:` (nothing an XML attribute or a message would need escaped).
fn is_id(id: &str, max: usize) -> bool {
    (1..=max).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-{}:".contains(&b))
}

/// This machine's id for Omaha servers: `KPLUG_OMAHA_MACHINE_ID` (for
/// fleets that manage ids), else the one generated once and kept in
/// `$KPLUG_HOME/state/machine-id`.
pub fn machine_id(cfg: &Config) -> Result<String> {
    if let Some(v) = cfg.var(vars::OMAHA_MACHINE_ID) {
        let id = v.to_str().unwrap_or_default();
        if !is_id(id, MAX_MACHINE_ID) {
            return Err(Error::usage(format!(
                "{} is not a machine id: it takes 1 to {MAX_MACHINE_ID} letters, digits or `._-{{}}:`",
                vars::OMAHA_MACHINE_ID
            ))
            .with_hint("unset it to use the id kplug keeps in $KPLUG_HOME/state/machine-id"));
        }
        return Ok(id.to_string());
    }
    let path = cfg.home()?.join("state").join("machine-id");
    omaha_client::machine_id(&path).map_err(|e| {
        Error::new(format!(
            "could not read or create the machine id at {}",
            path.display()
        ))
        .caused_by(e)
    })
}

/// Server text in a message: escaped, and cut to a length a terminal
/// line can hold.
fn clip(text: &str) -> String {
    const MAX: usize = 600;
    let mut out: String = text.chars().take(MAX).collect();
    if text.chars().nth(MAX).is_some() {
        out.push('…');
    }
    escape(&out).into_owned()
}

/// The Omaha client's HTTP: kplug's own (its timeouts, redirect rules and
/// Ctrl-C handling; a POST, a check or an event, is never sent twice).
struct KplugTransport {
    http: Mutex<Http>,
}

impl KplugTransport {
    fn http(&self) -> std::sync::MutexGuard<'_, Http> {
        self.http.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A URL the transport may ask: parsed as the HTTP client will parse it,
/// https or http on a loopback address.
fn fetchable(url: &str) -> Result<Url, TransportError> {
    let parsed = Url::parse(url).map_err(|e| TransportError(format!("not a URL: {e}")))?;
    crate::install::inventory::check_fetchable(&parsed)
        .map_err(|why| TransportError(format!("the URL {why}")))?;
    Ok(parsed)
}

fn transport_error(e: &Error) -> TransportError {
    TransportError(e.to_string().replace('\n', "; "))
}

impl Transport for KplugTransport {
    fn post_xml(&self, url: &str, body: &[u8], limit: usize) -> Result<Vec<u8>, TransportError> {
        let url = fetchable(url)?;
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/xml"));
        let http = self.http();
        let resp = http
            .send(
                Method::POST,
                url,
                "text/xml",
                &headers,
                &Payload::Bytes(body.to_vec()),
            )
            .map_err(|e| transport_error(&e))?;
        if resp.status() != StatusCode::OK {
            return Err(TransportError(format!(
                "the server answered HTTP {}",
                resp.status()
            )));
        }
        http.read_body(resp, limit as u64, "the Omaha response")
            .map_err(|e| transport_error(&e))
    }

    fn download(&self, url: &str, out: &mut dyn Write, limit: u64) -> Result<u64, TransportError> {
        let parsed = fetchable(url)?;
        let http = self.http();
        let resp = http.get(parsed, "*/*").map_err(|e| transport_error(&e))?;
        if !resp.status().is_success() {
            return Err(TransportError(format!(
                "the server answered HTTP {}",
                resp.status()
            )));
        }
        // A longer body is cut at the limit (the client asks for one byte
        // more than the package has, and tells a longer one as a size
        // mismatch).
        let total = resp.content_length().filter(|t| *t <= limit);
        let label = escape(&display_text(url)).into_owned();
        crate::install::download::copy(resp.take(limit), out, limit, total, &label, |_| {}).map_err(
            |b| {
                TransportError(match b {
                    Broke::Read(e, n) => format!("the download broke off after {n} bytes: {e}"),
                    Broke::Write(e) => format!("could not write the download: {e}"),
                    Broke::Over => "the download is larger than the package".into(),
                })
            },
        )
    }
}

/// Reports the end of an update to the server: installed, or (dropped
/// unfinished) failed.
#[derive(Debug)]
struct OmahaReport {
    client: Option<Client>,
    previous: String,
}

impl OmahaReport {
    fn send(client: &Client, event: Event, previous: &str) {
        // Best effort: a lost event must not undo an install, nor an
        // error hide the real one.
        let _ = client.send_event(event, previous);
    }
}

impl Report for OmahaReport {
    fn installed(mut self: Box<Self>) {
        if let Some(c) = self.client.take() {
            Self::send(&c, Event::Installed, &self.previous);
            Self::send(&c, Event::Complete, &self.previous);
        }
    }
}

impl Drop for OmahaReport {
    fn drop(&mut self) {
        if let Some(c) = self.client.take()
            && !crate::exec::interrupt::interrupted()
        {
            Self::send(
                &c,
                Event::Failed(omaha_client::codes::ERROR),
                &self.previous,
            );
        }
    }
}

/// A source of one plugin from a configured omaha source. Dropped with an
/// update the server granted for an install and nobody fetched (a version
/// that was not asked for, a contract known to refuse it), it tells the
/// server the update failed: the server would otherwise wait for word.
pub struct OmahaSource {
    cfg: Config,
    /// The configured source.
    name: String,
    address: String,
    channel: String,
    app_id: String,
    plugin: String,
    require_sha256: bool,
    /// The version installed now, as the caller says (`0.0.0`: none).
    installed: Option<String>,
    /// The client of the last check that the server granted an update:
    /// it waits to hear how the update went.
    granted: Option<Client>,
    /// The update granted, when kplug can use it.
    offered: Option<Update>,
    /// The caller means to install the offer.
    installing: bool,
}

impl Drop for OmahaSource {
    fn drop(&mut self) {
        if let Some(client) = self.granted.take()
            && self.installing
            && !crate::exec::interrupt::interrupted()
        {
            OmahaReport::send(
                &client,
                Event::Failed(omaha_client::codes::ERROR),
                client.version(),
            );
        }
    }
}

impl OmahaSource {
    /// `plugin` from the configured omaha source `s`.
    pub fn new(cfg: &Config, s: &SourceConfig, plugin: &str) -> OmahaSource {
        OmahaSource {
            cfg: cfg.clone(),
            name: s.name.clone(),
            address: s.address.clone(),
            channel: s
                .channel
                .clone()
                .unwrap_or_else(|| DEFAULT_CHANNEL.to_string()),
            app_id: app_id(s, plugin),
            plugin: plugin.to_string(),
            require_sha256: s.require_sha256,
            installed: None,
            granted: None,
            offered: None,
            installing: false,
        }
    }

    fn endpoint(&self) -> &str {
        endpoint(&self.address)
    }

    /// Whether the endpoint answers as an Omaha server: a check whose
    /// answer is an update, none, or an error status for the app.
    pub fn probe(&self) -> Result<()> {
        let client = self.client("0.0.0")?;
        let _wait = crate::exec::interrupt::abortable("waiting for the Omaha server");
        match client.check() {
            Ok(_) | Err(omaha_client::Error::Server { .. }) => Ok(()),
            Err(e) => Err(self.error(e)),
        }
    }

    /// How messages name the application: `app kplug-plugin-x on channel
    /// beta of source corp`.
    fn what(&self) -> String {
        format!(
            "app `{}` on channel `{}` of source `{}` ({})",
            self.app_id,
            self.channel,
            self.name,
            display_text(self.endpoint())
        )
    }

    fn client(&self, version: &str) -> Result<Client> {
        let max = self
            .cfg
            .file()?
            .install
            .max_download_mib
            .saturating_mul(1024 * 1024);
        let transport: Arc<dyn Transport> = Arc::new(KplugTransport {
            http: Mutex::new(Http::new(&self.cfg)?),
        });
        Client::builder(self.endpoint())
            .app_id(&self.app_id)
            .track(&self.channel)
            .version(version)
            .machine_id(&machine_id(&self.cfg)?)
            .require_sha256(self.require_sha256)
            .max_download(max)
            .transport(transport)
            .build()
            .map_err(|e| self.error(e))
    }

    /// A client error as kplug's, with what to do about it.
    fn error(&self, e: omaha_client::Error) -> Error {
        let text = clip(&e.to_string());
        let err = match &e {
            omaha_client::Error::Server { status, .. } => {
                let base = Error::new(text);
                match status {
                    ServerStatus::UnknownApplication => base
                        .with_hint(format!(
                            "the server has no app `{}` with a channel `{}`: create it there, choose another channel (`--channel`), or map {} to its app id (`apps:` in the source's config)",
                            self.app_id, self.channel, self.plugin
                        )),
                    ServerStatus::NoPackage => base.with_hint(format!(
                        "publish a package on channel `{}` for app `{}`",
                        self.channel, self.app_id
                    )),
                    ServerStatus::UpdatesHeld(_) | ServerStatus::UpdateInProgress => {
                        base.with_hint("the server holds updates back for now; try again later")
                    }
                    _ => base,
                }
            }
            omaha_client::Error::Transport { .. } => {
                Error::new(text).with_hint("check the network and the source's address")
            }
            omaha_client::Error::Response { .. } => Error::new(text).with_hint(format!(
                "is {} an Omaha endpoint (Nebraska's is `https://HOST/v1/update`)?",
                display_text(self.endpoint())
            )),
            _ => Error::new(text),
        };
        err.with_hint("nothing was changed")
    }
}

impl Source for OmahaSource {
    fn address(&self) -> String {
        self.address.clone()
    }

    fn label(&self) -> String {
        format!("{} in source `{}`: {}", self.plugin, self.name, self.what())
    }

    fn plugin_name(&self) -> Option<String> {
        Some(self.plugin.clone())
    }

    fn source_name(&self) -> Option<String> {
        Some(self.name.clone())
    }

    fn set_installed(&mut self, version: Option<&str>, intent: Intent) {
        self.installed = version.map(str::to_string);
        self.installing = intent == Intent::Install;
    }

    fn exact_versions(&self) -> bool {
        true
    }

    fn versions(&mut self, spec: &Spec) -> Result<Vec<Candidate>> {
        // Nebraska registers only semantic versions; `0.0.0` is "none yet".
        let installed = self
            .installed
            .as_deref()
            .and_then(crate::requirements::parse_lenient)
            .map(|v| v.to_string());
        let client = self.client(installed.as_deref().unwrap_or("0.0.0"))?;
        let checked = {
            let _wait = crate::exec::interrupt::abortable("waiting for the Omaha server");
            client.check()
        };
        let update = match checked {
            Ok(Check::Update(u)) => u,
            Ok(Check::NoUpdate) => {
                // The installed version is the channel's.
                return match installed.as_deref().and_then(|v| Version::parse(v).ok()) {
                    Some(v) => {
                        if let Spec::Tag(t) = spec
                            && t.trim_start_matches('v') != v.to_string()
                        {
                            return Err(pinned_by_channel(&self.what(), &v.to_string(), t));
                        }
                        Ok(vec![Candidate {
                            prerelease: !v.pre.is_empty(),
                            label: v.to_string(),
                            version: Some(v),
                            key: 0,
                        }])
                    }
                    None => Err(Error::new(format!(
                        "{} offers no version of {} to this machine",
                        self.what(),
                        self.plugin
                    ))
                    .with_hint(format!(
                        "publish a package for app `{}` on channel `{}`",
                        self.app_id, self.channel
                    ))),
                };
            }
            Err(e @ omaha_client::Error::Unusable { .. }) => {
                // Granted, though unusable: dropping the source says so.
                self.granted = Some(client);
                return Err(self.error(e));
            }
            Err(e) => return Err(self.error(e)),
        };
        // From here the update is granted: unless fetched, dropping the
        // source reports it failed.
        self.granted = Some(client);
        let Ok(version) = Version::parse(update.version.trim_start_matches('v')) else {
            return Err(Error::new(format!(
                "{} offers the version `{}`, which is not a semantic version",
                self.what(),
                escape(&update.version.chars().take(64).collect::<String>())
            ))
            .with_hint("publish packages with versions like 1.2.0; nothing was changed"));
        };
        let refused = match spec {
            Spec::Tag(t) if t.trim_start_matches('v') != version.to_string() => {
                Some(pinned_by_channel(&self.what(), &version.to_string(), t))
            }
            _ => None,
        };
        let c = Candidate {
            prerelease: !version.pre.is_empty(),
            label: version.to_string(),
            version: Some(version),
            key: 0,
        };
        self.offered = Some(update);
        match refused {
            Some(e) => Err(e),
            None => Ok(vec![c]),
        }
    }

    fn contract(&mut self, _c: &Candidate) -> Result<Option<Published>> {
        Ok(None)
    }

    fn contract_origin(&self) -> String {
        "the plugin's INFO".into()
    }

    fn fetch(&mut self, c: &Candidate, ctx: &FetchContext<'_>) -> Result<Artifact> {
        let none = Error::new(format!(
            "{} offered no update of {} to install (is {} installed already?)",
            self.what(),
            self.plugin,
            c.label
        ));
        if self.offered.is_none() {
            return Err(none);
        }
        let dir = ctx.dir.join("omaha");
        // On failure the grant stays, and dropping the source reports it.
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::new("could not create the download directory").caused_by(e))?;
        let (Some(update), Some(client)) = (self.offered.take(), self.granted.take()) else {
            return Err(none);
        };
        let previous = client.version().to_string();
        // Nothing has changed yet: an interrupt while the server is asked
        // ends kplug at once.
        let report = |e: Event| {
            let _wait = crate::exec::interrupt::abortable("waiting for the Omaha server");
            OmahaReport::send(&client, e, &previous)
        };
        report(Event::DownloadStarted);
        let downloaded = {
            let _wait = crate::exec::interrupt::abortable("downloading from the Omaha server");
            client.download(&update, &dir)
        };
        let downloaded = match downloaded {
            Ok(d) => d,
            Err(e) => {
                let code = match &e {
                    omaha_client::Error::Download { code, .. } => *code,
                    _ => omaha_client::codes::ERROR,
                };
                report(Event::Failed(code));
                return Err(Error::new(format!(
                    "refusing {} {}: {}",
                    self.plugin,
                    c.label,
                    clip(&e.to_string())
                ))
                .with_hint(format!(
                    "the server ({}) was told the update failed; nothing was installed",
                    display_text(self.endpoint())
                )));
            }
        };
        // The package's name is the server's: data, never a path of ours.
        let name = downloaded
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("package")
            .to_string();
        let path = ctx.dir.join("artifact");
        std::fs::rename(&downloaded.path, &path).map_err(|e| {
            report(Event::Failed(omaha_client::codes::ERROR));
            Error::new("could not keep the download").caused_by(e)
        })?;
        // Hashed by the client as it downloaded.
        let sha256 = crate::fsutil::hex(&downloaded.sha256);
        if downloaded.weak {
            crate::ui::warn(
                ctx.cfg,
                &format!(
                    "{} {} is checked only against a SHA-1 hash (the server publishes no SHA-256); set `requireSha256: true` on source `{}` to refuse such packages",
                    self.plugin, c.label, self.name
                ),
            );
        }
        report(Event::Downloaded);
        Ok(Artifact {
            content: Content::File {
                file: Fetched { path, sha256 },
                kind: asset::archive_kind(&name).unwrap_or(asset::ArchiveKind::Binary),
            },
            name,
            verified: if downloaded.weak {
                Verification::OmahaSha1
            } else {
                Verification::Omaha
            },
            tag: Some(c.label.clone()),
            report: Some(Box::new(OmahaReport {
                client: Some(client),
                previous,
            })),
            signed: None,
        })
    }
}

fn pinned_by_channel(what: &str, offered: &str, asked: &str) -> Error {
    Error::usage(format!(
        "{what} offers {offered}; an Omaha channel decides the version, so `{}` cannot be installed from it",
        escape(asked)
    ))
    .with_hint("install without a version, or move the source to another channel (`kplug plugin source add … --channel NAME`)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(apps: &[(&str, &str)]) -> SourceConfig {
        SourceConfig {
            name: "corp".into(),
            kind: crate::config::SourceKind::Omaha,
            address: "omaha+https://nebraska.example/v1/update".into(),
            ttl: None,
            channel: None,
            apps: apps
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            require_sha256: false,
            trust: Vec::new(),
        }
    }

    #[test]
    fn app_ids_and_names() {
        let s = source(&[("lint", "io.corp.lint")]);
        assert_eq!(app_id(&s, "hello"), "kplug-plugin-hello");
        assert_eq!(app_id(&s, "lint"), "io.corp.lint");
        assert_eq!(app_id(&s, "kplug"), "kplug");
        assert_eq!(endpoint(&s.address), "https://nebraska.example/v1/update");
        for good in ["stable", "beta", "edge-2", "v1.x"] {
            assert!(check_channel(good).is_ok(), "{good}");
        }
        for bad in ["", "a b", "a/b", "\u{1b}[2J", &"x".repeat(65)] {
            assert!(check_channel(bad).is_err(), "{bad:?}");
        }
        assert!(check_app_id("{e96281a6-d1af-4bde-9a0a-97b76e56dc57}").is_ok());
        for bad in ["", "a\"b", "a<b", "a b", &"x".repeat(129)] {
            assert!(check_app_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn machine_ids() {
        let home = tempfile::tempdir().unwrap();
        let cfg = |extra: Option<&str>| {
            let mut v = vec![("KPLUG_HOME".into(), home.path().as_os_str().to_owned())];
            if let Some(id) = extra {
                v.push((vars::OMAHA_MACHINE_ID.into(), id.into()));
            }
            Config::from_vars(v)
        };
        let first = machine_id(&cfg(None)).unwrap();
        assert_eq!(first.len(), 32);
        assert_eq!(machine_id(&cfg(None)).unwrap(), first, "kept");
        assert!(home.path().join("state/machine-id").is_file());
        assert_eq!(machine_id(&cfg(Some("fleet-0042"))).unwrap(), "fleet-0042");
        for bad in ["a b", "<x>", &"a".repeat(51)] {
            let e = machine_id(&cfg(Some(bad))).unwrap_err();
            assert!(e.message().contains("KPLUG_OMAHA_MACHINE_ID"), "{e}");
        }
    }
}
