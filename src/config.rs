//! kplug's view of its environment, resolved once at start-up.
//!
//! Every environment variable kplug reads is named in [`vars`], and
//! [`Config`] is the only place that reads them (clippy's
//! `disallowed-methods` keeps `std::env::var` out of the rest of the crate).
//! The config file is read lazily by [`Config::file`], so the dispatch path
//! never pays for it.

use crate::error::{Error, Result};
use crate::protocol;
use serde::{Deserialize, Serialize};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// Environment variables that configure the host (protocol variables set
/// *for* plugins live in [`protocol::env`]).
pub mod vars {
    /// Root of kplug's data: store, caches, state. Default
    /// `$XDG_DATA_HOME/kplug`.
    pub const HOME: &str = "KPLUG_HOME";
    /// Extra directories searched for `kplug-*` executables, after the store
    /// and before `PATH` (`:`-separated).
    pub const PLUGIN_PATH: &str = "KPLUG_PLUGIN_PATH";
    /// Host credentials: read by the installer, never passed to a plugin.
    pub const TOKENS: [&str; 3] = ["KPLUG_GITHUB_TOKEN", "GITHUB_TOKEN", "GH_TOKEN"];
    pub const XDG_DATA_HOME: &str = "XDG_DATA_HOME";
    pub const XDG_CONFIG_HOME: &str = "XDG_CONFIG_HOME";
    pub const USER_HOME: &str = "HOME";
    pub const PATH: &str = "PATH";
    /// Base URL of the GitHub REST API (GitHub Enterprise:
    /// `https://HOST/api/v3`). Default `https://api.github.com`.
    pub const GITHUB_API_URL: &str = "KPLUG_GITHUB_API_URL";
    /// `1` disables every hook, like `--no-hooks`.
    pub const NO_HOOKS: &str = "KPLUG_NO_HOOKS";
    /// `1` skips plugin requirement checks, like `--skip-checks`.
    pub const SKIP_CHECKS: &str = "KPLUG_SKIP_CHECKS";
    /// Any value disables colour (<https://no-color.org>).
    pub const NO_COLOR: &str = "NO_COLOR";
    /// `dumb` disables colour.
    pub const TERM: &str = "TERM";
    /// A registry host (`--registry-host`) and the credential for it.
    pub const REGISTRY_HOST: &str = "KPLUG_REGISTRY_HOST";
    pub const REGISTRY_USERNAME: &str = "KPLUG_REGISTRY_USERNAME";
    pub const REGISTRY_PASSWORD: &str = "KPLUG_REGISTRY_PASSWORD";
    /// Where docker's `config.json` is (default `~/.docker`).
    pub const DOCKER_CONFIG: &str = "DOCKER_CONFIG";
    /// `1` silences `kplug version`'s update notice.
    pub const NO_UPDATE_NOTICE: &str = "KPLUG_NO_UPDATE_NOTICE";
    /// The active cluster, over the kubeconfig's current context.
    pub const CLUSTER: &str = "KPLUG_CLUSTER";
    /// The machine id sent to Omaha servers, over the one kplug keeps.
    pub const OMAHA_MACHINE_ID: &str = "KPLUG_OMAHA_MACHINE_ID";
    /// The password of a minisign secret key given with `--sign-key`.
    pub const SIGN_PASSWORD: &str = "KPLUG_SIGN_PASSWORD";
}

/// Host configuration variables that a plugin does see, so that a plugin
/// calling back into `$KPLUG_BIN` finds the same store and plugins:
/// `KPLUG_HOME` as the host resolved it (absolute), `KPLUG_PLUGIN_PATH` as
/// it was given. Every other inherited `KPLUG_*` is removed.
pub const PASSED_TO_PLUGINS: [&str; 2] = [vars::HOME, vars::PLUGIN_PATH];

