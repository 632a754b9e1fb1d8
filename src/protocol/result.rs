//! What a hook prints back: a result document on success, an error document
//! (CNI's shape) on failure, and the table of reserved error codes.

use super::ProtocolError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A hook's result. Every field is optional; empty stdout is an empty result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookResult {
    /// Extra arguments for the engine (honoured from `mutate` hooks only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub engine_args: Vec<String>,
    /// Key/value notes attached to the cluster (honoured from `mutate` hooks).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Lines for the user.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<String>,
}

impl HookResult {
    /// Parse a hook's stdout: nothing (or only white space) is an empty
    /// result; anything else must be one JSON object.
    pub fn parse(stdout: &[u8]) -> Result<HookResult, ProtocolError> {
        if stdout.iter().all(u8::is_ascii_whitespace) {
            return Ok(HookResult::default());
        }
        serde_json::from_slice(stdout)
            .map_err(|e| ProtocolError::new("result", format!("not valid JSON: {e}")))
    }
}

/// A hook's error document: `{"code": 20, "msg": "…", "details": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDoc {
    pub code: u32,
    pub msg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

impl ErrorDoc {
    /// Parse a failed hook's stdout as an error document; `None` when it is
    /// not one (the host then falls back to the tail of stderr).
    pub fn parse(stdout: &[u8]) -> Option<ErrorDoc> {
        serde_json::from_slice::<ErrorDoc>(stdout)
            .ok()
            .filter(|d| !d.msg.trim().is_empty())
    }
}

/// Reserved error codes (0–99); 100 and above are the plugin's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    IncompatibleProtocol = 1,
    UnsupportedField = 2,
    UnknownCluster = 3,
    BadInvocation = 4,
    Io = 5,
    Decode = 6,
    InvalidConfig = 7,
    TryAgainLater = 11,
    Vetoed = 20,
    /// Made by the host: the hook ran out of time.
    TimedOut = 21,
    /// Made by the host: the user interrupted the operation.
    Cancelled = 22,
    DependencyUnavailable = 50,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 12] = [
        ErrorCode::IncompatibleProtocol,
        ErrorCode::UnsupportedField,
        ErrorCode::UnknownCluster,
        ErrorCode::BadInvocation,
        ErrorCode::Io,
        ErrorCode::Decode,
        ErrorCode::InvalidConfig,
        ErrorCode::TryAgainLater,
        ErrorCode::Vetoed,
        ErrorCode::TimedOut,
        ErrorCode::Cancelled,
        ErrorCode::DependencyUnavailable,
    ];

    pub fn code(self) -> u32 {
        self as u32
    }

    pub fn from_code(code: u32) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.code() == code)
    }

    pub fn describe(self) -> &'static str {
        match self {
            ErrorCode::IncompatibleProtocol => "incompatible protocol version",
            ErrorCode::UnsupportedField => "unsupported field in the context",
            ErrorCode::UnknownCluster => "unknown cluster",
            ErrorCode::BadInvocation => "bad environment, command or event",
            ErrorCode::Io => "I/O error",
            ErrorCode::Decode => "could not decode the context",
            ErrorCode::InvalidConfig => "invalid plugin configuration",
            ErrorCode::TryAgainLater => "try again later",
            ErrorCode::Vetoed => "vetoed",
            ErrorCode::TimedOut => "timed out",
            ErrorCode::Cancelled => "cancelled",
            ErrorCode::DependencyUnavailable => "dependency unavailable",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code(), self.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_stdout_is_an_empty_result() {
        assert_eq!(HookResult::parse(b"").unwrap(), HookResult::default());
        assert_eq!(HookResult::parse(b" \n").unwrap(), HookResult::default());
    }

    #[test]
    fn parses_a_result_and_ignores_unknown_keys() {
        let r = HookResult::parse(
            br#"{"engineArgs":["--registry-use","k3d-registry:5000"],
                "annotations":{"registry":"k3d-registry:5000"},
                "messages":["attached"], "future": 1}"#,
        )
        .unwrap();
        assert_eq!(r.engine_args, ["--registry-use", "k3d-registry:5000"]);
        assert_eq!(r.annotations["registry"], "k3d-registry:5000");
        assert_eq!(r.messages, ["attached"]);
    }

    #[test]
    fn refuses_a_malformed_result() {
        let e = HookResult::parse(b"{\"engineArgs\": \"--x\"}").unwrap_err();
        assert!(e.to_string().contains("result document"), "{e}");
        assert!(HookResult::parse(b"registry attached").is_err());
    }

    #[test]
    fn error_documents() {
        let d = ErrorDoc::parse(br#"{"code":20,"msg":"registry port 5000 is busy","details":"x"}"#)
            .unwrap();
        assert_eq!((d.code, d.msg.as_str()), (20, "registry port 5000 is busy"));
        assert_eq!(ErrorDoc::parse(b"boom"), None);
        assert_eq!(ErrorDoc::parse(br#"{"code":5,"msg":" "}"#), None);
    }

    #[test]
    fn code_table() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(c.code()), Some(c));
        }
        assert_eq!(ErrorCode::Vetoed.code(), 20);
        assert_eq!(ErrorCode::from_code(100), None);
        assert_eq!(ErrorCode::Cancelled.to_string(), "22 (cancelled)");
    }
}
