//! Authenticity: minisign signatures on artifacts, the keys each plugin is
//! trusted to be signed by, and the one judgement every install makes.
//!
//! A checksum from the same release proves a download intact, not who made
//! it. A signature does, against a key kplug trusts. Keys come, in order,
//! from the source (its configured `trust:`, or an inventory's publisher
//! key when the inventory itself is signed by such a key), from what this
//! plugin's receipt pinned (the key of its first signed install, or one
//! accepted with `kplug plugin trust`), or — for a plugin never signed
//! before — from the key the source publishes beside the artifact, trusted
//! on first use. A bad signature is never accepted; an unsigned artifact
//! only warns, unless signatures are required, or the plugin was signed
//! before.
//!
//! Signatures and keys come from servers: they are parsed within a size
//! bound and only the key ids (16 hex digits) are printed.

use crate::error::{Error, Result};
use crate::ui::escape;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest `.minisig` read.
pub const MAX_SIGNATURE: u64 = 4096;
/// Largest public key (a `minisign.pub`) read.
pub const MAX_KEY: u64 = 1024;

/// A public key, with its id as minisign prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// Upper-case hex, as minisign prints it (no leading zeros).
    pub id: String,
    /// The base64 line (`RW…`).
    pub base64: String,
    key: minisign_verify::PublicKey,
}

/// The key id in 10 decoded bytes of a key or signature (2 bytes of
/// algorithm, then the key number, little-endian), as minisign prints it:
/// upper-case hex of the number, without leading zeros (its `%PRIX64`).
fn key_id(bytes: &[u8]) -> Option<String> {
    let num: [u8; 8] = bytes.get(2..10)?.try_into().ok()?;
    Some(format!("{:X}", u64::from_le_bytes(num)))
}

/// A key id as typed (any case, leading zeros or not), as minisign
/// prints it.
pub fn normal_key_id(text: &str) -> Option<String> {
    let t = text.trim();
    (is_key_id(t))
        .then(|| u64::from_str_radix(t, 16).ok())
        .flatten()
        .map(|n| format!("{n:X}"))
}

fn b64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
}

impl Key {
    /// A public key: its base64 line, or a `minisign.pub` file's text.
    pub fn parse(text: &str) -> std::result::Result<Key, String> {
        if text.len() as u64 > MAX_KEY {
            return Err("it is too long to be a minisign public key".into());
        }
        let line = text
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
            .ok_or("it is empty")?;
        let bytes = b64(line).ok_or("it is not a minisign public key (base64 `RW…`)")?;
        if bytes.len() != 42 || &bytes[..2] != b"Ed" {
            return Err("it is not a minisign Ed25519 public key".into());
        }
        let key = minisign_verify::PublicKey::from_base64(line)
            .map_err(|e| format!("it is not a minisign public key ({e})"))?;
        Ok(Key {
            id: key_id(&bytes).ok_or("it is too short")?,
            base64: line.to_string(),
            key,
        })
    }
}

/// Keys given as text (`trust:` lists), each trusted `how`; the refusal
/// names the first that is not a key.
pub fn keys(list: &[String], how: How) -> std::result::Result<Vec<(Key, How)>, String> {
    list.iter()
        .map(|k| {
            Key::parse(k).map(|key| (key, how)).map_err(|why| {
                format!(
                    "holds `{}`: {why}",
                    escape(&k.chars().take(60).collect::<String>())
                )
            })
        })
        .collect()
}

