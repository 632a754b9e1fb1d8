//! OCI registries: publish and install against the real distribution
//! registry (Debian's `docker-registry`), started by each test on
//! 127.0.0.1 with its own config and storage; the Bearer flow and hostile
//! registries against a loopback fake.

use crate::archives::{self, Entry, platform, plugin_script, tar_gz};
use crate::server::{Reply, Request, Server, sha256_hex};
use crate::support::TestEnv;
use predicates::prelude::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A distribution registry of the test's own.
pub(crate) struct Registry {
    child: Child,
    pub host: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

fn need(program: &str, package: &str) -> PathBuf {
    which::which(program).unwrap_or_else(|_| {
        panic!(
            "the OCI tests need `{program}`: install it with `apt-get install -y {package}` (.ci/run does)"
        )
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Registry {
    /// Start one; with `users`, it demands Basic auth (htpasswd, bcrypt).
    pub(crate) fn start(users: &[(&str, &str)]) -> Registry {
        let bin = need("docker-registry", "docker-registry");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: kplug-test\n",
            dir.path().join("data").display()
        );
        if !users.is_empty() {
            let htpasswd = need("htpasswd", "apache2-utils");
            let file = dir.path().join("htpasswd");
            for (i, (u, p)) in users.iter().enumerate() {
                let mut cmd = Command::new(&htpasswd);
                cmd.arg(if i == 0 { "-Bbc" } else { "-Bb" })
                    .arg(&file)
                    .arg(u)
                    .arg(p);
                assert!(cmd.output().unwrap().status.success(), "htpasswd failed");
            }
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: kplug-test\n    path: {}\n",
                file.display()
            ));
        }
        let conf = dir.path().join("config.yml");
        std::fs::write(&conf, config).unwrap();
        let log = dir.path().join("access.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(bin)
            .arg("serve")
            .arg(&conf)
            .env_clear()
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start docker-registry");
        let host = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&host).is_err() {
            assert!(
                Instant::now() < deadline,
                "the registry did not start: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry {
            child,
            host,
            log,
            _dir: dir,
        }
    }

    pub(crate) fn url(&self, repo: &str) -> String {
        format!("oci://{}/{repo}", self.host)
    }

    /// Access-log lines of requests whose line contains `what`.
    fn requests(&self, what: &str) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("HTTP/1.1\"") && l.contains(what))
            .count()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

fn other_platform() -> &'static str {
    if platform() == "linux_amd64" {
        "darwin_arm64"
    } else {
        "linux_amd64"
    }
}

/// A release archive of `name` `version` for `plat`, in `dir`.
pub(crate) fn archive(
    dir: &Path,
    name: &str,
    version: &str,
    plat: &str,
    extra_info: &str,
) -> PathBuf {
    let path = dir.join(format!("kplug-{name}_{version}_{plat}.tar.gz"));
    let body = if plat == platform() {
        plugin_script(name, version, extra_info)
    } else {
        // Another platform's binary: not a program this machine runs.
        "\u{7f}ELF not for this machine".to_string()
    };
    std::fs::write(
        &path,
        tar_gz(&[Entry {
            path: &format!("kplug-{name}"),
            body: body.as_bytes(),
            mode: 0o755,
        }]),
    )
    .unwrap();
    path
}

fn setup() -> TestEnv {
    let env = TestEnv::new();
    env.config_file("network:\n  connectTimeout: 2s\n  readTimeout: 3s\n  attempts: 1\n");
    env
}

fn publish(env: &TestEnv, reference: &str, archives: &[&PathBuf]) -> assert_cmd::assert::Assert {
    env.kplug()
        .args(["plugin", "publish", reference])
        .args(archives.iter().map(|p| p.as_os_str()))
        .assert()
}

fn live(env: &TestEnv, name: &str) -> String {
    let out = env.kplug().arg(name).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn stderr_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

#[test]
fn publish_then_install_choosing_this_platform_and_update_by_tags() {
    let env = setup();
    let reg = Registry::start(&[]);
    let dist = env.dir("dist");
    let here = archive(
        &dist,
        "registry",
        "1.0.0",
        platform(),
        "description: Local registry\\n",
    );
    let there = archive(&dist, "registry", "1.0.0", other_platform(), "");
    let a = publish(
        &env,
        &format!("{}:1.0.0", reg.url("team/registry")),
        &[&here, &there],
    )
    .success();
    let digest = String::from_utf8_lossy(&a.get_output().stdout)
        .trim()
        .to_string();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    let said = stderr_of(&a);
    let (h, t) = (
        platform().replace('_', "/"),
        other_platform().replace('_', "/"),
    );
    assert!(
        said.contains(&h) && said.contains(&t) && said.contains("4 blobs uploaded"),
        "{said}"
    );

    env.kplug()
        .args([
            "plugin",
            "install",
            &format!("{}:1.0.0", reg.url("team/registry")),
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "verified against the registry manifest's digest",
        ));
    assert_eq!(live(&env, "registry"), "registry 1.0.0");
    // Only this platform's layer was fetched.
    let layer_here = sha256_hex(&std::fs::read(&here).unwrap());
    let layer_there = sha256_hex(&std::fs::read(&there).unwrap());
    assert_eq!(
        reg.requests(&format!("GET /v2/team/registry/blobs/sha256:{layer_here}")),
        1
    );
    assert_eq!(
        reg.requests(&format!("GET /v2/team/registry/blobs/sha256:{layer_there}")),
        0
    );

    // By digest.
    env.kplug()
        .args([
            "plugin",
            "install",
            "--force",
            &format!("{}@{digest}", reg.url("team/registry")),
        ])
        .assert()
        .success();

    // Newer versions by tag: update stays within the major.
    for v in ["1.1.0", "2.0.0"] {
        let a = archive(&dist, "registry", v, platform(), "");
        publish(&env, &format!("{}:{v}", reg.url("team/registry")), &[&a]).success();
    }
    let out = env
        .kplug()
        .args(["plugin", "versions", "registry"])
        .assert()
        .success();
    let listed = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        listed.contains("2.0.0") && listed.contains("1.1.0"),
        "{listed}"
    );
    env.kplug()
        .args(["plugin", "update", "registry"])
        .assert()
        .success();
    assert_eq!(live(&env, "registry"), "registry 1.1.0");
    // Publishing the same layer again uploads nothing new.
    let again = publish(
        &env,
        &format!("{}:1.1.0", reg.url("team/registry")),
        &[&dist.join(format!("kplug-registry_1.1.0_{}.tar.gz", platform()))],
    )
    .success();
    assert!(
        stderr_of(&again).contains("0 blobs uploaded, 2 already there"),
        "{}",
        stderr_of(&again)
    );
}

#[test]
fn a_version_refused_by_its_contract_never_downloads_its_layer() {
    let env = setup();
    let reg = Registry::start(&[]);
    let dist = env.dir("dist");
    let ok = archive(&dist, "lint", "1.0.0", platform(), "");
    let too_new = archive(
        &dist,
        "lint",
        "1.1.0",
        platform(),
        "requires: {kplug: \">=99\"}\\n",
    );
    publish(&env, &format!("{}:1.0.0", reg.url("kplug/lint")), &[&ok]).success();
    publish(
        &env,
        &format!("{}:1.1.0", reg.url("kplug/lint")),
        &[&too_new],
    )
    .success();
    env.kplug()
        .args(["plugin", "source", "add", "team", &reg.url("kplug")])
        .assert()
        .success();
    let a = env
        .kplug()
        .args(["plugin", "install", "lint"])
        .assert()
        .success();
    assert!(
        stderr_of(&a).contains("skipped lint 1.1.0"),
        "{}",
        stderr_of(&a)
    );
    assert_eq!(live(&env, "lint"), "lint 1.0.0");
    let refused = sha256_hex(&std::fs::read(&too_new).unwrap());
    let taken = sha256_hex(&std::fs::read(&ok).unwrap());
    assert_eq!(
        reg.requests(&format!("GET /v2/kplug/lint/blobs/sha256:{refused}")),
        0
    );
    assert_eq!(
        reg.requests(&format!("GET /v2/kplug/lint/blobs/sha256:{taken}")),
        1,
        "positive control"
    );
    // Search lists it from the registry's catalog.
    let out = env
        .kplug()
        .args(["plugin", "search", "-o", "json"])
        .assert()
        .success();
    let found: Vec<serde_json::Value> = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(found[0]["name"], "lint");
    assert_eq!(found[0]["source"], "team");
}

#[test]
fn an_artifact_pushed_with_curl_as_the_docs_say_installs() {
    let env = setup();
    let reg = Registry::start(&[]);
    need("curl", "curl");
    let page =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/sources.md")).unwrap();
    let start = page
        .find("```sh\nset -eu\nbase=")
        .expect("the curl example in docs/sources.md")
        + 6;
    let script = &page[start..start + page[start..].find("```").unwrap()];
    let work = env.dir("curl");
    let arch = archive(&work, "hello", "0.3.0", platform(), "");
    let (os, cpu) = platform().split_once('_').unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(&work)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .envs([
            ("SCHEME", "http"),
            ("REGISTRY", reg.host.as_str()),
            ("REPO", "tools/hello"),
            ("NAME", "hello"),
            ("VERSION", "0.3.0"),
            ("OS", os),
            ("ARCH", cpu),
        ])
        .env("ARCHIVE", &arch)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the documented script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.kplug()
        .args(["plugin", "install", &reg.url("tools/hello")])
        .assert()
        .success();
    assert_eq!(live(&env, "hello"), "hello 0.3.0");
}

#[test]
fn basic_auth_from_a_docker_config_and_a_wrong_password_is_a_clear_401() {
    let env = setup();
    let reg = Registry::start(&[("ada", "s3cret")]);
    let dist = env.dir("dist");
    let a = archive(&dist, "dns", "1.0.0", platform(), "");
    let reference = format!("{}:1.0.0", reg.url("kplug/dns"));
    // No credential: a login is asked for.
    publish(&env, &reference, &[&a])
        .failure()
        .stderr(predicate::str::contains("requires a login"))
        .stderr(predicate::str::contains("docker login"));
    let docker = env.dir("docker");
    let write = |pass: &str| {
        use base64::Engine as _;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("ada:{pass}"));
        std::fs::write(
            docker.join("config.json"),
            format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, reg.host),
        )
        .unwrap();
    };
    write("s3cret");
    let kplug = || {
        let mut c = env.kplug();
        c.env("DOCKER_CONFIG", &docker);
        c
    };
    kplug()
        .args(["plugin", "publish", &reference])
        .arg(&a)
        .assert()
        .success();
    kplug()
        .args(["plugin", "install", &reference])
        .assert()
        .success();
    assert_eq!(live(&env, "dns"), "dns 1.0.0");
    write("wrong");
    // (An installed version reinstalls from the cache: ask the registry.)
    let out = kplug()
        .args(["plugin", "versions", &reg.url("kplug/dns")])
        .assert()
        .failure();
    let err = stderr_of(&out);
    assert!(
        err.contains("refused the credential of user `ada`"),
        "{err}"
    );
    assert!(
        !err.contains("wrong"),
        "the password is never printed: {err}"
    );
    {
        use base64::Engine as _;
        let header = base64::engine::general_purpose::STANDARD.encode("ada:wrong");
        assert!(!err.contains(&header), "nor its Basic header: {err}");
    }
    // The environment, for the host --registry-host names.
    env.kplug()
        .args([
            "plugin",
            "--registry-host",
            &reg.host,
            "versions",
            &reg.url("kplug/dns"),
        ])
        .env("KPLUG_REGISTRY_USERNAME", "ada")
        .env("KPLUG_REGISTRY_PASSWORD", "s3cret")
        .assert()
        .success();
    let receipt = std::fs::read_to_string(env.home.join("plugins/dns/receipt.yaml")).unwrap();
    assert!(
        !receipt.contains("s3cret") && !receipt.contains("ada"),
        "{receipt}"
    );
}

