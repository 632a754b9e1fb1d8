//! kplug's plugin artifact in a registry, read and written.
//!
//! A version is an OCI image index whose manifests are one per platform
//! (`platform.os`, `platform.architecture`). Each manifest has
//! `artifactType: application/vnd.kplug.plugin.v1+json`, a config blob of
//! type `application/vnd.kplug.plugin.config.v1+json` holding the plugin's
//! contract (its INFO fields), and exactly one layer: the release archive
//! (`application/vnd.oci.image.layer.v1.tar+gzip` or `application/zip`)
//! or the executable (`application/vnd.kplug.plugin.binary`). A single
//! manifest without an index is accepted when it says it is for this
//! platform (its config's `os` and `architecture`, or the annotation
//! `dev.kplug.platform: os/arch`).

use crate::install::asset::{Arch, ArchiveKind, Os, Platform};
use crate::protocol::{CURRENT_PROTOCOL, Info};
use crate::ui::escape;
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use std::collections::HashMap;

pub const ARTIFACT_TYPE: &str = "application/vnd.kplug.plugin.v1+json";
pub const CONFIG_TYPE: &str = "application/vnd.kplug.plugin.config.v1+json";
pub const LAYER_TAR_GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const LAYER_ZIP: &str = "application/zip";
pub const LAYER_BINARY: &str = "application/vnd.kplug.plugin.binary";
/// The layer of an inventory pushed as an artifact.
pub const INVENTORY_TYPE: &str = "application/vnd.kplug.inventory.v1+yaml";
pub const PLATFORM_ANNOTATION: &str = "dev.kplug.platform";
pub const VERSION_ANNOTATION: &str = "org.opencontainers.image.version";
pub const DESCRIPTION_ANNOTATION: &str = "org.opencontainers.image.description";
pub const SOURCE_ANNOTATION: &str = "org.opencontainers.image.source";
/// Largest contract (config blob) read.
pub const MAX_CONFIG: u64 = 1024 * 1024;

/// The artifact type of a signature manifest, tagged `sha256-<hex>.sig`
/// beside what it signs (the tag convention cosign uses, for registries
/// without the referrers API).
pub const SIGNATURE_TYPE: &str = "application/vnd.kplug.signature.v1";
/// Its one layer: a minisign signature (`.minisig` text) of the signed
/// manifest's digest, as text (`sha256:<hex>`).
pub const LAYER_MINISIG: &str = "application/vnd.kplug.minisign.signature";
/// The public key of the signer, for trust on first use.
pub const PUBLIC_KEY_ANNOTATION: &str = "dev.kplug.minisign.publicKey";
/// The empty JSON config (`{}`) of the OCI image spec.
pub const EMPTY_CONFIG_TYPE: &str = "application/vnd.oci.empty.v1+json";

/// The tag of the signature of `digest` (`sha256:<hex>` → `sha256-<hex>.sig`).
pub fn signature_tag(digest: &str) -> String {
    format!("{}.sig", digest.replacen(':', "-", 1))
}

/// The signature pushed beside `digest` in `repo`, if any: its `.minisig`
/// text and the public key its annotation names. A tag that is there but
/// unusable (no signature layer, a missing blob) is an error, never "not
/// signed".
pub fn signature_of(
    reg: &super::registry::Registry,
    repo: &str,
    digest: &str,
    what: &str,
) -> crate::error::Result<Option<(String, Option<String>)>> {
    use crate::error::Error;
    let tag = signature_tag(digest);
    let Some(m) = reg.manifest_if_any(repo, &tag, &[super::registry::MANIFEST])? else {
        return Ok(None);
    };
    let unusable = |why: String| {
        Error::new(format!(
            "the signature of {what} (the tag {tag}) cannot be used: {why}"
        ))
        .with_hint("its publisher can push it again with `kplug plugin publish --sign-key`; nothing was installed")
    };
    let manifest = parse_manifest(&m.bytes).map_err(unusable)?;
    let layer = manifest
        .layers()
        .iter()
        .find(|l| l.media_type().to_string() == LAYER_MINISIG)
        .ok_or_else(|| unusable("it holds no minisign signature layer".into()))?;
    let bytes = reg
        .small_blob(
            repo,
            layer.digest().as_ref(),
            layer.size(),
            crate::install::signing::MAX_SIGNATURE,
        )
        .map_err(|e| {
            e.context(format!(
                "the signature of {what} (the tag {tag}) cannot be read"
            ))
            .with_hint("its publisher can push it again with `kplug plugin publish --sign-key`; nothing was installed")
        })?;
    let key = manifest
        .annotations()
        .as_ref()
        .and_then(|a| a.get(PUBLIC_KEY_ANNOTATION))
        .cloned();
    Ok(Some((String::from_utf8_lossy(&bytes).into_owned(), key)))
}

