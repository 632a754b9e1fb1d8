//! `kplug plugin trust …` (the keys each plugin must be signed by) and
//! `kplug plugin verify` (what is installed, checked again against the
//! receipts).

use crate::config::Config;
use crate::error::{Context, Error, Result};
use crate::install::signing::{self, How, Key, Pinned};
use crate::store::Store;
use crate::ui::{self, Format, Table};
use clap::Subcommand;
use serde::Serialize;

#[derive(Debug, Subcommand)]
pub enum TrustAndVerify {
    /// Show and change the keys plugins must be signed by
    ///
    /// `kplug plugin trust NAME --key KEY` accepts KEY for NAME (the same
    /// as `trust add`): a key change kplug refused names this command.
    #[command(args_conflicts_with_subcommands = true)]
    Trust {
        /// The plugin to accept KEY for
        name: Option<String>,
        /// A minisign public key (`RW…`, or a minisign.pub file)
        #[arg(long, value_name = "KEY")]
        key: Option<String>,
        #[command(subcommand)]
        command: Option<TrustCommand>,
    },
    /// Check installed plugins against their receipts (exit 1 on tampering)
    ///
    /// The installed executable against the sha256 recorded when it was
    /// installed; the cached artifact against its sha256; and the artifact's
    /// signature against the key that signed it.
    Verify {
        /// The plugin (or `--all`)
        #[arg(conflicts_with = "all")]
        name: Option<String>,
        /// Every plugin in kplug's store
        #[arg(long)]
        all: bool,
        /// Output format
        #[arg(long, short, value_enum, default_value_t)]
        output: Format,
    },
}

#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// The keys each plugin is pinned to, and the keys sources trust
    #[command(visible_alias = "ls")]
    List {
        /// Only this plugin
        name: Option<String>,
        /// Output format
        #[arg(long, short, value_enum, default_value_t)]
        output: Format,
    },
    /// Accept KEY for a plugin: later versions may be signed by it
    Add {
        name: String,
        /// A minisign public key (`RW…`, or a minisign.pub file)
        #[arg(long, value_name = "KEY")]
        key: String,
    },
    /// Forget a key of a plugin (or all of them, which also accepts
    /// unsigned versions again)
    #[command(visible_alias = "rm")]
    Remove {
        name: String,
        /// The key id to forget
        #[arg(long, value_name = "KEY-ID", required_unless_present = "all")]
        key: Option<String>,
        /// Forget every key, and that it was ever signed
        #[arg(long, conflicts_with = "key")]
        all: bool,
    },
}

pub fn run(cfg: &Config, command: TrustAndVerify) -> Result<i32> {
    match command {
        TrustAndVerify::Trust { name, key, command } => match (command, name, key) {
            (Some(TrustCommand::List { name, output }), _, _) => list(cfg, name.as_deref(), output),
            (Some(TrustCommand::Add { name, key }), _, _) => add(cfg, &name, &key),
            (Some(TrustCommand::Remove { name, key, all }), _, _) => {
                remove(cfg, &name, key.as_deref(), all)
            }
            (None, Some(name), Some(key)) => add(cfg, &name, &key),
            (None, Some(name), None) => Err(Error::usage(format!(
                "`kplug plugin trust {name}` needs `--key KEY`"
            ))
            .with_hint(format!(
                "see its keys with `kplug plugin trust list {name}`"
            ))),
            (None, None, _) => list(cfg, None, Format::Table),
        },
        TrustAndVerify::Verify { name, all, output } => verify(cfg, name.as_deref(), all, output),
    }
}

fn installed(store: &Store, name: &str) -> Result<crate::store::Receipt> {
    crate::discovery::check_name_arg(name)?;
    let receipt = store.receipt(name)?;
    if receipt.versions.is_empty() {
        return Err(
            Error::new(format!("`{name}` is not installed in kplug's store")).with_hint(
                "a source's `trust:` list pins keys before a first install (docs/security.md)",
            ),
        );
    }
    Ok(receipt)
}