#[test]
fn reinstall_offline_from_the_blob_cache_with_the_registry_stopped() {
    let env = setup();
    let mut reg = Registry::start(&[]);
    let dist = env.dir("dist");
    for v in ["1.0.0", "1.1.0"] {
        let a = archive(&dist, "cache", v, platform(), "");
        publish(&env, &format!("{}:{v}", reg.url("x/cache")), &[&a]).success();
        env.kplug()
            .args(["plugin", "install", &format!("{}:{v}", reg.url("x/cache"))])
            .assert()
            .success();
    }
    reg.stop();
    env.kplug()
        .args([
            "plugin",
            "install",
            "--offline",
            &format!("{}:1.0.0", reg.url("x/cache")),
        ])
        .assert()
        .success();
    assert_eq!(live(&env, "cache"), "cache 1.0.0");
    // Positive control: a version never downloaded needs the registry.
    env.kplug()
        .args([
            "plugin",
            "install",
            &format!("{}:1.2.0", reg.url("x/cache")),
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("could not connect"));
}

#[test]
fn publish_refuses_what_does_not_match() {
    let env = setup();
    let reg = Registry::start(&[]);
    let dist = env.dir("dist");
    let a = archive(&dist, "registry", "1.0.0", platform(), "");
    publish(&env, &format!("{}:2.0.0", reg.url("team/registry")), &[&a])
        .code(2)
        .stderr(predicate::str::contains("says it is version 1.0.0"));
    publish(&env, &format!("{}:1.0.0", reg.url("team/other")), &[&a])
        .code(2)
        .stderr(predicate::str::contains("is for `other`"));
    publish(&env, &format!("{}:latest", reg.url("team/registry")), &[&a])
        .code(2)
        .stderr(predicate::str::contains("not a semantic version"));
    let there = archive(&dist, "registry", "1.0.0", other_platform(), "");
    publish(
        &env,
        &format!("{}:1.0.0", reg.url("team/registry")),
        &[&there],
    )
    .failure()
    .stderr(predicate::str::contains(
        "none of the archives runs on this machine",
    ));
    assert_eq!(reg.requests("PUT /v2/"), 0, "nothing was pushed");
    publish(&env, &format!("{}:1.0.0", reg.url("team/registry")), &[&a]).success();
    publish(&env, &format!("{}:1.0.0", reg.url("team/registry")), &[&a]).success();
    let puts = reg.requests("PUT /v2/");
    assert!(puts > 0, "positive control: a good publish pushes");
    // The same version with other content is refused before anything is
    // sent; --force replaces it.
    let changed = dist.join("changed");
    std::fs::create_dir_all(&changed).unwrap();
    let changed = archive(
        &changed,
        "registry",
        "1.0.0",
        platform(),
        "description: changed\\n",
    );
    publish(
        &env,
        &format!("{}:1.0.0", reg.url("team/registry")),
        &[&changed],
    )
    .failure()
    .stderr(predicate::str::contains(
        "already published with other content",
    ));
    assert_eq!(reg.requests("PUT /v2/"), puts, "nothing was pushed");
    env.kplug()
        .args([
            "plugin",
            "publish",
            "--force",
            &format!("{}:1.0.0", reg.url("team/registry")),
        ])
        .arg(&changed)
        .assert()
        .success();
    env.kplug()
        .args([
            "plugin",
            "publish",
            &format!("{}:1.0.0", reg.url("team/registry")),
            "--also-tag",
            "2.0.0",
        ])
        .arg(&changed)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("another version's tag"));
}

