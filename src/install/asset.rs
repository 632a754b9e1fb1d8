//! Asset choice: given the file names of a release's assets, decide which
//! one to install for a plugin on a platform.
//!
//! This module owns the naming heuristics and nothing else: what an
//! archive suffix means ([`archive_kind`]), which files are checksums,
//! signatures or metadata ([`is_auxiliary`]), how OS and architecture
//! aliases are read out of a name, and how candidates are ranked
//! ([`select`]). It is pure — no I/O, no environment other than the
//! compile-time target in [`Platform::host`] — so every rule is pinned by
//! a table test against real projects' release names.

use std::cmp::Ordering;
use std::fmt;

/// How an artifact is packed, decided by its file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArchiveKind {
    /// `.tar.gz` or `.tgz`.
    #[serde(rename = "tar.gz")]
    TarGz,
    /// `.tar.xz` or `.txz` (recognised, not extracted: see
    /// [`super::extract`]).
    #[serde(rename = "tar.xz")]
    TarXz,
    /// `.zip`.
    Zip,
    /// A bare executable (no archive suffix).
    Binary,
}

/// An operating system kplug runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    Linux,
    MacOs,
    Windows,
}

/// A CPU architecture kplug runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
    /// 32-bit ARM (v5–v7): one family here, because `target_arch` does not
    /// tell the sub-versions apart either.
    Arm,
    X86,
}

/// The platform an asset must run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Platform {
    pub os: Os,
    pub arch: Arch,
    /// Linux with musl libc (meaningless, and always false, elsewhere).
    pub musl: bool,
}

impl Os {
    /// As an inventory names it (Go's names, as release assets spell them).
    pub fn inventory_name(self) -> &'static str {
        match self {
            Os::Linux => "linux",
            Os::MacOs => "darwin",
            Os::Windows => "windows",
        }
    }

    /// From an inventory's `os` (or a common alias).
    pub fn from_name(name: &str) -> Option<Os> {
        match name {
            "linux" => Some(Os::Linux),
            "darwin" | "macos" => Some(Os::MacOs),
            "windows" => Some(Os::Windows),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Os::Linux => "linux",
            Os::MacOs => "macos",
            Os::Windows => "windows",
        }
    }
}

impl Arch {
    /// As an inventory names it.
    pub fn inventory_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Aarch64 => "arm64",
            Arch::Arm => "arm",
            Arch::X86 => "386",
        }
    }

    /// From an inventory's `arch` (or a common alias).
    pub fn from_name(name: &str) -> Option<Arch> {
        match name {
            "amd64" | "x86_64" => Some(Arch::X86_64),
            "arm64" | "aarch64" => Some(Arch::Aarch64),
            "arm" => Some(Arch::Arm),
            "386" | "x86" => Some(Arch::X86),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
            Arch::Arm => "arm",
            Arch::X86 => "x86",
        }
    }
}

impl Platform {
    /// The platform this binary was built for, or `None` where kplug has
    /// no notion of which assets would run (e.g. FreeBSD, RISC-V).
    pub fn host() -> Option<Platform> {
        let os = if cfg!(target_os = "linux") {
            Os::Linux
        } else if cfg!(target_os = "macos") {
            Os::MacOs
        } else if cfg!(target_os = "windows") {
            Os::Windows
        } else {
            return None;
        };
        let arch = if cfg!(target_arch = "x86_64") {
            Arch::X86_64
        } else if cfg!(target_arch = "aarch64") {
            Arch::Aarch64
        } else if cfg!(target_arch = "arm") {
            Arch::Arm
        } else if cfg!(target_arch = "x86") {
            Arch::X86
        } else {
            return None;
        };
        let musl = os == Os::Linux && cfg!(target_env = "musl");
        Some(Platform { os, arch, musl })
    }

    /// For messages: `linux/x86_64 (glibc)`, `linux/aarch64 (musl)`,
    /// `macos/aarch64`. The libc is only named on Linux, where it changes
    /// which asset is chosen.
    pub fn describe(&self) -> String {
        let mut text = format!("{}/{}", self.os.name(), self.arch.name());
        if self.os == Os::Linux {
            text.push_str(if self.musl { " (musl)" } else { " (glibc)" });
        }
        text
    }
}

// ---------------------------------------------------------------------------
// Archive kinds and auxiliary files

/// Suffixes that decide the kind outright, longest first so that
/// `.tar.gz` wins over a bare `.gz`.
const KNOWN_SUFFIXES: &[(&str, Option<ArchiveKind>)] = &[
    (".appimage", None),
    (".tar.bz2", None),
    (".tar.zst", None),
    (".tar.gz", Some(ArchiveKind::TarGz)),
    (".tar.xz", Some(ArchiveKind::TarXz)),
    (".tbz2", None),
    (".tzst", None),
    (".snap", None),
    (".tar", None),
    (".tgz", Some(ArchiveKind::TarGz)),
    (".txz", Some(ArchiveKind::TarXz)),
    (".zip", Some(ArchiveKind::Zip)),
    (".exe", Some(ArchiveKind::Binary)),
    (".deb", None),
    (".rpm", None),
    (".apk", None),
    (".msi", None),
    (".pkg", None),
    (".dmg", None),
    (".bz2", None),
    (".zst", None),
    (".7z", None),
    (".gz", None),
    (".xz", None),
];

/// The archive type by longest known suffix (case-insensitive):
/// `.tar.gz`/`.tgz` → TarGz, `.tar.xz`/`.txz` → TarXz, `.zip` → Zip, no
/// extension or `.exe` → Binary; `None` for anything that is never an
/// installable plugin asset: auxiliary files (see [`is_auxiliary`]), OS
/// packages (`.deb .rpm .apk .msi .pkg .dmg .snap .AppImage`), archives we
/// do not read (`.tar.bz2 .tar.zst .7z …`) and any other extension
/// (`.txt .json .yaml .md .html .sh …`).
pub fn archive_kind(name: &str) -> Option<ArchiveKind> {
    if is_auxiliary(name) {
        return None;
    }
    let lower = name.to_ascii_lowercase();
    if let Some((_, kind)) = KNOWN_SUFFIXES
        .iter()
        .find(|(suffix, _)| lower.ends_with(suffix))
    {
        return *kind;
    }
    // What follows the last dot is only an extension if it looks like one.
    // Release binaries are full of dots that are not: versions
    // (`ripgrep-14.1.1-x86_64-unknown-linux-musl`, `tool-v1.2`) and sops'
    // `sops-v3.9.1.linux.amd64`, so a tail that starts with a digit,
    // contains a separator, or is itself an OS/arch word keeps the asset a
    // bare binary; any other word (`.txt`, `.json`, `.sh`, `.ps1`) is a file
    // we would not know how to install.
    match lower.rsplit_once('.') {
        Some((_, tail)) if looks_like_extension(tail) => None,
        _ => Some(ArchiveKind::Binary),
    }
}

fn looks_like_extension(tail: &str) -> bool {
    tail.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && tail.bytes().all(|b| b.is_ascii_alphanumeric())
        && !ALIASES.iter().any(|(alias, _)| *alias == tail)
}

/// Suffixes of checksum, signature, attestation and SBOM files.
const AUXILIARY_SUFFIXES: &[&str] = &[
    ".sha256",
    ".sha256sum",
    ".sha512",
    ".sha512sum",
    ".sha1",
    ".md5",
    ".sum",
    ".sig",
    ".asc",
    ".minisig",
    ".pem",
    ".cert",
    ".crt",
    ".pub",
    ".sbom",
    ".spdx",
    ".spdx.json",
    ".cdx.json",
    ".cdx.xml",
    ".intoto.jsonl",
    ".bundle",
    ".sigstore",
    ".sigstore.json",
];

/// Words that mark a checksum list wherever they appear in a name:
/// `checksums.txt`, `gh_2.63.0_checksums.txt`, `SHA256SUMS`,
/// `sops-v3.9.1.checksums.txt`, and yq's extension-less `checksums` and
/// `checksums_hashes_order`.
const AUXILIARY_WORDS: &[&str] = &[
    "checksum",
    "sha256sum",
    "sha512sum",
    "sha1sum",
    "md5sum",
    "sbom",
];

/// Checksum, signature, SBOM and metadata files: never candidates (the
/// verifier reads some of them; nothing installs them). `checksums.txt`,
/// `*checksums*`, `SHA256SUMS`, `SHA512SUMS`, `*.sha256`, `*.sha256sum`,
/// `*.sha512`, `*.md5`, `*.sig`, `*.asc`, `*.pem`, `*.cert`, `*.crt`,
/// `*.sbom`, `*.spdx`, `*.spdx.json`, `*.cdx.json`, `*.intoto.jsonl`,
/// `*.bundle`, `kplug-plugin.yaml`, and names containing `sbom`.
pub fn is_auxiliary(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == super::CONTRACT_ASSET
        || AUXILIARY_SUFFIXES
            .iter()
            .any(|suffix| lower.ends_with(suffix))
        || AUXILIARY_WORDS.iter().any(|word| lower.contains(word))
}

