//! The example plugins in `plugins-examples/` follow the protocol.

use crate::support::{TestEnv, entry};
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
