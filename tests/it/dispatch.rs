//! `kplug <plugin> args…`: callables run as if executed directly.

use crate::support::{TestEnv, info, write_exec};
use predicates::prelude::*;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::ExitStatusExt;

/// A plugin that writes each argument, NUL-terminated, to `out/argv`.
fn argv_plugin(env: &TestEnv, name: &str) {
    let out = env.out.join("argv");
    env.plugin(
        name,
        &info(name),
        &format!(
            "for a in \"$@\"; do printf '%s\\0' \"$a\"; done > '{}'",
            out.display()
        ),
    );
}

fn recorded_argv(env: &TestEnv) -> Vec<OsString> {
    let bytes = std::fs::read(env.out.join("argv")).expect("the plugin ran");
    bytes
        .split(|b| *b == 0)
        .map(|a| OsString::from_vec(a.to_vec()))
        .collect::<Vec<_>>()
        .split_last()
        .map(|(_, rest)| rest.to_vec())
        .unwrap_or_default()
}

#[test]
fn arguments_reach_the_plugin_byte_for_byte() {
    let env = TestEnv::new();
    argv_plugin(&env, "echoargs");
    let args: Vec<OsString> = vec![
        "two words".into(),
        "ünïcødé ☸".into(),
        "--".into(),
        "--flag=x y".into(),
        "-v".into(),
        "".into(),
        "  padded  ".into(),
        "$HOME `id` \"quoted\" 'single'".into(),
        "line\nbreak".into(),
        OsString::from_vec(vec![0xff, 0xfe, b'x']), // not UTF-8
    ];
    env.kplug().arg("echoargs").args(&args).assert().success();
    assert_eq!(recorded_argv(&env), args);
}

#[test]
fn no_arguments_means_none() {
    let env = TestEnv::new();
    argv_plugin(&env, "echoargs");
    env.kplug().arg("echoargs").assert().success();
    assert!(recorded_argv(&env).is_empty());
}

#[test]
fn exit_codes_pass_through() {
    let env = TestEnv::new();
    env.plugin("code", &info("code"), "exit \"$1\"");
    for code in [0, 1, 42, 255] {
        env.kplug()
            .args(["code", &code.to_string()])
            .assert()
            .code(code);
    }
}

#[test]
fn death_by_signal_passes_through() {
    let env = TestEnv::new();
    env.plugin("die", &info("die"), "kill -TERM $$; sleep 5");
    let out = env.kplug().arg("die").output().unwrap();
    assert_eq!(out.status.signal(), Some(libc::SIGTERM), "{out:?}");
}

#[test]
fn stdin_and_stdout_are_the_plugins() {
    let env = TestEnv::new();
    env.plugin("cat", &info("cat"), "tr a-z A-Z");
    env.kplug()
        .arg("cat")
        .write_stdin("hello through kplug\n")
        .assert()
        .success()
        .stdout("HELLO THROUGH KPLUG\n");
}

#[test]
fn the_plugin_replaces_kplug() {
    // exec, not spawn: the plugin keeps kplug's pid, so signals sent to
    // "kplug" reach the plugin and nothing is left between them.
    let env = TestEnv::new();
    env.plugin("pid", &info("pid"), "echo $$");
    let child = env
        .kplug_process()
        .arg("pid")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), pid.to_string());
}

#[test]
fn longest_prefix_wins() {
    let env = TestEnv::new();
    let out = env.out.join("ran");
    for name in ["a", "a-b", "a-b-c"] {
        env.plugin(
            name,
            &info(name),
            &format!("echo \"{name} $*\" >> '{}'", out.display()),
        );
    }
    env.kplug().args(["a", "b", "c", "d"]).assert().success();
    env.kplug().args(["a", "b", "x"]).assert().success();
    env.kplug().args(["a", "x", "b"]).assert().success();
    // Flags end the name: `--b` is an argument of kplug-a.
    env.kplug().args(["a", "--b", "c"]).assert().success();
    assert_eq!(env.read_out("ran"), "a-b-c d\na-b x\na x b\na --b c\n");
}