// ---------------------------------------------------------------------------
// A fake registry: artifacts built here, served from memory, with faults.

#[derive(Default)]
struct Fake {
    /// Path → (content type, body).
    files: HashMap<String, (String, Vec<u8>)>,
    /// Demand `Authorization: Bearer <token>` and hand it out at /token.
    bearer: Option<String>,
    /// What /token answers instead of a token.
    token_reply: Option<String>,
    /// Answer 401 without a challenge.
    bare_401: bool,
    /// Paths that stall.
    stall: Vec<String>,
}

fn fake() -> (Server, Arc<Mutex<Fake>>) {
    let state: Arc<Mutex<Fake>> = Arc::default();
    let s = state.clone();
    let base: Arc<Mutex<String>> = Arc::default();
    let b = base.clone();
    let server = Server::start("127.0.0.1", move |req: &Request| {
        let f = s.lock().unwrap();
        let path = req.path.split('?').next().unwrap_or_default().to_string();
        if path == "/token" {
            if let Some(r) = &f.token_reply {
                return Reply::json(200, r.clone());
            }
            return Reply::json(
                200,
                format!(r#"{{"token":"{}"}}"#, f.bearer.clone().unwrap_or_default()),
            );
        }
        if f.bare_401 {
            return Reply::status(401, &[]);
        }
        if let Some(t) = &f.bearer
            && req.header("authorization") != Some(format!("Bearer {t}").as_str())
        {
            let realm = format!("{}/token", b.lock().unwrap());
            return Reply::status(
                401,
                &[(
                    "WWW-Authenticate",
                    &format!(
                        "Bearer realm=\"{realm}\",service=\"fake\",scope=\"repository:t/x:pull\""
                    ),
                )],
            );
        }
        if f.stall.contains(&path) {
            return Reply::Stall;
        }
        match f.files.get(&path) {
            Some((ct, to)) if ct == "redirect" => Reply::redirect(&String::from_utf8_lossy(to)),
            Some((ct, body)) => Reply::Body {
                status: 200,
                headers: vec![("Content-Type".into(), ct.clone())],
                body: body.clone(),
            },
            None => Reply::json(404, r#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#),
        }
    });
    *base.lock().unwrap() = server.url();
    (server, state)
}

const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn digest(b: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(b))
}

/// Serve `t/x:<version>` (plugin `x`): an index with a manifest for
/// `plats`, a config `config`, a layer `layer` (whose descriptor says
/// `layer_digest`/`layer_size` when given).
struct Build<'a> {
    version: &'a str,
    plats: &'a [&'a str],
    config: String,
    config_type: &'a str,
    layer: Vec<u8>,
    served_layer: Option<Vec<u8>>,
}

