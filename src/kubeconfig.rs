//! The user's kubeconfig, as far as kplug needs it.
//!
//! This module owns which files make up the kubeconfig (`KUBECONFIG`, a
//! `:`-separated list, else `~/.kube/config`), the merged current context
//! (the first file that sets one wins, as kubectl merges), the cluster a
//! context names (`k3d-NAME`, `kind-NAME`, `sim-NAME`), and the changes
//! kplug makes: `current-context` (one line of one file, everything else
//! byte for byte) and the simulator's context entries.
//!
//! The dispatch path asks only [`current_context`], which answers from
//! `$KPLUG_HOME/cache/kubeconfig` while every file has the size, times and
//! inode the cache recorded: a `stat` per file and one `readlink`, no
//! YAML.

use crate::config::Config;
use crate::error::{Context, Error, Result};
use crate::fsutil::FileKey as Key;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Largest kubeconfig file read (they hold certificates, not much more).
const MAX_FILE: u64 = 16 * 1024 * 1024;
/// Most files taken from `KUBECONFIG`.
const MAX_FILES: usize = 64;
/// The engines' context name prefixes, in the order they are tried.
pub const PREFIXES: [(&str, &str); 3] = [("k3d", "k3d-"), ("kind", "kind-"), ("sim", "sim-")];

/// The files of the kubeconfig, in merge order (missing ones included: a
/// file that appears later changes the answer).
pub fn files(cfg: &Config) -> Vec<PathBuf> {
    if let Some(list) = cfg.var("KUBECONFIG").filter(|v| !v.is_empty()) {
        return std::env::split_paths(list)
            .filter(|p| !p.as_os_str().is_empty())
            .take(MAX_FILES)
            .collect();
    }
    match cfg.var("HOME").filter(|h| !h.is_empty()) {
        Some(home) => vec![Path::new(home).join(".kube").join("config")],
        None => Vec::new(),
    }
}

/// The one file kplug writes new entries to: the first of the list (as
/// kubectl and the engines do).
pub fn primary(cfg: &Config) -> Result<PathBuf> {
    files(cfg).into_iter().next().ok_or_else(|| {
        Error::new("there is no kubeconfig: neither KUBECONFIG nor HOME is set")
            .with_hint("set KUBECONFIG to the file kubectl should use")
    })
}

/// What kplug reads from one file.
#[derive(Debug, Default, Deserialize)]
struct File {
    #[serde(default, rename = "current-context")]
    current_context: Option<String>,
    #[serde(default)]
    contexts: Option<Vec<NamedContext>>,
}

#[derive(Debug, Deserialize)]
struct NamedContext {
    name: String,
}

/// The merged view.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Merged {
    /// The current context and the file that sets it.
    pub current: Option<(String, PathBuf)>,
    /// Every context, with the file that defines it (first wins).
    pub contexts: Vec<(String, PathBuf)>,
}

impl Merged {
    pub fn has_context(&self, name: &str) -> bool {
        self.contexts.iter().any(|(n, _)| n == name)
    }
}

fn read_file(path: &Path) -> Result<Option<File>> {
    match crate::fsutil::read_bounded(path, MAX_FILE) {
        Ok(bytes) => {
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(Some(File::default()));
            }
            let text = String::from_utf8_lossy(&bytes);
            crate::protocol::yaml::from_str(&text).map(Some).map_err(|e| {
                Error::new(format!("the kubeconfig {} is not valid", path.display()))
                    .caused_by(crate::ui::escape(&e).into_owned())
                    .with_hint(format!(
                        "fix it, or point KUBECONFIG elsewhere (`kubectl config view --kubeconfig {}` shows what kubectl makes of it)",
                        path.display()
                    ))
            })
        }
        Err(crate::fsutil::ReadError::Missing) => Ok(None),
        Err(e) => Err(
            Error::new(format!("could not read the kubeconfig {}", path.display())).caused_by(e),
        ),
    }
}

/// Parse every file of the kubeconfig.
pub fn load(cfg: &Config) -> Result<Merged> {
    let mut merged = Merged::default();
    for path in files(cfg) {
        let Some(file) = read_file(&path)? else {
            continue;
        };
        if merged.current.is_none()
            && let Some(c) = file.current_context.filter(|c| !c.is_empty())
        {
            merged.current = Some((c, path.clone()));
        }
        for c in file.contexts.unwrap_or_default() {
            if !merged.has_context(&c.name) {
                merged.contexts.push((c.name, path.clone()));
            }
        }
    }
    Ok(merged)
}

