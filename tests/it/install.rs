//! `kplug plugin install` / `remove` against a GitHub-compatible server on
//! 127.0.0.1, with release archives built in the test.

use crate::archives::{self, Entry, platform, plugin_script, release, release_with, tar_gz};
use crate::server::{FakeAsset, FakeGitHub, FakeRelease, Reply, Server, sha256_hex};
use crate::support::{TestEnv, entry, list_json, process_ends, write_exec};
use predicates::prelude::*;
use std::time::{Duration, Instant};

const REPO: &str = "acme/kplug-demo";

fn kplug(env: &TestEnv, gh: &FakeGitHub) -> assert_cmd::Command {
    let mut cmd = env.kplug();
    cmd.env("KPLUG_GITHUB_API_URL", gh.url());
    cmd
}

fn install(env: &TestEnv, gh: &FakeGitHub, source: &str) -> assert_cmd::assert::Assert {
    kplug(env, gh).args(["plugin", "install", source]).assert()
}

/// What `kplug demo` prints: the live version.
fn live(env: &TestEnv) -> String {
    let out = env.kplug().arg("demo").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn setup() -> (TestEnv, FakeGitHub) {
    let env = TestEnv::new();
    // Fail fast in tests: short waits, quick retries.
    env.config_file("network:\n  connectTimeout: 2s\n  readTimeout: 2s\n  attempts: 3\n");
    (env, FakeGitHub::start())
}

/// The store, as a sorted list of paths (to prove nothing changed).
fn store_snapshot(env: &TestEnv) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(dir: &std::path::Path, base: &std::path::Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_symlink() {
                out.push(format!(
                    "{rel} -> {}",
                    std::fs::read_link(&p).unwrap().display()
                ));
            } else if meta.is_dir() {
                walk(&p, base, out);
            } else {
                out.push(format!("{rel} {}", sha256_hex(&std::fs::read(&p).unwrap())));
            }
        }
    }
    walk(&env.home.join("plugins"), &env.home, &mut out);
    out.sort();
    out
}

#[test]
fn latest_tag_and_range_sources() {
    let (env, gh) = setup();
    gh.publish(REPO, release("demo", "1.0.0"));
    gh.publish(REPO, release("demo", "1.4.0"));
    gh.publish(REPO, release("demo", "2.0.0"));
    gh.publish(REPO, release("demo", "2.1.0-rc.1"));

    install(&env, &gh, REPO)
        .success()
        .stderr(predicate::str::contains(format!(
            "installed demo 2.0.0 from {REPO} (kplug-demo_2.0.0_{}.tar.gz, sha256 verified against GitHub's digest)",
            platform()
        )));
    assert_eq!(live(&env), "demo 2.0.0");

    install(&env, &gh, &format!("{REPO}@v1.0.0"))
        .success()
        .stderr(predicate::str::contains("was 2.0.0"));
    assert_eq!(live(&env), "demo 1.0.0");
    install(&env, &gh, &format!("{REPO}@^1")).success();
    assert_eq!(live(&env), "demo 1.4.0");
    install(&env, &gh, &format!("{REPO}@1.0.0")).success();
    assert_eq!(live(&env), "demo 1.0.0");
    kplug(&env, &gh)
        .args(["plugin", "install", REPO, "--pre"])
        .assert()
        .success();
    assert_eq!(live(&env), "demo 2.1.0-rc.1");
    install(
        &env,
        &gh,
        &format!("https://github.com/{REPO}/releases/tag/v1.4.0"),
    )
    .success();
    assert_eq!(live(&env), "demo 1.4.0");
    install(&env, &gh, &format!("https://github.com/{REPO}")).success();
    assert_eq!(live(&env), "demo 2.0.0");
    // Asking again for the live version does nothing.
    install(&env, &gh, REPO)
        .success()
        .stderr(predicate::str::contains("already installed and current"));

    install(&env, &gh, &format!("{REPO}@^3"))
        .code(1)
        .stderr(predicate::str::contains(
            "no release of acme/kplug-demo matches `^3`",
        ));
    install(&env, &gh, &format!("{REPO}@v9.9.9"))
        .code(1)
        .stderr(predicate::str::contains("has no release tagged `v9.9.9`"));

    let list = list_json(&env);
    let demo = entry(&list, "demo");
    assert_eq!(demo["origin"], "store");
    assert_eq!(demo["installed"]["source"], REPO);
    assert_eq!(demo["installed"]["verifiedBy"], "github-digest");
    env.kplug()
        .args(["plugin", "info", "demo"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("source:      {REPO}")))
        .stdout(predicate::str::contains("release:     v2.0.0"));
    let receipt = std::fs::read_to_string(env.home.join("plugins/demo/receipt.yaml")).unwrap();
    assert!(
        receipt.contains("version: 1.4.0") && receipt.contains("sha256:"),
        "{receipt}"
    );
}

