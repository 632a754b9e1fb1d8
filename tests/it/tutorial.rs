//! docs/authoring.md's tutorial works as written: each command is taken
//! from the document (the test fails if the document no longer contains
//! it) and run by bash in a fresh kplug home, in the tutorial's order.
//! Skipped: installing kplug (the binary under test is used) and the steps
//! that need GitHub (publishing, `plugin install you/kplug-hello2`).

use crate::completion::kplug_dir;
use crate::support::TestEnv;
use std::process::Output;

struct Tutorial {
    doc: String,
    env: TestEnv,
    /// `cd` and `export` lines so far: they carry over to later steps.
    state: Vec<String>,
}

impl Tutorial {
    fn new() -> Tutorial {
        let doc =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/authoring.md"))
                .unwrap();
        Tutorial {
            doc,
            env: TestEnv::new(),
            state: Vec::new(),
        }
    }

    /// Run `command`, a line of the tutorial, after the `cd`/`export` lines
    /// of earlier steps; it must succeed.
    fn step(&mut self, command: &str) -> Output {
        assert!(
            self.doc.lines().any(|l| l.trim() == command),
            "docs/authoring.md no longer has the line `{command}`; keep the tutorial and tests/it/tutorial.rs in step"
        );
        let env = &self.env;
        let script = format!("set -e\n{}\n{command}\n", self.state.join("\n"));
        let out = env
            .command("bash")
            .arg("-c")
            .arg(script)
            .env(
                "PATH",
                format!("{}:{}", kplug_dir(env).display(), env.path_var()),
            )
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "`{command}` failed: {}\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if command.starts_with("cd ") || command.starts_with("export ") {
            self.state.push(command.to_string());
        }
        out
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_authoring_tutorial_works_as_written() {
    let mut t = Tutorial::new();

    // 1. Scaffold.
    t.step("kplug plugin new hello2 --lang bash");
    let dir = t.env.root.path().join("kplug-hello2");
    for file in ["kplug-hello2", "README.md", ".github/workflows/release.yml"] {
        assert!(dir.join(file).is_file(), "{file} was not created");
    }
    t.step("cd kplug-hello2");

    // 3. A callable.
    let out = t.step("./kplug-hello2 Ada");
    assert_eq!(stdout(&out), "hello from hello2, Ada!\n");
    let out = t.step("KPLUG_COMMAND=INFO ./kplug-hello2");
    let info = kplug::protocol::Info::parse(&out.stdout).unwrap();
    assert_eq!(info.name, "hello2");
    assert_eq!(info.hooks[0].event.as_str(), "post-cluster-create");
    t.step("export KPLUG_PLUGIN_PATH=\"$PWD\"");
    let out = t.step("kplug plugin list");
    let row = stdout(&out)
        .lines()
        .find(|l| l.starts_with("hello2 "))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("hello2 not listed: {}", stdout(&out)));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells[..6],
        [
            "hello2",
            "0.1.0",
            "valid",
            "KPLUG_PLUGIN_PATH",
            "standalone",
            "1"
        ],
        "{row}"
    );
    let out = t.step("kplug hello2 Ada");
    assert_eq!(stdout(&out), "hello from hello2, Ada!\n");

    // 4. A hook on a simulated cluster.
    let out = t.step("kplug cluster create demo --engine sim");
    let err = stderr(&out);
    for line in [
        "[hello2] cluster demo is up (engine sim, servers: k3d-demo-server-0=192.0.2.2)",
        "[hello2] hello2: cluster demo is ready",
        "created cluster `demo` (sim, simulated: no containers run): 1 server(s), 0 agent(s)",
    ] {
        assert!(err.contains(line), "no `{line}` in:\n{err}");
        let documented = line.split("; kubeconfig").next().unwrap();
        assert!(
            t.doc.contains(documented),
            "the tutorial does not show `{line}`"
        );
    }
    let out = t.step("kplug hooks list");
    assert!(stdout(&out).contains("hello2"), "{}", stdout(&out));
    let out = t.step("kplug hooks log");
    let log = stdout(&out);
    assert!(
        log.lines()
            .any(|l| l.contains("hello2 (plugin)") && l.contains(" ok ")),
        "{log}"
    );
    t.step("kplug cluster delete demo");

    // 5. Validate.
    let out = t.step("kplug plugin validate ./kplug-hello2");
    assert!(stderr(&out).contains("passed all"), "{}", stderr(&out));

    // 6. Publish: needs GitHub. What the tutorial says the workflow
    // publishes is what it publishes.
    let workflow = std::fs::read_to_string(dir.join(".github/workflows/release.yml")).unwrap();
    for asset in [
        "checksums.txt",
        "kplug-plugin.yaml",
        "kplug-hello2_${version}",
    ] {
        assert!(
            workflow.contains(asset),
            "the workflow does not publish {asset}"
        );
    }
    assert!(t.doc.contains("kplug-hello2_0.1.0.tar.gz"));

    // 7. Install: from GitHub needs the network; from the directory works.
    assert!(t.doc.contains("kplug plugin install you/kplug-hello2"));
    t.step("kplug plugin install ./kplug-hello2");
    let out = t.step("kplug plugin list");
    assert!(
        stdout(&out)
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()[..4]
                == ["hello2", "0.1.0", "valid", "store"]),
        "{}",
        stdout(&out)
    );
    let out = t.step("kplug plugin info hello2");
    assert!(
        stdout(&out).contains("/plugins/hello2/0.1.0/"),
        "{}",
        stdout(&out)
    );
}