/// The resolved environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// The inherited environment, as it was given.
    pub vars: Vec<(OsString, OsString)>,
    /// `KPLUG_HOME`; `None` when neither it, `XDG_DATA_HOME` nor `HOME` is set.
    home: Option<PathBuf>,
    /// `$XDG_CONFIG_HOME/kplug`.
    pub config_dir: Option<PathBuf>,
    /// Directories of `KPLUG_PLUGIN_PATH`, in order.
    pub plugin_path: Vec<PathBuf>,
    /// Directories of `PATH`, in order.
    pub path: Vec<PathBuf>,
    /// How many plugins deep this kplug runs (0 when started by a user).
    pub depth: u32,
    /// Names of the plugins in the nesting chain, outermost first.
    pub chain: Vec<String>,
    file: OnceLock<Result<FileConfig, String>>,
    /// `--cluster NAME` of the command, or the cluster hooks fire for.
    pub cluster_override: Option<String>,
    /// See [`crate::scope`]; computed on first use.
    pub active_project: OnceLock<Option<PathBuf>>,
    pub active_cluster: OnceLock<Option<crate::scope::ActiveCluster>>,
}

/// The config file, `$XDG_CONFIG_HOME/kplug/config.yaml`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FileConfig {
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Default cluster engine: `k3d`, `kind` or `sim`.
    #[serde(default)]
    pub engine: Option<String>,
    /// How many post-* hooks run at once (default: the number of CPUs).
    #[serde(default)]
    pub jobs: Option<usize>,
    #[serde(default)]
    pub network: Network,
    #[serde(default)]
    pub install: Install,
    /// Named places plugins come from (`kplug plugin source add`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceConfig>,
    /// How kplug updates itself (`kplug self`).
    #[serde(default, rename = "self")]
    pub self_update: SelfUpdate,
    /// What clusters and projects recommend (`kplug plugin sync`).
    #[serde(default)]
    pub sync: Sync,
}

/// `sync:` in the config file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Sync {
    /// `cluster create` and `cluster use` sync that cluster's plugins.
    #[serde(default = "yes")]
    pub auto: bool,
}

impl Default for Sync {
    fn default() -> Self {
        Sync { auto: true }
    }
}

fn yes() -> bool {
    true
}

/// The project's own releases, where `kplug self update` finds them by
/// default.
pub const SELF_SOURCE: &str = "kplug/kplug";

/// `self:` in the config file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SelfUpdate {
    /// Where kplug's releases come from: anything `plugin install` takes
    /// that lists versions (`owner/repo`, `SOURCE/NAME`, `oci://…`).
    #[serde(default = "default_self_source")]
    pub source: String,
    /// Installed versions of kplug kept (never the current or previous).
    #[serde(default = "default_keep_versions")]
    pub keep_versions: usize,
    /// minisign public keys (`RW…`) kplug's releases may be signed by,
    /// beside the key built into kplug (for forks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trust: Vec<String>,
}

impl Default for SelfUpdate {
    fn default() -> Self {
        SelfUpdate {
            source: default_self_source(),
            keep_versions: default_keep_versions(),
            trust: Vec::new(),
        }
    }
}

fn default_self_source() -> String {
    SELF_SOURCE.to_string()
}

/// One configured source of plugins.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SourceConfig {
    /// How commands refer to it: `kplug plugin install NAME/PLUGIN`.
    pub name: String,
    pub kind: SourceKind,
    /// An inventory's path or URL (`index`), a GitHub owner or
    /// `owner/repo` (`github`).
    pub address: String,
    /// How long a fetched copy is used before asking again (default 1h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<protocol::Timeout>,
    /// An `omaha` source's channel (the Omaha `track`; default `stable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// An `omaha` source's application ids by plugin name (default
    /// `kplug-plugin-<name>`; `kplug` itself: `kplug`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub apps: std::collections::BTreeMap<String, String>,
    /// An `omaha` source refuses a package whose only hash is SHA-1.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_sha256: bool,
    /// minisign public keys (`RW…`) its plugins must be signed by.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trust: Vec<String>,
}

