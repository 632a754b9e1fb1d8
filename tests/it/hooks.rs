//! Lifecycle hooks around cluster operations.

use crate::support::{TestEnv, process_ends};
use predicates::prelude::*;
use std::time::{Duration, Instant};

const PRE_CREATE_VETO: &str = "  - event: pre-cluster-create\n    mode: veto";
const PRE_CREATE_MUTATE: &str = "  - event: pre-cluster-create\n    mode: mutate";
const POST_CREATE: &str = "  - event: post-cluster-create";

fn journal(env: &TestEnv) -> Vec<serde_json::Value> {
    let out = env
        .kplug()
        .args(["hooks", "log", "-n", "1000", "-o", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn a_veto_stops_the_create_before_the_engine_is_called() {
    let env = TestEnv::new();
    env.fake_k3d();
    env.hook_plugin(
        "guard",
        PRE_CREATE_VETO,
        r#"echo "checking ports" >&2; echo '{"code":20,"msg":"port 6550 is busy","details":"held by pid 7"}'; exit 1"#,
    );
    env.hook_plugin("after", POST_CREATE, "true");
    env.kplug()
        .args(["cluster", "create", "dev", "--engine", "k3d"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains(
            "error: plugin `guard` stopped pre-cluster-create: port 6550 is busy (held by pid 7)",
        ))
        .stderr(predicate::str::contains("[guard] checking ports"))
        .stderr(predicate::str::contains("nothing was changed"));
    let argv = env.read_out("k3d-argv");
    assert!(
        !argv.contains("cluster create"),
        "the engine was called:\n{argv}"
    );
    assert_eq!(env.sequence(), ["guard pre-cluster-create"]);
}

#[test]
fn a_failing_observer_only_warns() {
    let env = TestEnv::new();
    env.hook_plugin(
        "watcher",
        "  - event: pre-cluster-create\n    mode: observe",
        "echo 'cannot reach slack' >&2; exit 1",
    );
    env.sim_create("dev")
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "warning: plugin `watcher` failed on pre-cluster-create (continuing: it only observes): cannot reach slack",
        ));
}

#[test]
fn mutate_results_reach_later_hooks_and_the_engine() {
    let env = TestEnv::new();
    env.fake_k3d();
    env.hook_plugin(
        "registry",
        &format!("{PRE_CREATE_MUTATE}\n    order: 10"),
        r#"echo '{"engineArgs":["--registry-use","k3d-reg:5000"],"annotations":{"registry":"k3d-reg:5000"},"messages":["registry attached"]}'"#,
    );
    env.hook_plugin(
        "second",
        &format!("{PRE_CREATE_VETO}\n    order: 20"),
        "true",
    );
    env.hook_plugin("after", POST_CREATE, "true");
    env.kplug()
        .args([
            "cluster",
            "create",
            "dev",
            "--engine",
            "k3d",
            "--agents",
            "1",
            "--",
            "--k3s-arg",
            "--disable=traefik@server:0",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains("[registry] registry attached"));
    let argv = env.read_out("k3d-argv");
    assert!(
        argv.lines().any(|l| l
            == "cluster create dev --servers 1 --agents 1 --k3s-arg --disable=traefik@server:0 --registry-use k3d-reg:5000"),
        "{argv}"
    );
    let second = env.context_of("second", "pre-cluster-create");
    assert_eq!(
        second["previous"]["registry"]["engineArgs"][1],
        "k3d-reg:5000"
    );
    assert_eq!(second["cluster"]["annotations"]["registry"], "k3d-reg:5000");
    assert_eq!(
        second["spec"]["engineArgs"],
        serde_json::json!([
            "--k3s-arg",
            "--disable=traefik@server:0",
            "--registry-use",
            "k3d-reg:5000"
        ])
    );
    let after = env.context_of("after", "post-cluster-create");
    assert_eq!(after["cluster"]["annotations"]["registry"], "k3d-reg:5000");
    // The annotation is remembered with the cluster.
    env.kplug()
        .args(["cluster", "get", "dev"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "annotation: registry=k3d-reg:5000",
        ));
}

#[test]
fn engine_args_from_a_veto_hook_are_ignored() {
    let env = TestEnv::new();
    env.fake_k3d();
    env.hook_plugin(
        "sneaky",
        PRE_CREATE_VETO,
        r#"echo '{"engineArgs":["--volume","/:/host"]}'"#,
    );
    env.kplug()
        .args(["cluster", "create", "dev", "--engine", "k3d"])
        .assert()
        .success();
    assert_eq!(env.sequence(), ["sneaky pre-cluster-create"]);
    let argv = env.read_out("k3d-argv");
    assert!(argv.contains("cluster create dev"), "{argv}");
    assert!(!argv.contains("--volume"), "{argv}");
}

#[test]
fn a_failing_post_hook_keeps_the_cluster_and_exits_4() {
    let env = TestEnv::new();
    env.hook_plugin("fine", POST_CREATE, "true");
    env.hook_plugin(
        "broken",
        POST_CREATE,
        "echo 'starting'>&2; echo 'docker: permission denied' >&2; exit 7",
    );
    env.sim_create("dev")
        .assert()
        .code(4)
        .stderr(predicate::str::contains(
            "error: 1 of 2 post-cluster-create hooks failed; cluster `dev` was created and is kept",
        ))
        .stderr(predicate::str::contains(
            "plugin `broken` (exit 7): docker: permission denied",
        ))
        .stderr(predicate::str::contains(
            "--- stderr of broken ---\n    starting\n    docker: permission denied\n    ---",
        ));
    env.kplug()
        .args(["cluster", "list", "-o", "json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"name\": \"dev\""));
}

#[test]
fn a_malformed_result_is_a_failure_that_names_the_problem() {
    let env = TestEnv::new();
    env.hook_plugin("garbled", POST_CREATE, "echo 'done!'");
    env.sim_create("dev")
        .assert()
        .code(4)
        .stderr(predicate::str::contains(
            "plugin `garbled` (exit 0): printed an invalid result document (not valid JSON:",
        ));
}

#[test]
fn a_hanging_hook_is_killed_with_its_grandchild() {
    let env = TestEnv::new();
    let pids = env.out.join("pids");
    env.hook_plugin(
        "stuck",
        &format!("{POST_CREATE}\n    timeout: 1s"),
        &format!(
            "trap '' TERM\nsleep 300 &\necho $! >> '{p}'\necho $$ >> '{p}'\nwhile :; do sleep 1; done",
            p = pids.display()
        ),
    );
    env.sim_create("dev")
        .timeout(Duration::from_secs(60))
        .assert()
        .code(4)
        .stderr(predicate::str::contains(
            "plugin `stuck`: timed out after 1s and was stopped",
        ));
    let pids: Vec<i32> = std::fs::read_to_string(&pids)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 2);
    for pid in pids {
        assert!(
            process_ends(pid),
            "process {pid} survived its hook's timeout"
        );
    }
    let j = journal(&env);
    let entry = j.iter().find(|e| e["hook"] == "stuck").unwrap();
    assert_eq!(entry["code"], 21);
}

#[test]
fn ctrl_c_cancels_the_running_hooks() {
    let env = TestEnv::new();
    let pids = env.out.join("pids");
    let started = env.out.join("started");
    env.hook_plugin(
        "slow",
        PRE_CREATE_VETO,
        &format!(
            "sleep 300 &\necho $! >> '{p}'\necho $$ >> '{p}'\ntouch '{s}'\nwait",
            p = pids.display(),
            s = started.display()
        ),
    );
    env.hook_plugin("after", POST_CREATE, "true");
    let child = env
        .kplug_process()
        .args(["cluster", "create", "dev", "--engine", "sim"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let begin = Instant::now();
    while !started.exists() {
        assert!(
            begin.elapsed() < Duration::from_secs(30),
            "the hook never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted"));
    let pids: Vec<i32> = std::fs::read_to_string(&pids)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 2, "the hook and its grandchild");
    for pid in pids {
        assert!(process_ends(pid), "process {pid} survived Ctrl-C");
    }
    let j = journal(&env);
    assert_eq!(j.len(), 1, "{j:#?}");
    assert_eq!(j[0]["code"], 22);
    // Nothing was created, and no later hook ran.
    assert!(!env.home.join("state/sim/dev.json").exists());
    assert_eq!(env.sequence(), ["slow pre-cluster-create"]);
}

#[test]
fn a_failed_create_that_left_something_runs_the_delete_hooks() {
    let env = TestEnv::new();
    let state = env.fake_k3d();
    std::fs::write(state.join("fail-create"), "").unwrap();
    env.hook_plugin(
        "cleanup",
        "  - event: pre-cluster-delete\n  - event: post-cluster-delete\n  - event: post-cluster-create",
        "true",
    );
    env.kplug()
        .args(["cluster", "create", "dev", "--engine", "k3d"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "error: could not create cluster `dev`",
        ))
        .stderr(predicate::str::contains(
            "k3d left a partial cluster `dev`; rolling back",
        ))
        .stderr(predicate::str::contains(
            "the partial cluster was removed; its delete hooks ran",
        ));
    assert_eq!(
        env.sequence(),
        ["cleanup pre-cluster-delete", "cleanup post-cluster-delete"]
    );
    assert!(env.read_out("k3d-argv").contains("cluster delete dev"));
    assert!(!state.join("dev").exists());
    assert!(!env.home.join("state/clusters/dev.json").exists());
}

#[test]
fn an_engine_failure_that_left_nothing_runs_no_teardown() {
    let env = TestEnv::new();
    // A k3d whose create fails before making anything.
    crate::support::write_exec(
        &env.bin.join("k3d"),
        &format!(
            "#!/bin/sh\necho \"$*\" >> '{}/k3d-argv'\ncase \"$1 $2\" in\n'cluster create') echo 'docker not running' >&2; exit 1;;\n'cluster list') echo '[]';;\nesac\n",
            env.out.display()
        ),
    );
    env.hook_plugin(
        "cleanup",
        "  - event: pre-cluster-create\n  - event: pre-cluster-delete",
        "true",
    );
    env.kplug()
        .args(["cluster", "create", "dev", "--engine", "k3d"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "`k3d cluster create dev --servers 1 --agents 0` failed",
        ))
        .stderr(predicate::str::contains("hint: nothing was created"));
    // It is a hook kplug fires (its pre-create ran), yet no teardown ran.
    assert_eq!(env.sequence(), ["cleanup pre-cluster-create"]);
    assert!(!env.home.join("state/clusters/dev.json").exists());
    assert!(!env.read_out("k3d-argv").contains("cluster delete"));
}

#[test]
fn the_order_is_deterministic_and_teardown_reverses_it() {
    let env = TestEnv::new();
    let events = "  - event: pre-cluster-create\n    order: {o}\n  - event: pre-cluster-delete\n    order: {o}";
    for (name, order) in [("zeta", 10), ("alpha", 30), ("beta", 10), ("gamma", 50)] {
        env.hook_plugin(name, &events.replace("{o}", &order.to_string()), "true");
    }
    env.hook_script(
        "pre-cluster-create",
        "20-script",
        &format!(
            "echo \"20-script $KPLUG_EVENT\" >> '{}/sequence'",
            env.out.display()
        ),
    );
    env.sim_create("dev").assert().success();
    env.kplug()
        .args(["cluster", "delete", "dev"])
        .assert()
        .success();
    assert_eq!(
        env.sequence(),
        [
            "beta pre-cluster-create",
            "zeta pre-cluster-create",
            "20-script pre-cluster-create",
            "alpha pre-cluster-create",
            "gamma pre-cluster-create",
            "gamma pre-cluster-delete",
            "alpha pre-cluster-delete",
            "zeta pre-cluster-delete",
            "beta pre-cluster-delete",
        ]
    );
    env.kplug()
        .args(["hooks", "list", "pre-cluster-create"])
        .assert()
        .success()
        .stdout(
            predicate::str::is_match(
                r"(?s)beta\s+plugin\s+veto.*zeta.*20-script\s+script\s+veto.*alpha.*gamma",
            )
            .unwrap(),
        );
    // The plan shows teardown in the order it runs: reversed.
    env.kplug()
        .args(["hooks", "list", "pre-cluster-delete"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"(?s)gamma.*alpha.*zeta.*beta").unwrap());
}

/// Two post hooks that each wait for the other to have started: they can
/// only both succeed if they run at the same time.
fn rendezvous(env: &TestEnv, me: &str, other: &str, tries: u32) {
    let out = env.out.display();
    env.hook_plugin(
        me,
        POST_CREATE,
        &format!(
            "touch '{out}/{me}.ready'\ni=0\nwhile [ ! -e '{out}/{other}.ready' ]; do\n  i=$((i+1)); [ $i -gt {tries} ] && {{ echo 'never saw {other}' >&2; exit 1; }}\n  sleep 0.05\ndone\ntouch '{out}/{me}.met'"
        ),
    );
}

#[test]
fn post_hooks_run_concurrently() {
    let env = TestEnv::new();
    rendezvous(&env, "left", "right", 600);
    rendezvous(&env, "right", "left", 600);
    env.sim_create("dev")
        .args(["--jobs", "2"])
        .assert()
        .success();
    // Both ran, and each saw the other while it was running: they overlapped.
    let mut ran = env.sequence();
    ran.sort();
    assert_eq!(
        ran,
        ["left post-cluster-create", "right post-cluster-create"]
    );
    assert!(env.out.join("left.met").exists() && env.out.join("right.met").exists());
}

#[test]
fn post_hooks_respect_jobs() {
    // The same pair cannot meet when only one hook runs at a time.
    let env = TestEnv::new();
    rendezvous(&env, "left", "right", 20);
    rendezvous(&env, "right", "left", 20);
    env.sim_create("dev")
        .args(["--jobs", "1"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains(
            "plugin `left` (exit 1): never saw right",
        ));
}

#[test]
fn post_hook_messages_are_reported_in_plan_order() {
    let env = TestEnv::new();
    // `first` finishes only after `second` has: completion order is the
    // reverse of plan order, so the report's order proves the reordering.
    let out = env.out.display();
    let wait = format!(
        "i=0; while [ ! -e '{out}/second.done' ]; do i=$((i+1)); [ $i -gt 400 ] && exit 1; sleep 0.02; done"
    );
    for (name, order, before) in [("first", 10, wait.as_str()), ("second", 20, "")] {
        env.hook_plugin(
            name,
            &format!("{POST_CREATE}\n    order: {order}"),
            &format!(
                "{before}\necho '{{\"messages\":[\"from {name}\"]}}'\ntouch '{out}/{name}.done'"
            ),
        );
    }
    let out = env
        .sim_create("dev")
        .args(["--jobs", "2"])
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    let first = stderr.find("[first] from first").unwrap();
    let second = stderr.find("[second] from second").unwrap();
    assert!(first < second, "{stderr}");
}

#[test]
fn secrets_never_reach_a_hook() {
    let env = TestEnv::new();
    env.fake_k3d();
    env.hook_plugin(
        "spy",
        "  - event: pre-cluster-create\n  - event: post-cluster-create\n  - event: pre-cluster-delete",
        "true",
    );
    env.hook_script(
        "post-cluster-create",
        "spy-script",
        &env.recorder("spy-script", "true"),
    );
    let with_tokens = |cmd: &mut assert_cmd::Command| {
        cmd.env("GITHUB_TOKEN", "SECRET-GH")
            .env("GH_TOKEN", "SECRET-GH2")
            .env("KPLUG_GITHUB_TOKEN", "SECRET-KPLUG");
    };
    let mut create = env.kplug();
    with_tokens(&mut create);
    create
        .args([
            "cluster", "create", "dev", "--engine", "k3d", "--agents", "1",
        ])
        .assert()
        .success();
    let mut delete = env.kplug();
    with_tokens(&mut delete);
    delete.args(["cluster", "delete", "dev"]).assert().success();

    let mut seen = 0;
    for entry in std::fs::read_dir(&env.out).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name.starts_with("spy") {
            seen += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(!text.contains("SECRET"), "a secret reached {name}:\n{text}");
        }
    }
    assert_eq!(seen, 8, "every spy run was recorded");
    // What the engine reported, minus the secrets, did arrive.
    let ctx = env.context_of("spy", "post-cluster-create");
    assert_eq!(ctx["cluster"]["network"], "k3d-dev");
    assert_eq!(ctx["cluster"]["nodes"][0]["ip"], "172.18.0.2");
    assert_eq!(ctx["cluster"]["kubernetesVersion"], "v1.31.2-k3s1");
    let env_text = env.env_of("spy", "post-cluster-create");
    assert!(
        env_text.contains("KPLUG_SERVERS=k3d-dev-server-0=172.18.0.2\n"),
        "{env_text}"
    );
    assert!(
        env_text.contains("KPLUG_AGENTS=k3d-dev-agent-0=172.18.0.3\n"),
        "{env_text}"
    );
    assert!(
        env_text.contains("KPLUG_KUBECONFIG=/tmp/kplug-test-k3d-dev.yaml\n"),
        "{env_text}"
    );
}

#[test]
fn the_context_matches_the_protocol() {
    let env = TestEnv::new();
    env.hook_plugin("ctx", POST_CREATE, "true");
    env.sim_create("dev")
        .args(["--servers", "1", "--agents", "2"])
        .assert()
        .success();
    let c = env.context_of("ctx", "post-cluster-create");
    assert_eq!(c["protocol"], 1);
    assert_eq!(c["event"], "post-cluster-create");
    assert!(c["invocationId"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(c["host"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(c["cluster"]["name"], "dev");
    assert_eq!(c["cluster"]["engine"], "sim");
    assert_eq!(c["cluster"]["simulated"], true);
    assert_eq!(c["cluster"]["nodes"].as_array().unwrap().len(), 3);
    assert_eq!(
        c["spec"],
        serde_json::json!({"servers": 1, "agents": 2, "engineArgs": []})
    );
    let e = env.env_of("ctx", "post-cluster-create");
    for line in [
        "KPLUG_COMMAND=EXEC",
        "KPLUG_EVENT=post-cluster-create",
        "KPLUG_CLUSTER=dev",
        "KPLUG_ENGINE=sim",
        "KPLUG_NETWORK=k3d-dev",
        "KPLUG_PLUGIN_NAME=ctx",
        "KPLUG_AGENTS=k3d-dev-agent-0=192.0.2.3;k3d-dev-agent-1=192.0.2.4",
    ] {
        assert!(e.lines().any(|l| l == line), "missing {line}:\n{e}");
    }
}

#[test]
fn user_hook_scripts_run_and_can_veto() {
    let env = TestEnv::new();
    env.hook_script(
        "post-cluster-create",
        "10-record",
        &env.recorder("10-record", "true"),
    );
    env.hook_script("post-cluster-create", "notes.txt~", "exit 1"); // a backup file: ignored
    env.sim_create("dev").assert().success();
    assert_eq!(env.sequence(), ["10-record post-cluster-create"]);
    assert!(
        env.env_of("10-record", "post-cluster-create")
            .contains("KPLUG_CLUSTER=dev")
    );

    env.hook_script(
        "pre-cluster-delete",
        "50-protect",
        "echo 'dev is protected' >&2; exit 1",
    );
    env.kplug()
        .args(["cluster", "delete", "dev"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains(
            "script `50-protect` stopped pre-cluster-delete: dev is protected",
        ))
        .stderr(predicate::str::contains(
            "50-protect out of its hooks directory",
        ));
    assert!(
        env.home.join("state/sim/dev.json").exists(),
        "the veto did not protect the cluster"
    );
}

#[test]
fn the_journal_records_every_run() {
    let env = TestEnv::new();
    env.hook_plugin(
        "a",
        "  - event: post-cluster-create\n  - event: pre-cluster-delete",
        "true",
    );
    env.hook_plugin("b", POST_CREATE, "exit 3");
    env.sim_create("dev").assert().code(4);
    env.kplug()
        .args(["cluster", "delete", "dev"])
        .assert()
        .success();
    let j = journal(&env);
    let rows: Vec<(String, String, String)> = j
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_string(),
                e["hook"].as_str().unwrap().to_string(),
                e["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut create: Vec<_> = rows[..2].to_vec();
    create.sort();
    assert_eq!(
        create,
        [
            ("post-cluster-create".into(), "a".into(), "ok".into()),
            ("post-cluster-create".into(), "b".into(), "failed".into())
        ]
    );
    assert_eq!(
        rows[2],
        ("pre-cluster-delete".into(), "a".into(), "ok".into())
    );
    assert_eq!(j.len(), 3);
    let b = j.iter().find(|e| e["hook"] == "b").unwrap();
    assert_eq!(b["exit"], 3);
    assert_eq!(b["cluster"], "dev");
    assert!(b["durationMs"].is_u64() && b["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(j[0]["invocationId"], j[1]["invocationId"]);
    env.kplug()
        .args(["hooks", "log", "-n", "1"])
        .assert()
        .success()
        .stdout(predicate::str::contains("pre-cluster-delete"))
        .stdout(predicate::str::contains("post-cluster-create").not());
}

#[test]
fn hooks_can_be_turned_off() {
    let env = TestEnv::new();
    env.hook_plugin("noisy", POST_CREATE, "true");
    env.sim_create("a").arg("--no-hooks").assert().success();
    env.sim_create("b")
        .env("KPLUG_NO_HOOKS", "1")
        .assert()
        .success();
    env.kplug()
        .args(["plugin", "disable", "noisy"])
        .assert()
        .success();
    env.sim_create("c").assert().success();
    env.kplug()
        .args(["plugin", "list"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"noisy\s+1\.0\.0\s+disabled").unwrap());
    assert!(env.sequence().is_empty(), "{:?}", env.sequence());
    env.kplug()
        .args(["plugin", "enable", "noisy"])
        .assert()
        .success();
    env.sim_create("d").assert().success();
    assert_eq!(env.sequence(), ["noisy post-cluster-create"]);
    env.kplug()
        .args(["plugin", "disable", "noisy"])
        .assert()
        .success();
    // A disabled plugin can still be called (its body records the call).
    env.kplug().arg("noisy").assert().success();
    assert_eq!(env.sequence().len(), 2, "{:?}", env.sequence());
    env.kplug()
        .args(["plugin", "disable", "nosuch"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no plugin named `nosuch`"));
}

#[test]
fn hooks_fire_by_hand() {
    let env = TestEnv::new();
    env.sim_create("dev").assert().success();
    env.hook_plugin("obs", POST_CREATE, "true");
    env.hook_plugin("guard", "  - event: pre-cluster-stop", "exit 1");
    env.kplug()
        .args(["hooks", "fire", "post-cluster-create", "--cluster", "dev"])
        .assert()
        .success();
    assert_eq!(env.sequence(), ["obs post-cluster-create"]);
    env.kplug()
        .args(["hooks", "fire", "pre-cluster-stop", "--cluster", "dev"])
        .assert()
        .code(3);
    env.kplug()
        .args(["hooks", "fire", "post-cluster-create", "--cluster", "nope"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no cluster `nope`"));
    env.kplug()
        .args(["hooks", "fire", "post-plugin-install", "--cluster", "dev"])
        .assert()
        .code(2);
    env.kplug()
        .args(["hooks", "fire", "post-cluster-explode", "--cluster", "dev"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "invalid value 'post-cluster-explode'",
        ))
        .stderr(predicate::str::contains(
            "possible values: pre-cluster-create",
        ))
        .stderr(predicate::str::contains(
            "a similar value exists: 'post-cluster-delete'",
        ));
    // Before a create, the cluster does not exist: the engine is chosen as
    // `cluster create` would choose it.
    env.kplug()
        .args(["hooks", "fire", "pre-cluster-create", "--cluster", "new"])
        .env("PATH", "/usr/bin:/bin")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no cluster engine found"));
    env.config_file("engine: sim\n");
    env.hook_plugin(
        "early",
        "  - event: pre-cluster-create\n    mode: observe",
        "true",
    );
    env.kplug()
        .args(["hooks", "fire", "pre-cluster-create", "--cluster", "new"])
        .assert()
        .success();
    let seen = env.env_of("early", "pre-cluster-create");
    assert!(
        seen.contains("KPLUG_ENGINE=sim") && seen.contains("KPLUG_CLUSTER=new"),
        "{seen}"
    );
}

#[test]
fn start_and_stop_fire_their_hooks() {
    let env = TestEnv::new();
    env.hook_plugin(
        "life",
        "  - event: pre-cluster-stop\n  - event: post-cluster-stop\n  - event: pre-cluster-start\n  - event: post-cluster-start",
        "true",
    );
    env.sim_create("dev").assert().success();
    env.kplug()
        .args(["cluster", "stop", "dev"])
        .assert()
        .success();
    let c = env.context_of("life", "post-cluster-stop");
    assert_eq!(c["cluster"]["name"], "dev");
    env.kplug()
        .args(["cluster", "start", "dev"])
        .assert()
        .success();
    assert_eq!(
        env.sequence(),
        [
            "life pre-cluster-stop",
            "life post-cluster-stop",
            "life pre-cluster-start",
            "life post-cluster-start"
        ]
    );
}

#[test]
fn cluster_names_are_checked_before_anything_happens() {
    let env = TestEnv::new();
    env.hook_plugin("a", PRE_CREATE_VETO, "true");
    for bad in ["../x", "Dev", "a b", ""] {
        env.sim_create(bad).assert().code(2);
    }
    assert!(env.sequence().is_empty());
    // Nothing was locked or recorded for any of them (`../x` would have
    // reached state/x.lock).
    assert!(!env.home.join("state/x.lock").exists());
    assert_eq!(
        std::fs::read_dir(env.home.join("state/locks"))
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
    // Control: a good name fires the hook and takes its lock.
    env.sim_create("ok").assert().success();
    assert_eq!(env.sequence(), ["a pre-cluster-create"]);
    assert!(env.home.join("state/locks/ok.lock").exists());
}

#[test]
fn hooks_of_plugins_for_another_kubernetes_are_skipped() {
    let env = TestEnv::new();
    let with_req = |name: &str, req: &str| {
        env.plugin(
            name,
            &format!(
                "{}requires:\n  kubernetes: '{req}'\n",
                crate::support::hook_info(name, POST_CREATE)
            ),
            &env.recorder(name, "true"),
        );
    };
    // The simulator runs v1.31.2.
    with_req("modern", ">=1.32");
    with_req("current", ">=1.27");
    env.sim_create("dev")
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "skipping the hook of plugin modern: it requires Kubernetes >=1.32, but cluster `dev` runs v1.31.2+kplug-sim",
        ));
    assert_eq!(env.sequence(), ["current post-cluster-create"]);
    env.kplug()
        .args(["cluster", "delete", "dev"])
        .assert()
        .success();
    env.sim_create("dev")
        .env("KPLUG_SKIP_CHECKS", "1")
        .arg("--jobs")
        .arg("1")
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "requirement checks SKIPPED (KPLUG_SKIP_CHECKS): running the hook of plugin modern",
        ));
    let mut seq = env.sequence();
    seq.sort();
    assert_eq!(
        seq,
        [
            "current post-cluster-create",
            "current post-cluster-create",
            "modern post-cluster-create"
        ]
    );
}

#[test]
fn a_callable_pointed_at_a_cluster_checks_its_kubernetes_range() {
    let env = TestEnv::new();
    env.sim_create("dev").assert().success();
    let info = |name: &str, req: &str| {
        format!("protocols: [1]\nname: {name}\nversion: 1.0.0\nrequires:\n  kubernetes: '{req}'\n")
    };
    env.plugin("modern", &info("modern", ">=1.32"), "echo ran $*");
    env.plugin("current", &info("current", ">=1.27"), "echo ran $*");
    env.kplug()
        .args(["modern", "status", "--cluster", "dev"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains(
            "plugin `modern` requires Kubernetes >=1.32, but cluster `dev` runs v1.31.2+kplug-sim",
        ));
    env.kplug()
        .args(["current", "status", "--cluster=dev"])
        .assert()
        .success()
        .stdout("ran status --cluster=dev\n");
    // Without a cluster, or with the checks skipped, nothing is checked
    // (the plugin runs), and skipping says so.
    env.kplug()
        .args(["modern", "status"])
        .assert()
        .success()
        .stdout("ran status\n");
    env.kplug()
        .env("KPLUG_SKIP_CHECKS", "1")
        .args(["modern", "--cluster", "dev"])
        .assert()
        .success()
        .stdout("ran --cluster dev\n")
        .stderr(predicate::str::contains("requirement checks SKIPPED"));
    // A cluster kplug does not know is the plugin's business.
    env.kplug()
        .args(["modern", "--cluster", "elsewhere"])
        .assert()
        .success()
        .stdout("ran --cluster elsewhere\n");
    // Asking one plugin for INFO on the way kept every other cache entry.
    let cache = std::fs::read_to_string(env.home.join("cache/info.json")).unwrap();
    assert!(
        cache.contains("kplug-modern") && cache.contains("kplug-current"),
        "{cache}"
    );
}