#[test]
fn the_release_list_is_paginated() {
    let (env, gh) = setup();
    for v in ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"] {
        gh.publish(REPO, release("demo", v));
    }
    gh.faults.lock().unwrap().per_page = Some(2);
    // The newest 1.x is on page 1, but the oldest one is on page 3.
    install(&env, &gh, &format!("{REPO}@~1.0")).success();
    assert_eq!(live(&env), "demo 1.0.0");
    assert!(
        gh.server
            .requests()
            .iter()
            .any(|r| r.path.contains("page=3"))
    );
}

#[test]
fn local_and_url_sources() {
    let (env, gh) = setup();
    let files = env.dir("files");
    let archive = files.join(format!("kplug-demo_1.0.0_{}.tar.gz", platform()));
    std::fs::write(&archive, archives::plugin_tar_gz("demo", "1.0.0")).unwrap();
    install(&env, &gh, archive.to_str().unwrap()).success();
    assert_eq!(live(&env), "demo 1.0.0");

    let binary = write_exec(
        &files.join("kplug-demo"),
        &plugin_script("demo", "1.1.0", ""),
    );
    install(&env, &gh, binary.to_str().unwrap()).success();
    assert_eq!(live(&env), "demo 1.1.0");

    let dir = env.dir("plugin-dir");
    write_exec(&dir.join("kplug-demo"), &plugin_script("demo", "1.2.0", ""));
    std::fs::write(dir.join("data.txt"), "shipped with the plugin").unwrap();
    install(&env, &gh, dir.to_str().unwrap()).success();
    assert_eq!(live(&env), "demo 1.2.0");
    assert!(env.home.join("plugins/demo/1.2.0/data.txt").is_file());

    let zipped = archives::zip(&[Entry {
        path: "bin/kplug-demo",
        body: plugin_script("demo", "1.3.0", "").as_bytes(),
        mode: 0o755,
    }]);
    let body = zipped.clone();
    let files_server = Server::start("127.0.0.1", move |_| Reply::bytes(body.clone()));
    let url = format!("{}/kplug-demo.zip", files_server.url());
    install(&env, &gh, &url)
        .code(2)
        .stderr(predicate::str::contains("needs `--sha256"));
    kplug(&env, &gh)
        .args(["plugin", "install", &url, "--sha256", &"0".repeat(64)])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("checksum mismatch"));
    kplug(&env, &gh)
        .args(["plugin", "install", &url, "--sha256", &sha256_hex(&zipped)])
        .assert()
        .success();
    assert_eq!(live(&env), "demo 1.3.0");
}

#[test]
fn a_checksum_mismatch_is_refused_and_changes_nothing() {
    let (env, gh) = setup();
    gh.publish(REPO, release("demo", "1.0.0"));
    install(&env, &gh, REPO).success();
    let before = store_snapshot(&env);

    // The release's checksums.txt disagrees with what is downloaded.
    let mut r = release_with(
        "demo",
        "3.0.0",
        archives::plugin_tar_gz("demo", "3.0.0"),
        false,
    );
    r.assets.push(FakeAsset {
        name: "checksums.txt".into(),
        body: format!("{}  {}\n", "ab".repeat(32), r.assets[0].name).into_bytes(),
        digest: false,
    });
    gh.publish(REPO, r);
    install(&env, &gh, &format!("{REPO}@v3.0.0"))
        .code(1)
        .stderr(predicate::str::contains(
            "checksum mismatch for kplug-demo_3.0.0_",
        ))
        .stderr(predicate::str::contains("nothing was installed"));
    assert_eq!(store_snapshot(&env), before);
    assert_eq!(live(&env), "demo 1.0.0");
}

/// A release without GitHub's digest whose checksums file `sums` holds the
/// right sha256 of the asset for this platform.
fn release_with_checksums_file(version: &str, sums: &str) -> FakeRelease {
    let mut r = release_with(
        "demo",
        version,
        archives::plugin_tar_gz("demo", version),
        false,
    );
    r.assets.push(FakeAsset {
        name: sums.into(),
        body: format!("{}  {}\n", sha256_hex(&r.assets[0].body), r.assets[0].name).into_bytes(),
        digest: false,
    });
    r
}