/// What kind of place a source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// A GitHub owner (repositories with the topic `kplug-plugin`) or one
    /// repository.
    Github,
    /// An inventory document.
    Index,
    /// An OCI registry prefix: plugin NAME is the repository `<prefix>/<NAME>`.
    Oci,
    /// An Omaha update server (Nebraska): each plugin is an application,
    /// and the server's channel decides its version.
    Omaha,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Github => "github",
            SourceKind::Index => "index",
            SourceKind::Oci => "oci",
            SourceKind::Omaha => "omaha",
        }
    }
}

/// HTTP settings of `plugin install`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Network {
    /// Time to establish a connection.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: protocol::Timeout,
    /// Longest wait for the next bytes of a response (not the whole download).
    #[serde(default = "default_read_timeout")]
    pub read_timeout: protocol::Timeout,
    /// Attempts for a request that fails transiently (5xx, connection reset).
    #[serde(default = "default_attempts")]
    pub attempts: u32,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            connect_timeout: default_connect_timeout(),
            read_timeout: default_read_timeout(),
            attempts: default_attempts(),
        }
    }
}

fn default_connect_timeout() -> protocol::Timeout {
    protocol::Timeout(Duration::from_secs(10))
}

fn default_read_timeout() -> protocol::Timeout {
    protocol::Timeout(Duration::from_secs(30))
}

fn default_attempts() -> u32 {
    4
}

/// Limits and policy of `plugin install`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Install {
    /// Refuse releases that carry no checksum (like `--require-checksum`).
    #[serde(default)]
    pub require_checksum: bool,
    /// Refuse artifacts that carry no signature (like
    /// `--require-signature`).
    #[serde(default)]
    pub require_signature: bool,
    /// Largest download accepted, in MiB.
    #[serde(default = "default_max_download_mib")]
    pub max_download_mib: u64,
    /// Most bytes an archive may unpack to, in MiB.
    #[serde(default = "default_max_unpacked_mib")]
    pub max_unpacked_mib: u64,
    /// Most entries an archive may hold.
    #[serde(default = "default_max_entries")]
    pub max_entries: u64,
    /// Installed versions kept per plugin (the current one included);
    /// older ones are pruned after a successful switch.
    #[serde(default = "default_keep_versions")]
    pub keep_versions: usize,
    /// Registries (`host` or `host:port`) reached over plain http; loopback
    /// addresses always may be.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub insecure_registries: Vec<String>,
}

impl Default for Install {
    fn default() -> Self {
        Install {
            require_checksum: false,
            require_signature: false,
            max_download_mib: default_max_download_mib(),
            max_unpacked_mib: default_max_unpacked_mib(),
            max_entries: default_max_entries(),
            keep_versions: default_keep_versions(),
            insecure_registries: Vec::new(),
        }
    }
}

fn default_max_download_mib() -> u64 {
    256
}

fn default_max_unpacked_mib() -> u64 {
    512
}

fn default_max_entries() -> u64 {
    10_000
}

fn default_keep_versions() -> usize {
    3
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// How long a plugin has to answer INFO.
    #[serde(default = "default_info_timeout")]
    pub info: protocol::Timeout,
    /// Default time a pre-* hook has.
    #[serde(default = "default_pre_timeout")]
    pub pre: protocol::Timeout,
    /// Default time a post-* hook has.
    #[serde(default = "default_post_timeout")]
    pub post: protocol::Timeout,
    /// The most a hook may ask for with its own `timeout`.
    #[serde(default = "default_max_timeout")]
    pub max: protocol::Timeout,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            info: default_info_timeout(),
            pre: default_pre_timeout(),
            post: default_post_timeout(),
            max: default_max_timeout(),
        }
    }
}

fn default_info_timeout() -> protocol::Timeout {
    protocol::Timeout(Duration::from_secs(10))
}

fn default_pre_timeout() -> protocol::Timeout {
    protocol::Timeout(Duration::from_secs(60))
}

