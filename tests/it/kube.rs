//! A fake Kubernetes API server for the real `kubectl`: https on
//! 127.0.0.1 with a self-signed certificate, a bearer token, discovery
//! (`/version`, `/api`, `/apis`, the `cli.kplug.dev` group) and the
//! `CLIPlugin` list. Just enough for `kubectl get cliplugins.cli.kplug.dev
//! -A -o json` to work as against a cluster.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub const TOKEN: &str = "test-token-5f2c";

pub struct FakeApi {
    pub port: u16,
    /// PEM of the server's certificate (its own CA).
    pub ca_pem: String,
    /// `METHOD PATH bearer-ok` of each request.
    pub log: Arc<Mutex<Vec<String>>>,
    /// Serve the CRD's group (else kubectl finds no such resource type).
    pub crd: Arc<AtomicBool>,
    /// The CLIPlugin items listed.
    pub items: Arc<Mutex<Vec<serde_json::Value>>>,
    stop: Arc<AtomicBool>,
}

/// The real kubectl, or a failure saying how to get it.
pub fn kubectl() -> PathBuf {
    if let Ok(p) = which::which("kubectl") {
        return p;
    }
    for dir in ["/usr/bin", "/usr/local/bin", "/bin"] {
        let p = Path::new(dir).join("kubectl");
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "these tests drive the real kubectl: install it (apt-get install kubernetes-client, or the kubectl binary in /usr/local/bin)"
    )
}

pub fn cliplugin(name: &str, namespace: &str, version: &str, source: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "cli.kplug.dev/v1alpha1",
        "kind": "CLIPlugin",
        "metadata": {"name": name, "namespace": namespace, "uid": format!("{name}-{namespace}"), "resourceVersion": "1", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"recommendedVersion": version, "source": source, "description": "recommended here"}
    })
}

impl FakeApi {
    pub fn start() -> FakeApi {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let cert = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_string(),
            "localhost".to_string(),
        ])
        .expect("a self-signed certificate");
        let ca_pem = cert.cert.pem();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let config = Arc::new(
            rustls::ServerConfig::builder()
                .with_no_client_auth()
                .with_single_cert(vec![cert.cert.der().clone()], key)
                .expect("a TLS config"),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let api = FakeApi {
            port,
            ca_pem,
            log: Arc::default(),
            crd: Arc::new(AtomicBool::new(true)),
            items: Arc::default(),
            stop: Arc::default(),
        };
        let (log, crd, items, stop) = (
            api.log.clone(),
            api.crd.clone(),
            api.items.clone(),
            api.stop.clone(),
        );
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(tcp) = conn else { continue };
                let (config, log, crd, items) =
                    (config.clone(), log.clone(), crd.clone(), items.clone());
                std::thread::spawn(move || {
                    let Ok(server) = rustls::ServerConnection::new(config) else {
                        return;
                    };
                    let tls = rustls::StreamOwned::new(server, tcp);
                    serve(tls, &log, &crd, &items);
                });
            }
        });
        api
    }

    /// A kubeconfig with context `context` pointing here, with the token.
    pub fn kubeconfig(&self, context: &str) -> String {
        use base64::Engine;
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.ca_pem);
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {context}\n  cluster:\n    server: https://127.0.0.1:{}\n    certificate-authority-data: {ca}\ncontexts:\n- name: {context}\n  context:\n    cluster: {context}\n    user: {context}\ncurrent-context: {context}\nusers:\n- name: {context}\n  user:\n    token: {TOKEN}\n",
            self.port
        )
    }

    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve<S: Read + Write>(
    stream: S,
    log: &Mutex<Vec<String>>,
    crd: &AtomicBool,
    items: &Mutex<Vec<serde_json::Value>>,
) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let mut authorized = false;
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap_or((h, ""));
            match k.to_ascii_lowercase().as_str() {
                "authorization" => authorized = v.trim() == format!("Bearer {TOKEN}"),
                "content-length" => length = v.trim().parse().unwrap_or(0),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let path = target.split('?').next().unwrap_or("").to_string();
        log.lock().unwrap().push(format!(
            "{method} {path} {}",
            if authorized { "bearer-ok" } else { "no-token" }
        ));
        let (status, json) = if !authorized {
            (401, status_json(401, "Unauthorized"))
        } else {
            route(&path, crd.load(Ordering::SeqCst), items)
        };
        let reason = match status {
            200 => "OK",
            401 => "Unauthorized",
            _ => "Not Found",
        };
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            json.len()
        );
        let out = reader.get_mut();
        if out
            .write_all(head.as_bytes())
            .and_then(|_| out.write_all(json.as_bytes()))
            .and_then(|_| out.flush())
            .is_err()
        {
            return;
        }
    }
}

fn status_json(code: u16, message: &str) -> String {
    serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "code": code}).to_string()
}

const GROUP: &str = "cli.kplug.dev";
const GV: &str = "cli.kplug.dev/v1alpha1";

fn route(path: &str, crd: bool, items: &Mutex<Vec<serde_json::Value>>) -> (u16, String) {
    use serde_json::json;
    let ok = |v: serde_json::Value| (200, v.to_string());
    match path {
        "/version" => ok(
            json!({"major": "1", "minor": "31", "gitVersion": "v1.31.0", "platform": "linux/amd64"}),
        ),
        "/api" => ok(
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}),
        ),
        "/api/v1" => ok(
            json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": [
                {"name": "namespaces", "singularName": "namespace", "namespaced": false, "kind": "Namespace", "verbs": ["get", "list"]}
            ]}),
        ),
        "/apis" => {
            let groups = if crd {
                json!([{"name": GROUP, "versions": [{"groupVersion": GV, "version": "v1alpha1"}], "preferredVersion": {"groupVersion": GV, "version": "v1alpha1"}}])
            } else {
                json!([])
            };
            ok(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
        }
        "/apis/cli.kplug.dev/v1alpha1" if crd => ok(
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GV, "resources": [
                {"name": "cliplugins", "singularName": "cliplugin", "namespaced": true, "kind": "CLIPlugin", "verbs": ["get", "list", "create", "update", "patch", "delete", "watch"]}
            ]}),
        ),
        "/apis/cli.kplug.dev/v1alpha1/cliplugins" if crd => ok(json!({
            "apiVersion": GV, "kind": "CLIPluginList", "metadata": {"resourceVersion": "1"},
            "items": items.lock().unwrap().clone()
        })),
        _ => (
            404,
            status_json(404, "the server could not find the requested resource"),
        ),
    }
}
