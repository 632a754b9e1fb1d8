//! A plugin listed in an inventory (`index` sources): its versions and
//! contracts come from the document, so every requirement is judged before
//! any download, and each artifact is checked against the sha256 the
//! inventory lists for it.

use super::{
    Artifact, Candidate, Content, FetchContext, Planned, Published, Source, Spec, Verification,
};
use crate::error::{Error, Result};
use crate::install::asset::Platform;
use crate::install::download::Fetched;
use crate::install::http::{self, Http};
use crate::install::inventory::{ArtifactEntry, PluginEntry, VersionEntry};
use crate::install::signing::{How, Key, Over, Published as SigPublished};
use crate::install::verify;
use crate::protocol::{CURRENT_PROTOCOL, Info};
use reqwest::Url;
use std::path::PathBuf;

/// Where relative artifact paths are resolved from.
#[derive(Debug, Clone)]
pub enum Base {
    /// The directory of an inventory file.
    Dir(PathBuf),
    /// The URL the inventory was fetched from.
    Url(Url),
    /// A registry holds the inventory: artifact URLs must be absolute.
    Registry,
}

pub struct IndexSource {
    /// The configured source's name.
    source: String,
    /// The inventory's address (path or URL).
    address: String,
    base: Base,
    plugin: String,
    entry: PluginEntry,
    http: Option<Http>,
    /// Keys the source vouches for (its `trust:`, and the publisher key of
    /// an inventory signed by one of them).
    vouched: Vec<(Key, How)>,
    /// The inventory's publisher key, when nothing vouches for it: for
    /// first use only.
    offered: Option<Key>,
}

impl IndexSource {
    pub fn new(
        source: &str,
        address: &str,
        base: Base,
        plugin: &str,
        entry: PluginEntry,
        http: Http,
    ) -> IndexSource {
        IndexSource {
            source: source.to_string(),
            address: address.to_string(),
            base,
            plugin: plugin.to_string(),
            entry,
            http: Some(http),
            vouched: Vec::new(),
            offered: None,
        }
    }

    /// The keys its signatures are checked with.
    pub fn with_keys(mut self, vouched: Vec<(Key, How)>, offered: Option<Key>) -> IndexSource {
        self.vouched = vouched;
        self.offered = offered;
        self
    }

    fn version(&self, c: &Candidate) -> &VersionEntry {
        &self.entry.versions[c.key]
    }

    fn artifact(&self, c: &Candidate, platform: &Platform) -> Result<&ArtifactEntry> {
        let v = self.version(c);
        v.artifact_for(platform).ok_or_else(|| {
            let have: Vec<String> = v
                .artifacts
                .iter()
                .map(|a| format!("{}/{}", a.os, a.arch))
                .collect();
            Error::new(format!(
                "{} {} in source `{}` has no artifact for {}",
                self.plugin,
                v.version,
                self.source,
                platform.describe()
            ))
            .caused_by(if have.is_empty() {
                "it lists no artifacts".to_string()
            } else {
                format!("it has artifacts for {}", have.join(", "))
            })
            .with_hint("ask the inventory's maintainers to publish one for this platform")
        })
    }

    /// Where an artifact's bytes are: a local file, or a URL (checked
    /// again once joined onto the inventory's address).
    fn locate(&self, url: &str) -> Result<Located> {
        let joined = if url.contains("://") {
            Url::parse(url).map_err(|e| {
                Error::new(format!("`{}` is not a URL", http::display_text(url))).caused_by(e)
            })?
        } else {
            match &self.base {
                Base::Dir(dir) => return Ok(Located::File(dir.join(url))),
                Base::Url(base) => base.join(url).map_err(|e| {
                    Error::new(format!("`{}` is not a URL", crate::ui::escape(url))).caused_by(e)
                })?,
                Base::Registry => {
                    return Err(Error::new(format!(
                        "source `{}` lists the artifact `{}` by a relative path, which an inventory in a registry cannot have",
                        self.source,
                        crate::ui::escape(url)
                    ))
                    .with_hint("list artifacts by https URL in an inventory pushed to a registry"));
                }
            }
        };
        crate::install::inventory::check_fetchable(&joined).map_err(|why| {
            Error::new(format!(
                "source `{}`: the artifact URL {} {why}",
                self.source,
                http::display_url(&joined)
            ))
            .with_hint("nothing was downloaded; ask the inventory's maintainers to fix it")
        })?;
        Ok(Located::Url(joined))
    }
}

enum Located {
    File(PathBuf),
    Url(Url),
}

impl Source for IndexSource {
    fn address(&self) -> String {
        self.address.clone()
    }

    fn label(&self) -> String {
        format!("{} in source `{}`", self.plugin, self.source)
    }

    fn plugin_name(&self) -> Option<String> {
        Some(self.plugin.clone())
    }

    fn trusted(&self) -> Vec<(Key, How)> {
        self.vouched.clone()
    }

    fn source_name(&self) -> Option<String> {
        Some(self.source.clone())
    }

    fn lists_offline(&self) -> bool {
        true
    }

    fn contract_origin(&self) -> String {
        "the inventory".into()
    }

