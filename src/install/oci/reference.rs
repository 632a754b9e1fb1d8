//! `oci://HOST[:PORT]/REPO[:TAG|@DIGEST]`: parsed and checked, so that no
//! part of a reference a user or a document gives can become anything but
//! the path segments of a registry URL.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::ui::escape;
use reqwest::Url;

pub const SCHEME: &str = "oci://";

/// A repository on a registry, and optionally one tag or digest of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host` or `host:port`, as docker's config names registries.
    pub host: String,
    /// `team/kplug/registry`.
    pub repo: String,
    pub tag: Option<String>,
    /// `sha256:<hex>` (or `sha512:<hex>`).
    pub digest: Option<String>,
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{SCHEME}{}/{}", self.host, self.repo)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn bad(text: &str, why: &str) -> Error {
    Error::usage(format!("`{}` is not an OCI reference: {why}", escape(text))).with_hint(
        "write oci://HOST[:PORT]/REPOSITORY[:TAG|@sha256:DIGEST], e.g. oci://registry.example.com/kplug/registry:1.2.0",
    )
}

/// A repository path: lowercase components of letters and digits joined
/// by `.`, `_`, `__` or dashes, separated by `/` (the distribution spec's
/// grammar), at most 255 characters.
pub fn is_repository(repo: &str) -> bool {
    !repo.is_empty()
        && repo.len() <= 255
        && repo.split('/').all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_lowercase() | b[0].is_ascii_digit()
                && b[b.len() - 1].is_ascii_lowercase() | b[b.len() - 1].is_ascii_digit()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(c))
                && !c.contains("..")
                && !c.contains("___")
        })
}

/// A tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn is_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(c))
}

/// A digest kplug can verify: `sha256:` and 64, or `sha512:` and 128,
/// lowercase hex digits.
pub fn is_digest(d: &str) -> bool {
    let hex = |h: &str, n: usize| {
        h.len() == n
            && h.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    };
    match d.split_once(':') {
        Some(("sha256", h)) => hex(h, 64),
        Some(("sha512", h)) => hex(h, 128),
        _ => false,
    }
}

fn is_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) if !n.ends_with(']') || host.starts_with('[') => (n, Some(p)),
        _ => (host, None),
    };
    let name_ok = if let Some(inner) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        inner.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.parse::<u16>().is_ok_and(|n| n > 0));
    name_ok && port_ok
}

