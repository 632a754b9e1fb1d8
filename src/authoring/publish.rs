//! `kplug plugin publish oci://HOST/REPO:VERSION ARCHIVE…`: a plugin
//! version pushed to a registry in the layout installs read (see
//! `install::oci::artifact`).
//!
//! Each archive is hashed and unpacked in a temp directory, its plugin
//! found as an install finds it and its INFO run in a sandbox (as `plugin
//! validate` runs it): the contract comes from there, and its name and
//! version must be the repository's plugin and the tag. An archive for
//! another platform cannot run here; it takes the contract of one that
//! did. Then, per platform, the layer and config blobs are uploaded
//! (skipped when the registry has them), the manifest is pushed by
//! digest, and last the index, under the tag and each `--also-tag`: a
//! version is visible only once all of it is there.

use super::validate::{Declared, sandboxed_info};
use crate::config::Config;
use crate::error::{Context, Error, Result};
use crate::install::asset::{self, Arch, Os};
use crate::install::extract::{self, Limits};
use crate::install::oci::Reference;
use crate::install::oci::artifact::{self as art, ARTIFACT_TYPE, CONFIG_TYPE};
use crate::install::oci::registry::{INDEX, MANIFEST, Registry, digest_of};
use crate::protocol::{EXECUTABLE_PREFIX, Info};
use crate::ui::escape;
use serde_json::json;
use std::path::{Path, PathBuf};

/// Blobs up to this size go up in one request; larger ones in chunks of it.
pub const CHUNK: u64 = 8 * 1024 * 1024;

/// What to publish.
pub struct Publish<'a> {
    /// `oci://HOST/REPO:VERSION`.
    pub reference: &'a str,
    /// Archives whose platform their file names tell.
    pub archives: &'a [PathBuf],
    /// `(os/arch, archive)` given with `--platform`.
    pub platforms: &'a [(String, PathBuf)],
    pub also_tags: &'a [String],
    /// `org.opencontainers.image.source`.
    pub source_url: Option<&'a str>,
}

/// What was pushed.
#[derive(Debug, serde::Serialize)]
pub struct Published {
    pub reference: String,
    pub digest: String,
    pub platforms: Vec<String>,
    /// Blobs the registry had already.
    pub reused: usize,
    pub uploaded: usize,
}

struct Piece {
    path: PathBuf,
    file: String,
    kind: asset::ArchiveKind,
    os: Os,
    arch: Arch,
    sha256: String,
    size: u64,
    info: Option<Info>,
}

fn parse_platform(text: &str) -> Result<(Os, Arch)> {
    let bad = || {
        Error::usage(format!("`{}` is not a platform", escape(text)))
            .with_hint("write it as os/arch, e.g. linux/amd64 or darwin/arm64")
    };
    let (os, arch) = text.split_once('/').ok_or_else(bad)?;
    Ok((
        Os::from_name(os).ok_or_else(bad)?,
        Arch::from_name(arch).ok_or_else(bad)?,
    ))
}

