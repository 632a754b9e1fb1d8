//! Finding the plugin's executable in an unpacked tree, the one rule for
//! every source: a file named exactly `kplug-<name>` wins (the shallowest;
//! two at one depth are ambiguous), else the single file that can only be
//! it. A link counts only if it resolves, inside the tree, to a regular
//! file. The executable found is made executable (`chmod +x`).

use crate::error::{Error, Result};
use crate::protocol::EXECUTABLE_PREFIX;
use std::fs::{self, Permissions};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Deepest directory looked into (release archives are shallow).
const MAX_DEPTH: usize = 16;

struct FoundFile {
    /// Relative to the root.
    rel: PathBuf,
    depth: usize,
    mode: u32,
    is_link: bool,
}

impl FoundFile {
    fn file_name(&self) -> String {
        self.rel
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    }
}

/// Find the plugin executable under `root` and make it executable.
///
/// With the plugin's `name` known (the source implies it): a file named
/// exactly `kplug-<name>` anywhere in the tree, the shallowest; otherwise
/// the single regular file that is executable or has no extension and
/// whose name starts with `kplug-<name>` or `<name>` (`registry`,
/// `kplug-registry-linux-amd64`, `kplug-registry_1.2.0_linux_amd64`).
///
/// With no name (a local file or directory): the shallowest file named
/// `kplug-*`; otherwise the single executable file of the tree.
///
/// Errors list what was found and name what was expected.
pub fn find_plugin(root: &Path, name: Option<&str>) -> Result<PathBuf> {
    let expected = match name {
        Some(n) => format!("{EXECUTABLE_PREFIX}{n}"),
        None => format!("{EXECUTABLE_PREFIX}<name>"),
    };
    let what = match name {
        Some(n) => format!("the release for plugin `{n}`"),
        None => "the plugin".to_string(),
    };
    let hint = format!("a plugin release holds an executable named `{expected}`");
    let mut files = Vec::new();
    walk(root, Path::new(""), 1, &mut files).map_err(|e| {
        Error::new(format!(
            "could not look for `{expected}` in {}",
            root.display()
        ))
        .caused_by(e)
    })?;

    let named = |f: &&FoundFile| {
        let file = f.file_name();
        match name {
            Some(_) => file == expected,
            None => file.starts_with(EXECUTABLE_PREFIX) && file.len() > EXECUTABLE_PREFIX.len(),
        }
    };
    let exact: Vec<&FoundFile> = files
        .iter()
        .filter(named)
        .filter(|f| !f.is_link || link_stays_inside(root, &f.rel))
        .collect();
    if let Some(depth) = exact.iter().map(|f| f.depth).min() {
        let shallowest: Vec<&FoundFile> = exact.into_iter().filter(|f| f.depth == depth).collect();
        if shallowest.len() > 1 {
            return Err(Error::new(format!(
                "{what} has several `{expected}` at the same depth; cannot tell which is the plugin"
            ))
            .caused_by(format!("found: {}", list(&shallowest)))
            .with_hint(hint));
        }
        return make_executable(root, &shallowest[0].rel);
    }

    let candidates: Vec<&FoundFile> = files
        .iter()
        .filter(|f| !f.is_link)
        .filter(|f| {
            let file_name = f.file_name();
            match name {
                Some(n) => {
                    (file_name.starts_with(&expected) || file_name.starts_with(n))
                        && (f.mode & 0o111 != 0 || !has_extension(&file_name))
                }
                None => f.mode & 0o111 != 0,
            }
        })
        .collect();
    match candidates.as_slice() {
        [one] => make_executable(root, &one.rel),
        [] => {
            let all: Vec<&FoundFile> = files.iter().collect();
            let found = if all.is_empty() {
                "found: nothing (the release unpacked to an empty directory)".to_string()
            } else {
                format!("found: {}", list(&all))
            };
            Err(Error::new(format!("{what} has no `{expected}` executable"))
                .caused_by(found)
                .with_hint(hint))
        }
        several => Err(Error::new(format!(
            "{what} has no `{expected}` and several files that could be its executable"
        ))
        .caused_by(format!("found: {}", list(several)))
        .with_hint(hint)),
    }
}

/// Collect files and symlinks under `dir`, sorted, without following links.
fn walk(root: &Path, rel: &Path, depth: usize, out: &mut Vec<FoundFile>) -> io::Result<()> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let mut names: Vec<_> = fs::read_dir(root.join(rel))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    names.sort();
    for file_name in names {
        let rel = rel.join(&file_name);
        let meta = fs::symlink_metadata(root.join(&rel))?;
        let ft = meta.file_type();
        if ft.is_dir() {
            walk(root, &rel, depth + 1, out)?;
        } else if ft.is_file() || ft.is_symlink() {
            out.push(FoundFile {
                rel,
                depth,
                mode: meta.permissions().mode(),
                is_link: ft.is_symlink(),
            });
        }
    }
    Ok(())
}

/// A `kplug-<name>` that is a symlink counts only if it really resolves (as
/// the kernel resolves it, through every link) to a regular file under
/// `root`.
fn link_stays_inside(root: &Path, rel: &Path) -> bool {
    let (Ok(root), Ok(target)) = (root.canonicalize(), root.join(rel).canonicalize()) else {
        return false;
    };
    target.starts_with(&root) && fs::metadata(&target).is_ok_and(|m| m.is_file())
}