/// The archive kind of a layer media type.
pub fn layer_kind(media_type: &str) -> Option<ArchiveKind> {
    match media_type {
        LAYER_TAR_GZ | "application/vnd.oci.image.layer.v1.tar+gzip+kplug" => {
            Some(ArchiveKind::TarGz)
        }
        LAYER_ZIP => Some(ArchiveKind::Zip),
        LAYER_BINARY => Some(ArchiveKind::Binary),
        _ => None,
    }
}

pub fn layer_type(kind: ArchiveKind) -> &'static str {
    match kind {
        ArchiveKind::Zip => LAYER_ZIP,
        ArchiveKind::Binary => LAYER_BINARY,
        _ => LAYER_TAR_GZ,
    }
}

/// Whether `os`/`arch` as a registry spells them are this platform.
fn is_host(os: &str, arch: &str, platform: &Platform) -> bool {
    Os::from_name(os) == Some(platform.os) && Arch::from_name(arch) == Some(platform.arch)
}

/// Parse an index, with what is wrong as text.
pub fn parse_index(bytes: &[u8]) -> Result<ImageIndex, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("it is not a valid OCI image index: {e}"))
}

pub fn parse_manifest(bytes: &[u8]) -> Result<ImageManifest, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("it is not a valid OCI image manifest: {e}"))
}

/// The manifest of `index` for `platform`, or the platforms it has.
pub fn for_platform<'i>(
    index: &'i ImageIndex,
    platform: &Platform,
) -> Result<&'i Descriptor, String> {
    if let Some(d) = index.manifests().iter().find(|d| {
        d.platform()
            .as_ref()
            .is_some_and(|p| is_host(&p.os().to_string(), &p.architecture().to_string(), platform))
    }) {
        return Ok(d);
    }
    let have: Vec<String> = index
        .manifests()
        .iter()
        .filter_map(|d| d.platform().as_ref())
        .map(|p| format!("{}/{}", p.os(), p.architecture()))
        .collect();
    Err(if have.is_empty() {
        format!(
            "it has no manifest for {} (its manifests name no platform)",
            platform.describe()
        )
    } else {
        format!(
            "it has no manifest for {}; it has {}",
            platform.describe(),
            escape(&have.join(", "))
        )
    })
}

/// What a plugin manifest holds: its contract's and its layer's
/// descriptors.
#[derive(Debug, Clone)]
pub struct Parts {
    pub config: Descriptor,
    pub layer: Descriptor,
    pub kind: ArchiveKind,
    pub annotations: HashMap<String, String>,
}

/// Check that `manifest` is a kplug plugin: its artifact type (or config
/// media type) and one layer of a known kind.
pub fn parts(manifest: &ImageManifest) -> Result<Parts, String> {
    let config = manifest.config().clone();
    let config_type = config.media_type().to_string();
    let artifact_type = manifest.artifact_type().as_ref().map(ToString::to_string);
    if config_type != CONFIG_TYPE {
        return Err(format!(
            "its config is a `{}`, not a kplug contract (`{CONFIG_TYPE}`)",
            escape(&config_type)
        ));
    }
    if let Some(t) = &artifact_type
        && t != ARTIFACT_TYPE
    {
        return Err(format!(
            "its artifactType is `{}`, not `{ARTIFACT_TYPE}`",
            escape(t)
        ));
    }
    let [layer] = manifest.layers().as_slice() else {
        return Err(format!(
            "it has {} layers; a kplug plugin has exactly one",
            manifest.layers().len()
        ));
    };
    let media = layer.media_type().to_string();
    let kind = layer_kind(&media).ok_or_else(|| {
        format!(
            "its layer is a `{}`; kplug reads {LAYER_TAR_GZ}, {LAYER_ZIP} or {LAYER_BINARY}",
            escape(&media)
        )
    })?;
    Ok(Parts {
        config,
        layer: layer.clone(),
        kind,
        annotations: manifest.annotations().clone().unwrap_or_default(),
    })
}

/// Whether a single manifest (no index) says it is for `platform`: its
/// platform annotation, else its config's `os`/`architecture`. `None`
/// when it says nothing.
pub fn single_is_for(
    parts: &Parts,
    config: &serde_json::Value,
    platform: &Platform,
) -> Option<bool> {
    if let Some(p) = parts.annotations.get(PLATFORM_ANNOTATION) {
        let (os, arch) = p.split_once('/')?;
        return Some(is_host(os, arch, platform));
    }
    let os = config.get("os")?.as_str()?;
    let arch = config.get("architecture")?.as_str()?;
    Some(is_host(os, arch, platform))
}

