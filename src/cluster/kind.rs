//! The kind engine: drives the `kind` CLI (<https://kind.sigs.k8s.io>).
//!
//! kind has no flags for node counts, so a cluster with more than one
//! control-plane node or with workers is described in a generated kind
//! config. kind reports little about a cluster: node roles are read from
//! its node naming scheme, node addresses are not known, and the kubeconfig
//! (which holds client credentials) is copied into a private directory of
//! kplug's state so plugins get a path. kind cannot stop a cluster, so
//! start and stop are refused.

use super::sim::{validate_cluster_name, validate_spec};
use super::{Cluster, ClusterSpec, Engine, require_binary, run_captured, run_visible};
use crate::config::Config;
use crate::error::{Context, Error, Result};
use crate::fsutil::write_atomic;
use crate::protocol::Node;
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The kind engine.
#[derive(Debug)]
pub struct Kind {
    bin: PathBuf,
    /// `$KPLUG_HOME/state/kind`: generated configs and kubeconfigs.
    dir: PathBuf,
}

impl Kind {
    pub fn new(cfg: &Config) -> Result<Kind> {
        Ok(Kind {
            bin: require_binary(cfg, "kind", "https://kind.sigs.k8s.io")?,
            dir: cfg.state_dir()?.join("kind"),
        })
    }

    fn config_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.config.yaml"))
    }

    fn kubeconfig_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.kubeconfig.yaml"))
    }

    /// Create the state directory readable by the user only: it holds
    /// kubeconfigs with client keys, and `write_atomic` has no mode to give.
    fn ensure_dir(&self) -> Result<()> {
        let fail = |e| Error::new(format!("could not create {}", self.dir.display())).caused_by(e);
        if let Some(parent) = self.dir.parent() {
            std::fs::create_dir_all(parent).map_err(fail)?;
        }
        match std::fs::DirBuilder::new().mode(0o700).create(&self.dir) {
            Err(e) if e.kind() != ErrorKind::AlreadyExists => Err(fail(e)),
            _ => Ok(()),
        }
    }

    /// Names from `kind get clusters`. When there are none kind says so on
    /// stderr; that message is kept from the terminal, since kplug asks this
    /// before every create.
    fn cluster_names(&self) -> Result<Vec<String>> {
        let args = ["get", "clusters"];
        let out = Command::new(&self.bin)
            .args(args)
            .output()
            .with_context(|| format!("could not run {}", self.bin.display()))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let mut e = Error::new(format!("`kind get clusters` failed ({})", out.status));
            if !stderr.trim().is_empty() {
                e = e.caused_by(stderr.trim());
            }
            return Err(e.with_hint("check that kind works on its own: `kind get clusters`"));
        }
        let stdout = String::from_utf8(out.stdout)
            .map_err(|_| Error::new("`kind get clusters` printed output that is not UTF-8"))?;
        Ok(stdout
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect())
    }

    /// The cluster `name`, known to exist.
    fn describe(&self, name: &str) -> Result<Cluster> {
        let out = run_captured(&self.bin, &["get", "nodes", "--name", name])?;
        let mut nodes: Vec<(NodeRole, u32, String)> = out
            .lines()
            .map(str::trim)
            .filter_map(|node| {
                let (role, index) = node_role(name, node)?;
                Some((role, index, node.to_string()))
            })
            .collect();
        // kind lists nodes in no particular order; KPLUG_SERVERS and
        // KPLUG_AGENTS should not change from one call to the next.
        nodes.sort();
        let kubeconfig =
            run_captured(&self.bin, &["get", "kubeconfig", "--name", name]).map_err(|e| {
                e.context(format!(
                    "could not get the kubeconfig of kind cluster `{name}`"
                ))
            })?;
        let path = self.kubeconfig_path(name);
        self.ensure_dir()?;
        write_atomic(&path, kubeconfig.as_bytes())
            .and_then(|()| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)))
            .with_context(|| format!("could not write {}", path.display()))?;
        Ok(Cluster {
            name: name.to_string(),
            engine: "kind".to_string(),
            network: "kind".to_string(),
            kubeconfig: path.to_string_lossy().into_owned(),
            kubernetes_version: None,
            nodes: nodes
                .into_iter()
                .map(|(role, _, name)| Node {
                    name,
                    role: role.as_str().to_string(),
                    // kind does not report node addresses.
                    ip: String::new(),
                })
                .collect(),
            status: "running".to_string(),
            simulated: false,
        })
    }
}