fn build<'a>(version: &'a str) -> Build<'a> {
    Build {
        version,
        plats: &[],
        config: format!(r#"{{"name":"x","version":"{version}"}}"#),
        config_type: "application/vnd.kplug.plugin.config.v1+json",
        layer: archives::plugin_tar_gz("x", version),
        served_layer: None,
    }
}

fn serve(state: &Mutex<Fake>, b: Build<'_>) {
    let mut f = state.lock().unwrap();
    let host = platform().replace('_', "/");
    let plats: Vec<String> = if b.plats.is_empty() {
        vec![host]
    } else {
        b.plats.iter().map(|p| p.to_string()).collect()
    };
    let cfg = b.config.into_bytes();
    f.files.insert(
        format!("/v2/t/x/blobs/{}", digest(&cfg)),
        ("application/octet-stream".into(), cfg.clone()),
    );
    f.files.insert(
        format!("/v2/t/x/blobs/{}", digest(&b.layer)),
        (
            "application/octet-stream".into(),
            b.served_layer.unwrap_or_else(|| b.layer.clone()),
        ),
    );
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{MANIFEST}","artifactType":"application/vnd.kplug.plugin.v1+json","config":{{"mediaType":"{}","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":{}}}]}}"#,
        b.config_type,
        digest(&cfg),
        cfg.len(),
        digest(&b.layer),
        b.layer.len()
    );
    let md = digest(manifest.as_bytes());
    f.files.insert(
        format!("/v2/t/x/manifests/{md}"),
        (MANIFEST.into(), manifest.clone().into_bytes()),
    );
    let entries: Vec<String> = plats
        .iter()
        .map(|p| {
            let (os, arch) = p.split_once('/').unwrap();
            format!(r#"{{"mediaType":"{MANIFEST}","digest":"{md}","size":{},"platform":{{"os":"{os}","architecture":"{arch}"}}}}"#, manifest.len())
        })
        .collect();
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{INDEX}","manifests":[{}]}}"#,
        entries.join(",")
    );
    f.files.insert(
        format!("/v2/t/x/manifests/{}", b.version),
        (INDEX.into(), index.into_bytes()),
    );
}