fn default_post_timeout() -> protocol::Timeout {
    protocol::Timeout(Duration::from_secs(300))
}

fn default_max_timeout() -> protocol::Timeout {
    protocol::Timeout(Duration::from_secs(30 * 60))
}

fn split_paths(value: Option<&OsStr>, absolute: impl Fn(PathBuf) -> PathBuf) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    // An empty entry would mean "the current directory"; searching it for
    // executables is a classic trap, so it is skipped. A directory listed
    // twice is searched once, so it cannot shadow itself. A short PATH is
    // checked by scanning (no hashing on the dispatch path); a long one
    // through a set, so that thousands of entries cost linear time.
    let dirs: Vec<PathBuf> = std::env::split_paths(value.unwrap_or_default())
        .filter(|d| !d.as_os_str().is_empty())
        .map(absolute)
        .collect();
    if dirs.len() <= 64 {
        for dir in dirs {
            if !out.contains(&dir) {
                out.push(dir);
            }
        }
    } else {
        let mut seen = std::collections::HashSet::with_capacity(dirs.len());
        out.extend(dirs.into_iter().filter(|d| seen.insert(d.clone())));
    }
    out
}

impl Config {
    /// Resolve the configuration of this process.
    pub fn from_process() -> Config {
        Config::from_vars(std::env::vars_os().collect())
    }

    /// Resolve a configuration from an explicit environment (tests).
    pub fn from_vars(vars: Vec<(OsString, OsString)>) -> Config {
        let get = |name: &str| {
            vars.iter()
                .find(|(k, v)| k == name && !v.is_empty())
                .map(|(_, v)| v.as_os_str())
        };
        // Only a relative path needs the working directory (one syscall
        // saved on the dispatch path in the usual, all-absolute case).
        let cwd = std::cell::OnceCell::new();
        let absolute = |p: PathBuf| {
            if p.is_relative()
                && let Some(cwd) = cwd.get_or_init(|| std::env::current_dir().ok())
            {
                cwd.join(p)
            } else {
                p
            }
        };
        let user_home = get(vars::USER_HOME).map(PathBuf::from);
        // The XDG spec says relative values are invalid and to be ignored.
        let xdg = |name: &str| get(name).map(PathBuf::from).filter(|p| p.is_absolute());
        let home = get(vars::HOME)
            .map(PathBuf::from)
            .or_else(|| xdg(vars::XDG_DATA_HOME).map(|d| d.join("kplug")))
            .or_else(|| user_home.as_ref().map(|h| h.join(".local/share/kplug")))
            .map(absolute);
        let config_dir = xdg(vars::XDG_CONFIG_HOME)
            .map(|d| d.join("kplug"))
            .or_else(|| user_home.as_ref().map(|h| h.join(".config/kplug")))
            .map(absolute);
        let depth = get(protocol::env::DEPTH)
            .and_then(|d| d.to_str()?.parse().ok())
            .unwrap_or(0);
        let chain = get(protocol::env::CHAIN)
            .and_then(OsStr::to_str)
            .map(|c| c.split('>').map(str::to_string).collect())
            .unwrap_or_default();
        Config {
            // Relative entries are resolved once, so a plugin's
            // KPLUG_PLUGIN_DIR is absolute wherever it later chdirs to.
            plugin_path: split_paths(get(vars::PLUGIN_PATH), absolute),
            path: split_paths(get(vars::PATH), absolute),
            home,
            config_dir,
            depth,
            chain,
            file: OnceLock::new(),
            cluster_override: None,
            active_project: OnceLock::new(),
            active_cluster: OnceLock::new(),
            vars,
        }
    }

    /// This configuration with `file` in place of the config file's
    /// contents (a project's sources added).
    pub fn with_file(&self, file: FileConfig) -> Config {
        let cfg = Config {
            file: OnceLock::new(),
            ..self.clone()
        };
        let _ = cfg.file.set(Ok(file));
        cfg
    }

