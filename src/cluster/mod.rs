//! Cluster engines.
//!
//! This module owns the [`Engine`] trait and its three implementations —
//! [`k3d`] and [`kind`], which drive the real CLIs, and [`sim`], which
//! records clusters under kplug's state directory without any container —
//! plus engine selection and the conversion of what an engine reports into
//! the hook context ([`Cluster::context`]). Engines know nothing of hooks;
//! `hooks` and the `cluster` commands put the two together.
//!
//! What an engine reports is reduced to [`Cluster`] field by field: secrets
//! an engine prints (k3d's cluster token, node environments, token labels)
//! are never read, so they cannot reach a plugin.

pub mod k3d;
pub mod kind;
pub mod sim;
#[cfg(test)]
mod stand_in;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::protocol::{ClusterContext, Node};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    pub name: String,
    pub servers: u32,
    pub agents: u32,
    /// Extra arguments for the engine (after `--`, plus those added by
    /// `mutate` hooks).
    pub engine_args: Vec<String>,
    /// Plugins the cluster recommends from the start (the simulator's
    /// `--recommend`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recommend: Vec<Recommendation>,
}

/// A plugin a cluster recommends, as a `CLIPlugin`'s spec has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recommendation {
    pub name: String,
    pub recommended_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

/// A cluster as its engine reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    pub name: String,
    pub engine: String,
    pub network: String,
    /// Path of a kubeconfig file for this cluster.
    pub kubeconfig: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    pub nodes: Vec<Node>,
    /// `running`, `stopped`, or what the engine says.
    pub status: String,
    /// True for the simulator: nothing is running.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub simulated: bool,
}

impl Cluster {
    /// The cluster part of the EXEC context.
    pub fn context(&self, annotations: BTreeMap<String, String>) -> ClusterContext {
        ClusterContext {
            name: self.name.clone(),
            engine: self.engine.clone(),
            network: self.network.clone(),
            kubeconfig: self.kubeconfig.clone(),
            kubernetes_version: self.kubernetes_version.clone(),
            nodes: self.nodes.clone(),
            annotations,
            simulated: self.simulated,
        }
    }

    pub fn count(&self, role: &str) -> usize {
        self.nodes.iter().filter(|n| n.role == role).count()
    }
}

/// A cluster engine.
pub trait Engine {
    /// `k3d`, `kind` or `sim`.
    fn name(&self) -> &'static str;
    /// Create the cluster. On failure the cluster may be half made; the
    /// caller asks [`Engine::get`] to find out.
    fn create(&self, spec: &ClusterSpec) -> Result<()>;
    fn delete(&self, name: &str) -> Result<()>;
    fn start(&self, name: &str) -> Result<()>;
    fn stop(&self, name: &str) -> Result<()>;
    /// Whether [`Engine::start`]/[`Engine::stop`] can work at all; checked
    /// before any hook fires.
    fn supports_start_stop(&self) -> bool {
        true
    }
    /// The cluster, or `None` if the engine does not know it.
    fn get(&self, name: &str) -> Result<Option<Cluster>>;
    fn list(&self) -> Result<Vec<Cluster>>;
}

pub const ENGINES: [&str; 3] = ["k3d", "kind", "sim"];

/// Build the engine called `name`.
pub fn engine(cfg: &Config, name: &str) -> Result<Box<dyn Engine>> {
    match name {
        "k3d" => Ok(Box::new(k3d::K3d::new(cfg)?)),
        "kind" => Ok(Box::new(kind::Kind::new(cfg)?)),
        "sim" => Ok(Box::new(sim::Sim::new(cfg)?)),
        other => Err(
            Error::usage(format!("unknown engine `{}`", crate::ui::escape(other)))
                .with_hint("choose one of k3d, kind or sim with `--engine`"),
        ),
    }
}

/// Choose the engine: `--engine`, else the config file's `engine`, else the
/// first of k3d and kind found on PATH.
pub fn select(cfg: &Config, flag: Option<&str>) -> Result<Box<dyn Engine>> {
    if let Some(name) = flag {
        return engine(cfg, name);
    }
    if let Some(name) = cfg.file()?.engine.as_deref() {
        return engine(cfg, name).map_err(|e| {
            let file = cfg.config_file_path().map_or_else(
                || "the config file".to_string(),
                |p| p.display().to_string(),
            );
            Error::usage(format!(
                "the config file sets `engine: {}`, which is not an engine",
                crate::ui::escape(name)
            ))
            .caused_by(e.message())
            .with_hint(format!(
                "set `engine` in {file} to k3d, kind or sim, or choose one with `--engine`"
            ))
        });
    }
    for name in ["k3d", "kind"] {
        if find_binary(cfg, name).is_some() {
            return engine(cfg, name);
        }
    }
    Err(
        Error::new("no cluster engine found: neither `k3d` nor `kind` is on PATH")
            .with_hint("install k3d or kind, or try kplug without containers: `--engine sim`"),
    )
}

/// An executable on the PATH kplug was started with.
pub fn find_binary(cfg: &Config, name: &str) -> Option<PathBuf> {
    let path = std::env::join_paths(&cfg.path).ok()?;
    let cwd = std::env::current_dir().ok()?;
    which::which_in(name, Some(path), cwd).ok()
}

/// Locate an engine's CLI or explain how to get it.
pub(crate) fn require_binary(cfg: &Config, name: &str, url: &str) -> Result<PathBuf> {
    find_binary(cfg, name).ok_or_else(|| {
        Error::new(format!(
            "the `{name}` engine needs the `{name}` command, which is not on PATH"
        ))
        .with_hint(format!(
            "install it ({url}), or use `--engine sim` to simulate a cluster"
        ))
    })
}

/// Run an engine command with the terminal (its progress is the user's to
/// see); fail with its exit status.
pub(crate) fn run_visible(bin: &Path, args: &[String]) -> Result<()> {
    let status = Command::new(bin)
        .args(args)
        .status()
        .map_err(|e| Error::new(format!("could not run {}", bin.display())).caused_by(e))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::new(format!(
            "`{} {}` failed ({status})",
            bin.file_name().unwrap_or_default().to_string_lossy(),
            shell_words::join(args)
        )))
    }
}

/// Run an engine command and capture its stdout (stderr passes through).
pub(crate) fn run_captured(bin: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(bin)
        .args(args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| Error::new(format!("could not run {}", bin.display())).caused_by(e))?;
    let command = || {
        format!(
            "`{} {}`",
            bin.file_name().unwrap_or_default().to_string_lossy(),
            shell_words::join(args)
        )
    };
    if !out.status.success() {
        return Err(Error::new(format!("{} failed ({})", command(), out.status)));
    }
    String::from_utf8(out.stdout)
        .map_err(|_| Error::new(format!("{} printed output that is not UTF-8", command())))
}
