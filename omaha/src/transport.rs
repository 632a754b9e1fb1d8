//! How requests and downloads reach the server: a small trait, and a
//! default on blocking reqwest (feature `reqwest`).

use std::io::Write;

/// A transport failure, in words for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError(pub String);

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// HTTP for the client. Implement it to bring your own stack (proxies,
/// custom TLS, a test double).
pub trait Transport: Send + Sync {
    /// POST `body` (`text/xml`) to `url`; the response body, at most
    /// `limit` bytes (more is an error). A status other than 200 is an
    /// error.
    fn post_xml(&self, url: &str, body: &[u8], limit: usize) -> Result<Vec<u8>, TransportError>;
    /// GET `url` into `out`, at most `limit` bytes (a longer body is cut
    /// there, or is an error); the number of bytes written. The client asks
    /// for one byte more than a package has, and tells more as a size
    /// mismatch.
    fn download(&self, url: &str, out: &mut dyn Write, limit: u64) -> Result<u64, TransportError>;
}

/// The default transport: blocking reqwest with rustls, timeouts on
/// connect and on each read.
#[cfg(feature = "reqwest")]
pub struct HttpTransport {
    client: reqwest::blocking::Client,
}

#[cfg(feature = "reqwest")]
impl HttpTransport {
    pub fn new(
        connect: std::time::Duration,
        read: std::time::Duration,
    ) -> Result<Self, TransportError> {
        // A redirect must keep to https (or loopback http), as the first
        // URL must.
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() >= 5 {
                attempt.error("too many redirects")
            } else if crate::check_url(attempt.url().as_str()).is_err() {
                attempt.error("a redirect to plain http is not followed")
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::blocking::Client::builder()
            .redirect(policy)
            .connect_timeout(connect)
            // The blocking client applies this to the wait for the response
            // head and to each read of the body (read through `Read`).
            .timeout(read)
            .user_agent(concat!("omaha-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TransportError(format!("could not set up HTTP: {e}")))?;
        Ok(HttpTransport { client })
    }
}

#[cfg(feature = "reqwest")]
impl Default for HttpTransport {
    fn default() -> Self {
        let s = std::time::Duration::from_secs;
        HttpTransport::new(s(10), s(30)).expect("a default HTTP client")
    }
}

#[cfg(feature = "reqwest")]
fn copy_bounded(
    mut from: impl std::io::Read,
    out: &mut dyn Write,
    limit: u64,
) -> Result<u64, TransportError> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = from
            .read(&mut buf)
            .map_err(|e| TransportError(format!("the transfer broke off: {e}")))?;
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
        if total > limit {
            return Err(TransportError(format!(
                "the answer is larger than {limit} bytes"
            )));
        }
        out.write_all(&buf[..n])
            .map_err(|e| TransportError(format!("could not write the download: {e}")))?;
    }
}

#[cfg(feature = "reqwest")]
impl Transport for HttpTransport {
    fn post_xml(&self, url: &str, body: &[u8], limit: usize) -> Result<Vec<u8>, TransportError> {
        let resp = self
            .client
            .post(url)
            .header("Content-Type", "text/xml")
            .body(body.to_vec())
            .send()
            .map_err(|e| TransportError(format!("could not reach {url}: {e}")))?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(TransportError(format!("{url} answered {}", resp.status())));
        }
        let mut out = Vec::new();
        copy_bounded(resp, &mut out, limit as u64)?;
        Ok(out)
    }

    fn download(&self, url: &str, out: &mut dyn Write, limit: u64) -> Result<u64, TransportError> {
        let resp = self
            .client
            .get(url)
            .send()
            .map_err(|e| TransportError(format!("could not reach {url}: {e}")))?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(TransportError(format!("{url} answered {}", resp.status())));
        }
        copy_bounded(resp, out, limit)
    }
}
