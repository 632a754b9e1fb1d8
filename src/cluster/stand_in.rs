//! Test support for the engine adapters: a temp `KPLUG_HOME` with a
//! stand-in engine CLI on `PATH` that logs its argv (one line per call, in
//! `<tmp>/argv`) and answers from a `case "$1 $2" in … esac` body; and a
//! flat view of a cluster's nodes for assertions.

use crate::config::Config;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

pub(crate) struct StandIn {
    pub tmp: tempfile::TempDir,
    pub cfg: Config,
}

impl StandIn {
    /// `bin/<name>` whose `case` arms are `cases(tmp)`.
    pub fn new(name: &str, cases: impl FnOnce(&Path) -> String) -> StandIn {
        let tmp = tempfile::tempdir().unwrap();
        let bin = tmp.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let arms = cases(tmp.path());
        let t = tmp.path().display();
        write_exec(
            &bin.join(name),
            &format!(
                "#!/bin/sh\n[ \"$1\" = __probe ] && exit 0\necho \"$*\" >> '{t}/argv'\ncase \"$1 $2\" in\n{arms}\nesac\n"
            ),
        );
        let cfg = Config::from_vars(vec![
            ("KPLUG_HOME".into(), tmp.path().join("home").into()),
            ("PATH".into(), bin.into()),
        ]);
        StandIn { tmp, cfg }
    }
}

/// A cluster's nodes as `(name, role, ip)`, for assertions.
pub(crate) fn nodes(c: &super::Cluster) -> Vec<(&str, &str, &str)> {
    c.nodes
        .iter()
        .map(|n| (n.name.as_str(), n.role.as_str(), n.ip.as_str()))
        .collect()
}

/// The calls a stand-in received, one per line.
pub(crate) fn argv(tmp: &Path) -> Vec<String> {
    std::fs::read_to_string(tmp.join("argv"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Write an executable script and wait until it can be run: a thread of
/// another test forking while the file was open for writing would make
/// exec fail with ETXTBSY for a moment.
pub(crate) fn write_exec(path: &Path, script: &str) {
    std::fs::write(path, script).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    for _ in 0..500 {
        match std::process::Command::new(path).arg("__probe").status() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => {
                other.unwrap();
                return;
            }
        }
    }
    panic!("{} stayed busy", path.display());
}