/// Whether `text` is a key id: 1 to 16 hex digits.
pub fn is_key_id(text: &str) -> bool {
    (1..=16).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A parsed `.minisig`.
pub struct Sig {
    pub key_id: String,
    pub trusted_comment: String,
    /// The text as published (kept in the receipt for `plugin verify`).
    pub text: String,
    prehashed: bool,
    sig: minisign_verify::Signature,
}

impl Sig {
    pub fn parse(text: &str) -> std::result::Result<Sig, String> {
        if text.len() as u64 > MAX_SIGNATURE {
            return Err("it is too long to be a minisign signature".into());
        }
        let sig = minisign_verify::Signature::decode(text)
            .map_err(|_| "it is not a minisign signature".to_string())?;
        // The line after the untrusted comment: algorithm, key number,
        // signature.
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
            .ok_or("it is not a minisign signature")?;
        let bytes = b64(line).ok_or("it is not a minisign signature")?;
        let prehashed = match bytes.get(..2) {
            Some(b"ED") => true,
            Some(b"Ed") => false,
            _ => return Err("it uses an algorithm minisign does not know".into()),
        };
        Ok(Sig {
            key_id: key_id(&bytes).ok_or("it is not a minisign signature")?,
            trusted_comment: sig.trusted_comment().to_string(),
            text: text.to_string(),
            prehashed,
            sig,
        })
    }

    /// The file its trusted comment names (`file:NAME`), if any.
    pub fn named_file(&self) -> Option<&str> {
        self.trusted_comment
            .split('\t')
            .find_map(|part| part.strip_prefix("file:"))
    }
}

/// What a signature covers.
#[derive(Debug, Clone)]
pub enum Over {
    /// The artifact's bytes.
    File(PathBuf),
    /// A text: an OCI index's digest, `sha256:<hex>`.
    Text(String),
    /// Bytes in memory (a document).
    Bytes(Vec<u8>),
}

/// Check `sig` over `over` with `key`; the largest file read whole (an old,
/// not pre-hashed signature) is `max`.
pub fn verify(key: &Key, sig: &Sig, over: &Over, max: u64) -> std::result::Result<(), String> {
    let bad = |_| "the signature does not match the bytes".to_string();
    match over {
        Over::Text(t) => key.key.verify(t.as_bytes(), &sig.sig, true).map_err(bad),
        Over::Bytes(b) => key.key.verify(b, &sig.sig, true).map_err(bad),
        Over::File(path) if sig.prehashed => {
            let mut v = key.key.verify_stream(&sig.sig).map_err(bad)?;
            let mut f = std::fs::File::open(path).map_err(|e| format!("could not read it: {e}"))?;
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = f
                    .read(&mut buf)
                    .map_err(|e| format!("could not read it: {e}"))?;
                if n == 0 {
                    break;
                }
                v.update(&buf[..n]);
            }
            v.finalize().map_err(bad)
        }
        Over::File(path) => {
            let mut bytes = Vec::new();
            std::fs::File::open(path)
                .and_then(|f| f.take(max + 1).read_to_end(&mut bytes))
                .map_err(|e| format!("could not read it: {e}"))?;
            if bytes.len() as u64 > max {
                return Err("it is too large for a signature that is not pre-hashed".into());
            }
            key.key.verify(&bytes, &sig.sig, true).map_err(bad)
        }
    }
}

/// How a key came to be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum How {
    /// The source's configuration (`trust:`).
    Source,
    /// The publisher key of an inventory signed by a key the source trusts.
    Inventory,
    /// The key of the plugin's first signed install.
    FirstUse,
    /// Accepted with `kplug plugin trust`.
    Accepted,
    /// kplug's own release key (or `self.trust`).
    BuiltIn,
    /// Written by a kplug that knows a way this one does not.
    #[serde(other)]
    Unknown,
}

impl How {
    pub fn describe(self) -> &'static str {
        match self {
            How::Source => "trusted by its source's configuration",
            How::Inventory => "the signed inventory's publisher key",
            How::FirstUse => "trusted on first use",
            How::Accepted => "accepted with `kplug plugin trust`",
            How::BuiltIn => "kplug's release key",
            How::Unknown => "recorded",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            How::Source => "source",
            How::Inventory => "inventory",
            How::FirstUse => "first-use",
            How::Accepted => "accepted",
            How::BuiltIn => "built-in",
            How::Unknown => "unknown",
        }
    }
}

/// Who signed an installed version, as its receipt records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Signer {
    pub key_id: String,
    pub trusted: How,
}

/// A key a plugin's receipt pins: later versions must be signed by one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pinned {
    pub key_id: String,
    /// The key itself (`RW…`): an id alone can be claimed by anyone's key.
    pub public_key: String,
    pub trusted: How,
    pub added: String,
}

