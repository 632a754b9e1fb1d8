//! The INFO cache: INFO runs once per binary version, never on dispatch.

use crate::support::{TestEnv, entry, info, list_json, plugin_script, write_exec};

/// A plugin that appends a line to `out/info-calls` on every INFO.
fn counting_plugin(env: &TestEnv, name: &str, extra: &str) {
    let calls = env.out.join("info-calls");
    write_exec(
        &env.bin.join(format!("kplug-{name}")),
        &format!(
            "#!/bin/sh\n# {extra}\nif [ \"$KPLUG_COMMAND\" = INFO ]; then echo x >> '{}'; fi\n{}",
            calls.display(),
            plugin_script(&info(name), "echo ran").trim_start_matches("#!/bin/sh\n")
        ),
    );
}

fn info_calls(env: &TestEnv) -> usize {
    env.read_out("info-calls").lines().count()
}

#[test]
fn info_runs_once_across_listings_and_never_on_dispatch() {
    let env = TestEnv::new();
    counting_plugin(&env, "counted", "v1");
    for _ in 0..3 {
        assert_eq!(entry(&list_json(&env), "counted")["status"], "valid");
    }
    env.kplug()
        .args(["plugin", "info", "counted"])
        .assert()
        .success();
    env.kplug()
        .arg("counted")
        .assert()
        .success()
        .stdout("ran\n");
    assert_eq!(info_calls(&env), 1);
}

#[test]
fn a_changed_binary_is_asked_again() {
    let env = TestEnv::new();
    counting_plugin(&env, "counted", "v1");
    list_json(&env);
    counting_plugin(&env, "counted", "version two, a different size");
    list_json(&env);
    list_json(&env);
    assert_eq!(info_calls(&env), 2);
}

#[test]
fn refresh_asks_again() {
    let env = TestEnv::new();
    counting_plugin(&env, "counted", "v1");
    list_json(&env);
    env.kplug()
        .args(["plugin", "list", "--refresh"])
        .assert()
        .success();
    assert_eq!(info_calls(&env), 2);
}

#[test]
fn invalid_plugins_are_cached_with_their_reason() {
    let env = TestEnv::new();
    let calls = env.out.join("info-calls");
    write_exec(
        &env.bin.join("kplug-bad"),
        &format!(
            "#!/bin/sh\necho x >> '{}'\necho 'not: [valid'\n",
            calls.display()
        ),
    );
    let first = list_json(&env);
    let second = list_json(&env);
    assert_eq!(entry(&first, "bad")["status"], "invalid");
    assert_eq!(
        entry(&first, "bad")["reason"],
        entry(&second, "bad")["reason"]
    );
    assert_eq!(info_calls(&env), 1);
}

#[test]
fn a_corrupt_cache_is_rebuilt() {
    let env = TestEnv::new();
    counting_plugin(&env, "counted", "v1");
    list_json(&env);
    let cache = env.home.join("cache/info.json");
    for garbage in [
        &b"{not json"[..],
        b"",
        b"\xff\x00\x01",
        br#"{"format":1,"kplug":"0.0.0","entries":{}}"#,
        // An older format written by this very version: rebuilt too.
        format!(
            r#"{{"format":1,"kplug":"{}","entries":{{}}}}"#,
            env!("CARGO_PKG_VERSION")
        )
        .as_bytes(),
    ] {
        std::fs::write(&cache, garbage).unwrap();
        assert_eq!(entry(&list_json(&env), "counted")["status"], "valid");
        let rebuilt: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&cache).unwrap()).expect("cache rewritten");
        assert_eq!(
            rebuilt["entries"].as_object().map(|e| e.len()),
            Some(1),
            "{rebuilt}"
        );
    }
    assert_eq!(info_calls(&env), 6);
}

#[test]
fn an_unwritable_cache_is_only_a_warning() {
    let env = TestEnv::new();
    counting_plugin(&env, "counted", "v1");
    // A file where the cache directory should be.
    std::fs::write(env.home.join("cache"), "").unwrap();
    env.kplug()
        .args(["plugin", "list"])
        .assert()
        .success()
        .stderr(predicates::str::contains(
            "warning: could not write the INFO cache",
        ));
}

#[test]
fn removed_plugins_leave_the_cache() {
    let env = TestEnv::new();
    counting_plugin(&env, "gone", "v1");
    list_json(&env);
    let cache = std::fs::read_to_string(env.home.join("cache/info.json")).unwrap();
    assert!(cache.contains("kplug-gone"), "{cache}");
    std::fs::remove_file(env.bin.join("kplug-gone")).unwrap();
    list_json(&env);
    let cache = std::fs::read_to_string(env.home.join("cache/info.json")).unwrap();
    assert!(!cache.contains("kplug-gone"), "{cache}");
}
