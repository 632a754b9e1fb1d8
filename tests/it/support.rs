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

    /// The whole environment of a hermetic run: nothing from the test
    /// process, homes and config in the temp dir, no colour, fixed width.
    pub fn vars(&self) -> Vec<(&'static str, std::ffi::OsString)> {
        vec![
            ("HOME", self.root.path().into()),
            ("KPLUG_HOME", self.home.clone().into()),
            ("XDG_CONFIG_HOME", self.config.clone().into()),
            ("PATH", self.path_var().into()),
            ("NO_COLOR", "1".into()),
            ("COLUMNS", "200".into()),
        ]
    }

    /// `kplug` with nothing inherited from the test process.
    pub fn kplug(&self) -> Command {
        let mut cmd = Command::cargo_bin("kplug").expect("kplug binary");
        cmd.env_clear()
            .envs(self.vars())
            .current_dir(self.root.path());
        cmd
    }

    /// The same as a plain process, for tests that signal or wait on it.
    pub fn kplug_process(&self) -> std::process::Command {
        self.command(assert_cmd::cargo::cargo_bin("kplug"))
    }

    /// Any program, run hermetically like [`TestEnv::kplug`].
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
        let mut cmd = std::process::Command::new(program);
        cmd.env_clear()
            .envs(self.vars())
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

/// INFO of a plugin hooking events: `hooks` is the YAML list under `hooks:`.
pub fn hook_info(name: &str, hooks: &str) -> String {
    format!("protocols: [1]\nname: {name}\nversion: 1.0.0\nhooks:\n{hooks}\n")
}

impl TestEnv {
    /// A hook plugin whose EXEC records its environment (`out/<name>.<event>.env`)
    /// and stdin (`out/<name>.<event>.json`), appends `<name> <event>` to
    /// `out/sequence`, then runs `body`.
    pub fn hook_plugin(&self, name: &str, hooks: &str, body: &str) -> PathBuf {
        self.plugin(name, &hook_info(name, hooks), &self.recorder(name, body))
    }

    /// Shell lines that record a hook run (see [`TestEnv::hook_plugin`]).
    pub fn recorder(&self, name: &str, body: &str) -> String {
        let out = self.out.display();
        format!(
            "env > '{out}/{name}.'\"$KPLUG_EVENT\"'.env'\ncat > '{out}/{name}.'\"$KPLUG_EVENT\"'.json'\necho \"{name} $KPLUG_EVENT\" >> '{out}/sequence'\n{body}"
        )
    }

