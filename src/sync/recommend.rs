//! What a cluster recommends: `CLIPlugin` resources read with kubectl, or
//! what the simulator recorded.
//!
//! kubectl does the talking (`kubectl get cliplugins.cli.kplug.dev -A -o
//! json --context CTX`), so every way of authenticating to a cluster
//! works. A cluster without the CRD recommends nothing; a missing kubectl
//! is a warning. What kubectl prints is bounded (size, time) and every
//! field is checked before it is used.

use super::Want;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::exec::{self, Spawn, Termination};
use crate::ui::escape;
use serde::Deserialize;
use std::time::Duration;

/// The resource kubectl is asked for.
pub const RESOURCE: &str = "cliplugins.cli.kplug.dev";
pub const API_VERSION: &str = "cli.kplug.dev/v1alpha1";
/// How long kubectl may take.
const KUBECTL_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest list read from kubectl.
const MAX_LIST: usize = 16 * 1024 * 1024;

/// What a cluster recommends, and what was wrong on the way.
#[derive(Debug, Default)]
pub struct Recommended {
    pub wants: Vec<Want>,
    pub warnings: Vec<String>,
    /// The answer is the cluster's whole list (a plugin not in it is no
    /// longer recommended); false when it could not be asked.
    pub complete: bool,
}

/// Where a cluster's recommendations are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The simulator's state.
    Sim,
    /// This kubeconfig context, through kubectl.
    Context(String),
}

/// How to reach cluster `name`: the simulator if it has it, else its
/// context in the kubeconfig (`k3d-NAME`, `kind-NAME`, `sim-NAME`).
pub fn origin(cfg: &Config, name: &str) -> Result<Origin> {
    crate::cluster::sim::validate_cluster_name(name)?;
    if crate::cluster::sim::Sim::new(cfg)?.has(name) {
        return Ok(Origin::Sim);
    }
    let merged = crate::kubeconfig::load(cfg)?;
    for (_, context) in crate::kubeconfig::contexts_for(name) {
        if merged.has_context(&context) {
            return Ok(Origin::Context(context));
        }
    }
    Err(Error::new(format!("kplug knows no cluster `{name}`"))
        .caused_by(format!(
            "the kubeconfig has none of the contexts k3d-{name}, kind-{name}, sim-{name}, and the simulator has no such cluster"
        ))
        .with_hint("see the clusters with `kplug cluster list`, or the contexts with `kubectl config get-contexts`"))
}

/// What cluster `name` recommends.
pub fn read(cfg: &Config, name: &str) -> Result<Recommended> {
    match origin(cfg, name)? {
        Origin::Sim => {
            // The state file is data on disk: each entry is checked again.
            let mut out = Recommended {
                complete: true,
                ..Recommended::default()
            };
            for r in crate::cluster::sim::Sim::new(cfg)?.recommendations(name)? {
                match Want::new(&r.name, &r.recommended_version, r.source.as_deref()) {
                    Ok(mut w) => {
                        w.optional = r.optional;
                        w.description = r
                            .description
                            .map(|d| escape(&d).chars().take(200).collect());
                        super::keep_highest(&mut out.wants, w);
                    }
                    Err(e) => out.warnings.push(format!(
                        "a recommendation of cluster `{name}` is ignored: {}",
                        e.message()
                    )),
                }
            }
            Ok(out)
        }
        Origin::Context(context) => from_kubectl(cfg, name, &context),
    }
}

fn kubectl(cfg: &Config) -> Option<std::path::PathBuf> {
    crate::cluster::find_binary(cfg, "kubectl")
}

fn run_kubectl(
    cfg: &Config,
    program: std::path::PathBuf,
    args: &[&str],
    stdin: Option<Vec<u8>>,
) -> Result<exec::Outcome> {
    exec::run(Spawn {
        program,
        args: args.iter().map(Into::into).collect(),
        env: cfg.vars.clone(),
        cwd: None,
        stdin,
        timeout: KUBECTL_TIMEOUT,
        stdout_limit: MAX_LIST,
        kill_on_stdout_overflow: true,
        stderr_tail: 4096,
        stderr_prefix: None,
    })
    .map_err(|e| Error::new("could not run kubectl").caused_by(e))
}

fn from_kubectl(cfg: &Config, name: &str, context: &str) -> Result<Recommended> {
    let Some(program) = kubectl(cfg) else {
        return Ok(Recommended {
            wants: Vec::new(),
            warnings: vec![format!(
                "kubectl is not on PATH, so what cluster `{name}` recommends was not read and its plugins stay as they are (install kubectl)"
            )],
            complete: false,
        });
    };
    let out = run_kubectl(
        cfg,
        program,
        &[
            "get",
            RESOURCE,
            "--all-namespaces",
            "-o",
            "json",
            "--context",
            context,
        ],
        None,
    )?;
    let stderr = escape(out.stderr_summary(5).trim()).into_owned();
    match out.termination {
        Termination::Exited(0) => {}
        Termination::TimedOut => {
            return Err(Error::new(format!(
                "kubectl did not answer within {}s for cluster `{name}`",
                KUBECTL_TIMEOUT.as_secs()
            ))
            .with_hint(format!(
                "check the cluster: `kubectl --context {context} get --raw /version`"
            )));
        }
        Termination::Exited(_) if stderr.contains("doesn't have a resource type") => {
            // No CRD: nothing recommended.
            return Ok(Recommended {
                complete: true,
                ..Recommended::default()
            });
        }
        Termination::Exited(_)
            if stderr.contains("the server could not find the requested resource") =>
        {
            // The type is known but its list is not served: say so, and
            // leave the cluster's plugins alone.
            return Ok(Recommended {
                warnings: vec![format!(
                    "cluster `{name}` does not serve the CLIPlugin list ({stderr}); its plugins stay as they are"
                )],
                ..Recommended::default()
            });
        }
        other => {
            return Err(Error::new(format!(
                "kubectl could not list what cluster `{name}` recommends ({})",
                describe(other)
            ))
            .caused_by(stderr)
            .with_hint(format!(
                "try `kubectl get {RESOURCE} -A --context {context}`"
            )));
        }
    }
    parse_list(&out.stdout, name)
}

