//! A small, blocking [Omaha] v3 update client, speaking the protocol as
//! [Nebraska] (the update server Flatcar uses) implements it.
//!
//! Tell a [`Client`] the endpoint, the application and its channel; it
//! checks for updates, downloads and verifies the payload, and reports
//! each step back as an event. You say what to do with a downloaded
//! payload by implementing [`Updater`]. [`Scheduler`] runs that on a
//! jittered timer.
//!
//! ```no_run
//! use omaha_client::{Client, Update, Updater};
//! use std::path::Path;
//!
//! /// Pulls a container image whose tag is the update's version.
//! struct ImageUpdater;
//!
//! impl Updater for ImageUpdater {
//!     fn apply(&mut self, update: &Update, payload: &Path) -> Result<(), String> {
//!         let status = std::process::Command::new("docker")
//!             .args(["load", "-i"])
//!             .arg(payload)
//!             .status()
//!             .map_err(|e| e.to_string())?;
//!         if !status.success() {
//!             return Err(format!("docker load failed for {}", update.version));
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let machine_id = omaha_client::machine_id(Path::new("/var/lib/myapp/machine-id")).unwrap();
//! let client = Client::builder("https://nebraska.example.com/v1/update")
//!     .app_id("io.example.myapp")
//!     .track("stable")
//!     .version("1.4.0")
//!     .machine_id(&machine_id)
//!     .build()
//!     .unwrap();
//! let mut updater = ImageUpdater;
//! match client.run_once(&mut updater) {
//!     Ok(outcome) => println!("{outcome:?}"),
//!     Err(e) => eprintln!("update failed: {e}"),
//! }
//! ```
//!
//! What goes over the wire, and what Nebraska makes of it:
//!
//! * a check is `POST <request protocol="3.0"><os platform arch/><app appid
//!   version track machineid bootid><ping/><updatecheck/></app></request>`;
//!   the answer's `<updatecheck status>` is `noupdate`, `ok` (with `<urls>`
//!   and a `<manifest>`), or an error, which becomes a typed [`Error`];
//! * a package's URL is a `<url codebase>` joined with the package's
//!   `name`; the main package carries `hash` (SHA-1, base64) and `size`, and
//!   its SHA-256 travels on the `postinstall` action (`sha256`, base64);
//!   extra files carry `hash_sha256` (hex, or base64). The strongest hash
//!   present is checked; a package with only SHA-1 is *weak*
//!   ([`Downloaded::weak`]), and refused with
//!   [`ClientBuilder::require_sha256`];
//! * events are only the pairs Nebraska records: (13,1) download started,
//!   (14,1) downloaded, (800,1) installed, (3,1) complete, (3,2) complete
//!   after a reboot, (3,0) failed with an error code. Nebraska records them
//!   only for a machine it granted an update, and counts a non-Flatcar
//!   application complete on (3,1) or (3,2).
//!
//! [Omaha]: https://github.com/google/omaha/blob/main/doc/ServerProtocolV3.md
//! [Nebraska]: https://github.com/flatcar/nebraska

pub mod protocol;
mod scheduler;
mod transport;

pub use scheduler::{Clock, Intervals, Schedule, Scheduler, Stop, SystemClock};
#[cfg(feature = "reqwest")]
pub use transport::HttpTransport;
pub use transport::{Transport, TransportError};

use base64::Engine as _;
use sha1::Digest as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An update the server offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub version: String,
    /// Codebases the packages are downloaded from, in order.
    pub urls: Vec<String>,
    pub packages: Vec<Package>,
    pub actions: Vec<Action>,
}

/// One package of an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub size: u64,
    pub sha256: Option<[u8; 32]>,
    pub sha1: Option<[u8; 20]>,
    pub required: bool,
}

/// An action of an update's manifest (`postinstall`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub event: String,
    /// The payload's SHA-256, when the action carries one.
    pub sha256: Option<[u8; 32]>,
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    NoUpdate,
    Update(Update),
}

