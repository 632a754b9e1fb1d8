//! A loopback HTTP/1.1 server for install tests, and a fake GitHub API on
//! top of it. It records every request (with headers), and a test can make
//! any route fail, stall, throttle or redirect.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    /// The body, when the request says its length (at most 1 MiB read).
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

pub enum Reply {
    Body {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Send the body in `chunk`-byte pieces, `delay` apart.
    Throttled {
        body: Vec<u8>,
        chunk: usize,
        delay: Duration,
    },
    /// Accept, read the request, answer nothing for a long time.
    Stall,
}

impl Reply {
    pub fn json(status: u16, body: impl Into<String>) -> Reply {
        Reply::Body {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.into().into_bytes(),
        }
    }

    pub fn bytes(body: Vec<u8>) -> Reply {
        Reply::Body {
            status: 200,
            headers: vec![],
            body,
        }
    }

    pub fn status(status: u16, headers: &[(&str, &str)]) -> Reply {
        Reply::Body {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: format!("{{\"message\":\"status {status}\"}}").into_bytes(),
        }
    }

    pub fn redirect(to: &str) -> Reply {
        Reply::status(302, &[("Location", to)])
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;
/// Replaces the fake API's answer when it returns `Some`.
pub type Override = Box<dyn Fn(&Request) -> Option<Reply> + Send + Sync>;

pub struct Server {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    /// Body bytes written so far (all routes).
    pub sent: Arc<AtomicU64>,
}

impl Server {
    /// Serve on `host` (e.g. "127.0.0.1", or "127.0.0.2" as a second host).
    pub fn start(
        host: &str,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> Server {
        let listener = TcpListener::bind((host, 0)).expect("bind a loopback port");
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let handler: Arc<Handler> = Arc::new(handler);
        let (reqs, stopped, count) = (requests.clone(), stop.clone(), sent.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (handler, reqs, count, stopped) = (
                    handler.clone(),
                    reqs.clone(),
                    count.clone(),
                    stopped.clone(),
                );
                thread::spawn(move || serve(conn, &*handler, &reqs, &count, &stopped));
            }
        });
        Server {
            addr,
            requests,
            stop,
            sent,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Stop accepting connections; the port then refuses.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(
    conn: TcpStream,
    handler: &Handler,
    reqs: &Mutex<Vec<Request>>,
    sent: &AtomicU64,
    stopped: &AtomicBool,
) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || stopped.load(Ordering::SeqCst) {
        return;
    }
    let method = line.split_whitespace().next().unwrap_or("GET").to_string();
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len.min(1 << 20)];
    if reader.read_exact(&mut body).is_err() {
        body.clear();
    }
    let req = Request {
        method,
        path,
        headers,
        body,
    };
    reqs.lock().unwrap().push(req.clone());
    let mut out = conn;
    match handler(&req) {
        Reply::Body {
            status,
            headers,
            body,
        } => {
            let mut head = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            let _ = out.write_all(head.as_bytes());
            if out.write_all(&body).is_ok() {
                sent.fetch_add(body.len() as u64, Ordering::SeqCst);
            }
        }
        Reply::Throttled { body, chunk, delay } => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = out.write_all(head.as_bytes());
            for piece in body.chunks(chunk) {
                if out.write_all(piece).is_err() || stopped.load(Ordering::SeqCst) {
                    return;
                }
                sent.fetch_add(piece.len() as u64, Ordering::SeqCst);
                thread::sleep(delay);
            }
        }
        Reply::Stall => {
            for _ in 0..600 {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
    let _ = out.flush();
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
}

/// One asset of a fake release.
#[derive(Clone)]
pub struct FakeAsset {
    pub name: String,
    pub body: Vec<u8>,
    /// Publish GitHub's `digest` field (`sha256:…`) for it.
    pub digest: bool,
}

#[derive(Clone)]
pub struct FakeRelease {
    pub tag: String,
    pub prerelease: bool,
    pub assets: Vec<FakeAsset>,
}

/// What a test can change while the fake GitHub runs.
#[derive(Default)]
pub struct Faults {
    /// Answer these many requests to any `/repos/` route with 500 first.
    pub fail_first: u32,
    /// Answer every API request with this reply-maker instead.
    pub override_api: Option<Override>,
    /// Throttle downloads of this asset.
    pub throttle: Option<String>,
    /// Redirect asset API downloads to this base URL (another host).
    pub asset_redirect: Option<String>,
    /// Releases per page of the list endpoint.
    pub per_page: Option<usize>,
}

pub struct FakeGitHub {
    pub server: Server,
    pub releases: Arc<Mutex<HashMap<String, Vec<FakeRelease>>>>,
    /// Repositories carrying the topic `kplug-plugin`, with their
    /// descriptions (what the repository search finds).
    pub topics: Arc<Mutex<Vec<(String, String)>>>,
    pub faults: Arc<Mutex<Faults>>,
    /// Requests to asset downloads (both URLs).
    pub asset_requests: Arc<AtomicU64>,
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl FakeGitHub {
    pub fn start() -> FakeGitHub {
        let releases: Arc<Mutex<HashMap<String, Vec<FakeRelease>>>> = Arc::default();
        let faults: Arc<Mutex<Faults>> = Arc::default();
        let asset_requests = Arc::new(AtomicU64::new(0));
        let base: Arc<Mutex<String>> = Arc::default();
        let topics: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let (r, f, b, ar, t) = (
            releases.clone(),
            faults.clone(),
            base.clone(),
            asset_requests.clone(),
            topics.clone(),
        );
        let server = Server::start("127.0.0.1", move |req| {
            if let Some(reply) = search(req, &t.lock().unwrap()) {
                return reply;
            }
            route(req, &r, &f, &b.lock().unwrap(), &ar)
        });
        *base.lock().unwrap() = server.url();
        FakeGitHub {
            server,
            releases,
            topics,
            faults,
            asset_requests,
        }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Publish a release (newest last).
    pub fn publish(&self, repo: &str, release: FakeRelease) {
        self.releases
            .lock()
            .unwrap()
            .entry(repo.into())
            .or_default()
            .push(release);
    }
}

/// `GET /search/repositories?q=topic:kplug-plugin user:OWNER`.
fn search(req: &Request, topics: &[(String, String)]) -> Option<Reply> {
    let (path, query) = req.path.split_once('?')?;
    if path != "/search/repositories" {
        return None;
    }
    let q = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("q="))?
        .replace("%3A", ":")
        .replace(['+'], " ")
        .replace("%20", " ");
    let owner = q.split(' ').find_map(|w| w.strip_prefix("user:"))?;
    if !q.contains("topic:kplug-plugin") {
        return Some(Reply::json(422, r#"{"message":"no topic"}"#));
    }
    let items: Vec<serde_json::Value> = topics
        .iter()
        .filter(|(repo, _)| repo.split('/').next() == Some(owner))
        .map(|(repo, d)| serde_json::json!({"full_name": repo, "description": d, "html_url": format!("https://github.com/{repo}")}))
        .collect();
    Some(Reply::json(
        200,
        serde_json::json!({"total_count": items.len(), "items": items}).to_string(),
    ))
}

fn release_json(repo: &str, rel: &FakeRelease, base: &str) -> serde_json::Value {
    let assets: Vec<serde_json::Value> = rel
        .assets
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let mut v = serde_json::json!({
                "id": i,
                "name": a.name,
                "size": a.body.len(),
                "url": format!("{base}/repos/{repo}/releases/assets/{}/{}", rel.tag, a.name),
                "browser_download_url": format!("{base}/dl/{repo}/{}/{}", rel.tag, a.name),
            });
            if a.digest {
                v["digest"] = format!("sha256:{}", sha256_hex(&a.body)).into();
            }
            v
        })
        .collect();
    serde_json::json!({"tag_name": rel.tag, "prerelease": rel.prerelease, "draft": false, "assets": assets})
}

fn route(
    req: &Request,
    releases: &Mutex<HashMap<String, Vec<FakeRelease>>>,
    faults: &Mutex<Faults>,
    base: &str,
    asset_requests: &AtomicU64,
) -> Reply {
    let mut f = faults.lock().unwrap();
    if let Some(o) = &f.override_api
        && let Some(reply) = o(req)
    {
        return reply;
    }
    if req.path.starts_with("/repos/") && f.fail_first > 0 {
        f.fail_first -= 1;
        return Reply::status(500, &[]);
    }
    let path = req.path.split('?').next().unwrap_or_default();
    let query = req.path.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let releases = releases.lock().unwrap();
    let find = |repo: &str, tag: &str| {
        releases
            .get(repo)
            .and_then(|rs| rs.iter().find(|r| r.tag == tag))
            .cloned()
    };
    let asset_body = |repo: &str, tag: &str, name: &str| {
        find(repo, tag)
            .and_then(|r| r.assets.into_iter().find(|a| a.name == name))
            .map(|a| a.body)
    };
    let serve_asset = |body: Vec<u8>, name: &str| match &f.throttle {
        Some(t) if t == name => Reply::Throttled {
            body,
            chunk: 16 * 1024,
            delay: Duration::from_millis(20),
        },
        _ => Reply::bytes(body),
    };
    match parts.as_slice() {
        ["repos", o, r, "releases", "latest"] => {
            let repo = format!("{o}/{r}");
            match releases
                .get(&repo)
                .and_then(|rs| rs.iter().rev().find(|r| !r.prerelease))
            {
                Some(rel) => Reply::json(200, release_json(&repo, rel, base).to_string()),
                None => Reply::json(404, r#"{"message":"Not Found"}"#),
            }
        }
        ["repos", o, r, "releases", "tags", tag] => {
            let repo = format!("{o}/{r}");
            match find(&repo, tag) {
                Some(rel) => Reply::json(200, release_json(&repo, &rel, base).to_string()),
                None => Reply::json(404, r#"{"message":"Not Found"}"#),
            }
        }
        ["repos", o, r, "releases"] => {
            let repo = format!("{o}/{r}");
            let Some(all) = releases.get(&repo) else {
                return Reply::json(404, r#"{"message":"Not Found"}"#);
            };
            // GitHub lists newest first.
            let newest_first: Vec<&FakeRelease> = all.iter().rev().collect();
            let per = f.per_page.unwrap_or(100);
            let page: usize = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("page="))
                .and_then(|p| p.parse().ok())
                .unwrap_or(1);
            let items: Vec<serde_json::Value> = newest_first
                .iter()
                .skip((page - 1) * per)
                .take(per)
                .map(|rel| release_json(&repo, rel, base))
                .collect();
            let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
            if page * per < newest_first.len() {
                headers.push((
                    "Link".into(),
                    format!(
                        "<{base}/repos/{repo}/releases?per_page={per}&page={}>; rel=\"next\"",
                        page + 1
                    ),
                ));
            }
            Reply::Body {
                status: 200,
                headers,
                body: serde_json::Value::from(items).to_string().into_bytes(),
            }
        }
        ["repos", o, r, "releases", "assets", tag, name] => {
            asset_requests.fetch_add(1, Ordering::SeqCst);
            if let Some(other) = &f.asset_redirect {
                return Reply::redirect(&format!(
                    "{other}/blob/{o}/{r}/{tag}/{name}?signature=abc"
                ));
            }
            match asset_body(&format!("{o}/{r}"), tag, name) {
                Some(body) => serve_asset(body, name),
                None => Reply::json(404, r#"{"message":"Not Found"}"#),
            }
        }
        ["dl", o, r, tag, name] => {
            asset_requests.fetch_add(1, Ordering::SeqCst);
            match asset_body(&format!("{o}/{r}"), tag, name) {
                Some(body) => serve_asset(body, name),
                None => Reply::status(404, &[]),
            }
        }
        _ => Reply::json(404, r#"{"message":"Not Found"}"#),
    }
}
