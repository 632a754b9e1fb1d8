//! The EXEC context document kplug writes to a hook's stdin.
//!
//! Built from what the engine reports, with secrets (cluster tokens, node
//! environments) already stripped: nothing secret has a field here.

use super::{Event, HookResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecContext {
    pub protocol: u32,
    pub event: Event,
    /// Unique per operation: every hook of one `kplug cluster create` (its
    /// pre- and post- firings alike) sees the same id.
    pub invocation_id: String,
    pub host: HostContext,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterContext>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<Spec>,
    /// For `post-plugin-install` / `pre-plugin-remove`: the plugin itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<PluginContext>,
    /// Results of the hooks that ran before this one in the same firing,
    /// by plugin name.
    #[serde(default)]
    pub previous: BTreeMap<String, HookResult>,
}

impl ExecContext {
    /// The context of one event of one operation (`invocation_id` is shared
    /// by every firing of that operation), spoken in the current protocol,
    /// with no cluster, spec or plugin yet.
    pub fn new(event: Event, invocation_id: impl Into<String>) -> ExecContext {
        ExecContext {
            protocol: super::CURRENT_PROTOCOL,
            event,
            invocation_id: invocation_id.into(),
            host: HostContext {
                version: crate::version().into(),
            },
            cluster: None,
            spec: None,
            plugin: None,
            previous: BTreeMap::new(),
        }
    }

    /// A plugin lifecycle event (`post-plugin-install`,
    /// `pre-plugin-remove`) about `name` at `version`.
    pub fn for_plugin(
        event: Event,
        invocation_id: impl Into<String>,
        name: &str,
        version: &str,
    ) -> ExecContext {
        ExecContext {
            plugin: Some(PluginContext {
                name: name.into(),
                version: version.into(),
            }),
            ..ExecContext::new(event, invocation_id)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostContext {
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterContext {
    pub name: String,
    pub engine: String,
    pub network: String,
    pub kubeconfig: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    #[serde(default)]
    pub nodes: Vec<Node>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// True when the engine is kplug's simulator: no containers exist.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub simulated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    /// `server`, `agent` or `loadbalancer`.
    pub role: String,
    #[serde(default)]
    pub ip: String,
}

impl ClusterContext {
    /// Nodes of one role in the `name=ip;name=ip` form of `KPLUG_SERVERS`
    /// and `KPLUG_AGENTS`.
    pub fn node_list(&self, role: &str) -> String {
        let mut out = String::new();
        for n in self.nodes.iter().filter(|n| n.role == role) {
            if !out.is_empty() {
                out.push(';');
            }
            out.push_str(&n.name);
            out.push('=');
            out.push_str(&n.ip);
        }
        out
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    pub servers: u32,
    pub agents: u32,
    #[serde(default)]
    pub engine_args: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginContext {
    pub name: String,
    pub version: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ExecContext {
        ExecContext {
            protocol: 1,
            event: Event::PostClusterCreate,
            invocation_id: "0192-abc".into(),
            host: HostContext {
                version: "0.1.0".into(),
            },
            cluster: Some(ClusterContext {
                name: "dev".into(),
                engine: "k3d".into(),
                network: "k3d-dev".into(),
                kubeconfig: "/home/u/.kube/dev.yaml".into(),
                kubernetes_version: Some("v1.31.2+k3s1".into()),
                nodes: vec![
                    Node {
                        name: "k3d-dev-server-0".into(),
                        role: "server".into(),
                        ip: "172.18.0.2".into(),
                    },
                    Node {
                        name: "k3d-dev-agent-0".into(),
                        role: "agent".into(),
                        ip: "172.18.0.3".into(),
                    },
                    Node {
                        name: "k3d-dev-agent-1".into(),
                        role: "agent".into(),
                        ip: "172.18.0.4".into(),
                    },
                ],
                annotations: BTreeMap::new(),
                simulated: false,
            }),
            spec: Some(Spec {
                servers: 1,
                agents: 2,
                engine_args: vec![],
            }),
            plugin: None,
            previous: BTreeMap::new(),
        }
    }

    #[test]
    fn serialises_in_the_documented_shape() {
        let v = serde_json::to_value(sample()).unwrap();
        assert_eq!(v["event"], "post-cluster-create");
        assert_eq!(v["invocationId"], "0192-abc");
        assert_eq!(v["cluster"]["kubernetesVersion"], "v1.31.2+k3s1");
        assert_eq!(v["cluster"]["nodes"][0]["ip"], "172.18.0.2");
        assert_eq!(v["spec"]["engineArgs"], serde_json::json!([]));
        assert!(v["cluster"].get("simulated").is_none());
        assert!(v.get("plugin").is_none());
        let back: ExecContext = serde_json::from_value(v).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn node_lists() {
        let c = sample().cluster.unwrap();
        assert_eq!(c.node_list("server"), "k3d-dev-server-0=172.18.0.2");
        assert_eq!(
            c.node_list("agent"),
            "k3d-dev-agent-0=172.18.0.3;k3d-dev-agent-1=172.18.0.4"
        );
        assert_eq!(c.node_list("loadbalancer"), "");
    }
}
