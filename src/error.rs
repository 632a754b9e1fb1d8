//! The error type every command returns to the top level.
//!
//! An [`Error`] carries what a user needs to act on a failure: the message
//! (what failed, naming the thing), the chain of causes, an optional hint
//! (what to try), and the process exit code it maps to ([`exit`]).
//! Module-level errors (protocol parse errors, I/O) are converted into it at
//! the edge with [`Error::context`] so messages read outside-in, like
//! `error: could not read X` / `caused by: permission denied`.

use std::fmt;

/// Exit codes of kplug itself (a callable's own code passes through).
pub mod exit {
    pub const OK: i32 = 0;
    pub const FAILED: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const VETOED: i32 = 3;
    pub const POST_HOOKS_FAILED: i32 = 4;
}

#[derive(Debug, Clone)]
pub struct Error {
    message: String,
    causes: Vec<String>,
    hints: Vec<String>,
    code: i32,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A failure (exit code 1).
    pub fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
            causes: Vec::new(),
            hints: Vec::new(),
            code: exit::FAILED,
        }
    }

    /// A usage error (exit code 2): bad name, unknown command, bad flag value.
    pub fn usage(message: impl Into<String>) -> Self {
        Error::new(message).with_code(exit::USAGE)
    }

    pub fn with_code(mut self, code: i32) -> Self {
        self.code = code;
        self
    }

    /// Add a hint (reported as `hint: …`); several may be given.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// Add a cause below the message (reported as `caused by: …`).
    pub fn caused_by(mut self, cause: impl fmt::Display) -> Self {
        self.causes.push(cause.to_string());
        self
    }

    /// Wrap this error in an outer message: the current message becomes the
    /// first cause.
    pub fn context(self, message: impl Into<String>) -> Self {
        let mut causes = Vec::with_capacity(self.causes.len() + 1);
        causes.push(self.message);
        causes.extend(self.causes);
        Error {
            message: message.into(),
            causes,
            hints: self.hints,
            code: self.code,
        }
    }

    /// Put `label` (what the error is about, among several) before the
    /// message: `team/registry: …`.
    pub fn labelled(mut self, label: &str) -> Self {
        self.message = format!("{label}: {}", self.message);
        self
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn causes(&self) -> &[String] {
        &self.causes
    }

    pub fn hints(&self) -> &[String] {
        &self.hints
    }

    pub fn code(&self) -> i32 {
        self.code
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        for cause in &self.causes {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// Attach a message to any displayable error, turning it into an [`Error`].
pub trait Context<T> {
    fn context(self, message: impl Into<String>) -> Result<T>;
    fn with_context<F: FnOnce() -> String>(self, f: F) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, message: impl Into<String>) -> Result<T> {
        self.map_err(|e| Error::new(message).caused_by(e))
    }

    fn with_context<F: FnOnce() -> String>(self, f: F) -> Result<T> {
        self.map_err(|e| Error::new(f()).caused_by(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_pushes_the_old_message_down() {
        let e = Error::usage("bad name")
            .with_hint("try x")
            .context("could not install");
        assert_eq!(e.message(), "could not install");
        assert_eq!(e.causes(), ["bad name"]);
        assert_eq!(e.hints(), ["try x"]);
        assert_eq!(e.code(), exit::USAGE);
        assert_eq!(e.to_string(), "could not install: bad name");
    }
}
