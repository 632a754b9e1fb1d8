//! The hermetic test environment and fake-plugin helpers.

use assert_cmd::Command;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// Directories a test run owns; dropped (deleted) with the test.
pub struct TestEnv {
    pub root: TempDir,
    /// `KPLUG_HOME`.
    pub home: PathBuf,
    /// First directory of `PATH`.
    pub bin: PathBuf,
    /// `XDG_CONFIG_HOME`.
    pub config: PathBuf,
    /// Scratch space for files plugins write (argv dumps, counters).
    pub out: PathBuf,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        let root = tempfile::tempdir().expect("temp dir");
        let p = |s: &str| {
            let d = root.path().join(s);
            std::fs::create_dir_all(&d).unwrap();
            d
        };
        TestEnv {
            home: p("kplug-home"),
            bin: p("bin"),
            config: p("config"),
            out: p("out"),
            root,
        }
    }

    /// A directory under the test root (created).
    pub fn dir(&self, name: &str) -> PathBuf {
        let d = self.root.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    pub fn path_var(&self) -> String {
        format!("{}:/usr/bin:/bin", self.bin.display())
    }

    /// `kplug` with nothing inherited from the test process.
    pub fn kplug(&self) -> Command {
        let mut cmd = Command::cargo_bin("kplug").expect("kplug binary");
        cmd.env_clear()
            .env("HOME", self.root.path())
            .env("KPLUG_HOME", &self.home)
            .env("XDG_CONFIG_HOME", &self.config)
            .env("PATH", self.path_var())
            .env("NO_COLOR", "1")
            .env("COLUMNS", "200")
            .current_dir(self.root.path());
        cmd
    }

    /// Write the config file.
    pub fn config_file(&self, yaml: &str) {
        std::fs::create_dir_all(self.config.join("kplug")).unwrap();
        std::fs::write(self.config.join("kplug/config.yaml"), yaml).unwrap();
    }

    /// Write an executable `kplug-<name>` in `PATH` (see [`plugin_script`]).
    pub fn plugin(&self, name: &str, info: &str, run: &str) -> PathBuf {
        write_exec(
            &self.bin.join(format!("kplug-{name}")),
            &plugin_script(info, run),
        )
    }

    /// Install a plugin into the store as `kplug plugin install` lays it out.
    pub fn store_plugin(&self, name: &str, version: &str, info: &str, run: &str) -> PathBuf {
        let dir = self.home.join("plugins").join(name);
        let exe = write_exec(
            &dir.join(version).join(format!("kplug-{name}")),
            &plugin_script(info, run),
        );
        std::os::unix::fs::symlink(version, dir.join("current")).unwrap();
        exe
    }

    pub fn read_out(&self, file: &str) -> String {
        std::fs::read_to_string(self.out.join(file)).unwrap_or_default()
    }
}

/// A valid INFO document for `name`.
pub fn info(name: &str) -> String {
    format!("protocols: [1]\nname: {name}\nversion: 1.0.0\ndescription: test plugin {name}\n")
}

/// A shell plugin: prints `info` for INFO, runs `run` otherwise.
pub fn plugin_script(info: &str, run: &str) -> String {
    format!(
        "#!/bin/sh\nif [ \"$KPLUG_COMMAND\" = INFO ]; then\ncat <<'KPLUG_INFO_EOF'\n{info}\nKPLUG_INFO_EOF\nexit 0\nfi\n{run}\n"
    )
}

/// Write an executable. The file is written by a child process (`install`),
/// so no thread of this multi-threaded test binary ever holds a write
/// descriptor on it: another test forking at that moment would otherwise
/// make exec fail with "Text file busy".
pub fn write_exec(path: &Path, content: &str) -> PathBuf {
    let dir = path.parent().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let draft = tempfile::NamedTempFile::new_in(dir).unwrap();
    std::fs::write(draft.path(), content).unwrap();
    let status = std::process::Command::new("install")
        .args(["-m", "755"])
        .arg(draft.path())
        .arg(path)
        .status()
        .expect("run install(1)");
    assert!(status.success(), "install {} failed", path.display());
    path.to_path_buf()
}

/// Parse `kplug plugin list -o json`.
pub fn list_json(env: &TestEnv) -> Vec<serde_json::Value> {
    let out = env
        .kplug()
        .args(["plugin", "list", "-o", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).expect("plugin list -o json prints JSON")
}

/// The entry of `name` that is not shadowed.
pub fn entry<'a>(list: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    list.iter()
        .find(|p| p["name"] == name && p["status"] != "shadowed")
        .unwrap_or_else(|| panic!("no plugin {name} in {list:#?}"))
}

/// Whether process `pid` is gone (or a zombie awaiting its reaper) within a
/// few seconds. SIGKILL is delivered asynchronously, and an orphan is reaped
/// by whatever init the machine has, so this waits rather than checks once;
/// a survivor (the failure this detects) would live for minutes.
pub fn process_ends(pid: i32) -> bool {
    for _ in 0..100 {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            // The state follows the parenthesised command name.
            Ok(stat)
                if stat
                    .rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')) =>
            {
                return true;
            }
            Ok(_) => std::thread::sleep(std::time::Duration::from_millis(100)),
        }
    }
    false
}
