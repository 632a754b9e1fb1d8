//! Signatures against the reference implementation: Debian's `minisign`
//! makes the keys and the signatures kplug verifies (a GitHub release's
//! `<asset>.minisig`, an inventory's), and checks the signatures kplug makes
//! (`plugin publish --sign-key`, `inventory build --sign-key`). Every
//! refusal leaves the store as it was.

use crate::archives::{platform, plugin_tar_gz, release_with};
use crate::server::{FakeAsset, FakeGitHub, FakeRelease};
use crate::support::TestEnv;
use predicates::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn minisign() -> PathBuf {
    which::which("minisign")
        .unwrap_or_else(|_| panic!("the signature tests need minisign: apt-get install minisign"))
}

/// A key pair made by minisign (no password).
pub struct Pair {
    pub public: PathBuf,
    pub secret: PathBuf,
    /// The `RW…` line.
    pub base64: String,
    /// As minisign prints it.
    pub id: String,
}

pub fn keypair(dir: &Path, name: &str) -> Pair {
    let public = dir.join(format!("{name}.pub"));
    let secret = dir.join(format!("{name}.key"));
    let out = Command::new(minisign())
        .args(["-G", "-W", "-p"])
        .arg(&public)
        .arg("-s")
        .arg(&secret)
        .output()
        .unwrap();
    assert!(out.status.success(), "minisign -G: {out:?}");
    read_pair(public, secret)
}

/// The pair minisign wrote: the key id from `public`'s comment line, its
/// `RW…` line.
fn read_pair(public: PathBuf, secret: PathBuf) -> Pair {
    let text = std::fs::read_to_string(&public).unwrap();
    let id = text
        .lines()
        .next()
        .and_then(|l| l.rsplit(' ').next())
        .unwrap()
        .to_string();
    let base64 = text.lines().nth(1).unwrap().trim().to_string();
    Pair {
        public,
        secret,
        base64,
        id,
    }
}

/// `minisign -S`: the `.minisig` text of `file` (named as it is).
pub fn sign(pair: &Pair, file: &Path) -> String {
    let out = Command::new(minisign())
        .args(["-S", "-s"])
        .arg(&pair.secret)
        .arg("-m")
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "minisign -S: {out:?}");
    let sig = PathBuf::from(format!("{}.minisig", file.display()));
    let text = std::fs::read_to_string(&sig).unwrap();
    std::fs::remove_file(sig).unwrap();
    text
}

/// `minisign -V` of `file` with the signature `sig`.
pub fn minisign_verifies(pair: &Pair, file: &Path, sig: &str) -> bool {
    let at = file.with_extension("check.minisig");
    std::fs::write(&at, sig).unwrap();
    let ok = Command::new(minisign())
        .args(["-V", "-q", "-p"])
        .arg(&pair.public)
        .arg("-m")
        .arg(file)
        .arg("-x")
        .arg(&at)
        .status()
        .unwrap()
        .success();
    std::fs::remove_file(at).unwrap();
    ok
}

const REPO: &str = "acme/kplug-hello";

/// The name of hello `version`'s asset for this platform.
fn asset_name(version: &str) -> String {
    format!("kplug-hello_{version}_{}.tar.gz", platform())
}

struct Gh {
    env: TestEnv,
    gh: FakeGitHub,
    keys: PathBuf,
}

fn gh() -> Gh {
    let env = TestEnv::new();
    env.config_file("network:\n  connectTimeout: 2s\n  readTimeout: 3s\n  attempts: 1\n");
    let keys = env.dir("keys");
    Gh {
        env,
        gh: FakeGitHub::start(),
        keys,
    }
}

impl Gh {
    fn kplug(&self, args: &[&str]) -> assert_cmd::assert::Assert {
        self.env
            .kplug()
            .env("KPLUG_GITHUB_API_URL", self.gh.url())
            .args(args)
            .assert()
    }

    /// Publish `version`, its asset signed by `by` (with its minisign.pub),
    /// or unsigned.
    fn publish(&self, version: &str, by: Option<&Pair>, body: Option<Vec<u8>>) {
        let body = body.unwrap_or_else(|| plugin_tar_gz("hello", version));
        let minisig = by.map(|pair| {
            let file = self.keys.join(asset_name(version));
            std::fs::write(&file, &body).unwrap();
            sign(pair, &file)
        });
        self.release(version, body, minisig.as_deref().zip(by));
    }

    /// Publish `version` with `minisig` as its asset's signature, beside
    /// `key`'s minisign.pub.
    fn publish_with_signature(&self, version: &str, minisig: &str, key: &Pair) {
        self.release(
            version,
            plugin_tar_gz("hello", version),
            Some((minisig, key)),
        );
    }

    fn release(&self, version: &str, body: Vec<u8>, signed: Option<(&str, &Pair)>) {
        let mut release = release_with("hello", version, body, true);
        if let Some((minisig, key)) = signed {
            release.assets.push(FakeAsset {
                name: format!("{}.minisig", asset_name(version)),
                body: minisig.as_bytes().to_vec(),
                digest: false,
            });
            release.assets.push(FakeAsset {
                name: "minisign.pub".into(),
                body: std::fs::read(&key.public).unwrap(),
                digest: false,
            });
        }
        self.gh.publish(REPO, release);
    }