/// An event type/result pair Nebraska records. Nothing else is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// (13,1): the download started.
    DownloadStarted,
    /// (14,1): the package arrived and verified.
    Downloaded,
    /// (800,1): installed (Nebraska's own code).
    Installed,
    /// (3,1): the update is complete.
    Complete,
    /// (3,2): complete, after a restart.
    CompleteAfterRestart,
    /// (3,0): a step failed, with an error code.
    Failed(i32),
}

impl Event {
    /// `(eventtype, eventresult, errorcode)`.
    pub fn codes(self) -> (u32, u32, i32) {
        match self {
            Event::DownloadStarted => (13, 1, 0),
            Event::Downloaded => (14, 1, 0),
            Event::Installed => (800, 1, 0),
            Event::Complete => (3, 1, 0),
            Event::CompleteAfterRestart => (3, 2, 0),
            Event::Failed(code) => (3, 0, code),
        }
    }
}

/// Error codes sent with [`Event::Failed`] (update_engine's numbering).
pub mod codes {
    /// Something else went wrong (the updater failed).
    pub const ERROR: i32 = 1;
    /// No URL delivered the package.
    pub const DOWNLOAD_TRANSFER: i32 = 9;
    /// The package's hash did not match.
    pub const HASH_MISMATCH: i32 = 10;
    /// The package's size did not match.
    pub const SIZE_MISMATCH: i32 = 11;
    /// The package was refused by policy (a SHA-1-only hash).
    pub const VERIFICATION: i32 = 12;
}

/// What the server said instead of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerStatus {
    /// The application id (or its track) is not known to the server.
    UnknownApplication,
    /// The server could not register this machine (e.g. its version is not
    /// a semantic version).
    RegistrationFailed,
    /// The channel has no package.
    NoPackage,
    /// Updates are disabled, or a rollout limit holds them back for now.
    UpdatesHeld(String),
    /// An update is already in progress on this machine.
    UpdateInProgress,
    /// Any other `error-*` status.
    Other(String),
}

impl ServerStatus {
    fn from_app_status(s: &str) -> ServerStatus {
        match s {
            "error-unknownApplication"
            | "error-unknownApplicationOrGroup"
            | "error-failedToRetrieveUpdatePackageInfo"
            | "error-invalidAppId" => ServerStatus::UnknownApplication,
            "error-instanceRegistrationFailed" | "error-invalidVersion" => {
                ServerStatus::RegistrationFailed
            }
            "error-noPackageFound" => ServerStatus::NoPackage,
            "error-updatesDisabled"
            | "error-maxUpdatesPerPeriodLimitReached"
            | "error-maxConcurrentUpdatesLimitReached"
            | "error-maxTimedOutUpdatesLimitReached"
            | "error-couldNotCheckUpdatesStats" => ServerStatus::UpdatesHeld(s.to_string()),
            "error-updateInProgressOnInstance" => ServerStatus::UpdateInProgress,
            other => ServerStatus::Other(other.chars().take(80).collect()),
        }
    }
}

