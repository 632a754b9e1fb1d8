//! A plugin in an OCI registry: `oci://HOST/REPO[:TAG|@DIGEST]`, or a
//! plugin NAME of an `oci` source (`<prefix>/<NAME>`).
//!
//! Versions are the repository's semver tags. A version's contract is its
//! config blob, read before the layer: a version refused by it never
//! downloads its layer. The layer's sha256 is its digest (a sha512 layer is
//! verified as it streams and cached by the sha256 computed meanwhile).

use super::{
    Artifact, Candidate, Content, FetchContext, Planned, Published, Source, Spec, Verification,
};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::install::asset::{ArchiveKind, Platform};
use crate::install::oci::artifact::{self, Parts};
use crate::install::oci::reference::Reference;
use crate::install::oci::registry::{Blob, INDEX, MANIFEST, Registry};
use crate::install::signing::{How, Key, Over};
use crate::protocol::Info;
use crate::ui::escape;
use semver::Version;
use std::collections::HashMap;

pub struct OciSource {
    /// The repository (no tag or digest).
    repo: Reference,
    /// Asked for by digest: the one version there is.
    digest: Option<String>,
    registry: std::result::Result<Registry, Error>,
    configured: Option<String>,
    /// The keys the configured source trusts.
    trust: Vec<(Key, How)>,
    /// Candidates' tags (or the digest), by key.
    labels: Vec<String>,
    /// What each candidate resolved to for this platform.
    resolved: HashMap<usize, Resolved>,
}

struct Resolved {
    parts: Parts,
    contract: std::result::Result<Info, String>,
    /// The digest of what the tag or digest names (the index, or a single
    /// manifest): what a signature covers.
    top: String,
}

fn semver_tag(tag: &str) -> Option<Version> {
    Version::parse(tag.strip_prefix('v').unwrap_or(tag)).ok()
}

impl OciSource {
    /// The source for `reference` (its tag or digest, if any, is what the
    /// returned spec asks for).
    pub fn new(cfg: &Config, reference: &Reference) -> (OciSource, Spec) {
        let spec = match (&reference.digest, &reference.tag) {
            (Some(d), _) => Spec::Tag(d.clone()),
            (None, Some(t)) => Spec::Tag(t.clone()),
            (None, None) => Spec::Latest,
        };
        let src = OciSource {
            repo: reference.repository(),
            digest: reference.digest.clone(),
            registry: Registry::new(cfg, reference),
            configured: None,
            trust: Vec::new(),
            labels: Vec::new(),
            resolved: HashMap::new(),
        };
        (src, spec)
    }

    /// The same, found through the configured source `name`.
    pub fn configured(mut self, name: &str) -> OciSource {
        self.configured = Some(name.to_string());
        self
    }

    /// Its plugins must be signed by one of `keys`.
    pub fn trusting(mut self, keys: Vec<(Key, How)>) -> OciSource {
        self.trust = keys;
        self
    }

    fn registry(&self) -> Result<&Registry> {
        self.registry.as_ref().map_err(Clone::clone)
    }

    fn what(&self, label: &str) -> String {
        if label.contains(':') {
            format!("{}@{label}", self.repo)
        } else {
            format!("{}:{label}", self.repo)
        }
    }

    /// The manifest of `label` for this platform, its parts and contract.
    fn resolve(&mut self, c: &Candidate) -> Result<&Resolved> {
        if !self.resolved.contains_key(&c.key) {
            let r = self.resolve_uncached(&c.label)?;
            self.resolved.insert(c.key, r);
        }
        Ok(&self.resolved[&c.key])
    }