pub fn publish(cfg: &Config, p: &Publish<'_>) -> Result<Published> {
    let reference = Reference::parse(p.reference)?;
    let Some(tag) = reference.tag.clone() else {
        return Err(
            Error::usage(format!("`{}` names no version tag", escape(p.reference)))
                .with_hint(format!("publish to {}:1.2.0", reference.repository())),
        );
    };
    if reference.digest.is_some() {
        return Err(Error::usage("a digest cannot be published to; give a tag"));
    }
    let version = semver::Version::parse(tag.strip_prefix('v').unwrap_or(&tag)).map_err(|_| {
        Error::usage(format!(
            "the tag `{}` is not a semantic version",
            escape(&tag)
        ))
        .with_hint("publish versions as tags like 1.2.0 (and `--also-tag latest` if you want one)")
    })?;
    for t in p.also_tags {
        if !crate::install::oci::reference::is_tag(t) {
            return Err(Error::usage(format!("`{}` is not a tag", escape(t))));
        }
    }
    let name = reference.plugin_name().to_string();
    if crate::protocol::names::validate(&name).is_err() {
        return Err(Error::usage(format!(
            "the repository {} does not end in a plugin name",
            reference.repository()
        )));
    }
    if p.archives.is_empty() && p.platforms.is_empty() {
        return Err(Error::usage(
            "nothing to publish: give the release archives",
        ));
    }
    let mut pieces = Vec::new();
    for path in p.archives {
        pieces.push(read(cfg, path, None, &name)?);
    }
    for (plat, path) in p.platforms {
        pieces.push(read(cfg, path, Some(parse_platform(plat)?), &name)?);
    }
    for (i, a) in pieces.iter().enumerate() {
        if let Some(b) = pieces[..i]
            .iter()
            .find(|b| b.os == a.os && b.arch == a.arch)
        {
            return Err(Error::usage(format!(
                "{} and {} are both for {}/{}",
                escape(&b.file),
                escape(&a.file),
                a.os.inventory_name(),
                a.arch.inventory_name()
            ))
            .with_hint("pass one archive per platform"));
        }
    }
    // One contract for the version: from an archive that ran here.
    let Some(info) = pieces.iter().find_map(|p| p.info.clone()) else {
        return Err(Error::new(
            "none of the archives runs on this machine, so the plugin's contract could not be read",
        )
        .with_hint("publish from a machine one of them runs on (its INFO gives the contract)"));
    };
    if info.name != name {
        return Err(Error::usage(format!(
            "the plugin is `{}`, but the repository {} is for `{name}`",
            escape(&info.name),
            reference.repository()
        ))
        .with_hint(format!(
            "publish it to a repository ending in /{}",
            info.name
        )));
    }
    if info.version != version {
        return Err(Error::usage(format!(
            "the plugin says it is version {}, but the tag is {}",
            info.version,
            escape(&tag)
        ))
        .with_hint(format!(
            "publish it as {}:{}",
            reference.repository(),
            info.version
        )));
    }
    for piece in &pieces {
        if let Some(other) = &piece.info
            && (other.name != info.name || other.version != info.version)
        {
            return Err(Error::usage(format!(
                "{} holds {} {}, not {} {}",
                escape(&piece.file),
                escape(&other.name),
                other.version,
                info.name,
                info.version
            )));
        }
    }

    let reg = Registry::new(cfg, &reference)?;
    let repo = &reference.repo;
    let scratch = tempfile::tempdir().context("could not make a temp directory")?;
    let (mut reused, mut uploaded) = (0, 0);
    let mut entries = Vec::new();
    let mut count = |pushed: bool| {
        if pushed {
            uploaded += 1;
        } else {
            reused += 1;
        }
    };
    for piece in &pieces {
        let (os, arch) = (piece.os.inventory_name(), piece.arch.inventory_name());
        let layer_digest = format!("sha256:{}", piece.sha256);
        count(reg.push_blob(repo, &layer_digest, &piece.path, piece.size, CHUNK)?);
        let config = serde_json::to_vec(&art::contract_of(&info, os, arch)).expect("JSON");
        let config_digest = digest_of("sha256", &config);
        let config_file = scratch.path().join(format!("config-{os}-{arch}.json"));
        std::fs::write(&config_file, &config).context("could not write a temp file")?;
        count(reg.push_blob(
            repo,
            &config_digest,
            &config_file,
            config.len() as u64,
            CHUNK,
        )?);
        let mut annotations = serde_json::Map::new();
        annotations.insert(
            art::VERSION_ANNOTATION.into(),
            info.version.to_string().into(),
        );
        annotations.insert(
            art::PLATFORM_ANNOTATION.into(),
            format!("{os}/{arch}").into(),
        );
        if !info.description.is_empty() {
            annotations.insert(
                art::DESCRIPTION_ANNOTATION.into(),
                info.description.clone().into(),
            );
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "artifactType": ARTIFACT_TYPE,
            "config": {"mediaType": CONFIG_TYPE, "digest": config_digest, "size": config.len()},
            "layers": [{
                "mediaType": art::layer_type(piece.kind),
                "digest": layer_digest,
                "size": piece.size,
                "annotations": {"org.opencontainers.image.title": piece.file},
            }],
            "annotations": annotations,
        });
        let bytes = serde_json::to_vec(&manifest).expect("JSON");
        let digest = digest_of("sha256", &bytes);
        reg.push_manifest(repo, &digest, MANIFEST, &bytes)?;
        entries.push((
            json!({
                "mediaType": MANIFEST,
                "artifactType": ARTIFACT_TYPE,
                "digest": digest,
                "size": bytes.len(),
                "platform": {"os": os, "architecture": arch},
            }),
            format!("{os}/{arch}"),
        ));
    }
    let mut annotations = serde_json::Map::new();
    annotations.insert(
        art::VERSION_ANNOTATION.into(),
        info.version.to_string().into(),
    );
    if !info.description.is_empty() {
        annotations.insert(
            art::DESCRIPTION_ANNOTATION.into(),
            info.description.clone().into(),
        );
    }
    if let Some(src) = p.source_url {
        annotations.insert(art::SOURCE_ANNOTATION.into(), src.into());
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": INDEX,
        "artifactType": ARTIFACT_TYPE,
        "manifests": entries.iter().map(|(e, _)| e.clone()).collect::<Vec<_>>(),
        "annotations": annotations,
    });
    let bytes = serde_json::to_vec(&index).expect("JSON");
    let digest = reg.push_manifest(repo, &tag, INDEX, &bytes)?;
    for t in p.also_tags {
        reg.push_manifest(repo, t, INDEX, &bytes)?;
    }
    Ok(Published {
        reference: reference.to_string(),
        digest,
        platforms: entries.into_iter().map(|(_, p)| p).collect(),
        reused,
        uploaded,
    })
}