// ---------------------------------------------------------------------------
// Reading OS and arch out of a name

/// What an alias says about an asset.
#[derive(Debug, Clone, Copy)]
enum Tag {
    Os(Os),
    /// `win32`/`win64`: Windows, and by convention an arch — used only when
    /// the name spells no arch itself (`foo-win32-x64.zip` is x86_64).
    OsImplyingArch(Os, Arch),
    OtherOs,
    Arch(Arch),
    OtherArch,
    /// `universal`/`all`: a fat macOS binary, any arch (macOS only).
    Universal,
}

const ALIASES: &[(&str, Tag)] = &[
    ("linux", Tag::Os(Os::Linux)),
    ("darwin", Tag::Os(Os::MacOs)),
    ("macos", Tag::Os(Os::MacOs)),
    ("macosx", Tag::Os(Os::MacOs)),
    ("apple", Tag::Os(Os::MacOs)),
    ("osx", Tag::Os(Os::MacOs)),
    ("mac", Tag::Os(Os::MacOs)),
    ("windows", Tag::Os(Os::Windows)),
    ("win64", Tag::OsImplyingArch(Os::Windows, Arch::X86_64)),
    ("win32", Tag::OsImplyingArch(Os::Windows, Arch::X86)),
    ("win", Tag::Os(Os::Windows)),
    ("freebsd", Tag::OtherOs),
    ("netbsd", Tag::OtherOs),
    ("openbsd", Tag::OtherOs),
    ("dragonfly", Tag::OtherOs),
    ("dragonflybsd", Tag::OtherOs),
    ("illumos", Tag::OtherOs),
    ("solaris", Tag::OtherOs),
    ("android", Tag::OtherOs),
    ("ios", Tag::OtherOs),
    ("aix", Tag::OtherOs),
    ("plan9", Tag::OtherOs),
    ("x86_64", Tag::Arch(Arch::X86_64)),
    ("x86-64", Tag::Arch(Arch::X86_64)),
    ("amd64", Tag::Arch(Arch::X86_64)),
    ("x64", Tag::Arch(Arch::X86_64)),
    // Hugo-style `Linux-64bit` meant amd64 long before arm64 was common.
    ("64bit", Tag::Arch(Arch::X86_64)),
    ("aarch64", Tag::Arch(Arch::Aarch64)),
    ("arm64", Tag::Arch(Arch::Aarch64)),
    ("armv8", Tag::Arch(Arch::Aarch64)),
    ("armv7l", Tag::Arch(Arch::Arm)),
    ("armv7", Tag::Arch(Arch::Arm)),
    ("armv6l", Tag::Arch(Arch::Arm)),
    ("armv6", Tag::Arch(Arch::Arm)),
    ("armv5", Tag::Arch(Arch::Arm)),
    ("armhf", Tag::Arch(Arch::Arm)),
    ("armel", Tag::Arch(Arch::Arm)),
    ("arm", Tag::Arch(Arch::Arm)),
    ("gnueabihf", Tag::Arch(Arch::Arm)),
    ("i686", Tag::Arch(Arch::X86)),
    ("i586", Tag::Arch(Arch::X86)),
    ("i386", Tag::Arch(Arch::X86)),
    ("386", Tag::Arch(Arch::X86)),
    ("x86", Tag::Arch(Arch::X86)),
    ("32bit", Tag::Arch(Arch::X86)),
    ("ia32", Tag::Arch(Arch::X86)),
    ("ppc64le", Tag::OtherArch),
    ("ppc64", Tag::OtherArch),
    ("ppc", Tag::OtherArch),
    ("powerpc64le", Tag::OtherArch),
    ("powerpc64", Tag::OtherArch),
    ("powerpc", Tag::OtherArch),
    ("s390x", Tag::OtherArch),
    ("riscv64", Tag::OtherArch),
    ("riscv64gc", Tag::OtherArch),
    ("mips64le", Tag::OtherArch),
    ("mips64el", Tag::OtherArch),
    ("mips64", Tag::OtherArch),
    ("mipsle", Tag::OtherArch),
    ("mipsel", Tag::OtherArch),
    ("mips", Tag::OtherArch),
    ("loong64", Tag::OtherArch),
    ("loongarch64", Tag::OtherArch),
    ("sparc64", Tag::OtherArch),
    ("sparcv9", Tag::OtherArch),
    ("wasm32", Tag::OtherArch),
    ("wasm", Tag::OtherArch),
    ("universal", Tag::Universal),
    ("universal2", Tag::Universal),
    ("all", Tag::Universal),
];

/// What a name says about the platform it is built for. `None` in `oses`
/// and `arches` stands for one we do not run on.
#[derive(Debug, Default)]
struct Mentions {
    oses: Vec<Option<Os>>,
    arches: Vec<Option<Arch>>,
    implied_arch: Option<Arch>,
    universal: bool,
}

/// Byte written over a matched alias. It is a separator, so it cannot be
/// part of another alias, and it cannot create a boundary that was not
/// there: a match is always bounded by separators already.
const MASK: u8 = b' ';

fn is_boundary(byte: Option<&u8>) -> bool {
    byte.is_none_or(|b| !b.is_ascii_alphanumeric())
}

/// Where `needle` occurs in `hay` as a whole token: the bytes either side
/// are the ends of the string or not ASCII letters/digits.
fn token_positions(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return Vec::new();
    }
    (0..=hay.len() - needle.len())
        .filter(|&at| {
            let end = at + needle.len();
            &hay[at..end] == needle
                && is_boundary(at.checked_sub(1).and_then(|i| hay.get(i)))
                && is_boundary(hay.get(end))
                && !inside_version(hay, at, end, needle)
        })
        .collect()
}

/// A numeric alias (`386`) between dots and digits is a version component
/// (`tool_1.386.0`), not an arch.
fn inside_version(hay: &[u8], at: usize, end: usize, needle: &[u8]) -> bool {
    if !needle.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let before = at >= 2 && hay[at - 1] == b'.' && hay[at - 2].is_ascii_digit();
    let after = hay.get(end) == Some(&b'.') && hay.get(end + 1).is_some_and(u8::is_ascii_digit);
    before || after
}

/// Read OS and arch aliases out of `lower` (already lower-cased, with the
/// plugin's own name masked), longest alias first, masking each match so
/// that `x86_64` is not read again as `x86`.
fn mentions(lower: &str) -> Mentions {
    let mut hay = lower.as_bytes().to_vec();
    let mut aliases: Vec<&(&str, Tag)> = ALIASES.iter().collect();
    aliases.sort_by_key(|(alias, _)| std::cmp::Reverse(alias.len()));

    let mut found = Mentions::default();
    for (alias, tag) in aliases {
        for at in token_positions(&hay, alias.as_bytes()) {
            hay[at..at + alias.len()].fill(MASK);
            match *tag {
                Tag::Os(os) => found.oses.push(Some(os)),
                Tag::OsImplyingArch(os, arch) => {
                    found.oses.push(Some(os));
                    found.implied_arch = Some(arch);
                }
                Tag::OtherOs => found.oses.push(None),
                Tag::Arch(arch) => found.arches.push(Some(arch)),
                Tag::OtherArch => found.arches.push(None),
                Tag::Universal => found.universal = true,
            }
        }
    }
    if lower.ends_with(".exe") {
        found.oses.push(Some(Os::Windows));
    }
    if found.arches.is_empty() {
        found.arches.extend(found.implied_arch.map(Some));
    }
    found
}

/// Mask the first whole-token occurrence of the plugin's name, so that a
/// plugin called `mac-tools` or `arm-lint` is not read as an OS or arch.
/// Returns whether the name was found.
fn mask_plugin_name(lower: &mut String, plugin: &str) -> bool {
    let Some(at) = token_positions(lower.as_bytes(), plugin.as_bytes())
        .first()
        .copied()
    else {
        return false;
    };
    lower.replace_range(at..at + plugin.len(), &" ".repeat(plugin.len()));
    true
}

// ---------------------------------------------------------------------------
// Ranking

/// How well a candidate fits. Fields compare in declaration order, higher
/// is better — the order of the rules in docs/install.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Score {
    /// 1: names our OS; 0: names no OS.
    os: u8,
    /// 2: names our arch; 1: macOS universal; 0: names no arch.
    arch: u8,
    /// 1: the plugin's name appears (kubectx releases also carry kubens).
    named: u8,
    /// How well the libc/toolchain tag suits the host, see [`libc_score`].
    libc: u8,
    /// TarGz > Zip > Binary > TarXz (which the extractor cannot unpack).
    kind: u8,
}

