//! The client against an in-memory server: a transport that answers
//! checks from a script, serves packages from a map, and records every
//! request.

use super::*;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Default)]
struct Fake {
    /// The answer to each check.
    check: Mutex<String>,
    /// URL → body.
    files: Mutex<HashMap<String, Vec<u8>>>,
    /// `(eventtype, eventresult, errorcode)` of each event sent, and
    /// "check" for each check.
    log: Mutex<Vec<String>>,
}

impl Transport for Fake {
    fn post_xml(&self, _url: &str, body: &[u8], _limit: usize) -> Result<Vec<u8>, TransportError> {
        let text = String::from_utf8(body.to_vec()).unwrap();
        if let Some(at) = text.find("<event ") {
            let attr = |name: &str| {
                let key = format!("{name}=\"");
                let start = text[at..].find(&key).map(|i| at + i + key.len()).unwrap();
                let end = text[start..].find('"').unwrap() + start;
                text[start..end].to_string()
            };
            self.log.lock().unwrap().push(format!(
                "{}/{}/{}",
                attr("eventtype"),
                attr("eventresult"),
                attr("errorcode")
            ));
            return Ok(br#"<response protocol="3.0"><app appid="a" status="ok"><event status="ok"/></app></response>"#.to_vec());
        }
        self.log.lock().unwrap().push("check".into());
        Ok(self.check.lock().unwrap().clone().into_bytes())
    }

    fn download(&self, url: &str, out: &mut dyn Write, limit: u64) -> Result<u64, TransportError> {
        let files = self.files.lock().unwrap();
        let body = files
            .get(url)
            .ok_or_else(|| TransportError(format!("{url}: 404")))?;
        if body.len() as u64 > limit {
            return Err(TransportError("too large".into()));
        }
        out.write_all(body).unwrap();
        Ok(body.len() as u64)
    }
}

fn client(fake: &Arc<Fake>) -> Client {
    Client::builder("https://nebraska.test/v1/update")
        .app_id("kplug-plugin-hello")
        .version("1.0.0")
        .track("beta")
        .machine_id("0123456789abcdef0123456789abcdef")
        .transport(fake.clone())
        .build()
        .unwrap()
}

/// The same, downloading into `dir`.
fn client_in(fake: &Arc<Fake>, dir: &Path) -> Client {
    Client::builder("https://nebraska.test/v1/update")
        .app_id("kplug-plugin-hello")
        .version("1.0.0")
        .track("beta")
        .machine_id("0123456789abcdef0123456789abcdef")
        .download_dir(dir)
        .transport(fake.clone())
        .build()
        .unwrap()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A Nebraska-shaped update answer for `payload` at two URLs.
fn update_xml(payload: &[u8], urls: &[&str], sha256_on: &str) -> String {
    let sha1 = b64(&sha1::Sha1::digest(payload));
    let sha256 = sha2::Sha256::digest(payload);
    let (pkg_sha, action_sha) = match sha256_on {
        "action" => (String::new(), format!(r#" sha256="{}""#, b64(&sha256))),
        "package-hex" => (format!(r#" hash_sha256="{}""#, hex(&sha256)), String::new()),
        "package-b64" => (format!(r#" hash_sha256="{}""#, b64(&sha256)), String::new()),
        _ => (String::new(), String::new()),
    };
    let urls: String = urls
        .iter()
        .map(|u| format!(r#"<url codebase="{u}"></url>"#))
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<response protocol="3.0" server="nebraska"><daystart elapsed_seconds="0"></daystart><app appid="kplug-plugin-hello" status="ok"><ping status="ok"></ping><updatecheck status="ok"><urls>{urls}</urls><manifest version="1.1.0"><packages><package name="hello.tar.gz" hash="{sha1}"{pkg_sha} size="{}" required="true"></package></packages><actions><action event="postinstall"{action_sha} DisablePayloadBackoff="true"></action></actions></manifest></updatecheck></app></response>"#,
        payload.len()
    )
}

struct Recorder {
    applied: Vec<(String, Vec<u8>)>,
    fail: Option<&'static str>,
    panic: bool,
}

impl Updater for Recorder {
    fn apply(&mut self, update: &Update, payload: &Path) -> std::result::Result<(), String> {
        if self.panic {
            panic!("the updater broke");
        }
        self.applied
            .push((update.version.clone(), std::fs::read(payload).unwrap()));
        match self.fail {
            Some(why) => Err(why.to_string()),
            None => Ok(()),
        }
    }
}

fn recorder() -> Recorder {
    Recorder {
        applied: Vec::new(),
        fail: None,
        panic: false,
    }
}

#[test]
fn no_update_and_server_errors_are_typed() {
    let fake = Arc::new(Fake::default());
    let c = client(&fake);
    *fake.check.lock().unwrap() = r#"<response protocol="3.0"><daystart elapsed_seconds="0"/><app appid="kplug-plugin-hello" status="ok"><updatecheck status="noupdate"/></app></response>"#.into();
    assert_eq!(c.check().unwrap(), Check::NoUpdate);
    *fake.check.lock().unwrap() = r#"<response protocol="3.0"><app appid="x" status="error-failedToRetrieveUpdatePackageInfo"><updatecheck status="error-internal"/></app></response>"#.into();
    let e = c.check().unwrap_err();
    assert!(
        matches!(&e, Error::Server { status: ServerStatus::UnknownApplication, app_id, endpoint } if app_id == "kplug-plugin-hello" && endpoint.contains("nebraska.test")),
        "{e:?}"
    );
    *fake.check.lock().unwrap() = r#"<response protocol="3.0"><app appid="x" status="error-unknownApplication"><updatecheck status="error-internal"/></app></response>"#.into();
    let e = c.check().unwrap_err();
    assert!(matches!(
        e,
        Error::Server {
            status: ServerStatus::UnknownApplication,
            ..
        }
    ));
    assert!(
        e.to_string().contains("kplug-plugin-hello") && e.to_string().contains("nebraska.test"),
        "{e}"
    );
    *fake.check.lock().unwrap() = r#"<response protocol="3.0"><app appid="x" status="error-maxConcurrentUpdatesLimitReached"><updatecheck status="error-internal"/></app></response>"#.into();
    assert!(matches!(
        c.check().unwrap_err(),
        Error::Server {
            status: ServerStatus::UpdatesHeld(_),
            ..
        }
    ));
    *fake.check.lock().unwrap() = "<html>502</html>".into();
    assert!(matches!(c.check().unwrap_err(), Error::Response { .. }));
    // A package named like a path is refused.
    *fake.check.lock().unwrap() = update_xml(b"x", &["https://dl.test/"], "action")
        .replace("hello.tar.gz", "../../etc/passwd");
    assert!(matches!(c.check().unwrap_err(), Error::Unusable { .. }));
}

#[test]
fn an_update_runs_its_events_in_order_and_the_strongest_hash_is_checked() {
    let payload = b"the new plugin".to_vec();
    for sha in ["action", "package-hex", "package-b64"] {
        let fake = Arc::new(Fake::default());
        *fake.check.lock().unwrap() = update_xml(
            &payload,
            &["https://one.test/dl", "https://two.test/dl/"],
            sha,
        );
        // The first URL fails; the second serves it.
        fake.files
            .lock()
            .unwrap()
            .insert("https://two.test/dl/hello.tar.gz".into(), payload.clone());
        let dir = tempfile::tempdir().unwrap();
        let mut r = recorder();
        let out = client_in(&fake, dir.path()).run_once(&mut r).unwrap();
        assert_eq!(
            out,
            Outcome::Updated {
                version: "1.1.0".into(),
                weak_hash: false
            }
        );
        assert_eq!(r.applied, [("1.1.0".to_string(), payload.clone())]);
        assert_eq!(
            *fake.log.lock().unwrap(),
            ["check", "13/1/0", "14/1/0", "800/1/0", "3/1/0"]
        );
        assert!(
            std::fs::read_dir(dir.path()).unwrap().next().is_none(),
            "nothing left behind"
        );
    }
}

#[test]
fn each_failure_is_reported_as_3_0_with_its_code() {
    let payload = b"the new plugin".to_vec();
    let dir = tempfile::tempdir().unwrap();
    let run = |xml: String, body: Option<Vec<u8>>, r: &mut Recorder| {
        let fake = Arc::new(Fake::default());
        *fake.check.lock().unwrap() = xml;
        if let Some(b) = body {
            fake.files
                .lock()
                .unwrap()
                .insert("https://one.test/hello.tar.gz".into(), b);
        }
        let result = client_in(&fake, dir.path()).run_once(r);
        let log = fake.log.lock().unwrap().clone();
        (result, log)
    };
    let xml = update_xml(&payload, &["https://one.test/"], "action");
    // Fewer bytes than the package has: a size mismatch.
    let (res, log) = run(xml.clone(), Some(b"short".to_vec()), &mut recorder());
    assert!(
        matches!(
            res,
            Err(Error::Download {
                code: codes::SIZE_MISMATCH,
                ..
            })
        ),
        "{res:?}"
    );
    assert_eq!(log, ["check", "13/1/0", "3/0/11"]);
    let mut tampered = payload.clone();
    tampered[0] ^= 1;
    let (res, log) = run(xml.clone(), Some(tampered), &mut recorder());
    assert!(
        matches!(
            res,
            Err(Error::Download {
                code: codes::HASH_MISMATCH,
                ..
            })
        ),
        "{res:?}"
    );
    assert_eq!(log, ["check", "13/1/0", "3/0/10"]);
    // Nothing served.
    let (res, log) = run(xml.clone(), None, &mut recorder());
    assert!(matches!(
        res,
        Err(Error::Download {
            code: codes::DOWNLOAD_TRANSFER,
            ..
        })
    ));
    assert_eq!(log, ["check", "13/1/0", "3/0/9"]);
    // The updater fails, or panics: reported, and the client goes on.
    let mut failing = Recorder {
        fail: Some("disk full"),
        ..recorder()
    };
    let (res, log) = run(xml.clone(), Some(payload.clone()), &mut failing);
    assert!(
        matches!(&res, Err(Error::Apply { reason, app_id }) if reason == "disk full" && app_id == "kplug-plugin-hello"),
        "{res:?}"
    );
    assert_eq!(log, ["check", "13/1/0", "14/1/0", "3/0/1"]);
    let mut panicking = Recorder {
        panic: true,
        ..recorder()
    };
    let (res, log) = run(xml.clone(), Some(payload.clone()), &mut panicking);
    assert!(
        matches!(&res, Err(Error::Apply { reason, .. }) if reason == "the updater panicked"),
        "{res:?}"
    );
    assert_eq!(log, ["check", "13/1/0", "14/1/0", "3/0/1"]);
    // A package without any hash is refused (3/0/12), nothing applied.
    let unhashed = update_xml(&payload, &["https://one.test/"], "none").replace(
        &format!(r#" hash="{}""#, b64(&sha1::Sha1::digest(&payload))),
        "",
    );
    let mut r = recorder();
    let (res, log) = run(unhashed, Some(payload.clone()), &mut r);
    assert!(
        matches!(
            res,
            Err(Error::Download {
                code: codes::VERIFICATION,
                ..
            })
        ),
        "{res:?}"
    );
    assert_eq!(log, ["check", "13/1/0", "3/0/12"]);
    assert!(r.applied.is_empty());
    // A granted update that cannot be used (no URL, a hash that does not
    // decode) is reported back as failed.
    for broken in [
        update_xml(&payload, &[], "action"),
        update_xml(&payload, &["https://one.test/"], "action")
            .replace(r#" sha256=""#, r#" sha256="!!not base64"#),
    ] {
        let (res, log) = run(broken, Some(payload.clone()), &mut recorder());
        assert!(matches!(res, Err(Error::Unusable { .. })), "{res:?}");
        assert_eq!(log, ["check", "3/0/1"]);
    }
    // A plain-http codebase (not loopback) is never fetched.
    let http = update_xml(&payload, &["http://mirror.test/"], "action");
    let (res, log) = run(http, Some(payload.clone()), &mut recorder());
    assert!(
        matches!(&res, Err(Error::Download { attempts, .. }) if attempts[0].1.contains("https")),
        "{res:?}"
    );
    assert_eq!(log, ["check", "13/1/0", "3/0/9"]);
}

#[test]
fn a_sha1_only_package_is_weak_and_refused_when_sha256_is_required() {
    let payload = b"old-style package".to_vec();
    let xml = update_xml(&payload, &["https://one.test/"], "none");
    let fake = Arc::new(Fake::default());
    *fake.check.lock().unwrap() = xml;
    fake.files
        .lock()
        .unwrap()
        .insert("https://one.test/hello.tar.gz".into(), payload.clone());
    let dir = tempfile::tempdir().unwrap();
    let out = client_in(&fake, dir.path())
        .run_once(&mut recorder())
        .unwrap();
    assert_eq!(
        out,
        Outcome::Updated {
            version: "1.1.0".into(),
            weak_hash: true
        }
    );
    let strict = Client::builder("https://nebraska.test/v1/update")
        .app_id("kplug-plugin-hello")
        .version("1.0.0")
        .machine_id("m")
        .require_sha256(true)
        .transport(fake.clone())
        .build()
        .unwrap();
    let Check::Update(update) = strict.check().unwrap() else {
        panic!("an update")
    };
    assert!(matches!(
        strict.download(&update, dir.path()),
        Err(Error::Download {
            code: codes::VERIFICATION,
            ..
        })
    ));
}

#[test]
fn the_builder_refuses_what_is_missing_or_unsafe() {
    let b = || {
        Client::builder("https://n.test/v1/update")
            .app_id("a")
            .version("1.0.0")
            .machine_id("m")
    };
    assert!(b().build().is_ok());
    assert!(matches!(
        Client::builder("https://n.test")
            .version("1")
            .machine_id("m")
            .build(),
        Err(Error::Config(_))
    ));
    assert!(matches!(b().version("").build(), Err(Error::Config(_))));
    let plain = Client::builder("http://n.test/v1/update")
        .app_id("a")
        .version("1")
        .machine_id("m");
    assert!(matches!(plain.build(), Err(Error::Config(_))));
    let local = Client::builder("http://127.0.0.1:9/v1/update")
        .app_id("a")
        .version("1")
        .machine_id("m");
    assert!(local.build().is_ok(), "loopback may be plain http");
}

#[test]
fn urls_are_judged_by_the_host_a_client_would_reach() {
    for ok in [
        "https://n.test/x",
        "http://127.0.0.1:8/x",
        "http://[::1]:8/x",
        "http://localhost/x",
    ] {
        assert_eq!(crate::check_url(ok), Ok(()), "{ok}");
    }
    for bad in [
        // A `\` is a `/` to an HTTP client: the host is evil.test.
        "http://evil.test\\@127.0.0.1/",
        "http://127.0.0.1.evil.test/",
        "http://user:pw@127.0.0.1/",
        "ftp://127.0.0.1/",
        "file:///etc/passwd",
        "http:///x",
        "not a url",
    ] {
        assert!(crate::check_url(bad).is_err(), "{bad} must be refused");
    }
}

#[test]
fn the_machine_id_is_made_once_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/machine-id");
    let a = machine_id(&path).unwrap();
    assert_eq!(a.len(), 32);
    assert_eq!(machine_id(&path).unwrap(), a);
    std::fs::write(&path, "garbage\n").unwrap();
    let b = machine_id(&path).unwrap();
    assert_ne!(b, a, "a damaged id is replaced");
    assert_eq!(b.len(), 32);
}

/// A clock that records each wait and returns at once; after `budget`
/// waits it ends the run (as a stop would) and says so on `done`.
struct FakeClock {
    waits: Mutex<Vec<Duration>>,
    budget: usize,
    done: Mutex<std::sync::mpsc::Sender<()>>,
}

impl Clock for FakeClock {
    fn wait(&self, d: Duration, _stop: &Stop) -> bool {
        let mut w = self.waits.lock().unwrap();
        w.push(d);
        if w.len() > self.budget {
            let _ = self.done.lock().unwrap().send(());
            return false;
        }
        true
    }
}

#[test]
fn the_scheduler_waits_first_then_between_attempts_with_jitter() {
    let fake = Arc::new(Fake::default());
    *fake.check.lock().unwrap() = r#"<response protocol="3.0"><app appid="a" status="ok"><updatecheck status="noupdate"/></app></response>"#.into();
    let (tx, rx) = std::sync::mpsc::channel();
    let clock = Arc::new(FakeClock {
        waits: Mutex::new(Vec::new()),
        budget: 3,
        done: Mutex::new(tx),
    });
    let attempts = Arc::new(Mutex::new(0));
    let seen = attempts.clone();
    let s = Scheduler::start_with(
        client(&fake),
        recorder(),
        Intervals::default(),
        clock.clone(),
        move |r| {
            assert_eq!(r, &Ok(Outcome::NoUpdate));
            *seen.lock().unwrap() += 1;
        },
    );
    // The fake clock ends the run after its budget; then stop joins it.
    rx.recv().unwrap();
    s.stop();
    let waits = clock.waits.lock().unwrap().clone();
    assert_eq!(waits.len(), 4);
    let m = |n: u64| Duration::from_secs(n * 60);
    assert!(waits[0] >= m(5) && waits[0] <= m(15), "{waits:?}");
    assert!(
        waits[1..].iter().all(|w| *w >= m(45) && *w <= m(90)),
        "{waits:?}"
    );
    assert_eq!(*attempts.lock().unwrap(), 3);
    assert_eq!(fake.log.lock().unwrap().len(), 3, "three checks");
}

#[test]
fn a_nebraska_response_gives_every_field() {
    let fake = Arc::new(Fake::default());
    *fake.check.lock().unwrap() = r#"<?xml version="1.0" encoding="UTF-8"?>
<response protocol="3.0" server="nebraska"><daystart elapsed_seconds="0"></daystart><app appid="{e96281a6-d1af-4bde-9a0a-97b76e56dc57}" status="ok"><ping status="ok"></ping><updatecheck status="ok"><urls><url codebase="https://update.release.flatcar-linux.net/amd64-usr/2191.5.0/"></url><url codebase="https://mirror.test/2191.5.0"></url></urls><manifest version="2191.5.0"><packages><package name="flatcar_production_update.gz" hash="r3nufcxgMTZaxYEqL+x2zIoeClk=" size="465881871" required="true"></package></packages><actions><action event="postinstall" sha256="LIkAKVZY2EJFiwTmltiJZLFLA5xT/FodbjVgqkyF/y8=" DisablePayloadBackoff="true"></action></actions></manifest></updatecheck><event status="ok"></event></app></response>"#.into();
    let Check::Update(u) = client(&fake).check().unwrap() else {
        panic!("an update")
    };
    assert_eq!(u.version, "2191.5.0");
    assert_eq!(
        u.urls,
        [
            "https://update.release.flatcar-linux.net/amd64-usr/2191.5.0/",
            "https://mirror.test/2191.5.0"
        ]
    );
    let p = &u.packages[0];
    assert_eq!(
        (p.name.as_str(), p.size, p.required),
        ("flatcar_production_update.gz", 465881871, true)
    );
    assert_eq!(
        hex(&p.sha1.unwrap()),
        "af79ee7dcc6031365ac5812a2fec76cc8a1e0a59"
    );
    assert_eq!(p.sha256, None);
    assert_eq!(u.actions[0].event, "postinstall");
    assert_eq!(
        hex(&u.actions[0].sha256.unwrap()),
        "2c8900295658d842458b04e696d88964b14b039c53fc5a1d6e3560aa4c85ff2f"
    );
}

/// Serves the package one byte at a time, as long as the writer takes it.
struct Trickle(Fake);

impl Transport for Trickle {
    fn post_xml(&self, url: &str, body: &[u8], limit: usize) -> Result<Vec<u8>, TransportError> {
        self.0.post_xml(url, body, limit)
    }
    fn download(
        &self,
        _url: &str,
        out: &mut dyn Write,
        _limit: u64,
    ) -> Result<u64, TransportError> {
        let body = self
            .0
            .files
            .lock()
            .unwrap()
            .values()
            .next()
            .cloned()
            .unwrap();
        for (i, b) in body.iter().enumerate() {
            out.write_all(&[*b])
                .map_err(|e| TransportError(e.to_string()))?;
            if i == 10 {
                // Mid-download: let the test stop the scheduler now.
                self.0.log.lock().unwrap().push("midway".into());
                while !self.0.log.lock().unwrap().iter().any(|l| l == "stopping") {
                    std::thread::yield_now();
                }
            }
        }
        Ok(body.len() as u64)
    }
}

#[test]
fn stopping_the_scheduler_abandons_a_download_in_flight() {
    let payload = vec![7u8; 4096];
    let fake = Fake::default();
    *fake.check.lock().unwrap() = update_xml(&payload, &["https://one.test/"], "action");
    fake.files
        .lock()
        .unwrap()
        .insert("https://one.test/hello.tar.gz".into(), payload.clone());
    let trickle = Arc::new(Trickle(fake));
    let dir = tempfile::tempdir().unwrap();
    let c = Client::builder("https://nebraska.test/v1/update")
        .app_id("kplug-plugin-hello")
        .version("1.0.0")
        .machine_id("m")
        .download_dir(dir.path())
        .transport(trickle.clone())
        .build()
        .unwrap();
    /// Waits no time at all, until stopped.
    struct Now;
    impl Clock for Now {
        fn wait(&self, _d: Duration, stop: &Stop) -> bool {
            !stop.is_stopped()
        }
    }
    let results = Arc::new(Mutex::new(Vec::new()));
    let seen = results.clone();
    let s = Scheduler::start_with(
        c,
        recorder(),
        Intervals::default(),
        Arc::new(Now),
        move |r| {
            seen.lock().unwrap().push(r.clone());
        },
    );
    while !trickle.0.log.lock().unwrap().iter().any(|l| l == "midway") {
        std::thread::yield_now();
    }
    // Stop from another thread (stop joins), then let the transport go on.
    let stopper = std::thread::spawn(move || s.stop());
    while !stopper.is_finished()
        && !trickle
            .0
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l == "stopping")
    {
        trickle.0.log.lock().unwrap().push("stopping".into());
    }
    stopper.join().unwrap();
    assert_eq!(*results.lock().unwrap(), [Err(Error::Cancelled)]);
    let log = trickle.0.log.lock().unwrap().clone();
    assert!(
        !log.iter()
            .any(|l| l.starts_with("14/") || l.starts_with("3/")),
        "no events after the stop: {log:?}"
    );
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing left behind"
    );
}