impl Pinned {
    /// `key`, pinned now because of `how`.
    pub fn new(key: &Key, how: How) -> Pinned {
        Pinned {
            key_id: key.id.clone(),
            public_key: key.base64.clone(),
            trusted: how,
            added: crate::store::now(),
        }
    }
}

/// What a source publishes for an artifact.
#[derive(Debug, Clone)]
pub struct Published {
    /// The `.minisig` text.
    pub signature: String,
    /// Where it was found, for messages: `kplug-x.tar.gz.minisig`.
    pub origin: String,
    /// What it covers.
    pub over: Over,
    /// Keys the source vouches for.
    pub vouched: Vec<(Key, How)>,
    /// A key the source publishes beside the artifact (a `minisign.pub`):
    /// trusted only on first use.
    pub offered: Option<Key>,
}

/// A signature accepted for an artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub signer: Signer,
    /// A key to pin in the receipt (first use, or one the source vouches
    /// for that is not pinned yet).
    pub pin: Option<Pinned>,
    /// The signature's text.
    pub text: String,
    /// What it covers, when that is a text and not the artifact's bytes
    /// (an OCI index digest): kept to check it again later.
    pub over: Option<String>,
}

/// Everything [`judge`] weighs besides the signature.
pub struct Context<'a> {
    /// The plugin, and what of it: `hello 1.2.0`.
    pub plugin: &'a str,
    pub what: &'a str,
    /// The artifact's name (a trusted comment may name it).
    pub artifact: &'a str,
    pub pins: &'a [Pinned],
    /// A version of it was signed before.
    pub ever_signed: bool,
    /// Why unsigned artifacts are refused, if they are
    /// (`--require-signature`, `install.requireSignature`).
    pub require: Option<&'a str>,
    /// How to accept unsigned versions again once a signed one was seen.
    pub reset: &'a str,
    /// Largest file read whole for an old-style signature.
    pub max: u64,
}

fn ids(keys: impl Iterator<Item = String>) -> String {
    let all: Vec<String> = keys.collect();
    if all.is_empty() {
        "none".into()
    } else {
        all.join(", ")
    }
}

