//! Protocol v1: the pure types of kplug's exec protocol.
//!
//! This module owns what crosses the boundary between kplug and a plugin:
//! the environment variable names, the INFO document a plugin prints, the
//! EXEC context kplug writes to a hook's stdin, the result and error
//! documents a hook prints back, the error-code table, plugin names and
//! protocol-version negotiation. It performs no I/O: spawning plugins is
//! `exec`'s job, finding them is `discovery`'s. `docs/protocol.md` is the
//! specification these types implement.

mod context;
mod duration;
mod event;
mod info;
pub mod names;
mod result;
pub mod yaml;

pub use context::{ClusterContext, ExecContext, HostContext, Node, PluginContext, Spec};
pub use duration::{MAX_DURATION, Timeout, format_duration, parse_duration};
pub use event::{Event, Mode};
pub use info::{DEFAULT_ORDER, HookDecl, Info, PluginRequirement, RawContract, Requires};
pub use result::{ErrorCode, ErrorDoc, HookResult};

use std::fmt;

/// Protocol versions this host speaks, oldest first.
pub const SUPPORTED_PROTOCOLS: &[u32] = &[1];

/// The protocol version this host speaks best; what a callable (RUN) is told.
pub const CURRENT_PROTOCOL: u32 = 1;

/// Prefix of every plugin executable: `kplug-<name>`.
pub const EXECUTABLE_PREFIX: &str = "kplug-";

/// Environment variables of the protocol, set by the host for each plugin
/// process (the names come from `kplug-sdk`, shared with Rust plugins). Any
/// inherited variable starting with [`env::PREFIX`] is removed before these
/// are set, so none can be spoofed from outside.
pub use kplug_sdk::env;

/// What the host asks of a plugin process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Describe yourself: print an INFO document.
    Info,
    /// Handle one hook event: context on stdin, result on stdout.
    Exec,
    /// A callable invocation with the user's argv.
    Run,
}

impl Command {
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Info => "INFO",
            Command::Exec => "EXEC",
            Command::Run => "RUN",
        }
    }
}

/// Nesting limit: a plugin at depth 8 may not start another plugin.
pub const MAX_DEPTH: u32 = 8;

/// Pick the highest protocol version both sides speak.
pub fn negotiate(plugin_protocols: &[u32]) -> Option<u32> {
    SUPPORTED_PROTOCOLS
        .iter()
        .rev()
        .copied()
        .find(|v| plugin_protocols.contains(v))
}

/// A document from a plugin that does not follow the protocol.
///
/// `field` is the path of the offending field (`hooks[1].timeout`) when the
/// problem is in one; the caller adds the plugin's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    pub document: &'static str,
    pub field: Option<String>,
    pub problem: String,
}

impl ProtocolError {
    pub(crate) fn new(document: &'static str, problem: impl Into<String>) -> Self {
        ProtocolError {
            document,
            field: None,
            problem: problem.into(),
        }
    }

    pub(crate) fn field(
        document: &'static str,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        ProtocolError {
            document,
            field: Some(field.into()),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{} document: `{field}`: {}", self.document, self.problem),
            None => write!(f, "{} document: {}", self.document, self.problem),
        }
    }
}

impl std::error::Error for ProtocolError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_picks_the_highest_common_version() {
        assert_eq!(negotiate(&[1]), Some(1));
        assert_eq!(negotiate(&[1, 2, 3]), Some(1));
        assert_eq!(negotiate(&[99]), None);
        assert_eq!(negotiate(&[]), None);
    }
}
