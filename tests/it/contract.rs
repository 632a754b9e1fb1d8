//! The host and the Rust SDK speak the same protocol: every document one
//! side writes, the other reads back to the same JSON. (Events, modes and
//! variable names are shared code; the documents are each side's own
//! types, so this pins their wire format together.)

use kplug::protocol::{
    ClusterContext, ErrorCode, ErrorDoc, Event, ExecContext, HookResult, HostContext, Info, Mode,
    Node, PluginContext, Spec,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn host_context(event: Event) -> ExecContext {
    let cluster = (!event.is_plugin_event()).then(|| ClusterContext {
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
        ],
        annotations: BTreeMap::from([("registry".into(), "k3d-reg:5000".into())]),
        simulated: true,
    });
    let previous = BTreeMap::from([(
        "registry".to_string(),
        HookResult {
            engine_args: vec!["--registry-use".into(), "k3d-reg:5000".into()],
            annotations: BTreeMap::from([("registry".into(), "k3d-reg:5000".into())]),
            messages: vec!["attached".into()],
        },
    )]);
    ExecContext {
        protocol: 1,
        event,
        invocation_id: "18ea1764d9a994aa-22b1-0".into(),
        host: HostContext {
            version: "0.1.0".into(),
        },
        spec: cluster.as_ref().map(|_| Spec {
            servers: 1,
            agents: 2,
            engine_args: vec!["--k3s-arg".into(), "x".into()],
        }),
        plugin: event.is_plugin_event().then(|| PluginContext {
            name: "registry".into(),
            version: "1.4.0".into(),
        }),
        cluster,
        previous,
    }
}

#[test]
fn the_sdk_reads_every_context_the_host_writes() {
    for event in Event::ALL {
        let written = serde_json::to_vec(&host_context(event)).unwrap();
        let read =
            kplug_sdk::ExecContext::from_json(&written).unwrap_or_else(|e| panic!("{event}: {e}"));
        assert_eq!(read.event(), Some(event));
        let host: Value = serde_json::from_slice(&written).unwrap();
        let sdk: Value = serde_json::to_value(&read).unwrap();
        assert_eq!(
            sdk, host,
            "{event}: the SDK's reading differs from what the host wrote"
        );
    }
}

#[test]
fn the_host_reads_every_result_and_error_the_sdk_writes() {
    let result = kplug_sdk::HookResult::new()
        .engine_args(["--registry-use", "k3d-reg:5000"])
        .message("attached");
    let written = serde_json::to_vec(&result).unwrap();
    let read = HookResult::parse(&written).unwrap();
    assert_eq!(read.engine_args, ["--registry-use", "k3d-reg:5000"]);
    assert_eq!(
        serde_json::to_value(&read).unwrap(),
        serde_json::to_value(&result).unwrap()
    );

    let error = kplug_sdk::ErrorDoc::new(kplug_sdk::code::VETOED, "port 5000 is busy")
        .details("held by pid 7");
    let read = ErrorDoc::parse(&serde_json::to_vec(&error).unwrap()).expect("an error document");
    assert_eq!(
        (read.code, read.msg.as_str(), read.details.as_deref()),
        (20, "port 5000 is busy", Some("held by pid 7"))
    );
}

#[test]
fn the_host_reads_the_info_the_sdk_writes() {
    use kplug_sdk::Hook;
    let info = kplug_sdk::Info::new("registry", "1.4.0")
        .description("Local registry")
        .hook(
            Hook::new(Event::PreClusterCreate)
                .mode(Mode::Mutate)
                .timeout(std::time::Duration::from_secs(30))
                .order(20),
        )
        .hook(Hook::new(Event::PostClusterCreate))
        .requires_kplug(">=0.1")
        .requires_kubernetes(">=1.27")
        .requires_plugin_from("dns", "^1", "acme/kplug-dns")
        .conflicts_with("other-registry");
    let read = Info::parse(info.to_json().as_bytes()).expect("the host accepts the SDK's INFO");
    assert_eq!(read.name, "registry");
    assert_eq!(read.version.to_string(), "1.4.0");
    let pre = read.hook(Event::PreClusterCreate).unwrap();
    assert_eq!((pre.mode, pre.order), (Mode::Mutate, 20));
    assert_eq!(pre.timeout.map(|t| t.0.as_secs()), Some(30));
    assert_eq!(
        read.hook(Event::PostClusterCreate).unwrap().mode,
        Mode::Observe
    );
    assert_eq!(
        read.requires.plugins["dns"].source.as_deref(),
        Some("acme/kplug-dns")
    );
    assert_eq!(read.conflicts, ["other-registry"]);
    assert!(read.warnings.is_empty(), "{:?}", read.warnings);
    // And the same JSON, field for field, where the two shapes overlap: the
    // host's reading of the document, written back, is the SDK's document.
    let sdk: Value = serde_json::from_str(&info.to_json()).unwrap();
    let host = serde_json::to_value(&read).unwrap();
    assert_eq!(sdk["protocols"], json!([1]));
    for field in ["protocols", "name", "version", "description", "conflicts"] {
        assert_eq!(host[field], sdk[field], "{field}");
    }
    assert_eq!(host["requires"], sdk["requires"], "requires");
    for (h, s) in host["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .zip(sdk["hooks"].as_array().unwrap())
    {
        assert_eq!(h["event"], s["event"]);
        assert_eq!(
            h["mode"],
            s.get("mode").cloned().unwrap_or(h["mode"].clone())
        );
    }
    assert_eq!(host["hooks"].as_array().unwrap().len(), 2);
}

#[test]
fn error_codes_agree() {
    use kplug_sdk::code;
    for (host, sdk) in [
        (ErrorCode::IncompatibleProtocol, code::INCOMPATIBLE_PROTOCOL),
        (ErrorCode::UnsupportedField, code::UNSUPPORTED_FIELD),
        (ErrorCode::UnknownCluster, code::UNKNOWN_CLUSTER),
        (ErrorCode::BadInvocation, code::BAD_INVOCATION),
        (ErrorCode::Io, code::IO),
        (ErrorCode::Decode, code::DECODE),
        (ErrorCode::InvalidConfig, code::INVALID_CONFIG),
        (ErrorCode::TryAgainLater, code::TRY_AGAIN_LATER),
        (ErrorCode::Vetoed, code::VETOED),
        (ErrorCode::TimedOut, code::TIMED_OUT),
        (ErrorCode::Cancelled, code::CANCELLED),
        (
            ErrorCode::DependencyUnavailable,
            code::DEPENDENCY_UNAVAILABLE,
        ),
    ] {
        assert_eq!(host.code(), sdk, "{host:?}");
    }
    assert_eq!(
        ErrorCode::ALL.len(),
        12,
        "a code was added: add it to the SDK too"
    );
}
