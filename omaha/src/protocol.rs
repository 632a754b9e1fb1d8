//! The Omaha v3 wire format, as Nebraska reads and writes it.
//!
//! Requests are written here (attributes escaped); responses are parsed
//! into the shapes below, ignoring elements and attributes they do not
//! name. A response is refused before parsing when it is larger than
//! [`MAX_RESPONSE`] or nests deeper than [`MAX_DEPTH`].

use quick_xml::escape::escape;
use serde::Deserialize;

/// Largest response read.
pub const MAX_RESPONSE: usize = 1024 * 1024;
/// Deepest element nesting accepted (a real response nests 7 deep).
pub const MAX_DEPTH: usize = 32;

/// What a request says about the machine and the application.
#[derive(Debug, Clone)]
pub struct AppInfo<'a> {
    pub app_id: &'a str,
    pub version: &'a str,
    pub track: &'a str,
    pub machine_id: &'a str,
    pub boot_id: &'a str,
    pub platform: &'a str,
    pub arch: &'a str,
}

/// One `<event>` of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventBody<'a> {
    pub event_type: u32,
    pub result: u32,
    pub error_code: i32,
    pub previous_version: &'a str,
}

/// A request's body: `<request protocol="3.0">`, `<os/>`, one `<app>` with
/// an `<updatecheck/>` (with a `<ping/>`, which registers the machine) or
/// one `<event/>`.
pub fn request(app: &AppInfo<'_>, event: Option<EventBody<'_>>) -> String {
    let mut body = String::from(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    body.push_str(&format!(
        r#"<request protocol="3.0" version="omaha-client-{}" ismachine="1">"#,
        escape(env!("CARGO_PKG_VERSION"))
    ));
    body.push_str(&format!(
        r#"<os platform="{}" arch="{}"></os>"#,
        escape(app.platform),
        escape(app.arch)
    ));
    body.push_str(&format!(
        r#"<app appid="{}" version="{}" track="{}" machineid="{}" bootid="{}">"#,
        escape(app.app_id),
        escape(app.version),
        escape(app.track),
        escape(app.machine_id),
        escape(app.boot_id)
    ));
    match event {
        None => body.push_str(r#"<ping r="1"></ping><updatecheck></updatecheck>"#),
        Some(e) => {
            body.push_str(&format!(
                r#"<event eventtype="{}" eventresult="{}" errorcode="{}""#,
                e.event_type, e.result, e.error_code
            ));
            if !e.previous_version.is_empty() {
                body.push_str(&format!(
                    r#" previousversion="{}""#,
                    escape(e.previous_version)
                ));
            }
            body.push_str("></event>");
        }
    }
    body.push_str("</app></request>");
    body
}

#[derive(Debug, Deserialize)]
pub struct Response {
    #[serde(rename = "@protocol", default)]
    pub protocol: String,
    #[serde(rename = "app", default)]
    pub apps: Vec<App>,
}

#[derive(Debug, Deserialize)]
pub struct App {
    #[serde(rename = "@appid", default)]
    pub app_id: String,
    #[serde(rename = "@status", default)]
    pub status: String,
    #[serde(default)]
    pub updatecheck: Option<UpdateCheck>,
}

#[derive(Debug, Deserialize)]
pub struct UpdateCheck {
    #[serde(rename = "@status", default)]
    pub status: String,
    #[serde(default)]
    pub urls: Option<Urls>,
    /// One manifest (Omaha), or several (Nebraska's multi-step updates,
    /// the target marked `is_target`).
    #[serde(rename = "manifest", default)]
    pub manifests: Vec<Manifest>,
}

#[derive(Debug, Deserialize)]
pub struct Urls {
    #[serde(rename = "url", default)]
    pub urls: Vec<Url>,
}

#[derive(Debug, Deserialize)]
pub struct Url {
    #[serde(rename = "@codebase", default)]
    pub codebase: String,
}

#[derive(Debug, Deserialize)]
pub struct Manifest {
    #[serde(rename = "@version", default)]
    pub version: String,
    #[serde(rename = "@is_target", default)]
    pub is_target: Option<String>,
    #[serde(default)]
    pub packages: Option<Packages>,
    #[serde(default)]
    pub actions: Option<Actions>,
}

#[derive(Debug, Deserialize)]
pub struct Packages {
    #[serde(rename = "package", default)]
    pub packages: Vec<Package>,
}

#[derive(Debug, Deserialize)]
pub struct Package {
    #[serde(rename = "@name", default)]
    pub name: String,
    /// SHA-1, base64.
    #[serde(rename = "@hash", default)]
    pub hash: String,
    /// SHA-256, hex (Nebraska) or base64 (go-omaha).
    #[serde(rename = "@hash_sha256", default)]
    pub hash_sha256: String,
    #[serde(rename = "@size", default)]
    pub size: String,
    #[serde(rename = "@required", default)]
    pub required: String,
}

#[derive(Debug, Deserialize)]
pub struct Actions {
    #[serde(rename = "action", default)]
    pub actions: Vec<Action>,
}

#[derive(Debug, Deserialize)]
pub struct Action {
    #[serde(rename = "@event", default)]
    pub event: String,
    /// The payload's SHA-256, base64 (on `postinstall`).
    #[serde(rename = "@sha256", default)]
    pub sha256: String,
}

/// Why a response was not parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    TooLarge(usize),
    TooDeep,
    NotXml(String),
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::TooLarge(n) => write!(f, "the response is larger than {n} bytes"),
            ParseError::TooDeep => {
                write!(f, "the response nests more than {MAX_DEPTH} elements deep")
            }
            ParseError::NotXml(e) => write!(f, "the response is not an Omaha response: {e}"),
        }
    }
}

