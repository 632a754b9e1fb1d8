//! `kplug plugin new`: scaffold a plugin that already speaks protocol v1.
//!
//! A scaffold answers INFO, EXEC (a sample `post-cluster-create` that
//! returns a message; an unknown event gets error code 4 and a non-zero
//! exit) and RUN (also when `KPLUG_COMMAND` is unset), and comes with a
//! README and a GitHub Actions release workflow whose asset names are the
//! ones `kplug plugin install` selects (see `install::asset`). A fresh
//! scaffold passes `kplug plugin validate` (the Rust one once built).

use crate::error::{Context, Error, Result};
use crate::protocol::{EXECUTABLE_PREFIX, names};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The language of a scaffold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// One bash script
    Bash,
    /// A Cargo project using std and serde_json only
    Rust,
    /// One Python 3 script, standard library only
    Python,
}

impl Lang {
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Bash => "bash",
            Lang::Rust => "rust",
            Lang::Python => "python",
        }
    }
}

/// Marker replaced by the plugin's name in every template.
const NAME_MARK: &str = "@NAME@";

const BASH_PLUGIN: &str = include_str!("templates/bash/plugin.sh");
const PYTHON_PLUGIN: &str = include_str!("templates/python/plugin.py");
const RUST_CARGO: &str = include_str!("templates/rust/Cargo.toml");
const RUST_MAIN: &str = include_str!("templates/rust/main.rs");
const RUST_GITIGNORE: &str = include_str!("templates/rust/gitignore");
const RUST_RELEASE: &str = include_str!("templates/rust/release.yml");
const SCRIPT_RELEASE: &str = include_str!("templates/common/release-script.yml");
const README: &str = include_str!("templates/common/README.md");

/// Where the release workflow goes, relative to the scaffold.
pub const WORKFLOW: &str = ".github/workflows/release.yml";

/// One file of a scaffold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Relative to the scaffold's directory.
    pub path: PathBuf,
    pub content: String,
    pub executable: bool,
}

/// A scaffold written to disk.
#[derive(Debug, Clone)]
pub struct Scaffold {
    pub name: String,
    pub lang: Lang,
    pub dir: PathBuf,
    /// The files written, relative to `dir`.
    pub files: Vec<PathBuf>,
    /// The plugin executable once built (for bash and Python, the script
    /// itself), relative to `dir`.
    pub executable: PathBuf,
    /// The directory to put on `KPLUG_PLUGIN_PATH`, relative to `dir`
    /// (empty: `dir` itself).
    pub bin_dir: PathBuf,
}

impl Scaffold {
    /// What to do next, for the user: build (Rust), validate, try it.
    pub fn next_steps(&self) -> String {
        let dir = self.dir.display();
        let exe = self.executable.display();
        let mut out = format!(
            "created the {} plugin `{}` in {dir}:\n",
            self.lang.as_str(),
            self.name
        );
        for f in &self.files {
            out.push_str(&format!("  {}\n", f.display()));
        }
        let bin = if self.bin_dir.as_os_str().is_empty() {
            "$PWD".to_string()
        } else {
            format!("$PWD/{}", self.bin_dir.display())
        };
        let local = if self.executable.components().count() == 1 {
            format!("./{exe}")
        } else {
            exe.to_string()
        };
        let mut steps: Vec<(String, &str)> = vec![(format!("cd {dir}"), "")];
        if self.lang == Lang::Rust {
            steps.push(("cargo build".into(), ""));
        }
        steps.extend([
            (
                format!("kplug plugin validate {local}"),
                "check it against protocol v1",
            ),
            (
                format!("export KPLUG_PLUGIN_PATH=\"{bin}\""),
                "let kplug find it",
            ),
            (format!("kplug {}", self.name), "run it"),
            (
                "kplug cluster create demo --engine sim".into(),
                "fire its post-cluster-create hook",
            ),
        ]);
        let width = steps.iter().map(|(c, _)| c.len()).max().unwrap_or(0);
        out.push_str("\nnext steps:\n");
        for (cmd, note) in steps {
            if note.is_empty() {
                out.push_str(&format!("  {cmd}\n"));
            } else {
                out.push_str(&format!("  {cmd:width$}  # {note}\n"));
            }
        }
        out.push_str("\nto publish a release, push a tag like v0.1.0 (see README.md)\n");
        out
    }
}

/// The default directory of a scaffold: `./kplug-<name>`.
pub fn default_dir(name: &str) -> PathBuf {
    PathBuf::from(format!("{EXECUTABLE_PREFIX}{name}"))
}

