//! HTTP for every source: one blocking client with kplug's timeouts and
//! retries, redirects followed by hand so that a credential reaches only
//! the origin it belongs to, and bodies read within a size cap.
//!
//! What a server sends is data: bodies are read through a cap (an endless
//! response costs a bounded amount of memory), each read waits at most
//! `network.readTimeout` (a slow but flowing response works, a stalled one
//! fails), and URLs in messages lose their query string and user info
//! (signed URLs and `https://user:token@…` carry secrets).

use super::download::{self, Fetched};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::protocol;
use reqwest::blocking::{Client, Response};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue, LOCATION, USER_AGENT};
use reqwest::{Method, StatusCode, Url};
use std::io::Read;
use std::path::Path;
use std::time::Duration;

/// Most redirects followed for one request.
const MAX_REDIRECTS: usize = 10;

/// The body of a request.
pub enum Payload {
    Empty,
    Bytes(Vec<u8>),
    /// A file of `len` bytes, streamed (opened again for a retry).
    File {
        path: std::path::PathBuf,
        len: u64,
    },
}

/// A credential and the one origin it may be sent to.
struct Credential {
    origin: Url,
    header: HeaderValue,
}

pub struct Http {
    /// Built on first use: setting up TLS reads the system's certificates,
    /// which a command that turns out to need no network should not pay.
    client: std::cell::OnceCell<Client>,
    connect_timeout: Duration,
    attempts: u32,
    read_timeout: Duration,
    credential: Option<Credential>,
    /// Headers sent with every request (API versions and the like).
    headers: HeaderMap,
}

/// Whether two URLs share scheme, host and port.
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// A URL for messages: no user info, query string or fragment.
pub fn display_url(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// [`display_url`] of a URL given as text (unparseable text is cut at the
/// first `?`).
pub fn display_text(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => display_url(&u),
        Err(_) => url.split(['?', '#']).next().unwrap_or_default().to_string(),
    }
}

impl Http {
    pub fn new(cfg: &Config) -> Result<Http> {
        let net = &cfg.file()?.network;
        let mut headers = HeaderMap::new();
        headers.insert(
            USER_AGENT,
            HeaderValue::from_str(&format!("kplug/{}", crate::version()))
                .expect("the version is a valid header value"),
        );
        Ok(Http {
            client: std::cell::OnceCell::new(),
            connect_timeout: net.connect_timeout.0,
            attempts: net.attempts.max(1),
            read_timeout: net.read_timeout.0,
            credential: None,
            headers,
        })
    }

    /// Send `Authorization: <value>` to `origin`'s requests only. `what`
    /// names the credential in the error when it cannot be sent.
    pub fn with_credential(mut self, origin: &Url, value: &str, what: &str) -> Result<Http> {
        let mut header = HeaderValue::from_str(value)
            .map_err(|_| Error::usage(format!("{what} contains characters that cannot be sent")))?;
        header.set_sensitive(true);
        self.credential = Some(Credential {
            origin: origin.clone(),
            header,
        });
        Ok(self)
    }

    /// Send `name: value` with every request.
    pub fn with_header(mut self, name: &'static str, value: &'static str) -> Http {
        self.headers.insert(name, HeaderValue::from_static(value));
        self
    }

    pub fn has_credential(&self) -> bool {
        self.credential.is_some()
    }

    fn client(&self) -> Result<&Client> {
        if let Some(c) = self.client.get() {
            return Ok(c);
        }
        let client = Client::builder()
            // Redirects are followed by `get`, which decides per hop whether
            // the credential may go along.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.connect_timeout)
            // The blocking client applies this to the wait for the response
            // head and to each read of the body (bodies are read through
            // `Read`, never `bytes()`, which would bound the whole body).
            .timeout(self.read_timeout)
            .build()
            .map_err(|e| Error::new("could not set up HTTPS").caused_by(e))?;
        Ok(self.client.get_or_init(|| client))
    }

    /// GET `url`, following redirects and retrying transient failures with
    /// backoff. Returns the final response whatever its status.
    pub fn get(&self, url: Url, accept: &str) -> Result<Response> {
        self.get_with(url, accept, &HeaderMap::new())
    }

    /// [`Http::get`] with more request headers (conditional requests:
    /// `If-None-Match`, `If-Modified-Since`).
    pub fn get_with(&self, url: Url, accept: &str, extra: &HeaderMap) -> Result<Response> {
        self.send(Method::GET, url, accept, extra, &Payload::Empty)
    }

    /// Any request. GET and HEAD follow redirects; an `Authorization` among
    /// `extra` goes only to `url`'s origin (a redirect to blob storage on
    /// another host gets none), and a redirect from https to plain http is
    /// refused unless it stays on a loopback address. Transient failures
    /// are retried with backoff (the payload is sent again).
    pub fn send(
        &self,
        method: Method,
        url: Url,
        accept: &str,
        extra: &HeaderMap,
        body: &Payload,
    ) -> Result<Response> {
        let follow = method == Method::GET || method == Method::HEAD;
        let mut url = url;
        let mut extra = extra.clone();
        for _ in 0..MAX_REDIRECTS {
            let resp = self.send_once(&method, &url, accept, &extra, body)?;
            if follow
                && resp.status().is_redirection()
                && let Some(next) = resp.headers().get(LOCATION).and_then(|l| l.to_str().ok())
            {
                let next = url.join(next).map_err(|e| {
                    Error::new(format!(
                        "{} redirected to an invalid URL",
                        url.origin().ascii_serialization()
                    ))
                    .caused_by(e)
                })?;
                // A hop leaves https only for a loopback address (or stays
                // on the plain-http origin it was already on).
                if next.scheme() != "https"
                    && !same_origin(&next, &url)
                    && super::inventory::check_fetchable(&next).is_err()
                {
                    return Err(Error::new(format!(
                        "{} redirected to {}, which is not https; refusing it",
                        display_url(&url),
                        display_url(&next)
                    )));
                }
                if !same_origin(&next, &url) {
                    extra.remove(AUTHORIZATION);
                }
                url = next;
                continue;
            }
            return Ok(resp);
        }
        Err(Error::new(format!(
            "too many redirects fetching {}",
            display_url(&url)
        )))
    }