/// Decide whether an artifact may be installed, as far as its authorship
/// goes: the signature accepted, or `None` for an unsigned artifact that is
/// allowed (the caller warns). An error names the plugin, the key ids, and
/// the next step.
pub fn judge(ctx: &Context<'_>, published: Option<&Published>) -> Result<Option<Accepted>> {
    let Some(p) = published else {
        if ctx.ever_signed {
            let before = if ctx.pins.is_empty() {
                String::new()
            } else {
                format!(" (by {})", ids(ctx.pins.iter().map(|k| k.key_id.clone())))
            };
            return Err(Error::new(format!(
                "refusing {}: it is not signed, but {} was signed before{before}",
                ctx.what, ctx.plugin
            ))
            .with_hint(format!(
                "if its author stopped signing, {}; nothing was installed",
                ctx.reset
            )));
        }
        if let Some(why) = ctx.require {
            return Err(Error::new(format!(
                "refusing {}: it is not signed, and {why} requires a signature",
                ctx.what
            ))
            .with_hint("ask its author to sign releases with minisign (docs/security.md); nothing was installed"));
        }
        return Ok(None);
    };
    let refuse = |why: String| {
        Error::new(format!(
            "refusing {}: {} {why}",
            ctx.what,
            escape(&p.origin)
        ))
    };
    let sig = Sig::parse(&p.signature).map_err(|why| {
        refuse(why).with_hint("the signature is damaged or is not one; nothing was installed")
    })?;
    let kid = sig.key_id.clone();
    let mut pin = None;
    // The hint's key: the one published beside the artifact, when it is
    // the signer's (an id alone can be claimed by anyone's key).
    let accept = match p.offered.as_ref().filter(|k| k.id == kid) {
        Some(k) => format!("kplug plugin trust {} --key {}", ctx.plugin, k.base64),
        None => format!("kplug plugin trust {} --key PUBLIC-KEY", ctx.plugin),
    };
    let (key, how) = if !p.vouched.is_empty() {
        match p.vouched.iter().find(|(k, _)| k.id == kid) {
            Some((k, how)) => {
                pin = (!ctx.pins.iter().any(|x| x.key_id == kid)).then(|| Pinned::new(k, *how));
                (k.clone(), *how)
            }
            None => {
                return Err(refuse(format!(
                    "is by key {kid}, which its source does not trust (it trusts {})",
                    ids(p.vouched.iter().map(|(k, _)| k.id.clone()))
                ))
                .with_hint("if the key changed on purpose, add it to the source's `trust:` list; nothing was installed"));
            }
        }
    } else if !ctx.pins.is_empty() {
        let Some(pinned) = ctx.pins.iter().find(|k| k.key_id == kid) else {
            return Err(refuse(format!(
                "is by key {kid}, but {} is pinned to {}",
                ctx.plugin,
                ids(ctx.pins.iter().map(|k| k.key_id.clone()))
            ))
                        .with_hint(format!(
                "if the author changed keys on purpose (check key {kid} with them), accept it with `{accept}`; nothing was installed"
            )));
        };
        let key = Key::parse(&pinned.public_key).map_err(|why| {
            Error::new(format!(
                "the key {kid} pinned for {} is unusable: {why}",
                ctx.plugin
            ))
            .with_hint(format!(
                "pin it again with `kplug plugin trust {} --key PUBLIC-KEY`",
                ctx.plugin
            ))
        })?;
        (key, pinned.trusted)
    } else {
        // Never a first use again for a plugin signed before (its keys
        // were removed): that would take whatever key is offered now.
        let offered = p
            .offered
            .as_ref()
            .filter(|k| k.id == kid && !ctx.ever_signed);
        let Some(k) = offered else {
            return Err(refuse(format!(
                "is by key {kid}, and no key trusted for {} has that id",
                ctx.plugin
            ))
            .with_hint(format!(
                "if you trust that key (check it with its author), accept it with `{accept}`, or add it to the source's `trust:`; nothing was installed"
            )));
        };
        pin = Some(Pinned::new(k, How::FirstUse));
        (k.clone(), How::FirstUse)
    };
    verify(&key, &sig, &p.over, ctx.max).map_err(|why| {
        refuse(format!("(key {kid}) does not verify: {why}"))
            .with_hint("the artifact or its signature was tampered with; nothing was installed")
    })?;
    if let Some(named) = sig.named_file()
        && let Over::File(_) = p.over
        && named != ctx.artifact
    {
        return Err(refuse(format!(
            "is for the file `{}`, not {}",
            escape(&named.chars().take(100).collect::<String>()),
            escape(ctx.artifact)
        ))
        .with_hint("a signature of another file was published for it; nothing was installed"));
    }
    Ok(Some(Accepted {
        signer: Signer {
            key_id: kid,
            trusted: how,
        },
        pin,
        text: sig.text,
        over: match &p.over {
            Over::Text(t) => Some(t.clone()),
            _ => None,
        },
    }))
}

/// A secret key to sign with, and its public key.
pub struct SigningKey {
    sk: minisign::SecretKey,
    pk: minisign::PublicKey,
    /// The public key, as verification reads it.
    pub key: Key,
}

impl SigningKey {
    /// Sign `data`, the trusted comment naming `file`; the `.minisig` text.
    pub fn sign(&self, data: impl Read, file: &str) -> Result<String> {
        sign(&self.sk, &self.pk, data, file)
    }
}

