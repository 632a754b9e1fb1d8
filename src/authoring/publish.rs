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
    /// Replace a tag that holds other content.
    pub force: bool,
    /// A minisign secret key to sign the version with.
    pub sign_key: Option<&'a Path>,
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
    /// The signature pushed, with `--sign-key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<SignaturePushed>,
}

/// A signature pushed beside a version.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignaturePushed {
    pub tag: String,
    pub key_id: String,
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
        // Another version's tag would make a version whose tag and
        // contract disagree.
        if semver::Version::parse(t.strip_prefix('v').unwrap_or(t)).is_ok_and(|v| v != version) {
            return Err(Error::usage(format!(
                "`--also-tag {}` is another version's tag",
                escape(t)
            ))
            .with_hint("also-tags are names like `latest` or `stable`"));
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

    // Everything is laid out before anything is sent: the index digest
    // decides whether the tag may be (re)written.
    struct Planned<'p> {
        piece: &'p Piece,
        layer_digest: String,
        config: Vec<u8>,
        config_digest: String,
        manifest: Vec<u8>,
        digest: String,
        platform: String,
    }
    let mut plan = Vec::new();
    for piece in &pieces {
        let (os, arch) = (piece.os.inventory_name(), piece.arch.inventory_name());
        let layer_digest = format!("sha256:{}", piece.sha256);
        let config = serde_json::to_vec(&art::contract_of(&info, os, arch)).expect("JSON");
        let config_digest = digest_of("sha256", &config);
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
        let manifest = serde_json::to_vec(&json!({
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
        }))
        .expect("JSON");
        plan.push(Planned {
            piece,
            digest: digest_of("sha256", &manifest),
            layer_digest,
            config,
            config_digest,
            manifest,
            platform: format!("{os}/{arch}"),
        });
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
    let manifests: Vec<serde_json::Value> = plan
        .iter()
        .map(|m| {
            let (os, arch) = m.platform.split_once('/').unwrap_or_default();
            json!({
                "mediaType": MANIFEST,
                "artifactType": ARTIFACT_TYPE,
                "digest": m.digest,
                "size": m.manifest.len(),
                "platform": {"os": os, "architecture": arch},
            })
        })
        .collect();
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": INDEX,
        "artifactType": ARTIFACT_TYPE,
        "manifests": manifests,
        "annotations": annotations,
    }))
    .expect("JSON");
    let index_digest = digest_of("sha256", &index);

    // The key is opened before anything is sent: a wrong password pushes
    // nothing.
    let signer = match p.sign_key {
        Some(path) => Some(crate::install::signing::load_secret(cfg, path)?),
        None => None,
    };
    let reg = Registry::new(cfg, &reference)?;
    let repo = &reference.repo;
    // A published version never changes: a tag holding other content is
    // refused (installers refuse a release whose bytes changed).
    if let Some(existing) = reg.manifest_digest(repo, &tag)?
        && existing != index_digest
        && !p.force
    {
        return Err(Error::new(format!(
            "{} is already published with other content ({existing})",
            escape(p.reference)
        ))
        .with_hint("publish a new version; `--force` replaces it, and installs of the old content will refuse the new")
        .with_hint("nothing was pushed"));
    }
    let scratch = tempfile::tempdir().context("could not make a temp directory")?;
    let (mut reused, mut uploaded) = (0, 0);
    for m in &plan {
        let piece = m.piece;
        let pushed = reg.push_blob(repo, &m.layer_digest, &piece.path, piece.size, CHUNK)?;
        let config_file = scratch.path().join("config.json");
        std::fs::write(&config_file, &m.config).context("could not write a temp file")?;
        let pushed_config = reg.push_blob(
            repo,
            &m.config_digest,
            &config_file,
            m.config.len() as u64,
            CHUNK,
        )?;
        for p in [pushed, pushed_config] {
            if p {
                uploaded += 1;
            } else {
                reused += 1;
            }
        }
        reg.push_manifest(repo, &m.digest, MANIFEST, &m.manifest)?;
    }
    let digest = reg.push_manifest(repo, &tag, INDEX, &index)?;
    for t in p.also_tags {
        reg.push_manifest(repo, t, INDEX, &index).map_err(|e| {
            e.context(format!(
                "{} was published ({digest}), but the tag `{}` could not be set",
                escape(p.reference),
                escape(t)
            ))
            .with_hint("publishing again is safe: what the registry has is not sent twice")
        })?;
    }
    let signature = match &signer {
        Some(signer) => Some(push_signature(&reg, repo, &digest, signer, scratch.path())?),
        None => None,
    };
    Ok(Published {
        reference: reference.to_string(),
        digest,
        platforms: plan.into_iter().map(|m| m.platform).collect(),
        reused,
        uploaded,
        signature,
    })
}

/// Sign `digest` (the text `sha256:<hex>`) and push the signature manifest
/// under `sha256-<hex>.sig`: an empty config, one layer holding the
/// `.minisig`, the public key as an annotation.
fn push_signature(
    reg: &Registry,
    repo: &str,
    digest: &str,
    signer: &crate::install::signing::SigningKey,
    scratch: &Path,
) -> Result<SignaturePushed> {
    let tag = art::signature_tag(digest);
    let text = signer.sign(digest.as_bytes(), digest)?;
    let key = &signer.key;
    let sig_file = scratch.join("signature.minisig");
    let empty_file = scratch.join("empty.json");
    std::fs::write(&sig_file, &text).context("could not write a temp file")?;
    std::fs::write(&empty_file, b"{}").context("could not write a temp file")?;
    let sig_digest = digest_of("sha256", text.as_bytes());
    let empty_digest = digest_of("sha256", b"{}");
    reg.push_blob(repo, &sig_digest, &sig_file, text.len() as u64, CHUNK)?;
    reg.push_blob(repo, &empty_digest, &empty_file, 2, CHUNK)?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "artifactType": art::SIGNATURE_TYPE,
        "config": {"mediaType": art::EMPTY_CONFIG_TYPE, "digest": empty_digest, "size": 2},
        "layers": [{
            "mediaType": art::LAYER_MINISIG,
            "digest": sig_digest,
            "size": text.len(),
        }],
        "annotations": {art::PUBLIC_KEY_ANNOTATION: &key.base64},
    }))
    .expect("JSON");
    reg.push_manifest(repo, &tag, MANIFEST, &manifest)
        .map_err(|e| {
            e.context(format!(
                "{digest} was published, but its signature could not be pushed"
            ))
            .with_hint("publishing again signs it again: what the registry has is not sent twice")
        })?;
    Ok(SignaturePushed {
        tag,
        key_id: key.id.clone(),
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