    fn send_once(
        &self,
        method: &Method,
        url: &Url,
        accept: &str,
        extra: &HeaderMap,
        body: &Payload,
    ) -> Result<Response> {
        let mut delay = Duration::from_millis(250);
        let mut attempt = 1;
        loop {
            let mut req = self
                .client()?
                .request(method.clone(), url.clone())
                .headers(self.headers.clone())
                .headers(extra.clone())
                .header(ACCEPT, accept);
            if let Some(c) = &self.credential
                && same_origin(url, &c.origin)
            {
                req = req.header(AUTHORIZATION, c.header.clone());
            }
            // An upload must be sent whole within the request's timeout:
            // it gets the read timeout plus what 64 KiB/s needs for it.
            let upload = match body {
                Payload::Empty => 0,
                Payload::Bytes(b) => b.len() as u64,
                Payload::File { len, .. } => *len,
            };
            if upload > 0 {
                req = req.timeout(self.read_timeout + Duration::from_secs(upload / (64 * 1024)));
            }
            req = match body {
                Payload::Empty => req,
                Payload::Bytes(b) => req.body(b.clone()),
                Payload::File { path, len } => {
                    let f = std::fs::File::open(path).map_err(|e| {
                        Error::new(format!("could not read {}", path.display())).caused_by(e)
                    })?;
                    req.body(reqwest::blocking::Body::sized(f, *len))
                }
            };
            let result = req.send();
            // A request that may have reached the server is sent again only
            // when repeating it changes nothing (a POST the server recorded,
            // an Omaha event, must not be recorded twice).
            let repeatable = method.is_idempotent();
            let transient = match &result {
                Ok(r) => {
                    repeatable
                        && matches!(
                            r.status(),
                            StatusCode::INTERNAL_SERVER_ERROR
                                | StatusCode::BAD_GATEWAY
                                | StatusCode::SERVICE_UNAVAILABLE
                                | StatusCode::GATEWAY_TIMEOUT
                        )
                }
                // A refused connection sent nothing; a reset one may be a
                // blip; a timeout already waited long enough.
                Err(e) => e.is_connect() || (repeatable && e.is_request() && !e.is_timeout()),
            };
            if transient && attempt < self.attempts {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(4));
                attempt += 1;
                continue;
            }
            return result.map_err(|e| self.transport_error(url, e));
        }
    }

    /// A failed request as a message that names the server, never the
    /// credential or the query string.
    pub fn transport_error(&self, url: &Url, e: reqwest::Error) -> Error {
        let what = if e.is_timeout() {
            format!(
                "{} did not answer within {}",
                display_url(url),
                protocol::format_duration(self.read_timeout)
            )
        } else if e.is_connect() {
            format!(
                "could not connect to {}",
                url.origin().ascii_serialization()
            )
        } else {
            format!("the request to {} failed", display_url(url))
        };
        Error::new(what)
            .caused_by(error_chain(e))
            .with_hint("check the network and the address, then try again")
    }

    /// Read a whole (small) body: a JSON page, a checksums file, a contract.
    /// Refused past `limit` bytes; each read waits at most the read timeout.
    pub fn read_body(&self, resp: Response, limit: u64, what: &str) -> Result<Vec<u8>> {
        let mut body = Vec::new();
        resp.take(limit + 1)
            .read_to_end(&mut body)
            .map_err(|e| Error::new(format!("{what}: the response broke off")).caused_by(e))?;
        if body.len() as u64 > limit {
            return Err(Error::new(format!(
                "{what}: the response is larger than {} KiB; refusing it",
                limit / 1024
            )));
        }
        Ok(body)
    }

    /// Stream a body into a new file at `dest`, hashing as it goes, at most
    /// `max_bytes`. `label` names it in progress and errors.
    pub fn save(
        &self,
        resp: Response,
        dest: &Path,
        max_bytes: u64,
        label: &str,
    ) -> Result<Fetched> {
        let total = resp.content_length();
        download::save(resp, dest, max_bytes, total, label)
    }
}

/// reqwest's error and its sources, without the URL it carries (which may
/// hold a query string or user info).
fn error_chain(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut out = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        out = format!("{out}: {s}");
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let a = Url::parse("http://127.0.0.1:8080/api/").unwrap();
        assert!(same_origin(
            &a,
            &Url::parse("http://127.0.0.1:8080/x").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("http://127.0.0.2:8080/x").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("http://127.0.0.1:8081/x").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("https://127.0.0.1:8080/x").unwrap()
        ));
    }

    #[test]
    fn urls_in_messages_lose_their_secrets() {
        let u = Url::parse("https://objects.example/x.tar.gz?X-Amz-Signature=secret").unwrap();
        assert_eq!(display_url(&u), "https://objects.example/x.tar.gz");
        let u = Url::parse("https://user:tok3n@ghe.example/api/v3/").unwrap();
        assert_eq!(display_url(&u), "https://ghe.example/api/v3/");
        assert_eq!(display_text("https://h/x?sig=1#f"), "https://h/x");
        assert_eq!(display_text("not a url?secret"), "not a url");
    }
}
