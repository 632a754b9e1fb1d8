//! `kplug self …` against a loopback GitHub, with releases built here from
//! the test's own kplug binary: stripped, and stamped with other versions
//! in its version slot (as a release process stamps a build), beside
//! stand-ins for broken releases.

use crate::archives::{Entry, platform, tar_gz};
use crate::server::{FakeAsset, FakeGitHub, FakeRelease};
use crate::support::{TestEnv, write_exec};
use predicates::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const REPO: &str = "acme/kplug";
const BUILT: &str = env!("CARGO_PKG_VERSION");

/// The test's kplug, stripped of debug info (the same program, a tenth of
/// the size).
pub(crate) fn stripped() -> &'static [u8] {
    static BIN: OnceLock<Vec<u8>> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("kplug");
        let status = std::process::Command::new("strip")
            .arg("--strip-debug")
            .arg("-o")
            .arg(&out)
            .arg(assert_cmd::cargo::cargo_bin("kplug"))
            .status()
            .unwrap_or_else(|_| {
                panic!("the self-update tests need `strip`: apt-get install binutils")
            });
        assert!(status.success(), "strip failed");
        std::fs::read(&out).unwrap()
    })
}

/// The test's kplug with `version` in its version slot.
pub(crate) fn stamped(version: &str) -> Vec<u8> {
    let mut bin = stripped().to_vec();
    let marker = format!("kplug-version-slot:{BUILT}");
    let at = bin
        .windows(marker.len())
        .position(|w| w == marker.as_bytes())
        .expect("the version slot")
        + "kplug-version-slot:".len();
    let room = 64 - "kplug-version-slot:".len();
    assert!(version.len() < room);
    for i in 0..room {
        bin[at + i] = *version.as_bytes().get(i).unwrap_or(&0);
    }
    bin
}

/// A release `v<version>` whose archive holds `exe` as `kplug`.
pub(crate) fn release(version: &str, exe: &[u8]) -> FakeRelease {
    let stem = format!("kplug_{version}_{}", platform());
    let body = tar_gz(&[
        Entry {
            path: &format!("{stem}/kplug"),
            body: exe,
            mode: 0o755,
        },
        Entry {
            path: &format!("{stem}/README.md"),
            body: b"# kplug\n",
            mode: 0o644,
        },
    ]);
    FakeRelease {
        tag: format!("v{version}"),
        prerelease: version.contains('-'),
        assets: vec![FakeAsset {
            name: format!("{stem}.tar.gz"),
            body,
            digest: true,
        }],
    }
}

/// A script stand-in for a broken release.
pub(crate) fn script(body: &str) -> Vec<u8> {
    format!("#!/bin/sh\n{body}\n").into_bytes()
}

