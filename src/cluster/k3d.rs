//! The k3d engine: drives the `k3d` CLI (<https://k3d.io>).
//!
//! Commands that change a cluster run with the terminal so the user sees
//! k3d's progress. What kplug knows about a cluster comes from
//! `k3d cluster list -o json`, read through private structs that name only
//! the fields kplug needs: k3d's output also carries the cluster token (in
//! `token`, node `env` and `runtimeLabels`), and since those fields have no
//! place in the structs they are skipped by the parser, never held in memory
//! as values kplug could pass on.

use super::sim::{validate_cluster_name, validate_spec};
use super::{Cluster, ClusterSpec, Engine, require_binary, run_captured, run_visible};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::protocol::Node;
use serde::Deserialize;
use std::path::PathBuf;

/// The k3d engine.
#[derive(Debug)]
pub struct K3d {
    bin: PathBuf,
}

/// One entry of `k3d cluster list -o json`, reduced to what kplug reads.
#[derive(Debug, Deserialize)]
struct RawCluster {
    name: String,
    #[serde(default)]
    network: Option<RawNetwork>,
    #[serde(default)]
    nodes: Option<Vec<RawNode>>,
}

#[derive(Debug, Deserialize)]
struct RawNetwork {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawNode {
    name: String,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    image: Option<String>,
    #[serde(rename = "IP", default)]
    ip: Option<RawIp>,
    #[serde(rename = "State", default)]
    state: Option<RawState>,
}

#[derive(Debug, Deserialize)]
struct RawIp {
    #[serde(rename = "IP", default)]
    ip: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawState {
    #[serde(rename = "Running", default)]
    running: Option<bool>,
}

impl K3d {
    pub fn new(cfg: &Config) -> Result<K3d> {
        Ok(K3d {
            bin: require_binary(cfg, "k3d", "https://k3d.io")?,
        })
    }

    fn run(&self, args: &[&str]) -> Result<()> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        run_visible(&self.bin, &args)
    }

    /// Every cluster k3d knows. Asking for all of them, rather than
    /// `k3d cluster list NAME`, tells "no such cluster" apart from a failing
    /// k3d without depending on the wording of k3d's error messages.
    fn list_raw(&self) -> Result<Vec<RawCluster>> {
        let out = run_captured(&self.bin, &["cluster", "list", "-o", "json"])?;
        parse_list(&out)
    }

    fn kubeconfig(&self, name: &str) -> Result<String> {
        let out = run_captured(&self.bin, &["kubeconfig", "write", name]).map_err(|e| {
            e.context(format!(
                "could not get the kubeconfig of k3d cluster `{name}`"
            ))
        })?;
        // k3d prints the path; anything before it would be log lines.
        match out.lines().map(str::trim).rfind(|l| !l.is_empty()) {
            Some(path) => Ok(path.to_string()),
            None => Err(Error::new(format!(
                "`k3d kubeconfig write {name}` did not print the path of the file it wrote"
            ))
            .with_hint("check that k3d is a version kplug supports: `k3d version`")),
        }
    }

    fn cluster(&self, raw: RawCluster) -> Result<Cluster> {
        let kubeconfig = self.kubeconfig(&raw.name)?;
        Ok(convert(raw, kubeconfig))
    }
}

fn parse_list(json: &str) -> Result<Vec<RawCluster>> {
    if json.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(json).map_err(|e| {
        Error::new("k3d printed JSON kplug cannot read")
            .caused_by(format!("in the output of `k3d cluster list -o json`: {e}"))
            .with_hint("check that k3d is a version kplug supports: `k3d version`")
    })
}

fn convert(raw: RawCluster, kubeconfig: String) -> Cluster {
    let raw_nodes = raw.nodes.unwrap_or_default();
    let servers: Vec<&RawNode> = raw_nodes
        .iter()
        .filter(|n| n.role.as_deref() == Some("server"))
        .collect();
    let running = !servers.is_empty()
        && servers
            .iter()
            .all(|n| n.state.as_ref().and_then(|s| s.running) == Some(true));
    let kubernetes_version = servers
        .iter()
        .find_map(|n| n.image.as_deref().and_then(image_tag));
    let nodes = raw_nodes
        .iter()
        .filter_map(|n| {
            let role = n.role.as_deref()?;
            // Registries and other helper containers are not cluster nodes.
            if !matches!(role, "server" | "agent" | "loadbalancer") {
                return None;
            }
            Some(Node {
                name: n.name.clone(),
                role: role.to_string(),
                ip: n
                    .ip
                    .as_ref()
                    .and_then(|ip| ip.ip.clone())
                    .unwrap_or_default(),
            })
        })
        .collect();
    Cluster {
        network: raw.network.and_then(|n| n.name).unwrap_or_default(),
        name: raw.name,
        engine: "k3d".to_string(),
        kubeconfig,
        kubernetes_version,
        nodes,
        status: if running { "running" } else { "stopped" }.to_string(),
        simulated: false,
    }
}

/// The tag of an image reference: `rancher/k3s:v1.31.2-k3s1` → `v1.31.2-k3s1`.
fn image_tag(image: &str) -> Option<String> {
    let without_digest = image.split('@').next()?;
    let (_, tag) = without_digest.rsplit_once(':')?;
    // In `registry:5000/k3s` the colon belongs to the registry's port.
    if tag.is_empty() || tag.contains('/') {
        return None;
    }
    Some(tag.to_string())
}

impl Engine for K3d {
    fn name(&self) -> &'static str {
        "k3d"
    }