/// What the files are now: a digest of each one's path and identity (or
/// that it is missing).
fn fingerprint(paths: &[PathBuf]) -> String {
    use sha2::Digest;
    use std::os::unix::ffi::OsStrExt;
    let mut h = sha2::Sha256::new();
    for p in paths {
        h.update(p.as_os_str().as_bytes());
        h.update([0]);
        match std::fs::metadata(p) {
            Ok(m) => h.update(Key::of(&m).to_string().as_bytes()),
            Err(_) => h.update(b"-"),
        }
        h.update([0]);
    }
    crate::fsutil::hex(&h.finalize()[..16])
}

fn cache_path(cfg: &Config) -> Option<PathBuf> {
    cfg.home_opt().map(|h| h.join("cache").join("kubeconfig"))
}

/// The merged current context, from the cache when no file changed. A
/// kubeconfig that does not parse has none (the commands that need one
/// say why with [`load`]).
///
/// The cache is a symbolic link whose target is `<fingerprint>:<context>`:
/// one `readlink` reads it where a file needs `open`, `stat`, `read` and
/// `close`, and the dispatch path counts system calls. It is replaced by
/// `rename`, so it is never read half written.
pub fn current_context(cfg: &Config) -> Option<String> {
    let paths = files(cfg);
    let now = fingerprint(&paths);
    let cache = cache_path(cfg);
    if let Some(c) = &cache
        && let Ok(target) = std::fs::read_link(c)
        && let Some((seen, context)) = target.to_str().and_then(|t| t.split_once(':'))
        && seen == now
    {
        return (!context.is_empty()).then(|| context.to_string());
    }
    let current = load(cfg).ok()?.current.map(|(c, _)| c);
    // A file changed after the stat above is seen by the next run: its
    // fingerprint differs from the one recorded here.
    let storable = current
        .as_deref()
        .is_none_or(|c| c.len() < 2048 && !c.contains('\0'));
    if let Some(c) = cache
        && storable
        && crate::store::layout_writable(cfg)
    {
        let target = format!("{now}:{}", current.as_deref().unwrap_or_default());
        let tmp = c.with_file_name(format!(".kubeconfig.{}", std::process::id()));
        if let Some(dir) = c.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::remove_file(&tmp);
        if std::os::unix::fs::symlink(&target, &tmp)
            .and_then(|()| std::fs::rename(&tmp, &c))
            .is_err()
        {
            let _ = std::fs::remove_file(&tmp);
        }
    }
    current
}

/// The cluster kplug knows by this context name, and its engine.
pub fn cluster_of(context: &str) -> Option<(&'static str, &str)> {
    PREFIXES.iter().find_map(|(engine, prefix)| {
        let name = context.strip_prefix(prefix)?;
        crate::cluster::sim::validate_cluster_name(name)
            .is_ok()
            .then_some((*engine, name))
    })
}

/// The context names a cluster may have, one per engine.
pub fn contexts_for(cluster: &str) -> Vec<(&'static str, String)> {
    PREFIXES
        .iter()
        .map(|(engine, prefix)| (*engine, format!("{prefix}{cluster}")))
        .collect()
}

/// Make `context` current, like `kubectl config use-context`: in the file
/// that sets the current context now (else the one defining `context`),
/// only the value of `current-context` changes. Returns that file.
pub fn use_context(cfg: &Config, context: &str) -> Result<PathBuf> {
    let merged = load(cfg)?;
    let Some((_, defined_in)) = merged.contexts.iter().find(|(n, _)| n == context) else {
        return Err(Error::new(format!(
            "the kubeconfig has no context `{}`",
            crate::ui::escape(context)
        )));
    };
    let file = merged
        .current
        .map_or_else(|| defined_in.clone(), |(_, f)| f);
    // A linked kubeconfig (dotfiles) is changed where it lives.
    let file = std::fs::canonicalize(&file).unwrap_or(file);
    let text = String::from_utf8(
        crate::fsutil::read_bounded(&file, MAX_FILE)
            .map_err(|e| Error::new(format!("could not read {}", file.display())).caused_by(e))?,
    )
    .map_err(|_| Error::new(format!("{} is not UTF-8", file.display())))?;
    let by_hand = || {
        format!(
            "change it with `kubectl config use-context {}`",
            crate::ui::escape(context)
        )
    };
    if text.trim_start().starts_with('{') {
        return Err(Error::new(format!(
            "{} is a JSON kubeconfig; kplug changes only YAML ones",
            file.display()
        ))
        .with_hint(by_hand()));
    }
    let updated = with_current_context(&text, context);
    // What is written must read back as meant, or it is not written.
    let reads_back = crate::protocol::yaml::from_str::<File>(&updated)
        .ok()
        .and_then(|f| f.current_context)
        .is_some_and(|c| c == context);
    if !reads_back {
        return Err(Error::new(format!(
            "kplug cannot change current-context in {} without touching the rest",
            file.display()
        ))
        .with_hint(by_hand()));
    }
    write_preserving(&file, updated.as_bytes())?;
    Ok(file)
}