#[test]
fn checksums_files_verify_and_their_absence_is_a_warning() {
    let (env, gh) = setup();
    gh.publish(
        REPO,
        release_with_checksums_file("1.0.0", "kplug-demo_1.0.0_checksums.txt"),
    );
    install(&env, &gh, &format!("{REPO}@v1.0.0"))
        .success()
        .stderr(predicate::str::contains(
            "verified against the release's checksums",
        ));

    gh.publish(
        REPO,
        release_with(
            "demo",
            "2.0.0",
            archives::plugin_tar_gz("demo", "2.0.0"),
            false,
        ),
    );
    kplug(&env, &gh)
        .args([
            "plugin",
            "install",
            &format!("{REPO}@v2.0.0"),
            "--require-checksum",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("publishes no checksum"))
        .stderr(predicate::str::contains("--require-checksum"));
    assert_eq!(live(&env), "demo 1.0.0");
    install(&env, &gh, &format!("{REPO}@v2.0.0"))
        .success()
        .stderr(predicate::str::contains(
            "warning: acme/kplug-demo v2.0.0 publishes no checksum",
        ))
        .stderr(predicate::str::contains("integrity rests on TLS alone"));
    assert_eq!(live(&env), "demo 2.0.0");
}

/// A tar.gz with one raw entry whose header we write by hand (the tar crate
/// refuses to build hostile ones).
fn raw_tar_gz(name: &[u8], kind: tar::EntryType, link: Option<&[u8]>, body: &[u8]) -> Vec<u8> {
    let mut header = tar::Header::new_old();
    {
        let old = header.as_old_mut();
        old.name[..name.len()].copy_from_slice(name);
        if let Some(l) = link {
            old.linkname[..l.len()].copy_from_slice(l);
        }
    }
    header.set_entry_type(kind);
    header.set_size(body.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    let mut tar = header.as_bytes().to_vec();
    tar.extend_from_slice(body);
    tar.resize(tar.len().div_ceil(512) * 512 + 1024, 0);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    gz.finish().unwrap()
}

/// A gzip that inflates to a tar declaring a `size`-byte file of zeros,
/// built from one compressed MiB repeated (multi-member gzip).
fn bomb(size_mib: u64) -> Vec<u8> {
    use std::io::Write;
    let mut header = tar::Header::new_gnu();
    header.set_path("kplug-demo").unwrap();
    header.set_size(size_mib * 1024 * 1024);
    header.set_mode(0o755);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    let member = |data: &[u8]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    };
    let mut out = member(header.as_bytes());
    let zeros = member(&vec![0u8; 1024 * 1024]);
    for _ in 0..size_mib {
        out.extend_from_slice(&zeros);
    }
    out
}

#[test]
fn hostile_archives_are_refused_and_write_nothing_outside() {
    let (env, gh) = setup();
    env.config_file("network:\n  readTimeout: 5s\ninstall:\n  maxUnpackedMib: 16\n");
    gh.publish(REPO, release("demo", "1.0.0"));
    install(&env, &gh, REPO).success();
    let before = store_snapshot(&env);
    let outside = env.dir("outside");
    let target = outside.join("pwned");
    let abs = target.to_str().unwrap().as_bytes().to_vec();
    let many: Vec<(String, Vec<u8>)> = (0..100_001).map(|i| (format!("f{i}"), vec![])).collect();
    let many_entries: Vec<Entry<'_>> = many
        .iter()
        .map(|(p, b)| Entry {
            path: p,
            body: b,
            mode: 0o644,
        })
        .collect();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "zip-slip",
            raw_tar_gz(
                b"../../../outside/pwned",
                tar::EntryType::Regular,
                None,
                b"x",
            ),
        ),
        (
            "absolute path",
            raw_tar_gz(&abs, tar::EntryType::Regular, None, b"x"),
        ),
        (
            "symlink escape",
            raw_tar_gz(b"kplug-demo", tar::EntryType::Symlink, Some(&abs), b""),
        ),
        (
            "hard link",
            raw_tar_gz(
                b"kplug-demo",
                tar::EntryType::Link,
                Some(b"/etc/passwd"),
                b"",
            ),
        ),
        (
            "device",
            raw_tar_gz(b"kplug-demo", tar::EntryType::Char, None, b""),
        ),
        ("bomb", bomb(1024)),
        ("100k entries", tar_gz(&many_entries)),
    ];
    for (i, (what, body)) in cases.into_iter().enumerate() {
        let version = format!("9.0.{i}");
        gh.publish(REPO, release_with("demo", &version, body, true));
        let start = Instant::now();
        install(&env, &gh, &format!("{REPO}@v{version}"))
            .code(1)
            .stderr(predicate::str::contains("refus"));
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what} took too long to refuse"
        );
        assert!(
            !target.exists(),
            "{what}: wrote outside the staging directory"
        );
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "{what}");
        assert_eq!(store_snapshot(&env), before, "{what} changed the store");
        assert_eq!(live(&env), "demo 1.0.0", "{what}");
    }
    // Staging is cleaned: nothing of the refused archives is left.
    assert_eq!(
        std::fs::read_dir(env.home.join(".staging"))
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
}