/// `chmod +x` as a user would mean it: executable by whoever may read it,
/// and at least by the owner; other bits untouched.
fn make_executable(root: &Path, rel: &Path) -> Result<PathBuf> {
    let path = root.join(rel);
    let fail = |e: io::Error| {
        Error::new(format!("could not make {} executable", path.display())).caused_by(e)
    };
    let mode = fs::metadata(&path).map_err(fail)?.permissions().mode() & 0o7777;
    let wanted = mode | 0o100 | ((mode & 0o444) >> 2);
    if wanted != mode {
        fs::set_permissions(&path, Permissions::from_mode(wanted)).map_err(fail)?;
    }
    Ok(path)
}

/// Whether a file name ends in something that reads like a type extension
/// (`.md`, `.txt`, `.sha256`), as opposed to the dots of a version in an
/// executable's name (`kplug-x_1.2.0_linux_amd64`, `x-v1.2`): 1 to 8 ASCII
/// letters and digits with at least one letter.
fn has_extension(file_name: &str) -> bool {
    match file_name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => {
            (1..=8).contains(&ext.len())
                && ext.bytes().all(|b| b.is_ascii_alphanumeric())
                && ext.bytes().any(|b| b.is_ascii_alphabetic())
        }
        _ => false,
    }
}

/// At most 20 paths, then a count of the rest (escaped: names come from
/// the archive).
fn list(files: &[&FoundFile]) -> String {
    const SHOWN: usize = 20;
    let mut out: Vec<String> = files
        .iter()
        .take(SHOWN)
        .map(|f| crate::ui::escape(&f.rel.to_string_lossy()).into_owned())
        .collect();
    if files.len() > SHOWN {
        out.push(format!("… and {} more", files.len() - SHOWN));
    }
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode_of(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn find_plugin_binary(root: &Path, name: &str) -> Result<PathBuf> {
        find_plugin(root, Some(name))
    }

    fn touch(root: &Path, rel: &str, mode: u32) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, b"x").unwrap();
        fs::set_permissions(&p, Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn finds_the_exact_name_shallowest_first() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        touch(root, "bin/kplug-registry", 0o644);
        touch(root, "bin/deeper/kplug-registry", 0o755);
        touch(root, "registry-linux", 0o755);
        touch(root, "README.md", 0o644);
        let found = find_plugin_binary(root, "registry").unwrap();
        assert_eq!(found, root.join("bin/kplug-registry"));
        assert_eq!(mode_of(&found), 0o755);

        touch(root, "lib/kplug-registry", 0o755);
        let err = find_plugin_binary(root, "registry")
            .unwrap_err()
            .to_string();
        assert!(err.contains("several `kplug-registry`"), "{err}");
        assert!(
            err.contains("bin/kplug-registry, lib/kplug-registry"),
            "{err}"
        );
    }

    #[test]
    fn falls_back_to_a_single_executable() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        touch(root, "dist/registry_linux_amd64", 0o600);
        touch(root, "dist/registry.md", 0o644);
        touch(root, "LICENSE", 0o644);
        let found = find_plugin_binary(root, "registry").unwrap();
        assert_eq!(found, root.join("dist/registry_linux_amd64"));
        assert_eq!(mode_of(&found), 0o700);

        assert!(!has_extension("kplug-registry_1.2.0_linux_amd64"));
        assert!(!has_extension("kplug-registry-linux-amd64"));
        assert!(has_extension("registry.sha256"));
    }

    #[test]
    fn several_candidates_are_ambiguous() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        touch(root, "registry-linux-amd64", 0o755);
        touch(root, "kplug-registry_1.2.0_linux_arm64", 0o644);
        let err = find_plugin_binary(root, "registry")
            .unwrap_err()
            .to_string();
        assert!(err.contains("several files"), "{err}");
        assert!(
            err.contains("registry-linux-amd64")
                && err.contains("kplug-registry_1.2.0_linux_arm64"),
            "{err}"
        );
    }

    #[test]
    fn nothing_found_lists_the_files() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        touch(root, "docs/README.md", 0o644);
        touch(root, "tool", 0o755);
        let err = find_plugin_binary(root, "registry").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("no `kplug-registry` executable"), "{text}");
        assert!(text.contains("docs/README.md, tool"), "{text}");
        assert!(err.hints()[0].contains("`kplug-registry`"));

        let empty = tempfile::tempdir().unwrap();
        let text = find_plugin_binary(empty.path(), "registry")
            .unwrap_err()
            .to_string();
        assert!(text.contains("empty directory"), "{text}");
    }

    #[test]
    fn a_link_named_exactly_counts_only_inside() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        touch(&root, "bin/kplug-x-1.0", 0o644);
        std::os::unix::fs::symlink("bin/kplug-x-1.0", root.join("kplug-x")).unwrap();
        assert_eq!(
            find_plugin_binary(&root, "x").unwrap(),
            root.join("kplug-x")
        );
        assert_eq!(mode_of(&root.join("bin/kplug-x-1.0")), 0o755);

        let root2 = tmp.path().join("root2");
        touch(tmp.path(), "secret", 0o644);
        fs::create_dir(&root2).unwrap();
        std::os::unix::fs::symlink("../secret", root2.join("kplug-x")).unwrap();
        assert!(find_plugin_binary(&root2, "x").is_err());
        assert_eq!(mode_of(&tmp.path().join("secret")), 0o644);
    }
}