impl Reference {
    /// Parse `oci://HOST[:PORT]/REPO[:TAG][@DIGEST]`.
    pub fn parse(text: &str) -> Result<Reference> {
        let rest = text
            .strip_prefix(SCHEME)
            .ok_or_else(|| bad(text, "it does not start with oci://"))?;
        if text.len() > 1024 || text.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(bad(
                text,
                "it is too long or holds spaces or control characters",
            ));
        }
        let (host, path) = rest
            .split_once('/')
            .ok_or_else(|| bad(text, "it names no repository after the host"))?;
        let host = host.to_ascii_lowercase();
        if !is_host(&host) {
            return Err(bad(
                text,
                "the host is not a host name, an address or host:port",
            ));
        }
        let (path, digest) = match path.split_once('@') {
            Some((p, d)) => (p, Some(d.to_string())),
            None => (path, None),
        };
        if let Some(d) = &digest
            && !is_digest(d)
        {
            return Err(bad(
                text,
                "the digest is not sha256:<64 hex digits> (or sha512:<128>)",
            ));
        }
        // A tag follows the last `:` after the last `/`.
        let last = path.rsplit('/').next().unwrap_or_default();
        let (repo, tag) = match last.rsplit_once(':') {
            Some((_, t)) => (&path[..path.len() - t.len() - 1], Some(t.to_string())),
            None => (path, None),
        };
        if !is_repository(repo) {
            return Err(bad(
                text,
                "the repository must be lowercase letters, digits, `.`, `_`, `-`, separated by `/`",
            ));
        }
        if let Some(t) = &tag
            && !is_tag(t)
        {
            return Err(bad(
                text,
                "the tag must be letters, digits, `.`, `_` and `-` (at most 128)",
            ));
        }
        Ok(Reference {
            host,
            repo: repo.to_string(),
            tag,
            digest,
        })
    }

    /// The same repository without a tag or digest.
    pub fn repository(&self) -> Reference {
        Reference {
            tag: None,
            digest: None,
            ..self.clone()
        }
    }

    /// The last component of the repository: what names the plugin
    /// (`kplug-` before it is dropped).
    pub fn plugin_name(&self) -> &str {
        let last = self.repo.rsplit('/').next().unwrap_or(&self.repo);
        last.strip_prefix(crate::protocol::EXECUTABLE_PREFIX)
            .unwrap_or(last)
    }

    /// A repository `NAME` under this one (an `oci` source's prefix).
    pub fn child(&self, name: &str) -> Reference {
        Reference {
            repo: format!("{}/{name}", self.repo),
            ..self.repository()
        }
    }

    /// Whether plain http may be used: a loopback host, or one listed in
    /// `install.insecureRegistries`.
    pub fn insecure(&self, cfg: &Config) -> bool {
        let name = self
            .host
            .rsplit_once(':')
            .filter(|(n, _)| !n.is_empty() && !self.host.ends_with(']'))
            .map_or(self.host.as_str(), |(n, _)| n);
        crate::install::inventory::is_loopback_host(name)
            || cfg.file().is_ok_and(|f| {
                f.install
                    .insecure_registries
                    .iter()
                    .any(|h| h.eq_ignore_ascii_case(&self.host) || h.eq_ignore_ascii_case(name))
            })
    }

    /// `https://HOST/` (or `http://` when [`Reference::insecure`]).
    pub fn base(&self, cfg: &Config) -> Result<Url> {
        let scheme = if self.insecure(cfg) { "http" } else { "https" };
        Url::parse(&format!("{scheme}://{}/", self.host)).map_err(|e| {
            Error::usage(format!("`{}` is not a usable host", escape(&self.host))).caused_by(e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references() {
        let r = Reference::parse("oci://127.0.0.1:5000/team/kplug/registry:1.2.0").unwrap();
        assert_eq!(r.host, "127.0.0.1:5000");
        assert_eq!(r.repo, "team/kplug/registry");
        assert_eq!(r.tag.as_deref(), Some("1.2.0"));
        assert_eq!(r.plugin_name(), "registry");
        assert_eq!(
            r.to_string(),
            "oci://127.0.0.1:5000/team/kplug/registry:1.2.0"
        );
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("oci://ghcr.io/acme/kplug-lint@{d}")).unwrap();
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        assert_eq!(r.tag, None);
        assert_eq!(r.plugin_name(), "lint");
        let r = Reference::parse("oci://Registry.Example.com/a").unwrap();
        assert_eq!(r.host, "registry.example.com");
        assert_eq!(r.child("x").repo, "a/x");
    }

    #[test]
    fn refuses_what_could_escape_a_url_path() {
        for bad in [
            "oci://host",
            "oci://host/",
            "oci://host/../etc",
            "oci://host/a//b",
            "oci://host/UPPER",
            "oci://host/a:b:c",
            "oci://host/a:-x",
            "oci://host/a@sha256:abc",
            "oci://host/a@md5:0123",
            "oci://host/a b",
            "oci://host/a?x=1",
            "oci://host/a#f",
            "oci://host/a%2f..",
            "oci://ho st/a",
            "oci://host:99999/a",
            "oci://user@host/a",
            "https://host/a",
            "oci://host/a\u{1b}[2J",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_registries_may_be_plain_http() {
        let cfg = Config::from_vars(vec![]);
        assert!(
            Reference::parse("oci://127.0.0.1:5000/a")
                .unwrap()
                .insecure(&cfg)
        );
        assert!(
            Reference::parse("oci://localhost/a")
                .unwrap()
                .insecure(&cfg)
        );
        assert!(
            !Reference::parse("oci://example.com/a")
                .unwrap()
                .insecure(&cfg)
        );
        assert_eq!(
            Reference::parse("oci://example.com:8443/a")
                .unwrap()
                .base(&cfg)
                .unwrap()
                .as_str(),
            "https://example.com:8443/"
        );
    }
}
