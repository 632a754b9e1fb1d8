//! kplug: a plugin host for local Kubernetes cluster tooling.
//!
//! The library holds everything; the `kplug` binary is a thin shell around
//! [`cli::main`]. Modules, from the bottom up (each uses only those above
//! it in this list):
//!
//! * [`protocol`] — pure types of the exec protocol (no I/O);
//! * [`error`], [`clock`], [`fsutil`] — errors with causes and hints, time,
//!   atomic and bounded file access;
//! * [`config`] — the environment and config file, resolved once;
//! * [`kubeconfig`], [`scope`] — the user's kubeconfig, the active cluster
//!   and project;
//! * [`ui`] — output formats, messages, escaping of untrusted text;
//! * [`exec`] — spawning plugins: environment, timeouts, process groups,
//!   interrupts;
//! * [`store`] — the on-disk store: layout, receipts, the lock,
//!   transactions;
//! * [`discovery`] — finding plugins, the INFO cache;
//! * [`requirements`] — judging a plugin's contract;
//! * [`hooks`] — planning and firing lifecycle hooks, the journal;
//! * [`cluster`] — cluster engines (k3d, kind, the simulator);
//! * [`lifecycle`] — cluster operations with their hooks around them;
//! * [`install`] — sources, selection, the installer, version management;
//! * [`sync`] — what projects and clusters recommend, `kplug.lock`;
//! * [`authoring`] — scaffolding and validating plugins;
//! * [`cli`] — argument parsing and the commands.

pub mod authoring;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod discovery;
pub mod error;
pub mod exec;
pub mod fsutil;
pub mod hooks;
pub mod host;
pub mod install;
pub mod kubeconfig;
pub mod lifecycle;
pub mod protocol;
pub mod requirements;
pub mod scope;
pub mod store;
pub mod sync;
pub mod ui;

/// The version this source tree builds (Cargo.toml's).
pub const BUILT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where the binary keeps its version: a fixed-size slot after a marker, so
/// a release process can stamp a build with the version it publishes it
/// as without rebuilding (as `go build -ldflags -X` stamps Go binaries).
/// Nothing at run time can change it.
const SLOT_LEN: usize = 64;
const SLOT_MARKER: &[u8] = b"kplug-version-slot:";

const fn version_slot(version: &str) -> [u8; SLOT_LEN] {
    let mut slot = [0u8; SLOT_LEN];
    let mut i = 0;
    while i < SLOT_MARKER.len() {
        slot[i] = SLOT_MARKER[i];
        i += 1;
    }
    let v = version.as_bytes();
    let mut j = 0;
    while j < v.len() && i + j < SLOT_LEN {
        slot[i + j] = v[j];
        j += 1;
    }
    slot
}

#[used]
static VERSION_SLOT: [u8; SLOT_LEN] = version_slot(BUILT_VERSION);

/// The host's version, as plugins see it in `KPLUG_VERSION`: the one
/// stamped in the binary's version slot.
pub fn version() -> &'static str {
    static VERSION: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        let mut bytes = [0u8; SLOT_LEN];
        for (i, b) in bytes.iter_mut().enumerate() {
            // SAFETY: reading an initialised static byte; volatile keeps the
            // compiler from folding the slot into the build's version.
            *b = unsafe { std::ptr::read_volatile(VERSION_SLOT.as_ptr().add(i)) };
        }
        let value = &bytes[SLOT_MARKER.len()..];
        let end = value.iter().position(|b| *b == 0).unwrap_or(value.len());
        match std::str::from_utf8(&value[..end]) {
            Ok(v) if semver::Version::parse(v).is_ok() => Box::leak(v.to_string().into_boxed_str()),
            _ => BUILT_VERSION,
        }
    })
}