    /// This configuration with `cluster` as the active cluster (a command's
    /// `--cluster`, or the cluster an event is about).
    pub fn for_cluster(&self, cluster: &str) -> Config {
        let mut cfg = self.clone();
        cfg.cluster_override = Some(cluster.to_string());
        cfg.active_cluster = OnceLock::new();
        cfg
    }

    /// The value of an inherited variable (empty counts as unset).
    pub fn var(&self, name: &str) -> Option<&OsStr> {
        self.vars
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_os_str())
    }

    /// kplug's data directory, if one could be determined.
    pub fn home_opt(&self) -> Option<&Path> {
        self.home.as_deref()
    }

    /// kplug's data directory, or an error saying how to set one.
    pub fn home(&self) -> Result<&Path> {
        self.home.as_deref().ok_or_else(|| {
            Error::new("cannot tell where kplug keeps its data: none of KPLUG_HOME, XDG_DATA_HOME or HOME is set")
                .with_hint("set KPLUG_HOME to a directory kplug may write to")
        })
    }

    /// Directory of an installed plugin in the store.
    pub fn store_dir(&self) -> Option<PathBuf> {
        self.home.as_ref().map(|h| h.join("plugins"))
    }

    /// The INFO cache file.
    pub fn info_cache_path(&self) -> Option<PathBuf> {
        self.home
            .as_ref()
            .map(|h| h.join("cache").join("info.json"))
    }

    /// A plugin's persistent data directory (`KPLUG_DATA_DIR`).
    pub fn plugin_data_dir(&self, name: &str) -> Option<PathBuf> {
        self.home
            .as_ref()
            .map(|h| h.join("state").join("plugins").join(name))
    }

    pub fn config_file_path(&self) -> Option<PathBuf> {
        self.config_dir.as_ref().map(|d| d.join("config.yaml"))
    }

    /// User hook scripts: `<hooks_dir>/<event>.d/*`.
    pub fn hooks_dir(&self) -> Option<PathBuf> {
        self.config_dir.as_ref().map(|d| d.join("hooks"))
    }

    /// kplug's state directory (clusters, journal, plugin data).
    pub fn state_dir(&self) -> Result<PathBuf> {
        Ok(self.home()?.join("state"))
    }

    /// Whether `KPLUG_NO_HOOKS` asks for no hooks.
    pub fn no_hooks(&self) -> bool {
        self.flag(vars::NO_HOOKS)
    }

    /// A yes/no variable: set to anything but `0` or `false` (any case)
    /// means yes; unset or empty means no.
    pub fn flag(&self, name: &str) -> bool {
        self.var(name)
            .is_some_and(|v| v != "0" && !v.eq_ignore_ascii_case("false"))
    }

    /// The config file (defaults when there is none), read on first use.
    pub fn file(&self) -> Result<&FileConfig> {
        self.file
            .get_or_init(|| {
                let Some(path) = self.config_file_path() else {
                    return Ok(FileConfig::default());
                };
                read_config_file(&path).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| {
                Error::new(e.clone()).with_hint(
                    "fix or remove the config file; docs/configuration.md lists its keys",
                )
            })
    }

    /// Whether colour may be used on a stream that is a terminal.
    pub fn color_allowed(&self) -> bool {
        self.var(vars::NO_COLOR).is_none() && self.var(vars::TERM).is_none_or(|t| t != "dumb")
    }
}

/// Editing the config file: `kplug config get|set|unset|list`. Keys are
/// dotted paths (`network.readTimeout`); a value is read as YAML (`3`,
/// `true`, `30s`). Every change is validated by reading the whole file back
/// as a [`FileConfig`] before it is written (atomically), so an unknown key
/// or a bad value is refused and the file stays as it was.
pub mod edit {
    use super::FileConfig;
    use crate::error::{Error, Result};
    use serde_yaml::{Mapping, Value};
    use std::path::Path;