#[test]
fn no_matching_asset_lists_what_it_saw() {
    let (env, gh) = setup();
    gh.publish(
        REPO,
        FakeRelease {
            tag: "v1.0.0".into(),
            prerelease: false,
            assets: vec![
                FakeAsset {
                    name: "kplug-demo_1.0.0_windows_amd64.zip".into(),
                    body: vec![1],
                    digest: true,
                },
                FakeAsset {
                    name: "kplug-demo_1.0.0_linux_s390x.tar.gz".into(),
                    body: vec![1],
                    digest: true,
                },
                FakeAsset {
                    name: "checksums.txt".into(),
                    body: vec![1],
                    digest: true,
                },
            ],
        },
    );
    install(&env, &gh, REPO)
        .code(1)
        .stderr(predicate::str::contains(
            "has no asset kplug can install here",
        ))
        .stderr(predicate::str::contains(
            "kplug-demo_1.0.0_windows_amd64.zip",
        ))
        .stderr(predicate::str::contains(
            "kplug-demo_1.0.0_linux_s390x.tar.gz",
        ))
        .stderr(predicate::str::contains("docs/install.md"));
}

#[test]
fn server_errors_are_explained() {
    let (env, gh) = setup();
    install(&env, &gh, "acme/kplug-nothing")
        .code(1)
        .stderr(predicate::str::contains(
            "no such repository or no releases: acme/kplug-nothing",
        ));

    gh.publish(REPO, release("demo", "1.0.0"));
    let reset = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600)
        .to_string();
    gh.faults.lock().unwrap().override_api = Some(Box::new(move |_| {
        Some(Reply::status(
            403,
            &[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", reset.as_str()),
            ],
        ))
    }));
    install(&env, &gh, REPO)
        .code(1)
        .stderr(predicate::str::contains("GitHub API rate limit exceeded"))
        .stderr(
            predicate::str::is_match(r"resets at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in 10 min\)")
                .unwrap(),
        )
        .stderr(predicate::str::contains("set GITHUB_TOKEN"));
    gh.faults.lock().unwrap().override_api = None;

    // Two 500s, then success: retried with backoff.
    gh.faults.lock().unwrap().fail_first = 2;
    install(&env, &gh, REPO).success();
    assert_eq!(live(&env), "demo 1.0.0");

    // Nothing listens: a clear error, quickly.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    env.kplug()
        .env("KPLUG_GITHUB_API_URL", format!("http://{closed}"))
        .args(["plugin", "install", "acme/kplug-uncached"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "could not connect to http://{closed}"
        )))
        .stderr(predicate::str::contains("hint: check the network"));

    // A server that accepts and never answers.
    let staller = Server::start("127.0.0.1", |_| Reply::Stall);
    env.kplug()
        .env("KPLUG_GITHUB_API_URL", staller.url())
        .args(["plugin", "install", "acme/kplug-other"])
        .timeout(Duration::from_secs(60))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("did not answer within 2s"));
}