/// Parse a response body, bounded.
pub fn parse(body: &[u8]) -> Result<Response, ParseError> {
    if body.len() > MAX_RESPONSE {
        return Err(ParseError::TooLarge(MAX_RESPONSE));
    }
    let text = std::str::from_utf8(body).map_err(|_| ParseError::NotXml("not UTF-8".into()))?;
    check_depth(text)?;
    let response: Response =
        quick_xml::de::from_str(text).map_err(|e| ParseError::NotXml(e.to_string()))?;
    if response.protocol != "3.0" {
        return Err(ParseError::NotXml(format!(
            "protocol `{}`, not 3.0",
            response.protocol.chars().take(20).collect::<String>()
        )));
    }
    Ok(response)
}

/// Refuse deep nesting before serde recurses into it.
fn check_depth(text: &str) -> Result<(), ParseError> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut depth = 0usize;
    loop {
        match reader.read_event() {
            Ok(Event::Start(_)) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(ParseError::TooDeep);
                }
            }
            Ok(Event::End(_)) => depth = depth.saturating_sub(1),
            Ok(Event::Eof) => return Ok(()),
            Ok(Event::DocType(_)) => {
                return Err(ParseError::NotXml("a DOCTYPE is not accepted".into()));
            }
            Ok(_) => {}
            Err(e) => return Err(ParseError::NotXml(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_escapes_what_it_is_given() {
        let app = AppInfo {
            app_id: "kplug-plugin-hello",
            version: "1.0.0",
            track: "beta\"><x",
            machine_id: "m",
            boot_id: "b",
            platform: "linux",
            arch: "amd64",
        };
        let r = request(&app, None);
        assert!(r.contains(r#"track="beta&quot;&gt;&lt;x""#), "{r}");
        assert!(r.contains("<updatecheck></updatecheck>"));
        let e = request(
            &app,
            Some(EventBody {
                event_type: 3,
                result: 0,
                error_code: 9,
                previous_version: "0.9.0",
            }),
        );
        assert!(e.contains(
            r#"<event eventtype="3" eventresult="0" errorcode="9" previousversion="0.9.0"></event>"#
        ));
        assert!(!e.contains("updatecheck"));
    }

    #[test]
    fn the_update_engine_fixture_parses_and_unknowns_are_ignored() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<response protocol="3.0">
<daystart elapsed_seconds="49008"/>
<app appid="{87efface-864d-49a5-9bb3-4b050a7c227a}" status="ok">
<ping status="ok"/>
<updatecheck status="ok">
<urls>
<url codebase="http://kam:8080/static/"/>
</urls>
<manifest version="9999.0.0">
<packages>
<package hash="+LXvjiaPkeYDLHoNKlf9qbJwvnk=" name="update.gz" size="67546213"
required="true"/>
</packages>
<actions>
<action event="postinstall"
ChromeOSVersion="9999.0.0"
sha256="0VAlQW3RE99SGtSB5R4m08antAHO8XDoBMKDyxQT/Mg="
needsadmin="false"
IsDelta="True"
/>
</actions>
</manifest>
</updatecheck>
<unknown><deeper/></unknown>
</app>
</response>"#;
        let r = parse(xml.as_bytes()).unwrap();
        let check = r.apps[0].updatecheck.as_ref().unwrap();
        assert_eq!(check.status, "ok");
        assert_eq!(
            check.urls.as_ref().unwrap().urls[0].codebase,
            "http://kam:8080/static/"
        );
        let m = &check.manifests[0];
        assert_eq!(m.version, "9999.0.0");
        let p = &m.packages.as_ref().unwrap().packages[0];
        assert_eq!(
            (p.name.as_str(), p.size.as_str()),
            ("update.gz", "67546213")
        );
        assert_eq!(
            m.actions.as_ref().unwrap().actions[0].sha256,
            "0VAlQW3RE99SGtSB5R4m08antAHO8XDoBMKDyxQT/Mg="
        );
    }

    #[test]
    fn bad_responses_are_refused() {
        assert!(matches!(parse(b"not xml <"), Err(ParseError::NotXml(_))));
        assert!(matches!(
            parse(b"<html><body>hi</body></html>"),
            Err(ParseError::NotXml(_))
        ));
        let deep = format!(
            "<response protocol=\"3.0\">{}{}</response>",
            "<a>".repeat(100),
            "</a>".repeat(100)
        );
        assert_eq!(parse(deep.as_bytes()).unwrap_err(), ParseError::TooDeep);
        let big = vec![b' '; MAX_RESPONSE + 1];
        assert!(matches!(parse(&big), Err(ParseError::TooLarge(_))));
        let entity = r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><response protocol="3.0"></response>"#;
        assert!(matches!(
            parse(entity.as_bytes()),
            Err(ParseError::NotXml(_))
        ));
    }
}
