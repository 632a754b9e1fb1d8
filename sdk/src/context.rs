//! The EXEC context kplug writes to a hook's stdin.
//!
//! Every field a plugin does not need may be ignored, and keys this SDK does
//! not know are skipped, so plugins keep working with newer hosts.

use crate::{Event, HookResult, env};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The context of one hook run (`docs/protocol.md` §9.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecContext {
    /// The negotiated protocol version.
    pub protocol: u32,
    /// The event's name, e.g. `post-cluster-create`. Kept as text so that an
    /// event newer than this SDK still decodes; see [`ExecContext::event`].
    pub event: String,
    /// The same for every hook of one operation.
    #[serde(default)]
    pub invocation_id: String,
    #[serde(default)]
    pub host: Host,
    /// The cluster, for cluster events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Cluster>,
    /// What was asked for, when there is a spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<Spec>,
    /// The plugin itself, for `post-plugin-install` / `pre-plugin-remove`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<PluginRef>,
    /// Results of the hooks that ran before this one, by plugin name.
    #[serde(default)]
    pub previous: BTreeMap<String, HookResult>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    /// kplug's version.
    #[serde(default)]
    pub version: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    pub name: String,
    /// `k3d`, `kind` or `sim`.
    #[serde(default)]
    pub engine: String,
    /// The cluster's container network.
    #[serde(default)]
    pub network: String,
    /// Path of a kubeconfig file for the cluster.
    #[serde(default)]
    pub kubeconfig: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    #[serde(default)]
    pub nodes: Vec<Node>,
    /// Notes attached to the cluster so far (by `mutate` hooks).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// True when the engine is kplug's simulator: no containers exist.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub simulated: bool,
}

impl Cluster {
    /// The nodes of one role: `server`, `agent` or `loadbalancer`.
    pub fn nodes_with_role<'a>(&'a self, role: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.nodes.iter().filter(move |n| n.role == role)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    /// `server`, `agent` or `loadbalancer`.
    pub role: String,
    /// May be empty.
    #[serde(default)]
    pub ip: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    #[serde(default)]
    pub servers: u32,
    #[serde(default)]
    pub agents: u32,
    /// Extra engine arguments, including those of earlier `mutate` hooks.
    #[serde(default)]
    pub engine_args: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginRef {
    pub name: String,
    pub version: String,
}

impl ExecContext {
    /// Decode the JSON document kplug wrote to stdin.
    pub fn from_json(doc: &[u8]) -> Result<ExecContext, serde_json::Error> {
        serde_json::from_slice(doc)
    }

    /// The event, if it is one of protocol v1.
    pub fn event(&self) -> Option<Event> {
        self.event.parse().ok()
    }

    /// The cluster's name, for cluster events.
    pub fn cluster_name(&self) -> Option<&str> {
        self.cluster.as_ref().map(|c| c.name.as_str())
    }

    /// A context rebuilt from the `KPLUG_*` variables alone, for a plugin
    /// started with `KPLUG_COMMAND=EXEC` but nothing on stdin (by hand, or by
    /// a tool that only sets the environment). `None` without `KPLUG_EVENT`.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Option<ExecContext> {
        let event = var(env::EVENT).filter(|e| !e.is_empty())?;
        let cluster = var(env::CLUSTER).filter(|c| !c.is_empty()).map(|name| {
            let mut nodes = Vec::new();
            for (variable, role) in [(env::SERVERS, "server"), (env::AGENTS, "agent")] {
                let list = var(variable).unwrap_or_default();
                for entry in list.split(';').filter(|e| !e.is_empty()) {
                    let (name, ip) = entry.split_once('=').unwrap_or((entry, ""));
                    nodes.push(Node {
                        name: name.to_string(),
                        role: role.to_string(),
                        ip: ip.to_string(),
                    });
                }
            }
            Cluster {
                name,
                engine: var(env::ENGINE).unwrap_or_default(),
                network: var(env::NETWORK).unwrap_or_default(),
                kubeconfig: var(env::KUBECONFIG).unwrap_or_default(),
                nodes,
                ..Cluster::default()
            }
        });
        Some(ExecContext {
            protocol: var(env::PROTOCOL)
                .and_then(|p| p.parse().ok())
                .unwrap_or(crate::PROTOCOL),
            event,
            host: Host {
                version: var(env::VERSION).unwrap_or_default(),
            },
            cluster,
            ..ExecContext::default()
        })
    }
}