fn kind_score(kind: ArchiveKind) -> u8 {
    match kind {
        ArchiveKind::TarGz => 3,
        ArchiveKind::Zip => 2,
        ArchiveKind::Binary => 1,
        ArchiveKind::TarXz => 0,
    }
}

/// glibc hosts want `gnu` or untagged builds (a musl/static build runs, but
/// is the fallback); musl hosts want `musl`/`static`, then untagged (Go
/// binaries are usually static), and a `gnu` build last. On Windows the
/// MSVC build is the primary one, `gnu` (MinGW) the alternative.
fn libc_score(tokens: &[&str], platform: &Platform) -> u8 {
    let has = |pred: &dyn Fn(&str) -> bool| tokens.iter().any(|t| pred(t));
    let musl = has(&|t| t.starts_with("musl"));
    let static_ = has(&|t| t == "static");
    let gnu = has(&|t| t == "glibc" || t.starts_with("gnu"));
    match platform.os {
        Os::Linux if platform.musl => {
            if musl || static_ {
                2
            } else if gnu {
                0
            } else {
                1
            }
        }
        Os::Linux => u8::from(!(musl || static_)) + 1,
        Os::Windows => u8::from(!gnu) + 1,
        Os::MacOs => 0,
    }
}

#[derive(Debug)]
struct Candidate<'a> {
    index: usize,
    name: &'a str,
    kind: ArchiveKind,
    score: Score,
}

/// Score `name`, or `None` if it is not a candidate for this platform.
fn candidate<'a>(
    index: usize,
    name: &'a str,
    plugin: &str,
    platform: &Platform,
) -> Option<Candidate<'a>> {
    let kind = archive_kind(name)?;
    let mut lower = name.to_ascii_lowercase();
    let named = mask_plugin_name(&mut lower, plugin)
        || (!plugin.is_empty() && mask_plugin_name(&mut lower, &format!("kplug-{plugin}")));
    let found = mentions(&lower);

    // Never another OS, never another arch — not even as a last resort: an
    // emulated or wrong binary fails later and far more confusingly.
    if found.oses.iter().any(|os| *os != Some(platform.os)) {
        return None;
    }
    if found.arches.iter().any(|arch| *arch != Some(platform.arch)) {
        return None;
    }
    let tokens: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .collect();
    // A platform-less `source.tar.gz` / `tool-1.0-src.tar.gz` (cargo-dist
    // ships one next to its builds) is code, not something to run.
    let platformless = found.oses.is_empty() && found.arches.is_empty();
    if platformless
        && tokens
            .iter()
            .any(|t| matches!(*t, "src" | "source" | "sources"))
    {
        return None;
    }

    let arch = if !found.arches.is_empty() {
        2
    } else if found.universal && platform.os == Os::MacOs {
        1
    } else {
        0
    };
    let score = Score {
        os: u8::from(!found.oses.is_empty()),
        arch,
        named: u8::from(named),
        libc: libc_score(&tokens, platform),
        kind: kind_score(kind),
    };
    Some(Candidate {
        index,
        name,
        kind,
        score,
    })
}

/// The chosen asset: its position in the list given to [`select`], its name
/// and how it is packed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub index: usize,
    pub name: String,
    pub kind: ArchiveKind,
}

/// No asset fits: what was looked for and every asset the release has, so
/// the user can see at a glance whether the project simply does not build
/// for their platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoMatch {
    pub looked_for: String,
    pub seen: Vec<String>,
}

impl fmt::Display for NoMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no asset for {}", self.looked_for)?;
        // Names come from the server: escaped, so none can start a line.
        let seen: Vec<String> = self
            .seen
            .iter()
            .map(|s| crate::ui::escape(s).into_owned())
            .collect();
        match seen.len() {
            0 => write!(f, ": the release has no assets"),
            1 => write!(f, " in the release, whose only asset is {}", seen[0]),
            n => write!(
                f,
                " among the {n} assets of the release: {}",
                seen.join(", ")
            ),
        }
    }
}

impl std::error::Error for NoMatch {}

/// The one OS and architecture an asset's file name says it is for, read
/// with the same aliases as [`select`] (the plugin's own name masked, so a
/// plugin called `arm-lint` is not read as an arch). `None` when the name
/// says none, or more than one.
pub fn platform_of(name: &str, plugin: &str) -> Option<(Os, Arch)> {
    let mut lower = name.to_ascii_lowercase();
    let plugin = plugin.to_ascii_lowercase();
    if !plugin.is_empty() && !mask_plugin_name(&mut lower, &plugin) {
        mask_plugin_name(&mut lower, &format!("kplug-{plugin}"));
    }
    let found = mentions(&lower);
    let one = |v: &[Option<Os>]| {
        let first = (*v.first()?)?;
        v.iter().all(|o| *o == Some(first)).then_some(first)
    };
    let os = one(&found.oses)?;
    let first = (*found.arches.first()?)?;
    found
        .arches
        .iter()
        .all(|a| *a == Some(first))
        .then_some((os, first))
}

/// Pick the asset to install for `plugin` (the plugin name, e.g.
/// `registry`; a `kplug-` prefix is tolerated) on `platform`.
///
/// Candidates are the assets with an [`archive_kind`] that name neither
/// another OS nor another arch. The best wins by, in order: names our OS;
/// names our arch (or is a macOS universal build); names the plugin; suits
/// the host's libc; archive kind (TarGz > Zip > Binary > TarXz); then the
/// shorter name, then the lexicographically smaller, so the choice is
/// deterministic.
pub fn select(assets: &[&str], plugin: &str, platform: &Platform) -> Result<Choice, NoMatch> {
    let plugin_lower = plugin.to_ascii_lowercase();
    let plugin_key = plugin_lower.strip_prefix("kplug-").unwrap_or(&plugin_lower);
    assets
        .iter()
        .enumerate()
        .filter_map(|(index, name)| candidate(index, name, plugin_key, platform))
        .min_by(|a, b| rank(a, b))
        .map(|best| Choice {
            index: best.index,
            name: best.name.to_string(),
            kind: best.kind,
        })
        .ok_or_else(|| NoMatch {
            looked_for: if plugin.is_empty() {
                platform.describe()
            } else {
                format!("{plugin} on {}", platform.describe())
            },
            seen: assets.iter().map(|name| name.to_string()).collect(),
        })
}