#[test]
fn the_bearer_flow_gets_a_token_and_bad_token_endpoints_are_errors() {
    let env = setup();
    let (server, state) = fake();
    serve(&state, build("1.0.0"));
    state.lock().unwrap().bearer = Some("t0ken".into());
    let reference = format!(
        "oci://{}/t/x:1.0.0",
        server.url().trim_start_matches("http://")
    );
    env.kplug()
        .args(["plugin", "install", &reference])
        .assert()
        .success();
    assert_eq!(live(&env, "x"), "x 1.0.0");
    let token_asks = server
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/token"))
        .count();
    assert_eq!(token_asks, 1, "one token for the command");
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.path.contains("scope=repository"))
    );

    state.lock().unwrap().token_reply = Some("<html>not json</html>".into());
    // (An installed version reinstalls from the cache: drop it.)
    env.kplug()
        .args(["plugin", "remove", "x", "--all"])
        .assert()
        .success();
    env.kplug()
        .args(["plugin", "install", "--force", &reference])
        .assert()
        .failure()
        .stderr(predicate::str::contains("not a token"));
    {
        let mut f = state.lock().unwrap();
        f.token_reply = None;
        f.bare_401 = true;
    }
    env.kplug()
        .args(["plugin", "install", "--force", &reference])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "without a challenge kplug can answer",
        ));
}

#[test]
fn hostile_registries_are_refused_and_the_store_stays_as_it_was() {
    let env = setup();
    let (server, state) = fake();
    let host = server.url().trim_start_matches("http://").to_string();
    let reference = |tag: &str| format!("oci://{host}/t/x:{tag}");
    let store = |env: &TestEnv| env.home.join("plugins/x").exists();

    // A layer whose bytes are not its digest's.
    let mut b = build("1.0.0");
    b.served_layer = Some(archives::plugin_tar_gz("x", "6.6.6"));
    serve(&state, b);
    env.kplug()
        .args(["plugin", "install", &reference("1.0.0")])
        .assert()
        .failure()
        .stderr(predicate::str::contains("does not match"));
    assert!(!store(&env));

    // A blob larger than its descriptor says.
    let mut b = build("1.0.1");
    let mut big = b.layer.clone();
    big.extend_from_slice(&[0u8; 100]);
    b.served_layer = Some(big);
    serve(&state, b);
    env.kplug()
        .args(["plugin", "install", &reference("1.0.1")])
        .assert()
        .failure()
        .stderr(predicate::str::contains("descriptor says"));

    // No manifest for this platform: the ones it has are listed.
    let mut b = build("1.1.0");
    b.plats = &["windows/arm64", "freebsd/amd64"];
    serve(&state, b);
    env.kplug()
        .args(["plugin", "install", &reference("1.1.0")])
        .assert()
        .failure()
        .stderr(predicate::str::contains("windows/arm64, freebsd/amd64"));

    // A config that is not a kplug contract.
    let mut b = build("1.2.0");
    b.config_type = "application/vnd.oci.image.config.v1+json";
    serve(&state, b);
    env.kplug()
        .args(["plugin", "install", &reference("1.2.0")])
        .assert()
        .failure()
        .stderr(predicate::str::contains("not a kplug contract"));

    // A contract for another plugin.
    let mut b = build("1.3.0");
    b.config = r#"{"name":"y","version":"1.3.0"}"#.into();
    serve(&state, b);
    env.kplug()
        .args(["plugin", "install", &reference("1.3.0")])
        .assert()
        .failure()
        .stderr(predicate::str::contains("for the plugin `y`"));

    // A tag that is not semver.
    env.kplug()
        .args(["plugin", "install", &reference("nightly")])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a semantic version"));

    // A manifest of another media type.
    state.lock().unwrap().files.insert(
        "/v2/t/x/manifests/1.4.0".into(),
        (
            "application/vnd.docker.distribution.manifest.v2+json".into(),
            br#"{"schemaVersion":2}"#.to_vec(),
        ),
    );
    env.kplug()
        .args(["plugin", "install", &reference("1.4.0")])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "application/vnd.docker.distribution.manifest.v2+json",
        ));

    // A registry that stalls: the read timeout ends the wait.
    serve(&state, build("1.5.0"));
    state
        .lock()
        .unwrap()
        .stall
        .push("/v2/t/x/manifests/1.5.0".into());
    let started = Instant::now();
    env.kplug()
        .args(["plugin", "install", &reference("1.5.0")])
        .assert()
        .failure()
        .stderr(predicate::str::contains("did not answer within 3s"));
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(!store(&env), "nothing was installed by any of these");

    // Positive control: a good version installs from the same fake.
    serve(&state, build("2.0.0"));
    env.kplug()
        .args(["plugin", "install", &reference("2.0.0")])
        .assert()
        .success();
    assert_eq!(live(&env, "x"), "x 2.0.0");
}