/// Where the value starts, when `line` holds the top-level
/// `current-context` key (plain or quoted).
fn key_at(line: &str) -> Option<usize> {
    [
        "current-context:",
        "\"current-context\":",
        "'current-context':",
    ]
    .iter()
    .find(|k| line.starts_with(**k))
    .map(|k| k.len())
}

/// `text` with its top-level `current-context` set to `context` (added at
/// the end when there is none): only the value's bytes change; a comment
/// after it stays, and a value continued on indented lines is replaced.
fn with_current_context(text: &str, context: &str) -> String {
    let value = yaml_scalar(context);
    let mut out = String::with_capacity(text.len() + value.len() + 20);
    let mut done = false;
    let mut continuation = false;
    for line in text.split_inclusive('\n') {
        if continuation {
            let body = line.trim();
            if line.starts_with([' ', '\t']) && !body.is_empty() && !body.starts_with('#') {
                continue;
            }
            continuation = false;
        }
        let Some(at) = (!done).then(|| key_at(line)).flatten() else {
            out.push_str(line);
            continue;
        };
        let (head, rest) = line.split_at(at);
        let body = rest.trim_end_matches(['\n', '\r']);
        let eol = &rest[body.len()..];
        let after = body.trim_start();
        // The old value: quoted up to its closing quote, else plain up to
        // a comment; what follows it stays.
        let tail = match after.chars().next() {
            Some(q @ ('"' | '\'')) => after[1..].find(q).map_or("", |i| &after[i + 2..]),
            Some('#') => after,
            _ => after.find(" #").map_or("", |i| &after[i..]),
        };
        continuation = after.is_empty() || after.starts_with('#');
        out.push_str(head);
        out.push(' ');
        out.push_str(&value);
        if after.starts_with('#') {
            out.push(' ');
        }
        out.push_str(tail);
        out.push_str(eol);
        done = true;
    }
    if !done {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str("current-context: ");
        out.push_str(&value);
        out.push('\n');
    }
    out
}

/// A context name as a YAML scalar: plain when safe, else quoted.
fn yaml_scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | '/'))
        && !s.starts_with(['-', '.', '@']);
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

