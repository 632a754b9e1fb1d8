//! `kplug plugin inventory build`: an inventory document made from release
//! archives, so a team can host its own source.
//!
//! Each archive is hashed, unpacked in a temp directory, and its plugin
//! executable found with the same rules as an install. Its INFO, run in a
//! sandbox as `plugin validate` runs it, gives the name, version,
//! description and contract. An archive for another OS or architecture
//! cannot run here: its name comes from the executable's file name and its
//! version from the archive's file name, and it takes the contract of an
//! archive of the same version that did run. The platform is read from the
//! archive's file name with the asset rules of an install; the URL is the
//! base URL and the file name.
//!
//! The result is checked with the same parser a source's document gets
//! before it is written, so what is built is what kplug will read.

use super::validate::{Declared, sandboxed_info};
use crate::config::Config;
use crate::error::{Context, Error, Result};
use crate::install::asset;
use crate::install::extract::{self, Limits};
use crate::install::inventory::{self, ArtifactEntry, Inventory, PluginEntry, VersionEntry};
use crate::protocol::{EXECUTABLE_PREFIX, Requires, names};
use crate::ui::escape;
use semver::Version;
use std::path::Path;

/// What one archive turned out to be.
struct Read1 {
    name: String,
    version: Version,
    /// From its INFO, when it ran here.
    declared: Option<(String, Requires, Vec<String>)>,
    artifact: ArtifactEntry,
    file: String,
}

/// Build an inventory of `archives`, whose artifacts will be served under
/// `base_url`, added to `existing` (from `--merge`). Returns it and what
/// the caller should be warned about.
pub fn build(
    cfg: &Config,
    archives: &[std::path::PathBuf],
    base_url: &str,
    existing: Option<Inventory>,
    signer: Option<&crate::install::signing::SigningKey>,
) -> Result<(Inventory, Vec<String>)> {
    let base = check_base(base_url)?;
    let mut warnings = Vec::new();
    let mut read = Vec::new();
    for path in archives {
        if crate::exec::cancelled() {
            return Err(Error::new("interrupted; nothing was written")
                .with_code(crate::exec::interrupt::EXIT_INTERRUPTED));
        }
        let mut r = read_archive(cfg, path, &base)?;
        if let Some(signer) = signer {
            let f = std::fs::File::open(path).map_err(|e| {
                Error::new(format!("could not read {}", path.display())).caused_by(e)
            })?;
            r.artifact.signature = Some(signer.sign(f, &r.file)?);
        }
        read.push(r);
    }
    let mut built = Inventory::default();
    for r in &read {
        let entry: &mut PluginEntry = built.plugins.entry(r.name.clone()).or_default();
        let version = match entry
            .versions
            .iter_mut()
            .position(|v| v.version == r.version)
        {
            Some(i) => &mut entry.versions[i],
            None => {
                entry.versions.push(VersionEntry {
                    version: r.version.clone(),
                    requires: Requires::default(),
                    conflicts: Vec::new(),
                    artifacts: Vec::new(),
                });
                entry.versions.last_mut().expect("just pushed")
            }
        };
        if let Some(twin) = version
            .artifacts
            .iter()
            .find(|a| a.os == r.artifact.os && a.arch == r.artifact.arch)
        {
            return Err(Error::usage(format!(
                "{} {} has two archives for {}/{}: {} and {}",
                r.name,
                r.version,
                r.artifact.os,
                r.artifact.arch,
                escape(twin.file_name()),
                escape(&r.file)
            ))
            .with_hint("pass one archive per platform"));
        }
        version.artifacts.push(r.artifact.clone());
    }
    // The contract of each version: from an archive of it that ran here.
    for (name, entry) in &mut built.plugins {
        for v in &mut entry.versions {
            let ran = read
                .iter()
                .filter(|r| &r.name == name && r.version == v.version)
                .find_map(|r| r.declared.as_ref());
            match ran {
                Some((description, requires, conflicts)) => {
                    if entry.description.is_empty() {
                        entry.description.clone_from(description);
                    }
                    v.requires = requires.clone();
                    v.conflicts.clone_from(conflicts);
                }
                None => warnings.push(format!(
                    "no archive of {name} {} runs on this machine, so its requirements and description could not be read; build on a machine one of them runs on to include them",
                    v.version
                )),
            }
            v.artifacts
                .sort_by(|a, b| (&a.os, &a.arch).cmp(&(&b.os, &b.arch)));
        }
        entry.versions.sort_by(|a, b| b.version.cmp(&a.version));
    }
    let mut inv = match existing {
        Some(mut old) => {
            inventory::merge(&mut old, built);
            old
        }
        None => built,
    };
    if let Some(signer) = signer {
        inv.public_key = Some(signer.key.base64.clone());
    }
    // What is written must read back as a valid inventory.
    inventory::parse(inventory::to_yaml(&inv).as_bytes()).map_err(|p| {
        Error::new(format!("the inventory built is not valid: {p}"))
            .with_hint("check the archives and --base-url")
    })?;
    Ok((inv, warnings))
}

/// `--base-url`, without a trailing `/`: https, http on a loopback
/// address, or a path (relative to where the inventory will live).
fn check_base(base: &str) -> Result<String> {
    let trimmed = base.trim_end_matches('/');
    let probe = format!("{trimmed}/a.tar.gz");
    let doc = format!(
        "apiVersion: {}\nkind: {}\nplugins:\n  a:\n    versions:\n      - version: 1.0.0\n        artifacts:\n          - {{os: linux, arch: amd64, sha256: {}, archive: tar.gz, url: {}}}\n",
        inventory::API_VERSION,
        inventory::KIND,
        "0".repeat(64),
        serde_json::to_string(&probe).unwrap_or_default()
    );
    if trimmed.is_empty() {
        return Err(Error::usage("`--base-url` is empty").with_hint(
            "give the URL the archives will be served from, e.g. https://example.com/plugins",
        ));
    }
    inventory::parse(doc.as_bytes()).map_err(|p| {
        Error::usage(format!("`--base-url {}` {}", escape(base), p.problem))
            .with_hint("artifacts are fetched over https, or over http from a loopback address")
    })?;
    Ok(trimmed.to_string())
}