/// Everything that can go wrong. Each names the application and, where a
/// server was asked, its endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The client was not configured completely.
    Config(String),
    /// The request did not get an answer.
    Transport {
        endpoint: String,
        app_id: String,
        reason: String,
    },
    /// The answer is not an Omaha response of the expected shape.
    Response {
        endpoint: String,
        app_id: String,
        reason: String,
    },
    /// The server granted an update this client cannot use (no package,
    /// no URL, a bad name or hash): reported back as failed.
    Unusable {
        endpoint: String,
        app_id: String,
        reason: String,
    },
    /// The server answered with an error status for the application.
    Server {
        endpoint: String,
        app_id: String,
        status: ServerStatus,
    },
    /// No URL delivered a package that verified; each attempt and why.
    Download {
        app_id: String,
        package: String,
        attempts: Vec<(String, String)>,
        code: i32,
    },
    /// The updater failed to apply the update.
    Apply { app_id: String, reason: String },
    /// The run was cancelled (a scheduler stopping) during a download.
    Cancelled,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Config(why) => write!(f, "the Omaha client is not configured: {why}"),
            Error::Transport {
                endpoint,
                app_id,
                reason,
            }
            | Error::Response {
                endpoint,
                app_id,
                reason,
            } => write!(f, "app `{app_id}` at {endpoint}: {reason}"),
            Error::Unusable {
                endpoint,
                app_id,
                reason,
            } => write!(
                f,
                "app `{app_id}` at {endpoint}: the update cannot be used: {reason}"
            ),
            Error::Server {
                endpoint,
                app_id,
                status,
            } => write!(f, "{endpoint} refused app `{app_id}`: {status}"),
            Error::Download {
                app_id,
                package,
                attempts,
                ..
            } => {
                write!(f, "app `{app_id}`: could not download {package}")?;
                for (url, why) in attempts {
                    if url.is_empty() {
                        write!(f, ": {why}")?;
                    } else {
                        write!(f, "; {url}: {why}")?;
                    }
                }
                Ok(())
            }
            Error::Apply { app_id, reason } => {
                write!(f, "app `{app_id}`: applying the update failed: {reason}")
            }
            Error::Cancelled => f.write_str("cancelled"),
        }
    }
}

impl std::fmt::Display for ServerStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerStatus::UnknownApplication => {
                f.write_str("it does not know this application (or its track)")
            }
            ServerStatus::RegistrationFailed => f.write_str(
                "it could not register this machine (is the version a semantic version?)",
            ),
            ServerStatus::NoPackage => f.write_str("the channel has no package"),
            ServerStatus::UpdatesHeld(s) => write!(f, "updates are held back for now ({s})"),
            ServerStatus::UpdateInProgress => {
                f.write_str("an update is already in progress on this machine")
            }
            ServerStatus::Other(s) => write!(f, "status `{}`", s.escape_debug()),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

const CANCELLED: &str = "the download was cancelled";

/// What you do with a downloaded, verified payload.
pub trait Updater {
    /// Install `update` from `payload` (the first required package). An
    /// error (or a panic) is reported to the server as a failed update.
    fn apply(&mut self, update: &Update, payload: &Path) -> std::result::Result<(), String>;
}

/// A verified download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    pub path: PathBuf,
    pub url: String,
    /// Only SHA-1 was there to check.
    pub weak: bool,
    /// The payload's SHA-256, computed while it downloaded (whatever was
    /// checked).
    pub sha256: [u8; 32],
}

/// What [`Client::run_once`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    NoUpdate,
    /// Updated to this version.
    Updated {
        version: String,
        weak_hash: bool,
    },
}

