//! Unpacking an artifact into a staging directory ([`extract`]), and
//! finding the plugin's executable in what was unpacked ([`find_plugin`]).
//!
//! # Threat model
//!
//! The archive is hostile until proven otherwise. A checksum only proves we
//! got what was uploaded to the release, not that it is well-formed, and a
//! plugin author's account (or a mirror, or a `--url`) may be compromised. We
//! are about to *run* the plugin, so its content is out of scope here; what
//! this module defends is everything *around* `dest`. An archive may try to:
//!
//! * write outside `dest`: `../` components (zip-slip), absolute paths, a
//!   symlink pointing out followed by an entry written through it, a chain
//!   of symlinks that climbs out through another link, hard links to files
//!   outside;
//! * create device nodes, FIFOs or other special files;
//! * overwrite or follow something unpacked earlier (duplicate entries);
//! * exhaust disk, memory or CPU: decompression bombs, lying size fields,
//!   millions of entries, huge tar metadata records.
//!
//! Guarantees: nothing is created or written outside `dest`, not even
//! partially; every symlink created resolves, through every other link of
//! the archive, to a place inside `dest`; at most `max_bytes` of file
//! content is written (counted as written, never from declared sizes); at
//! most `max_entries` entries are looked at. On error `dest` may hold a
//! partial tree: the caller deletes the whole staging directory, so we do
//! not clean up. Out of scope: other local processes racing us inside
//! `dest` (staging is private to the user and taken under the kplug lock).

mod find;
mod unpack;

pub use find::find_plugin;

use super::asset::ArchiveKind;
use crate::config::Config;
use crate::error::{Error, Result};
use std::path::Path;

const MIB: u64 = 1024 * 1024;

/// Caps on what one archive may unpack to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes of file content written, in total.
    pub max_bytes: u64,
    /// Entries of any type (files, directories, links, tar global headers).
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        // Plugins are single executables of tens of MiB; these leave a wide
        // margin while keeping a bomb's damage small.
        Limits {
            max_bytes: 512 * MIB,
            max_entries: 10_000,
        }
    }
}

impl Limits {
    /// The limits of the config file (`install.maxUnpackedMib`,
    /// `install.maxEntries`).
    pub fn of(cfg: &Config) -> Result<Limits> {
        let i = &cfg.file()?.install;
        Ok(Limits {
            max_bytes: i.max_unpacked_mib.saturating_mul(MIB),
            max_entries: i.max_entries,
        })
    }
}

/// Unpack `archive` (of `kind`) into the existing empty directory `dest`.
/// `name` is the artifact's name where it came from (a release asset's, a
/// file's): errors name the archive by it, and a plain executable
/// ([`ArchiveKind::Binary`]) is copied to `dest/<name>` with mode 0755 when
/// it is a plain file name. Returns the number of bytes written.
pub fn extract(
    archive: &Path,
    kind: ArchiveKind,
    name: &str,
    dest: &Path,
    limits: Limits,
) -> Result<u64> {
    let label = crate::ui::escape(name).into_owned();
    match kind {
        ArchiveKind::TarGz => unpack::unpack_tar_gz(archive, &label, dest, limits),
        ArchiveKind::Zip => unpack::unpack_zip(archive, &label, dest, limits),
        ArchiveKind::Binary => unpack::unpack_binary(archive, &label, name, dest, limits),
        // xz would need a C library or a new dependency for one rare format;
        // every project publishing .tar.xz can publish .tar.gz as well.
        ArchiveKind::TarXz => Err(Error::new(format!(
            "cannot unpack {label}: unpacking .tar.xz is not supported by this kplug"
        ))
        .with_hint(
            "ask the plugin's author to also publish a .tar.gz or .zip asset for this platform",
        )),
    }
}

fn format_mib(bytes: u64) -> String {
    if bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    }
}