#[test]
fn search_order_is_store_then_plugin_path_then_path() {
    let env = TestEnv::new();
    let extra = env.dir("extra");
    let body = |origin: &str| format!("echo {origin}");
    env.plugin("dup", &info("dup"), &body("path"));
    assert_eq!(run_stdout(&env, &extra, "dup"), "path\n");
    write_exec(
        &extra.join("kplug-dup"),
        &crate::support::plugin_script(&info("dup"), &body("plugin-path")),
    );
    assert_eq!(run_stdout(&env, &extra, "dup"), "plugin-path\n");
    env.store_plugin("dup", "1.0.0", &info("dup"), &body("store"));
    assert_eq!(run_stdout(&env, &extra, "dup"), "store\n");
}

fn run_stdout(env: &TestEnv, plugin_path: &std::path::Path, name: &str) -> String {
    let out = env
        .kplug()
        .env("KPLUG_PLUGIN_PATH", plugin_path)
        .arg(name)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).unwrap()
}

#[test]
fn store_plugins_get_their_version_directory() {
    let env = TestEnv::new();
    env.store_plugin("st", "2.0.0", &info("st"), "echo \"$KPLUG_PLUGIN_DIR\"");
    let dir = env.home.join("plugins/st/2.0.0");
    env.kplug()
        .arg("st")
        .assert()
        .success()
        .stdout(format!("{}\n", dir.display()));
}

#[test]
fn unknown_command_suggests_and_exits_2() {
    let env = TestEnv::new();
    env.plugin("hello", &info("hello"), "true");
    env.kplug()
        .arg("helo")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("error: no such command: `helo`"))
        .stderr(predicate::str::contains("did you mean `hello`?"))
        .stderr(predicate::str::contains("kplug plugin list"));
    env.kplug()
        .arg("plugn")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("did you mean `plugin`?"));
}

#[test]
fn names_with_slashes_or_dots_are_refused() {
    let env = TestEnv::new();
    // An executable outside every search directory that a path-like name
    // could reach if names were joined to directories naively.
    let marker = env.out.join("escaped");
    let script = format!("#!/bin/sh\ntouch '{}'\n", marker.display());
    write_exec(&env.root.path().join("kplug-evil"), &script);
    write_exec(&env.bin.join("kplug-x"), &script);
    for word in [
        "../kplug-evil",
        "../evil",
        "a/b",
        "..",
        "./x",
        "/bin/sh",
        "x/../x",
    ] {
        env.kplug()
            .arg(word)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("no such command"))
            .stderr(predicate::str::contains("is not a plugin name"));
    }
    assert!(!marker.exists(), "a path-like name ran an executable");
    // Control: the same script, reached by a real name, leaves the marker.
    env.kplug().arg("x").assert().success();
    assert!(marker.exists());
    env.kplug()
        .args(["plugin", "info", "../x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid plugin name `../x`"));
}

#[test]
fn a_refused_name_is_explained() {
    let env = TestEnv::new();
    env.plugin("version-x", &info("version-x"), "echo ran");
    env.kplug()
        .arg("version-x")
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains(
            "would shadow the built-in command `version`",
        ));
}

#[test]
fn builtins_cannot_be_shadowed() {
    let env = TestEnv::new();
    env.plugin("version", &info("version"), "echo hijacked");
    env.kplug()
        .arg("version")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("kplug "));
}

#[test]
fn non_executables_and_broken_symlinks_are_not_plugins() {
    let env = TestEnv::new();
    std::fs::write(env.bin.join("kplug-plain"), "#!/bin/sh\necho ran\n").unwrap();
    std::os::unix::fs::symlink(
        env.root.path().join("nowhere"),
        env.bin.join("kplug-dangling"),
    )
    .unwrap();
    std::fs::create_dir(env.bin.join("kplug-dir")).unwrap();
    for name in ["plain", "dangling", "dir"] {
        env.kplug()
            .arg(name)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("no such command"));
    }
    let list = crate::support::list_json(&env);
    assert!(list.is_empty(), "{list:#?}");
}

#[test]
fn a_symlink_to_an_executable_is_a_plugin() {
    let env = TestEnv::new();
    let real = write_exec(
        &env.dir("elsewhere").join("tool"),
        &crate::support::plugin_script(&info("linked"), "echo linked ran"),
    );
    std::os::unix::fs::symlink(&real, env.bin.join("kplug-linked")).unwrap();
    env.kplug()
        .arg("linked")
        .assert()
        .success()
        .stdout("linked ran\n");
}