/// Replace `file` atomically, keeping its permissions (kubeconfigs hold
/// credentials: 0600 stays 0600).
fn write_preserving(file: &Path, bytes: &[u8]) -> Result<()> {
    let mode = std::fs::metadata(file).ok().map(|m| {
        use std::os::unix::fs::PermissionsExt;
        m.permissions().mode()
    });
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
    }
    let tmp = file.with_file_name(format!(
        ".{}.kplug-{}",
        file.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        use std::io::Write;
        use std::os::unix::fs::PermissionsExt;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.set_permissions(std::fs::Permissions::from_mode(
            mode.unwrap_or(0o600) & 0o7777,
        ))?;
        f.sync_all()?;
        std::fs::rename(&tmp, file)?;
        if let Some(dir) = file.parent() {
            crate::fsutil::sync_dir(dir)?;
        }
        Ok::<(), std::io::Error>(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("could not write {}", file.display()))
}

/// Add (or replace) a cluster, user and context named `name` in the
/// primary kubeconfig and make it current, as k3d and kind do for the
/// clusters they create. The file is re-serialized (like kubectl does).
pub fn add_context(file: &Path, name: &str, server: &str) -> Result<()> {
    let file = &std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let mut doc = read_value(file)?;
    let map = doc.as_mapping_mut().ok_or_else(|| {
        Error::new(format!(
            "the kubeconfig {} is not a mapping",
            file.display()
        ))
    })?;
    let entry = |key: &str, body: serde_yaml::Value| {
        let mut m = serde_yaml::Mapping::new();
        m.insert("name".into(), name.into());
        m.insert(key.into(), body);
        serde_yaml::Value::Mapping(m)
    };
    let mut cluster = serde_yaml::Mapping::new();
    cluster.insert("server".into(), server.into());
    let mut context = serde_yaml::Mapping::new();
    context.insert("cluster".into(), name.into());
    context.insert("user".into(), name.into());
    for (list, item) in [
        (
            "clusters",
            entry("cluster", serde_yaml::Value::Mapping(cluster)),
        ),
        (
            "contexts",
            entry("context", serde_yaml::Value::Mapping(context)),
        ),
        (
            "users",
            entry("user", serde_yaml::Value::Mapping(Default::default())),
        ),
    ] {
        let seq = map
            .entry(list.into())
            .or_insert_with(|| serde_yaml::Value::Sequence(Vec::new()));
        if !seq.is_sequence() {
            *seq = serde_yaml::Value::Sequence(Vec::new());
        }
        let seq = seq.as_sequence_mut().expect("a sequence");
        seq.retain(|v| v.get("name").and_then(|n| n.as_str()) != Some(name));
        seq.push(item);
    }
    map.insert("current-context".into(), name.into());
    map.entry("apiVersion".into()).or_insert("v1".into());
    map.entry("kind".into()).or_insert("Config".into());
    write_value(file, &doc)
}

/// Remove what [`add_context`] added, from every file of the kubeconfig;
/// a current context pointing at it is cleared.
pub fn remove_context(files: &[PathBuf], name: &str) -> Result<()> {
    for file in files {
        if !file.is_file() {
            continue;
        }
        let file = &std::fs::canonicalize(file).unwrap_or_else(|_| file.clone());
        let mut doc = read_value(file)?;
        let Some(map) = doc.as_mapping_mut() else {
            continue;
        };
        let mut changed = false;
        for list in ["clusters", "contexts", "users"] {
            if let Some(seq) = map.get_mut(list).and_then(|s| s.as_sequence_mut()) {
                let before = seq.len();
                seq.retain(|v| v.get("name").and_then(|n| n.as_str()) != Some(name));
                changed |= seq.len() != before;
            }
        }
        if map.get("current-context").and_then(|c| c.as_str()) == Some(name) {
            map.insert("current-context".into(), "".into());
            changed = true;
        }
        if changed {
            write_value(file, &doc)?;
        }
    }
    Ok(())
}

fn read_value(file: &Path) -> Result<serde_yaml::Value> {
    match crate::fsutil::read_bounded(file, MAX_FILE) {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => {
            Ok(serde_yaml::Value::Mapping(Default::default()))
        }
        Ok(bytes) => {
            crate::protocol::yaml::from_str(&String::from_utf8_lossy(&bytes)).map_err(|e| {
                Error::new(format!("the kubeconfig {} is not valid", file.display()))
                    .caused_by(crate::ui::escape(&e).into_owned())
            })
        }
        Err(crate::fsutil::ReadError::Missing) => {
            Ok(serde_yaml::Value::Mapping(Default::default()))
        }
        Err(e) => Err(Error::new(format!("could not read {}", file.display())).caused_by(e)),
    }
}

fn write_value(file: &Path, doc: &serde_yaml::Value) -> Result<()> {
    let text = serde_yaml::to_string(doc).context("could not encode the kubeconfig")?;
    write_preserving(file, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_current_context_line_changes() {
        let text = "apiVersion: v1\r\nclusters: []\ncurrent-context: old # note\nusers: []\n";
        assert_eq!(
            with_current_context(text, "k3d-dev"),
            "apiVersion: v1\r\nclusters: []\ncurrent-context: k3d-dev # note\nusers: []\n"
        );
        assert_eq!(
            with_current_context("\"current-context\": 'a b' # x\r\n", "c"),
            "\"current-context\": c # x\r\n"
        );
        // A value continued on the next line is replaced whole.
        assert_eq!(
            with_current_context("current-context:\n  sim-b\nusers: []\n", "sim-a"),
            "current-context: sim-a\nusers: []\n"
        );
        assert_eq!(
            with_current_context("kind: Config", "a b"),
            "kind: Config\ncurrent-context: \"a b\"\n"
        );
        // A nested key of the same name is not the top-level one.
        assert_eq!(
            with_current_context("x:\n  current-context: a\n", "b"),
            "x:\n  current-context: a\ncurrent-context: b\n"
        );
    }

    #[test]
    fn contexts_name_clusters_by_engine_prefix() {
        assert_eq!(cluster_of("k3d-dev"), Some(("k3d", "dev")));
        assert_eq!(cluster_of("kind-ci-1"), Some(("kind", "ci-1")));
        assert_eq!(cluster_of("sim-a"), Some(("sim", "a")));
        assert_eq!(cluster_of("minikube"), None);
        assert_eq!(cluster_of("k3d-../x"), None);
        assert_eq!(cluster_of("k3d-"), None);
    }
}