/// Hash, unpack and ask one archive.
fn read(cfg: &Config, path: &Path, platform: Option<(Os, Arch)>, name: &str) -> Result<Piece> {
    let shown = escape(&path.display().to_string()).into_owned();
    let file = path
        .file_name()
        .and_then(|f| f.to_str())
        .ok_or_else(|| Error::usage(format!("{shown} has no file name")))?
        .to_string();
    let meta = std::fs::metadata(path).with_context(|| format!("could not read {shown}"))?;
    if !meta.is_file() {
        return Err(Error::usage(format!("{shown} is not a file")));
    }
    let kind = asset::archive_kind(&file).unwrap_or(asset::ArchiveKind::Binary);
    let sha256 =
        crate::fsutil::sha256_file(path).with_context(|| format!("could not read {shown}"))?;
    let size = std::fs::metadata(path)
        .map(|m| m.len())
        .unwrap_or(meta.len());
    let (os, arch) = match platform {
        Some(p) => p,
        None => asset::platform_of(&file, name).ok_or_else(|| {
            Error::usage(format!(
                "cannot tell from the file name {} which OS and architecture it is for",
                escape(&file)
            ))
            .with_hint(format!(
                "name it like kplug-{name}_1.2.0_linux_amd64.tar.gz, or say it: --platform linux/amd64={shown}"
            ))
        })?,
    };
    let dir = tempfile::tempdir().context("could not make a temp directory")?;
    extract::extract(path, kind, &file, dir.path(), Limits::of(cfg)?)?;
    let exe = extract::find_plugin(dir.path(), Some(name))
        .or_else(|_| extract::find_plugin(dir.path(), None))?;
    let info = match sandboxed_info(cfg, &exe)? {
        Declared::Info(i) => Some(*i),
        Declared::Foreign => {
            let exe_name = exe.file_name().and_then(|f| f.to_str()).unwrap_or_default();
            if exe_name.strip_prefix(EXECUTABLE_PREFIX) != Some(name) {
                return Err(Error::usage(format!(
                    "{shown} does not run here and its executable is not named `kplug-{name}`"
                )));
            }
            None
        }
        Declared::Failed(why) => {
            return Err(
                Error::new(format!("{shown}: the plugin inside does not answer INFO"))
                    .caused_by(why)
                    .with_hint("check it with `kplug plugin validate` on the unpacked executable"),
            );
        }
    };
    Ok(Piece {
        path: path.to_path_buf(),
        file,
        kind,
        os,
        arch,
        sha256,
        size,
        info,
    })
}