/// A minisign secret key, for signing (`--sign-key FILE`): unencrypted, or
/// decrypted with `KPLUG_SIGN_PASSWORD` (else the password is asked on the
/// terminal).
pub fn load_secret(cfg: &crate::config::Config, path: &Path) -> Result<SigningKey> {
    let text = crate::fsutil::read_bounded(path, 4096)
        .map_err(|e| Error::new(format!("could not read {}", path.display())).caused_by(e))?;
    let text = String::from_utf8_lossy(&text).into_owned();
    let boxed = minisign::SecretKeyBox::from_string(&text).map_err(|e| {
        Error::usage(format!("{} is not a minisign secret key", path.display())).caused_by(e)
    })?;
    let sk = match boxed.clone().into_unencrypted_secret_key() {
        Ok(sk) => sk,
        // The minisign command writes a key made without a password (`-W`)
        // with no checksum, which the crate's loader insists on: read it
        // as it is (nothing to decrypt, so nothing a checksum would tell).
        Err(_) if unencrypted(&text) => {
            let line = text.lines().nth(1).unwrap_or_default();
            b64(line)
                .and_then(|bytes| minisign::SecretKey::from_bytes(&bytes).ok())
                .ok_or_else(|| {
                    Error::usage(format!("{} is not a minisign secret key", path.display()))
                })?
        }
        Err(_) => {
            let password = cfg
                .var(crate::config::vars::SIGN_PASSWORD)
                .map(|p| p.to_string_lossy().into_owned());
            boxed.into_secret_key(password).map_err(|e| {
                Error::usage(format!("could not open the secret key {}", path.display()))
                    .caused_by(e)
                    .with_hint("give its password in KPLUG_SIGN_PASSWORD (or on the terminal)")
            })?
        }
    };
    let pk = minisign::PublicKey::from_secret_key(&sk)
        .map_err(|e| Error::new("could not derive the public key").caused_by(e))?;
    let key = Key::parse(&pk.to_base64()).map_err(Error::new)?;
    Ok(SigningKey { sk, pk, key })
}

/// Whether a secret key file's key is stored without a password.
fn unencrypted(text: &str) -> bool {
    text.lines()
        .nth(1)
        .and_then(b64)
        .is_some_and(|b| b.len() == 158 && b[2..4] == [0, 0])
}