/// `Less` means `a` is the better choice.
fn rank(a: &Candidate<'_>, b: &Candidate<'_>) -> Ordering {
    b.score
        .cmp(&a.score)
        .then(a.name.len().cmp(&b.name.len()))
        .then(a.name.cmp(b.name))
        .then(a.index.cmp(&b.index))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINUX_X64: Platform = Platform {
        os: Os::Linux,
        arch: Arch::X86_64,
        musl: false,
    };
    const LINUX_X64_MUSL: Platform = Platform {
        os: Os::Linux,
        arch: Arch::X86_64,
        musl: true,
    };
    const LINUX_ARM64: Platform = Platform {
        os: Os::Linux,
        arch: Arch::Aarch64,
        musl: false,
    };
    const LINUX_ARM64_MUSL: Platform = Platform {
        os: Os::Linux,
        arch: Arch::Aarch64,
        musl: true,
    };
    const LINUX_ARM: Platform = Platform {
        os: Os::Linux,
        arch: Arch::Arm,
        musl: false,
    };
    const LINUX_X86: Platform = Platform {
        os: Os::Linux,
        arch: Arch::X86,
        musl: false,
    };
    const MAC_ARM64: Platform = Platform {
        os: Os::MacOs,
        arch: Arch::Aarch64,
        musl: false,
    };
    const MAC_X64: Platform = Platform {
        os: Os::MacOs,
        arch: Arch::X86_64,
        musl: false,
    };
    const WIN_X64: Platform = Platform {
        os: Os::Windows,
        arch: Arch::X86_64,
        musl: false,
    };
    const WIN_ARM64: Platform = Platform {
        os: Os::Windows,
        arch: Arch::Aarch64,
        musl: false,
    };

    /// The chosen name, checking that `index` and `kind` agree with it.
    fn pick(assets: &[&str], plugin: &str, platform: Platform) -> String {
        match select(assets, plugin, &platform) {
            Ok(choice) => {
                assert_eq!(assets[choice.index], choice.name);
                assert_eq!(archive_kind(&choice.name), Some(choice.kind));
                choice.name
            }
            Err(e) => panic!("{} on {}: {e}", plugin, platform.describe()),
        }
    }

    fn no_match(assets: &[&str], plugin: &str, platform: Platform) -> NoMatch {
        match select(assets, plugin, &platform) {
            Ok(choice) => panic!(
                "expected no match on {}, got {choice:?}",
                platform.describe()
            ),
            Err(e) => e,
        }
    }

    // -- real projects --------------------------------------------------

    const K3D: &[&str] = &[
        "checksums.txt",
        "k3d-darwin-amd64",
        "k3d-darwin-arm64",
        "k3d-linux-386",
        "k3d-linux-amd64",
        "k3d-linux-arm",
        "k3d-linux-arm64",
        "k3d-windows-amd64.exe",
    ];

    #[test]
    fn k3d_bare_binaries() {
        assert_eq!(pick(K3D, "k3d", LINUX_X64), "k3d-linux-amd64");
        assert_eq!(pick(K3D, "k3d", LINUX_ARM64), "k3d-linux-arm64");
        assert_eq!(pick(K3D, "k3d", LINUX_ARM), "k3d-linux-arm");
        assert_eq!(pick(K3D, "k3d", LINUX_X86), "k3d-linux-386");
        assert_eq!(pick(K3D, "k3d", MAC_ARM64), "k3d-darwin-arm64");
        assert_eq!(pick(K3D, "k3d", MAC_X64), "k3d-darwin-amd64");
        assert_eq!(pick(K3D, "k3d", WIN_X64), "k3d-windows-amd64.exe");
        assert_eq!(
            select(K3D, "k3d", &LINUX_X64).unwrap().kind,
            ArchiveKind::Binary
        );
        no_match(K3D, "k3d", WIN_ARM64);
    }

    const KIND: &[&str] = &[
        "kind-darwin-amd64",
        "kind-darwin-amd64.sha256sum",
        "kind-darwin-arm64",
        "kind-darwin-arm64.sha256sum",
        "kind-linux-amd64",
        "kind-linux-amd64.sha256sum",
        "kind-linux-arm64",
        "kind-linux-arm64.sha256sum",
        "kind-windows-amd64",
        "kind-windows-amd64.sha256sum",
    ];

    #[test]
    fn kind_bare_binaries_with_sha256sum_files() {
        assert_eq!(pick(KIND, "kind", LINUX_X64), "kind-linux-amd64");
        assert_eq!(pick(KIND, "kind", LINUX_ARM64), "kind-linux-arm64");
        assert_eq!(pick(KIND, "kind", MAC_ARM64), "kind-darwin-arm64");
        // kind's Windows binary has no `.exe`; the OS word is enough.
        assert_eq!(pick(KIND, "kind", WIN_X64), "kind-windows-amd64");
        no_match(KIND, "kind", LINUX_ARM);
    }

    const K9S: &[&str] = &[
        "checksums.sha256",
        "k9s_Darwin_amd64.tar.gz",
        "k9s_Darwin_arm64.tar.gz",
        "k9s_Freebsd_amd64.tar.gz",
        "k9s_Linux_amd64.tar.gz",
        "k9s_Linux_arm64.tar.gz",
        "k9s_Linux_armv7.tar.gz",
        "k9s_Linux_ppc64le.tar.gz",
        "k9s_Linux_s390x.tar.gz",
        "k9s_Windows_amd64.zip",
        "k9s_Windows_arm64.zip",
        "k9s_Windows_armv7.zip",
        "k9s_linux_amd64.apk",
        "k9s_linux_amd64.deb",
        "k9s_linux_amd64.rpm",
        "k9s_linux_arm64.apk",
        "k9s_linux_arm64.deb",
        "k9s_linux_arm64.rpm",
    ];

    #[test]
    fn k9s_capitalised_goreleaser_names() {
        assert_eq!(pick(K9S, "k9s", LINUX_X64), "k9s_Linux_amd64.tar.gz");
        assert_eq!(pick(K9S, "k9s", LINUX_X64_MUSL), "k9s_Linux_amd64.tar.gz");
        assert_eq!(pick(K9S, "k9s", LINUX_ARM64), "k9s_Linux_arm64.tar.gz");
        assert_eq!(pick(K9S, "k9s", LINUX_ARM), "k9s_Linux_armv7.tar.gz");
        assert_eq!(pick(K9S, "k9s", MAC_ARM64), "k9s_Darwin_arm64.tar.gz");
        assert_eq!(pick(K9S, "k9s", WIN_ARM64), "k9s_Windows_arm64.zip");
    }

    const STERN: &[&str] = &[
        "checksums.txt",
        "stern_1.31.0_darwin_amd64.tar.gz",
        "stern_1.31.0_darwin_arm64.tar.gz",
        "stern_1.31.0_linux_amd64.tar.gz",
        "stern_1.31.0_linux_arm.tar.gz",
        "stern_1.31.0_linux_arm64.tar.gz",
        "stern_1.31.0_windows_amd64.tar.gz",
    ];

    #[test]
    fn stern_versioned_goreleaser_names() {
        assert_eq!(
            pick(STERN, "stern", LINUX_X64),
            "stern_1.31.0_linux_amd64.tar.gz"
        );
        assert_eq!(
            pick(STERN, "stern", LINUX_ARM64),
            "stern_1.31.0_linux_arm64.tar.gz"
        );
        assert_eq!(
            pick(STERN, "stern", LINUX_ARM),
            "stern_1.31.0_linux_arm.tar.gz"
        );
        assert_eq!(
            pick(STERN, "stern", MAC_ARM64),
            "stern_1.31.0_darwin_arm64.tar.gz"
        );
        assert_eq!(
            pick(STERN, "stern", WIN_X64),
            "stern_1.31.0_windows_amd64.tar.gz"
        );
    }

    const RIPGREP: &[&str] = &[
        "ripgrep-14.1.1-aarch64-apple-darwin.tar.gz",
        "ripgrep-14.1.1-aarch64-apple-darwin.tar.gz.sha256",
        "ripgrep-14.1.1-aarch64-unknown-linux-gnu.tar.gz",
        "ripgrep-14.1.1-aarch64-unknown-linux-gnu.tar.gz.sha256",
        "ripgrep-14.1.1-armv7-unknown-linux-gnueabihf.tar.gz",
        "ripgrep-14.1.1-armv7-unknown-linux-gnueabihf.tar.gz.sha256",
        "ripgrep-14.1.1-armv7-unknown-linux-musleabi.tar.gz",
        "ripgrep-14.1.1-armv7-unknown-linux-musleabihf.tar.gz",
        "ripgrep-14.1.1-i686-pc-windows-msvc.zip",
        "ripgrep-14.1.1-i686-unknown-linux-gnu.tar.gz",
        "ripgrep-14.1.1-powerpc64-unknown-linux-gnu.tar.gz",
        "ripgrep-14.1.1-s390x-unknown-linux-gnu.tar.gz",
        "ripgrep-14.1.1-x86_64-apple-darwin.tar.gz",
        "ripgrep-14.1.1-x86_64-apple-darwin.tar.gz.sha256",
        "ripgrep-14.1.1-x86_64-pc-windows-gnu.zip",
        "ripgrep-14.1.1-x86_64-pc-windows-msvc.zip",
        "ripgrep-14.1.1-x86_64-pc-windows-msvc.zip.sha256",
        "ripgrep-14.1.1-x86_64-unknown-linux-musl.tar.gz",
        "ripgrep-14.1.1-x86_64-unknown-linux-musl.tar.gz.sha256",
        "ripgrep_14.1.1-1_amd64.deb",
        "ripgrep_14.1.1-1_amd64.deb.sha256",
    ];

    #[test]
    fn ripgrep_rust_target_triples() {
        // The only x86_64 Linux build is musl: a glibc host takes it
        // rather than nothing (and `x86_64` is one arch, not also `x86`).
        assert_eq!(
            pick(RIPGREP, "rg", LINUX_X64),
            "ripgrep-14.1.1-x86_64-unknown-linux-musl.tar.gz"
        );
        assert_eq!(
            pick(RIPGREP, "rg", LINUX_X64_MUSL),
            "ripgrep-14.1.1-x86_64-unknown-linux-musl.tar.gz"
        );
        assert_eq!(
            pick(RIPGREP, "rg", LINUX_ARM64),
            "ripgrep-14.1.1-aarch64-unknown-linux-gnu.tar.gz"
        );
        assert_eq!(
            pick(RIPGREP, "rg", LINUX_ARM),
            "ripgrep-14.1.1-armv7-unknown-linux-gnueabihf.tar.gz"
        );
        assert_eq!(
            pick(
                RIPGREP,
                "rg",
                Platform {
                    musl: true,
                    ..LINUX_ARM
                }
            ),
            "ripgrep-14.1.1-armv7-unknown-linux-musleabi.tar.gz"
        );
        assert_eq!(
            pick(RIPGREP, "rg", LINUX_X86),
            "ripgrep-14.1.1-i686-unknown-linux-gnu.tar.gz"
        );
        assert_eq!(
            pick(RIPGREP, "rg", MAC_ARM64),
            "ripgrep-14.1.1-aarch64-apple-darwin.tar.gz"
        );
        assert_eq!(
            pick(RIPGREP, "rg", MAC_X64),
            "ripgrep-14.1.1-x86_64-apple-darwin.tar.gz"
        );
        // MSVC is the primary Windows build, MinGW the alternative.
        assert_eq!(
            pick(RIPGREP, "rg", WIN_X64),
            "ripgrep-14.1.1-x86_64-pc-windows-msvc.zip"
        );
        no_match(RIPGREP, "rg", WIN_ARM64);
    }

    const GH: &[&str] = &[
        "gh_2.63.0_checksums.txt",
        "gh_2.63.0_linux_386.deb",
        "gh_2.63.0_linux_386.rpm",
        "gh_2.63.0_linux_386.tar.gz",
        "gh_2.63.0_linux_amd64.deb",
        "gh_2.63.0_linux_amd64.rpm",
        "gh_2.63.0_linux_amd64.tar.gz",
        "gh_2.63.0_linux_arm64.deb",
        "gh_2.63.0_linux_arm64.rpm",
        "gh_2.63.0_linux_arm64.tar.gz",
        "gh_2.63.0_linux_armv6.deb",
        "gh_2.63.0_linux_armv6.rpm",
        "gh_2.63.0_linux_armv6.tar.gz",
        "gh_2.63.0_macOS_amd64.zip",
        "gh_2.63.0_macOS_arm64.zip",
        "gh_2.63.0_macOS_universal.pkg",
        "gh_2.63.0_windows_386.msi",
        "gh_2.63.0_windows_386.zip",
        "gh_2.63.0_windows_amd64.msi",
        "gh_2.63.0_windows_amd64.zip",
        "gh_2.63.0_windows_arm64.msi",
        "gh_2.63.0_windows_arm64.zip",
    ];

    #[test]
    fn gh_mixed_archives_and_packages() {
        assert_eq!(pick(GH, "gh", LINUX_X64), "gh_2.63.0_linux_amd64.tar.gz");
        assert_eq!(pick(GH, "gh", LINUX_ARM64), "gh_2.63.0_linux_arm64.tar.gz");
        assert_eq!(pick(GH, "gh", LINUX_ARM), "gh_2.63.0_linux_armv6.tar.gz");
        assert_eq!(pick(GH, "gh", LINUX_X86), "gh_2.63.0_linux_386.tar.gz");
        // The universal `.pkg` is an installer package, never a candidate.
        assert_eq!(pick(GH, "gh", MAC_ARM64), "gh_2.63.0_macOS_arm64.zip");
        assert_eq!(pick(GH, "gh", MAC_X64), "gh_2.63.0_macOS_amd64.zip");
        assert_eq!(pick(GH, "gh", WIN_X64), "gh_2.63.0_windows_amd64.zip");
    }

    const KUBECTX: &[&str] = &[
        "checksums.txt",
        "kubectx",
        "kubectx_v0.9.5_darwin_arm64.tar.gz",
        "kubectx_v0.9.5_darwin_x86_64.tar.gz",
        "kubectx_v0.9.5_linux_arm64.tar.gz",
        "kubectx_v0.9.5_linux_armhf.tar.gz",
        "kubectx_v0.9.5_linux_ppc64le.tar.gz",
        "kubectx_v0.9.5_linux_s390x.tar.gz",
        "kubectx_v0.9.5_linux_x86_64.tar.gz",
        "kubectx_v0.9.5_windows_x86_64.zip",
        "kubens",
        "kubens_v0.9.5_darwin_arm64.tar.gz",
        "kubens_v0.9.5_darwin_x86_64.tar.gz",
        "kubens_v0.9.5_linux_arm64.tar.gz",
        "kubens_v0.9.5_linux_armhf.tar.gz",
        "kubens_v0.9.5_linux_x86_64.tar.gz",
        "kubens_v0.9.5_windows_x86_64.zip",
    ];

    #[test]
    fn kubectx_two_tools_in_one_release() {
        assert_eq!(
            pick(KUBECTX, "kubectx", LINUX_X64),
            "kubectx_v0.9.5_linux_x86_64.tar.gz"
        );
        assert_eq!(
            pick(KUBECTX, "kubectx", LINUX_ARM64),
            "kubectx_v0.9.5_linux_arm64.tar.gz"
        );
        assert_eq!(
            pick(KUBECTX, "kubectx", LINUX_ARM),
            "kubectx_v0.9.5_linux_armhf.tar.gz"
        );
        assert_eq!(
            pick(KUBECTX, "kubectx", MAC_ARM64),
            "kubectx_v0.9.5_darwin_arm64.tar.gz"
        );
        assert_eq!(
            pick(KUBECTX, "kubens", LINUX_X64),
            "kubens_v0.9.5_linux_x86_64.tar.gz"
        );
        assert_eq!(
            pick(KUBECTX, "kubens", MAC_ARM64),
            "kubens_v0.9.5_darwin_arm64.tar.gz"
        );
        // No x86 build: the bare, platform-less script is the fallback, and
        // it is the one named after the plugin.
        assert_eq!(pick(KUBECTX, "kubectx", LINUX_X86), "kubectx");
        assert_eq!(pick(KUBECTX, "kubens", LINUX_X86), "kubens");
    }

    const KREW: &[&str] = &[
        "krew-darwin_amd64.tar.gz",
        "krew-darwin_amd64.tar.gz.sha256",
        "krew-darwin_arm64.tar.gz",
        "krew-darwin_arm64.tar.gz.sha256",
        "krew-linux_amd64.tar.gz",
        "krew-linux_amd64.tar.gz.sha256",
        "krew-linux_arm.tar.gz",
        "krew-linux_arm.tar.gz.sha256",
        "krew-linux_arm64.tar.gz",
        "krew-linux_arm64.tar.gz.sha256",
        "krew-linux_ppc64le.tar.gz",
        "krew-linux_ppc64le.tar.gz.sha256",
        "krew-windows_amd64.tar.gz",
        "krew-windows_amd64.tar.gz.sha256",
        "krew.exe",
        "krew.exe.sha256",
        "krew.tar.gz",
        "krew.tar.gz.sha256",
        "krew.yaml",
    ];

    #[test]
    fn krew_platform_archives_beat_the_all_in_one() {
        assert_eq!(pick(KREW, "krew", LINUX_X64), "krew-linux_amd64.tar.gz");
        assert_eq!(pick(KREW, "krew", LINUX_ARM64), "krew-linux_arm64.tar.gz");
        assert_eq!(pick(KREW, "krew", MAC_ARM64), "krew-darwin_arm64.tar.gz");
        assert_eq!(pick(KREW, "krew", WIN_X64), "krew-windows_amd64.tar.gz");
        // No x86 build: the platform-less bundle (not `krew.exe`, which is
        // Windows) is all that is left.
        assert_eq!(pick(KREW, "krew", LINUX_X86), "krew.tar.gz");
    }

    const HELM: &[&str] = &[
        "helm-v3.16.3-darwin-amd64.tar.gz.asc",
        "helm-v3.16.3-darwin-amd64.tar.gz.sha256sum.asc",
        "helm-v3.16.3-darwin-arm64.tar.gz.asc",
        "helm-v3.16.3-darwin-arm64.tar.gz.sha256sum.asc",
        "helm-v3.16.3-linux-amd64.tar.gz.asc",
        "helm-v3.16.3-linux-amd64.tar.gz.sha256sum.asc",
        "helm-v3.16.3-linux-arm64.tar.gz.asc",
        "helm-v3.16.3-linux-arm64.tar.gz.sha256sum.asc",
        "helm-v3.16.3-windows-amd64.zip.asc",
        "helm-v3.16.3-windows-amd64.zip.sha256sum.asc",
    ];

    #[test]
    fn helm_ships_only_signatures_on_github() {
        for platform in [LINUX_X64, LINUX_ARM64, MAC_ARM64] {
            let err = no_match(HELM, "helm", platform);
            assert_eq!(err.seen, HELM);
            let message = err.to_string();
            for name in HELM {
                assert!(message.contains(name), "{message} lacks {name}");
            }
        }
    }

    const FZF: &[&str] = &[
        "fzf-0.56.3-darwin_amd64.tar.gz",
        "fzf-0.56.3-darwin_arm64.tar.gz",
        "fzf-0.56.3-freebsd_amd64.tar.gz",
        "fzf-0.56.3-linux_amd64.tar.gz",
        "fzf-0.56.3-linux_arm64.tar.gz",
        "fzf-0.56.3-linux_armv5.tar.gz",
        "fzf-0.56.3-linux_armv6.tar.gz",
        "fzf-0.56.3-linux_armv7.tar.gz",
        "fzf-0.56.3-linux_loong64.tar.gz",
        "fzf-0.56.3-linux_ppc64le.tar.gz",
        "fzf-0.56.3-linux_s390x.tar.gz",
        "fzf-0.56.3-openbsd_amd64.tar.gz",
        "fzf-0.56.3-windows_amd64.zip",
        "fzf-0.56.3-windows_arm64.zip",
        "fzf-0.56.3-windows_armv5.zip",
        "fzf-0.56.3-windows_armv6.zip",
        "fzf-0.56.3-windows_armv7.zip",
        "fzf_0.56.3_checksums.txt",
    ];

    #[test]
    fn fzf_many_arm_flavours_and_bsds() {
        assert_eq!(pick(FZF, "fzf", LINUX_X64), "fzf-0.56.3-linux_amd64.tar.gz");
        assert_eq!(
            pick(FZF, "fzf", LINUX_ARM64),
            "fzf-0.56.3-linux_arm64.tar.gz"
        );
        // All three are 32-bit ARM to us; the tie goes to the first name.
        assert_eq!(pick(FZF, "fzf", LINUX_ARM), "fzf-0.56.3-linux_armv5.tar.gz");
        assert_eq!(
            pick(FZF, "fzf", MAC_ARM64),
            "fzf-0.56.3-darwin_arm64.tar.gz"
        );
        assert_eq!(pick(FZF, "fzf", WIN_X64), "fzf-0.56.3-windows_amd64.zip");
    }

    const KUSTOMIZE: &[&str] = &[
        "checksums.txt",
        "kustomize_v5.4.3_darwin_amd64.tar.gz",
        "kustomize_v5.4.3_darwin_arm64.tar.gz",
        "kustomize_v5.4.3_linux_amd64.tar.gz",
        "kustomize_v5.4.3_linux_arm64.tar.gz",
        "kustomize_v5.4.3_linux_ppc64le.tar.gz",
        "kustomize_v5.4.3_linux_s390x.tar.gz",
        "kustomize_v5.4.3_windows_amd64.zip",
        "kustomize_v5.4.3_windows_arm64.zip",
    ];

    #[test]
    fn kustomize() {
        assert_eq!(
            pick(KUSTOMIZE, "kustomize", LINUX_X64),
            "kustomize_v5.4.3_linux_amd64.tar.gz"
        );
        assert_eq!(
            pick(KUSTOMIZE, "kustomize", LINUX_ARM64),
            "kustomize_v5.4.3_linux_arm64.tar.gz"
        );
        assert_eq!(
            pick(KUSTOMIZE, "kustomize", MAC_ARM64),
            "kustomize_v5.4.3_darwin_arm64.tar.gz"
        );
        no_match(KUSTOMIZE, "kustomize", LINUX_ARM);
    }

    const KUBECTL_NEAT: &[&str] = &[
        "checksums.txt",
        "kubectl-neat_darwin_amd64.tar.gz",
        "kubectl-neat_darwin_arm64.tar.gz",
        "kubectl-neat_linux_amd64.tar.gz",
        "kubectl-neat_linux_arm64.tar.gz",
    ];

    #[test]
    fn kubectl_neat() {
        assert_eq!(
            pick(KUBECTL_NEAT, "neat", LINUX_X64),
            "kubectl-neat_linux_amd64.tar.gz"
        );
        assert_eq!(
            pick(KUBECTL_NEAT, "neat", LINUX_ARM64),
            "kubectl-neat_linux_arm64.tar.gz"
        );
        assert_eq!(
            pick(KUBECTL_NEAT, "neat", MAC_ARM64),
            "kubectl-neat_darwin_arm64.tar.gz"
        );
    }

    const YQ: &[&str] = &[
        "checksums",
        "checksums-bsd",
        "checksums_hashes_order",
        "extract-checksum.sh",
        "install-man-page.sh",
        "yq_darwin_amd64",
        "yq_darwin_amd64.tar.gz",
        "yq_darwin_arm64",
        "yq_darwin_arm64.tar.gz",
        "yq_linux_386",
        "yq_linux_386.tar.gz",
        "yq_linux_amd64",
        "yq_linux_amd64.tar.gz",
        "yq_linux_arm",
        "yq_linux_arm.tar.gz",
        "yq_linux_arm64",
        "yq_linux_arm64.tar.gz",
        "yq_linux_mips64le",
        "yq_linux_riscv64",
        "yq_man_page_only.tar.gz",
        "yq_windows_amd64.exe",
        "yq_windows_amd64.zip",
    ];

    #[test]
    fn yq_binaries_and_tarballs_side_by_side() {
        assert_eq!(pick(YQ, "yq", LINUX_X64), "yq_linux_amd64.tar.gz");
        assert_eq!(pick(YQ, "yq", LINUX_ARM64), "yq_linux_arm64.tar.gz");
        assert_eq!(pick(YQ, "yq", MAC_ARM64), "yq_darwin_arm64.tar.gz");
        assert_eq!(pick(YQ, "yq", WIN_X64), "yq_windows_amd64.zip");
    }

    const HUGO: &[&str] = &[
        "hugo_0.139.0_checksums.txt",
        "hugo_0.139.0_darwin-universal.pkg",
        "hugo_0.139.0_darwin-universal.tar.gz",
        "hugo_0.139.0_dragonfly-amd64.tar.gz",
        "hugo_0.139.0_freebsd-amd64.tar.gz",
        "hugo_0.139.0_linux-amd64.deb",
        "hugo_0.139.0_linux-amd64.tar.gz",
        "hugo_0.139.0_linux-arm64.deb",
        "hugo_0.139.0_linux-arm64.tar.gz",
        "hugo_0.139.0_netbsd-amd64.tar.gz",
        "hugo_0.139.0_openbsd-amd64.tar.gz",
        "hugo_0.139.0_solaris-amd64.tar.gz",
        "hugo_0.139.0_windows-amd64.zip",
        "hugo_0.139.0_windows-arm64.zip",
        "hugo_extended_0.139.0_darwin-universal.tar.gz",
        "hugo_extended_0.139.0_linux-amd64.tar.gz",
        "hugo_extended_0.139.0_linux-arm64.tar.gz",
        "hugo_extended_0.139.0_windows-amd64.zip",
    ];

    #[test]
    fn hugo_universal_macos_build() {
        assert_eq!(
            pick(HUGO, "hugo", LINUX_X64),
            "hugo_0.139.0_linux-amd64.tar.gz"
        );
        assert_eq!(
            pick(HUGO, "hugo", LINUX_ARM64),
            "hugo_0.139.0_linux-arm64.tar.gz"
        );
        assert_eq!(
            pick(HUGO, "hugo", MAC_ARM64),
            "hugo_0.139.0_darwin-universal.tar.gz"
        );
        assert_eq!(
            pick(HUGO, "hugo", MAC_X64),
            "hugo_0.139.0_darwin-universal.tar.gz"
        );
        // On Linux `universal` is no arch at all, and darwin excludes it.
        no_match(&["hugo_0.139.0_darwin-universal.tar.gz"], "hugo", LINUX_X64);
    }

    const SOPS: &[&str] = &[
        "sops-3.9.1-1.aarch64.rpm",
        "sops-3.9.1-1.x86_64.rpm",
        "sops-v3.9.1.checksums.pem",
        "sops-v3.9.1.checksums.sig",
        "sops-v3.9.1.checksums.txt",
        "sops-v3.9.1.darwin",
        "sops-v3.9.1.darwin.amd64",
        "sops-v3.9.1.darwin.arm64",
        "sops-v3.9.1.exe",
        "sops-v3.9.1.intoto.jsonl",
        "sops-v3.9.1.linux.amd64",
        "sops-v3.9.1.linux.arm64",
        "sops_3.9.1_amd64.deb",
        "sops_3.9.1_arm64.deb",
    ];

    #[test]
    fn sops_dots_as_separators() {
        assert_eq!(pick(SOPS, "sops", LINUX_X64), "sops-v3.9.1.linux.amd64");
        assert_eq!(pick(SOPS, "sops", LINUX_ARM64), "sops-v3.9.1.linux.arm64");
        assert_eq!(pick(SOPS, "sops", MAC_ARM64), "sops-v3.9.1.darwin.arm64");
        // The arch-less darwin build is only second choice…
        assert_eq!(pick(&SOPS[..6], "sops", MAC_ARM64), "sops-v3.9.1.darwin");
        // …and the `.exe` is Windows (arch-less), never Linux.
        assert_eq!(pick(SOPS, "sops", WIN_X64), "sops-v3.9.1.exe");
        no_match(SOPS, "sops", LINUX_ARM);
    }

    const UV: &[&str] = &[
        "dist-manifest.json",
        "sha256.sum",
        "source.tar.gz",
        "source.tar.gz.sha256",
        "uv-aarch64-apple-darwin.tar.gz",
        "uv-aarch64-unknown-linux-gnu.tar.gz",
        "uv-aarch64-unknown-linux-musl.tar.gz",
        "uv-i686-pc-windows-msvc.zip",
        "uv-installer.ps1",
        "uv-installer.sh",
        "uv-powerpc64le-unknown-linux-gnu.tar.gz",
        "uv-x86_64-apple-darwin.tar.gz",
        "uv-x86_64-pc-windows-msvc.zip",
        "uv-x86_64-unknown-linux-gnu.tar.gz",
        "uv-x86_64-unknown-linux-musl.tar.gz",
    ];

    #[test]
    fn uv_cargo_dist_musl_and_gnu_both_ways() {
        assert_eq!(
            pick(UV, "uv", LINUX_X64),
            "uv-x86_64-unknown-linux-gnu.tar.gz"
        );
        assert_eq!(
            pick(UV, "uv", LINUX_X64_MUSL),
            "uv-x86_64-unknown-linux-musl.tar.gz"
        );
        assert_eq!(
            pick(UV, "uv", LINUX_ARM64),
            "uv-aarch64-unknown-linux-gnu.tar.gz"
        );
        assert_eq!(
            pick(UV, "uv", LINUX_ARM64_MUSL),
            "uv-aarch64-unknown-linux-musl.tar.gz"
        );
        assert_eq!(pick(UV, "uv", MAC_ARM64), "uv-aarch64-apple-darwin.tar.gz");
        // No arm Linux build: the source tarball is not a fallback.
        no_match(UV, "uv", LINUX_ARM);
    }

    #[test]
    fn kplug_style_names() {
        let assets = [
            "checksums.txt",
            "kplug-plugin.yaml",
            "kplug-registry-linux-arm64",
            "kplug-registry_1.2.0_darwin_arm64.tar.gz",
            "kplug-registry_1.2.0_linux_amd64.tar.gz",
            "kplug-registry_1.2.0_windows_amd64.zip",
        ];
        assert_eq!(
            pick(&assets, "registry", LINUX_X64),
            "kplug-registry_1.2.0_linux_amd64.tar.gz"
        );
        assert_eq!(
            pick(&assets, "kplug-registry", LINUX_X64),
            "kplug-registry_1.2.0_linux_amd64.tar.gz"
        );
        assert_eq!(
            pick(&assets, "registry", LINUX_ARM64),
            "kplug-registry-linux-arm64"
        );
        assert_eq!(
            pick(&assets, "registry", MAC_ARM64),
            "kplug-registry_1.2.0_darwin_arm64.tar.gz"
        );
        assert_eq!(
            pick(&assets, "registry", WIN_X64),
            "kplug-registry_1.2.0_windows_amd64.zip"
        );
        // A single platform-less binary is a valid release.
        assert_eq!(pick(&["kplug-hello"], "hello", LINUX_ARM), "kplug-hello");
    }

    // -- targeted rules -------------------------------------------------

    #[test]
    fn never_another_arch() {
        let arm64_only = [
            "tool_1.0.0_linux_arm64.tar.gz",
            "tool_1.0.0_darwin_arm64.tar.gz",
            "checksums.txt",
        ];
        let err = no_match(&arm64_only, "tool", LINUX_X64);
        assert_eq!(err.looked_for, "tool on linux/x86_64 (glibc)");
        no_match(&["tool-linux-i386.tar.gz"], "tool", LINUX_X64);
        no_match(&["tool-linux-x86_64"], "tool", LINUX_X86);
        no_match(&["tool-linux-arm"], "tool", LINUX_ARM64);
        no_match(&["tool-linux-arm64"], "tool", LINUX_ARM);
        no_match(&["tool-linux-riscv64"], "tool", LINUX_X64);
        no_match(&["tool-aarch64-linux-android.tar.gz"], "tool", LINUX_ARM64);
        no_match(&["tool-aarch64-apple-ios.tar.gz"], "tool", MAC_ARM64);
    }

    #[test]
    fn names_os_only_ranks_between_full_and_platformless() {
        let assets = [
            "tool.tar.gz",
            "tool-linux.tar.gz",
            "tool-linux-amd64.tar.gz",
        ];
        assert_eq!(pick(&assets, "tool", LINUX_X64), "tool-linux-amd64.tar.gz");
        assert_eq!(pick(&assets[..2], "tool", LINUX_X64), "tool-linux.tar.gz");
        assert_eq!(pick(&assets[..1], "tool", LINUX_X64), "tool.tar.gz");
        // The OS-only build beats the platform-less one even as a binary.
        assert_eq!(
            pick(&["tool.tar.gz", "tool-linux"], "tool", LINUX_X64),
            "tool-linux"
        );
    }

    #[test]
    fn libc_preference_both_ways() {
        let assets = [
            "tool-x86_64-unknown-linux-musl.tar.gz",
            "tool-x86_64-unknown-linux-gnu.tar.gz",
        ];
        assert_eq!(
            pick(&assets, "tool", LINUX_X64),
            "tool-x86_64-unknown-linux-gnu.tar.gz"
        );
        assert_eq!(
            pick(&assets, "tool", LINUX_X64_MUSL),
            "tool-x86_64-unknown-linux-musl.tar.gz"
        );

        let tagged = ["tool_linux_amd64_static.tar.gz", "tool_linux_amd64.tar.gz"];
        assert_eq!(pick(&tagged, "tool", LINUX_X64), "tool_linux_amd64.tar.gz");
        assert_eq!(
            pick(&tagged, "tool", LINUX_X64_MUSL),
            "tool_linux_amd64_static.tar.gz"
        );

        // On musl an untagged build (often a static Go binary) beats gnu.
        let untagged = ["tool-x86_64-linux-gnu.tar.gz", "tool-x86_64-linux.tar.gz"];
        assert_eq!(
            pick(&untagged, "tool", LINUX_X64_MUSL),
            "tool-x86_64-linux.tar.gz"
        );
        // The wrong libc is still better than nothing.
        assert_eq!(
            pick(&assets[1..], "tool", LINUX_X64_MUSL),
            "tool-x86_64-unknown-linux-gnu.tar.gz"
        );
    }

    #[test]
    fn tar_xz_only_when_nothing_else_fits() {
        let both = [
            "tool-x86_64-unknown-linux-gnu.tar.xz",
            "tool-x86_64-unknown-linux-gnu.tar.gz",
        ];
        assert_eq!(
            pick(&both, "tool", LINUX_X64),
            "tool-x86_64-unknown-linux-gnu.tar.gz"
        );
        let binary = [
            "tool-x86_64-unknown-linux-gnu.tar.xz",
            "tool-x86_64-unknown-linux-gnu",
        ];
        assert_eq!(
            pick(&binary, "tool", LINUX_X64),
            "tool-x86_64-unknown-linux-gnu"
        );
        // cargo-dist's default: only `.tar.xz` builds, plus the source. The
        // build for this platform is chosen (the installer then explains it
        // cannot unpack it) rather than a platform-less tarball of code.
        let cargo_dist = [
            "source.tar.gz",
            "tool-aarch64-apple-darwin.tar.gz",
            "tool-installer.sh",
            "tool-x86_64-unknown-linux-gnu.tar.xz",
        ];
        let choice = select(&cargo_dist, "tool", &LINUX_X64).unwrap();
        assert_eq!(choice.name, "tool-x86_64-unknown-linux-gnu.tar.xz");
        assert_eq!(choice.kind, ArchiveKind::TarXz);
        assert_eq!(
            pick(&cargo_dist, "tool", MAC_ARM64),
            "tool-aarch64-apple-darwin.tar.gz"
        );
    }

    #[test]
    fn aliases_read_as_whole_tokens_longest_first() {
        // `x86_64` / `x86-64` are not also `x86`.
        assert_eq!(
            pick(&["tool-x86-64-linux"], "tool", LINUX_X64),
            "tool-x86-64-linux"
        );
        no_match(&["tool-x86-64-linux"], "tool", LINUX_X86);
        // `darwin` holds no `win`, `macosx` is macOS.
        assert_eq!(
            pick(&["tool-darwin-x64.zip"], "tool", MAC_X64),
            "tool-darwin-x64.zip"
        );
        assert_eq!(
            pick(&["tool-macosx-arm64.zip"], "tool", MAC_ARM64),
            "tool-macosx-arm64.zip"
        );
        // Electron-style `win32` is only the OS when an arch is spelled…
        assert_eq!(
            pick(
                &["tool-win32-x64.zip", "tool-win32-ia32.zip"],
                "tool",
                WIN_X64
            ),
            "tool-win32-x64.zip"
        );
        // …and otherwise implies one.
        assert_eq!(
            pick(&["tool-win32.zip", "tool-win64.zip"], "tool", WIN_X64),
            "tool-win64.zip"
        );
        no_match(&["tool-win64.zip"], "tool", WIN_ARM64);
        // goreleaser's universal macOS arch is `all`.
        assert_eq!(
            pick(&["tool_darwin_all.tar.gz"], "tool", MAC_ARM64),
            "tool_darwin_all.tar.gz"
        );
        // A specific build beats a universal one.
        let mac = ["tool_darwin_all.tar.gz", "tool_darwin_arm64.tar.gz"];
        assert_eq!(pick(&mac, "tool", MAC_ARM64), "tool_darwin_arm64.tar.gz");
        // `386` inside a version is not an arch.
        assert_eq!(
            pick(&["tool_1.386.0_linux_amd64.tar.gz"], "tool", LINUX_X64),
            "tool_1.386.0_linux_amd64.tar.gz"
        );
        // Hugo's old `64bit`.
        assert_eq!(
            pick(&["hugo_0.50_Linux-64bit.tar.gz"], "hugo", LINUX_X64),
            "hugo_0.50_Linux-64bit.tar.gz"
        );
    }

    #[test]
    fn plugin_name_is_not_read_as_a_platform() {
        let assets = [
            "kplug-mac-tools_linux_amd64.tar.gz",
            "kplug-mac-tools_darwin_arm64.tar.gz",
        ];
        assert_eq!(
            pick(&assets, "mac-tools", LINUX_X64),
            "kplug-mac-tools_linux_amd64.tar.gz"
        );
        assert_eq!(
            pick(&assets, "mac-tools", MAC_ARM64),
            "kplug-mac-tools_darwin_arm64.tar.gz"
        );
        let arm = ["arm-lint-linux-amd64"];
        assert_eq!(pick(&arm, "arm-lint", LINUX_X64), "arm-lint-linux-amd64");
    }

    #[test]
    fn ties_are_deterministic() {
        let a = [
            "tool-linux-amd64-b.tar.gz",
            "tool-linux-amd64-a.tar.gz",
            "tool-linux-amd64.tar.gz",
        ];
        assert_eq!(pick(&a, "tool", LINUX_X64), "tool-linux-amd64.tar.gz");
        let mut b = a[..2].to_vec();
        assert_eq!(pick(&b, "tool", LINUX_X64), "tool-linux-amd64-a.tar.gz");
        b.reverse();
        assert_eq!(pick(&b, "tool", LINUX_X64), "tool-linux-amd64-a.tar.gz");
    }

    #[test]
    fn archive_kind_table() {
        let table: &[(&str, Option<ArchiveKind>)] = &[
            ("tool.tar.gz", Some(ArchiveKind::TarGz)),
            ("TOOL.TAR.GZ", Some(ArchiveKind::TarGz)),
            ("tool.tgz", Some(ArchiveKind::TarGz)),
            ("tool.tar.xz", Some(ArchiveKind::TarXz)),
            ("tool.txz", Some(ArchiveKind::TarXz)),
            ("tool.zip", Some(ArchiveKind::Zip)),
            ("tool.Zip", Some(ArchiveKind::Zip)),
            ("tool", Some(ArchiveKind::Binary)),
            ("tool.exe", Some(ArchiveKind::Binary)),
            ("tool.EXE", Some(ArchiveKind::Binary)),
            ("k3d-linux-amd64", Some(ArchiveKind::Binary)),
            (
                "ripgrep-14.1.1-x86_64-unknown-linux-musl",
                Some(ArchiveKind::Binary),
            ),
            ("tool-v1.2", Some(ArchiveKind::Binary)),
            ("sops-v3.9.1.linux.amd64", Some(ArchiveKind::Binary)),
            ("sops-v3.9.1.darwin", Some(ArchiveKind::Binary)),
            ("tool.deb", None),
            ("tool.rpm", None),
            ("tool.apk", None),
            ("tool.msi", None),
            ("tool.pkg", None),
            ("tool.dmg", None),
            ("tool.snap", None),
            ("tool.AppImage", None),
            ("tool.tar.bz2", None),
            ("tool.tar.zst", None),
            ("tool.tar", None),
            ("tool.gz", None),
            ("tool.xz", None),
            ("tool.7z", None),
            ("tool.txt", None),
            ("tool.json", None),
            ("tool.yaml", None),
            ("tool.md", None),
            ("tool.html", None),
            ("install.sh", None),
            ("checksums.txt", None),
            ("tool.tar.gz.sha256", None),
            ("tool.sbom", None),
        ];
        for (name, kind) in table {
            assert_eq!(archive_kind(name), *kind, "{name}");
        }
    }

    #[test]
    fn is_auxiliary_table() {
        let auxiliary = [
            "checksums.txt",
            "CHECKSUMS.txt",
            "gh_2.63.0_checksums.txt",
            "fzf_0.56.3_checksums.txt",
            "checksums.sha256",
            "checksums",
            "SHA256SUMS",
            "SHA512SUMS",
            "SHA256SUMS.asc",
            "tool.tar.gz.sha256",
            "kind-linux-amd64.sha256sum",
            "tool.tar.gz.sha512",
            "tool.tar.gz.md5",
            "tool.tar.gz.sig",
            "helm-v3.16.3-linux-amd64.tar.gz.asc",
            "tool.pem",
            "tool.cert",
            "tool.crt",
            "tool.sbom",
            "tool.spdx",
            "tool.spdx.json",
            "tool.cdx.json",
            "tool.intoto.jsonl",
            "multiple.intoto.jsonl",
            "tool.tar.gz.bundle",
            "kplug-plugin.yaml",
            "tool_1.0.0_linux_amd64.tar.gz.sbom.json",
            "tool-SBOM.tar.gz",
            "sha256.sum",
        ];
        for name in auxiliary {
            assert!(is_auxiliary(name), "{name} should be auxiliary");
            assert_eq!(archive_kind(name), None, "{name}");
        }
        let not_auxiliary = [
            "tool.tar.gz",
            "k3d-linux-amd64",
            "kubectx",
            "krew.yaml",
            "kplug-registry_1.2.0_linux_amd64.tar.gz",
            "tool.zip",
            "tool.exe",
        ];
        for name in not_auxiliary {
            assert!(!is_auxiliary(name), "{name} should not be auxiliary");
        }
    }

    #[test]
    fn no_match_message_lists_every_asset() {
        let assets = ["a.txt", "b_darwin_arm64.tar.gz", "c-windows-amd64.exe"];
        let err = no_match(&assets, "registry", LINUX_X64);
        assert_eq!(err.seen, assets);
        assert_eq!(
            err.to_string(),
            "no asset for registry on linux/x86_64 (glibc) among the 3 assets of the release: \
             a.txt, b_darwin_arm64.tar.gz, c-windows-amd64.exe"
        );
        assert_eq!(
            no_match(&["only.deb"], "", LINUX_ARM64_MUSL).to_string(),
            "no asset for linux/aarch64 (musl) in the release, whose only asset is only.deb"
        );
        assert_eq!(
            no_match(&[], "x", MAC_ARM64).to_string(),
            "no asset for x on macos/aarch64: the release has no assets"
        );
    }

    #[test]
    fn platforms_read_from_file_names() {
        assert_eq!(
            platform_of("kplug-registry_1.4.0_linux_amd64.tar.gz", "registry"),
            Some((Os::Linux, Arch::X86_64))
        );
        assert_eq!(
            platform_of("kplug-arm-lint-darwin-arm64.zip", "arm-lint"),
            Some((Os::MacOs, Arch::Aarch64))
        );
        assert_eq!(platform_of("kplug-x.tar.gz", "x"), None, "says nothing");
        assert_eq!(
            platform_of("x_linux_darwin_amd64.tar.gz", "x"),
            None,
            "says two"
        );
        assert_eq!(platform_of("x_linux_amd64_arm64.tar.gz", "x"), None);
        assert_eq!(Os::from_name("darwin"), Some(Os::MacOs));
        assert_eq!(
            Arch::from_name("x86_64").map(Arch::inventory_name),
            Some("amd64")
        );
        assert_eq!(Os::from_name("plan9"), None);
    }

    #[test]
    fn describe_and_host() {
        assert_eq!(LINUX_X64.describe(), "linux/x86_64 (glibc)");
        assert_eq!(LINUX_ARM64_MUSL.describe(), "linux/aarch64 (musl)");
        assert_eq!(MAC_ARM64.describe(), "macos/aarch64");
        assert_eq!(WIN_X64.describe(), "windows/x86_64");
        if cfg!(all(
            any(
                target_os = "linux",
                target_os = "macos",
                target_os = "windows"
            ),
            target_arch = "x86_64"
        )) {
            let host = Platform::host().expect("a supported host");
            assert_eq!(host.arch, Arch::X86_64);
            assert_eq!(host.musl, cfg!(target_env = "musl"));
        }
    }
}
