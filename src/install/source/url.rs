//! A single file on the web, trusted by the sha256 the user gives
//! (`--sha256`): no credential is ever sent with it.

use super::{Artifact, Content, FetchContext, Published, Source, Verification};
use super::{Candidate, Spec};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::install::asset;
use crate::install::asset::ArchiveKind;
use crate::install::http::{self, Http};
use crate::install::verify;
use reqwest::Url;

pub struct UrlSource {
    url: Url,
    sha256: String,
    http: Http,
}

impl UrlSource {
    pub fn new(cfg: &Config, text: &str, sha256: &str) -> Result<UrlSource> {
        let url = Url::parse(text).map_err(|e| {
            Error::usage(format!("`{}` is not a URL", http::display_text(text))).caused_by(e)
        })?;
        Ok(UrlSource {
            url,
            sha256: sha256.to_ascii_lowercase(),
            http: Http::new(cfg)?,
        })
    }

    /// The last path segment, for messages and the archive kind.
    fn file_name(&self) -> String {
        self.url
            .path_segments()
            .and_then(|mut s| s.next_back())
            .filter(|s| !s.is_empty())
            .unwrap_or("download")
            .to_string()
    }
}

impl Source for UrlSource {
    fn address(&self) -> String {
        http::display_url(&self.url)
    }

    fn plugin_name(&self) -> Option<String> {
        None
    }

    fn has_versions(&self) -> bool {
        false
    }

    fn versions(&mut self, _spec: &Spec) -> Result<Vec<Candidate>> {
        Ok(vec![Candidate {
            version: None,
            label: self.file_name(),
            prerelease: false,
            key: 0,
        }])
    }

    fn contract(&mut self, _: &Candidate) -> Result<Option<Published>> {
        Ok(None)
    }

    fn fetch(&mut self, _: &Candidate, ctx: &FetchContext<'_>) -> Result<Artifact> {
        let name = self.file_name();
        let shown = crate::ui::escape(&name);
        let resp = {
            let _wait = crate::exec::interrupt::abortable("downloading");
            self.http
                .get(self.url.clone(), "application/octet-stream")?
        };
        if !resp.status().is_success() {
            return Err(Error::new(format!(
                "downloading {}: the server answered {}",
                self.address(),
                resp.status()
            )));
        }
        let file = {
            let _wait = crate::exec::interrupt::abortable("downloading");
            self.http
                .save(resp, &ctx.dir.join("artifact"), ctx.max_bytes, &shown)?
        };
        verify::check_sha(&file, &self.sha256, &name)?;
        Ok(Artifact {
            content: Content::File {
                file,
                kind: asset::archive_kind(&name).unwrap_or(ArchiveKind::Binary),
            },
            name,
            verified: Verification::Sha256Flag,
            tag: None,
            report: None,
            signed: None,
        })
    }
}
