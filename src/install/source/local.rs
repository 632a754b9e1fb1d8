//! A local archive, executable or plugin directory: taken as it is, the
//! file hashed for the receipt, the directory copied within the unpack
//! limits.

use super::{Artifact, Content, FetchContext, Published, Source, Verification};
use super::{Candidate, Spec};
use crate::error::{Error, Result};
use crate::install::asset;
use crate::install::asset::ArchiveKind;
use crate::install::download::Fetched;
use std::path::{Path, PathBuf};

/// The one candidate of a source without versions.
fn single(label: String) -> Vec<Candidate> {
    vec![Candidate {
        version: None,
        label,
        prerelease: false,
        key: 0,
    }]
}

pub struct LocalFile {
    path: PathBuf,
    name: String,
}

impl LocalFile {
    pub fn new(path: PathBuf) -> Result<LocalFile> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::usage(format!("`{}` has no usable file name", path.display())))?
            .to_string();
        Ok(LocalFile { path, name })
    }
}

impl Source for LocalFile {
    fn address(&self) -> String {
        self.path.display().to_string()
    }

    fn plugin_name(&self) -> Option<String> {
        None
    }

    fn has_versions(&self) -> bool {
        false
    }

    fn is_remote(&self) -> bool {
        false
    }

    fn versions(&mut self, _: &Spec) -> Result<Vec<Candidate>> {
        Ok(single(self.name.clone()))
    }

    fn contract(&mut self, _: &Candidate) -> Result<Option<Published>> {
        Ok(None)
    }

    fn fetch(&mut self, _: &Candidate, _ctx: &FetchContext<'_>) -> Result<Artifact> {
        let read = |e| Error::new(format!("could not read {}", self.path.display())).caused_by(e);
        let sha256 = crate::fsutil::sha256_file(&self.path).map_err(read)?;
        Ok(Artifact {
            content: Content::File {
                file: Fetched {
                    path: self.path.clone(),
                    sha256,
                },
                kind: asset::archive_kind(&self.name).unwrap_or(ArchiveKind::Binary),
            },
            name: self.name.clone(),
            verified: Verification::LocalFile,
            tag: None,
            report: None,
            signed: None,
        })
    }
}

pub struct LocalDir {
    path: PathBuf,
}

impl LocalDir {
    pub fn new(path: PathBuf) -> LocalDir {
        LocalDir { path }
    }
}

impl Source for LocalDir {
    fn address(&self) -> String {
        self.path.display().to_string()
    }

    fn plugin_name(&self) -> Option<String> {
        None
    }

    fn has_versions(&self) -> bool {
        false
    }

    fn is_remote(&self) -> bool {
        false
    }

    fn versions(&mut self, _: &Spec) -> Result<Vec<Candidate>> {
        let label = self
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("dir")
            .to_string();
        Ok(single(label))
    }

    fn contract(&mut self, _: &Candidate) -> Result<Option<Published>> {
        Ok(None)
    }

    /// Copied into the staging directory, then treated as an already
    /// unpacked release.
    fn fetch(&mut self, c: &Candidate, ctx: &FetchContext<'_>) -> Result<Artifact> {
        let limits = crate::install::extract::Limits::of(ctx.cfg)?;
        let copy = ctx.dir.join("tree");
        let mut budget = (limits.max_bytes, limits.max_entries);
        copy_tree(&self.path, &copy, &mut budget, 0).map_err(|e| {
            Error::new(format!("could not copy {}", self.path.display()))
                .caused_by(e)
                .with_hint(
                    "a plugin directory must stay within install.maxUnpackedMib and install.maxEntries",
                )
        })?;
        Ok(Artifact {
            content: Content::Tree(copy),
            name: c.label.clone(),
            verified: Verification::LocalDir,
            tag: None,
            report: None,
            signed: None,
        })
    }
}

/// Deepest directory nesting copied (a plugin directory is shallow; a
/// loop of bind mounts is not).
const MAX_DEPTH: usize = 32;

/// Copy regular files and directories (links are skipped: a plugin
/// directory is copied, not mirrored), within the unpack limits.
fn copy_tree(from: &Path, to: &Path, budget: &mut (u64, u64), depth: usize) -> std::io::Result<()> {
    if depth > MAX_DEPTH {
        return Err(std::io::Error::other(format!(
            "it nests directories more than {MAX_DEPTH} deep"
        )));
    }
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        budget.1 = budget
            .1
            .checked_sub(1)
            .ok_or_else(|| std::io::Error::other("it holds more files than the install limit"))?;
        let dest = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &dest, budget, depth + 1)?;
        } else if kind.is_file() {
            let n = std::fs::copy(entry.path(), &dest)?;
            budget.0 = budget
                .0
                .checked_sub(n)
                .ok_or_else(|| std::io::Error::other("it is larger than the install limit"))?;
        }
    }
    Ok(())
}