    fn current(&self) -> Option<String> {
        std::fs::read_link(self.env.home.join("plugins/hello/current"))
            .ok()
            .map(|p| p.display().to_string())
    }

    fn receipt(&self) -> serde_yaml::Value {
        let text =
            std::fs::read_to_string(self.env.home.join("plugins/hello/receipt.yaml")).unwrap();
        serde_yaml::from_str(&text).unwrap()
    }
}

fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

#[test]
fn a_github_release_is_pinned_on_first_use_and_a_new_key_needs_trust() {
    let t = gh();
    let a = keypair(&t.keys, "a");
    let b = keypair(&t.keys, "b");
    t.publish("1.0.0", Some(&a), None);
    let out = t
        .kplug(&["plugin", "install", &format!("{REPO}@v1.0.0")])
        .success();
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "trusting hello's signing key {} on first use",
            a.id
        )),
        "{err}"
    );
    assert!(!err.contains("is not signed"), "{err}");
    let r = t.receipt();
    assert_eq!(r["keys"][0]["keyId"].as_str(), Some(a.id.as_str()));
    assert_eq!(r["keys"][0]["trusted"].as_str(), Some("first-use"));
    assert_eq!(
        r["versions"][0]["signer"]["keyId"].as_str(),
        Some(a.id.as_str())
    );
    // The key id exactly as minisign prints it (its comment line).
    assert!(
        a.id.len() <= 16
            && a.id
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
    );
    t.kplug(&["plugin", "info", "hello"])
        .success()
        .stdout(predicate::str::contains(format!(
            "key {} (trusted on first use)",
            a.id
        )));
    t.kplug(&["plugin", "list"])
        .success()
        .stdout(predicate::str::contains(&a.id));

    // 1.1.0 by another key (with its own minisign.pub): refused, both ids.
    t.publish("1.1.0", Some(&b), None);
    let out = t.kplug(&["plugin", "update", "hello"]).failure();
    let err = stderr(&out);
    assert!(err.contains(&a.id) && err.contains(&b.id), "{err}");
    // The hint gives the key itself (an id alone anyone's key can claim).
    assert!(
        err.contains(&format!("kplug plugin trust hello --key {}", b.base64)),
        "{err}"
    );
    assert_eq!(t.current().as_deref(), Some("1.0.0"));
    t.kplug(&["plugin", "trust", "hello", "--key", &b.id])
        .code(2)
        .stderr(predicate::str::contains("needs the public key"));
    // Accepted deliberately, with the public key.
    t.kplug(&["plugin", "trust", "hello", "--key", &b.base64])
        .success();
    t.kplug(&["plugin", "update", "hello"]).success();
    assert_eq!(t.current().as_deref(), Some("1.1.0"));
    let r = t.receipt();
    let signer = &r["versions"][1]["signer"];
    assert_eq!(signer["keyId"].as_str(), Some(b.id.as_str()));
    assert_eq!(signer["trusted"].as_str(), Some("accepted"));
    t.kplug(&["plugin", "trust", "list", "hello", "-o", "json"])
        .success()
        .stdout(predicate::str::contains(&a.id).and(predicate::str::contains(&b.id)));

    // Unsigned after signed: refused.
    t.publish("1.2.0", None, None);
    t.kplug(&["plugin", "update", "hello"])
        .failure()
        .stderr(predicate::str::contains("signed before"));
    assert_eq!(t.current().as_deref(), Some("1.1.0"));

    // A key removed is not trusted for a cached version either.
    t.kplug(&["plugin", "trust", "remove", "hello", "--key", &a.id])
        .success();
    t.kplug(&["plugin", "install", &format!("{REPO}@v1.0.0")])
        .failure()
        .stderr(predicate::str::contains(&a.id).and(predicate::str::contains("pinned to")));
    assert_eq!(t.current().as_deref(), Some("1.1.0"));
    // With no key left, a signed plugin gets no second first use.
    t.kplug(&["plugin", "trust", "remove", "hello", "--key", &b.id])
        .success();
    let c = keypair(&t.keys, "c");
    t.publish("1.3.0", Some(&c), None);
    t.kplug(&["plugin", "update", "hello"])
        .failure()
        .stderr(predicate::str::contains(&c.id).and(predicate::str::contains("no key trusted")));
    assert_eq!(t.current().as_deref(), Some("1.1.0"));
    t.kplug(&["plugin", "trust", "add", "hello", "--key", &b.base64])
        .success();

    // `plugin verify` passes, then finds the executable changed in the store.
    t.kplug(&["plugin", "verify", "hello"]).success();
    let exe = t.env.home.join("plugins/hello/1.1.0/kplug-hello");
    let mut text = std::fs::read_to_string(&exe).unwrap();
    text.push_str("\necho pwned\n");
    std::fs::write(&exe, text).unwrap();
    t.kplug(&["plugin", "verify", "--all"])
        .code(1)
        .stdout(predicate::str::contains(
            "TAMPERED: the executable differs from the one installed",
        ));
    // A cached artifact changed: found too (1.0.0's, whose executable is
    // intact).
    let sha = t.receipt()["versions"][0]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::write(t.env.home.join("cache/blobs/sha256").join(&sha), b"changed").unwrap();
    let out = t
        .kplug(&["plugin", "verify", "hello", "-o", "json"])
        .code(1);
    let rows: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let first = &rows[0];
    assert_eq!(first["version"], "1.0.0");
    assert!(
        first["result"]
            .as_str()
            .unwrap()
            .contains("the cached artifact differs"),
        "{rows}"
    );

    // The trust commands' refusals.
    for (args, said) in [
        (vec!["plugin", "trust", "hello"], "needs `--key KEY`"),
        (
            vec!["plugin", "trust", "add", "hello", "--key", "garbage"],
            "is not a key",
        ),
        (
            vec!["plugin", "trust", "remove", "hello", "--key", "FFFF"],
            "has no key FFFF",
        ),
        (
            vec!["plugin", "trust", "add", "nothere", "--key", &a.base64],
            "is not installed",
        ),
        (vec!["plugin", "verify"], "needs a plugin name, or `--all`"),
    ] {
        t.kplug(&args)
            .failure()
            .stderr(predicate::str::contains(said));
    }
}