    fn create(&self, spec: &ClusterSpec) -> Result<()> {
        validate_spec(spec)?;
        let mut args = vec![
            "cluster".to_string(),
            "create".to_string(),
            spec.name.clone(),
            "--servers".to_string(),
            spec.servers.to_string(),
            "--agents".to_string(),
            spec.agents.to_string(),
        ];
        args.extend(spec.engine_args.iter().cloned());
        run_visible(&self.bin, &args)
    }

    fn delete(&self, name: &str) -> Result<()> {
        validate_cluster_name(name)?;
        self.run(&["cluster", "delete", name])
    }

    fn start(&self, name: &str) -> Result<()> {
        validate_cluster_name(name)?;
        self.run(&["cluster", "start", name])
    }

    fn stop(&self, name: &str) -> Result<()> {
        validate_cluster_name(name)?;
        self.run(&["cluster", "stop", name])
    }

    fn get(&self, name: &str) -> Result<Option<Cluster>> {
        validate_cluster_name(name)?;
        match self.list_raw()?.into_iter().find(|c| c.name == name) {
            Some(raw) => self.cluster(raw).map(Some),
            None => Ok(None),
        }
    }

    fn list(&self) -> Result<Vec<Cluster>> {
        let mut clusters = self
            .list_raw()?
            .into_iter()
            .map(|raw| self.cluster(raw))
            .collect::<Result<Vec<_>>>()?;
        clusters.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(clusters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::stand_in::StandIn;

    const LIST_JSON: &str = r#"[{"name":"dev","network":{"name":"k3d-dev","external":false,"IPAM":{"IPPrefix":"172.18.0.0/16"}},"token":"SECRETTOKEN","nodes":[{"name":"k3d-dev-server-0","role":"server","image":"rancher/k3s:v1.31.2-k3s1","env":["K3S_TOKEN=SECRETTOKEN"],"runtimeLabels":{"k3d.cluster":"dev","k3d.cluster.token":"SECRETTOKEN"},"serverOpts":{"kubeAPI":{"Host":"0.0.0.0","HostIP":"0.0.0.0","PortMapping":{"Binding":{"HostIp":"0.0.0.0","HostPort":"6550"}}}},"IP":{"IP":"172.18.0.2","Static":false},"State":{"Running":true,"Status":"running"}},{"name":"k3d-dev-agent-0","role":"agent","image":"rancher/k3s:v1.31.2-k3s1","env":["K3S_TOKEN=SECRETTOKEN","K3S_URL=https://k3d-dev-server-0:6443"],"IP":{"IP":"172.18.0.3","Static":false},"State":{"Running":true}},{"name":"k3d-dev-serverlb","role":"loadbalancer","image":"ghcr.io/k3d-io/k3d-proxy:5.7.4","IP":{"IP":"172.18.0.4","Static":false},"State":{"Running":true}}],"serverOpts":{"kubeAPI":{"Host":"0.0.0.0","HostIP":"0.0.0.0"}},"agentsRunning":1,"serversRunning":1}]"#;

    /// A temp dir with `bin/k3d`, a stand-in that logs its argv to `argv`
    /// (one line per call) and replays `list.json`.
    struct Fixture {
        tmp: tempfile::TempDir,
        cfg: Config,
    }

    impl Fixture {
        fn new(list_json: &str, create_status: i32) -> Fixture {
            let StandIn { tmp, cfg } = StandIn::new("k3d", |t| {
                std::fs::write(t.join("list.json"), list_json).unwrap();
                let t = t.display();
                format!(
                    r#""cluster list") cat '{t}/list.json' ;;
"kubeconfig write") echo "/home/u/.config/k3d/kubeconfig-$3.yaml" ;;
"cluster create") exit {create_status} ;;"#
                )
            });
            Fixture { tmp, cfg }
        }

        fn k3d(&self) -> K3d {
            K3d::new(&self.cfg).unwrap()
        }

        fn argv(&self) -> Vec<String> {
            crate::cluster::stand_in::argv(self.tmp.path())
        }
    }

    fn spec() -> ClusterSpec {
        ClusterSpec {
            name: "dev".into(),
            servers: 1,
            agents: 2,
            engine_args: vec!["--registry-use".into(), "x:5000".into()],
            recommend: Vec::new(),
        }
    }

    #[test]
    fn create_passes_the_spec_and_engine_args() {
        let f = Fixture::new(LIST_JSON, 0);
        f.k3d().create(&spec()).unwrap();
        assert_eq!(
            f.argv(),
            ["cluster create dev --servers 1 --agents 2 --registry-use x:5000"]
        );
    }