fn fill(template: &str, name: &str) -> String {
    template.replace(NAME_MARK, name)
}

fn readme(name: &str, lang: Lang) -> String {
    let exe = format!("{EXECUTABLE_PREFIX}{name}");
    let version_source = match lang {
        Lang::Bash | Lang::Python => format!("`VERSION` in `{exe}`"),
        Lang::Rust => "`version` in `Cargo.toml`".to_string(),
    };
    let (lang_name, source, build, executable, bin_dir, assets) = match lang {
        Lang::Bash => (
            "bash",
            format!("one executable script, `{exe}`"),
            String::new(),
            format!("./{exe}"),
            "",
            format!("one platform-independent archive, `{exe}_<version>.tar.gz`"),
        ),
        Lang::Python => (
            "Python 3 (standard library only)",
            format!("one executable script, `{exe}`"),
            String::new(),
            format!("./{exe}"),
            "",
            format!("one platform-independent archive, `{exe}_<version>.tar.gz`"),
        ),
        Lang::Rust => (
            "Rust",
            "a Cargo project (`src/main.rs`) that needs nothing but the standard library and `serde_json`".to_string(),
            "cargo build\n".to_string(),
            format!("target/debug/{exe}"),
            "/target/debug",
            format!(
                "one archive per platform, `{exe}_<version>_<os>_<arch>.tar.gz` for linux and darwin on amd64 and arm64"
            ),
        ),
    };
    fill(README, name)
        .replace("@LANG@", lang_name)
        .replace("@SOURCE@", &source)
        .replace("@BUILD@", &build)
        .replace("@EXECUTABLE@", &executable)
        .replace("@BIN_DIR@", bin_dir)
        .replace("@ASSETS@", &assets)
        .replace("@VERSION_SOURCE@", &version_source)
}

/// The files of a scaffold for `name` (already validated) in `lang`.
pub fn files(name: &str, lang: Lang) -> Vec<File> {
    let exe = format!("{EXECUTABLE_PREFIX}{name}");
    let file = |path: &str, content: String, executable: bool| File {
        path: PathBuf::from(path),
        content,
        executable,
    };
    let mut out = Vec::new();
    match lang {
        Lang::Bash => {
            out.push(file(&exe, fill(BASH_PLUGIN, name), true));
            out.push(file(WORKFLOW, fill(SCRIPT_RELEASE, name), false));
        }
        Lang::Python => {
            out.push(file(&exe, fill(PYTHON_PLUGIN, name), true));
            out.push(file(WORKFLOW, fill(SCRIPT_RELEASE, name), false));
        }
        Lang::Rust => {
            out.push(file("Cargo.toml", fill(RUST_CARGO, name), false));
            out.push(file("src/main.rs", fill(RUST_MAIN, name), false));
            out.push(file(".gitignore", RUST_GITIGNORE.to_string(), false));
            out.push(file(WORKFLOW, fill(RUST_RELEASE, name), false));
        }
    }
    out.push(file("README.md", readme(name, lang), false));
    out
}

/// Check the name, then refuse a target that exists and is not an empty
/// directory. Both are usage errors (exit 2).
fn check_target(name: &str, dir: &Path) -> Result<()> {
    names::validate(name).map_err(|e| {
        Error::usage(format!("`{name}` is not a valid plugin name: {e}")).with_hint(
            "a name is lowercase letters, digits and `-`, starts with a letter, and does not shadow a built-in command",
        )
    })?;
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::new(format!("cannot use {}", dir.display())).caused_by(e)),
        Ok(m) if !m.is_dir() => Err(Error::usage(format!(
            "{} exists and is not a directory",
            dir.display()
        ))
        .with_hint("choose another directory with `--dir`")),
        Ok(_) => {
            let mut entries = fs::read_dir(dir)
                .with_context(|| format!("cannot read the directory {}", dir.display()))?;
            if entries.next().is_some() {
                Err(Error::usage(format!(
                    "{} already exists and is not empty; refusing to write into it",
                    dir.display()
                ))
                .with_hint("choose another directory with `--dir`, or remove this one"))
            } else {
                Ok(())
            }
        }
    }
}