#[test]
fn plugin_environment_is_clean() {
    let env = TestEnv::new();
    env.plugin("envdump", &info("envdump"), "env");
    let out = env
        .kplug()
        .env("KPLUG_GITHUB_TOKEN", "secret-kplug-token")
        .env("GITHUB_TOKEN", "secret-github-token")
        .env("GH_TOKEN", "secret-gh-token")
        .env("KPLUG_EVENT", "spoofed-event")
        .env("KPLUG_COMMAND", "EXEC")
        .env("KPLUG_PLUGIN_NAME", "spoofed")
        .env("KEEP_ME", "kept")
        .arg("envdump")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(!out.contains("secret-"), "a token leaked:\n{out}");
    assert!(
        !out.contains("spoofed"),
        "an inherited KPLUG_ value leaked:\n{out}"
    );
    for expected in [
        "KEEP_ME=kept",
        "KPLUG_COMMAND=RUN",
        "KPLUG_PROTOCOL=1",
        "KPLUG_PLUGIN_NAME=envdump",
        "KPLUG_DEPTH=1",
        &format!("KPLUG_VERSION={}", env!("CARGO_PKG_VERSION")),
        &format!("KPLUG_HOME={}", env.home.display()),
        &format!("KPLUG_PLUGIN_DIR={}", env.bin.display()),
        &format!(
            "KPLUG_DATA_DIR={}",
            env.home.join("state/plugins/envdump").display()
        ),
    ] {
        assert!(
            out.lines().any(|l| l == expected),
            "missing {expected}:\n{out}"
        );
    }
    let bin = out
        .lines()
        .find_map(|l| l.strip_prefix("KPLUG_BIN="))
        .unwrap();
    assert!(std::path::Path::new(bin).is_absolute() && bin.ends_with("kplug"));
    assert!(env.home.join("state/plugins/envdump").is_dir());
}

#[test]
fn the_depth_guard_stops_a_loop_and_names_it() {
    let env = TestEnv::new();
    env.plugin("loop", &info("loop"), "exec \"$KPLUG_BIN\" loop");
    env.kplug()
        .arg("loop")
        .timeout(std::time::Duration::from_secs(30))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("nested more than 8 deep"))
        .stderr(predicate::str::contains(
            "loop → loop → loop → loop → loop → loop → loop → loop → loop",
        ));
}

#[test]
fn non_utf8_first_word_is_unknown_not_a_crash() {
    let env = TestEnv::new();
    env.kplug()
        .arg(std::ffi::OsStr::from_bytes(b"\xff"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no such command"));
}

#[test]
fn files_that_cannot_run_are_explained_the_same_way_everywhere() {
    let env = TestEnv::new();
    // No `#!`: neither run by dispatch nor called valid by INFO.
    write_exec(&env.bin.join("kplug-bare"), "echo ran-bare\n");
    let list = crate::support::list_json(&env);
    let bare = crate::support::entry(&list, "bare");
    assert_eq!(bare["status"], "invalid", "{bare}");
    assert!(
        bare["reason"].as_str().unwrap().contains("`#!` line"),
        "{bare}"
    );
    env.kplug()
        .arg("bare")
        .assert()
        .code(126)
        .stdout(predicate::str::contains("ran-bare").not())
        .stderr(predicate::str::contains("a script needs a `#!` line"));
    // A missing interpreter is named.
    write_exec(&env.bin.join("kplug-lost"), "#!/nonexistent/sh\necho hi\n");
    env.kplug()
        .arg("lost")
        .assert()
        .code(126)
        .stderr(predicate::str::contains(
            "its interpreter `/nonexistent/sh` is missing",
        ));
    // There, but not executable: said so, with the fix.
    let plain = env.bin.join("kplug-plain");
    std::fs::write(&plain, "#!/bin/sh\necho hi\n").unwrap();
    env.kplug()
        .arg("plain")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("exists, but is not executable"))
        .stderr(predicate::str::contains(format!(
            "chmod +x {}",
            plain.display()
        )));
    // Control: the same script with `#!`, executable, runs.
    write_exec(&env.bin.join("kplug-fine"), "#!/bin/sh\necho ran-fine\n");
    env.kplug()
        .arg("fine")
        .assert()
        .success()
        .stdout("ran-fine\n");
}
