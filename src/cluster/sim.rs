//! The simulator engine (`--engine sim`): clusters without containers.
//!
//! A simulated cluster is a record in `$KPLUG_HOME/state/sim/<name>.json`
//! (the [`Cluster`] plus the [`ClusterSpec`] it was made from) and a
//! kubeconfig beside it that points at nothing. Node names follow k3d's
//! scheme so plugins written against k3d see familiar shapes, while the
//! addresses come from the documentation range 192.0.2.0/24 (RFC 5737) so
//! nobody mistakes them for real ones. This module also owns the cluster-name
//! rule every engine applies, [`validate_cluster_name`].

use super::{Cluster, ClusterSpec, Engine};
use crate::config::Config;
use crate::error::{Context, Error, Result};
use crate::fsutil::write_atomic;
use crate::protocol::Node;
use serde::{Deserialize, Serialize};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// Longest cluster name accepted. k3d allows about this much before its
/// container and network names outgrow Docker's limits.
const MAX_NAME_LEN: usize = 32;

/// Kubernetes version the simulator reports; the `+kplug-sim` build metadata
/// marks it as not coming from a real API server.
const SIM_VERSION: &str = "v1.31.2+kplug-sim";
/// Largest state file read (a record is well under 1 KiB).
const MAX_STATE: u64 = 1024 * 1024;

/// Addresses are handed out from 192.0.2.2 up to 192.0.2.254.
const FIRST_HOST: u32 = 2;
const LAST_HOST: u32 = 254;

/// Check a cluster name: `^[a-z0-9][a-z0-9-]*$`, at most 32 characters.
///
/// The name becomes part of file names, container names and Docker network
/// names, so anything outside this set is refused before an engine sees it.
pub fn validate_cluster_name(name: &str) -> Result<()> {
    let problem = if name.is_empty() {
        Some("it is empty".to_string())
    } else if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        Some(format!("it contains `{}`", c.escape_debug()))
    } else if name.starts_with('-') {
        Some("it starts with `-`".to_string())
    } else if name.len() > MAX_NAME_LEN {
        // Only ASCII is left, so bytes are characters.
        Some(format!(
            "it is {} characters long, the limit is {MAX_NAME_LEN}",
            name.len()
        ))
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(Error::usage(format!(
            "invalid cluster name `{}`: {problem}",
            name.escape_debug()
        ))
        .with_hint(format!(
            "use lowercase letters, digits and `-`, starting with a letter or digit, \
             at most {MAX_NAME_LEN} characters (for example `dev` or `team-a-2`)"
        ))),
    }
}

/// What every engine checks before creating anything.
pub(super) fn validate_spec(spec: &ClusterSpec) -> Result<()> {
    validate_cluster_name(&spec.name)?;
    if spec.servers == 0 {
        return Err(
            Error::usage(format!("cluster `{}` would have no server", spec.name))
                .with_hint("a cluster needs at least one server: use `--servers 1` or more"),
        );
    }
    Ok(())
}

/// The simulator.
#[derive(Debug)]
pub struct Sim {
    /// `$KPLUG_HOME/state/sim`; created on first write.
    dir: PathBuf,
    /// The user's kubeconfig files: a simulated cluster's context is added
    /// to the first (and made current, as k3d and kind do).
    kubeconfigs: Vec<PathBuf>,
}

/// One state file.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    cluster: Cluster,
    spec: ClusterSpec,
}

impl Sim {
    pub fn new(cfg: &Config) -> Result<Sim> {
        Ok(Sim {
            dir: cfg.state_dir()?.join("sim"),
            kubeconfigs: crate::kubeconfig::files(cfg),
        })
    }

    /// Whether the simulator has cluster `name` (one `stat`).
    pub fn has(&self, name: &str) -> bool {
        validate_cluster_name(name).is_ok() && self.state_path(name).is_file()
    }

    /// What cluster `name` recommends.
    pub fn recommendations(&self, name: &str) -> Result<Vec<super::Recommendation>> {
        validate_cluster_name(name)?;
        Ok(self.load_existing(name)?.spec.recommend)
    }

    /// Record a recommendation (replacing one of the same plugin).
    pub fn recommend(&self, name: &str, rec: super::Recommendation) -> Result<()> {
        validate_cluster_name(name)?;
        let mut record = self.load_existing(name)?;
        record.spec.recommend.retain(|r| r.name != rec.name);
        record.spec.recommend.push(rec);
        self.save(&record)
    }