#[test]
fn bad_signatures_are_refused_and_nothing_is_installed() {
    let t = gh();
    let a = keypair(&t.keys, "a");
    let other = t.keys.join("other.bin");
    std::fs::write(&other, b"some other bytes").unwrap();
    let asset = format!("kplug-hello_1.0.0_{}.tar.gz", platform());
    // A signature of the same name over other bytes.
    let renamed = t.keys.join(&asset);
    std::fs::write(&renamed, b"other bytes, same name").unwrap();
    let over_other_bytes = sign(&a, &renamed);
    // A valid signature of the right bytes, but for another file name.
    let elsewhere = t.keys.join("kplug-other_1.0.0.tar.gz");
    std::fs::write(&elsewhere, plugin_tar_gz("hello", "1.0.0")).unwrap();
    let for_another_file = sign(&a, &elsewhere);
    let good = {
        let f = t.keys.join(&asset);
        std::fs::write(&f, plugin_tar_gz("hello", "1.0.0")).unwrap();
        sign(&a, &f)
    };
    for (what, minisig, said) in [
        (
            "garbage",
            "not a signature at all".to_string(),
            "not a minisign signature",
        ),
        (
            "truncated",
            good[..good.len() / 2].to_string(),
            "not a minisign signature",
        ),
        ("other bytes", over_other_bytes, "does not verify"),
        ("another file", for_another_file, "kplug-other_1.0.0.tar.gz"),
    ] {
        let t = gh();
        t.publish_with_signature("1.0.0", &minisig, &a);
        let out = t
            .kplug(&["plugin", "install", &format!("{REPO}@v1.0.0")])
            .failure();
        let err = stderr(&out);
        assert!(err.contains(said), "{what}: {err}");
        assert!(
            err.contains("hello 1.0.0"),
            "{what}: names the plugin: {err}"
        );
        assert!(t.current().is_none(), "{what}: nothing installed");
        assert!(!t.env.home.join("plugins/hello").join("1.0.0").exists());
    }
    // The positive control: the good signature installs.
    let t2 = gh();
    t2.publish_with_signature("1.0.0", &good, &a);
    t2.kplug(&["plugin", "install", &format!("{REPO}@v1.0.0")])
        .success();
    assert_eq!(t2.current().as_deref(), Some("1.0.0"));
}

#[test]
fn unsigned_releases_warn_and_are_refused_when_signatures_are_required() {
    let t = gh();
    t.publish("1.0.0", None, None);
    t.kplug(&["plugin", "install", REPO, "--require-signature"])
        .failure()
        .stderr(
            predicate::str::contains("not signed")
                .and(predicate::str::contains("--require-signature")),
        );
    assert!(t.current().is_none());
    t.env.config_file(
        "network:\n  connectTimeout: 2s\n  readTimeout: 3s\n  attempts: 1\ninstall:\n  requireSignature: true\n",
    );
    t.kplug(&["plugin", "install", REPO])
        .failure()
        .stderr(predicate::str::contains("install.requireSignature"));
    t.env
        .config_file("network:\n  connectTimeout: 2s\n  readTimeout: 3s\n  attempts: 1\n");
    t.kplug(&["plugin", "install", REPO])
        .success()
        .stderr(predicate::str::contains("hello 1.0.0 is not signed"));
    assert_eq!(t.current().as_deref(), Some("1.0.0"));
}

