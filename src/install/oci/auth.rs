//! Registry credentials, found as docker finds them, and the challenges a
//! registry answers 401 with.
//!
//! In order: `KPLUG_REGISTRY_USERNAME` / `KPLUG_REGISTRY_PASSWORD` for the
//! one host `KPLUG_REGISTRY_HOST` (`--registry-host`) names; then
//! `$DOCKER_CONFIG/config.json` (else `~/.docker/config.json`): a
//! `credHelpers` entry for the host, else `auths.<host>.auth` (base64 of
//! `user:password`), else the `credsStore` helper. A helper is the program
//! `docker-credential-<name>`, asked with `get` and the host on stdin.
//!
//! A credential belongs to one host: it is only ever sent there. It is
//! never printed (errors name the host and where the credential came
//! from, not the credential).

use crate::config::{Config, vars};
use crate::error::{Error, Result};
use crate::ui::escape;
use base64::Engine as _;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

/// A user name and password (or token) for one registry host.
#[derive(Clone)]
pub struct Basic {
    pub username: String,
    pub password: String,
    /// Where it came from, for messages: `KPLUG_REGISTRY_PASSWORD`,
    /// `~/.docker/config.json`, `docker-credential-pass`.
    pub from: String,
}

impl std::fmt::Debug for Basic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Basic({} from {})", self.username, self.from)
    }
}

impl Basic {
    pub fn header(&self) -> String {
        let pair = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: HashMap<String, String>,
    #[serde(default)]
    creds_store: Option<String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// `https://host/v1/`, `http://host`, `host/` → `host`: how docker's
/// `auths` keys are compared.
fn normalise(key: &str) -> String {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or_default().to_ascii_lowercase()
}

fn docker_config_path(cfg: &Config) -> Option<PathBuf> {
    if let Some(dir) = cfg.var(vars::DOCKER_CONFIG).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    cfg.var("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

/// The credential for `host`, if one is configured.
pub fn credential(cfg: &Config, host: &str) -> Result<Option<Basic>> {
    let var = |k: &str| cfg.var(k).and_then(|v| v.to_str()).map(str::to_string);
    if let (Some(h), Some(user), Some(pass)) = (
        var(vars::REGISTRY_HOST),
        var(vars::REGISTRY_USERNAME),
        var(vars::REGISTRY_PASSWORD),
    ) && normalise(&h) == host
    {
        return Ok(Some(Basic {
            username: user,
            password: pass,
            from: "KPLUG_REGISTRY_USERNAME/KPLUG_REGISTRY_PASSWORD".into(),
        }));
    }
    let Some(path) = docker_config_path(cfg) else {
        return Ok(None);
    };
    let shown = path.display().to_string();
    let bytes = match crate::fsutil::read_bounded(&path, 1024 * 1024) {
        Ok(b) => b,
        Err(crate::fsutil::ReadError::Missing) => return Ok(None),
        Err(e) => {
            return Err(
                Error::new(format!("could not read the docker config {shown}")).caused_by(e),
            );
        }
    };
    let conf: DockerConfig = serde_json::from_slice(&bytes).map_err(|e| {
        Error::new(format!("the docker config {shown} is not valid JSON"))
            .caused_by(e)
            .with_hint("fix it, or point DOCKER_CONFIG at another directory")
    })?;
    if let Some((_, helper)) = conf.cred_helpers.iter().find(|(k, _)| normalise(k) == host) {
        return helper_get(cfg, helper, host);
    }
    if let Some((_, entry)) = conf.auths.iter().find(|(k, _)| normalise(k) == host) {
        if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
            return Ok(Some(Basic {
                username: u.clone(),
                password: p.clone(),
                from: shown,
            }));
        }
        if let Some(auth) = &entry.auth {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            let Some((u, p)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
                return Err(Error::new(format!(
                    "the credential for {} in {shown} is not base64 of `user:password`",
                    escape(host)
                ))
                .with_hint(format!("log in again: docker login {}", escape(host))));
            };
            return Ok(Some(Basic {
                username: u.to_string(),
                password: p.to_string(),
                from: shown,
            }));
        }
    }
    if let Some(store) = &conf.creds_store {
        return helper_get(cfg, store, host);
    }
    Ok(None)
}

/// Ask `docker-credential-<helper> get` for `host`'s credential.
fn helper_get(cfg: &Config, helper: &str, host: &str) -> Result<Option<Basic>> {
    if helper.is_empty()
        || helper.len() > 64
        || !helper
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(Error::new(format!(
            "the docker config names the credential helper `{}`, which is not a program name",
            escape(helper)
        )));
    }
    let program = format!("docker-credential-{helper}");
    let path_var = cfg.var("PATH").map(PathBuf::from);
    let found = path_var
        .as_ref()
        .and_then(|p| which::which_in(&program, Some(p), "/").ok());
    let Some(exe) = found else {
        return Err(Error::new(format!(
            "the docker config asks `{program}` for the credential of {}, and it is not on PATH",
            escape(host)
        ))
        .with_hint(format!(
            "install {program}, or remove it from the docker config"
        )));
    };
    let env: Vec<(std::ffi::OsString, std::ffi::OsString)> = [
        "PATH",
        "HOME",
        "DOCKER_CONFIG",
        "XDG_RUNTIME_DIR",
        "DBUS_SESSION_BUS_ADDRESS",
        "GNUPGHOME",
        "PASSWORD_STORE_DIR",
    ]
    .iter()
    .filter_map(|k| cfg.var(k).map(|v| ((*k).into(), v.to_os_string())))
    .collect();
    let outcome = crate::exec::run(crate::exec::Spawn {
        program: exe,
        args: vec!["get".into()],
        env,
        cwd: None,
        stdin: Some(host.as_bytes().to_vec()),
        timeout: Duration::from_secs(30),
        stdout_limit: 64 * 1024,
        kill_on_stdout_overflow: true,
        stderr_tail: 4096,
        stderr_prefix: None,
    })
    .map_err(|e| Error::new(format!("could not run {program}")).caused_by(e))?;
    if outcome.termination != crate::exec::Termination::Exited(0) {
        // "credentials not found" is no credential; anything else is the
        // helper failing, which the user needs to see.
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&outcome.stdout),
            String::from_utf8_lossy(&outcome.stderr_tail)
        );
        if said.to_ascii_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        return Err(Error::new(format!(
            "{program} failed to give the credential of {}",
            escape(host)
        ))
        .caused_by(escape(outcome.stderr_summary(3).trim()).into_owned())
        .with_hint(format!(
            "run `echo {} | {program} get` to see why",
            escape(host)
        )));
    }
    #[derive(Deserialize)]
    struct Answer {
        #[serde(rename = "Username")]
        username: String,
        #[serde(rename = "Secret")]
        secret: String,
    }
    let a: Answer = serde_json::from_slice(&outcome.stdout).map_err(|_| {
        Error::new(format!(
            "{program} answered something that is not a credential"
        ))
    })?;
    Ok(Some(Basic {
        username: a.username,
        password: a.secret,
        from: program,
    }))
}

