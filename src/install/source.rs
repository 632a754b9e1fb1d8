//! What `kplug plugin install SOURCE` can install from.

use crate::error::{Error, Result};
use crate::protocol::{EXECUTABLE_PREFIX, names};
use semver::{Version, VersionReq};
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A release of a GitHub repository.
    GitHub { repo: Repo, spec: Spec },
    /// A file on the web (`--sha256` required).
    Url(String),
    /// A local archive or executable.
    File(PathBuf),
    /// A local directory holding `kplug-<name>`.
    Dir(PathBuf),
}

/// Which release of a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    /// The latest stable release.
    Latest,
    /// The release with this tag (tried as given, then with a `v`).
    Tag(String),
    /// The newest release whose version satisfies this range.
    Req(VersionReq),
}

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

const FORMS: &str = "install from `owner/repo`, `owner/repo@v1.2.3`, `owner/repo@^1.2`, a github.com URL, a local file or directory (`./path`), or a URL with `--sha256`";

fn spec(text: &str) -> Spec {
    let bare = text.strip_prefix('v').unwrap_or(text);
    if Version::parse(bare).is_ok() {
        return Spec::Tag(text.into());
    }
    match VersionReq::parse(text) {
        Ok(req) => Spec::Req(req),
        Err(_) => Spec::Tag(text.into()),
    }
}

/// Parse a SOURCE argument.
pub fn parse(text: &str) -> Result<Source> {
    let text = text.trim();
    if let Some(rest) = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
    {
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        if host.eq_ignore_ascii_case("github.com") || host.eq_ignore_ascii_case("www.github.com") {
            let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
            let repo = match parts.as_slice() {
                [o, n] | [o, n, "releases"] | [o, n, "releases", "latest"] => {
                    Repo::parse(o, n).map(|r| (r, Spec::Latest))
                }
                [o, n, "releases", "tag", tag] => {
                    Repo::parse(o, n).map(|r| (r, Spec::Tag((*tag).into())))
                }
                _ => None,
            };
            return match repo {
                Some((repo, spec)) => Ok(Source::GitHub { repo, spec }),
                None => Err(Error::usage(format!(
                    "cannot install from `{text}`: not a repository or release page"
                ))
                .with_hint(FORMS)),
            };
        }
        return Ok(Source::Url(text.into()));
    }
    let path = Path::new(text);
    let looks_local = text.starts_with('/')
        || text.starts_with("./")
        || text.starts_with("../")
        || text.starts_with("~/");
    if path.exists() {
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        return Ok(if abs.is_dir() {
            Source::Dir(abs)
        } else {
            Source::File(abs)
        });
    }
    if looks_local {
        return Err(Error::usage(format!("no such file or directory: `{text}`")));
    }
    let (repo, version) = match text.split_once('@') {
        Some((r, v)) => (r, Some(v)),
        None => (text, None),
    };
    let parsed = repo.split_once('/').and_then(|(o, n)| Repo::parse(o, n));
    match (parsed, version) {
        (Some(repo), None) => Ok(Source::GitHub {
            repo,
            spec: Spec::Latest,
        }),
        (Some(repo), Some(v)) if !v.trim().is_empty() => Ok(Source::GitHub {
            repo,
            spec: spec(v.trim()),
        }),
        _ => {
            Err(Error::usage(format!("cannot tell what to install from `{text}`")).with_hint(FORMS))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gh(text: &str) -> (String, Spec) {
        match parse(text).unwrap() {
            Source::GitHub { repo, spec } => (repo.to_string(), spec),
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn github_forms() {
        assert_eq!(
            gh("acme/kplug-registry"),
            ("acme/kplug-registry".into(), Spec::Latest)
        );
        assert_eq!(
            gh("acme/kplug-registry@v1.2.3").1,
            Spec::Tag("v1.2.3".into())
        );
        assert_eq!(gh("acme/kplug-registry@1.2.3").1, Spec::Tag("1.2.3".into()));
        assert_eq!(
            gh("acme/kplug-registry@nightly").1,
            Spec::Tag("nightly".into())
        );
        assert_eq!(
            gh("acme/kplug-registry@^1.2").1,
            Spec::Req(VersionReq::parse("^1.2").unwrap())
        );
        assert_eq!(gh("https://github.com/acme/kplug-registry").1, Spec::Latest);
        assert_eq!(
            gh("https://github.com/acme/kplug-registry.git").0,
            "acme/kplug-registry"
        );
        assert_eq!(
            gh("https://github.com/acme/kplug-registry/releases/tag/v2.0.0").1,
            Spec::Tag("v2.0.0".into())
        );
    }

    #[test]
    fn other_forms() {
        assert_eq!(
            parse("https://example.com/x.tar.gz").unwrap(),
            Source::Url("https://example.com/x.tar.gz".into())
        );
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            parse(dir.path().to_str().unwrap()).unwrap(),
            Source::Dir(dir.path().into())
        );
        let file = dir.path().join("kplug-x");
        std::fs::write(&file, "").unwrap();
        assert_eq!(parse(file.to_str().unwrap()).unwrap(), Source::File(file));
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
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
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
    }
}
