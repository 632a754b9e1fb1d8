//! What installing from and publishing to an OCI registry cost, each
//! against what a user would do by hand, in the same run.
//!
//! Run with `benches/oci.sh` (it installs skopeo when it is missing, then
//! runs `cargo bench --bench oci`). It starts the CNCF distribution
//! registry (Debian's `docker-registry`) on a free loopback port with its
//! own storage, and a 20 MiB plugin: 19 MiB of incompressible data beside
//! a `/bin/sh` plugin, as a tar.gz.
//!
//! 1. **Install**: `kplug plugin install oci://…/team/bench:1.0.0` into a
//!    fresh `KPLUG_HOME` each round (resolve the tag, the index, this
//!    platform's manifest and its contract, then stream the layer checking
//!    its digest, unpack safely, smoke-test, commit), against
//!    `curl -s …/blobs/<layer digest> | tee >(sha256sum) | tar xz` into a
//!    fresh directory. Target: ≤ 1.2×.
//! 2. **Publish**: `kplug plugin publish` of the same archive to a new
//!    repository each round (hash, unpack, INFO in a sandbox, upload the
//!    layer in chunks, config, manifest, index), against `skopeo copy
//!    --all oci:DIR docker://…` of an equivalent OCI layout (the same
//!    blobs and manifests) to a new repository, with skopeo's blob cache
//!    cleared before each copy (else it mounts the blob from an earlier
//!    repository instead of uploading it). The ratio is reported.
//!
//! Rounds are interleaved; figures are medians with p10–p90. Exit status
//! is always 0: this is a measurement, not a test.

mod common;

#[allow(dead_code)]
#[path = "../tests/it/server.rs"]
mod server;

#[allow(dead_code)]
#[path = "../tests/it/archives.rs"]
mod archives;

use common::{median, pseudo_random, report};
use server::sha256_hex;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KPLUG: &str = env!("CARGO_BIN_EXE_kplug");
const DATA_BYTES: usize = 19 * 1024 * 1024;
const ROUNDS: usize = 9;
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