fn version_json(v: &str) -> String {
    let (os, arch) = (std::env::consts::OS, std::env::consts::ARCH);
    format!(r#"{{"version":"{v}","protocols":[1],"os":"{os}","arch":"{arch}"}}"#)
}

struct Env {
    env: TestEnv,
    gh: FakeGitHub,
    /// The `kplug` the user runs.
    app: PathBuf,
}

fn setup() -> Env {
    let env = TestEnv::new();
    env.config_file(&format!(
        "network:\n  connectTimeout: 2s\n  readTimeout: 5s\n  attempts: 1\nself:\n  source: {REPO}\n"
    ));
    let app = env.dir("app").join("kplug");
    write_bin(&app, stripped());
    Env {
        env,
        gh: FakeGitHub::start(),
        app,
    }
}

fn write_bin(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

impl Env {
    fn run(&self, args: &[&str]) -> assert_cmd::assert::Assert {
        self.run_as(&self.app, args)
    }

    fn run_as(&self, exe: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
        let mut cmd = assert_cmd::Command::new(exe);
        cmd.env_clear()
            .envs(self.env.vars())
            .env("KPLUG_GITHUB_API_URL", self.gh.url())
            .current_dir(self.env.root.path())
            .args(args);
        cmd.assert()
    }

    /// The version the user's `kplug` reports.
    fn version(&self) -> String {
        let out = self.run(&["version", "-o", "json"]).success();
        let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        v["version"].as_str().unwrap().to_string()
    }

    fn is_link(&self) -> bool {
        std::fs::symlink_metadata(&self.app)
            .unwrap()
            .file_type()
            .is_symlink()
    }
}

fn stderr_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

#[test]
fn update_migrates_a_plain_install_and_rollback_and_use_work_offline() {
    let e = setup();
    e.gh.publish(REPO, release(BUILT, &stamped(BUILT)));
    e.gh.publish(REPO, release("0.2.0", &stamped("0.2.0")));
    e.gh.publish(REPO, release("0.3.0-rc.1", &stamped("0.3.0-rc.1")));
    e.gh.publish(REPO, release("1.0.0", &stamped("1.0.0")));

    e.run(&["self", "check"])
        .code(10)
        .stderr(predicate::str::contains(
            "kplug 0.2.0 is available: run `kplug self update`",
        ));
    let out = e.run(&["self", "versions", "-o", "json"]).success();
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let names: Vec<&str> = listed
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["1.0.0", "0.2.0", BUILT], "stable, newest first");
    assert_eq!(listed[2]["current"], true);

    e.run(&["self", "update", "--dry-run"])
        .success()
        .stderr(predicate::str::contains(
            "would update kplug 0.1.0 to 0.2.0",
        ));
    assert!(!e.is_link(), "a dry run changes nothing");

    let a = e.run(&["self", "update"]).success();
    let err = stderr_of(&a);
    assert!(err.contains("kplug is now 0.2.0 (was 0.1.0)"), "{err}");
    assert!(
        err.contains("moved kplug 0.1.0 into kplug's version store"),
        "{err}"
    );
    assert!(
        err.contains("--major 1"),
        "the other major is mentioned: {err}"
    );
    assert!(e.is_link());
    assert_eq!(
        std::fs::read_link(&e.app).unwrap(),
        e.env.home.join("self/current/kplug")
    );
    assert_eq!(e.version(), "0.2.0");
    let out = e.run(&["self", "list", "-o", "json"]).success();
    let installed: Vec<serde_json::Value> =
        serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(installed.len(), 2);
    assert_eq!(installed[0]["version"], "0.2.0");
    assert_eq!(installed[0]["current"], true);
    assert_eq!(installed[1]["version"], BUILT);
    assert_eq!(installed[1]["previous"], true);
    e.run(&["self", "check"])
        .success()
        .stderr(predicate::str::contains("up to date"));

    // Another major, when asked for.
    e.run(&["self", "update", "--major", "1"]).success();
    assert_eq!(e.version(), "1.0.0");
    e.run(&["self", "update", "--version", "1.0.0"])
        .success()
        .stderr(predicate::str::contains("up to date"));
    // `--force` installs a version again, replacing its stored file.
    let stored = e.env.home.join("self/0.2.0/kplug");
    std::fs::write(&stored, b"#!/bin/sh\nexit 1\n").unwrap();
    e.run(&["self", "update", "--version", "0.2.0", "--force"])
        .success();
    assert_eq!(std::fs::read(&stored).unwrap(), stamped("0.2.0"));
    assert_eq!(e.version(), "0.2.0");
    e.run(&["self", "use", "1.0.0"]).success();

    // Offline from here on.
    e.gh.server.stop();
    e.run(&["self", "rollback"]).success();
    assert_eq!(e.version(), "0.2.0");
    e.run(&["self", "use", BUILT]).success();
    assert_eq!(e.version(), BUILT);
    e.run(&["self", "use", "1.0.0"]).success();
    assert_eq!(e.version(), "1.0.0");
    // Positive control: a published version never installed needs the
    // network.
    e.run(&["self", "use", "0.3.0-rc.1"])
        .failure()
        .stderr(predicate::str::contains("127.0.0.1"));
    assert!(!e.env.home.join("self/0.3.0-rc.1").exists());
    // A rescue: a stored copy run directly switches `current`, and the
    // link on PATH follows.
    let copy = e.env.home.join("self/0.2.0/kplug");
    e.run_as(&copy, &["self", "use", BUILT]).success();
    assert_eq!(e.version(), BUILT);
    assert!(e.is_link());
}

#[test]
fn broken_releases_are_refused_and_the_running_kplug_stays() {
    let e = setup();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "0.4.0",
            stamped("0.5.0"),
            "says it is version 0.5.0, but the release is 0.4.0",
        ),
        (
            "0.4.1",
            b"\x7fELF\x02\x01\x01 not for any machine".to_vec(),
            "is not a program for this system",
        ),
        ("0.4.2", script("exit 3"), "exited with status 3"),
        (
            "0.4.3",
            script(&format!(
                "echo '{}'",
                version_json("0.4.3").replace("linux", "plan9")
            )),
            "is for plan9",
        ),
    ];
    for (v, exe, expect) in &cases {
        e.gh.publish(REPO, release(v, exe));
        let a = e.run(&["self", "update", "--version", v]).failure();
        assert!(stderr_of(&a).contains(expect), "{v}: {}", stderr_of(&a));
        assert!(!e.is_link(), "{v}: the plain file stays");
        assert_eq!(e.version(), BUILT, "{v}");
        assert!(
            !e.env.home.join(format!("self/{v}")).exists(),
            "{v}: not installed"
        );
    }
    // A checksum that does not match.
    let mut bad = release("0.4.4", &stamped("0.4.4"));
    bad.assets[0].digest = false;
    bad.assets.push(FakeAsset {
        name: "checksums.txt".into(),
        body: format!("{}  {}\n", "0".repeat(64), bad.assets[0].name).into_bytes(),
        digest: false,
    });
    e.gh.publish(REPO, bad);
    e.run(&["self", "update", "--version", "0.4.4"])
        .failure()
        .stderr(predicate::str::contains("sha256"));
    // No asset for this platform: what it has is listed.
    e.gh.publish(
        REPO,
        FakeRelease {
            tag: "v0.4.5".into(),
            prerelease: false,
            assets: vec![FakeAsset {
                name: "kplug_0.4.5_windows_arm64.zip".into(),
                body: b"x".to_vec(),
                digest: true,
            }],
        },
    );
    e.run(&["self", "update", "--version", "0.4.5"])
        .failure()
        .stderr(predicate::str::contains("kplug_0.4.5_windows_arm64.zip"));
    assert_eq!(e.version(), BUILT);
}

