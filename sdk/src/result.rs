//! What a hook prints back: a result on success, an error document on
//! failure.

use crate::code;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A hook's result (`docs/protocol.md` §9.2). Every part is optional; an
/// empty result prints nothing.
///
/// ```
/// use kplug_sdk::HookResult;
/// let r = HookResult::new()
///     .engine_args(["--registry-use", "k3d-registry:5000"])
///     .annotation("registry", "k3d-registry:5000")
///     .message("registry attached");
/// assert_eq!(
///     serde_json::to_string(&r).unwrap(),
///     r#"{"engineArgs":["--registry-use","k3d-registry:5000"],"annotations":{"registry":"k3d-registry:5000"},"messages":["registry attached"]}"#
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookResult {
    /// Extra arguments for the engine; honoured from `mutate` hooks only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub engine_args: Vec<String>,
    /// Notes attached to the cluster; honoured from `mutate` hooks only.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Lines shown to the user.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<String>,
}

impl HookResult {
    /// An empty result.
    pub fn new() -> HookResult {
        HookResult::default()
    }

    /// Add a line for the user.
    pub fn message(mut self, line: impl Into<String>) -> HookResult {
        self.messages.push(line.into());
        self
    }

    /// Add one engine argument.
    pub fn engine_arg(mut self, arg: impl Into<String>) -> HookResult {
        self.engine_args.push(arg.into());
        self
    }

    /// Add several engine arguments.
    pub fn engine_args<I, S>(mut self, args: I) -> HookResult
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.engine_args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Attach a note to the cluster.
    pub fn annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> HookResult {
        self.annotations.insert(key.into(), value.into());
        self
    }

    pub fn is_empty(&self) -> bool {
        self.engine_args.is_empty() && self.annotations.is_empty() && self.messages.is_empty()
    }
}

/// A hook's error document, in CNI's shape (`docs/protocol.md` §9.3):
/// `{"code": 20, "msg": "…", "details": "…"}`. Use the reserved codes of
/// [`code`] or your own from 100 up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDoc {
    pub code: u32,
    /// A non-empty message.
    pub msg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

impl ErrorDoc {
    pub fn new(code: u32, msg: impl Into<String>) -> ErrorDoc {
        ErrorDoc {
            code,
            msg: msg.into(),
            details: None,
        }
    }

    /// Add details (a cause, a command's output).
    pub fn details(mut self, details: impl Into<String>) -> ErrorDoc {
        self.details = Some(details.into());
        self
    }

    /// Code 20: the hook refuses the operation.
    pub fn vetoed(msg: impl Into<String>) -> ErrorDoc {
        ErrorDoc::new(code::VETOED, msg)
    }

    /// Code 4: the plugin does not handle this event.
    pub fn unhandled_event(event: &str) -> ErrorDoc {
        ErrorDoc::new(
            code::BAD_INVOCATION,
            format!("this plugin does not handle event `{event}`"),
        )
    }

    /// The document as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an error document always serialises")
    }
}

impl fmt::Display for ErrorDoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.msg, self.code)?;
        if let Some(d) = &self.details {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ErrorDoc {}

impl From<std::io::Error> for ErrorDoc {
    fn from(e: std::io::Error) -> ErrorDoc {
        ErrorDoc::new(code::IO, e.to_string())
    }
}