/// Sign `data` with `sk`, the trusted comment naming `file` (as minisign
/// does); the `.minisig` text.
fn sign(
    sk: &minisign::SecretKey,
    pk: &minisign::PublicKey,
    data: impl Read,
    file: &str,
) -> Result<String> {
    let comment = format!(
        "timestamp:{}\tfile:{file}\thashed",
        crate::clock::now_unix()
    );
    minisign::sign(Some(pk), sk, data, Some(&comment), None)
        .map(|b| b.into_string())
        .map_err(|e| Error::new("could not sign").caused_by(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Pair {
        sk: minisign::SecretKey,
        pk: minisign::PublicKey,
        key: Key,
    }

    fn pair() -> Pair {
        let minisign::KeyPair { pk, sk } =
            minisign::KeyPair::generate_unencrypted_keypair().unwrap();
        let key = Key::parse(&pk.to_base64()).unwrap();
        Pair { sk, pk, key }
    }

    fn file(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.tar.gz");
        std::fs::write(&p, bytes).unwrap();
        (d, p)
    }

    fn ctx<'a>(pins: &'a [Pinned], ever: bool, require: Option<&'a str>) -> Context<'a> {
        Context {
            plugin: "hello",
            what: "hello 1.0.0",
            artifact: "a.tar.gz",
            pins,
            ever_signed: ever,
            require,
            reset: "forget its keys",
            max: 1 << 20,
        }
    }

    fn published(p: &Pair, path: &Path, vouched: Vec<(Key, How)>, offered: bool) -> Published {
        Published {
            signature: sign(&p.sk, &p.pk, std::fs::File::open(path).unwrap(), "a.tar.gz").unwrap(),
            origin: "a.tar.gz.minisig".into(),
            over: Over::File(path.to_path_buf()),
            vouched,
            offered: offered.then(|| p.key.clone()),
        }
    }

    #[test]
    fn key_ids_are_as_minisign_prints_them() {
        let p = pair();
        assert!(is_key_id(&p.key.id));
        assert_eq!(p.key.id, p.key.id.to_uppercase());
        let pubfile = format!(
            "untrusted comment: minisign public key {}\n{}\n",
            p.key.id, p.key.base64
        );
        assert_eq!(Key::parse(&pubfile).unwrap().id, p.key.id);
        for bad in ["", "RWxx", "not base64 at all!", &"A".repeat(2000)] {
            assert!(Key::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn first_use_pins_then_the_pin_rules() {
        let a = pair();
        let b = pair();
        let (_d, path) = file(b"artifact bytes");
        let v = judge(
            &ctx(&[], false, None),
            Some(&published(&a, &path, vec![], true)),
        )
        .unwrap();
        let Some(Accepted { signer, pin, .. }) = v else {
            panic!("signed")
        };
        assert_eq!(
            (signer.key_id.as_str(), signer.trusted),
            (a.key.id.as_str(), How::FirstUse)
        );
        let pins = vec![pin.unwrap()];
        // The same key later: fine, nothing new to pin.
        let v = judge(
            &ctx(&pins, true, None),
            Some(&published(&a, &path, vec![], true)),
        )
        .unwrap();
        assert!(matches!(v, Some(Accepted { pin: None, .. })));
        // Another key, even published beside it: refused, naming both.
        let e = judge(
            &ctx(&pins, true, None),
            Some(&published(&b, &path, vec![], true)),
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains(&a.key.id) && text.contains(&b.key.id),
            "{text}"
        );
        assert!(
            e.hints()
                .iter()
                .any(|h| h.contains("kplug plugin trust hello --key")),
            "{e:?}"
        );
        // Unsigned after signed: refused.
        let e = judge(&ctx(&pins, true, None), None).unwrap_err();
        assert!(e.to_string().contains("signed before"), "{e}");
        // Unsigned, never signed: allowed unless required.
        assert!(judge(&ctx(&[], false, None), None).unwrap().is_none());
        assert!(judge(&ctx(&[], false, Some("--require-signature")), None).is_err());
    }

    #[test]
    fn bad_signatures_are_never_accepted() {
        let a = pair();
        let (_d, path) = file(b"artifact bytes");
        let good = published(&a, &path, vec![], true);
        // Other bytes.
        std::fs::write(&path, b"tampered bytes").unwrap();
        let e = judge(&ctx(&[], false, None), Some(&good)).unwrap_err();
        assert!(e.to_string().contains("does not verify"), "{e}");
        std::fs::write(&path, b"artifact bytes").unwrap();
        // Garbage and truncation.
        for text in ["garbage", &good.signature[..good.signature.len() / 2]] {
            let p = Published {
                signature: text.into(),
                ..good.clone()
            };
            let e = judge(&ctx(&[], false, None), Some(&p)).unwrap_err();
            assert!(e.to_string().contains("a.tar.gz.minisig"), "{e}");
        }
        // A trusted comment naming another file.
        let other = Published {
            signature: sign(
                &a.sk,
                &a.pk,
                std::fs::File::open(&path).unwrap(),
                "b.tar.gz",
            )
            .unwrap(),
            ..good.clone()
        };
        let e = judge(&ctx(&[], false, None), Some(&other)).unwrap_err();
        assert!(e.to_string().contains("b.tar.gz"), "{e}");
        // No key to check it with: refused, not trusted blindly.
        let bare = Published {
            offered: None,
            ..good.clone()
        };
        assert!(judge(&ctx(&[], false, None), Some(&bare)).is_err());
        // A source that vouches for another key only.
        let b = pair();
        let vouching = Published {
            vouched: vec![(b.key.clone(), How::Source)],
            ..good.clone()
        };
        let e = judge(&ctx(&[], false, None), Some(&vouching)).unwrap_err();
        assert!(e.to_string().contains("does not trust"), "{e}");
        // The positive control: the good one passes.
        assert!(judge(&ctx(&[], false, None), Some(&good)).is_ok());
    }

    #[test]
    fn a_damaged_pin_or_a_new_first_use_is_refused() {
        let a = pair();
        let (_d, path) = file(b"x");
        let pins = vec![Pinned {
            public_key: "RWnot-a-key".into(),
            ..Pinned::new(&a.key, How::Accepted)
        }];
        let signed = || published(&a, &path, vec![], true);
        // A receipt whose pinned key does not parse: refused, never skipped.
        let e = judge(&ctx(&pins, true, None), Some(&signed())).unwrap_err();
        assert!(e.to_string().contains("is unusable"), "{e}");
        // Signed before, every key since removed: no second first use.
        assert!(judge(&ctx(&[], true, None), Some(&signed())).is_err());
        // Never signed: first use (the positive control).
        assert!(judge(&ctx(&[], false, None), Some(&signed())).is_ok());
    }
}