/// A configured client. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    endpoint: String,
    app_id: String,
    track: String,
    version: String,
    machine_id: String,
    boot_id: String,
    platform: String,
    arch: String,
    require_sha256: bool,
    max_download: u64,
    download_dir: PathBuf,
    transport: Arc<dyn Transport>,
    /// Set to abandon a download in flight (see [`Client::with_cancel`]).
    cancel: Option<Arc<std::sync::atomic::AtomicBool>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .field("app_id", &self.app_id)
            .field("track", &self.track)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Client`]: the endpoint is required, and an app id, version
/// and machine id must be set.
pub struct ClientBuilder {
    endpoint: String,
    app_id: String,
    track: String,
    version: String,
    machine_id: String,
    boot_id: Option<String>,
    platform: String,
    arch: String,
    require_sha256: bool,
    max_download: u64,
    download_dir: Option<PathBuf>,
    transport: Option<Arc<dyn Transport>>,
}

impl ClientBuilder {
    pub fn app_id(mut self, id: &str) -> Self {
        self.app_id = id.to_string();
        self
    }
    /// The channel (Omaha's `track`).
    pub fn track(mut self, track: &str) -> Self {
        self.track = track.to_string();
        self
    }
    /// The version installed now (a semantic version, for Nebraska).
    pub fn version(mut self, version: &str) -> Self {
        self.version = version.to_string();
        self
    }
    /// Stable per machine: see [`machine_id`].
    pub fn machine_id(mut self, id: &str) -> Self {
        self.machine_id = id.to_string();
        self
    }
    /// Per boot (default: one per process).
    pub fn boot_id(mut self, id: &str) -> Self {
        self.boot_id = Some(id.to_string());
        self
    }
    pub fn platform(mut self, platform: &str) -> Self {
        self.platform = platform.to_string();
        self
    }
    pub fn arch(mut self, arch: &str) -> Self {
        self.arch = arch.to_string();
        self
    }
    /// Refuse packages whose only hash is SHA-1.
    pub fn require_sha256(mut self, yes: bool) -> Self {
        self.require_sha256 = yes;
        self
    }
    /// Where [`Client::run_once`] downloads packages (default: the
    /// system's temp directory). The payload is removed after `apply`.
    pub fn download_dir(mut self, dir: &Path) -> Self {
        self.download_dir = Some(dir.to_path_buf());
        self
    }
    /// Largest package downloaded (default 1 GiB).
    pub fn max_download(mut self, bytes: u64) -> Self {
        self.max_download = bytes;
        self
    }
    pub fn transport(mut self, t: Arc<dyn Transport>) -> Self {
        self.transport = Some(t);
        self
    }

    pub fn build(self) -> Result<Client> {
        let need = |v: &str, what: &str| {
            if v.trim().is_empty() {
                Err(Error::Config(format!("{what} is not set")))
            } else {
                Ok(())
            }
        };
        need(&self.app_id, "the app id")?;
        need(&self.version, "the current version")?;
        need(&self.machine_id, "the machine id")?;
        check_url(&self.endpoint)
            .map_err(|why| Error::Config(format!("endpoint {}: {why}", self.endpoint)))?;
        #[cfg(feature = "reqwest")]
        let transport = match self.transport {
            Some(t) => t,
            None => Arc::new(
                HttpTransport::new(
                    std::time::Duration::from_secs(10),
                    std::time::Duration::from_secs(30),
                )
                .map_err(|e| Error::Config(e.0))?,
            ),
        };
        #[cfg(not(feature = "reqwest"))]
        let transport = self
            .transport
            .ok_or_else(|| Error::Config("no transport (the `reqwest` feature is off)".into()))?;
        Ok(Client {
            boot_id: self.boot_id.unwrap_or_else(random_id),
            endpoint: self.endpoint,
            app_id: self.app_id,
            track: self.track,
            version: self.version,
            machine_id: self.machine_id,
            platform: self.platform,
            arch: self.arch,
            require_sha256: self.require_sha256,
            max_download: self.max_download,
            download_dir: self.download_dir.unwrap_or_else(std::env::temp_dir),
            transport,
            cancel: None,
        })
    }
}

/// An `https` URL, or `http` to a loopback address.
pub(crate) fn check_url(url: &str) -> std::result::Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("not a URL ({e})"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("it carries a user name or password".into());
    }
    let loopback = match parsed.host() {
        None => return Err("it names no host".into()),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err("plain http is only for a loopback address; use https".into()),
        other => Err(format!("`{other}` is not http(s)")),
    }
}

impl Client {
    pub fn builder(endpoint: &str) -> ClientBuilder {
        ClientBuilder {
            endpoint: endpoint.to_string(),
            app_id: String::new(),
            track: "stable".to_string(),
            version: String::new(),
            machine_id: String::new(),
            boot_id: None,
            platform: std::env::consts::OS.to_string(),
            // Nebraska's names (amd64, aarch64, x86).
            arch: match std::env::consts::ARCH {
                "x86_64" => "amd64",
                other => other,
            }
            .to_string(),
            require_sha256: false,
            max_download: 1 << 30,
            download_dir: None,
            transport: None,
        }
    }

    pub fn app_id(&self) -> &str {
        &self.app_id
    }
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
    pub fn version(&self) -> &str {
        &self.version
    }

    /// This client, abandoning a download in flight (and sending no more
    /// events) once `flag` is set: [`Error::Cancelled`].
    pub fn with_cancel(&self, flag: Arc<std::sync::atomic::AtomicBool>) -> Client {
        Client {
            cancel: Some(flag),
            ..self.clone()
        }
    }

    fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|c| c.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// This client reporting `version` as the installed one (after an
    /// update).
    pub fn with_version(&self, version: &str) -> Client {
        Client {
            version: version.to_string(),
            ..self.clone()
        }
    }

    fn info(&self) -> protocol::AppInfo<'_> {
        protocol::AppInfo {
            app_id: &self.app_id,
            version: &self.version,
            track: &self.track,
            machine_id: &self.machine_id,
            boot_id: &self.boot_id,
            platform: &self.platform,
            arch: &self.arch,
        }
    }

    fn post(&self, body: &str) -> Result<protocol::Response> {
        let raw = self
            .transport
            .post_xml(&self.endpoint, body.as_bytes(), protocol::MAX_RESPONSE)
            .map_err(|e| Error::Transport {
                endpoint: self.endpoint.clone(),
                app_id: self.app_id.clone(),
                reason: e.0,
            })?;
        protocol::parse(&raw).map_err(|e| Error::Response {
            endpoint: self.endpoint.clone(),
            app_id: self.app_id.clone(),
            reason: e.to_string(),
        })
    }

    /// Ask whether there is an update.
    pub fn check(&self) -> Result<Check> {
        let response = self.post(&protocol::request(&self.info(), None))?;
        let bad = |reason: String| Error::Response {
            endpoint: self.endpoint.clone(),
            app_id: self.app_id.clone(),
            reason,
        };
        // After `status="ok"` the server has granted the update: what is
        // wrong with it from here on is reported back (see `run_once`).
        let unusable = |reason: String| Error::Unusable {
            endpoint: self.endpoint.clone(),
            app_id: self.app_id.clone(),
            reason,
        };
        let app = response
            .apps
            .into_iter()
            .next()
            .ok_or_else(|| bad("the response has no <app>".into()))?;
        if app.status != "ok" {
            return Err(Error::Server {
                endpoint: self.endpoint.clone(),
                app_id: self.app_id.clone(),
                status: ServerStatus::from_app_status(&app.status),
            });
        }
        let check = app
            .updatecheck
            .ok_or_else(|| bad("the response has no <updatecheck>".into()))?;
        match check.status.as_str() {
            "noupdate" => return Ok(Check::NoUpdate),
            "ok" => {}
            other => {
                return Err(Error::Server {
                    endpoint: self.endpoint.clone(),
                    app_id: self.app_id.clone(),
                    status: ServerStatus::Other(other.chars().take(80).collect()),
                });
            }
        }
        let urls: Vec<String> = check
            .urls
            .map(|u| {
                u.urls
                    .into_iter()
                    .map(|u| u.codebase)
                    .filter(|c| !c.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let manifest = {
            let mut all = check.manifests;
            let target = all
                .iter()
                .position(|m| m.is_target.as_deref() == Some("true"));
            match target {
                Some(i) => all.swap_remove(i),
                None => all
                    .pop()
                    .ok_or_else(|| unusable("the update has no <manifest>".into()))?,
            }
        };
        if manifest.version.is_empty() {
            return Err(unusable("the manifest names no version".into()));
        }
        let actions: Vec<Action> = manifest
            .actions
            .map(|a| a.actions)
            .unwrap_or_default()
            .into_iter()
            .map(|a| {
                Ok(Action {
                    sha256: hash_field(&a.sha256, decode_sha256).ok_or_else(|| {
                        unusable(format!(
                            "the {} action's sha256 is not a SHA-256",
                            a.event.escape_debug()
                        ))
                    })?,
                    event: a.event,
                })
            })
            .collect::<Result<_>>()?;
        let mut packages = Vec::new();
        for p in manifest.packages.map(|p| p.packages).unwrap_or_default() {
            if p.name.is_empty()
                || p.name.contains(['/', '\\', '\0'])
                || p.name == ".."
                || p.name == "."
            {
                return Err(unusable(format!(
                    "a package name `{}` that is not a file name",
                    p.name.escape_debug()
                )));
            }
            let size = p
                .size
                .parse::<u64>()
                .map_err(|_| unusable(format!("package {} has no size", p.name)))?;
            // A hash that is there but does not decode is not taken for
            // absent: that would weaken the check.
            let sha256 = hash_field(&p.hash_sha256, decode_sha256).ok_or_else(|| {
                unusable(format!(
                    "package {}'s hash_sha256 is not a SHA-256",
                    p.name.escape_debug()
                ))
            })?;
            let sha1 = hash_field(&p.hash, decode_b64::<20>).ok_or_else(|| {
                unusable(format!(
                    "package {}'s hash is not a SHA-1",
                    p.name.escape_debug()
                ))
            })?;
            packages.push(Package {
                sha256,
                sha1,
                required: p.required != "false",
                name: p.name,
                size,
            });
        }
        if packages.is_empty() {
            return Err(unusable("the update has no package".into()));
        }
        if urls.is_empty() {
            return Err(unusable("the update has no URL".into()));
        }
        Ok(Check::Update(Update {
            version: manifest.version,
            urls,
            packages,
            actions,
        }))
    }

    /// Report an event (only the pairs Nebraska records; see [`Event`]).
    pub fn send_event(&self, event: Event, previous_version: &str) -> Result<()> {
        let (event_type, result, error_code) = event.codes();
        let body = protocol::request(
            &self.info(),
            Some(protocol::EventBody {
                event_type,
                result,
                error_code,
                previous_version,
            }),
        );
        self.post(&body).map(drop)
    }

    /// Download the update's main package (the first required one) into
    /// `dir`, trying each URL in turn, verifying size and the strongest
    /// hash present.
    pub fn download(&self, update: &Update, dir: &Path) -> Result<Downloaded> {
        let package = update
            .packages
            .iter()
            .find(|p| p.required)
            .or(update.packages.first())
            .ok_or_else(|| Error::Download {
                app_id: self.app_id.clone(),
                package: String::new(),
                attempts: Vec::new(),
                code: codes::DOWNLOAD_TRANSFER,
            })?;
        // The payload's SHA-256 comes with the package or with the
        // postinstall action.
        let sha256 = package.sha256.or_else(|| {
            update
                .actions
                .iter()
                .find(|a| a.event == "postinstall")
                .and_then(|a| a.sha256)
        });
        let fail = |attempts, code| Error::Download {
            app_id: self.app_id.clone(),
            package: package.name.clone(),
            attempts,
            code,
        };
        if sha256.is_none() && package.sha1.is_none() {
            return Err(fail(
                vec![(
                    String::new(),
                    "the package has no hash to check it against".into(),
                )],
                codes::VERIFICATION,
            ));
        }
        if sha256.is_none() && self.require_sha256 {
            return Err(fail(
                vec![(
                    String::new(),
                    "the package has only a SHA-1 hash, and SHA-256 is required".into(),
                )],
                codes::VERIFICATION,
            ));
        }
        if package.size > self.max_download {
            return Err(fail(
                vec![(
                    String::new(),
                    format!(
                        "{} bytes is more than the {} allowed",
                        package.size, self.max_download
                    ),
                )],
                codes::SIZE_MISMATCH,
            ));
        }
        let mut attempts = Vec::new();
        let mut code = codes::DOWNLOAD_TRANSFER;
        for base in &update.urls {
            let url = if base.ends_with('/') {
                format!("{base}{}", package.name)
            } else {
                format!("{base}/{}", package.name)
            };
            if let Err(why) = check_url(&url) {
                attempts.push((url, why));
                continue;
            }
            let path = dir.join(&package.name);
            let partial = dir.join(format!(".{}.partial", package.name));
            match self.fetch_one(&url, &partial, package, sha256) {
                Ok(got) => {
                    std::fs::rename(&partial, &path).map_err(|e| {
                        fail(
                            vec![(url.clone(), format!("could not keep the download: {e}"))],
                            codes::ERROR,
                        )
                    })?;
                    return Ok(Downloaded {
                        path,
                        url,
                        weak: sha256.is_none(),
                        sha256: got,
                    });
                }
                Err((why, c)) => {
                    let _ = std::fs::remove_file(&partial);
                    code = c;
                    attempts.push((url, why));
                }
            }
        }
        Err(fail(attempts, code))
    }

    fn fetch_one(
        &self,
        url: &str,
        to: &Path,
        package: &Package,
        sha256: Option<[u8; 32]>,
    ) -> std::result::Result<[u8; 32], (String, i32)> {
        struct Hashing<'a, W> {
            out: W,
            sha256: sha2::Sha256,
            sha1: sha1::Sha1,
            client: &'a Client,
        }
        impl<W: Write> Write for Hashing<'_, W> {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                if self.client.cancelled() {
                    // Not `Interrupted`: `write_all` would retry that.
                    return Err(std::io::Error::other(CANCELLED));
                }
                let n = self.out.write(buf)?;
                self.sha256.update(&buf[..n]);
                self.sha1.update(&buf[..n]);
                Ok(n)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                self.out.flush()
            }
        }
        let file = std::fs::File::create(to).map_err(|e| {
            (
                format!("could not create {}: {e}", to.display()),
                codes::ERROR,
            )
        })?;
        let mut w = Hashing {
            out: std::io::BufWriter::new(file),
            sha256: sha2::Sha256::new(),
            sha1: sha1::Sha1::new(),
            client: self,
        };
        // One byte more than the package has is let through, so that a
        // longer body is told as a size mismatch.
        let n = self
            .transport
            .download(url, &mut w, package.size.saturating_add(1))
            .map_err(|e| (e.0, codes::DOWNLOAD_TRANSFER))?;
        w.flush()
            .map_err(|e| (format!("could not write the download: {e}"), codes::ERROR))?;
        if n != package.size {
            return Err((
                format!("{n} bytes arrived, the package has {}", package.size),
                codes::SIZE_MISMATCH,
            ));
        }
        let got256: [u8; 32] = w.sha256.finalize().into();
        let got1: [u8; 20] = w.sha1.finalize().into();
        match (sha256, package.sha1) {
            (Some(want), _) if want != got256 => Err((
                format!(
                    "sha256 {} is not the {} the server gave",
                    hex(&got256),
                    hex(&want)
                ),
                codes::HASH_MISMATCH,
            )),
            (None, Some(want)) if want != got1 => Err((
                format!(
                    "sha1 {} is not the {} the server gave",
                    hex(&got1),
                    hex(&want)
                ),
                codes::HASH_MISMATCH,
            )),
            _ => Ok(got256),
        }
    }

    /// Check, and if there is an update: report the download starting,
    /// download and verify it (into the download directory), report it
    /// downloaded, apply it, report it installed and complete. Any failure
    /// is reported as (3,0) with an error code, and returned.
    pub fn run_once(&self, updater: &mut dyn Updater) -> Result<Outcome> {
        // A private directory per run: no other user can place a link
        // where the payload is written, and runs do not collide.
        let scratch = tempfile::Builder::new()
            .prefix(".omaha-")
            .tempdir_in(&self.download_dir)
            .map_err(|e| Error::Download {
                app_id: self.app_id.clone(),
                package: String::new(),
                attempts: vec![(
                    String::new(),
                    format!(
                        "could not make a directory in {}: {e}",
                        self.download_dir.display()
                    ),
                )],
                code: codes::ERROR,
            })?;
        let dir = scratch.path();
        let update = match self.check() {
            Ok(Check::NoUpdate) => return Ok(Outcome::NoUpdate),
            Ok(Check::Update(u)) => u,
            // Granted but unusable: the server waits for word on it.
            Err(e @ Error::Unusable { .. }) => {
                let _ = self.send_event(Event::Failed(codes::ERROR), &self.version);
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        // Events are best effort: a lost one must not stop the update. A
        // cancelled run sends none (it is on its way out).
        let report = |e: Event| {
            if !self.cancelled() {
                let _ = self.send_event(e, &self.version);
            }
        };
        report(Event::DownloadStarted);
        let downloaded = match self.download(&update, dir) {
            Ok(d) => d,
            Err(_) if self.cancelled() => return Err(Error::Cancelled),
            Err(e) => {
                let code = match &e {
                    Error::Download { code, .. } => *code,
                    _ => codes::ERROR,
                };
                report(Event::Failed(code));
                return Err(e);
            }
        };
        report(Event::Downloaded);
        let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            updater.apply(&update, &downloaded.path)
        }));
        let _ = std::fs::remove_file(&downloaded.path);
        match applied {
            Ok(Ok(())) => {}
            Ok(Err(why)) => {
                report(Event::Failed(codes::ERROR));
                return Err(Error::Apply {
                    app_id: self.app_id.clone(),
                    reason: why,
                });
            }
            Err(_) => {
                report(Event::Failed(codes::ERROR));
                return Err(Error::Apply {
                    app_id: self.app_id.clone(),
                    reason: "the updater panicked".into(),
                });
            }
        }
        report(Event::Installed);
        report(Event::Complete);
        Ok(Outcome::Updated {
            version: update.version,
            weak_hash: downloaded.weak,
        })
    }
}

/// An optional hash attribute: `Some(None)` when absent, `Some(hash)` when
/// it decodes, `None` when it is there and does not.
fn hash_field<T>(text: &str, decode: impl Fn(&str) -> Option<T>) -> Option<Option<T>> {
    if text.trim().is_empty() {
        Some(None)
    } else {
        decode(text).map(Some)
    }
}

fn decode_b64<const N: usize>(text: &str) -> Option<[u8; N]> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()?;
    bytes.try_into().ok()
}

/// A SHA-256 as hex (Nebraska's extra files) or base64 (everything else).
fn decode_sha256(text: &str) -> Option<[u8; 32]> {
    let t = text.trim();
    if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        let mut out = [0u8; 32];
        for (i, pair) in t.as_bytes().chunks(2).enumerate() {
            out[i] = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
        }
        return Some(out);
    }
    decode_b64::<32>(t)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 16 random bytes as 32 hex digits, from the system's random source.
fn random_id() -> String {
    use std::io::Read;
    let mut buf = [0u8; 16];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_err()
    {
        // No urandom: time and process, which is unique enough for a boot id.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        buf[..16].copy_from_slice(&(t ^ (u128::from(std::process::id()) << 64)).to_le_bytes());
    }
    hex(&buf)
}

/// The machine id kept at `path`: read if it is there (32 hex digits),
/// else generated and written (atomically, so concurrent first runs agree
/// on one).
pub fn machine_id(path: &Path) -> std::io::Result<String> {
    let valid = |s: &str| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if let Ok(text) = std::fs::read_to_string(path) {
        let t = text.trim();
        if valid(t) {
            return Ok(t.to_string());
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let id = random_id();
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, format!("{id}\n"))?;
    // A first run elsewhere may have won: keep its id.
    match std::fs::hard_link(&tmp, path) {
        Ok(()) => {
            let _ = std::fs::remove_file(&tmp);
            Ok(id)
        }
        Err(_) => {
            let _ = std::fs::remove_file(&tmp);
            let text = std::fs::read_to_string(path)?;
            let t = text.trim();
            if valid(t) {
                Ok(t.to_string())
            } else {
                std::fs::write(path, format!("{id}\n"))?;
                Ok(id)
            }
        }
    }
}

#[cfg(test)]
mod tests;