    /// Every key with its effective value (the file's, else the default),
    /// sorted, as `(key, value as YAML text)`.
    pub fn list(effective: &FileConfig) -> Vec<(String, String)> {
        let value = serde_yaml::to_value(effective).expect("the config serialises");
        let mut out = Vec::new();
        flatten("", &value, &mut out);
        out.sort();
        out
    }

    fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
        match v {
            Value::Mapping(m) => {
                for (k, v) in m {
                    let k = k.as_str().unwrap_or_default();
                    let key = if prefix.is_empty() {
                        k.to_string()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flatten(&key, v, out);
                }
            }
            Value::Null => out.push((prefix.to_string(), "~".into())),
            other => out.push((
                prefix.to_string(),
                serde_yaml::to_string(other)
                    .unwrap_or_default()
                    .trim_end()
                    .to_string(),
            )),
        }
    }

    /// The effective value of `key`.
    pub fn get(effective: &FileConfig, key: &str) -> Result<String> {
        let all = list(effective);
        all.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| unknown_key(key, &all))
    }

    fn unknown_key(key: &str, all: &[(String, String)]) -> Error {
        let mut err = Error::usage(format!("`{}` is not a config key", crate::ui::escape(key)));
        if let Some(s) = crate::ui::did_you_mean(key, all.iter().map(|(k, _)| k.as_str())) {
            err = err.with_hint(format!("did you mean `{s}`?"));
        }
        err.with_hint("`kplug config list` shows every key")
    }

    fn read(path: &Path) -> Result<Mapping> {
        match crate::fsutil::read_bounded(path, 1024 * 1024) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|_| {
                    Error::new(format!(
                        "the config file {} is not UTF-8 text",
                        path.display()
                    ))
                })?;
                if text.trim().is_empty() {
                    return Ok(Mapping::new());
                }
                crate::protocol::yaml::from_str(&text).map_err(|e| {
                    Error::new(format!("invalid config file {}", path.display())).caused_by(e)
                })
            }
            Err(crate::fsutil::ReadError::Missing) => Ok(Mapping::new()),
            Err(e) => Err(
                Error::new(format!("could not read the config file {}", path.display()))
                    .caused_by(e),
            ),
        }
    }

    /// Set `key` to `value` (or remove it with `None`) in the file at
    /// `path`, refusing anything the file would then not accept. Returns
    /// whether the file changed. Comments in the file are not kept.
    pub fn set(path: &Path, key: &str, value: Option<&str>) -> Result<bool> {
        let mut root = read(path)?;
        let parts: Vec<&str> = key.split('.').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(Error::usage(format!(
                "`{}` is not a config key",
                crate::ui::escape(key)
            )));
        }
        let before = root.clone();
        let parsed = value.map(|v| {
            crate::protocol::yaml::from_str::<Value>(v)
                .unwrap_or_else(|_| Value::String(v.to_string()))
        });
        put(&mut root, &parts, parsed);
        if root == before {
            return Ok(false);
        }
        let text = serde_yaml::to_string(&root).expect("a mapping serialises");
        if let Err(e) = serde_yaml::from_str::<FileConfig>(&text) {
            let all = list(&FileConfig::default());
            let known = all.iter().any(|(k, _)| k == key);
            let mut err = Error::usage(format!(
                "cannot set `{}`: the config file would not be valid",
                crate::ui::escape(key)
            ))
            .caused_by(e);
            if !known {
                err = unknown_key(key, &all).caused_by(err.message());
            }
            return Err(err.with_hint("nothing was changed"));
        }
        crate::fsutil::write_atomic(path, text.as_bytes())
            .map_err(|e| Error::new(format!("could not write {}", path.display())).caused_by(e))?;
        Ok(true)
    }

    /// Write `root` to `path` if the file accepts it.
    fn write_checked(path: &Path, root: &Mapping, what: &str) -> Result<()> {
        let text = serde_yaml::to_string(root).expect("a mapping serialises");
        serde_yaml::from_str::<FileConfig>(&text).map_err(|e| {
            Error::usage(format!("cannot {what}: the config file would not be valid"))
                .caused_by(e)
                .with_hint("nothing was changed")
        })?;
        crate::fsutil::write_atomic(path, text.as_bytes())
            .map_err(|e| Error::new(format!("could not write {}", path.display())).caused_by(e))
    }

    fn sources(root: &mut Mapping) -> &mut Vec<Value> {
        let entry = root
            .entry(Value::String("sources".into()))
            .or_insert_with(|| Value::Sequence(Vec::new()));
        if !entry.is_sequence() {
            *entry = Value::Sequence(Vec::new());
        }
        entry.as_sequence_mut().expect("made a sequence")
    }

    /// Add a source to the file's `sources` (the name must be new).
    pub fn add_source(path: &Path, source: &super::SourceConfig) -> Result<()> {
        let mut root = read(path)?;
        let list = sources(&mut root);
        let named = |v: &Value| v.get("name").and_then(Value::as_str) == Some(source.name.as_str());
        if list.iter().any(named) {
            return Err(Error::usage(format!(
                "a source named `{}` exists already",
                source.name
            ))
            .with_hint(format!(
                "remove it first with `kplug plugin source remove {}`, or choose another name",
                source.name
            )));
        }
        list.push(serde_yaml::to_value(source).expect("a source serialises"));
        write_checked(path, &root, &format!("add source `{}`", source.name))
    }

    /// Remove the source `name` from the file; whether it was there.
    pub fn remove_source(path: &Path, name: &str) -> Result<bool> {
        let mut root = read(path)?;
        let list = sources(&mut root);
        let before = list.len();
        list.retain(|v| v.get("name").and_then(Value::as_str) != Some(name));
        if list.len() == before {
            return Ok(false);
        }
        if list.is_empty() {
            root.remove("sources");
        }
        write_checked(path, &root, &format!("remove source `{name}`"))?;
        Ok(true)
    }

    fn put(map: &mut Mapping, parts: &[&str], value: Option<Value>) {
        let key = Value::String(parts[0].to_string());
        if parts.len() == 1 {
            match value {
                Some(v) => {
                    map.insert(key, v);
                }
                None => {
                    map.remove(&key);
                }
            }
            return;
        }
        if value.is_none() && !map.contains_key(&key) {
            return;
        }
        let entry = map
            .entry(key.clone())
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        if !entry.is_mapping() {
            *entry = Value::Mapping(Mapping::new());
        }
        let inner = entry.as_mapping_mut().expect("made a mapping");
        put(inner, &parts[1..], value);
        if inner.is_empty() {
            map.remove(&key);
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn set_get_unset_and_refusals() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("kplug/config.yaml");
            assert!(set(&path, "network.readTimeout", Some("5s")).unwrap());
            assert!(!set(&path, "network.readTimeout", Some("5s")).unwrap());
            assert!(set(&path, "engine", Some("sim")).unwrap());
            let cfg: FileConfig =
                serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            assert_eq!(get(&cfg, "network.readTimeout").unwrap(), "5s");
            assert_eq!(get(&cfg, "engine").unwrap(), "sim");
            assert_eq!(get(&cfg, "install.keepVersions").unwrap(), "3");
            let before = std::fs::read(&path).unwrap();
            let e = set(&path, "network.readTimeot", Some("5s")).unwrap_err();
            assert!(
                e.hints().iter().any(|h| h.contains("network.readTimeout")),
                "{e:?}"
            );
            let e = set(&path, "jobs", Some("many")).unwrap_err();
            assert!(e.message().contains("would not be valid"), "{e}");
            assert_eq!(
                std::fs::read(&path).unwrap(),
                before,
                "a refusal writes nothing"
            );
            assert!(set(&path, "network.readTimeout", None).unwrap());
            assert!(set(&path, "engine", None).unwrap());
            assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), "{}");
            assert!(
                list(&FileConfig::default())
                    .iter()
                    .any(|(k, v)| k == "timeouts.info" && v == "10s")
            );
        }
    }
}