/// Write a scaffold for `name` in `lang` into `dir` (default
/// [`default_dir`]), which must not exist or be empty.
pub fn scaffold(name: &str, lang: Lang, dir: Option<&Path>) -> Result<Scaffold> {
    let dir = dir.map_or_else(|| default_dir(name), Path::to_path_buf);
    check_target(name, &dir)?;
    let files = files(name, lang);
    for f in &files {
        let path = dir.join(&f.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("could not create {}", parent.display()))?;
        }
        fs::write(&path, &f.content)
            .with_context(|| format!("could not write {}", path.display()))?;
        if f.executable {
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
                .with_context(|| format!("could not make {} executable", path.display()))?;
        }
    }
    let exe = format!("{EXECUTABLE_PREFIX}{name}");
    let (executable, bin_dir) = match lang {
        Lang::Rust => (
            Path::new("target/debug").join(&exe),
            PathBuf::from("target/debug"),
        ),
        Lang::Bash | Lang::Python => (PathBuf::from(&exe), PathBuf::new()),
    };
    Ok(Scaffold {
        name: name.to_string(),
        lang,
        dir,
        files: files.into_iter().map(|f| f.path).collect(),
        executable,
        bin_dir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::asset::{Platform, select};

    #[test]
    fn every_marker_is_filled() {
        for lang in [Lang::Bash, Lang::Rust, Lang::Python] {
            for f in files("demo", lang) {
                for mark in [
                    "@NAME@",
                    "@LANG@",
                    "@SOURCE@",
                    "@BUILD@",
                    "@EXECUTABLE@",
                    "@BIN_DIR@",
                    "@ASSETS@",
                    "@VERSION_SOURCE@",
                ] {
                    assert!(
                        !f.content.contains(mark),
                        "{} ({lang:?}) still holds {mark}",
                        f.path.display()
                    );
                }
            }
        }
    }

    #[test]
    fn scripts_have_a_shebang_and_the_name() {
        let bash = &files("demo", Lang::Bash)[0];
        assert!(bash.content.starts_with("#!/usr/bin/env bash\n"));
        assert!(bash.executable && bash.path == Path::new("kplug-demo"));
        let py = &files("demo", Lang::Python)[0];
        assert!(py.content.starts_with("#!/usr/bin/env python3\n"));
        assert!(py.content.contains("NAME = \"demo\""));
    }

    #[test]
    fn workflows_are_yaml_with_a_tag_trigger() {
        for lang in [Lang::Bash, Lang::Rust, Lang::Python] {
            let wf = files("demo", lang)
                .into_iter()
                .find(|f| f.path == Path::new(WORKFLOW))
                .expect("a release workflow");
            let doc: serde_yaml::Value = serde_yaml::from_str(&wf.content).expect("valid YAML");
            assert_eq!(doc["on"]["push"]["tags"][0], "v*", "{lang:?}");
            assert!(doc["jobs"].as_mapping().is_some_and(|j| !j.is_empty()));
            assert_eq!(doc["permissions"]["contents"], "write");
            for needle in ["checksums.txt", "kplug-plugin.yaml", "KPLUG_COMMAND=INFO"] {
                assert!(wf.content.contains(needle), "{lang:?} lacks {needle}");
            }
        }
    }

    /// The names the release workflows give their assets are the ones
    /// `plugin install` picks, next to the checksums and the INFO document.
    #[test]
    fn release_assets_are_selected() {
        let Some(platform) = Platform::host() else {
            return;
        };
        let script = [
            "kplug-demo_1.2.0.tar.gz",
            "checksums.txt",
            "kplug-plugin.yaml",
        ];
        let choice = select(&script, "demo", &platform).expect("script asset selected");
        assert_eq!(choice.name, "kplug-demo_1.2.0.tar.gz");

        let os = match platform.os {
            crate::install::asset::Os::MacOs => "darwin",
            _ => "linux",
        };
        let arch = match platform.arch {
            crate::install::asset::Arch::Aarch64 => "arm64",
            _ => "amd64",
        };
        let rust: Vec<String> = ["linux", "darwin"]
            .iter()
            .flat_map(|o| {
                ["amd64", "arm64"]
                    .iter()
                    .map(move |a| format!("kplug-demo_1.2.0_{o}_{a}.tar.gz"))
            })
            .chain(["checksums.txt".into(), "kplug-plugin.yaml".into()])
            .collect();
        let rust: Vec<&str> = rust.iter().map(String::as_str).collect();
        let choice = select(&rust, "demo", &platform).expect("rust asset selected");
        assert_eq!(choice.name, format!("kplug-demo_1.2.0_{os}_{arch}.tar.gz"));
        assert!(RUST_RELEASE.contains("_${{ matrix.os }}_${{ matrix.arch }}\""));
        assert!(SCRIPT_RELEASE.contains("stem=\"kplug-@NAME@_${version}\""));
    }
}
