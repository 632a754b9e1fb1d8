//! Release archives built inside the tests.

use crate::server::{FakeAsset, FakeRelease};
use std::io::Write;

/// The `<os>_<arch>` a release asset needs to be picked on this machine.
pub fn platform() -> &'static str {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => "linux_amd64",
        ("linux", "aarch64") => "linux_arm64",
        ("macos", "x86_64") => "darwin_amd64",
        ("macos", "aarch64") => "darwin_arm64",
        other => panic!("no test assets for {other:?}"),
    }
}

/// A plugin executable: INFO prints name and version (and writes its
/// environment to `$RECORD_ENV_TO` when set); RUN prints `name version`.
pub fn plugin_script(name: &str, version: &str, extra_info: &str) -> String {
    format!(
        "#!/bin/sh\nif [ \"$KPLUG_COMMAND\" = INFO ]; then\n  [ -n \"$RECORD_ENV_TO\" ] && env >> \"$RECORD_ENV_TO\"\n  printf 'protocols: [1]\\nname: {name}\\nversion: {version}\\n{extra_info}'\n  exit 0\nfi\necho \"{name} {version} $*\"\n"
    )
}

pub struct Entry<'a> {
    pub path: &'a str,
    pub body: &'a [u8],
    pub mode: u32,
}

pub fn tar_gz(entries: &[Entry<'_>]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(e.body.len() as u64);
        h.set_mode(e.mode);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, e.path, e.body).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

pub fn zip(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for e in entries {
        let opts = zip::write::SimpleFileOptions::default().unix_permissions(e.mode);
        w.start_file(e.path, opts).unwrap();
        w.write_all(e.body).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// The tar.gz a plugin author would publish for `name` `version`.
pub fn plugin_tar_gz(name: &str, version: &str) -> Vec<u8> {
    let script = plugin_script(name, version, "");
    tar_gz(&[
        Entry {
            path: &format!("kplug-{name}"),
            body: script.as_bytes(),
            mode: 0o755,
        },
        Entry {
            path: "README.md",
            body: b"# a plugin\n",
            mode: 0o644,
        },
    ])
}

/// A release of `kplug-<name>` with an asset for this platform (with
/// GitHub's digest) and one for another platform.
pub fn release(name: &str, version: &str) -> FakeRelease {
    release_with(name, version, plugin_tar_gz(name, version), true)
}

pub fn release_with(name: &str, version: &str, body: Vec<u8>, digest: bool) -> FakeRelease {
    let other = if platform().ends_with("arm64") {
        "linux_amd64"
    } else {
        "linux_arm64"
    };
    FakeRelease {
        tag: format!("v{version}"),
        prerelease: version.contains('-'),
        assets: vec![
            FakeAsset {
                name: format!("kplug-{name}_{version}_{}.tar.gz", platform()),
                body,
                digest,
            },
            FakeAsset {
                name: format!("kplug-{name}_{version}_{other}.tar.gz"),
                body: b"not for this machine".to_vec(),
                digest,
            },
        ],
    }
}