fn read_archive(cfg: &Config, path: &Path, base: &str) -> Result<Read1> {
    let shown = escape(&path.display().to_string()).into_owned();
    let file = path
        .file_name()
        .and_then(|f| f.to_str())
        .filter(|f| !f.is_empty() && !f.contains(['?', '#', '%', ' ']))
        .ok_or_else(|| {
            Error::usage(format!("{shown}: its file name cannot be part of a URL"))
                .with_hint("rename it to plain letters, digits, `.`, `_` and `-`")
        })?
        .to_string();
    let kind = asset::archive_kind(&file).ok_or_else(|| {
        Error::usage(format!("{shown} is not an archive kplug installs"))
            .with_hint("pass .tar.gz, .tgz or .zip archives, or executables")
    })?;
    let (sha256, size) = hash(path).with_context(|| format!("could not read {shown}"))?;
    let dir = tempfile::tempdir().context("could not make a temp directory")?;
    extract::extract(path, kind, &file, dir.path(), Limits::of(cfg)?)?;
    let exe = extract::find_plugin(dir.path(), None)?;
    let exe_name = exe
        .file_name()
        .and_then(|f| f.to_str())
        .and_then(|f| f.strip_prefix(EXECUTABLE_PREFIX))
        .map(str::to_string);
    let (name, version, declared) = match sandboxed_info(cfg, &exe)? {
        Declared::Info(info) => {
            let i = *info;
            let declared = (i.description, i.requires, i.conflicts);
            (i.name, i.version, Some(declared))
        }
        Declared::Foreign => {
            let name = exe_name
                .filter(|n| names::validate(n).is_ok())
                .ok_or_else(|| {
                    Error::usage(format!(
                        "{shown} does not run here and its executable is not named `kplug-<name>`"
                    ))
                    .with_hint("name the executable inside the archive `kplug-<name>`")
                })?;
            let version = version_in(&file).ok_or_else(|| {
                Error::usage(format!(
                    "{shown} does not run here and its file name holds no version"
                ))
                .with_hint(format!(
                    "name it like kplug-{name}_1.2.0_linux_amd64.tar.gz"
                ))
            })?;
            (name, version, None)
        }
        Declared::Failed(why) => {
            return Err(
                Error::new(format!("{shown}: the plugin inside does not answer INFO"))
                    .caused_by(why)
                    .with_hint("check it with `kplug plugin validate` on the unpacked executable"),
            );
        }
    };
    let (os, arch) = asset::platform_of(&file, &name).ok_or_else(|| {
        Error::usage(format!(
            "cannot tell from the file name {} which OS and architecture it is for",
            escape(&file)
        ))
        .with_hint(format!(
            "name it like kplug-{name}_{version}_linux_amd64.tar.gz (see docs/sources.md)"
        ))
    })?;
    Ok(Read1 {
        artifact: ArtifactEntry {
            os: os.inventory_name().to_string(),
            arch: arch.inventory_name().to_string(),
            url: format!("{base}/{file}"),
            sha256,
            size: Some(size),
            archive: kind,
            signature: None,
        },
        name,
        version,
        declared,
        file,
    })
}

fn hash(path: &Path) -> std::io::Result<(String, u64)> {
    let size = std::fs::metadata(path)?.len();
    Ok((crate::fsutil::sha256_file(path)?, size))
}

/// The first `MAJOR.MINOR.PATCH` (a `v` before it allowed) among the `_`
/// and `-` separated words of a file name.
fn version_in(file: &str) -> Option<Version> {
    file.split(['_', '-'])
        .filter_map(|w| {
            let w = w.strip_prefix('v').unwrap_or(w);
            // `1.2.0.tar.gz`: the version is the first three numbers.
            let parts: Vec<&str> = w.splitn(4, '.').collect();
            (parts.len() >= 3).then(|| parts[..3].join("."))
        })
        .find_map(|w| Version::parse(&w).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_in_file_names() {
        let v = |s: &str| version_in(s).map(|v| v.to_string());
        assert_eq!(
            v("kplug-x_1.2.0_linux_amd64.tar.gz").as_deref(),
            Some("1.2.0")
        );
        assert_eq!(
            v("kplug-x-v0.3.10-darwin-arm64.zip").as_deref(),
            Some("0.3.10")
        );
        assert_eq!(
            v("kplug-x_linux_amd64_1.0.0.tar.gz").as_deref(),
            Some("1.0.0")
        );
        assert_eq!(v("kplug-x_linux_amd64.tar.gz"), None);
        assert_eq!(v("kplug-x_1.2_linux.tar.gz"), None);
    }

    #[test]
    fn base_urls() {
        assert_eq!(check_base("https://e.com/p/").unwrap(), "https://e.com/p");
        assert_eq!(
            check_base("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(check_base("plugins").unwrap(), "plugins");
        let e = check_base("http://example.com/p").unwrap_err().to_string();
        assert!(e.contains("--base-url") && e.contains("http"), "{e}");
        assert!(check_base("ftp://e.com").is_err());
        assert!(check_base("/").is_err());
    }
}