    /// The `name event` lines hooks appended, in order.
    pub fn sequence(&self) -> Vec<String> {
        self.read_out("sequence")
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The JSON context a recording hook received.
    pub fn context_of(&self, name: &str, event: &str) -> serde_json::Value {
        let text = self.read_out(&format!("{name}.{event}.json"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} {event}: {e}: {text:?}"))
    }

    /// The `KEY=value` environment a recording hook ran with.
    pub fn env_of(&self, name: &str, event: &str) -> String {
        self.read_out(&format!("{name}.{event}.env"))
    }

    /// A user hook script in `$XDG_CONFIG_HOME/kplug/hooks/<event>.d/`.
    pub fn hook_script(&self, event: &str, file: &str, body: &str) -> PathBuf {
        write_exec(
            &self.config.join(format!("kplug/hooks/{event}.d/{file}")),
            &format!("#!/bin/sh\n{body}\n"),
        )
    }

    /// `kplug cluster create NAME --engine sim ARGS…`.
    pub fn sim_create(&self, name: &str) -> Command {
        let mut cmd = self.kplug();
        cmd.args(["cluster", "create", name, "--engine", "sim"]);
        cmd
    }

    /// A stand-in `k3d` on PATH: records its argv in `out/k3d-argv` and
    /// replays `k3d cluster list -o json` of the real shape (secrets
    /// included) for the clusters "created" in its state directory. Touch
    /// `<state>/fail-create` to make create fail after making the cluster,
    /// or `<state>/malformed` to make list print broken JSON.
    pub fn fake_k3d(&self) -> PathBuf {
        let state = self.dir("k3d-state");
        let template = self.out.join("k3d-cluster.json.in");
        std::fs::write(&template, K3D_CLUSTER_TEMPLATE).unwrap();
        write_exec(
            &self.bin.join("k3d"),
            &format!(
                r#"#!/bin/sh
S='{state}'
echo "$*" >> '{out}/k3d-argv'
case "$1 $2" in
"cluster create")
  touch "$S/$3"
  if [ -e "$S/fail-create" ]; then echo "k3d: failed to start server" >&2; exit 1; fi ;;
"cluster list")
  if [ -e "$S/malformed" ]; then echo '[{{"name": "dev", "nodes": ['; exit 0; fi
  printf '['; sep=''
  for f in "$S"/*; do
    [ -f "$f" ] || continue
    n=$(basename "$f")
    case "$n" in fail-create|malformed) continue ;; esac
    printf '%s' "$sep"; sed "s/@NAME@/$n/g" '{template}'; sep=','
  done
  printf ']\n' ;;
"cluster delete") rm -f "$S/$3" ;;
"cluster start"|"cluster stop") ;;
"kubeconfig write") echo "/tmp/kplug-test-k3d-$3.yaml" ;;
*) echo "unexpected k3d call: $*" >&2; exit 99 ;;
esac
"#,
                state = state.display(),
                out = self.out.display(),
                template = template.display(),
            ),
        );
        state
    }

    /// A stand-in `kind` on PATH: records argv in `out/kind-argv`, copies a
    /// `--config` file to `out/kind-config.yaml`, and reports nodes named
    /// the way kind names them.
    pub fn fake_kind(&self) -> PathBuf {
        let state = self.dir("kind-state");
        write_exec(
            &self.bin.join("kind"),
            &format!(
                r#"#!/bin/sh
S='{state}'
echo "$*" >> '{out}/kind-argv'
case "$1 $2" in
"create cluster")
  [ "$5" = "--config" ] && cp "$6" '{out}/kind-config.yaml'
  touch "$S/$4" ;;
"get clusters") ls "$S" ;;
"get nodes") echo "$4-control-plane"; echo "$4-worker"; echo "$4-worker2" ;;
"get kubeconfig") printf 'apiVersion: v1\nkind: Config\nclusters: []\n' ;;
"delete cluster") rm -f "$S/$4" ;;
*) echo "unexpected kind call: $*" >&2; exit 99 ;;
esac
"#,
                state = state.display(),
                out = self.out.display(),
            ),
        );
        state
    }
}

/// One cluster of `k3d cluster list -o json`, secrets and all.
const K3D_CLUSTER_TEMPLATE: &str = r#"{"name":"@NAME@","network":{"name":"k3d-@NAME@","external":false,"IPAM":{"IPPrefix":"172.18.0.0/16"}},"token":"SECRETTOKEN","nodes":[{"name":"k3d-@NAME@-server-0","role":"server","image":"rancher/k3s:v1.31.2-k3s1","env":["K3S_TOKEN=SECRETTOKEN"],"runtimeLabels":{"k3d.cluster":"@NAME@","k3d.cluster.token":"SECRETTOKEN"},"serverOpts":{"kubeAPI":{"Host":"0.0.0.0","HostIP":"0.0.0.0","PortMapping":{"Binding":{"HostIp":"0.0.0.0","HostPort":"6550"}}}},"IP":{"IP":"172.18.0.2","Static":false},"State":{"Running":true,"Status":"running"}},{"name":"k3d-@NAME@-agent-0","role":"agent","image":"rancher/k3s:v1.31.2-k3s1","env":["K3S_TOKEN=SECRETTOKEN","K3S_URL=https://k3d-@NAME@-server-0:6443"],"runtimeLabels":{"k3d.cluster.token":"SECRETTOKEN"},"IP":{"IP":"172.18.0.3","Static":false},"State":{"Running":true}},{"name":"k3d-@NAME@-serverlb","role":"loadbalancer","image":"ghcr.io/k3d-io/k3d-proxy:5.7.4","IP":{"IP":"172.18.0.4","Static":false},"State":{"Running":true}}],"serverOpts":{"kubeAPI":{"Host":"0.0.0.0","HostIP":"0.0.0.0"}},"agentsRunning":1,"serversRunning":1}"#;