/// Roles in the order nodes are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum NodeRole {
    Server,
    Agent,
    LoadBalancer,
}

impl NodeRole {
    fn as_str(self) -> &'static str {
        match self {
            NodeRole::Server => "server",
            NodeRole::Agent => "agent",
            NodeRole::LoadBalancer => "loadbalancer",
        }
    }
}

/// Role and ordinal of a kind node from its name: `dev-control-plane`,
/// `dev-control-plane2`… are servers 1, 2…; `dev-worker`, `dev-worker2`…
/// agents; `dev-external-load-balancer` the load balancer.
fn node_role(cluster: &str, node: &str) -> Option<(NodeRole, u32)> {
    let rest = node.strip_prefix(cluster)?.strip_prefix('-')?;
    if rest == "external-load-balancer" {
        return Some((NodeRole::LoadBalancer, 1));
    }
    let (role, number) = if let Some(n) = rest.strip_prefix("control-plane") {
        (NodeRole::Server, n)
    } else if let Some(n) = rest.strip_prefix("worker") {
        (NodeRole::Agent, n)
    } else {
        return None;
    };
    if number.is_empty() {
        return Some((role, 1));
    }
    if !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((role, number.parse().ok()?))
}

/// A kind config with `servers` control-plane nodes and `agents` workers.
fn kind_config(spec: &ClusterSpec) -> String {
    let mut out = format!(
        "# Generated by kplug for cluster `{}` ({} server(s), {} agent(s)).\n\
         kind: Cluster\n\
         apiVersion: kind.x-k8s.io/v1alpha4\n\
         nodes:\n",
        spec.name, spec.servers, spec.agents
    );
    for _ in 0..spec.servers {
        out.push_str("- role: control-plane\n");
    }
    for _ in 0..spec.agents {
        out.push_str("- role: worker\n");
    }
    out
}

fn has_config_flag(args: &[String]) -> bool {
    args.iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "--config" || a.starts_with("--config="))
}

impl Engine for Kind {
    fn name(&self) -> &'static str {
        "kind"
    }

    fn create(&self, spec: &ClusterSpec) -> Result<()> {
        validate_spec(spec)?;
        let name = &spec.name;
        let mut args = vec![
            "create".to_string(),
            "cluster".to_string(),
            "--name".to_string(),
            name.clone(),
        ];
        if spec.servers > 1 || spec.agents > 0 {
            if has_config_flag(&spec.engine_args) {
                return Err(Error::usage(format!(
                    "cluster `{name}`: `--config` in the engine arguments conflicts with \
                     --servers {} --agents {}",
                    spec.servers, spec.agents
                ))
                .with_hint(
                    "describe the nodes in your kind config and leave --servers 1 --agents 0, \
                     or drop `--config` and let kplug generate one",
                ));
            }
            let path = self.config_path(name);
            self.ensure_dir()?;
            write_atomic(&path, kind_config(spec).as_bytes())
                .with_context(|| format!("could not write {}", path.display()))?;
            args.push("--config".to_string());
            args.push(path.to_string_lossy().into_owned());
        }
        args.extend(spec.engine_args.iter().cloned());
        run_visible(&self.bin, &args)
    }

    fn delete(&self, name: &str) -> Result<()> {
        validate_cluster_name(name)?;
        run_visible(
            &self.bin,
            &["delete", "cluster", "--name", name].map(String::from),
        )?;
        for path in [self.kubeconfig_path(name), self.config_path(name)] {
            remove_if_present(&path)?;
        }
        Ok(())
    }

    fn start(&self, name: &str) -> Result<()> {
        validate_cluster_name(name)?;
        Err(cannot_start_or_stop(name))
    }

    fn stop(&self, name: &str) -> Result<()> {
        validate_cluster_name(name)?;
        Err(cannot_start_or_stop(name))
    }

    fn supports_start_stop(&self) -> bool {
        false
    }

    fn get(&self, name: &str) -> Result<Option<Cluster>> {
        validate_cluster_name(name)?;
        if !self.cluster_names()?.iter().any(|n| n == name) {
            return Ok(None);
        }
        self.describe(name).map(Some)
    }

    fn list(&self) -> Result<Vec<Cluster>> {
        let mut names = self.cluster_names()?;
        names.sort();
        names.iter().map(|n| self.describe(n)).collect()
    }
}