#[test]
fn a_new_version_that_hangs_or_fails_its_health_probe_is_switched_back() {
    let e = setup();
    // Answers `version` correctly, then fails `self health`.
    let sick = script(&format!(
        "[ \"$1\" = version ] && {{ echo '{}'; exit 0; }}\necho 'store is broken' >&2\nexit 1",
        version_json("0.6.0")
    ));
    e.gh.publish(REPO, release("0.6.0", &sick));
    let a = e.run(&["self", "update"]).failure();
    let err = stderr_of(&a);
    assert!(err.contains("failed its health probe"), "{err}");
    assert!(err.contains("store is broken"), "its stderr: {err}");
    assert!(
        err.contains(&format!("kplug {BUILT} is live again")),
        "{err}"
    );
    assert_eq!(e.version(), BUILT, "the old version runs");
    // A version that hangs on `version` is stopped after 10 s.
    e.gh.publish(REPO, release("0.7.0", &script("sleep 60")));
    let started = std::time::Instant::now();
    e.run(&["self", "update", "--version", "0.7.0"])
        .failure()
        .stderr(predicate::str::contains(
            "did not answer `version` within 10s",
        ));
    assert!(started.elapsed() < std::time::Duration::from_secs(40));
    assert_eq!(e.version(), BUILT);
}