    #[test]
    fn create_fails_when_k3d_does() {
        let f = Fixture::new(LIST_JSON, 3);
        let e = f.k3d().create(&spec()).unwrap_err();
        assert!(e.message().contains("cluster create dev"), "{e}");
    }

    #[test]
    fn lifecycle_commands() {
        let f = Fixture::new(LIST_JSON, 0);
        let k3d = f.k3d();
        k3d.stop("dev").unwrap();
        k3d.start("dev").unwrap();
        k3d.delete("dev").unwrap();
        assert_eq!(
            f.argv(),
            [
                "cluster stop dev",
                "cluster start dev",
                "cluster delete dev"
            ]
        );
        assert!(k3d.delete("Bad Name").is_err());
        assert_eq!(f.argv().len(), 3);
    }

    #[test]
    fn get_reads_the_cluster_and_nothing_secret() {
        let f = Fixture::new(LIST_JSON, 0);
        let c = f.k3d().get("dev").unwrap().unwrap();
        assert_eq!(c.name, "dev");
        assert_eq!(c.engine, "k3d");
        assert_eq!(c.network, "k3d-dev");
        assert_eq!(c.status, "running");
        assert!(!c.simulated);
        assert_eq!(c.kubernetes_version.as_deref(), Some("v1.31.2-k3s1"));
        assert_eq!(c.kubeconfig, "/home/u/.config/k3d/kubeconfig-dev.yaml");
        assert_eq!(
            crate::cluster::stand_in::nodes(&c),
            [
                ("k3d-dev-server-0", "server", "172.18.0.2"),
                ("k3d-dev-agent-0", "agent", "172.18.0.3"),
                ("k3d-dev-serverlb", "loadbalancer", "172.18.0.4"),
            ]
        );
        let json = serde_json::to_string(&c).unwrap();
        assert!(!json.contains("SECRETTOKEN"), "{json}");
        assert_eq!(f.argv(), ["cluster list -o json", "kubeconfig write dev"]);
    }

    #[test]
    fn unknown_cluster_is_none_without_asking_for_a_kubeconfig() {
        let f = Fixture::new(LIST_JSON, 0);
        assert_eq!(f.k3d().get("other").unwrap(), None);
        assert_eq!(f.argv(), ["cluster list -o json"]);
        let f = Fixture::new("[]\n", 0);
        assert_eq!(f.k3d().get("dev").unwrap(), None);
        assert_eq!(f.k3d().list().unwrap(), []);
    }

    #[test]
    fn list_returns_every_cluster() {
        let f = Fixture::new(LIST_JSON, 0);
        let all = f.k3d().list().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].count("agent"), 1);
    }

    #[test]
    fn sparse_json_is_tolerated() {
        let f = Fixture::new(
            r#"[{"name":"b","nodes":[{"name":"k3d-b-server-0","role":"server","State":{"Running":false}},
                {"name":"k3d-b-agent-0","role":"agent","IP":{"IP":""}},
                {"name":"k3d-b-registry","role":"registry"}]},
               {"name":"a","network":null,"nodes":null}]"#,
            0,
        );
        let all = f.k3d().list().unwrap();
        assert_eq!(all[0].name, "a");
        assert_eq!(all[0].status, "stopped");
        let b = &all[1];
        assert_eq!(b.status, "stopped");
        assert_eq!(b.network, "");
        assert_eq!(b.kubernetes_version, None);
        assert_eq!(b.nodes.len(), 2);
        assert!(b.nodes.iter().all(|n| n.ip.is_empty()));
    }

    #[test]
    fn malformed_json_is_an_error_naming_k3d() {
        let f = Fixture::new(r#"[{"name":"dev","nodes":[{"#, 0);
        let e = f.k3d().get("dev").unwrap_err();
        assert!(e.message().contains("k3d"), "{e}");
        assert!(!e.causes().is_empty());
        assert!(e.hints()[0].contains("k3d version"));
    }

    #[test]
    fn missing_k3d_suggests_the_simulator() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = Config::from_vars(vec![
            ("KPLUG_HOME".into(), tmp.path().join("home").into()),
            ("PATH".into(), tmp.path().join("bin").into()),
        ]);
        let e = K3d::new(&cfg).unwrap_err();
        assert!(e.message().contains("k3d"), "{e}");
        assert!(e.hints().iter().any(|h| h.contains("--engine sim")));
    }

    #[test]
    fn image_tags() {
        assert_eq!(
            image_tag("rancher/k3s:v1.31.2-k3s1").as_deref(),
            Some("v1.31.2-k3s1")
        );
        assert_eq!(
            image_tag("reg:5000/k3s:v1.30.0-k3s1@sha256:abc").as_deref(),
            Some("v1.30.0-k3s1")
        );
        assert_eq!(image_tag("reg:5000/rancher/k3s"), None);
        assert_eq!(image_tag("rancher/k3s"), None);
    }
}