fn cannot_start_or_stop(name: &str) -> Error {
    Error::new("kind cannot start or stop a cluster").with_hint(format!(
        "delete it and create it again (`kplug cluster delete {name}`, then \
         `kplug cluster create {name}`), or use the k3d engine, which can"
    ))
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => {
            Err(Error::new(format!("could not remove {}", path.display())).caused_by(e))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::stand_in::StandIn;
    use crate::error::exit;

    /// A temp dir with `bin/kind`, a stand-in that logs its argv to `argv`
    /// (one line per call), lists the clusters in `clusters` and three
    /// nodes (out of order) for any of them.
    struct Fixture {
        tmp: tempfile::TempDir,
        cfg: Config,
    }

    impl Fixture {
        fn new(clusters: &str) -> Fixture {
            let StandIn { tmp, cfg } = StandIn::new("kind", |t| {
                std::fs::write(t.join("clusters"), clusters).unwrap();
                let t = t.display();
                format!(
                    r#""get clusters")
    [ -s '{t}/clusters' ] || echo "No kind clusters found." >&2
    cat '{t}/clusters' ;;
"get nodes") printf '%s\n' "$4-worker2" "$4-control-plane" "$4-worker" ;;
"get kubeconfig") printf 'apiVersion: v1\nkind: Config\n# %s\n' "$4" ;;"#
                )
            });
            Fixture { tmp, cfg }
        }

        fn kind(&self) -> Kind {
            Kind::new(&self.cfg).unwrap()
        }

        fn state(&self) -> PathBuf {
            self.tmp.path().join("home/state/kind")
        }

        fn argv(&self) -> Vec<String> {
            crate::cluster::stand_in::argv(self.tmp.path())
        }
    }

    fn spec(servers: u32, agents: u32, engine_args: &[&str]) -> ClusterSpec {
        ClusterSpec {
            name: "dev".into(),
            servers,
            agents,
            engine_args: engine_args.iter().map(|a| a.to_string()).collect(),
            recommend: Vec::new(),
        }
    }

    #[test]
    fn create_generates_a_config_for_workers() {
        let f = Fixture::new("");
        f.kind().create(&spec(1, 2, &["--wait", "1m"])).unwrap();
        let config = f.state().join("dev.config.yaml");
        assert_eq!(
            f.argv(),
            [format!(
                "create cluster --name dev --config {} --wait 1m",
                config.display()
            )]
        );
        let yaml: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
        assert_eq!(yaml["kind"], "Cluster");
        assert_eq!(yaml["apiVersion"], "kind.x-k8s.io/v1alpha4");
        let roles: Vec<_> = yaml["nodes"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|n| n["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["control-plane", "worker", "worker"]);
    }

    #[test]
    fn a_single_node_needs_no_config() {
        let f = Fixture::new("");
        f.kind()
            .create(&spec(1, 0, &["--config", "mine.yaml"]))
            .unwrap();
        assert_eq!(f.argv(), ["create cluster --name dev --config mine.yaml"]);
        assert!(!f.state().join("dev.config.yaml").exists());
    }

    #[test]
    fn a_user_config_conflicts_with_node_counts() {
        let f = Fixture::new("");
        for args in [
            ["--config", "mine.yaml"].as_slice(),
            &["--config=mine.yaml"],
        ] {
            let e = f.kind().create(&spec(3, 0, args)).unwrap_err();
            assert_eq!(e.code(), exit::USAGE);
            assert!(e.message().contains("--config"), "{e}");
        }
        assert_eq!(f.argv(), Vec::<String>::new());
        assert_eq!(
            f.kind().create(&spec(0, 1, &[])).unwrap_err().code(),
            exit::USAGE
        );
    }

    #[test]
    fn get_reads_nodes_and_writes_the_kubeconfig() {
        let f = Fixture::new("other\ndev\n");
        let c = f.kind().get("dev").unwrap().unwrap();
        assert_eq!(c.engine, "kind");
        assert_eq!(c.network, "kind");
        assert_eq!(c.status, "running");
        assert_eq!(c.kubernetes_version, None);
        assert_eq!(
            crate::cluster::stand_in::nodes(&c),
            [
                ("dev-control-plane", "server", ""),
                ("dev-worker", "agent", ""),
                ("dev-worker2", "agent", ""),
            ]
        );
        let kubeconfig = f.state().join("dev.kubeconfig.yaml");
        assert_eq!(c.kubeconfig, kubeconfig.to_string_lossy());
        assert_eq!(
            std::fs::read_to_string(&kubeconfig).unwrap(),
            "apiVersion: v1\nkind: Config\n# dev\n"
        );
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&kubeconfig), 0o600);
        assert_eq!(mode(&f.state()), 0o700);

        let names: Vec<_> = f
            .kind()
            .list()
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["dev", "other"]);

        f.kind().delete("dev").unwrap();
        assert!(!kubeconfig.exists());
        assert_eq!(f.argv().last().unwrap(), "delete cluster --name dev");
    }

    #[test]
    fn unknown_cluster_is_none() {
        let f = Fixture::new("");
        assert_eq!(f.kind().get("dev").unwrap(), None);
        assert_eq!(f.kind().list().unwrap(), []);
        assert_eq!(f.argv(), ["get clusters", "get clusters"]);
    }

    #[test]
    fn start_and_stop_are_refused() {
        let f = Fixture::new("dev\n");
        for e in [
            f.kind().start("dev").unwrap_err(),
            f.kind().stop("dev").unwrap_err(),
        ] {
            assert_eq!(e.message(), "kind cannot start or stop a cluster");
            assert!(e.hints()[0].contains("kplug cluster delete dev"));
        }
        assert_eq!(f.argv(), Vec::<String>::new());
        assert!(!f.kind().supports_start_stop());
    }

    #[test]
    fn roles_from_node_names() {
        let r = |n| node_role("dev", n);
        assert_eq!(r("dev-control-plane"), Some((NodeRole::Server, 1)));
        assert_eq!(r("dev-control-plane3"), Some((NodeRole::Server, 3)));
        assert_eq!(r("dev-worker"), Some((NodeRole::Agent, 1)));
        assert_eq!(r("dev-worker12"), Some((NodeRole::Agent, 12)));
        assert_eq!(
            r("dev-external-load-balancer"),
            Some((NodeRole::LoadBalancer, 1))
        );
        assert_eq!(r("dev-workerx"), None);
        assert_eq!(r("devx-worker"), None);
        assert_eq!(r("other-worker"), None);
    }

    #[test]
    fn missing_kind_suggests_the_simulator() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = Config::from_vars(vec![
            ("KPLUG_HOME".into(), tmp.path().join("home").into()),
            ("PATH".into(), tmp.path().join("bin").into()),
        ]);
        let e = Kind::new(&cfg).unwrap_err();
        assert!(e.hints().iter().any(|h| h.contains("--engine sim")));
    }
}