/// The contract a config blob holds, as an INFO document; `name` must be
/// the repository's plugin.
pub fn contract(bytes: &[u8], name: &str) -> Result<(Info, serde_json::Value), String> {
    let mut value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("the contract is not JSON: {e}"))?;
    let obj = value
        .as_object_mut()
        .ok_or("the contract is not a JSON object")?;
    // The INFO fields; `protocols` may be left out of a contract.
    obj.entry("protocols")
        .or_insert_with(|| serde_json::json!([CURRENT_PROTOCOL]));
    let text = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
    let info = Info::parse(&text).map_err(|e| format!("the contract is not valid: {e}"))?;
    if info.name != name {
        return Err(format!(
            "the contract is for the plugin `{}`, but the repository is for `{name}`",
            escape(&info.name)
        ));
    }
    Ok((info, value))
}

/// The config blob `plugin publish` writes: INFO's contract fields, and
/// the platform.
pub fn contract_of(info: &Info, os: &str, arch: &str) -> serde_json::Value {
    let mut v = serde_json::json!({
        "protocols": info.protocols,
        "name": info.name,
        "version": info.version.to_string(),
        "os": os,
        "architecture": arch,
    });
    let o = v.as_object_mut().expect("an object");
    if !info.description.is_empty() {
        o.insert("description".into(), info.description.clone().into());
    }
    if !info.requires.is_empty()
        && let Ok(r) = serde_json::to_value(&info.requires)
    {
        o.insert("requires".into(), r);
    }
    if !info.conflicts.is_empty() {
        o.insert("conflicts".into(), info.conflicts.clone().into());
    }
    if !info.hooks.is_empty()
        && let Ok(h) = serde_json::to_value(&info.hooks)
    {
        o.insert("hooks".into(), h);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform() -> Platform {
        Platform {
            os: Os::Linux,
            arch: Arch::X86_64,
            musl: false,
        }
    }

    #[test]
    fn picks_the_platform_or_lists_what_there_is() {
        let d = format!("sha256:{}", "a".repeat(64));
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
              {{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{d}","size":10,"platform":{{"os":"darwin","architecture":"arm64"}}}},
              {{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{d}","size":11,"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#
        );
        let idx = parse_index(index.as_bytes()).unwrap();
        assert_eq!(for_platform(&idx, &platform()).unwrap().size(), 11);
        let other = Platform {
            os: Os::Windows,
            ..platform()
        };
        let e = for_platform(&idx, &other).unwrap_err();
        assert!(e.contains("darwin/arm64, linux/amd64"), "{e}");
    }

    #[test]
    fn manifests_must_be_kplug_plugins() {
        let d = format!("sha256:{}", "b".repeat(64));
        let m = |config: &str, layers: &str| {
            format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"{ARTIFACT_TYPE}","config":{{"mediaType":"{config}","digest":"{d}","size":2}},"layers":[{layers}]}}"#
            )
        };
        let layer = format!(r#"{{"mediaType":"{LAYER_TAR_GZ}","digest":"{d}","size":5}}"#);
        let ok = parse_manifest(m(CONFIG_TYPE, &layer).as_bytes()).unwrap();
        assert_eq!(parts(&ok).unwrap().kind, ArchiveKind::TarGz);
        let e = parts(
            &parse_manifest(m("application/vnd.oci.image.config.v1+json", &layer).as_bytes())
                .unwrap(),
        )
        .unwrap_err();
        assert!(e.contains("not a kplug contract"), "{e}");
        let e =
            parts(&parse_manifest(m(CONFIG_TYPE, &format!("{layer},{layer}")).as_bytes()).unwrap())
                .unwrap_err();
        assert!(e.contains("2 layers"), "{e}");
        let odd = format!(r#"{{"mediaType":"text/plain","digest":"{d}","size":5}}"#);
        assert!(parts(&parse_manifest(m(CONFIG_TYPE, &odd).as_bytes()).unwrap()).is_err());
    }

    #[test]
    fn contracts_name_the_plugin() {
        let (info, _) = contract(
            br#"{"name":"registry","version":"1.2.0","requires":{"kplug":">=0.1"}}"#,
            "registry",
        )
        .unwrap();
        assert_eq!(info.version.to_string(), "1.2.0");
        assert!(
            contract(br#"{"name":"other","version":"1.2.0"}"#, "registry")
                .unwrap_err()
                .contains("`other`")
        );
        assert!(contract(b"[1,2]", "registry").is_err());
        assert!(contract(br#"{"name":"registry","version":"one"}"#, "registry").is_err());
    }
}