    fn resolve_uncached(&self, label: &str) -> Result<Resolved> {
        let reg = self.registry()?;
        let what = escape(&self.what(label)).into_owned();
        let platform = Platform::host().ok_or_else(|| {
            Error::new(
                "kplug cannot pick a registry manifest for this operating system or architecture",
            )
        })?;
        let repo = &self.repo.repo;
        let top = reg.manifest(repo, label, &[INDEX, MANIFEST])?;
        let top_digest = top.digest.clone();
        let (manifest, single) = if top.media_type == INDEX {
            let index = artifact::parse_index(&top.bytes)
                .map_err(|why| Error::new(format!("{what}: {why}")))?;
            let d = artifact::for_platform(&index, &platform).map_err(|why| {
                Error::new(format!("{what}: {why}"))
                    .with_hint("ask its publisher for a build for this platform (`kplug plugin publish` with an archive for it)")
            })?;
            let digest = d.digest().to_string();
            (
                reg.manifest_sized(repo, &digest, &[MANIFEST], Some(d.size()))?,
                false,
            )
        } else {
            (top, true)
        };
        let parsed = artifact::parse_manifest(&manifest.bytes)
            .map_err(|why| Error::new(format!("{what}: {why}")))?;
        let parts = artifact::parts(&parsed).map_err(|why| {
            Error::new(format!("{what} is not a kplug plugin: {why}")).with_hint(
                "push plugins with `kplug plugin publish` (docs/sources.md describes the layout)",
            )
        })?;
        let config = reg.small_blob(
            repo,
            parts.config.digest().as_ref(),
            parts.config.size(),
            artifact::MAX_CONFIG,
        )?;
        let contract = artifact::contract(&config, self.repo.plugin_name());
        if single
            && let Ok((_, value)) = &contract
            && artifact::single_is_for(&parts, value, &platform) != Some(true)
        {
            return Err(Error::new(format!(
                "{what} is a single manifest that does not say it is for {}",
                platform.describe()
            ))
            .with_hint(
                "publish an image index with one manifest per platform (`kplug plugin publish`)",
            ));
        }
        Ok(Resolved {
            parts,
            contract: contract.map(|(info, _)| info),
            top: top_digest,
        })
    }

    /// The artifact's name in receipts and messages: the plugin, version
    /// and platform, with the layer's kind as extension.
    fn artifact_name(&self, c: &Candidate, kind: ArchiveKind) -> String {
        let ext = match kind {
            ArchiveKind::Zip => ".zip",
            ArchiveKind::Binary => "",
            _ => ".tar.gz",
        };
        let platform = Platform::host()
            .map(|p| format!("_{}_{}", p.os.inventory_name(), p.arch.inventory_name()))
            .unwrap_or_default();
        format!(
            "kplug-{}_{}{platform}{ext}",
            self.repo.plugin_name(),
            c.shown()
        )
    }
}

impl Source for OciSource {
    fn address(&self) -> String {
        self.repo.to_string()
    }

    fn label(&self) -> String {
        match &self.configured {
            Some(s) => format!("{} in source `{s}`", self.repo.plugin_name()),
            None => self.repo.to_string(),
        }
    }

    fn plugin_name(&self) -> Option<String> {
        Some(self.repo.plugin_name().to_string())
    }

    fn source_name(&self) -> Option<String> {
        self.configured.clone()
    }

    fn contract_origin(&self) -> String {
        "its contract (the manifest's config blob)".into()
    }