fn describe(t: Termination) -> String {
    match t {
        Termination::Exited(c) => format!("exit status {c}"),
        other => format!("{other:?}"),
    }
}

#[derive(Deserialize)]
struct List {
    #[serde(default)]
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    #[serde(default)]
    metadata: Meta,
    #[serde(default)]
    spec: Spec,
}

#[derive(Deserialize, Default)]
struct Meta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Spec {
    #[serde(default)]
    recommended_version: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    optional: bool,
}

/// Parse kubectl's list: each valid item a want; the same name in several
/// namespaces: the highest version wins. A bad item is a warning naming
/// it; the others stand.
pub fn parse_list(json: &[u8], cluster: &str) -> Result<Recommended> {
    let list: List = serde_json::from_slice(json).map_err(|e| {
        Error::new(format!(
            "kubectl printed something that is not a list of CLIPlugins for cluster `{cluster}`"
        ))
        .caused_by(e)
    })?;
    let mut out = Recommended {
        complete: true,
        ..Recommended::default()
    };
    for item in list.items {
        let at = format!(
            "CLIPlugin `{}`{}",
            escape(&item.metadata.name),
            item.metadata
                .namespace
                .as_deref()
                .map(|n| format!(" in namespace `{}`", escape(n)))
                .unwrap_or_default()
        );
        let Some(version) = item.spec.recommended_version else {
            out.warnings.push(format!(
                "{at} of cluster `{cluster}` has no spec.recommendedVersion: ignored"
            ));
            continue;
        };
        let mut want = match Want::new(&item.metadata.name, &version, item.spec.source.as_deref()) {
            Ok(w) => w,
            Err(e) => {
                out.warnings.push(format!(
                    "{at} of cluster `{cluster}` is ignored: {}",
                    e.message()
                ));
                continue;
            }
        };
        want.optional = item.spec.optional;
        want.description = item
            .spec
            .description
            .map(|d| escape(&d).chars().take(200).collect());
        super::keep_highest(&mut out.wants, want);
    }
    Ok(out)
}

/// Recommend a plugin on a cluster: a CLIPlugin applied with kubectl, or
/// for the simulator, recorded in its state.
pub fn recommend(cfg: &Config, cluster: &str, want: &Want) -> Result<()> {
    match origin(cfg, cluster)? {
        Origin::Sim => {
            crate::cluster::sim::Sim::new(cfg)?.recommend(cluster, want.to_recommendation())
        }
        Origin::Context(context) => {
            let program = kubectl(cfg).ok_or_else(|| {
                Error::new("`kplug cluster recommend` needs kubectl, which is not on PATH")
                    .with_hint("install kubectl")
            })?;
            let mut spec = serde_json::json!({"recommendedVersion": want.request});
            if let Some(s) = &want.source {
                spec["source"] = s.clone().into();
            }
            if let Some(d) = &want.description {
                spec["description"] = d.clone().into();
            }
            if want.optional {
                spec["optional"] = true.into();
            }
            let doc = serde_json::json!({
                "apiVersion": API_VERSION,
                "kind": "CLIPlugin",
                "metadata": {"name": want.name},
                "spec": spec,
            });
            let out = run_kubectl(
                cfg,
                program,
                &["apply", "-f", "-", "--context", &context],
                Some(doc.to_string().into_bytes()),
            )?;
            if out.termination != Termination::Exited(0) {
                let stderr = escape(out.stderr_summary(5).trim()).into_owned();
                let mut err = Error::new(format!(
                    "kubectl could not apply the CLIPlugin on cluster `{cluster}`"
                ))
                .caused_by(stderr.clone());
                if stderr.contains("no matches for kind") {
                    err = err.with_hint(
                        "install the CRD first: `kubectl apply -f docs/cliplugin-crd.yaml`",
                    );
                }
                return Err(err);
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_version_wins_and_bad_items_are_named() {
        let json = br#"{"items":[
            {"metadata":{"name":"hello","namespace":"a"},"spec":{"recommendedVersion":"v1.2"}},
            {"metadata":{"name":"hello","namespace":"b"},"spec":{"recommendedVersion":"1.4.0","source":"acme/hello"}},
            {"metadata":{"name":"hello","namespace":"c"},"spec":{"recommendedVersion":"v1.3"}},
            {"metadata":{"name":"bad","namespace":"a"},"spec":{"recommendedVersion":"not a version!"}},
            {"metadata":{"name":"Bad\u001b[2J","namespace":"a"},"spec":{"recommendedVersion":"v1"}},
            {"metadata":{"name":"none"},"spec":{}}
        ]}"#;
        let r = parse_list(json, "dev").unwrap();
        assert_eq!(r.wants.len(), 1);
        assert_eq!(r.wants[0].request, "1.4.0");
        assert_eq!(r.wants[0].source.as_deref(), Some("acme/hello"));
        assert_eq!(r.warnings.len(), 3, "{:?}", r.warnings);
        assert!(r.warnings.iter().all(|w| !w.contains('\u{1b}')));
        assert!(parse_list(b"<html>", "dev").is_err());
    }
}