#[test]
fn the_token_goes_to_the_api_host_only_and_is_never_shown() {
    let (env, gh) = setup();
    gh.publish(REPO, release("demo", "1.0.0"));
    // Asset downloads through the API redirect to another loopback host,
    // as github.com redirects to its storage host.
    let bodies = gh.releases.clone();
    let storage = Server::start("127.0.0.2", move |req| {
        let name = req
            .path
            .split('?')
            .next()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        let body = bodies.lock().unwrap()[REPO]
            .iter()
            .flat_map(|r| r.assets.clone())
            .find(|a| a.name == name)
            .unwrap()
            .body;
        Reply::bytes(body)
    });
    gh.faults.lock().unwrap().asset_redirect = Some(storage.url());
    let record = env.out.join("info-env");
    let token = "ghp_SECRETSECRETSECRET";
    let out = kplug(&env, &gh)
        .env("GITHUB_TOKEN", token)
        .env("RECORD_ENV_TO", &record)
        .args(["plugin", "install", REPO])
        .assert()
        .success()
        .get_output()
        .clone();
    let api_auth: Vec<_> = gh
        .server
        .requests()
        .iter()
        .filter_map(|r| r.header("authorization").map(str::to_string))
        .collect();
    assert!(
        !api_auth.is_empty() && api_auth.iter().all(|a| a == &format!("Bearer {token}")),
        "{api_auth:?}"
    );
    let storage_reqs = storage.requests();
    assert!(!storage_reqs.is_empty(), "the redirect was not followed");
    assert!(
        storage_reqs
            .iter()
            .all(|r| r.header("authorization").is_none()),
        "the token leaked to another host"
    );
    for text in [&out.stdout, &out.stderr] {
        assert!(!String::from_utf8_lossy(text).contains("SECRET"));
    }
    let plugin_env = std::fs::read_to_string(&record).unwrap();
    assert!(plugin_env.contains("KPLUG_COMMAND=INFO"), "{plugin_env}");
    assert!(
        !plugin_env.contains("SECRET"),
        "the token reached the plugin:\n{plugin_env}"
    );
    // An error message is no place for it either.
    let err = kplug(&env, &gh)
        .env("GITHUB_TOKEN", token)
        .args(["plugin", "install", "acme/kplug-missing"])
        .assert()
        .code(1);
    assert!(!String::from_utf8_lossy(&err.get_output().stderr).contains("SECRET"));
}

#[test]
fn offline_reinstall_from_the_cache() {
    let (env, gh) = setup();
    gh.publish(REPO, release("demo", "1.0.0"));
    gh.publish(REPO, release("demo", "2.0.0"));
    install(&env, &gh, &format!("{REPO}@v1.0.0")).success();
    install(&env, &gh, REPO).success();
    // With the server down, only the cache can serve these installs.
    gh.server.stop();
    install(&env, &gh, &format!("{REPO}@v1.0.0")).success();
    assert_eq!(live(&env), "demo 1.0.0");
    kplug(&env, &gh)
        .args(["plugin", "install", REPO, "--offline"])
        .assert()
        .success();
    assert_eq!(live(&env), "demo 2.0.0");
    kplug(&env, &gh)
        .args(["plugin", "install", "acme/kplug-never", "--offline"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "nothing cached for acme/kplug-never",
        ));
}

#[test]
fn a_plugin_that_does_not_work_is_refused() {
    let (env, gh) = setup();
    gh.publish(REPO, release("demo", "1.0.0"));
    install(&env, &gh, REPO).success();
    let before = store_snapshot(&env);
    let broken = tar_gz(&[Entry {
        path: "kplug-demo",
        body: b"#!/bin/sh\necho 'segfault, or so' >&2\nexit 139\n",
        mode: 0o755,
    }]);
    gh.publish(REPO, release_with("demo", "2.0.0", broken, true));
    install(&env, &gh, &format!("{REPO}@v2.0.0"))
        .code(1)
        .stderr(predicate::str::contains("the plugin does not work here"))
        .stderr(predicate::str::contains(
            "INFO exited with status 139: segfault, or so",
        ));
    let liar = tar_gz(&[Entry {
        path: "kplug-demo",
        body: plugin_script("other", "3.0.0", "").as_bytes(),
        mode: 0o755,
    }]);
    gh.publish(REPO, release_with("demo", "3.0.0", liar, true));
    install(&env, &gh, &format!("{REPO}@v3.0.0"))
        .code(1)
        .stderr(predicate::str::contains(
            "its INFO reports the name `other`",
        ));
    assert_eq!(store_snapshot(&env), before);
    assert_eq!(live(&env), "demo 1.0.0");
}