#[test]
fn references_that_could_escape_are_refused() {
    let env = setup();
    for bad in [
        "oci://127.0.0.1:1/../etc:1.0.0",
        "oci://127.0.0.1:1/UP/x",
        "oci://127.0.0.1:1/x@sha256:abc",
        "oci://a b/x",
    ] {
        env.kplug()
            .args(["plugin", "install", bad])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("is not an OCI reference"));
    }
    // Positive control: a valid reference gets past parsing (and, offline
    // with nothing cached, stops without the network).
    env.kplug()
        .args([
            "plugin",
            "install",
            "oci://example.com/x:1.0.0",
            "--offline",
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("is not an OCI reference").not())
        .stderr(predicate::str::contains("offline"));
}

#[test]
fn a_large_layer_is_uploaded_in_chunks_and_installs_whole() {
    let env = setup();
    let reg = Registry::start(&[]);
    let dist = env.dir("dist");
    // 9 MiB of incompressible data beside the plugin: more than one chunk.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let data: Vec<u8> = (0..9 * 1024 * 1024 / 8)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect();
    let script = plugin_script("big", "1.0.0", "");
    let path = dist.join(format!("kplug-big_1.0.0_{}.tar.gz", platform()));
    std::fs::write(
        &path,
        tar_gz(&[
            Entry {
                path: "kplug-big",
                body: script.as_bytes(),
                mode: 0o755,
            },
            Entry {
                path: "data.bin",
                body: &data,
                mode: 0o644,
            },
        ]),
    )
    .unwrap();
    publish(&env, &format!("{}:1.0.0", reg.url("k/big")), &[&path]).success();
    assert!(
        reg.requests("PATCH /v2/k/big/blobs/uploads/") >= 2,
        "chunked"
    );
    env.kplug()
        .args(["plugin", "install", &reg.url("k/big")])
        .assert()
        .success();
    let got = std::fs::read(env.home.join("plugins/big/1.0.0/data.bin")).unwrap();
    assert_eq!(sha256_hex(&got), sha256_hex(&data));
}

#[test]
fn an_inventory_in_a_registry_is_refreshed_by_digest() {
    let env = setup();
    let reg = Registry::start(&[]);
    need("curl", "curl");
    let work = env.dir("inv");
    let push = |doc: &str| push_inventory(&reg.host, &work, doc, None);
    let doc = |v: &str| {
        format!(
            "apiVersion: kplug.dev/v1\nkind: Inventory\nplugins:\n  tool:\n    description: A tool\n    versions:\n      - version: {v}\n        artifacts:\n          - {{os: linux, arch: amd64, url: https://example.com/t.tar.gz, sha256: {}}}\n",
            "a".repeat(64)
        )
    };
    push(&doc("1.0.0"));
    env.kplug()
        .args([
            "plugin",
            "source",
            "add",
            "team",
            &format!("{}:latest", reg.url("team/inventory")),
            "--kind",
            "index",
        ])
        .assert()
        .success();
    let blob_gets = || reg.requests("GET /v2/team/inventory/blobs/");
    assert_eq!(blob_gets(), 1);
    env.kplug()
        .args(["plugin", "source", "refresh", "team"])
        .assert()
        .success()
        .stderr(predicate::str::contains("unchanged"));
    assert_eq!(
        blob_gets(),
        1,
        "the same digest: the layer is not fetched again"
    );
    push(&doc("1.1.0"));
    env.kplug()
        .args(["plugin", "source", "refresh", "team"])
        .assert()
        .success();
    assert_eq!(blob_gets(), 2, "a new digest: fetched");
    let out = env
        .kplug()
        .args(["plugin", "search", "-o", "json", "--all-versions"])
        .assert()
        .success();
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("1.1.0"));
}