    fn state_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    fn kubeconfig_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.kubeconfig.yaml"))
    }

    /// The record of `name`, or `None` if there is no state file.
    fn load(&self, name: &str) -> Result<Option<Record>> {
        let path = self.state_path(name);
        match crate::fsutil::read_bounded(&path, MAX_STATE) {
            Ok(bytes) => parse_record(&path, &bytes).map(Some),
            Err(crate::fsutil::ReadError::Missing) => Ok(None),
            Err(e) => Err(Error::new(format!(
                "could not read the simulated cluster's state file {}",
                path.display()
            ))
            .caused_by(e)),
        }
    }

    fn load_existing(&self, name: &str) -> Result<Record> {
        self.load(name)?.ok_or_else(|| unknown_cluster(name))
    }

    fn save(&self, record: &Record) -> Result<()> {
        let path = self.state_path(&record.cluster.name);
        let mut json = serde_json::to_vec_pretty(record)
            .context("could not encode the simulated cluster's state")?;
        json.push(b'\n');
        write_atomic(&path, &json).with_context(|| format!("could not write {}", path.display()))
    }

    fn set_status(&self, name: &str, status: &str) -> Result<()> {
        validate_cluster_name(name)?;
        let mut record = self.load_existing(name)?;
        if record.cluster.status != status {
            record.cluster.status = status.to_string();
            self.save(&record)?;
        }
        Ok(())
    }
}

fn parse_record(path: &Path, bytes: &[u8]) -> Result<Record> {
    serde_json::from_slice(bytes).map_err(|e| {
        let name = path.file_stem().unwrap_or_default().to_string_lossy();
        Error::new(format!(
            "the simulated cluster's state file {} is corrupt",
            path.display()
        ))
        .caused_by(e)
        .with_hint(format!(
            "fix the file, or remove it: `kplug cluster delete {name}` does not need to read it"
        ))
    })
}

fn unknown_cluster(name: &str) -> Error {
    Error::new(format!("there is no simulated cluster `{name}`"))
        .with_hint("`kplug cluster list` shows the clusters that exist")
}

fn nodes_for(spec: &ClusterSpec) -> Result<Vec<Node>> {
    let name = &spec.name;
    let lb = u32::from(spec.servers > 1);
    let capacity = LAST_HOST - FIRST_HOST + 1;
    let wanted = u64::from(spec.servers) + u64::from(spec.agents) + u64::from(lb);
    if wanted > u64::from(capacity) {
        return Err(Error::usage(format!(
            "cluster `{name}` would have {wanted} nodes; the simulator has addresses for {capacity}"
        ))
        .with_hint("ask for fewer servers and agents"));
    }
    let mut next = FIRST_HOST;
    let mut node = |name: String, role: &str| {
        let ip = format!("192.0.2.{next}");
        next += 1;
        Node {
            name,
            role: role.to_string(),
            ip,
        }
    };
    let mut nodes = Vec::with_capacity(wanted as usize);
    for i in 0..spec.servers {
        nodes.push(node(format!("k3d-{name}-server-{i}"), "server"));
    }
    for i in 0..spec.agents {
        nodes.push(node(format!("k3d-{name}-agent-{i}"), "agent"));
    }
    if lb == 1 {
        nodes.push(node(format!("k3d-{name}-serverlb"), "loadbalancer"));
    }
    Ok(nodes)
}

/// A kubeconfig that tools can parse. Its server address is where k3d would
/// put a real API server; the comment is there for whoever opens the file
/// wondering why nothing answers.
const SIM_SERVER: &str = "https://127.0.0.1:6443";

fn kubeconfig_for(name: &str) -> String {
    format!(
        r#"# Simulated by kplug (`--engine sim`): cluster `{name}` does not exist,
# and nothing listens at https://127.0.0.1:6443 on its behalf.
apiVersion: v1
kind: Config
clusters:
- name: sim-{name}
  cluster:
    server: https://127.0.0.1:6443
contexts:
- name: sim-{name}
  context:
    cluster: sim-{name}
    user: sim-{name}
current-context: sim-{name}
users:
- name: sim-{name}
  user: {{}}
preferences: {{}}
"#
    )
}

impl Engine for Sim {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn create(&self, spec: &ClusterSpec) -> Result<()> {
        validate_spec(spec)?;
        let name = &spec.name;
        let state = self.state_path(name);
        let exists = state
            .try_exists()
            .with_context(|| format!("could not check {}", state.display()))?;
        if exists {
            return Err(
                Error::new(format!("a simulated cluster `{name}` already exists")).with_hint(
                    format!(
                        "choose another name, or remove it first: `kplug cluster delete {name}`"
                    ),
                ),
            );
        }
        let nodes = nodes_for(spec)?;
        let kubeconfig = self.kubeconfig_path(name);
        write_atomic(&kubeconfig, kubeconfig_for(name).as_bytes())
            .with_context(|| format!("could not write {}", kubeconfig.display()))?;
        if let Some(user) = self.kubeconfigs.first() {
            crate::kubeconfig::add_context(user, &format!("sim-{name}"), SIM_SERVER)?;
        }
        // The state file is written last: its presence means "created".
        self.save(&Record {
            cluster: Cluster {
                name: name.clone(),
                engine: "sim".to_string(),
                network: format!("k3d-{name}"),
                kubeconfig: kubeconfig.to_string_lossy().into_owned(),
                kubernetes_version: Some(SIM_VERSION.to_string()),
                nodes,
                status: "running".to_string(),
                simulated: true,
            },
            spec: spec.clone(),
        })
    }