#[test]
fn a_source_that_trusts_a_key_refuses_any_other() {
    let t = gh();
    let a = keypair(&t.keys, "a");
    let b = keypair(&t.keys, "b");
    t.env.config_file(&format!(
        "network:\n  connectTimeout: 2s\n  readTimeout: 3s\n  attempts: 1\nsources:\n- name: acme\n  kind: github\n  address: {REPO}\n  trust: ['{}']\n",
        a.base64
    ));
    // The source's repository listing is what `SOURCE/NAME` reads.
    t.publish("1.0.0", Some(&b), None);
    let out = t.kplug(&["plugin", "install", "acme/hello"]).failure();
    let err = stderr(&out);
    assert!(
        err.contains(&b.id) && err.contains("does not trust") && err.contains(&a.id),
        "{err}"
    );
    assert!(t.current().is_none());
    t.publish("1.0.1", Some(&a), None);
    t.kplug(&["plugin", "install", "acme/hello"]).success();
    assert_eq!(t.current().as_deref(), Some("1.0.1"));
    assert_eq!(
        t.receipt()["versions"][0]["signer"]["trusted"].as_str(),
        Some("source")
    );
    // A source that trusts keys refuses what is unsigned, a first install
    // included (a stripped signature is no way around it).
    let fresh = gh();
    fresh.env.config_file(&format!(
        "network:\n  connectTimeout: 2s\n  readTimeout: 3s\n  attempts: 1\nsources:\n- name: acme\n  kind: github\n  address: {REPO}\n  trust: ['{}']\n",
        a.base64
    ));
    fresh.publish("1.0.2", None, None);
    fresh
        .kplug(&["plugin", "install", "acme/hello"])
        .failure()
        .stderr(
            predicate::str::contains("not signed").and(predicate::str::contains("trusts keys")),
        );
    assert!(fresh.current().is_none());
}

/// `inventory build --merge` of `archive` into `inv` (signed by `key`).
fn merge_into(env: &TestEnv, inv: &Path, archive: &Path, key: Option<&Pair>) {
    let mut cmd = env.kplug();
    cmd.args([
        "plugin",
        "inventory",
        "build",
        "--base-url",
        ".",
        "--merge",
        "-o",
    ])
    .arg(inv)
    .arg(archive);
    if let Some(k) = key {
        cmd.arg("--sign-key").arg(&k.secret);
    }
    cmd.assert().success();
}

/// An inventory of `hello` `version` in `dir`, built and signed by kplug.
fn signed_inventory(env: &TestEnv, dir: &Path, versions: &[&str], key: &Pair) -> PathBuf {
    let mut args: Vec<String> = Vec::new();
    for v in versions {
        let a = dir.join(format!("kplug-hello_{v}_{}.tar.gz", platform()));
        std::fs::write(&a, plugin_tar_gz("hello", v)).unwrap();
        args.push(a.display().to_string());
    }
    let out = dir.join("inventory.yaml");
    env.kplug()
        .args(["plugin", "inventory", "build", "--base-url", "."])
        .args(&args)
        .arg("-o")
        .arg(&out)
        .arg("--sign-key")
        .arg(&key.secret)
        .assert()
        .success()
        .stderr(predicate::str::contains(&key.id));
    out
}