    fn versions(&mut self, spec: &Spec) -> Result<Vec<Candidate>> {
        let all: Vec<Candidate> = self
            .entry
            .versions
            .iter()
            .enumerate()
            .map(|(key, v)| Candidate {
                version: Some(v.version.clone()),
                label: v.version.to_string(),
                prerelease: !v.version.pre.is_empty(),
                key,
            })
            .collect();
        if let Spec::Tag(tag) = spec {
            let bare = tag.strip_prefix('v').unwrap_or(tag);
            let one: Vec<Candidate> = all.into_iter().filter(|c| c.label == bare).collect();
            if one.is_empty() {
                return Err(Error::new(format!(
                    "source `{}` has no version {} of {}",
                    self.source,
                    crate::ui::escape(tag),
                    self.plugin
                ))
                .with_hint(format!(
                    "see `kplug plugin search {} --all-versions`",
                    self.plugin
                )));
            }
            return Ok(one);
        }
        Ok(all)
    }

    /// Every version's contract is in the inventory.
    fn contract(&mut self, c: &Candidate) -> Result<Option<Published>> {
        let v = self.version(c);
        Ok(Some(Ok(Info {
            protocols: vec![CURRENT_PROTOCOL],
            name: self.plugin.clone(),
            version: v.version.clone(),
            description: self.entry.description.clone(),
            usage: None,
            hooks: Vec::new(),
            requires: v.requires.clone(),
            conflicts: v.conflicts.clone(),
            warnings: Vec::new(),
        })))
    }

    fn planned(&mut self, c: &Candidate, platform: &Platform) -> Result<Option<Planned>> {
        let Some(a) = self.version(c).artifact_for(platform) else {
            return Ok(None);
        };
        Ok(Some(Planned {
            name: a.file_name().to_string(),
            kind: a.archive,
            sha256: a.sha256.clone(),
            verified: Verification::Inventory,
        }))
    }

    fn fetch(&mut self, c: &Candidate, ctx: &FetchContext<'_>) -> Result<Artifact> {
        let a = self.artifact(c, ctx.platform)?.clone();
        let name = a.file_name().to_string();
        let shown = crate::ui::escape(&name).into_owned();
        // A declared size is a tighter cap than the configured one.
        let max = a.size.map_or(ctx.max_bytes, |s| s.min(ctx.max_bytes));
        let file = match self.locate(&a.url)? {
            Located::File(path) => {
                // Copied into staging first: what is hashed is what is
                // unpacked, whatever happens to the shared file meanwhile.
                let read =
                    |e| Error::new(format!("could not read {}", path.display())).caused_by(e);
                let dest = ctx.dir.join("artifact");
                if !std::fs::metadata(&path).map_err(read)?.is_file() {
                    return Err(Error::new(format!(
                        "{} is not a regular file",
                        path.display()
                    )));
                }
                let _wait = crate::exec::interrupt::abortable("reading an artifact");
                let mut from = std::fs::File::open(&path).map_err(read)?;
                let mut to = std::fs::File::create_new(&dest).map_err(|e| {
                    Error::new(format!("could not create {}", dest.display())).caused_by(e)
                })?;
                let len = std::io::copy(&mut std::io::Read::take(&mut from, max + 1), &mut to)
                    .map_err(read)?;
                if len > max {
                    return Err(Error::new(format!(
                        "{shown} is larger than the inventory says ({} bytes at most); refusing it",
                        max
                    )));
                }
                let sha256 = crate::fsutil::sha256_file(&dest).map_err(read)?;
                Fetched { path: dest, sha256 }
            }
            Located::Url(url) => {
                let http = self.http.as_ref().expect("made with a client");
                let _wait = crate::exec::interrupt::abortable("downloading");
                let resp = http.get(url.clone(), "application/octet-stream")?;
                if !resp.status().is_success() {
                    return Err(Error::new(format!(
                        "downloading {}: the server answered {}",
                        http::display_url(&url),
                        resp.status()
                    )));
                }
                http.save(resp, &ctx.dir.join("artifact"), max, &shown)?
            }
        };
        verify::check_sha(&file, &a.sha256, &name)?;
        Ok(Artifact {
            content: Content::File {
                file,
                kind: a.archive,
            },
            name,
            verified: Verification::Inventory,
            tag: Some(c.label.clone()),
            report: None,
            signed: None,
        })
    }

    /// The artifact entry's `signature`.
    fn signature(&mut self, c: &Candidate, artifact: &Artifact) -> Result<Option<SigPublished>> {
        let Content::File { file, .. } = &artifact.content else {
            return Ok(None);
        };
        let Some(platform) = Platform::host() else {
            return Ok(None);
        };
        let Some(sig) = self.artifact(c, &platform)?.signature.clone() else {
            return Ok(None);
        };
        Ok(Some(SigPublished {
            signature: sig,
            origin: format!(
                "the signature source `{}` lists for {}",
                self.source, artifact.name
            ),
            over: Over::File(file.path.clone()),
            vouched: self.vouched.clone(),
            offered: self.offered.clone(),
        }))
    }
}