/// What a 401 asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parse a `WWW-Authenticate` value: `Basic realm="…"` or
/// `Bearer realm="…",service="…",scope="…"`.
pub fn parse_challenge(value: &str) -> Option<Challenge> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params: HashMap<String, String> = HashMap::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let (key, after) = s.split_once('=')?;
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (val, tail) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (q[..end].to_string(), &q[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        params.insert(key, val);
        s = tail.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge::Bearer {
        realm: params.remove("realm")?,
        service: params.remove("service"),
        scope: params.remove("scope"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(
            parse_challenge("Basic realm=\"Registry\""),
            Some(Challenge::Basic)
        );
        assert_eq!(
            parse_challenge(
                "Bearer realm=\"https://auth.example.com/token\",service=\"registry.example.com\",scope=\"repository:a/b:pull,push\""
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example.com/token".into(),
                service: Some("registry.example.com".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        assert_eq!(parse_challenge("Bearer service=\"x\""), None, "no realm");
        assert_eq!(parse_challenge("Negotiate abc"), None);
        assert_eq!(parse_challenge("Bearer realm=\"unterminated"), None);
    }

    #[test]
    fn docker_config_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let auth = base64::engine::general_purpose::STANDARD.encode("ada:s3cret");
        std::fs::write(
            dir.path().join("config.json"),
            format!(r#"{{"auths": {{"https://127.0.0.1:5000/v1/": {{"auth": "{auth}"}}, "bad.example": {{"auth": "!!"}}}}}}"#),
        )
        .unwrap();
        let cfg = Config::from_vars(vec![("DOCKER_CONFIG".into(), dir.path().into())]);
        let c = credential(&cfg, "127.0.0.1:5000").unwrap().unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("ada", "s3cret")
        );
        assert!(
            !format!("{c:?}").contains("s3cret"),
            "Debug hides the password"
        );
        assert!(credential(&cfg, "other.example").unwrap().is_none());
        let e = credential(&cfg, "bad.example").unwrap_err().to_string();
        assert!(e.contains("not base64"), "{e}");
        // The environment wins, for its one host only.
        let cfg = Config::from_vars(vec![
            ("DOCKER_CONFIG".into(), dir.path().into()),
            ("KPLUG_REGISTRY_HOST".into(), "127.0.0.1:5000".into()),
            ("KPLUG_REGISTRY_USERNAME".into(), "bot".into()),
            ("KPLUG_REGISTRY_PASSWORD".into(), "tok".into()),
        ]);
        assert_eq!(
            credential(&cfg, "127.0.0.1:5000")
                .unwrap()
                .unwrap()
                .username,
            "bot"
        );
        assert!(credential(&cfg, "other.example").unwrap().is_none());
    }
}