#[test]
fn an_inventory_signed_by_kplug_verifies_with_minisign_and_installs() {
    let env = TestEnv::new();
    let keys = env.dir("keys");
    let a = keypair(&keys, "a");
    let b = keypair(&keys, "b");
    let dir = env.dir("inv");
    let inv = signed_inventory(&env, &dir, &["1.0.0"], &a);
    // The reference implementation accepts what kplug signed: the
    // document, and each artifact's `signature`.
    let doc_sig = std::fs::read_to_string(format!("{}.minisig", inv.display())).unwrap();
    assert!(minisign_verifies(&a, &inv, &doc_sig));
    let parsed: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&inv).unwrap()).unwrap();
    assert_eq!(parsed["publicKey"].as_str(), Some(a.base64.as_str()));
    let art_sig = parsed["plugins"]["hello"]["versions"][0]["artifacts"][0]["signature"]
        .as_str()
        .unwrap()
        .to_string();
    let archive = dir.join(format!("kplug-hello_1.0.0_{}.tar.gz", platform()));
    assert!(minisign_verifies(&a, &archive, &art_sig));
    assert!(
        !minisign_verifies(&b, &archive, &art_sig),
        "the control: another key fails"
    );

    env.kplug()
        .args(["plugin", "source", "add", "team"])
        .arg(&inv)
        .args(["--trust", &a.base64])
        .assert()
        .success();
    env.kplug()
        .args(["plugin", "install", "hello"])
        .assert()
        .success();
    let r: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(env.home.join("plugins/hello/receipt.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        r["versions"][0]["signer"]["keyId"].as_str(),
        Some(a.id.as_str())
    );

    // A tampered inventory (a new version added, not re-signed): refused at
    // refresh, its last good copy kept.
    let v2 = dir.join(format!("kplug-hello_1.1.0_{}.tar.gz", platform()));
    std::fs::write(&v2, plugin_tar_gz("hello", "1.1.0")).unwrap();
    let sig_before = std::fs::read(format!("{}.minisig", inv.display())).unwrap();
    merge_into(&env, &inv, &v2, None);
    std::fs::write(format!("{}.minisig", inv.display()), &sig_before).unwrap();
    env.kplug()
        .args(["plugin", "source", "refresh", "team"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("does not verify"));
    env.kplug()
        .args(["plugin", "update", "hello"])
        .assert()
        .success();
    assert_eq!(
        std::fs::read_link(env.home.join("plugins/hello/current")).unwrap(),
        Path::new("1.0.0"),
        "the tampered document's version is not installed"
    );

    // An untrusted key inside a tampered inventory: the document re-signed
    // by B, declaring B as its publisher, refused.
    let dir2 = env.dir("inv-b");
    let inv_b = signed_inventory(&env, &dir2, &["1.0.0", "1.1.0"], &b);
    std::fs::copy(&inv_b, &inv).unwrap();
    std::fs::copy(
        format!("{}.minisig", inv_b.display()),
        format!("{}.minisig", inv.display()),
    )
    .unwrap();
    for f in std::fs::read_dir(&dir2).unwrap().flatten() {
        if f.file_name().to_string_lossy().ends_with(".tar.gz") {
            std::fs::copy(f.path(), dir.join(f.file_name())).unwrap();
        }
    }
    env.kplug()
        .args(["plugin", "source", "refresh", "team"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(&b.id).and(predicate::str::contains("does not trust")));
    env.kplug()
        .args(["plugin", "update", "hello"])
        .assert()
        .success();
    assert_eq!(
        std::fs::read_link(env.home.join("plugins/hello/current")).unwrap(),
        Path::new("1.0.0")
    );
}

#[test]
fn an_inventory_publisher_key_is_trusted_on_first_use_without_source_trust() {
    let env = TestEnv::new();
    let keys = env.dir("keys");
    let a = keypair(&keys, "a");
    let b = keypair(&keys, "b");
    let dir = env.dir("inv");
    let inv = signed_inventory(&env, &dir, &["1.0.0"], &a);
    env.kplug()
        .args(["plugin", "source", "add", "team"])
        .arg(&inv)
        .assert()
        .success();
    env.kplug()
        .args(["plugin", "install", "hello"])
        .assert()
        .success()
        .stderr(predicate::str::contains(format!(
            "signing key {} on first use",
            a.id
        )));
    // The next version is signed by B (the inventory now declares B): the
    // pin refuses it; `trust` with the public key accepts it.
    let archive = dir.join(format!("kplug-hello_1.1.0_{}.tar.gz", platform()));
    std::fs::write(&archive, plugin_tar_gz("hello", "1.1.0")).unwrap();
    merge_into(&env, &inv, &archive, Some(&b));
    env.kplug()
        .args(["plugin", "source", "refresh", "team"])
        .assert()
        .success();
    env.kplug()
        .args(["plugin", "update", "hello"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(&a.id).and(predicate::str::contains(&b.id)));
    env.kplug()
        .args(["plugin", "trust", "add", "hello", "--key"])
        .arg(&b.public)
        .assert()
        .success();
    env.kplug()
        .args(["plugin", "update", "hello"])
        .assert()
        .success();
    assert_eq!(
        std::fs::read_link(env.home.join("plugins/hello/current")).unwrap(),
        Path::new("1.1.0")
    );
    // Forgetting every key accepts unsigned ones again.
    env.kplug()
        .args(["plugin", "trust", "remove", "hello", "--all"])
        .assert()
        .success();
    env.kplug()
        .args(["plugin", "trust", "list", "hello", "-o", "json"])
        .assert()
        .success()
        .stdout("[]\n");
    let unsigned = dir.join(format!("kplug-hello_1.2.0_{}.tar.gz", platform()));
    std::fs::write(&unsigned, plugin_tar_gz("hello", "1.2.0")).unwrap();
    merge_into(&env, &inv, &unsigned, None);
    env.kplug()
        .args(["plugin", "source", "refresh", "team"])
        .assert()
        .success();
    env.kplug()
        .args(["plugin", "update", "hello"])
        .assert()
        .success()
        .stderr(predicate::str::contains("hello 1.2.0 is not signed"));
    assert_eq!(
        std::fs::read_link(env.home.join("plugins/hello/current")).unwrap(),
        Path::new("1.2.0")
    );
}

#[test]
fn the_release_key_and_the_scaffold_sign() {
    // The key built into kplug is a minisign public key.
    let key = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/host/release-key.pub"
    ))
    .unwrap();
    let id = key
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("untrusted comment: minisign public key "))
        .expect("a minisign.pub comment line");
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(key.lines().nth(1).unwrap().trim())
        .unwrap();
    assert_eq!(
        (bytes.len(), &bytes[..2]),
        (42, &b"Ed"[..]),
        "an Ed25519 key"
    );
    let num = u64::from_le_bytes(bytes[2..10].try_into().unwrap());
    assert_eq!(format!("{num:X}"), id, "its comment names its own id");
    // `plugin new` scaffolds signing in the release workflow.
    let env = TestEnv::new();
    env.kplug()
        .args(["plugin", "new", "demo", "--lang", "bash"])
        .assert()
        .success();
    let dir = env.root.path().join("kplug-demo");
    let workflow = std::fs::read_to_string(dir.join(".github/workflows/release.yml")).unwrap();
    for needle in [
        "MINISIGN_SECRET_KEY",
        "minisign -S",
        "minisign.pub",
        "--sign-key",
    ] {
        assert!(workflow.contains(needle), "the workflow lacks {needle}");
    }
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    assert!(readme.contains("## Signing"));
}

