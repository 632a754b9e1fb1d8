//! Installing plugins: from a GitHub release, a URL or a local file into
//! the store.
//!
//! The pipeline (DESIGN §7): resolve the source → pick the asset for this
//! platform ([`asset`]) → download into staging, hashing as it streams
//! ([`download`]) → verify ([`verify`]) → extract safely ([`extract`]) →
//! find `kplug-<name>` → smoke-test it with INFO → move it into the store
//! and switch `current` (`store`). Every step may fail; a failure at any
//! step leaves the previous version live and nothing partial visible.

pub mod asset;
pub mod download;
pub mod extract;
pub mod github;
mod pipeline;
pub mod source;
pub mod verify;
pub mod versions;

pub use pipeline::{InstallOptions, Installed, Removed, install, remove};

/// The release asset carrying a plugin's INFO document (its contract),
/// read before the binary is downloaded; never a candidate for install.
pub const CONTRACT_ASSET: &str = "kplug-plugin.yaml";

/// How a release asset is packed, decided by its file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArchiveKind {
    /// `.tar.gz` or `.tgz`.
    TarGz,
    /// `.tar.xz` or `.txz` (recognised, not extracted: see [`extract`]).
    TarXz,
    /// `.zip`.
    Zip,
    /// A bare executable (no archive suffix).
    Binary,
}