#[test]
fn a_changed_release_for_an_installed_version_is_refused() {
    let (env, gh) = setup();
    gh.publish(REPO, release("demo", "1.0.0"));
    gh.publish(REPO, release("demo", "2.0.0"));
    install(&env, &gh, &format!("{REPO}@v1.0.0")).success();
    install(&env, &gh, &format!("{REPO}@v2.0.0")).success();
    // 1.0.0 republished with other bytes, and no cached copy to fall back
    // on: going back to it downloads the changed file.
    let tampered = archives::tar_gz(&[Entry {
        path: "kplug-demo",
        body: format!("{}# changed\n", plugin_script("demo", "1.0.0", "")).as_bytes(),
        mode: 0o755,
    }]);
    gh.releases.lock().unwrap().get_mut(REPO).unwrap()[0] =
        release_with("demo", "1.0.0", tampered, true);
    std::fs::remove_dir_all(env.home.join("cache/blobs")).unwrap();
    let before = store_snapshot(&env);
    install(&env, &gh, &format!("{REPO}@v1.0.0"))
        .code(1)
        .stderr(predicate::str::contains(
            "is not the file installed before under that version",
        ))
        .stderr(predicate::str::contains(
            "should never change once published",
        ));
    assert_eq!(store_snapshot(&env), before);
    assert_eq!(live(&env), "demo 2.0.0");
    // --force takes it, with a warning.
    kplug(&env, &gh)
        .args(["plugin", "install", &format!("{REPO}@v1.0.0"), "--force"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "is not the file installed before under that version",
        ));
    assert_eq!(live(&env), "demo 1.0.0");
}

#[test]
fn two_installs_at_once_end_consistent() {
    let (env, gh) = setup();
    gh.publish(REPO, release("demo", "1.0.0"));
    gh.publish(REPO, release("demo", "2.0.0"));
    let spawn = |v: &str| {
        env.kplug_process()
            .env("KPLUG_GITHUB_API_URL", gh.url())
            .args(["plugin", "install", &format!("{REPO}@v{v}")])
            .output()
            .unwrap()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| spawn("1.0.0"));
        let b = s.spawn(|| spawn("2.0.0"));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(a.status.success() && b.status.success(), "{a:?}\n{b:?}");
    let current = live(&env);
    assert!(
        current == "demo 1.0.0" || current == "demo 2.0.0",
        "{current}"
    );
    let receipt = std::fs::read_to_string(env.home.join("plugins/demo/receipt.yaml")).unwrap();
    assert!(
        receipt.contains("version: 1.0.0") && receipt.contains("version: 2.0.0"),
        "{receipt}"
    );
    let list = list_json(&env);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["status"], "valid");
}

fn spawn_install(env: &TestEnv, gh: &FakeGitHub, source: &str) -> std::process::Child {
    env.kplug_process()
        .env("KPLUG_GITHUB_API_URL", gh.url())
        .args(["plugin", "install", source])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

fn kill_when(mut child: std::process::Child, ready: impl Fn() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "never reached the point to kill at"
        );
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the install finished ({status}) before it could be killed");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
    assert!(process_ends(child.id() as i32));
}