/// The text an OCI signature covers (the index digest), in a file for
/// `minisign -V`.
fn digest_file(dir: &Path, digest: &str) -> PathBuf {
    let p = dir.join(format!("{}.txt", digest.replace(':', "-")));
    std::fs::write(&p, digest).unwrap();
    p
}

#[test]
fn oci_signatures_are_pushed_beside_the_index_and_checked() {
    use crate::oci::{Registry, archive};
    let reg = Registry::start(&[]);
    let env = TestEnv::new();
    env.config_file("network:\n  connectTimeout: 2s\n  readTimeout: 3s\n  attempts: 1\n");
    let keys = env.dir("keys");
    let dist = env.dir("dist");
    let a = keypair(&keys, "a");
    let b = keypair(&keys, "b");
    let repo = reg.url("team/hello");
    let publish = |version: &str, key: Option<&Pair>| {
        let file = archive(&dist, "hello", version, platform(), "");
        let mut cmd = env.kplug();
        cmd.args([
            "plugin",
            "publish",
            &format!("{repo}:{version}"),
            "-o",
            "json",
        ])
        .arg(&file);
        if let Some(k) = key {
            cmd.arg("--sign-key").arg(&k.secret);
        }
        let out = cmd.assert().success();
        let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        v
    };
    let live = || {
        std::fs::read_link(env.home.join("plugins/hello/current"))
            .ok()
            .map(|p| p.display().to_string())
    };

    // Signed by kplug; the reference implementation agrees.
    let v1 = publish("1.0.0", Some(&a));
    let digest = v1["digest"].as_str().unwrap().to_string();
    let tag = v1["signature"]["tag"].as_str().unwrap().to_string();
    assert_eq!(tag, format!("{}.sig", digest.replace(':', "-")));
    assert_eq!(v1["signature"]["keyId"].as_str(), Some(a.id.as_str()));
    let sig_url = format!("http://{}/v2/team/hello/manifests/{tag}", reg.host);
    let client = reqwest::blocking::Client::new();
    let manifest: serde_json::Value = client
        .get(&sig_url)
        .header("Accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .unwrap()
        .bytes()
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap();
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let minisig = client
        .get(format!("http://{}/v2/team/hello/blobs/{layer}", reg.host))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(minisign_verifies(
        &a,
        &digest_file(&keys, &digest),
        &minisig
    ));
    assert!(!minisign_verifies(
        &b,
        &digest_file(&keys, &digest),
        &minisig
    ));

    // Installed, the key pinned on first use (from the signature's annotation).
    env.kplug()
        .args(["plugin", "install", &format!("{repo}:1.0.0")])
        .assert()
        .success()
        .stderr(predicate::str::contains(format!(
            "signing key {} on first use",
            a.id
        )));
    assert_eq!(live().as_deref(), Some("1.0.0"));

    // Another key: refused; trusted with its public key: taken.
    publish("1.1.0", Some(&b));
    env.kplug()
        .args(["plugin", "update", "hello"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(&a.id).and(predicate::str::contains(&b.id)));
    assert_eq!(live().as_deref(), Some("1.0.0"));
    env.kplug()
        .args(["plugin", "trust", "hello", "--key", &b.base64])
        .assert()
        .success();
    env.kplug()
        .args(["plugin", "update", "hello"])
        .assert()
        .success();
    assert_eq!(live().as_deref(), Some("1.1.0"));

    // Unsigned after signed, and under --require-signature: refused.
    publish("1.2.0", None);
    env.kplug()
        .args(["plugin", "update", "hello"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("signed before"));
    let fresh = TestEnv::new();
    fresh.config_file("network:\n  connectTimeout: 2s\n  readTimeout: 3s\n  attempts: 1\n");
    fresh
        .kplug()
        .args([
            "plugin",
            "install",
            &format!("{repo}:1.2.0"),
            "--require-signature",
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("not signed"));
    assert!(!fresh.home.join("plugins/hello/1.2.0").exists());

    // A signature moved from another version (over another digest).
    let v3 = publish("1.3.0", Some(&b));
    let d3 = v3["digest"].as_str().unwrap().to_string();
    let old_sig: Vec<u8> = client
        .get(&sig_url)
        .header("Accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .unwrap()
        .bytes()
        .unwrap()
        .to_vec();
    let moved = client
        .put(format!(
            "http://{}/v2/team/hello/manifests/{}.sig",
            reg.host,
            d3.replace(':', "-")
        ))
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .body(old_sig)
        .send()
        .unwrap();
    assert!(moved.status().is_success(), "{moved:?}");
    env.kplug()
        .args(["plugin", "update", "hello"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("does not verify"));
    assert_eq!(live().as_deref(), Some("1.1.0"));

    // A signature tag pointing at a blob that is gone.
    let v4 = publish("1.4.0", Some(&b));
    let d4 = v4["digest"].as_str().unwrap().to_string();
    let m4: serde_json::Value = client
        .get(format!(
            "http://{}/v2/team/hello/manifests/{}.sig",
            reg.host,
            d4.replace(':', "-")
        ))
        .header("Accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .unwrap()
        .bytes()
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap();
    let gone = m4["layers"][0]["digest"].as_str().unwrap();
    let deleted = client
        .delete(format!("http://{}/v2/team/hello/blobs/{gone}", reg.host))
        .send()
        .unwrap();
    assert!(deleted.status().is_success(), "{deleted:?}");
    env.kplug()
        .args(["plugin", "update", "hello"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("cannot be read"));
    assert_eq!(live().as_deref(), Some("1.1.0"));
}

#[test]
fn a_password_protected_key_signs_with_its_password_and_a_wrong_one_writes_nothing() {
    let env = TestEnv::new();
    let keys = env.dir("keys");
    let public = keys.join("c.pub");
    let secret = keys.join("c.key");
    let mut child = Command::new(minisign())
        .args(["-G", "-p"])
        .arg(&public)
        .arg("-s")
        .arg(&secret)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"s3cret\ns3cret\n").unwrap();
    assert!(child.wait().unwrap().success());
    let pair = read_pair(public, secret);
    let dir = env.dir("inv");
    let archive = dir.join(format!("kplug-hello_1.0.0_{}.tar.gz", platform()));
    std::fs::write(&archive, plugin_tar_gz("hello", "1.0.0")).unwrap();
    let out = dir.join("inventory.yaml");
    let build = |password: &str| {
        env.kplug()
            .env("KPLUG_SIGN_PASSWORD", password)
            .args(["plugin", "inventory", "build", "--base-url", ".", "-o"])
            .arg(&out)
            .arg(&archive)
            .arg("--sign-key")
            .arg(&pair.secret)
            .assert()
    };
    build("wrong")
        .code(2)
        .stderr(predicate::str::contains("could not open the secret key"));
    assert!(!out.exists(), "a wrong password writes nothing");
    build("s3cret").success();
    let sig = std::fs::read_to_string(format!("{}.minisig", out.display())).unwrap();
    assert!(minisign_verifies(&pair, &out, &sig));
}

#[test]
fn an_inventory_in_a_registry_is_signed_beside_its_manifest() {
    use crate::oci::Registry;
    let reg = Registry::start(&[]);
    let env = TestEnv::new();
    env.config_file("network:\n  connectTimeout: 2s\n  readTimeout: 3s\n  attempts: 1\n");
    let keys = env.dir("keys");
    let a = keypair(&keys, "a");
    let b = keypair(&keys, "b");
    let work = env.dir("push");
    // The inventory pushed, then (with a key) its signature beside it, with
    // nothing but curl and minisign: the recipe docs/security.md gives.
    let push = |version: &str, key: Option<&Pair>| {
        let doc = format!(
            "apiVersion: kplug.dev/v1\nkind: Inventory\nplugins:\n  hello:\n    versions:\n    - version: {version}\n      artifacts:\n      - {{os: linux, arch: amd64, url: 'https://example.com/h.tar.gz', sha256: '{}'}}\n",
            "a".repeat(64)
        );
        crate::oci::push_inventory(&reg.host, &work, &doc, key.map(|k| k.secret.as_path()));
    };
    let address = format!("{}:latest", reg.url("team/inventory"));
    push("1.0.0", Some(&a));
    env.kplug()
        .args([
            "plugin", "source", "add", "team", &address, "--kind", "index", "--trust", &a.base64,
        ])
        .assert()
        .success();
    let listed = || {
        let out = env
            .kplug()
            .args(["plugin", "search", "hello", "-o", "json"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(listed().contains("1.0.0"));
    // Replaced by an unsigned document, then by one signed by another key:
    // refused, the signed copy kept.
    push("2.0.0", None);
    env.kplug()
        .args(["plugin", "source", "refresh", "team"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("without a signature"));
    push("2.0.0", Some(&b));
    env.kplug()
        .args(["plugin", "source", "refresh", "team"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(&b.id).and(predicate::str::contains("does not trust")));
    assert!(listed().contains("1.0.0") && !listed().contains("2.0.0"));
    // Signed by the trusted key again: taken (the positive control).
    push("2.0.0", Some(&a));
    env.kplug()
        .args(["plugin", "source", "refresh", "team"])
        .assert()
        .success();
    assert!(listed().contains("2.0.0"));
}

#[test]
fn a_refused_signature_installs_no_dependency() {
    use crate::archives::{Entry, plugin_script, tar_gz};
    let t = gh();
    let a = keypair(&t.keys, "a");
    let b = keypair(&t.keys, "b");
    t.env.config_file(&format!(
        "network:\n  connectTimeout: 2s\n  readTimeout: 3s\n  attempts: 1\nsources:\n- name: acme\n  kind: github\n  address: acme/kplug-app\n  trust: ['{}']\n",
        a.base64
    ));
    let requires = "requires: {plugins: {base: {version: \"^1\", source: acme/kplug-base}}}\n";
    // A release of app `version` signed by `key`; its contract, published
    // beside it, asks for a dependency.
    let publish_app = |version: &str, key: &Pair| {
        let script = plugin_script("app", version, requires);
        let body = tar_gz(&[Entry {
            path: "kplug-app",
            body: script.as_bytes(),
            mode: 0o755,
        }]);
        let name = format!("kplug-app_{version}_{}.tar.gz", platform());
        let file = t.keys.join(&name);
        std::fs::write(&file, &body).unwrap();
        let sig = sign(key, &file);
        t.gh.publish(
            "acme/kplug-app",
            FakeRelease {
                tag: format!("v{version}"),
                prerelease: false,
                assets: vec![
                    FakeAsset {
                        name: name.clone(),
                        body,
                        digest: true,
                    },
                    FakeAsset {
                        name: format!("{name}.minisig"),
                        body: sig.into_bytes(),
                        digest: false,
                    },
                    FakeAsset {
                        name: "kplug-plugin.yaml".into(),
                        body: format!("protocols: [1]\nname: app\nversion: {version}\n{requires}")
                            .into_bytes(),
                        digest: false,
                    },
                ],
            },
        );
    };
    t.gh.publish(
        "acme/kplug-base",
        release_with("base", "1.0.0", plugin_tar_gz("base", "1.0.0"), true),
    );
    // Signed by a key the source does not trust.
    publish_app("1.0.0", &b);
    t.kplug(&["plugin", "install", "acme/app@v1.0.0", "--with-deps"])
        .failure()
        .stderr(predicate::str::contains("does not trust"));
    assert!(!t.env.home.join("plugins/app").exists());
    assert!(
        !t.env.home.join("plugins/base").exists(),
        "the dependency waits for the artifact's checks"
    );
    // The positive control: signed by the trusted key, both install.
    publish_app("1.0.1", &a);
    t.kplug(&["plugin", "install", "acme/app@v1.0.1", "--with-deps"])
        .success();
    assert!(t.env.home.join("plugins/app/1.0.1").is_dir());
    assert!(t.env.home.join("plugins/base/1.0.0").is_dir());
}

#[test]
fn an_index_artifact_tampered_or_unsigned_is_refused() {
    let env = TestEnv::new();
    let keys = env.dir("keys");
    let a = keypair(&keys, "a");
    let dir = env.dir("inv");
    let inv = signed_inventory(&env, &dir, &["1.0.0"], &a);
    env.kplug()
        .args(["plugin", "source", "add", "team"])
        .arg(&inv)
        .assert()
        .success();
    // The artifact's bytes changed after it was signed and listed.
    let archive = dir.join(format!("kplug-hello_1.0.0_{}.tar.gz", platform()));
    let good = std::fs::read(&archive).unwrap();
    std::fs::write(&archive, plugin_tar_gz("hello", "6.6.6")).unwrap();
    env.kplug()
        .args(["plugin", "install", "team/hello"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("checksum mismatch"));
    assert!(!env.home.join("plugins/hello/1.0.0").exists());
    std::fs::write(&archive, &good).unwrap();
    // The bytes as listed, but the entry's signature is of other bytes (of
    // the same name): the signature check refuses it.
    let text = std::fs::read_to_string(&inv).unwrap();
    let listed: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let decoy = keys.join(archive.file_name().unwrap());
    std::fs::write(&decoy, b"other bytes").unwrap();
    let forged = sign(&a, &decoy);
    let mut doc: serde_yaml::Value = listed.clone();
    doc["plugins"]["hello"]["versions"][0]["artifacts"][0]["signature"] = forged.into();
    std::fs::write(&inv, serde_yaml::to_string(&doc).unwrap()).unwrap();
    env.kplug()
        .args(["plugin", "source", "refresh", "team"])
        .assert()
        .success();
    env.kplug()
        .args(["plugin", "install", "team/hello"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("does not verify"));
    assert!(!env.home.join("plugins/hello/1.0.0").exists());
    std::fs::write(&inv, &text).unwrap();
    env.kplug()
        .args(["plugin", "source", "refresh", "team"])
        .assert()
        .success();
    // An inventory without signatures: refused under --require-signature,
    // installed with a warning otherwise.
    let plain = env.dir("plain");
    let b = plain.join(format!("kplug-hello_1.0.0_{}.tar.gz", platform()));
    std::fs::write(&b, plugin_tar_gz("hello", "1.0.0")).unwrap();
    let plain_inv = plain.join("inventory.yaml");
    env.kplug()
        .args(["plugin", "inventory", "build", "--base-url", ".", "-o"])
        .arg(&plain_inv)
        .arg(&b)
        .assert()
        .success();
    env.kplug()
        .args(["plugin", "source", "add", "plain"])
        .arg(&plain_inv)
        .assert()
        .success();
    env.kplug()
        .args(["plugin", "install", "plain/hello", "--require-signature"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("not signed"));
    assert!(!env.home.join("plugins/hello/1.0.0").exists());
    // The signed one installs (the positive control).
    env.kplug()
        .args(["plugin", "install", "team/hello", "--require-signature"])
        .assert()
        .success();
    assert!(env.home.join("plugins/hello/1.0.0").is_dir());
    // Without the flag, the unsigned one installs with a warning.
    let other = TestEnv::new();
    other
        .kplug()
        .args(["plugin", "source", "add", "plain"])
        .arg(&plain_inv)
        .assert()
        .success();
    other
        .kplug()
        .args(["plugin", "install", "plain/hello"])
        .assert()
        .success()
        .stderr(predicate::str::contains("hello 1.0.0 is not signed"));
}
