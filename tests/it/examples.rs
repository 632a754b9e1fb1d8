//! The example plugins in `plugins-examples/` follow the protocol.

use crate::support::{TestEnv, entry};
use predicates::prelude::*;
use std::path::Path;

fn examples() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/plugins-examples"))
}

#[test]
fn hello_answers_info_run_and_exec() {
    let env = TestEnv::new();
    let list = {
        let out = env
            .kplug()
            .env("KPLUG_PLUGIN_PATH", examples())
            .args(["plugin", "list", "-o", "json"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        serde_json::from_slice::<Vec<serde_json::Value>>(&out).unwrap()
    };
    let hello = entry(&list, "hello");
    assert_eq!(hello["status"], "valid", "{hello:#}");
    assert_eq!(hello["info"]["hooks"][0]["event"], "post-cluster-create");

    env.kplug()
        .env("KPLUG_PLUGIN_PATH", examples())
        .args(["hello", "tester"])
        .assert()
        .success()
        .stdout("hello, tester!\n");

    // EXEC, driven by hand the way the hook engine drives it.
    let exe = examples().join("kplug-hello");
    let out = std::process::Command::new(&exe)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("KPLUG_COMMAND", "EXEC")
        .env("KPLUG_EVENT", "post-cluster-create")
        .env("KPLUG_CLUSTER", "dev")
        .env("KPLUG_ENGINE", "sim")
        .stdin(std::fs::File::open("/dev/null").unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let result = kplug::protocol::HookResult::parse(&out.stdout).unwrap();
    assert_eq!(result.messages, ["hello, dev!"]);

    // An event it does not handle is answered with an error document, code 4.
    let out = std::process::Command::new(&exe)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("KPLUG_COMMAND", "EXEC")
        .env("KPLUG_EVENT", "post-cluster-stop")
        .stdin(std::fs::File::open("/dev/null").unwrap())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = kplug::protocol::ErrorDoc::parse(&out.stdout).unwrap();
    assert_eq!(err.code, 4);
}

#[test]
fn the_examples_fire_their_hooks_on_a_simulated_cluster() {
    let env = TestEnv::new();
    let with_examples = |args: &[&str]| {
        let mut cmd = env.kplug();
        cmd.env("KPLUG_PLUGIN_PATH", examples()).args(args);
        cmd
    };
    with_examples(&[
        "cluster", "create", "demo", "--engine", "sim", "--agents", "1",
    ])
    .assert()
    .success()
    .stderr(predicates::str::contains("[hello] hello, demo!"))
    .stderr(predicates::str::contains(
        "[registry] simulated: would run `docker run",
    ))
    .stderr(predicates::str::contains(
        "docker network connect k3d-demo k3d-kplug-registry",
    ));
    // The registry's mutate result was recorded with the cluster.
    with_examples(&["cluster", "get", "demo"])
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "annotation: registry=k3d-kplug-registry:5000",
        ));
    with_examples(&["cluster", "delete", "demo"])
        .assert()
        .success()
        .stderr(predicates::str::contains("[hello] hello: goodbye, demo"))
        .stderr(predicates::str::contains(
            "would run `docker network disconnect k3d-demo",
        ));
    let log = with_examples(&["hooks", "log", "-o", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let log: Vec<serde_json::Value> = serde_json::from_slice(&log).unwrap();
    // hello ×2, registry ×3, py-hello (post-cluster-create) ×1
    assert_eq!(log.len(), 6, "{log:#?}");
    assert!(log.iter().all(|e| e["outcome"] == "ok"), "{log:#?}");
}

#[test]
fn the_user_hook_scripts_run() {
    let env = TestEnv::new();
    let scripts = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/hooks"));
    for event in ["post-cluster-create.d", "post-cluster-delete.d"] {
        let dest = env.config.join("kplug/hooks").join(event);
        std::fs::create_dir_all(&dest).unwrap();
        for entry in std::fs::read_dir(scripts.join(event)).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dest.join(entry.file_name())).unwrap();
        }
    }
    let record = env.out.join("kubeconfig-path");
    env.sim_create("demo")
        .env("KUBECONFIG_PATH_FILE", &record)
        .assert()
        .success()
        .stderr(predicate::str::contains("cluster demo was created (sim)"));
    let written = std::fs::read_to_string(&record).unwrap();
    assert!(
        written
            .trim_end()
            .ends_with("state/sim/demo.kubeconfig.yaml"),
        "{written}"
    );
    env.kplug()
        .args(["cluster", "delete", "demo"])
        .assert()
        .success()
        .stderr(predicate::str::contains("cluster demo was deleted (sim)"));
}
