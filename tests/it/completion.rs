//! `kplug completion bash|zsh|fish`: built-ins and flags from clap, plugin
//! names from discovery, and no plugin run while generating or completing.

use crate::support::{TestEnv, info, plugin_script, write_exec};
use std::path::PathBuf;

/// A plugin that appends a line to `out/info-calls` on every INFO.
fn counting_plugin(env: &TestEnv, name: &str) {
    let calls = env.out.join("info-calls");
    write_exec(
        &env.bin.join(format!("kplug-{name}")),
        &format!(
            "#!/bin/sh\nif [ \"$KPLUG_COMMAND\" = INFO ]; then echo x >> '{}'; fi\n{}",
            calls.display(),
            plugin_script(&info(name), "echo ran").trim_start_matches("#!/bin/sh\n")
        ),
    );
}

fn info_calls(env: &TestEnv) -> usize {
    env.read_out("info-calls").lines().count()
}

fn script(env: &TestEnv, shell: &str) -> String {
    let out = env
        .kplug()
        .args(["completion", shell])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).unwrap()
}

#[test]
fn scripts_complete_builtins_flags_and_plugin_names_without_info() {
    let env = TestEnv::new();
    counting_plugin(&env, "alpha");
    counting_plugin(&env, "beta-tool");
    // A plugin in kplug's store is found too.
    env.store_plugin("stored", "1.0.0", &info("stored"), "echo stored");
    for shell in ["bash", "zsh", "fish"] {
        let s = script(&env, shell);
        // (fish spells flags `-l no-hooks`)
        for word in [
            "cluster", "plugin", "hooks", "install", "no-hooks", "output",
        ] {
            assert!(s.contains(word), "{shell} script lacks {word}");
        }
        assert!(
            s.contains("kplug __complete plugins"),
            "{shell} script does not ask for plugin names"
        );
        for asks in [
            "__complete plugins",
            "__complete installed",
            "__complete clusters",
        ] {
            assert!(
                s.contains(asks)
                    || s.contains(&format!("_kplug_words {}", &asks["__complete ".len()..])),
                "{shell} script does not ask `{asks}`"
            );
        }
        assert!(
            !s.contains("alpha"),
            "{shell}: names are asked for, not baked in"
        );
    }
    let names = env
        .kplug()
        .args(["__complete", "plugins"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let names = String::from_utf8(names).unwrap();
    let names: Vec<&str> = names.lines().collect();
    for name in ["alpha", "beta-tool", "stored"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    assert_eq!(info_calls(&env), 0, "completion must never run INFO");
    crate::support::list_json(&env);
    assert!(info_calls(&env) > 0, "control: listing runs INFO");
}

#[test]
fn a_shell_is_required() {
    let env = TestEnv::new();
    env.kplug().arg("completion").assert().code(2);
    env.kplug()
        .args(["completion", "tcsh"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("bash"));
}

/// A directory holding only `kplug` (the binary under test), for `PATH`.
pub fn kplug_dir(env: &TestEnv) -> PathBuf {
    let dir = env.dir("kplug-bin");
    let bin = assert_cmd::cargo::cargo_bin("kplug");
    let link = dir.join("kplug");
    if !link.exists() {
        std::os::unix::fs::symlink(bin, &link).unwrap();
    }
    dir
}

/// Complete `words` (the last one being completed) with the bash script.
fn bash_complete(env: &TestEnv, words: &[&str]) -> Vec<String> {
    let script = env.out.join("kplug.bash");
    std::fs::write(&script, self::script(env, "bash")).unwrap();
    let array: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\n_kplug_plugins kplug '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        array.join(" "),
        words.len() - 1,
        words[words.len() - 1],
        words[words.len().saturating_sub(2)],
    );
    let out = env
        .command("bash")
        .arg("-c")
        .arg(program)
        .env(
            "PATH",
            format!("{}:{}", kplug_dir(env).display(), env.path_var()),
        )
        .output()
        .expect("run bash");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_plugins_next_to_builtins() {
    let env = TestEnv::new();
    counting_plugin(&env, "alpha");
    counting_plugin(&env, "beta-tool");

    let first = bash_complete(&env, &["kplug", ""]);
    for word in ["cluster", "plugin", "completion", "alpha", "beta-tool"] {
        assert!(first.contains(&word.to_string()), "{word} not in {first:?}");
    }
    assert_eq!(bash_complete(&env, &["kplug", "al"]), ["alpha"]);
    assert_eq!(bash_complete(&env, &["kplug", "cluster", "cr"]), ["create"]);
    let flags = bash_complete(&env, &["kplug", "cluster", "create", "x", "--no"]);
    assert_eq!(flags, ["--no-hooks", "--no-sync"]);
    // A plugin's own arguments are the plugin's business: no kplug words.
    assert_eq!(
        bash_complete(&env, &["kplug", "alpha", ""]),
        Vec::<String>::new()
    );
    // Values: engines, events, plugin and cluster names.
    assert_eq!(
        bash_complete(&env, &["kplug", "cluster", "create", "x", "--engine", ""]),
        ["k3d", "kind", "sim"]
    );
    assert_eq!(
        bash_complete(&env, &["kplug", "hooks", "fire", "post-cluster-cr"]),
        ["post-cluster-create"]
    );
    assert_eq!(
        bash_complete(&env, &["kplug", "plugin", "info", "b"]),
        ["beta-tool"]
    );
    env.store_plugin("stored", "1.0.0", &info("stored"), "echo stored");
    assert_eq!(
        bash_complete(&env, &["kplug", "plugin", "remove", ""]),
        ["stored"],
        "only plugins in the store can be removed"
    );
    // (Creating clusters plans hooks, which asks INFO: counted apart.)
    let before = info_calls(&env);
    env.sim_create("dev").assert().success();
    env.sim_create("demo").assert().success();
    let created = info_calls(&env) - before;
    assert_eq!(
        bash_complete(&env, &["kplug", "cluster", "delete", "de"]),
        ["demo", "dev"]
    );
    assert_eq!(
        bash_complete(
            &env,
            &[
                "kplug",
                "hooks",
                "fire",
                "post-cluster-create",
                "--cluster",
                "dem"
            ]
        ),
        ["demo"]
    );
    assert_eq!(info_calls(&env), created, "completion must never run INFO");
    assert!(created > 0, "control: the counter does count INFO runs");
}
