//! The `omaha` source kind against a loopback Omaha server that answers as
//! Nebraska does: an application per plugin, an offer per channel, an
//! update granted to a machine when its version is older, events recorded
//! only for a machine granted an update, and any event type/result pair
//! Nebraska's `event_type` table does not hold counted as rejected — so the
//! tests prove kplug sends only what Nebraska accepts.

use crate::archives::plugin_tar_gz;
use crate::server::{Reply, Server};
use crate::support::TestEnv;
use base64::Engine as _;
use predicates::prelude::*;
use sha2::Digest as _;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The pairs Nebraska records.
const ACCEPTED: [(u32, u32); 6] = [(3, 0), (3, 1), (3, 2), (13, 1), (14, 1), (800, 1)];

/// How a package's hashes are published.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Hashes {
    /// As Nebraska does: `hash` (SHA-1) on the package, `sha256` on the
    /// postinstall action.
    Nebraska,
    /// Only the SHA-1.
    Sha1Only,
    /// `hash_sha256` in hex on the package (Nebraska's extra files).
    HexOnPackage,
    /// A SHA-256 of other bytes.
    Wrong,
    /// No hash at all.
    None,
}

#[derive(Clone)]
pub struct Offer {
    pub version: String,
    pub name: String,
    pub body: Vec<u8>,
    pub hashes: Hashes,
    /// The size the manifest states (default: the body's).
    pub size: Option<u64>,
    /// The codebase (default: this server's package route).
    pub codebase: Option<String>,
}

impl Offer {
    pub fn plugin(name: &str, version: &str) -> Offer {
        Offer {
            version: version.into(),
            name: format!("kplug-{name}_{version}.tar.gz"),
            body: plugin_tar_gz(name, version),
            hashes: Hashes::Nebraska,
            size: None,
            codebase: None,
        }
    }
}

/// One request the server answered, as Nebraska reads it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub app: String,
    pub version: String,
    pub track: String,
    pub machine: String,
    /// `None`: an update check.
    pub event: Option<(u32, u32, i32)>,
    /// Nebraska would store the event (the machine was granted an update).
    pub recorded: bool,
}

#[derive(Default)]
struct State {
    /// (app id, channel) → the version on offer.
    offers: HashMap<(String, String), Offer>,
    /// (machine, app) granted an update.
    granted: HashSet<(String, String)>,
    seen: Vec<Seen>,
    rejected: Vec<String>,
    /// Replaces every answer to POST /v1/update when set.
    raw: Option<Arc<dyn Fn() -> Reply + Send + Sync>>,
    /// Replaces the package route's answers when set.
    package: Option<Arc<dyn Fn() -> Reply + Send + Sync>>,
}

pub struct FakeNebraska {
    pub server: Server,
    state: Arc<Mutex<State>>,
}

fn attr(element: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = element.find(&key)? + key.len();
    Some(element[start..start + element[start..].find('"')?].to_string())
}

/// The text of the first `<tag …>` in `xml`.
fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{tag} "))?;
    let end = start + xml[start..].find('>')?;
    Some(&xml[start..end])
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn older(a: &str, b: &str) -> bool {
    let p = |v: &str| semver::Version::parse(v).ok();
    matches!((p(a), p(b)), (Some(a), Some(b)) if a < b)
}

impl FakeNebraska {
    pub fn start() -> FakeNebraska {
        let state: Arc<Mutex<State>> = Arc::default();
        let st = state.clone();
        let base: Arc<Mutex<String>> = Arc::default();
        let b = base.clone();
        let server = Server::start("127.0.0.1", move |req| {
            let base = b.lock().unwrap().clone();
            Self::answer(&st, &base, req)
        });
        *base.lock().unwrap() = server.url();
        FakeNebraska { server, state }
    }

    pub fn endpoint(&self) -> String {
        format!("omaha+{}/v1/update", self.server.url())
    }

    pub fn offer(&self, app: &str, channel: &str, offer: Offer) {
        self.state
            .lock()
            .unwrap()
            .offers
            .insert((app.into(), channel.into()), offer);
    }

    pub fn answer_raw(&self, f: impl Fn() -> Reply + Send + Sync + 'static) {
        self.state.lock().unwrap().raw = Some(Arc::new(f));
    }

    pub fn package_reply(&self, f: impl Fn() -> Reply + Send + Sync + 'static) {
        self.state.lock().unwrap().package = Some(Arc::new(f));
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// The events of `app`, as (type, result, code).
    pub fn events(&self, app: &str) -> Vec<(u32, u32, i32)> {
        self.seen()
            .into_iter()
            .filter(|s| s.app == app)
            .filter_map(|s| s.event)
            .collect()
    }

    pub fn checks(&self, app: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.app == app && s.event.is_none())
            .collect()
    }