#[test]
fn a_redirect_to_blob_storage_elsewhere_carries_no_credential() {
    let env = setup();
    let (server, state) = fake();
    serve(&state, build("1.0.0"));
    state.lock().unwrap().bearer = Some("t0ken".into());
    // The layer is served by "blob storage" on another origin.
    let layer = archives::plugin_tar_gz("x", "1.0.0");
    let body = layer.clone();
    let storage = Server::start("127.0.0.1", move |_| Reply::bytes(body.clone()));
    let path = format!("/v2/t/x/blobs/{}", digest(&layer));
    state.lock().unwrap().files.remove(&path);
    let to = format!("{}/blob?signed=1", storage.url());
    {
        // The fake answers the blob with a redirect (after the token check).
        let mut f = state.lock().unwrap();
        f.files
            .insert(path.clone(), ("redirect".into(), to.into_bytes()));
    }
    let reference = format!(
        "oci://{}/t/x:1.0.0",
        server.url().trim_start_matches("http://")
    );
    env.kplug()
        .args(["plugin", "install", &reference])
        .assert()
        .success();
    let at_storage = storage.requests();
    assert_eq!(at_storage.len(), 1, "the layer came from storage");
    assert!(
        at_storage[0].header("authorization").is_none(),
        "no credential left the registry"
    );
    // Positive control: the registry itself got the token.
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.header("authorization") == Some("Bearer t0ken"))
    );
}