    fn delete(&self, name: &str) -> Result<()> {
        validate_cluster_name(name)?;
        // Deliberately not parsed, so a corrupt record can still be removed.
        let state = self.state_path(name);
        match std::fs::remove_file(&state) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(unknown_cluster(name)),
            Err(e) => {
                return Err(
                    Error::new(format!("could not remove {}", state.display())).caused_by(e)
                );
            }
        }
        crate::kubeconfig::remove_context(&self.kubeconfigs, &format!("sim-{name}"))?;
        let kubeconfig = self.kubeconfig_path(name);
        match std::fs::remove_file(&kubeconfig) {
            Err(e) if e.kind() != ErrorKind::NotFound => {
                Err(Error::new(format!("could not remove {}", kubeconfig.display())).caused_by(e))
            }
            _ => Ok(()),
        }
    }

    fn start(&self, name: &str) -> Result<()> {
        self.set_status(name, "running")
    }

    fn stop(&self, name: &str) -> Result<()> {
        self.set_status(name, "stopped")
    }

    fn get(&self, name: &str) -> Result<Option<Cluster>> {
        validate_cluster_name(name)?;
        Ok(self.load(name)?.map(|r| r.cluster))
    }

    fn list(&self) -> Result<Vec<Cluster>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(
                    Error::new(format!("could not list {}", self.dir.display())).caused_by(e)
                );
            }
        };
        let mut clusters = Vec::new();
        for entry in entries {
            let entry = entry.with_context(|| format!("could not list {}", self.dir.display()))?;
            let file_name = entry.file_name();
            let file_name = file_name.to_string_lossy();
            // Dot files are write_atomic's temporaries.
            if file_name.starts_with('.') || !file_name.ends_with(".json") {
                continue;
            }
            let path = entry.path();
            let bytes = crate::fsutil::read_bounded(&path, MAX_STATE).map_err(|e| {
                Error::new(format!("could not read {}", path.display())).caused_by(e)
            })?;
            clusters.push(parse_record(&path, &bytes)?.cluster);
        }
        clusters.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(clusters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit;

    fn setup() -> (tempfile::TempDir, Sim) {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = Config::from_vars(vec![
            ("KPLUG_HOME".into(), tmp.path().join("home").into()),
            ("PATH".into(), tmp.path().join("bin").into()),
        ]);
        let sim = Sim::new(&cfg).unwrap();
        (tmp, sim)
    }

    fn spec(name: &str, servers: u32, agents: u32) -> ClusterSpec {
        ClusterSpec {
            name: name.into(),
            servers,
            agents,
            engine_args: vec!["--registry-use".into(), "x:5000".into()],
            recommend: Vec::new(),
        }
    }

    #[test]
    fn round_trip() {
        let (tmp, sim) = setup();
        assert_eq!(sim.list().unwrap(), []);
        assert_eq!(sim.get("dev").unwrap(), None);

        sim.create(&spec("dev", 1, 2)).unwrap();
        let c = sim.get("dev").unwrap().unwrap();
        assert_eq!(c.engine, "sim");
        assert!(c.simulated);
        assert_eq!(c.status, "running");
        assert_eq!(c.network, "k3d-dev");
        assert_eq!(c.kubernetes_version.as_deref(), Some("v1.31.2+kplug-sim"));
        assert_eq!(
            crate::cluster::stand_in::nodes(&c),
            [
                ("k3d-dev-server-0", "server", "192.0.2.2"),
                ("k3d-dev-agent-0", "agent", "192.0.2.3"),
                ("k3d-dev-agent-1", "agent", "192.0.2.4"),
            ]
        );
        let state = tmp.path().join("home/state/sim/dev.json");
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
        assert_eq!(record["spec"]["engineArgs"][1], "x:5000");

        let kubeconfig = tmp.path().join("home/state/sim/dev.kubeconfig.yaml");
        assert_eq!(c.kubeconfig, kubeconfig.to_string_lossy());
        let text = std::fs::read_to_string(&kubeconfig).unwrap();
        assert!(text.starts_with("# Simulated"), "{text}");
        let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(yaml["current-context"], "sim-dev");
        assert_eq!(yaml["clusters"][0]["name"], "sim-dev");
        assert_eq!(
            yaml["clusters"][0]["cluster"]["server"],
            "https://127.0.0.1:6443"
        );
        assert_eq!(yaml["contexts"][0]["context"]["user"], "sim-dev");
        assert_eq!(yaml["users"][0]["name"], "sim-dev");

        sim.create(&spec("alpha", 3, 0)).unwrap();
        let names: Vec<_> = sim.list().unwrap().into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["alpha", "dev"]);

        sim.stop("dev").unwrap();
        assert_eq!(sim.get("dev").unwrap().unwrap().status, "stopped");
        sim.start("dev").unwrap();
        assert_eq!(sim.get("dev").unwrap().unwrap().status, "running");

        sim.delete("dev").unwrap();
        assert_eq!(sim.get("dev").unwrap(), None);
        assert!(!kubeconfig.exists());
        assert_eq!(sim.list().unwrap().len(), 1);
    }

    #[test]
    fn load_balancer_only_with_several_servers() {
        let (_tmp, sim) = setup();
        sim.create(&spec("ha", 3, 1)).unwrap();
        let c = sim.get("ha").unwrap().unwrap();
        let last = c.nodes.last().unwrap();
        assert_eq!(
            (last.name.as_str(), last.role.as_str(), last.ip.as_str()),
            ("k3d-ha-serverlb", "loadbalancer", "192.0.2.6")
        );
        assert_eq!(c.count("server"), 3);
        assert_eq!(c.nodes[3].name, "k3d-ha-agent-0");
        assert_eq!(c.nodes[3].ip, "192.0.2.5");
    }

    #[test]
    fn duplicate_create_is_refused() {
        let (_tmp, sim) = setup();
        sim.create(&spec("dev", 1, 0)).unwrap();
        let e = sim.create(&spec("dev", 1, 0)).unwrap_err();
        assert!(e.message().contains("`dev` already exists"), "{e}");
        assert!(e.hints()[0].contains("kplug cluster delete dev"));
    }

    #[test]
    fn a_cluster_needs_a_server() {
        let (_tmp, sim) = setup();
        let e = sim.create(&spec("dev", 0, 2)).unwrap_err();
        assert_eq!(e.code(), exit::USAGE);
        assert!(e.hints()[0].contains("at least one server"));
        assert_eq!(sim.get("dev").unwrap(), None);
        let e = sim.create(&spec("big", 200, 100)).unwrap_err();
        assert_eq!(e.code(), exit::USAGE);
    }

    #[test]
    fn unknown_clusters_are_named() {
        let (_tmp, sim) = setup();
        type Op = fn(&Sim, &str) -> Result<()>;
        let ops: [Op; 3] = [|s, n| s.delete(n), |s, n| s.start(n), |s, n| s.stop(n)];
        for op in ops {
            let e = op(&sim, "ghost").unwrap_err();
            assert!(e.message().contains("`ghost`"), "{e}");
            assert!(e.hints()[0].contains("kplug cluster list"));
        }
    }

    #[test]
    fn bad_names_are_refused() {
        let (_tmp, sim) = setup();
        for ok in ["dev", "a", "0", "team-a-2", &"x".repeat(32)] {
            validate_cluster_name(ok).unwrap();
        }
        for bad in [
            "",
            "-dev",
            "Dev",
            "dev_1",
            "dév",
            "a/b",
            "..",
            &"x".repeat(33),
        ] {
            let e = validate_cluster_name(bad).unwrap_err();
            assert_eq!(e.code(), exit::USAGE, "{bad}");
            assert!(sim.create(&spec(bad, 1, 0)).is_err());
            assert_eq!(sim.get(bad).unwrap_err().code(), exit::USAGE);
            assert_eq!(sim.delete(bad).unwrap_err().code(), exit::USAGE);
            assert_eq!(sim.start(bad).unwrap_err().code(), exit::USAGE);
            assert_eq!(sim.stop(bad).unwrap_err().code(), exit::USAGE);
        }
        let e = validate_cluster_name("a b").unwrap_err();
        assert_eq!(e.message(), "invalid cluster name `a b`: it contains ` `");
    }

    #[test]
    fn a_corrupt_state_file_is_reported_not_deleted() {
        let (tmp, sim) = setup();
        sim.create(&spec("ok", 1, 0)).unwrap();
        let path = tmp.path().join("home/state/sim/bad.json");
        std::fs::write(&path, "{not json").unwrap();
        for e in [sim.list().unwrap_err(), sim.get("bad").unwrap_err()] {
            assert!(e.message().contains(&*path.to_string_lossy()), "{e}");
            assert!(!e.causes().is_empty());
        }
        assert!(path.exists());
        // The way out the hint offers.
        sim.delete("bad").unwrap();
        assert_eq!(sim.list().unwrap().len(), 1);
    }
}