#[test]
fn kplug_refuses_to_replace_what_is_not_its_own() {
    let e = setup();
    e.gh.publish(REPO, release("0.2.0", &stamped("0.2.0")));
    let cargo = e.env.dir(".cargo/bin").join("kplug");
    write_bin(&cargo, stripped());
    e.run_as(&cargo, &["self", "update"])
        .failure()
        .stderr(predicate::str::contains("installed by cargo"))
        .stderr(predicate::str::contains("cargo install"));
    let ro_dir = e.env.dir("ro");
    let ro = ro_dir.join("kplug");
    write_bin(&ro, stripped());
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ro_dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    e.run_as(&ro, &["self", "update"])
        .failure()
        .stderr(predicate::str::contains("cannot change"));
    std::fs::set_permissions(&ro_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let link = e.env.dir("linked").join("kplug");
    std::os::unix::fs::symlink(&e.app, &link).unwrap();
    e.run_as(&link, &["self", "update"])
        .failure()
        .stderr(predicate::str::contains("does not manage"));
    assert_eq!(
        e.gh.asset_requests
            .load(std::sync::atomic::Ordering::SeqCst),
        0,
        "refused before any download"
    );
    // Positive control: the plain install in a writable place updates.
    e.run(&["self", "update"]).success();
    assert_eq!(e.version(), "0.2.0");
}

#[test]
fn a_newer_store_layout_is_read_but_never_written() {
    let e = setup();
    std::fs::create_dir_all(&e.env.home).unwrap();
    std::fs::write(e.env.home.join("layout"), "99\nwritten by kplug 9.9.0\n").unwrap();
    let plugin = e.env.dir("p").join("kplug-hello");
    write_exec(
        &plugin,
        "#!/bin/sh\nprintf 'protocols: [1]\\nname: hello\\nversion: 1.0.0\\n'\n",
    );
    e.run(&["plugin", "install", plugin.to_str().unwrap()])
        .failure()
        .stderr(predicate::str::contains("written by kplug 9.9.0"))
        .stderr(predicate::str::contains("kplug self use 9.9.0"));
    assert!(!e.env.home.join("plugins/hello").exists());
    e.run(&["plugin", "list"]).success();
    // Writers outside the store lock are refused too.
    write_exec(
        &e.env.dir("bin").join("kplug-hello"),
        "#!/bin/sh\nprintf 'protocols: [1]\\nname: hello\\nversion: 1.0.0\\n'\n",
    );
    e.run(&["plugin", "disable", "hello"])
        .failure()
        .stderr(predicate::str::contains("written by kplug 9.9.0"));
    // `self use` still works, so the way back is always open.
    e.gh.publish(REPO, release("0.2.0", &stamped("0.2.0")));
    e.run(&["self", "update"])
        .success()
        .stderr(predicate::str::contains("can read it but not change it"));
    e.run(&["self", "rollback"]).success();
    assert_eq!(e.version(), BUILT);
    assert_eq!(
        std::fs::read_to_string(e.env.home.join("layout")).unwrap(),
        "99\nwritten by kplug 9.9.0\n",
        "the newer layout is left alone"
    );
    // An older (absent) layout is migrated once by the first writer.
    std::fs::remove_file(e.env.home.join("layout")).unwrap();
    e.run(&["plugin", "install", plugin.to_str().unwrap()])
        .success();
    let layout = std::fs::read_to_string(e.env.home.join("layout")).unwrap();
    assert!(
        layout.starts_with("1\n") && layout.contains(&format!("written by kplug {BUILT}")),
        "{layout}"
    );
}

#[test]
fn a_full_disk_during_staging_leaves_the_running_kplug() {
    let e = setup();
    e.gh.publish(REPO, release("0.2.0", &stamped("0.2.0")));
    // KPLUG_HOME on a 4 MiB tmpfs: the release (tens of MiB unpacked) does
    // not fit in its staging.
    let mnt = e.env.dir("small");
    // As root, or through passwordless sudo (as .ci/run installs packages).
    let root = std::fs::metadata("/proc/self").map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid() == 0
    });
    let privileged = |program: &str| {
        if root.as_ref().is_ok_and(|r| *r) {
            std::process::Command::new(program)
        } else {
            let mut c = std::process::Command::new("sudo");
            c.arg("-n").arg(program);
            c
        }
    };
    let mount = privileged("mount")
        .args(["-t", "tmpfs", "-o", "size=4m,mode=1777", "tmpfs"])
        .arg(&mnt)
        .output()
        .unwrap_or_else(|_| {
            panic!("this test mounts a small tmpfs: it needs `mount` and root (CI runs as root)")
        });
    assert!(
        mount.status.success(),
        "this test mounts a small tmpfs and needs root or passwordless sudo: {}",
        String::from_utf8_lossy(&mount.stderr)
    );
    struct Unmount(std::process::Command);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = self.0.status();
        }
    }
    let mut umount = privileged("umount");
    umount.arg(&mnt);
    let _guard = Unmount(umount);
    let mut cmd = assert_cmd::Command::new(&e.app);
    cmd.env_clear()
        .envs(e.env.vars())
        .env("KPLUG_HOME", &mnt)
        .env("KPLUG_GITHUB_API_URL", e.gh.url())
        .args(["self", "update"]);
    let a = cmd.assert().failure();
    let err = stderr_of(&a);
    assert!(err.contains("No space left on device"), "{err}");
    assert!(!e.is_link());
    assert_eq!(e.version(), BUILT);
    assert!(!mnt.join("self/0.2.0").exists());
}