#[test]
fn a_single_manifest_must_say_its_platform_and_manifests_must_match_their_digests() {
    let env = setup();
    let (server, state) = fake();
    let host = server.url().trim_start_matches("http://").to_string();
    let (os, arch) = platform().split_once('_').unwrap();
    // Serve a tag as a single manifest (no index), with `config` as its
    // contract.
    let single = |tag: &str, config: String| {
        let mut b = build(tag);
        b.config = config;
        serve(&state, b);
        let mut f = state.lock().unwrap();
        let index = f.files[&format!("/v2/t/x/manifests/{tag}")].1.clone();
        let v: serde_json::Value = serde_json::from_slice(&index).unwrap();
        let md = v["manifests"][0]["digest"].as_str().unwrap().to_string();
        let m = f.files[&format!("/v2/t/x/manifests/{md}")].clone();
        f.files.insert(format!("/v2/t/x/manifests/{tag}"), m);
    };
    single(
        "1.0.0",
        format!(r#"{{"name":"x","version":"1.0.0","os":"{os}","architecture":"{arch}"}}"#),
    );
    env.kplug()
        .args(["plugin", "install", &format!("oci://{host}/t/x:1.0.0")])
        .assert()
        .success();
    single("1.1.0", r#"{"name":"x","version":"1.1.0"}"#.into());
    env.kplug()
        .args(["plugin", "install", &format!("oci://{host}/t/x:1.1.0")])
        .assert()
        .failure()
        .stderr(predicate::str::contains("does not say it is for"));

    // An index pointing at a manifest whose bytes are not its digest's.
    serve(&state, build("1.2.0"));
    {
        let mut f = state.lock().unwrap();
        let index = f.files["/v2/t/x/manifests/1.2.0"].1.clone();
        let v: serde_json::Value = serde_json::from_slice(&index).unwrap();
        let md = v["manifests"][0]["digest"].as_str().unwrap().to_string();
        let entry = f.files.get_mut(&format!("/v2/t/x/manifests/{md}")).unwrap();
        // Same size, other bytes.
        let last = entry.1.len() - 1;
        entry.1[last] = b' ';
    }
    env.kplug()
        .args(["plugin", "install", &format!("oci://{host}/t/x:1.2.0")])
        .assert()
        .failure()
        .stderr(predicate::str::contains("does not match its digest"));
    assert_eq!(live(&env, "x"), "x 1.0.0", "the installed version stands");
}

#[test]
fn a_credential_helper_is_asked_and_also_tags_are_pushed() {
    let env = setup();
    let reg = Registry::start(&[("bot", "t0k3n")]);
    let docker = env.dir("docker");
    std::fs::write(
        docker.join("config.json"),
        format!(r#"{{"credHelpers":{{"{}":"test"}}}}"#, reg.host),
    )
    .unwrap();
    // The helper answers `get` with the host read from stdin.
    crate::support::write_exec(
        &env.bin.join("docker-credential-test"),
        &format!(
            "#!/bin/sh\nread host\n[ \"$1\" = get ] && [ \"$host\" = {} ] && echo '{{\"Username\":\"bot\",\"Secret\":\"t0k3n\"}}'\n",
            reg.host
        ),
    );
    let dist = env.dir("dist");
    let a = archive(&dist, "helper", "1.0.0", platform(), "");
    let kplug = || {
        let mut c = env.kplug();
        c.env("DOCKER_CONFIG", &docker);
        c
    };
    kplug()
        .args([
            "plugin",
            "publish",
            &format!("{}:1.0.0", reg.url("k/helper")),
            "--also-tag",
            "latest",
        ])
        .arg(&a)
        .assert()
        .success();
    assert_eq!(reg.requests("PUT /v2/k/helper/manifests/latest"), 1);
    kplug()
        .args(["plugin", "install", &reg.url("k/helper")])
        .assert()
        .success();
    assert_eq!(live(&env, "helper"), "helper 1.0.0");
}

#[test]
fn a_token_realm_on_another_origin_gets_no_credential() {
    let env = setup();
    let (server, state) = fake();
    serve(&state, build("1.0.0"));
    // The token endpoint on another port: another origin.
    let tokens = Server::start("127.0.0.1", |_| Reply::json(200, r#"{"token":"t0ken"}"#));
    let realm = format!("{}/token", tokens.url());
    let front = Server::start("127.0.0.1", {
        let upstream = server.url();
        move |req: &Request| {
            // Same answers as the fake, with the realm elsewhere.
            if req.header("authorization") != Some("Bearer t0ken") {
                return Reply::status(
                    401,
                    &[(
                        "WWW-Authenticate",
                        &format!("Bearer realm=\"{realm}\",service=\"fake\""),
                    )],
                );
            }
            Reply::redirect(&format!("{upstream}{}", req.path))
        }
    });
    let host = front.url().trim_start_matches("http://").to_string();
    let docker = env.dir("docker");
    {
        use base64::Engine as _;
        let auth = base64::engine::general_purpose::STANDARD.encode("ada:s3cret");
        std::fs::write(
            docker.join("config.json"),
            format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#),
        )
        .unwrap();
    }
    env.kplug()
        .args(["plugin", "install", &format!("oci://{host}/t/x:1.0.0")])
        .env("DOCKER_CONFIG", &docker)
        .assert()
        .success();
    let asked = tokens.requests();
    assert!(!asked.is_empty(), "the token endpoint was asked");
    assert!(
        asked.iter().all(|r| r.header("authorization").is_none()),
        "without the credential"
    );
}

/// Push `doc` as the inventory artifact `team/inventory:latest` with curl,
/// as docs/sources.md shows; with `key` (a minisign secret key), also its
/// signature artifact beside it, with minisign (docs/security.md).
pub(crate) fn push_inventory(host: &str, work: &Path, doc: &str, key: Option<&Path>) {
    std::fs::write(work.join("inventory.yaml"), doc).unwrap();
    let script = r#"set -eu
base="http://$REGISTRY/v2/team/inventory"
sha() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
size() { wc -c < "$1" | tr -d ' '; }
push_blob() {
  location=$(curl -fsS -X POST -D - -o /dev/null "$base/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: *//p')
  case "$location" in /*) location="http://$REGISTRY$location" ;; esac
  case "$location" in *\?*) sep='&' ;; *) sep='?' ;; esac
  curl -fsS -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$1" "$location${sep}digest=$2"
}
printf '{}' > empty.json
push_blob empty.json "$(sha empty.json)"
push_blob inventory.yaml "$(sha inventory.yaml)"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.kplug.inventory.v1+yaml","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"application/vnd.kplug.inventory.v1+yaml","digest":"%s","size":%s}]}' "$(sha empty.json)" "$(sha inventory.yaml)" "$(size inventory.yaml)" > m.json
curl -fsS -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary @m.json "$base/manifests/latest"
if [ -n "${KEY:-}" ]; then
  digest=$(sha m.json)
  printf '%s' "$digest" > digest.txt
  rm -f digest.txt.minisig
  minisign -S -s "$KEY" -m digest.txt
  push_blob digest.txt.minisig "$(sha digest.txt.minisig)"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.kplug.signature.v1","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"application/vnd.kplug.minisign.signature","digest":"%s","size":%s}]}' "$(sha empty.json)" "$(sha digest.txt.minisig)" "$(size digest.txt.minisig)" > s.json
  curl -fsS -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary @s.json "$base/manifests/$(echo "$digest" | tr : -).sig"
fi
"#;
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(script)
        .current_dir(work)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("REGISTRY", host);
    if let Some(k) = key {
        cmd.env("KEY", k);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
