//! Engine selection and the k3d/kind adapters, driven through the CLI with
//! stand-in executables.

use crate::support::TestEnv;
use predicates::prelude::*;

#[test]
fn no_engine_names_both_and_the_simulator() {
    let env = TestEnv::new();
    env.kplug()
        .args(["cluster", "create", "dev"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "neither `k3d` nor `kind` is on PATH",
        ))
        .stderr(predicate::str::contains("`--engine sim`"));
}

#[test]
fn a_missing_engine_binary_is_named() {
    let env = TestEnv::new();
    env.kplug()
        .args(["cluster", "create", "dev", "--engine", "kind"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "the `kind` engine needs the `kind` command",
        ))
        .stderr(predicate::str::contains("--engine sim"));
    env.kplug()
        .args(["cluster", "create", "dev", "--engine", "minikube"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid value 'minikube'"))
        .stderr(predicate::str::contains("possible values: k3d, kind, sim"));
    // From the config file: the message says so.
    env.config_file("engine: minikube\n");
    env.kplug()
        .args(["cluster", "create", "dev"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "the config file sets `engine: minikube`, which is not an engine",
        ))
        .stderr(predicate::str::contains("config.yaml"));
}

#[test]
fn the_first_engine_on_path_is_chosen_and_config_overrides_it() {
    let env = TestEnv::new();
    env.fake_kind();
    env.fake_k3d();
    env.kplug()
        .args(["cluster", "create", "one"])
        .assert()
        .success();
    assert!(env.read_out("k3d-argv").contains("cluster create one"));
    assert!(!env.read_out("kind-argv").contains("create cluster"));
    env.config_file("engine: sim\n");
    env.kplug()
        .args(["cluster", "create", "two"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "created cluster `two` (sim, simulated",
        ));
}

#[test]
fn k3d_json_it_cannot_read_is_a_clear_error() {
    let env = TestEnv::new();
    let state = env.fake_k3d();
    std::fs::write(state.join("malformed"), "").unwrap();
    env.kplug()
        .args(["cluster", "list", "--engine", "k3d"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "k3d printed JSON kplug cannot read",
        ))
        .stderr(predicate::str::contains("`k3d cluster list -o json`"));
    // Nothing was created by a create that could not check the state (it
    // did ask: the stand-in saw the list).
    env.kplug()
        .args(["cluster", "create", "dev", "--engine", "k3d"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "k3d printed JSON kplug cannot read",
        ));
    let argv = env.read_out("k3d-argv");
    assert!(argv.contains("cluster list"), "{argv}");
    assert!(!argv.contains("cluster create"), "{argv}");
}

#[test]
fn a_failing_k3d_records_nothing() {
    let env = TestEnv::new();
    env.fake_k3d();
    crate::support::write_exec(
        &env.bin.join("k3d"),
        "#!/bin/sh\ncase \"$1 $2\" in 'cluster list') echo '[]';; *) exit 1;; esac\n",
    );
    env.kplug()
        .args(["cluster", "create", "dev", "--engine", "k3d"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("failed"));
    assert!(!env.home.join("state/clusters/dev.json").exists());
}

#[test]
fn k3d_lifecycle_through_the_cli() {
    let env = TestEnv::new();
    env.fake_k3d();
    env.kplug()
        .args([
            "cluster", "create", "dev", "--engine", "k3d", "--agents", "1",
        ])
        .assert()
        .success();
    env.kplug()
        .args(["cluster", "get", "dev"])
        .assert()
        .success()
        .stdout(predicate::str::contains("network:    k3d-dev"))
        .stdout(predicate::str::is_match(r"k3d-dev-agent-0\s+agent\s+172\.18\.0\.3").unwrap());
    // The record remembers the engine: no --engine needed from here on.
    let record: serde_json::Value = serde_json::from_slice(
        &std::fs::read(env.home.join("state/clusters/dev.json")).expect("a cluster record"),
    )
    .unwrap();
    assert_eq!(record["engine"], "k3d");
    env.kplug()
        .args(["cluster", "stop", "dev"])
        .assert()
        .success();
    env.kplug()
        .args(["cluster", "start", "dev"])
        .assert()
        .success();
    env.kplug()
        .args(["cluster", "delete", "dev"])
        .assert()
        .success();
    let argv = env.read_out("k3d-argv");
    for call in [
        "cluster stop dev",
        "cluster start dev",
        "cluster delete dev",
    ] {
        assert!(argv.lines().any(|l| l == call), "{call} missing:\n{argv}");
    }
}

#[test]
fn kind_gets_a_generated_config_and_cannot_stop() {
    let env = TestEnv::new();
    env.fake_kind();
    env.hook_plugin(
        "h",
        "  - event: post-cluster-create\n  - event: pre-cluster-stop",
        "true",
    );
    env.kplug()
        .args([
            "cluster", "create", "dev", "--engine", "kind", "--agents", "2",
        ])
        .assert()
        .success();
    let config: serde_yaml::Value =
        serde_yaml::from_str(&env.read_out("kind-config.yaml")).expect("a kind config was passed");
    let roles: Vec<&str> = config["nodes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|n| n["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["control-plane", "worker", "worker"]);
    let ctx = env.context_of("h", "post-cluster-create");
    assert_eq!(ctx["cluster"]["network"], "kind");
    assert_eq!(ctx["cluster"]["nodes"][0]["name"], "dev-control-plane");
    assert_eq!(ctx["cluster"]["nodes"][0]["role"], "server");
    assert_eq!(ctx["cluster"]["nodes"][2]["role"], "agent");
    let kubeconfig = ctx["cluster"]["kubeconfig"].as_str().unwrap();
    assert!(std::path::Path::new(kubeconfig).is_file());

    env.kplug()
        .args(["cluster", "stop", "dev"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "the kind engine cannot stop a cluster",
        ));
    // Refused before any hook fired.
    assert_eq!(env.sequence(), ["h post-cluster-create"]);
}

#[test]
fn cluster_list_covers_every_available_engine() {
    let env = TestEnv::new();
    env.fake_k3d();
    env.kplug()
        .args(["cluster", "create", "real", "--engine", "k3d"])
        .assert()
        .success();
    env.sim_create("fake").assert().success();
    env.kplug()
        .args(["cluster", "list"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"real\s+k3d\s+running").unwrap())
        .stdout(predicate::str::is_match(r"fake\s+sim \(simulated\)\s+running").unwrap());
    env.kplug()
        .args(["cluster", "delete", "ghost"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no cluster `ghost`"));
}