    /// Every event kplug sent was one Nebraska records.
    pub fn assert_nothing_rejected(&self) {
        let st = self.state.lock().unwrap();
        assert!(
            st.rejected.is_empty(),
            "Nebraska would reject: {:?}",
            st.rejected
        );
    }

    fn answer(state: &Mutex<State>, base: &str, req: &crate::server::Request) -> Reply {
        if req.method == "GET" && req.path.starts_with("/pkg/") {
            let reply = state.lock().unwrap().package.clone();
            if let Some(f) = reply {
                return f();
            }
            let st = state.lock().unwrap();
            let name = req.path.rsplit('/').next().unwrap_or_default();
            return match st.offers.values().find(|o| o.name == name) {
                Some(o) => Reply::bytes(o.body.clone()),
                None => Reply::status(404, &[]),
            };
        }
        if req.method != "POST" || req.path != "/v1/update" {
            return Reply::status(404, &[]);
        }
        let raw = state.lock().unwrap().raw.clone();
        if let Some(f) = raw {
            return f();
        }
        let xml = String::from_utf8_lossy(&req.body).into_owned();
        let Some(app) = element(&xml, "app") else {
            return xml_reply(String::new());
        };
        let get = |n: &str| attr(app, n).unwrap_or_default();
        let (id, version, track, machine) =
            (get("appid"), get("version"), get("track"), get("machineid"));
        let mut st = state.lock().unwrap();
        let key = (machine.clone(), id.clone());
        if let Some(ev) = element(&xml, "event") {
            let num = |n: &str| {
                attr(ev, n)
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or(-1)
            };
            let (t, r, c) = (
                num("eventtype") as u32,
                num("eventresult") as u32,
                num("errorcode") as i32,
            );
            if !ACCEPTED.contains(&(t, r)) {
                st.rejected.push(format!("{id} ({t},{r})"));
            }
            let recorded = st.granted.contains(&key) && ACCEPTED.contains(&(t, r));
            if recorded && t == 3 && (r == 0 || r == 1 || r == 2) {
                st.granted.remove(&key);
            }
            st.seen.push(Seen {
                app: id.clone(),
                version,
                track,
                machine,
                event: Some((t, r, c)),
                recorded,
            });
            return xml_reply(format!(
                r#"<app appid="{id}" status="ok"><event status="ok"></event></app>"#
            ));
        }
        st.seen.push(Seen {
            app: id.clone(),
            version: version.clone(),
            track: track.clone(),
            machine,
            event: None,
            recorded: false,
        });
        let Some(offer) = st.offers.get(&(id.clone(), track.clone())).cloned() else {
            return xml_reply(format!(
                r#"<app appid="{id}" status="error-failedToRetrieveUpdatePackageInfo"><updatecheck status="error-internal"></updatecheck></app>"#
            ));
        };
        if semver::Version::parse(&version).is_err() {
            return xml_reply(format!(
                r#"<app appid="{id}" status="error-instanceRegistrationFailed"><updatecheck status="error-internal"></updatecheck></app>"#
            ));
        }
        if !older(&version, &offer.version) {
            st.granted.remove(&key);
            return xml_reply(format!(
                r#"<app appid="{id}" status="ok"><updatecheck status="noupdate"></updatecheck></app>"#
            ));
        }
        st.granted.insert(key);
        let sha1 = b64(&sha1::Sha1::digest(&offer.body));
        let sha256 = sha2::Sha256::digest(&offer.body);
        let (pkg_hashes, action) = match offer.hashes {
            Hashes::Nebraska => (
                format!(r#" hash="{sha1}""#),
                format!(r#" sha256="{}""#, b64(&sha256)),
            ),
            Hashes::Sha1Only => (format!(r#" hash="{sha1}""#), String::new()),
            Hashes::HexOnPackage => (
                format!(
                    r#" hash="{sha1}" hash_sha256="{}""#,
                    sha256
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<String>()
                ),
                String::new(),
            ),
            Hashes::Wrong => (
                format!(r#" hash="{sha1}""#),
                format!(
                    r#" sha256="{}""#,
                    b64(&sha2::Sha256::digest(b"other bytes"))
                ),
            ),
            Hashes::None => (String::new(), String::new()),
        };
        let codebase = offer
            .codebase
            .clone()
            .unwrap_or_else(|| format!("{base}/pkg/{id}/{}/", offer.version));
        let size = offer.size.unwrap_or(offer.body.len() as u64);
        xml_reply(format!(
            r#"<app appid="{id}" status="ok"><updatecheck status="ok"><urls><url codebase="{codebase}"></url></urls><manifest version="{v}"><packages><package name="{name}"{pkg_hashes} size="{size}" required="true"></package></packages><actions><action event="postinstall"{action} DisablePayloadBackoff="true"></action></actions></manifest></updatecheck></app>"#,
            v = offer.version,
            name = offer.name,
        ))
    }
}

fn xml_reply(apps: String) -> Reply {
    Reply::Body {
        status: 200,
        headers: vec![("Content-Type".into(), "text/xml".into())],
        body: format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<response protocol="3.0" server="nebraska"><daystart elapsed_seconds="0"></daystart>{apps}</response>"#
        )
        .into_bytes(),
    }
}

const APP: &str = "kplug-plugin-hello";
const NET: &str = "network:\n  connectTimeout: 2s\n  readTimeout: 3s\n  attempts: 1\n";

/// A machine with the omaha source `corp` on `channel`.
fn machine(neb: &FakeNebraska, channel: &str) -> TestEnv {
    let env = TestEnv::new();
    env.config_file(&format!(
        "{NET}sources:\n- name: corp\n  kind: omaha\n  address: {}\n  channel: {channel}\n",
        neb.endpoint()
    ));
    env
}

fn current(env: &TestEnv, name: &str) -> Option<String> {
    std::fs::read_link(env.home.join("plugins").join(name).join("current"))
        .ok()
        .map(|p| p.display().to_string())
}

fn receipt(env: &TestEnv, name: &str) -> String {
    std::fs::read_to_string(env.home.join("plugins").join(name).join("receipt.yaml"))
        .unwrap_or_default()
}

const DONE: [(u32, u32, i32); 4] = [(13, 1, 0), (14, 1, 0), (800, 1, 0), (3, 1, 0)];

#[test]
fn install_and_update_follow_each_machines_channel_and_report_every_step() {
    let neb = FakeNebraska::start();
    neb.offer(APP, "stable", Offer::plugin("hello", "1.0.0"));
    neb.offer(APP, "beta", Offer::plugin("hello", "1.1.0"));

    // A machine on stable, with the source added through the CLI.
    let a = TestEnv::new();
    a.config_file(NET);
    a.kplug()
        .args(["plugin", "source", "add", "corp", &neb.endpoint()])
        .assert()
        .success()
        .stderr(predicate::str::contains("omaha").and(predicate::str::contains("channel stable")));
    a.kplug()
        .args(["plugin", "install", "corp/hello"])
        .assert()
        .success()
        .stderr(predicate::str::contains("hello 1.0.0"));
    assert_eq!(current(&a, "hello").as_deref(), Some("1.0.0"));
    a.kplug()
        .arg("hello")
        .assert()
        .success()
        .stdout("hello 1.0.0 \n");
    let id_a = std::fs::read_to_string(a.home.join("state/machine-id")).unwrap();
    let id_a = id_a.trim();
    assert_eq!(id_a.len(), 32, "{id_a:?}");
    let checks = neb.checks(APP);
    let first = checks.last().unwrap();
    assert_eq!(
        (
            first.version.as_str(),
            first.track.as_str(),
            first.machine.as_str()
        ),
        ("0.0.0", "stable", id_a),
        "nothing installed yet; the machine's id and channel"
    );
    assert_eq!(
        neb.events(APP),
        DONE,
        "downloading, downloaded, installed, complete"
    );
    assert!(
        neb.seen()
            .iter()
            .filter(|s| s.event.is_some())
            .all(|s| s.recorded)
    );
    let r = receipt(&a, "hello");
    assert!(
        r.contains("sourceName: corp") && r.contains("omaha-sha256"),
        "{r}"
    );

    // A machine on beta, whose fleet manages its ids.
    let b = machine(&neb, "beta");
    b.kplug()
        .env("KPLUG_OMAHA_MACHINE_ID", "fleet-0042")
        .args(["plugin", "install", "corp/hello"])
        .assert()
        .success();
    assert_eq!(current(&b, "hello").as_deref(), Some("1.1.0"));
    assert!(!b.home.join("state/machine-id").exists());
    let beta: Vec<Seen> = neb
        .seen()
        .into_iter()
        .filter(|s| s.machine == "fleet-0042")
        .collect();
    assert_eq!(beta[0].track, "beta");
    assert_eq!(
        beta.iter().filter_map(|s| s.event).collect::<Vec<_>>(),
        DONE
    );

    // Nothing newer on stable: the installed version is sent, no event.
    let before = neb.events(APP).len();
    a.kplug()
        .args(["plugin", "update", "hello"])
        .assert()
        .success();
    assert_eq!(neb.checks(APP).last().unwrap().version, "1.0.0");
    assert_eq!(neb.events(APP).len(), before, "no update, no events");
    a.kplug()
        .args(["plugin", "outdated"])
        .assert()
        .success()
        .stderr(predicate::str::contains("up to date"));

    // 1.1.0 promoted to stable: outdated sees it, update --all takes it.
    neb.offer(APP, "stable", Offer::plugin("hello", "1.1.0"));
    let out = a
        .kplug()
        .args(["plugin", "outdated", "-o", "json"])
        .assert()
        .success();
    let rows: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(rows[0]["wanted"], "1.1.0", "{rows}");
    a.kplug()
        .args(["plugin", "update", "--all"])
        .assert()
        .success();
    assert_eq!(current(&a, "hello").as_deref(), Some("1.1.0"));
    let mine: Vec<(u32, u32, i32)> = neb
        .seen()
        .into_iter()
        .filter(|s| s.machine == id_a)
        .filter_map(|s| s.event)
        .collect();
    assert_eq!(mine, [DONE, DONE].concat());
    a.kplug()
        .args(["plugin", "rollback", "hello"])
        .assert()
        .success();
    assert_eq!(
        current(&a, "hello").as_deref(),
        Some("1.0.0"),
        "offline, as for any source"
    );
    neb.assert_nothing_rejected();
}

#[test]
fn a_version_pinned_by_hand_cannot_be_asked_of_a_channel() {
    let neb = FakeNebraska::start();
    neb.offer(APP, "stable", Offer::plugin("hello", "1.0.0"));
    let env = machine(&neb, "stable");
    env.kplug()
        .args(["plugin", "install", "corp/hello@2.0.0"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("offers 1.0.0")
                .and(predicate::str::contains("channel decides")),
        );
    assert!(current(&env, "hello").is_none());
    // The server granted 1.0.0 and waits to hear: it is told it failed.
    assert_eq!(neb.events(APP), [(3, 0, 1)]);
    // Asking the version on offer works (the positive control).
    env.kplug()
        .args(["plugin", "install", "corp/hello@1.0.0"])
        .assert()
        .success();
    assert_eq!(current(&env, "hello").as_deref(), Some("1.0.0"));
    neb.assert_nothing_rejected();
}

/// Install 1.0.0, then offer a bad 1.1.0: the update must fail saying so,
/// report the failure with its code (the server granted the update), and
/// leave 1.0.0 live.
#[test]
fn bad_packages_are_refused_reported_and_change_nothing() {
    let offer = || Offer::plugin("hello", "1.1.0");
    let longer = {
        let mut o = offer();
        o.size = Some(o.body.len() as u64 - 10);
        o
    };
    let shorter = {
        let mut o = offer();
        o.size = Some(o.body.len() as u64 + 10);
        o
    };
    type Package = Option<fn() -> Reply>;
    let cases: Vec<(&str, Offer, Package, &str, i32)> = vec![
        (
            "other bytes",
            Offer {
                hashes: Hashes::Wrong,
                ..offer()
            },
            None,
            "is not the",
            10,
        ),
        ("a shorter body", shorter, None, "bytes arrived", 11),
        ("a longer body", longer, None, "bytes arrived", 11),
        (
            "no hash",
            Offer {
                hashes: Hashes::None,
                ..offer()
            },
            None,
            "no hash",
            12,
        ),
        (
            "a plain-http codebase",
            Offer {
                codebase: Some("http://updates.example.com/pkg/".into()),
                ..offer()
            },
            None,
            "plain http",
            9,
        ),
        (
            "a codebase that only looks like loopback",
            Offer {
                codebase: Some("http://updates.example.com\\@127.0.0.1/pkg/".into()),
                ..offer()
            },
            None,
            "plain http",
            9,
        ),
        (
            "a package route answering 500",
            offer(),
            Some(|| Reply::status(500, &[])),
            "HTTP 500",
            9,
        ),
        (
            "a granted package kplug cannot use",
            Offer {
                name: "../kplug-hello".into(),
                ..offer()
            },
            None,
            "not a file name",
            1,
        ),
        (
            "a plugin saying another version",
            Offer {
                body: plugin_tar_gz("hello", "1.0.5"),
                ..offer()
            },
            None,
            "says it is version 1.0.5",
            1,
        ),
        (
            "not a plugin",
            Offer {
                body: b"#!/bin/sh\nexit 3\n".to_vec(),
                name: "kplug-hello".into(),
                ..offer()
            },
            None,
            "does not work here",
            1,
        ),
    ];
    for (what, bad, package, said, code) in cases {
        let neb = FakeNebraska::start();
        neb.offer(APP, "stable", Offer::plugin("hello", "1.0.0"));
        let env = machine(&neb, "stable");
        env.kplug()
            .args(["plugin", "install", "corp/hello"])
            .assert()
            .success();
        neb.offer(APP, "stable", bad);
        if let Some(reply) = package {
            neb.package_reply(reply);
        }
        let out = env
            .kplug()
            .args(["plugin", "update", "hello"])
            .assert()
            .failure();
        let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(err.contains(said), "{what}: expected {said:?} in: {err}");
        let events = neb.events(APP)[DONE.len()..].to_vec();
        assert_eq!(events.last(), Some(&(3, 0, code)), "{what}: {events:?}");
        assert_eq!(
            current(&env, "hello").as_deref(),
            Some("1.0.0"),
            "{what}: {err}"
        );
        assert!(!env.home.join("plugins/hello/1.1.0").exists(), "{what}");
        env.kplug()
            .arg("hello")
            .assert()
            .success()
            .stdout("hello 1.0.0 \n");
        neb.assert_nothing_rejected();
    }
}

#[test]
fn the_channel_decides_even_a_prerelease_of_another_major() {
    let neb = FakeNebraska::start();
    neb.offer(APP, "beta", Offer::plugin("hello", "1.0.0"));
    let env = machine(&neb, "beta");
    env.kplug()
        .args(["plugin", "install", "corp/hello"])
        .assert()
        .success();
    neb.offer(APP, "beta", Offer::plugin("hello", "2.0.0-rc.1"));
    env.kplug()
        .args(["plugin", "update", "hello"])
        .assert()
        .success();
    assert_eq!(current(&env, "hello").as_deref(), Some("2.0.0-rc.1"));
    assert_eq!(neb.events(APP), [DONE, DONE].concat());
    neb.assert_nothing_rejected();
}

#[test]
fn an_unknown_application_is_named_with_what_to_do() {
    let neb = FakeNebraska::start();
    let env = machine(&neb, "stable");
    env.kplug()
        .args(["plugin", "install", "corp/hello"])
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("kplug-plugin-hello")
                .and(predicate::str::contains(neb.server.url()))
                .and(predicate::str::contains("does not know this application"))
                .and(predicate::str::contains("apps:")),
        );
    assert!(neb.events(APP).is_empty(), "no update granted, no event");
    // A mapped app id is asked instead.
    let mapped = TestEnv::new();
    mapped.config_file(&format!(
        "{NET}sources:\n- name: corp\n  kind: omaha\n  address: {}\n  apps:\n    hello: io.corp.hello\n",
        neb.endpoint()
    ));
    neb.offer("io.corp.hello", "stable", Offer::plugin("hello", "1.0.0"));
    mapped
        .kplug()
        .args(["plugin", "install", "hello"])
        .assert()
        .success();
    assert_eq!(current(&mapped, "hello").as_deref(), Some("1.0.0"));
    assert_eq!(neb.events("io.corp.hello"), DONE);
}

#[test]
fn a_sha1_only_package_warns_and_is_refused_when_sha256_is_required() {
    let neb = FakeNebraska::start();
    neb.offer(
        APP,
        "stable",
        Offer {
            hashes: Hashes::Sha1Only,
            ..Offer::plugin("hello", "1.0.0")
        },
    );
    let strict = TestEnv::new();
    strict.config_file(&format!(
        "{NET}sources:\n- name: corp\n  kind: omaha\n  address: {}\n  requireSha256: true\n",
        neb.endpoint()
    ));
    strict
        .kplug()
        .args(["plugin", "install", "corp/hello"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("SHA-256 is required"));
    assert!(current(&strict, "hello").is_none());
    assert_eq!(neb.events(APP).last(), Some(&(3, 0, 12)));
    let lax = machine(&neb, "stable");
    lax.kplug()
        .args(["plugin", "install", "corp/hello"])
        .assert()
        .success()
        .stderr(predicate::str::contains("only against a SHA-1"));
    assert!(receipt(&lax, "hello").contains("omaha-sha1"));
    // A hex `hash_sha256` on the package is the strong check.
    let neb2 = FakeNebraska::start();
    neb2.offer(
        APP,
        "stable",
        Offer {
            hashes: Hashes::HexOnPackage,
            ..Offer::plugin("hello", "1.0.0")
        },
    );
    let hex = TestEnv::new();
    hex.config_file(&format!(
        "{NET}sources:\n- name: corp\n  kind: omaha\n  address: {}\n  requireSha256: true\n",
        neb2.endpoint()
    ));
    hex.kplug()
        .args(["plugin", "install", "corp/hello"])
        .assert()
        .success();
    assert!(receipt(&hex, "hello").contains("omaha-sha256"));
    neb.assert_nothing_rejected();
    neb2.assert_nothing_rejected();
}

#[test]
fn servers_that_do_not_answer_as_omaha_change_nothing() {
    type Answer = Box<dyn Fn() -> Reply + Send + Sync>;
    let cases: Vec<(&str, Answer, &str)> = vec![
        (
            "not XML",
            Box::new(|| Reply::bytes(b"{\"ok\":true}".to_vec())),
            "Omaha endpoint",
        ),
        (
            "another shape",
            Box::new(|| xml_reply("<thing/>".into())),
            "no <app>",
        ),
        ("HTTP 500", Box::new(|| Reply::status(500, &[])), "HTTP 500"),
        ("a stall", Box::new(|| Reply::Stall), "did not answer"),
        (
            "an enormous answer",
            Box::new(|| xml_reply(format!("<!-- {} -->", "x".repeat(3 << 20)))),
            "larger than",
        ),
        (
            "control characters",
            Box::new(|| {
                xml_reply(
                    r#"<app appid="x" status="error-&#27;[2Jgone"><updatecheck status="error-internal"></updatecheck></app>"#
                        .into(),
                )
            }),
            "refused app",
        ),
    ];
    for (what, reply, said) in cases {
        let neb = FakeNebraska::start();
        neb.offer(APP, "stable", Offer::plugin("hello", "1.0.0"));
        let env = machine(&neb, "stable");
        env.kplug()
            .args(["plugin", "install", "corp/hello"])
            .assert()
            .success();
        neb.offer(APP, "stable", Offer::plugin("hello", "1.1.0"));
        neb.answer_raw(reply);
        let out = env
            .kplug()
            .args(["plugin", "update", "hello"])
            .timeout(Duration::from_secs(30))
            .assert()
            .failure();
        let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(err.contains(said), "{what}: expected {said:?} in {err}");
        assert!(err.contains(APP), "{what}: names the app: {err}");
        assert!(
            err.contains(&neb.server.url()),
            "{what}: names the endpoint: {err}"
        );
        assert_eq!(
            neb.events(APP).len(),
            4,
            "{what}: no event beyond the install's"
        );
        assert!(!err.contains('\u{1b}'), "{what}: escaped: {err}");
        assert_eq!(current(&env, "hello").as_deref(), Some("1.0.0"), "{what}");
    }
}

#[test]
fn bad_source_configurations_are_refused_with_the_fix() {
    let env = TestEnv::new();
    env.config_file(NET);
    for (args, said) in [
        (
            vec!["corp", "omaha+http://updates.example.com/v1/update"],
            "plain http",
        ),
        (
            vec!["corp", "omaha+https://h/v1/update", "--channel", "a b"],
            "cannot be the channel",
        ),
        (
            vec!["corp", "omaha+https://h/v1/update", "--app", "hello=a\"b"],
            "cannot be the app id",
        ),
        (
            vec!["corp", "omaha+https://h/v1/update", "--app", "Bad=x"],
            "not a plugin name",
        ),
        (
            vec!["corp", "acme/tools", "--channel", "beta"],
            "for omaha sources",
        ),
        (
            vec!["corp", "omaha+https://h/v1/update", "--ttl", "5m"],
            "`ttl` means nothing",
        ),
        (
            vec![
                "corp",
                "omaha+https://h/v1/update",
                "--trust",
                "RWRWNTNjFAmrxmUqOdgOWEb9f7qqUIsBOTySuBq2377e0uPzCtX+SOaw",
            ],
            "carry no signatures",
        ),
    ] {
        let mut cmd = env.kplug();
        cmd.args(["plugin", "source", "add"]).args(&args);
        cmd.assert().code(2).stderr(predicate::str::contains(said));
    }
    // A server that is not Omaha is caught when the source is added.
    let web = Server::start("127.0.0.1", |_| Reply::bytes(b"<html>hi</html>".to_vec()));
    env.kplug()
        .args([
            "plugin",
            "source",
            "add",
            "corp",
            &format!("omaha+{}/v1/update", web.url()),
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("was not added"));
    assert!(
        !std::fs::read_to_string(env.config.join("kplug/config.yaml"))
            .unwrap()
            .contains("corp")
    );
    // A watch that would hammer the servers.
    env.kplug()
        .args(["plugin", "update", "--all", "--watch", "--every", "10ms"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("at least a second apart"));
    // A direct omaha URL says how to use one.
    env.kplug()
        .args(["plugin", "install", "omaha+https://h/v1/update"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "kplug plugin source add NAME omaha+",
        ));
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sigterm(child: &std::process::Child) {
    // SAFETY: kill(2) with a pid we own.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
}

#[test]
fn watch_checks_on_a_timer_updates_and_stops_on_sigterm() {
    let neb = FakeNebraska::start();
    neb.offer(APP, "stable", Offer::plugin("hello", "1.0.0"));
    let env = machine(&neb, "stable");
    env.kplug()
        .args(["plugin", "install", "corp/hello"])
        .assert()
        .success();
    let log = env.out.join("watch.log");
    let mut child = env
        .kplug_process()
        .args([
            "plugin",
            "update",
            "--all",
            "--watch",
            "--first-after",
            "0",
            "--every",
            "1s",
        ])
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let base = neb.checks(APP).len();
    wait_for("the first check", || neb.checks(APP).len() > base);
    neb.offer(APP, "stable", Offer::plugin("hello", "1.1.0"));
    wait_for("the second check's update", || {
        current(&env, "hello").as_deref() == Some("1.1.0")
            && std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("check 2:")
    });
    assert!(
        child.try_wait().unwrap().is_none(),
        "still watching before the signal"
    );
    sigterm(&child);
    let status = child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(0), "{text}");
    assert!(text.contains("check 1: 1 up to date"), "{text}");
    assert!(
        text.contains("check 2: updated hello 1.0.0 -> 1.1.0"),
        "{text}"
    );
    assert!(text.contains("stopped after"), "{text}");
    assert!(!text.contains("downloaded "), "one line per check: {text}");
    assert_eq!(neb.events(APP)[4..], DONE);
    neb.assert_nothing_rejected();
}

#[test]
fn sigterm_during_a_download_abandons_it_with_the_store_unchanged() {
    let neb = FakeNebraska::start();
    neb.offer(APP, "stable", Offer::plugin("hello", "1.0.0"));
    let env = machine(&neb, "stable");
    env.kplug()
        .args(["plugin", "install", "corp/hello"])
        .assert()
        .success();
    neb.offer(APP, "stable", Offer::plugin("hello", "1.1.0"));
    neb.package_reply(|| Reply::Stall);
    let mut child = env
        .kplug_process()
        .args(["plugin", "update", "--all", "--watch", "--first-after", "0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the package download", || {
        neb.server
            .requests()
            .iter()
            .any(|r| r.method == "GET" && r.path.starts_with("/pkg/") && r.path.contains("1.1.0"))
    });
    sigterm(&child);
    let start = Instant::now();
    let out = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "SIGTERM ends a download at once"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(out.code(), Some(130), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(current(&env, "hello").as_deref(), Some("1.0.0"));
    assert!(!env.home.join("plugins/hello/1.1.0").exists());
    // Only the download's start was reported: no failure for an abandoned one.
    assert_eq!(neb.events(APP)[4..], [(13, 1, 0)]);
    neb.assert_nothing_rejected();
}

#[test]
fn kplug_updates_itself_over_omaha_and_reports_a_refused_release() {
    use crate::selfupdate::{release, script, stamped};
    let neb = FakeNebraska::start();
    let env = TestEnv::new();
    env.config_file(&format!(
        "{NET}sources:\n- name: corp\n  kind: omaha\n  address: {}\nself:\n  source: corp/kplug\n",
        neb.endpoint()
    ));
    let app = env.dir("app").join("kplug");
    std::fs::write(&app, crate::selfupdate::stripped()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&app, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = |args: &[&str]| {
        let mut cmd = assert_cmd::Command::new(&app);
        cmd.env_clear()
            .envs(env.vars())
            .current_dir(env.root.path())
            .args(args);
        cmd.assert()
    };
    let publish = |version: &str, exe: &[u8]| {
        let asset = release(version, exe).assets.remove(0);
        neb.offer(
            "kplug",
            "stable",
            Offer {
                version: version.into(),
                name: asset.name,
                body: asset.body,
                hashes: Hashes::Nebraska,
                size: None,
                codebase: None,
            },
        );
    };
    publish("0.2.0", &stamped("0.2.0"));
    run(&["self", "check"]).code(10);
    run(&["self", "update"])
        .success()
        .stderr(predicate::str::contains("kplug is now 0.2.0"));
    let checks = neb.checks("kplug");
    assert_eq!(checks.len(), 2, "self check, then self update: {checks:?}");
    assert!(
        checks
            .iter()
            .all(|c| c.version == env!("CARGO_PKG_VERSION")),
        "the running version: {checks:?}"
    );
    assert_eq!(neb.events("kplug"), DONE);
    // A release whose binary is broken: refused, reported, kplug unchanged.
    publish("0.3.0", &script("exit 7"));
    run(&["self", "update"])
        .failure()
        .stderr(predicate::str::contains("refusing kplug 0.3.0"));
    assert_eq!(neb.checks("kplug").last().unwrap().version, "0.2.0");
    assert_eq!(
        neb.events("kplug")[4..],
        [(13, 1, 0), (14, 1, 0), (3, 0, 1)]
    );
    let out = run(&["version", "-o", "json"]).success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["version"], "0.2.0");
    // Another channel for one update (`--channel`), the source's own left alone.
    let asset = release("0.4.0", &stamped("0.4.0")).assets.remove(0);
    neb.offer(
        "kplug",
        "beta",
        Offer {
            version: "0.4.0".into(),
            name: asset.name,
            body: asset.body,
            hashes: Hashes::Nebraska,
            size: None,
            codebase: None,
        },
    );
    run(&["self", "update", "--channel", "beta"])
        .success()
        .stderr(predicate::str::contains("kplug is now 0.4.0"));
    assert_eq!(neb.checks("kplug").last().unwrap().track, "beta");
    run(&["self", "check", "--channel", "a b"])
        .code(2)
        .stderr(predicate::str::contains("--channel"));
    neb.assert_nothing_rejected();
}

#[test]
fn a_project_syncs_a_plugin_from_its_own_omaha_source_and_locks_it() {
    let neb = FakeNebraska::start();
    neb.offer(APP, "stable", Offer::plugin("hello", "1.0.0"));
    neb.offer(APP, "beta", Offer::plugin("hello", "1.1.0"));
    let env = TestEnv::new();
    env.config_file(NET);
    let app = env.dir("app");
    std::fs::write(
        app.join("kplug.yaml"),
        format!(
            "plugins:\n  hello: {{version: v1, source: corp}}\nsources:\n- {{name: corp, kind: omaha, address: '{}', channel: beta}}\n",
            neb.endpoint()
        ),
    )
    .unwrap();
    env.kplug()
        .current_dir(&app)
        .args(["plugin", "sync", "--project"])
        .assert()
        .success();
    let lock = std::fs::read_to_string(app.join("kplug.lock")).unwrap();
    assert!(lock.contains("version: 1.1.0"), "{lock}");
    env.kplug()
        .current_dir(&app)
        .arg("hello")
        .assert()
        .success()
        .stdout("hello 1.1.0 \n");
    assert!(
        current(&env, "hello").is_none(),
        "the standalone slot is untouched"
    );
    assert_eq!(neb.checks(APP)[0].track, "beta");
    assert_eq!(neb.events(APP), DONE);
    // Nothing changed: a second sync reads files only.
    let asked = neb.seen().len();
    env.kplug()
        .current_dir(&app)
        .args(["plugin", "sync", "--project"])
        .assert()
        .success();
    assert_eq!(
        neb.seen().len(),
        asked,
        "no request for a sync with nothing to do"
    );
    neb.assert_nothing_rejected();
}

#[test]
fn a_check_is_never_sent_twice_while_a_download_is_retried() {
    let neb = FakeNebraska::start();
    neb.offer(APP, "stable", Offer::plugin("hello", "1.0.0"));
    let env = TestEnv::new();
    env.config_file(&format!(
        "network:\n  connectTimeout: 2s\n  readTimeout: 3s\n  attempts: 3\nsources:\n- name: corp\n  kind: omaha\n  address: {}\n",
        neb.endpoint()
    ));
    let count = |method: &str, prefix: &str| {
        neb.server
            .requests()
            .iter()
            .filter(|r| r.method == method && r.path.starts_with(prefix))
            .count()
    };
    // The package route fails: the download is tried `attempts` times
    // (the positive control for the retries).
    neb.package_reply(|| Reply::status(503, &[]));
    env.kplug()
        .args(["plugin", "install", "corp/hello"])
        .assert()
        .failure();
    assert_eq!(count("GET", "/pkg/"), 3, "a download is retried");
    // The server fails: its POST is sent once, whatever `attempts` says.
    let posts = count("POST", "/v1/update");
    neb.answer_raw(|| Reply::status(503, &[]));
    env.kplug()
        .args(["plugin", "install", "corp/hello"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("HTTP 503"));
    assert_eq!(
        count("POST", "/v1/update"),
        posts + 1,
        "a POST is never repeated"
    );
}