fn add(cfg: &Config, name: &str, key: &str) -> Result<i32> {
    let text = if std::path::Path::new(key).is_file() {
        let bytes = crate::fsutil::read_bounded(std::path::Path::new(key), signing::MAX_KEY)
            .map_err(|e| Error::new(format!("could not read {key}")).caused_by(e))?;
        String::from_utf8_lossy(&bytes).into_owned()
    } else {
        key.to_string()
    };
    let pin = if signing::normal_key_id(&text).is_some() {
        // Anyone can make a key with a given id: only the key itself says
        // whose it is.
        return Err(Error::usage(format!(
            "`{}` is a key id; kplug needs the public key itself",
            ui::escape(text.trim())
        ))
        .with_hint("give the `RW…` line of the author's minisign.pub (or the file), as the refusal shows it; check it with the author"));
    } else {
        let k = Key::parse(&text).map_err(|why| {
            Error::usage(format!(
                "`{}` is not a key: {why}",
                ui::escape(&key.chars().take(80).collect::<String>())
            ))
            .with_hint("give a minisign public key (`RW…`) or a minisign.pub file")
        })?;
        Pinned::new(&k, How::Accepted)
    };
    let store = Store::new(cfg)?;
    let lock = store.lock()?;
    let mut receipt = installed(&store, name)?;
    receipt.keys.retain(|k| k.key_id != pin.key_id);
    let id = pin.key_id.clone();
    receipt.keys.push(pin);
    store.write_receipt(&lock, name, &receipt)?;
    eprintln!("{name} may now be signed by key {id}");
    Ok(0)
}