#[test]
fn sigkill_mid_update_leaves_a_kplug_that_runs() {
    let e = setup();
    let rel = release("0.2.0", &stamped("0.2.0"));
    let asset = rel.assets[0].name.clone();
    e.gh.publish(REPO, rel);
    // Kill it while the download trickles in, then after the switch.
    e.gh.faults.lock().unwrap().throttle = Some(asset);
    let mut child = std::process::Command::new(&e.app)
        .env_clear()
        .envs(e.env.vars())
        .env("KPLUG_GITHUB_API_URL", e.gh.url())
        .args(["self", "update"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while e
        .gh
        .asset_requests
        .load(std::sync::atomic::Ordering::SeqCst)
        == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the download never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(e.version(), BUILT, "the old kplug runs");
    assert!(!e.is_link());
    // The next update finishes the job (the lock and staging are taken over).
    e.gh.faults.lock().unwrap().throttle = None;
    e.run(&["self", "update"]).success();
    assert_eq!(e.version(), "0.2.0");
}

#[test]
fn an_update_killed_before_its_health_probe_is_finished_by_the_next_self_command() {
    let e = setup();
    // 0.6.0 answers `version`, works by handing every other command to
    // 0.1.0's stored copy, and fails `self health` (slowly while `mark`
    // exists, so the update can be killed during its probe).
    let mark = e.env.root.path().join("slow");
    std::fs::write(&mark, "").unwrap();
    let sick = script(&format!(
        "[ \"$1\" = version ] && {{ echo '{}'; exit 0; }}\n\
         if [ \"$1 $2\" = 'self health' ]; then\n\
           while [ -e '{m}' ]; do sleep 0.05; done\n\
           echo 'store is broken' >&2; exit 1\n\
         fi\n\
         exec \"$KPLUG_HOME/self/{BUILT}/kplug\" \"$@\"",
        version_json("0.6.0"),
        m = mark.display()
    ));
    e.gh.publish(REPO, release("0.6.0", &sick));
    let mut child = std::process::Command::new(&e.app)
        .env_clear()
        .envs(e.env.vars())
        .env("KPLUG_GITHUB_API_URL", e.gh.url())
        .args(["self", "update"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let current = e.env.home.join("self/current");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::read_link(&current).map_or(true, |t| t != Path::new("0.6.0")) {
        assert!(
            std::time::Instant::now() < deadline,
            "the update never switched"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the update ended early"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_file(&mark).unwrap();
    // Killed between the switch and the probe's verdict: 0.6.0 is current.
    assert_eq!(std::fs::read_link(&current).unwrap(), Path::new("0.6.0"));
    let receipt = std::fs::read_to_string(e.env.home.join("self/receipt.yaml")).unwrap();
    assert!(receipt.contains("pending"), "{receipt}");
    // The next `self` command probes it and goes back.
    e.run(&["self", "use", BUILT])
        .success()
        .stderr(predicate::str::contains(
            "an interrupted update had left kplug 0.6.0 unprobed",
        ))
        .stderr(predicate::str::contains("store is broken"));
    assert_eq!(e.version(), BUILT);
    let receipt = std::fs::read_to_string(e.env.home.join("self/receipt.yaml")).unwrap();
    assert!(!receipt.contains("pending"), "{receipt}");
}

/// `release` with each asset signed by `key` (minisign), as the release
/// workflow publishes it.
fn signed_release(
    version: &str,
    exe: &[u8],
    key: &crate::signing::Pair,
    dir: &Path,
) -> FakeRelease {
    let mut r = release(version, exe);
    let asset = r.assets[0].clone();
    let file = dir.join(&asset.name);
    std::fs::write(&file, &asset.body).unwrap();
    r.assets.push(FakeAsset {
        name: format!("{}.minisig", asset.name),
        body: crate::signing::sign(key, &file).into_bytes(),
        digest: false,
    });
    r
}

#[test]
fn releases_are_checked_against_the_release_keys_and_unsigned_ones_refused_after_a_signed_one() {
    let e = setup();
    let keys = e.env.dir("keys");
    let fork = crate::signing::keypair(&keys, "fork");
    let stranger = crate::signing::keypair(&keys, "stranger");
    e.env.config_file(&format!(
        "network:\n  connectTimeout: 2s\n  readTimeout: 5s\n  attempts: 1\nself:\n  source: {REPO}\n  trust: ['{}']\n",
        fork.base64
    ));
    // Signed by a key neither built in nor in self.trust: refused.
    e.gh.publish(
        REPO,
        signed_release("0.2.0", &stamped("0.2.0"), &stranger, &keys),
    );
    e.run(&["self", "update"]).failure().stderr(
        predicate::str::contains(&stranger.id).and(predicate::str::contains("does not trust")),
    );
    assert!(!e.is_link(), "nothing changed");
    // Signed by the fork's key (self.trust): taken.
    e.gh.publish(
        REPO,
        signed_release("0.3.0", &stamped("0.3.0"), &fork, &keys),
    );
    e.run(&["self", "update"]).success();
    assert_eq!(e.version(), "0.3.0");
    let receipt = std::fs::read_to_string(e.env.home.join("self/receipt.yaml")).unwrap();
    assert!(
        receipt.contains("signed: true") && receipt.contains(&fork.id),
        "{receipt}"
    );
    // An unsigned release after a signed one: refused.
    e.gh.publish(REPO, release("0.4.0", &stamped("0.4.0")));
    e.run(&["self", "update"]).failure().stderr(
        predicate::str::contains("not signed").and(predicate::str::contains("signed before")),
    );
    assert_eq!(e.version(), "0.3.0");
}

#[test]
fn kplugs_own_repository_is_never_taken_unsigned() {
    let e = setup();
    // The default source: kplug's own repository.
    e.env
        .config_file("network:\n  connectTimeout: 2s\n  readTimeout: 5s\n  attempts: 1\n");
    e.gh.publish("kplug/kplug", release("0.2.0", &stamped("0.2.0")));
    e.run(&["self", "update"]).failure().stderr(
        predicate::str::contains("not signed").and(predicate::str::contains("kplug/kplug")),
    );
    assert!(!e.is_link(), "nothing changed");
    assert_eq!(e.version(), BUILT);
    // `--channel` is for an omaha `self.source` only.
    e.run(&["self", "check", "--channel", "beta"])
        .code(2)
        .stderr(predicate::str::contains("not a plugin of an omaha source"));
}