fn read_config_file(path: &Path) -> Result<FileConfig> {
    let text = match crate::fsutil::read_bounded(path, 1024 * 1024) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| {
            Error::new(format!(
                "the config file {} is not UTF-8 text",
                path.display()
            ))
        })?,
        Err(crate::fsutil::ReadError::Missing) => return Ok(FileConfig::default()),
        Err(e) => {
            return Err(
                Error::new(format!("could not read the config file {}", path.display()))
                    .caused_by(e),
            );
        }
    };
    if text.trim().is_empty() {
        return Ok(FileConfig::default());
    }
    crate::protocol::yaml::from_str(&text)
        .map_err(|e| Error::new(format!("invalid config file {}", path.display())).caused_by(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Config {
        Config::from_vars(
            pairs
                .iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v)))
                .collect(),
        )
    }

    #[test]
    fn home_resolution_order() {
        assert_eq!(
            cfg(&[
                ("HOME", "/h"),
                ("XDG_DATA_HOME", "/x"),
                ("KPLUG_HOME", "/k")
            ])
            .home_opt(),
            Some(Path::new("/k"))
        );
        assert_eq!(
            cfg(&[("HOME", "/h"), ("XDG_DATA_HOME", "/x")]).home_opt(),
            Some(Path::new("/x/kplug"))
        );
        assert_eq!(
            cfg(&[("HOME", "/h")]).home_opt(),
            Some(Path::new("/h/.local/share/kplug"))
        );
        assert_eq!(
            cfg(&[("HOME", "/h"), ("XDG_DATA_HOME", "relative")]).home_opt(),
            Some(Path::new("/h/.local/share/kplug"))
        );
        assert!(cfg(&[]).home().is_err());
    }

    #[test]
    fn paths_skip_empty_and_repeated_entries() {
        let c = cfg(&[("PATH", "/a::/b:/a"), ("KPLUG_PLUGIN_PATH", "/p:rel")]);
        assert_eq!(c.path, [PathBuf::from("/a"), PathBuf::from("/b")]);
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(c.plugin_path, [PathBuf::from("/p"), cwd.join("rel")]);
    }

    #[test]
    fn flags() {
        for (value, on) in [
            ("1", true),
            ("yes", true),
            ("0", false),
            ("false", false),
            ("FALSE", false),
            ("", false),
        ] {
            assert_eq!(
                cfg(&[("KPLUG_NO_HOOKS", value)]).flag("KPLUG_NO_HOOKS"),
                on,
                "{value:?}"
            );
        }
        assert!(!cfg(&[]).no_hooks());
    }

    #[test]
    fn depth_and_chain() {
        let c = cfg(&[("KPLUG_DEPTH", "3"), ("KPLUG_CHAIN", "a>b>c")]);
        assert_eq!(c.depth, 3);
        assert_eq!(c.chain, ["a", "b", "c"]);
        assert_eq!(cfg(&[("KPLUG_DEPTH", "x")]).depth, 0);
    }

    #[test]
    fn config_file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("kplug")).unwrap();
        let file = dir.path().join("kplug/config.yaml");
        let c = cfg(&[("XDG_CONFIG_HOME", dir.path().to_str().unwrap())]);
        assert_eq!(c.file().unwrap().timeouts.info.0, Duration::from_secs(10));

        std::fs::write(&file, "timeouts: {info: 2s}\n").unwrap();
        let c = cfg(&[("XDG_CONFIG_HOME", dir.path().to_str().unwrap())]);
        assert_eq!(c.file().unwrap().timeouts.info.0, Duration::from_secs(2));

        std::fs::write(&file, "timeouts: {infoo: 2s}\n").unwrap();
        let c = cfg(&[("XDG_CONFIG_HOME", dir.path().to_str().unwrap())]);
        let e = c.file().unwrap_err().to_string();
        assert!(e.contains("config.yaml") && e.contains("infoo"), "{e}");
    }
}