/// After a kill: the old version is live, the list is clean, and the next
/// install works and clears what the killed one left.
fn assert_recovers(env: &TestEnv, gh: &FakeGitHub, version: &str) {
    assert_eq!(live(env), "demo 1.0.0");
    let list = list_json(env);
    assert_eq!(list.len(), 1, "{list:#?}");
    assert_eq!(list[0]["status"], "valid");
    assert!(!env.home.join(format!("plugins/demo/{version}")).exists());
    gh.faults.lock().unwrap().throttle = None;
    install(env, gh, &format!("{REPO}@v{version}")).success();
    assert_eq!(live(env), format!("demo {version}"));
    assert_eq!(
        std::fs::read_dir(env.home.join(".staging"))
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
}

#[test]
fn sigkill_during_a_download_keeps_the_previous_version() {
    let (env, gh) = setup();
    gh.publish(REPO, release("demo", "1.0.0"));
    install(&env, &gh, REPO).success();
    // 4 MiB that gzip cannot shrink, sent at ~800 KiB/s.
    let mut big = release("demo", "2.0.0");
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let padding: Vec<u8> = (0..4 * 1024 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    big.assets[0].body = tar_gz(&[
        Entry {
            path: "kplug-demo",
            body: plugin_script("demo", "2.0.0", "").as_bytes(),
            mode: 0o755,
        },
        Entry {
            path: "padding",
            body: &padding,
            mode: 0o644,
        },
    ]);
    let name = big.assets[0].name.clone();
    gh.publish(REPO, big);
    gh.faults.lock().unwrap().throttle = Some(name);
    let sent = gh.server.sent.clone();
    let at_start = sent.load(std::sync::atomic::Ordering::SeqCst);
    let child = spawn_install(&env, &gh, &format!("{REPO}@v2.0.0"));
    kill_when(child, || {
        sent.load(std::sync::atomic::Ordering::SeqCst) > at_start + 64 * 1024
    });
    assert_recovers(&env, &gh, "2.0.0");
}

#[test]
fn sigkill_during_extraction_keeps_the_previous_version() {
    let (env, gh) = setup();
    gh.publish(REPO, release("demo", "1.0.0"));
    install(&env, &gh, REPO).success();
    let files: Vec<(String, Vec<u8>)> = (0..4000)
        .map(|i| (format!("data/f{i}"), vec![i as u8; 8 * 1024]))
        .collect();
    let script = plugin_script("demo", "2.0.0", "");
    let mut entries: Vec<Entry<'_>> = files
        .iter()
        .map(|(p, b)| Entry {
            path: p,
            body: b,
            mode: 0o644,
        })
        .collect();
    entries.push(Entry {
        path: "kplug-demo",
        body: script.as_bytes(),
        mode: 0o755,
    });
    gh.publish(REPO, release_with("demo", "2.0.0", tar_gz(&entries), true));
    let staging = env.home.join(".staging");
    let child = spawn_install(&env, &gh, &format!("{REPO}@v2.0.0"));
    // Kill once unpacking has begun: files are appearing in staging.
    kill_when(child, || {
        std::fs::read_dir(&staging)
            .into_iter()
            .flatten()
            .flatten()
            .any(|d| d.path().join("root/data").is_dir())
    });
    assert_recovers(&env, &gh, "2.0.0");
}

#[test]
fn remove_and_the_plugin_lifecycle_hooks() {
    let (env, gh) = setup();
    let hooks = "hooks:\\n  - event: post-plugin-install\\n  - event: pre-plugin-remove\\n";
    let calls = env.out.join("calls");
    let script = format!(
        "#!/bin/sh\nif [ \"$KPLUG_COMMAND\" = INFO ]; then printf 'protocols: [1]\\nname: demo\\nversion: 1.0.0\\n{hooks}'; exit 0; fi\nif [ \"$KPLUG_COMMAND\" = EXEC ]; then cat >> '{c}'; echo >> '{c}'; [ -e '{c}.refuse' ] && exit 1; exit 0; fi\necho demo\n",
        c = calls.display()
    );
    gh.publish(
        REPO,
        release_with(
            "demo",
            "1.0.0",
            tar_gz(&[Entry {
                path: "kplug-demo",
                body: script.as_bytes(),
                mode: 0o755,
            }]),
            true,
        ),
    );
    // Another plugin hooking the same events must not hear about demo.
    env.hook_plugin(
        "bystander",
        "  - event: post-plugin-install\n  - event: pre-plugin-remove",
        "true",
    );
    install(&env, &gh, REPO).success();
    let ctx: serde_json::Value =
        serde_json::from_str(env.read_out("calls").lines().next().unwrap()).unwrap();
    assert_eq!(ctx["event"], "post-plugin-install");
    assert_eq!(
        ctx["plugin"],
        serde_json::json!({"name": "demo", "version": "1.0.0"})
    );
    assert!(
        env.sequence().is_empty(),
        "a bystander got another plugin's event"
    );

    std::fs::write(format!("{}.refuse", calls.display()), "").unwrap();
    env.kplug()
        .args(["plugin", "remove", "demo"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains(
            "plugin `demo` stopped pre-plugin-remove",
        ))
        .stderr(predicate::str::contains("--no-hooks"));
    assert_eq!(live(&env), "demo");
    // The bystander's pre-plugin-remove hook is registered, yet did not
    // hear about demo's removal either.
    env.kplug()
        .args(["hooks", "list", "pre-plugin-remove"])
        .assert()
        .success()
        .stdout(predicate::str::contains("bystander"));
    assert!(env.sequence().is_empty(), "{:?}", env.sequence());
    env.kplug()
        .args(["plugin", "remove", "demo", "--no-hooks", "--all"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "removed demo (1.0.0), its cached downloads and its data",
        ));
    env.kplug().arg("demo").assert().code(2);
    assert!(!env.home.join("plugins/demo").exists());
    assert_eq!(
        std::fs::read_dir(env.home.join("cache/blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
    env.kplug()
        .args(["plugin", "remove", "bystander"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "`bystander` is not installed in kplug's store",
        ))
        .stderr(predicate::str::contains("which kplug did not install"));
}

#[test]
fn a_wrong_github_digest_is_refused() {
    let (env, gh) = setup();
    gh.publish(REPO, release("demo", "1.0.0"));
    // The API advertises the digest of one body and serves another.
    let mut r = release("demo", "2.0.0");
    let advertised = r.assets[0].body.clone();
    r.assets[0].body = archives::plugin_tar_gz("demo", "6.6.6");
    gh.publish(REPO, r);
    install(&env, &gh, &format!("{REPO}@v1.0.0")).success();
    let before = store_snapshot(&env);
    let base = gh.url();
    gh.faults.lock().unwrap().override_api = Some(Box::new(move |req| {
        req.path.ends_with("/releases/tags/v2.0.0").then(|| {
            let name = format!("kplug-demo_2.0.0_{}.tar.gz", platform());
            Reply::json(
                200,
                serde_json::json!({"tag_name": "v2.0.0", "assets": [{
                    "name": name,
                    "url": format!("{base}/repos/{REPO}/releases/assets/v2.0.0/{name}"),
                    "browser_download_url": format!("{base}/dl/{REPO}/v2.0.0/{name}"),
                    "digest": format!("sha256:{}", sha256_hex(&advertised)),
                }]})
                .to_string(),
            )
        })
    }));
    install(&env, &gh, &format!("{REPO}@v2.0.0"))
        .code(1)
        .stderr(predicate::str::contains(
            "checksum mismatch for kplug-demo_2.0.0_",
        ))
        .stderr(predicate::str::contains("expected sha256"));
    assert_eq!(store_snapshot(&env), before);
    assert_eq!(live(&env), "demo 1.0.0");
}

#[test]
fn sha256_applies_to_github_sources_too() {
    let (env, gh) = setup();
    gh.publish(REPO, release("demo", "1.0.0"));
    kplug(&env, &gh)
        .args(["plugin", "install", REPO, "--sha256", &"0".repeat(64)])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("checksum mismatch"));
    let body = gh.releases.lock().unwrap()[REPO][0].assets[0].body.clone();
    kplug(&env, &gh)
        .args(["plugin", "install", REPO, "--sha256", &sha256_hex(&body)])
        .assert()
        .success();
    let dir = env.dir("plugin-dir");
    kplug(&env, &gh)
        .args([
            "plugin",
            "install",
            dir.to_str().unwrap(),
            "--sha256",
            &"0".repeat(64),
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot check a directory"));
}

#[test]
fn offline_never_picks_a_prerelease_or_an_older_version() {
    let (env, gh) = setup();
    gh.publish(REPO, release("demo", "1.0.0"));
    gh.publish(REPO, release("demo", "1.1.0-rc.1"));
    gh.publish(REPO, release("demo", "2.0.0"));
    for v in ["1.0.0", "1.1.0-rc.1"] {
        install(&env, &gh, &format!("{REPO}@v{v}")).success();
    }
    install(&env, &gh, &format!("{REPO}@v1.0.0")).success();
    gh.server.stop();
    kplug(&env, &gh)
        .args(["plugin", "install", REPO, "--offline"])
        .assert()
        .success();
    assert_eq!(
        live(&env),
        "demo 1.0.0",
        "a prerelease was chosen without --pre"
    );
    kplug(&env, &gh)
        .args(["plugin", "install", REPO, "--offline", "--pre"])
        .assert()
        .success();
    assert_eq!(live(&env), "demo 1.1.0-rc.1");
    // Without --pre the newest cached stable is 1.0.0, older than what is
    // live: offline, "the newest" never goes back.
    kplug(&env, &gh)
        .args(["plugin", "install", REPO, "--offline"])
        .assert()
        .success()
        .stderr(predicate::str::contains("already installed and current"));
    assert_eq!(live(&env), "demo 1.1.0-rc.1");
}

#[test]
fn a_versioned_checksums_file_is_found() {
    let (env, gh) = setup();
    gh.publish(
        REPO,
        release_with_checksums_file("1.0.0", "checksums_1.0.0.txt"),
    );
    install(&env, &gh, REPO)
        .success()
        .stderr(predicate::str::contains(
            "verified against the release's checksums",
        ));
}
