//! `kplug plugin list` / `plugin info`: every plugin, valid or not, and why.

use crate::support::{TestEnv, entry, info, list_json, write_exec};
use predicates::prelude::*;

#[test]
fn valid_plugins_are_listed_with_their_info() {
    let env = TestEnv::new();
    env.plugin(
        "registry",
        "protocols: [1]\nname: registry\nversion: 1.4.0\ndescription: Local registry\nhooks:\n  - event: pre-cluster-create\n    mode: mutate\n    timeout: 30s\n    order: 20\n  - event: post-cluster-create\n",
        "true",
    );
    let list = list_json(&env);
    let r = entry(&list, "registry");
    assert_eq!(r["status"], "valid");
    assert_eq!(r["info"]["version"], "1.4.0");
    assert_eq!(r["info"]["hooks"][0]["event"], "pre-cluster-create");
    assert_eq!(r["info"]["hooks"][0]["mode"], "mutate");
    assert_eq!(r["info"]["hooks"][0]["timeout"], "30s");
    assert_eq!(r["info"]["hooks"][1]["mode"], "observe");
    assert_eq!(r["origin"], "PATH");
    assert_eq!(r["path"], env.bin.join("kplug-registry").to_str().unwrap());

    env.kplug()
        .args(["plugin", "list"])
        .assert()
        .success()
        .stdout(
            predicate::str::is_match(
                r"(?m)^NAME\s+VERSION\s+STATUS\s+ORIGIN\s+SCOPE\s+HOOKS\s+SIGNER\s+DESCRIPTION$",
            )
            .unwrap(),
        )
        .stdout(
            predicate::str::is_match(
                r"(?m)^registry\s+1\.4\.0\s+valid\s+PATH\s+standalone\s+2\s+-\s+Local registry$",
            )
            .unwrap(),
        );
    // A long description is cut so that every line fits 100 columns.
    env.plugin(
        "wordy",
        &format!(
            "protocols: [1]\nname: wordy\nversion: 1.0.0\ndescription: {}\n",
            "word ".repeat(60)
        ),
        "true",
    );
    let out = env.kplug().args(["plugin", "list"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
    assert!(text.contains("word word") && text.contains('…'), "{text}");

    let yaml = env
        .kplug()
        .args(["plugin", "list", "-o", "yaml"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let yaml: serde_yaml::Value = serde_yaml::from_slice(&yaml).unwrap();
    assert_eq!(yaml[0]["info"]["name"], "registry");
}

/// Writes a plugin whose INFO misbehaves; returns the reason it is listed with.
fn invalid_reason(env: &TestEnv, name: &str, info_body: &str) -> String {
    write_exec(
        &env.bin.join(format!("kplug-{name}")),
        &format!("#!/bin/sh\nif [ \"$KPLUG_COMMAND\" = INFO ]; then\n{info_body}\nfi\n"),
    );
    let list = list_json(env);
    let e = entry(&list, name);
    assert_eq!(e["status"], "invalid", "{e:#}");
    e["reason"].as_str().unwrap().to_string()
}

#[test]
fn misbehaving_info_makes_a_plugin_invalid_not_kplug() {
    let env = TestEnv::new();
    env.config_file("timeouts:\n  info: 1s\n");
    env.plugin("good", &info("good"), "true");

    let r = invalid_reason(&env, "badyaml", "echo 'protocols: [1'; echo 'name: : :'");
    assert!(
        r.contains("INFO document") && r.contains("malformed"),
        "{r}"
    );

    let r = invalid_reason(
        &env,
        "nofield",
        "echo 'protocols: [1]'; echo 'name: nofield'",
    );
    assert!(r.contains("`version`") && r.contains("missing"), "{r}");

    let r = invalid_reason(
        &env,
        "badtimeout",
        "printf 'protocols: [1]\\nname: badtimeout\\nversion: 1.0.0\\nhooks: [{event: pre-cluster-create, timeout: soon}]\\n'",
    );
    assert!(
        r.contains("`hooks[0].timeout`") && r.contains("not a duration"),
        "{r}"
    );

    let r = invalid_reason(
        &env,
        "fails",
        "echo 'cannot talk to the daemon' >&2; exit 3",
    );
    assert!(
        r.contains("exited with status 3") && r.contains("cannot talk to the daemon"),
        "{r}"
    );

    let r = invalid_reason(
        &env,
        "future",
        "printf 'protocols: [99]\\nname: future\\nversion: 1.0.0\\n'",
    );
    assert!(
        r.contains("no protocol in common") && r.contains("speaks protocol 99"),
        "{r}"
    );

    let r = invalid_reason(&env, "huge", "head -c 52428800 /dev/zero | tr '\\0' a");
    assert!(r.contains("more than 1024 KiB"), "{r}");

    let r = invalid_reason(&env, "hangs", "sleep 60");
    assert!(r.contains("did not finish within 1s"), "{r}");

    let r = invalid_reason(
        &env,
        "liar",
        &format!("cat <<'E'\n{}\nE", info("someone-else")),
    );
    assert!(r.contains("reports the name `someone-else`"), "{r}");

    let r = invalid_reason(&env, "silent", "exit 0");
    assert!(r.contains("empty"), "{r}");

    // Through all of it, kplug itself is fine and the good plugin is listed.
    let list = list_json(&env);
    assert_eq!(entry(&list, "good")["status"], "valid");
    env.kplug().args(["plugin", "list"]).assert().success();
}

#[test]
fn a_hanging_info_is_killed_with_everything_it_started() {
    let env = TestEnv::new();
    env.config_file("timeouts:\n  info: 1s\n");
    let pids = env.out.join("pids");
    // Ignores SIGTERM, so only the SIGKILL after the grace period ends it,
    // and leaves a grandchild behind that must not survive either.
    write_exec(
        &env.bin.join("kplug-stuck"),
        &format!(
            "#!/bin/sh\ntrap '' TERM\nsleep 300 &\necho $! >> '{p}'\necho $$ >> '{p}'\nwhile :; do sleep 1; done\n",
            p = pids.display()
        ),
    );
    let list = list_json(&env);
    assert!(
        entry(&list, "stuck")["reason"]
            .as_str()
            .unwrap()
            .contains("did not finish")
    );
    let pids = std::fs::read_to_string(&pids).unwrap();
    let pids: Vec<i32> = pids.lines().map(|l| l.trim().parse().unwrap()).collect();
    assert_eq!(pids.len(), 2);
    for pid in pids {
        assert!(
            crate::support::process_ends(pid),
            "process {pid} survived the INFO timeout"
        );
    }
}

#[test]
fn info_runs_with_no_stdin_and_the_info_command() {
    let env = TestEnv::new();
    let seen = env.out.join("seen");
    write_exec(
        &env.bin.join("kplug-probe"),
        &format!(
            "#!/bin/sh\n{{ echo \"cmd=$KPLUG_COMMAND\"; echo \"stdin=$(cat)\"; echo \"token=$GITHUB_TOKEN\"; }} > '{}'\n{}\n",
            seen.display(),
            format_args!("cat <<'E'\n{}\nE", info("probe"))
        ),
    );
    env.kplug()
        .env("GITHUB_TOKEN", "secret")
        .args(["plugin", "list"])
        // What kplug is given on its own stdin must not reach INFO.
        .write_stdin("LEAK\n")
        .assert()
        .success();
    assert_eq!(env.read_out("seen"), "cmd=INFO\nstdin=\ntoken=\n");
}

#[test]
fn shadowed_copies_are_reported() {
    let env = TestEnv::new();
    let first = env.dir("first");
    write_exec(
        &first.join("kplug-dup"),
        &crate::support::plugin_script(&info("dup"), "true"),
    );
    let second = env.plugin("dup", &info("dup"), "true");
    let out = env
        .kplug()
        .env("KPLUG_PLUGIN_PATH", &first)
        .args(["plugin", "list", "-o", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out).unwrap();
    assert_eq!(list.len(), 2, "{list:#?}");
    assert_eq!(list[0]["status"], "valid");
    assert_eq!(list[0]["origin"], "KPLUG_PLUGIN_PATH");
    assert_eq!(list[1]["status"], "shadowed");
    assert_eq!(list[1]["path"], second.to_str().unwrap());
    assert!(
        list[1]["reason"]
            .as_str()
            .unwrap()
            .contains(first.join("kplug-dup").to_str().unwrap())
    );

    env.kplug()
        .env("KPLUG_PLUGIN_PATH", &first)
        .args(["plugin", "info", "dup"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "also at:     {} (shadowed)",
            second.display()
        )));
}

#[test]
fn builtin_collisions_and_bad_names_are_reported() {
    let env = TestEnv::new();
    // Each leaves a marker whenever it is run at all, INFO included.
    let marked = |name: &str, info_name: &str| {
        let script = crate::support::plugin_script(&info(info_name), "true").replacen(
            "#!/bin/sh\n",
            &format!("#!/bin/sh\ntouch '{}/ran-{name}'\n", env.out.display()),
            1,
        );
        write_exec(&env.bin.join(format!("kplug-{name}")), &script);
    };
    marked("plugin", "plugin");
    marked("cluster-tools", "cluster-tools");
    marked("Upper", "upper");
    marked("fine", "fine");
    let list = list_json(&env);
    // Control: a valid plugin was run (for INFO), with the same marker.
    assert!(env.out.join("ran-fine").exists());
    for refused in ["plugin", "cluster-tools", "Upper"] {
        assert!(
            !env.out.join(format!("ran-{refused}")).exists(),
            "{refused} was run"
        );
    }
    let reason = |n: &str| entry(&list, n)["reason"].as_str().unwrap().to_string();
    assert!(reason("plugin").contains("would shadow the built-in command `plugin`"));
    assert!(reason("cluster-tools").contains("would shadow the built-in command `cluster`"));
    assert!(reason("Upper").contains("must start with a lowercase letter"));
    // Refused names are never executed, not even for INFO.
    assert!(
        list.iter()
            .filter(|p| p["name"] != "fine")
            .all(|p| p["info"].is_null())
    );
}

#[test]
fn plugin_info_shows_declarations() {
    let env = TestEnv::new();
    env.plugin(
        "registry",
        "protocols: [1, 2]\nname: registry\nversion: 1.4.0\ndescription: Local registry\nusage: registry create\nhooks:\n  - event: pre-cluster-create\n    mode: mutate\n    timeout: 30s\n    order: 20\n  - event: pre-cluster-upgrade\nrequires:\n  kplug: '>=0.1'\n  plugins: {dns: '^1'}\nconflicts: [other-registry]\n",
        "true",
    );
    env.kplug()
        .args(["plugin", "info", "registry"])
        .assert()
        .success()
        .stdout(predicate::str::contains("version:     1.4.0"))
        .stdout(predicate::str::contains(
            "protocol:    1 (the plugin speaks 1, 2)",
        ))
        .stdout(predicate::str::is_match(r"pre-cluster-create\s+mutate\s+20\s+30s").unwrap())
        .stdout(predicate::str::contains("kplug >=0.1"))
        .stdout(predicate::str::contains("plugin dns ^1"))
        .stdout(predicate::str::contains("conflicts:   other-registry"))
        .stdout(predicate::str::contains(
            "`pre-cluster-upgrade` is unknown to this kplug and was ignored",
        ));

    let json = env
        .kplug()
        .args(["plugin", "info", "registry", "-o", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["info"]["requires"]["plugins"]["dns"]["version"], "^1");
    assert_eq!(v["protocol"], 1);
}

#[test]
fn plugin_info_explains_an_invalid_plugin() {
    let env = TestEnv::new();
    write_exec(
        &env.bin.join("kplug-broken"),
        "#!/bin/sh\necho boom >&2\nexit 1\n",
    );
    env.kplug()
        .args(["plugin", "info", "broken"])
        .assert()
        .success()
        .stdout(predicate::str::contains("status:      invalid"))
        .stdout(predicate::str::contains(
            "reason:      INFO exited with status 1: boom",
        ));
}

#[test]
fn plugin_info_of_a_missing_plugin() {
    let env = TestEnv::new();
    env.plugin("hello", &info("hello"), "true");
    env.kplug()
        .args(["plugin", "info", "helo"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("error: no plugin named `helo`"))
        .stderr(predicate::str::contains("did you mean `hello`?"));
}

#[test]
fn an_empty_list_says_where_it_looked() {
    let env = TestEnv::new();
    env.kplug()
        .args(["plugin", "list"])
        .assert()
        .success()
        .stdout("")
        .stderr(predicate::str::contains("no plugins found"));
    env.kplug()
        .args(["plugin", "list", "-o", "json"])
        .assert()
        .success()
        .stdout("[]\n");
}

#[test]
fn version_and_usage_errors() {
    let env = TestEnv::new();
    env.kplug()
        .arg("version")
        .assert()
        .success()
        .stdout(format!(
            "kplug {}\nprotocols: 1\n",
            env!("CARGO_PKG_VERSION")
        ));
    env.kplug()
        .args(["version", "-o", "json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"protocols\": [\n    1\n  ]"));
    env.kplug()
        .args(["plugin", "list", "-o", "xml"])
        .assert()
        .code(2);
    env.kplug().arg("--no-such-flag").assert().code(2);
    env.kplug().arg("--help").assert().success();
}