    fn versions(&mut self, spec: &Spec) -> Result<Vec<Candidate>> {
        if let Some(d) = self.digest.clone() {
            self.labels = vec![d.clone()];
            let c = Candidate {
                version: None,
                label: d,
                prerelease: false,
                key: 0,
            };
            // The version a digest holds is its contract's.
            let what = escape(&self.what(&c.label)).into_owned();
            let version = match &self.resolve(&c)?.contract {
                Ok(info) => info.version.clone(),
                Err(why) => {
                    return Err(
                        Error::new(format!("{what} is not a usable kplug plugin")).caused_by(why)
                    );
                }
            };
            return Ok(vec![Candidate {
                prerelease: !version.pre.is_empty(),
                version: Some(version),
                ..c
            }]);
        }
        if let Spec::Tag(t) = spec {
            let Some(v) = semver_tag(t) else {
                return Err(Error::usage(format!(
                    "the tag `{}` of {} is not a semantic version",
                    escape(t),
                    self.repo
                ))
                .with_hint("install a version tag like 1.2.0, a range, or a digest (@sha256:…)"));
            };
            self.labels = vec![t.clone()];
            return Ok(vec![Candidate {
                prerelease: !v.pre.is_empty(),
                version: Some(v),
                label: t.clone(),
                key: 0,
            }]);
        }
        let tags = self.registry()?.tags(&self.repo.repo)?;
        let mut versioned: Vec<(Version, String)> = tags
            .into_iter()
            .filter_map(|t| semver_tag(&t).map(|v| (v, t)))
            .collect();
        versioned.sort_by(|a, b| b.0.cmp(&a.0));
        self.labels = versioned.iter().map(|(_, t)| t.clone()).collect();
        Ok(versioned
            .into_iter()
            .enumerate()
            .map(|(key, (v, t))| Candidate {
                prerelease: !v.pre.is_empty(),
                version: Some(v),
                label: t,
                key,
            })
            .collect())
    }

    fn contract(&mut self, c: &Candidate) -> Result<Option<Published>> {
        let r = self.resolve(c)?;
        let published: Published = match &r.contract {
            Ok(info) => {
                if let Some(v) = &c.version
                    && info.version != *v
                {
                    Err(format!(
                        "the tag says {v} but the contract says {}",
                        info.version
                    ))
                } else {
                    Ok(info.clone())
                }
            }
            Err(why) => Err(why.clone()),
        };
        Ok(Some(published))
    }

    fn planned(&mut self, c: &Candidate, _platform: &Platform) -> Result<Option<Planned>> {
        let name = {
            let r = self.resolve(c)?;
            let digest = r.parts.layer.digest().to_string();
            let kind = r.parts.kind;
            (digest, kind)
        };
        let (digest, kind) = name;
        let Some(sha256) = digest.strip_prefix("sha256:").map(str::to_string) else {
            return Ok(None);
        };
        Ok(Some(Planned {
            name: self.artifact_name(c, kind),
            kind,
            sha256,
            verified: Verification::OciDigest,
        }))
    }

    fn fetch(&mut self, c: &Candidate, ctx: &FetchContext<'_>) -> Result<Artifact> {
        let (digest, size, kind) = {
            let r = self.resolve(c)?;
            (
                r.parts.layer.digest().to_string(),
                r.parts.layer.size(),
                r.parts.kind,
            )
        };
        let name = self.artifact_name(c, kind);
        let file = self.registry()?.blob_to_file(
            Blob {
                repo: &self.repo.repo,
                digest: &digest,
                size,
            },
            ctx.max_bytes,
            &ctx.dir.join("artifact"),
            &escape(&name),
        )?;
        Ok(Artifact {
            content: Content::File { file, kind },
            name,
            verified: Verification::OciDigest,
            tag: Some(c.label.clone()),
            report: None,
            signed: None,
        })
    }

    /// The signature manifest tagged `sha256-<hex>.sig` beside the index:
    /// its layer is the minisign signature of the index digest, its
    /// annotation the signer's public key (for first use).
    fn signature(
        &mut self,
        c: &Candidate,
        _artifact: &Artifact,
    ) -> Result<Option<crate::install::signing::Published>> {
        let top = self.resolve(c)?.top.clone();
        let what = format!("{} {}", self.repo.plugin_name(), c.shown());
        let reg = self.registry()?;
        let Some((signature, key)) = artifact::signature_of(reg, &self.repo.repo, &top, &what)?
        else {
            return Ok(None);
        };
        Ok(Some(crate::install::signing::Published {
            signature,
            origin: format!(
                "the signature {}",
                self.what(&artifact::signature_tag(&top))
            ),
            over: Over::Text(top),
            vouched: self.trust.clone(),
            offered: key.as_deref().and_then(|k| Key::parse(k).ok()),
        }))
    }

    fn trusted(&self) -> Vec<(Key, How)> {
        self.trust.clone()
    }
}