fn remove(cfg: &Config, name: &str, key: Option<&str>, all: bool) -> Result<i32> {
    let store = Store::new(cfg)?;
    let lock = store.lock()?;
    let mut receipt = installed(&store, name)?;
    if all {
        let n = receipt.keys.len();
        receipt.keys.clear();
        receipt.signed = false;
        store.write_receipt(&lock, name, &receipt)?;
        eprintln!(
            "forgot {n} key{} of {name}: its next version may be signed by any key, or unsigned",
            if n == 1 { "" } else { "s" }
        );
        return Ok(0);
    }
    let id = key
        .and_then(signing::normal_key_id)
        .unwrap_or_else(|| key.unwrap_or_default().to_string());
    let before = receipt.keys.len();
    receipt.keys.retain(|k| k.key_id != id);
    if receipt.keys.len() == before {
        return Err(
            Error::usage(format!("{name} has no key {}", ui::escape(&id))).with_hint(format!(
                "see its keys with `kplug plugin trust list {name}`"
            )),
        );
    }
    store.write_receipt(&lock, name, &receipt)?;
    eprintln!("forgot key {id} of {name}");
    Ok(0)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KeyRow {
    /// A plugin, or `source NAME`.
    of: String,
    key_id: String,
    trusted: &'static str,
    added: String,
}

fn list(cfg: &Config, only: Option<&str>, output: Format) -> Result<i32> {
    let store = Store::new(cfg)?;
    let names = match only {
        Some(n) => {
            crate::discovery::check_name_arg(n)?;
            vec![n.to_string()]
        }
        None => store.plugins(),
    };
    let mut rows = Vec::new();
    for name in names {
        let receipt = store.receipt(&name)?;
        for k in &receipt.keys {
            rows.push(KeyRow {
                of: name.clone(),
                key_id: k.key_id.clone(),
                trusted: k.trusted.as_str(),
                added: k.added.clone(),
            });
        }
    }
    if only.is_none() {
        for s in &cfg.file()?.sources {
            for k in &s.trust {
                if let Ok(key) = Key::parse(k) {
                    rows.push(KeyRow {
                        of: format!("source {}", s.name),
                        key_id: key.id,
                        trusted: How::Source.as_str(),
                        added: String::new(),
                    });
                }
            }
        }
    }
    if output != Format::Table {
        ui::emit(output, &rows).context("could not write to stdout")?;
        return Ok(0);
    }
    if rows.is_empty() {
        eprintln!(
            "no keys are pinned or trusted yet: the first signed install of a plugin pins its key"
        );
        return Ok(0);
    }
    let mut t = Table::new(&["OF", "KEY ID", "TRUSTED", "ADDED"]);
    for r in rows {
        t.row(vec![r.of, r.key_id, r.trusted.into(), r.added]);
    }
    ui::print_stdout(&t.render_within(100, 3)).context("could not write to stdout")?;
    Ok(0)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Checked {
    name: String,
    version: String,
    signer: Option<String>,
    ok: bool,
    result: String,
}

fn verify(cfg: &Config, name: Option<&str>, all: bool, output: Format) -> Result<i32> {
    let store = Store::new(cfg)?;
    let names = match (name, all) {
        (Some(n), _) => {
            installed(&store, n)?;
            vec![n.to_string()]
        }
        (None, true) => store.plugins(),
        (None, false) => {
            return Err(Error::usage(
                "`plugin verify` needs a plugin name, or `--all`",
            ));
        }
    };
    let max = cfg
        .file()?
        .install
        .max_download_mib
        .saturating_mul(1024 * 1024);
    let mut rows = Vec::new();
    for name in names {
        let receipt = store.receipt(&name)?;
        for v in &receipt.versions {
            let dir = store.version_dir(&name, &v.version);
            if !dir.is_dir() {
                continue;
            }
            let mut problems = Vec::new();
            let mut notes = Vec::new();
            let exe = dir.join(format!("{}{name}", crate::protocol::EXECUTABLE_PREFIX));
            match (&v.executable_sha256, crate::fsutil::sha256_file(&exe)) {
                (Some(want), Ok(got)) if *want != got => {
                    problems.push("the executable differs from the one installed".to_string());
                }
                (Some(_), Err(e)) => problems.push(format!("the executable cannot be read: {e}")),
                (None, _) => {
                    notes.push("no executable hash recorded (an older kplug installed it)")
                }
                _ => {}
            }
            let blob = store.blob_file(&v.sha256);
            match &blob {
                Some(b) => match crate::fsutil::sha256_file(b) {
                    Ok(got) if got != v.sha256 => {
                        problems.push("the cached artifact differs from the one installed".into());
                    }
                    Err(e) => problems.push(format!("the cached artifact cannot be read: {e}")),
                    Ok(_) => {}
                },
                None => notes.push("the artifact is not cached (checked when installed)"),
            }
            // What the signature covers: the registry digest it was made
            // over, else the cached artifact's bytes.
            let over = match (&v.signed_over, blob) {
                (Some(digest), _) => Some(signing::Over::Text(digest.clone())),
                (None, Some(b)) if problems.is_empty() => Some(signing::Over::File(b)),
                _ => None,
            };
            if let (Some(over), Some(text), Some(signer)) = (over, &v.signature, &v.signer) {
                let key = receipt
                    .keys
                    .iter()
                    .find(|k| k.key_id == signer.key_id)
                    .and_then(|k| Key::parse(&k.public_key).ok());
                match (key, signing::Sig::parse(text)) {
                    (None, _) => notes.push("the signer's key is no longer pinned"),
                    (_, Err(why)) => problems.push(format!("its recorded signature {why}")),
                    (Some(key), Ok(sig)) => {
                        if let Err(why) = signing::verify(&key, &sig, &over, max) {
                            problems.push(format!("its signature: {why}"));
                        }
                    }
                }
            }
            let ok = problems.is_empty();
            let result = if ok {
                if notes.is_empty() {
                    "ok".to_string()
                } else {
                    format!("ok; {}", notes.join("; "))
                }
            } else {
                format!("TAMPERED: {}", problems.join("; "))
            };
            rows.push(Checked {
                name: name.clone(),
                version: v.version.clone(),
                signer: v
                    .signer
                    .as_ref()
                    .map(|s| format!("{} ({})", s.key_id, s.trusted.as_str())),
                ok,
                result,
            });
        }
    }
    let tampered = rows.iter().filter(|r| !r.ok).count();
    if output != Format::Table {
        ui::emit(output, &rows).context("could not write to stdout")?;
    } else {
        let mut t = Table::new(&["NAME", "VERSION", "SIGNER", "RESULT"]);
        for r in &rows {
            t.row(vec![
                r.name.clone(),
                r.version.clone(),
                r.signer.clone().unwrap_or_else(|| "unsigned".into()),
                r.result.clone(),
            ]);
        }
        ui::print_stdout(&t.render_within(120, 3)).context("could not write to stdout")?;
    }
    if tampered > 0 {
        eprintln!(
            "{tampered} installed version{} changed since {} installed: reinstall with `kplug plugin install NAME --force`",
            if tampered == 1 { "" } else { "s" },
            if tampered == 1 { "it was" } else { "they were" }
        );
        return Ok(crate::error::exit::FAILED);
    }
    Ok(0)
}
