//! The client with its default HTTP transport against a loopback Omaha
//! server that answers as Nebraska does and refuses any event pair
//! Nebraska would not record.

use base64::Engine as _;
use omaha_client::{Client, Outcome, Update, Updater};
use sha2::Digest as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// The pairs Nebraska's `event_type` table holds.
const ACCEPTED: [(u32, u32); 6] = [(3, 0), (3, 1), (3, 2), (13, 1), (14, 1), (800, 1)];

struct Server {
    url: String,
    events: Arc<Mutex<Vec<(u32, u32)>>>,
    refused: Arc<Mutex<Vec<String>>>,
}

fn attr(text: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    let start = text.find(&key)? + key.len();
    Some(text[start..start + text[start..].find('"')?].to_string())
}

fn start(payload: Vec<u8>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let events: Arc<Mutex<Vec<(u32, u32)>>> = Arc::default();
    let refused: Arc<Mutex<Vec<String>>> = Arc::default();
    let (ev, rf, base) = (events.clone(), refused.clone(), url.clone());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut tcp) = conn else { continue };
            let mut reader = BufReader::new(tcp.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut length = 0;
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let body = String::from_utf8_lossy(&body).into_owned();
            let (status, reply): (u16, Vec<u8>) = if line.starts_with("GET /dl/hello.tar.gz") {
                (200, payload.clone())
            } else if body.contains("<event ") {
                let pair = (
                    attr(&body, "eventtype").unwrap().parse().unwrap(),
                    attr(&body, "eventresult").unwrap().parse().unwrap(),
                );
                if ACCEPTED.contains(&pair) {
                    ev.lock().unwrap().push(pair);
                    (200, br#"<?xml version="1.0" encoding="UTF-8"?><response protocol="3.0" server="nebraska"><daystart elapsed_seconds="0"></daystart><app appid="kplug-plugin-hello" status="ok"><event status="ok"></event></app></response>"#.to_vec())
                } else {
                    rf.lock().unwrap().push(format!("{pair:?}"));
                    (400, Vec::new())
                }
            } else if attr(&body, "version").as_deref() == Some("1.1.0")
                || body.contains(r#"version="1.1.0""#)
            {
                (200, br#"<?xml version="1.0" encoding="UTF-8"?><response protocol="3.0" server="nebraska"><daystart elapsed_seconds="0"></daystart><app appid="kplug-plugin-hello" status="ok"><ping status="ok"></ping><updatecheck status="noupdate"></updatecheck></app></response>"#.to_vec())
            } else {
                let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
                (200, format!(
                    r#"<?xml version="1.0" encoding="UTF-8"?><response protocol="3.0" server="nebraska"><daystart elapsed_seconds="0"></daystart><app appid="kplug-plugin-hello" status="ok"><ping status="ok"></ping><updatecheck status="ok"><urls><url codebase="{base}/dl/"></url></urls><manifest version="1.1.0"><packages><package name="hello.tar.gz" hash="{}" size="{}" required="true"></package></packages><actions><action event="postinstall" sha256="{}" DisablePayloadBackoff="true"></action></actions></manifest></updatecheck></app></response>"#,
                    b64(&sha1::Sha1::digest(&payload)),
                    payload.len(),
                    b64(&sha2::Sha256::digest(&payload)),
                ).into_bytes())
            };
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                reply.len()
            );
            let _ = tcp.write_all(head.as_bytes());
            let _ = tcp.write_all(&reply);
        }
    });
    Server {
        url,
        events,
        refused,
    }
}

struct Keep(Vec<u8>);

impl Updater for Keep {
    fn apply(&mut self, _update: &Update, payload: &std::path::Path) -> Result<(), String> {
        self.0 = std::fs::read(payload).map_err(|e| e.to_string())?;
        Ok(())
    }
}

#[test]
fn an_update_over_http_sends_only_what_nebraska_records() {
    let payload = b"plugin bytes".repeat(1000);
    let server = start(payload.clone());
    let dir = tempfile::tempdir().unwrap();
    let client = Client::builder(&format!("{}/v1/update", server.url))
        .app_id("kplug-plugin-hello")
        .track("beta")
        .version("1.0.0")
        .machine_id("0123456789abcdef0123456789abcdef")
        .download_dir(dir.path())
        .build()
        .unwrap();
    let mut keep = Keep(Vec::new());
    let out = client.run_once(&mut keep).unwrap();
    assert_eq!(
        out,
        Outcome::Updated {
            version: "1.1.0".into(),
            weak_hash: false
        }
    );
    assert_eq!(keep.0, payload);
    assert_eq!(
        *server.events.lock().unwrap(),
        [(13, 1), (14, 1), (800, 1), (3, 1)]
    );
    assert!(server.refused.lock().unwrap().is_empty());
    // The updated client is up to date.
    let again = client.with_version("1.1.0").run_once(&mut keep).unwrap();
    assert_eq!(again, Outcome::NoUpdate);
}

#[test]
fn a_server_error_names_the_app_and_the_endpoint() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/update", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut tcp) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = tcp.read(&mut buf);
            let _ = tcp.write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    let client = Client::builder(&url)
        .app_id("kplug-plugin-hello")
        .version("1.0.0")
        .machine_id("m")
        .build()
        .unwrap();
    let e = client.check().unwrap_err();
    assert!(matches!(e, omaha_client::Error::Transport { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("kplug-plugin-hello") && text.contains(&url) && text.contains("500"),
        "{text}"
    );
}