struct Registry(Child);

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn main() {
    let started = Instant::now();
    for (p, pkg) in [("docker-registry", "docker-registry"), ("curl", "curl")] {
        if !have(p) {
            println!(
                "oci bench: needs {p} (`apt-get install {pkg}`, or run benches/oci.sh); nothing measured"
            );
            return;
        }
    }
    let root = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let host = format!("127.0.0.1:{port}");
    let conf = root.path().join("registry.yml");
    std::fs::write(
        &conf,
        format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {host}\n  secret: bench\n",
            root.path().join("data").display()
        ),
    )
    .unwrap();
    let _registry = Registry(
        Command::new("docker-registry")
            .arg("serve")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&host).is_err() {
        assert!(Instant::now() < deadline, "the registry did not start");
        std::thread::sleep(Duration::from_millis(50));
    }

    // The plugin archive.
    let data = pseudo_random(DATA_BYTES, 0);
    let script = archives::plugin_script("bench", "1.0.0", "");
    let body = archives::tar_gz(&[
        archives::Entry {
            path: "kplug-bench",
            body: script.as_bytes(),
            mode: 0o755,
        },
        archives::Entry {
            path: "data.bin",
            body: &data,
            mode: 0o644,
        },
    ]);
    drop(data);
    let dist = root.path().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    let archive = dist.join(format!("kplug-bench_1.0.0_{}.tar.gz", archives::platform()));
    std::fs::write(&archive, &body).unwrap();
    let layer = format!("sha256:{}", sha256_hex(&body));
    let mib = body.len() as f64 / (1024.0 * 1024.0);
    let config_dir = root.path().join("config");
    std::fs::create_dir_all(&config_dir).unwrap();
    let env = |home: &Path| -> Vec<(&str, PathBuf)> {
        vec![
            ("HOME", root.path().to_path_buf()),
            ("KPLUG_HOME", home.to_path_buf()),
            ("XDG_CONFIG_HOME", config_dir.clone()),
            ("PATH", "/usr/local/bin:/usr/bin:/bin".into()),
        ]
    };
    let kplug = |home: &Path, args: &[&str]| -> Duration {
        let start = Instant::now();
        let out = Command::new(KPLUG)
            .args(args)
            .env_clear()
            .envs(env(home))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("spawn kplug");
        let took = start.elapsed();
        assert!(
            out.status.success(),
            "kplug {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        took
    };
    let scratch = root.path().join("scratch");
    let reference = format!("oci://{host}/team/bench:1.0.0");
    kplug(
        &scratch,
        &["plugin", "publish", &reference, archive.to_str().unwrap()],
    );

    // --- install ----------------------------------------------------------
    let mut n = 0usize;
    let mut fresh = |what: &str| {
        n += 1;
        root.path().join(format!("{what}-{n}"))
    };
    let url = format!("http://{host}/v2/team/bench/blobs/{layer}");
    let pipeline = format!("curl -s '{url}' | tee >(sha256sum >/dev/null) | tar xz -C \"$OUT\"");
    let curl_run = |dir: &Path| -> Duration {
        std::fs::create_dir_all(dir).unwrap();
        let start = Instant::now();
        let status = Command::new("bash")
            .args(["-c", &pipeline])
            .env("OUT", dir)
            .status()
            .unwrap();
        let took = start.elapsed();
        assert!(status.success());
        assert_eq!(
            std::fs::metadata(dir.join("data.bin")).unwrap().len(),
            DATA_BYTES as u64
        );
        std::fs::remove_dir_all(dir).unwrap();
        took
    };
    let install_run = |home: &Path| -> Duration {
        let took = kplug(home, &["plugin", "install", &reference]);
        let data = home.join("plugins/bench/1.0.0/data.bin");
        assert_eq!(std::fs::metadata(&data).unwrap().len(), DATA_BYTES as u64);
        std::fs::remove_dir_all(home).unwrap();
        took
    };
    curl_run(&fresh("curl"));
    install_run(&fresh("home"));
    let (mut base, mut inst) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        if round % 2 == 0 {
            base.push(curl_run(&fresh("curl")));
            inst.push(install_run(&fresh("home")));
        } else {
            inst.push(install_run(&fresh("home")));
            base.push(curl_run(&fresh("curl")));
        }
    }

    // --- publish ----------------------------------------------------------
    let skopeo = have("skopeo");
    let layout = root.path().join("layout");
    if skopeo {
        write_layout(&layout, &body, &layer);
    }
    let (mut pubs, mut skos) = (Vec::new(), Vec::new());
    let home = std::env::home_dir().unwrap_or_default();
    for (repo, round) in (1..).zip(0..ROUNDS + 1) {
        let k = || {
            kplug(
                &scratch,
                &[
                    "plugin",
                    "publish",
                    &format!("oci://{host}/k{repo}/bench:1.0.0"),
                    archive.to_str().unwrap(),
                ],
            )
        };
        let s = || -> Duration {
            // skopeo remembers where it saw each blob and would mount it
            // from an earlier repository instead of uploading it; kplug
            // uploads to each new repository, so skopeo must too.
            for dir in [
                PathBuf::from("/var/lib/containers/cache"),
                home.join(".local/share/containers/cache"),
            ] {
                let _ = std::fs::remove_dir_all(dir);
            }
            let start = Instant::now();
            let out = Command::new("skopeo")
                .args(["copy", "--all", "--quiet", "--dest-tls-verify=false"])
                .arg(format!("oci:{}:1.0.0", layout.display()))
                .arg(format!("docker://{host}/s{repo}/bench:1.0.0"))
                .output()
                .expect("spawn skopeo");
            let took = start.elapsed();
            assert!(
                out.status.success(),
                "skopeo: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            took
        };
        let (a, b) = if round % 2 == 0 {
            let a = k();
            (a, if skopeo { Some(s()) } else { None })
        } else {
            let b = if skopeo { Some(s()) } else { None };
            (k(), b)
        };
        if round > 0 {
            pubs.push(a);
            skos.extend(b);
        }
    }

    println!(
        "OCI: a {mib:.1} MiB plugin (incompressible), a local distribution registry, {ROUNDS} rounds (medians, p10–p90)"
    );
    let b = median(&mut base);
    report(
        "baseline: curl blob | tee >(sha256sum) | tar xz",
        &mut base,
        b,
    );
    let r = report("kplug plugin install oci://…:1.0.0", &mut inst, b);
    println!(
        "install target ≤ 1.2×: {} ({r:.2}×)",
        if r <= 1.2 { "PASS" } else { "over" }
    );
    if skopeo {
        let sb = median(&mut skos);
        report(
            "baseline: skopeo copy --all oci:DIR docker://…",
            &mut skos,
            sb,
        );
        let r = report("kplug plugin publish", &mut pubs, sb);
        println!("publish: {r:.2}× skopeo");
    } else {
        let pb = median(&mut pubs);
        report(
            "kplug plugin publish (no skopeo: run benches/oci.sh)",
            &mut pubs,
            pb,
        );
    }
    println!("total bench time {:.1} s", started.elapsed().as_secs_f64());
}

/// The OCI layout of what `kplug plugin publish` pushes for `body`.
fn write_layout(dir: &Path, body: &[u8], layer: &str) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| -> (String, usize) {
        let hex = sha256_hex(bytes);
        std::fs::write(blobs.join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    put(body);
    let (os, arch) = archives::platform().split_once('_').unwrap();
    let config = format!(
        r#"{{"protocols":[1],"name":"bench","version":"1.0.0","os":"{os}","architecture":"{arch}"}}"#
    );
    let (cd, cs) = put(config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{MANIFEST}","artifactType":"application/vnd.kplug.plugin.v1+json","config":{{"mediaType":"application/vnd.kplug.plugin.config.v1+json","digest":"{cd}","size":{cs}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{layer}","size":{}}}]}}"#,
        body.len()
    );
    let (md, ms) = put(manifest.as_bytes());
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{INDEX}","manifests":[{{"mediaType":"{MANIFEST}","digest":"{md}","size":{ms},"platform":{{"os":"{os}","architecture":"{arch}"}}}}]}}"#
    );
    let (id, is) = put(index.as_bytes());
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        dir.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{INDEX}","digest":"{id}","size":{is},"annotations":{{"org.opencontainers.image.ref.name":"1.0.0"}}}}]}}"#
        ),
    )
    .unwrap();
}
