//! `kplug plugin search`, `plugin source …`, `plugin cache …` and
//! `plugin inventory build`: the commands about where plugins come from.

use crate::config::{Config, SourceConfig, SourceKind, edit};
use crate::error::{Context, Error, Result};
use crate::install::catalog::{self, Catalog, Refreshed};
use crate::store::Store;
use crate::ui::progress::human;
use crate::ui::{self, Format, Table};
use clap::{Subcommand, ValueEnum};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum SourcesCommand {
    /// Search the configured sources for plugins by name or description
    ///
    /// Reads the copy kept of each source; a copy older than the source's
    /// TTL (default 1h) is refreshed first, with a conditional request. A
    /// source that cannot be reached is warned about and its last copy
    /// used.
    Search {
        /// Show plugins whose name or description contains TERM (any case);
        /// every plugin without it
        term: Option<String>,
        /// Only this source
        #[arg(long, value_name = "NAME")]
        source: Option<String>,
        /// List every version a source offers, not just the newest
        #[arg(long)]
        all_versions: bool,
        /// Ask every source again, however fresh its copy
        #[arg(long)]
        refresh: bool,
        /// Output format
        #[arg(long, short, value_enum, default_value_t)]
        output: Format,
    },
    /// Add, list, remove and refresh the sources plugins are found in
    Source {
        #[command(subcommand)]
        command: SourceCommand,
    },
    /// Show and reclaim the cache of downloaded artifacts
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
    },
    /// Make an inventory document from release archives
    Inventory {
        #[command(subcommand)]
        command: InventoryCommand,
    },
}

/// `--kind`: what kind of place a source is.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    /// A GitHub owner (its repositories with the topic `kplug-plugin`) or one `owner/repo`
    Github,
    /// An inventory document: a path, an https URL, or an oci:// artifact
    Index,
    /// An OCI registry prefix: plugin NAME is the repository PREFIX/NAME
    Oci,
    /// An Omaha update server (Nebraska): omaha+https://HOST/v1/update
    Omaha,
}

#[derive(Debug, Subcommand)]
pub enum SourceCommand {
    /// Add a source, fetched once to check it (written to the config file)
    Add {
        /// What commands call it: `kplug plugin install NAME/PLUGIN`
        name: String,
        /// An inventory's path or https URL, a GitHub owner or `owner/repo`, oci://HOST/PREFIX, or omaha+https://HOST/v1/update
        address: String,
        /// Its kind (default: guessed from ADDRESS)
        #[arg(long, value_enum)]
        kind: Option<KindArg>,
        /// An omaha source's channel (the Omaha track) [default: stable]
        #[arg(long, value_name = "CHANNEL")]
        channel: Option<String>,
        /// An omaha source's app id for a plugin (default `kplug-plugin-NAME`); repeatable
        #[arg(long = "app", value_name = "PLUGIN=APPID", value_parser = parse_app)]
        apps: Vec<(String, String)>,
        /// An omaha source refuses packages the server gives only a SHA-1 hash for
        #[arg(long)]
        require_sha256: bool,
        /// A minisign public key (`RW…`) its plugins must be signed by; repeatable
        #[arg(long, value_name = "PUBLIC-KEY")]
        trust: Vec<String>,
        /// How long its copy is used before asking again, like `30m` [default: 1h]
        #[arg(long, value_name = "DURATION", value_parser = parse_ttl)]
        ttl: Option<crate::protocol::Timeout>,
    },
    /// List the sources, with the age of each copy
    #[command(visible_alias = "ls")]
    List {
        /// Output format
        #[arg(long, short, value_enum, default_value_t)]
        output: Format,
    },
    /// Remove a source and the copy kept of it (installed plugins stay)
    #[command(visible_alias = "rm")]
    Remove {
        /// The source's name
        name: String,
    },
    /// Fetch a source (or every source) again, however fresh its copy
    Refresh {
        /// Only this source
        name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// List the cached artifacts, with the installed versions that use each
    #[command(visible_alias = "ls")]
    List {
        /// Output format
        #[arg(long, short, value_enum, default_value_t)]
        output: Format,
    },
    /// Delete the cached artifacts no installed version uses
    Prune,
}

#[derive(Debug, Subcommand)]
pub enum InventoryCommand {
    /// Write an inventory listing ARCHIVEs, to be served from BASE-URL
    ///
    /// Each archive is hashed, and its plugin's INFO run in a sandbox for
    /// its name, version, description and requirements. The platform is
    /// read from the file name (`kplug-NAME_1.2.0_linux_amd64.tar.gz`), and
    /// the artifact's URL is BASE-URL/FILE-NAME.
    Build {
        /// Release archives (.tar.gz, .zip) or executables
        #[arg(required = true, value_name = "ARCHIVE")]
        archives: Vec<PathBuf>,
        /// Where the archives will be served: https://…, http on loopback,
        /// or a path relative to the inventory
        #[arg(long, value_name = "URL")]
        base_url: String,
        /// The file to write (`-`: stdout)
        #[arg(long, short, value_name = "FILE")]
        output: PathBuf,
        /// Add to the inventory already in FILE instead of replacing it
        #[arg(long)]
        merge: bool,
        /// Sign each archive and the document with this minisign secret key (writes FILE.minisig; password in KPLUG_SIGN_PASSWORD, else asked)
        #[arg(long, value_name = "KEY")]
        sign_key: Option<PathBuf>,
    },
}

fn parse_ttl(text: &str) -> std::result::Result<crate::protocol::Timeout, String> {
    crate::protocol::parse_duration(text).map(crate::protocol::Timeout)
}

/// `--app PLUGIN=APPID` (checked with the source).
fn parse_app(text: &str) -> std::result::Result<(String, String), String> {
    match text.split_once('=') {
        Some((p, id)) if !p.is_empty() && !id.is_empty() => Ok((p.to_string(), id.to_string())),
        _ => Err("expected PLUGIN=APPID, like `lint=io.corp.lint`".into()),
    }
}

pub fn run(cfg: &Config, command: SourcesCommand) -> Result<i32> {
    match command {
        SourcesCommand::Search {
            term,
            source,
            all_versions,
            refresh,
            output,
        } => search(
            cfg,
            term.as_deref(),
            source.as_deref(),
            all_versions,
            refresh,
            output,
        ),
        SourcesCommand::Source { command } => source(cfg, command),
        SourcesCommand::Cache { command } => cache(cfg, command),
        SourcesCommand::Inventory {
            command:
                InventoryCommand::Build {
                    archives,
                    base_url,
                    output,
                    merge,
                    sign_key,
                },
        } => build(
            cfg,
            &archives,
            &base_url,
            &output,
            merge,
            sign_key.as_deref(),
        ),
    }
}

fn stdout(text: &str) -> Result<()> {
    ui::print_stdout(text).context("could not write to stdout")
}

fn search(
    cfg: &Config,
    term: Option<&str>,
    only: Option<&str>,
    all_versions: bool,
    refresh: bool,
    output: Format,
) -> Result<i32> {
    crate::exec::interrupt::install();
    let found = catalog::search(cfg, term, only, all_versions, refresh)?;
    if output != Format::Table {
        ui::emit(output, &found).context("could not write to stdout")?;
        return Ok(0);
    }
    if found.is_empty() {
        match term {
            Some(t) => eprintln!("no plugin matches `{}`", ui::escape(t)),
            None => eprintln!("the sources list no plugins"),
        }
        return Ok(0);
    }
    let mut header = vec!["NAME", "VERSION", "SOURCE", "INSTALLED", "DESCRIPTION"];
    if all_versions {
        header.insert(2, "VERSIONS");
    }
    let mut table = Table::new(&header);
    for f in found {
        let mut row = vec![
            f.name,
            f.version.unwrap_or_else(|| "-".into()),
            f.source,
            f.installed.unwrap_or_else(|| "-".into()),
            f.description.lines().next().unwrap_or_default().to_string(),
        ];
        if all_versions {
            row.insert(2, f.versions.join(", "));
        }
        table.row(row);
    }
    let flex = header.len() - 1;
    stdout(&table.render_within(100, flex))?;
    Ok(0)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SourceView<'a> {
    #[serde(flatten)]
    source: &'a SourceConfig,
    /// Seconds since the copy was fetched (none: never fetched).
    age_seconds: Option<u64>,
    plugins: Option<usize>,
}

fn config_path(cfg: &Config) -> Result<PathBuf> {
    cfg.config_file_path().ok_or_else(|| {
        Error::new("cannot tell where the config file is: neither XDG_CONFIG_HOME nor HOME is set")
            .with_hint("set HOME (or XDG_CONFIG_HOME)")
    })
}

fn source(cfg: &Config, command: SourceCommand) -> Result<i32> {
    crate::exec::interrupt::install();
    match command {
        SourceCommand::Add {
            name,
            address,
            kind,
            ttl,
            channel,
            apps,
            require_sha256,
            trust,
        } => {
            catalog::check_source_name(&name)?;
            let catalog = Catalog::new(cfg)?;
            if catalog.get(&name).is_some() {
                return Err(Error::usage(format!("a source named `{name}` exists already"))
                    .with_hint(format!(
                        "remove it first with `kplug plugin source remove {name}`, or choose another name"
                    )));
            }
            let kind = match kind {
                Some(KindArg::Github) => SourceKind::Github,
                Some(KindArg::Index) => SourceKind::Index,
                                Some(KindArg::Oci) => SourceKind::Oci,
                Some(KindArg::Omaha) => SourceKind::Omaha,
                None => catalog::guess_kind(&address).ok_or_else(|| {
                    Error::usage(format!(
                        "cannot tell what kind of source `{}` is",
                        ui::escape(&address)
                    ))
                    .with_hint("say it with `--kind index` (an inventory) or `--kind github` (an owner or owner/repo)")
                })?,
            };
            let new = catalog::check_source(SourceConfig {
                name: name.clone(),
                kind,
                address,
                ttl,
                channel,
                apps: apps.into_iter().collect(),
                require_sha256,
                trust,
            })?;
            // Fetched before it is saved, so a typo is caught now.
            let probe = Catalog::of(cfg, vec![new.clone()]);
            if let Some((_, Refreshed::Failed(e))) = probe.refresh(None, true).pop() {
                let _ = probe.forget(&name);
                return Err(e
                    .with_hint(format!("source `{name}` was not added"))
                    .with_code(crate::error::exit::FAILED));
            }
            let file = config_path(cfg)?;
            edit::add_source(&file, &new)?;
            if new.kind == SourceKind::Omaha {
                eprintln!(
                    "added source `{name}` (omaha, {}, channel {}): install its plugins with `kplug plugin install {name}/NAME`",
                    ui::escape(&crate::install::http::display_text(&new.address)),
                    new.channel
                        .as_deref()
                        .unwrap_or(crate::install::source::omaha::DEFAULT_CHANNEL)
                );
                return Ok(0);
            }
            let count = probe.plugin_count(&name).unwrap_or(0);
            eprintln!(
                "added source `{name}` ({}, {}): {count} plugin{}; search it with `kplug plugin search --source {name}`",
                new.kind.as_str(),
                ui::escape(&crate::install::http::display_text(&new.address)),
                if count == 1 { "" } else { "s" }
            );
            Ok(0)
        }
        SourceCommand::List { output } => {
            let catalog = Catalog::new(cfg)?;
            let views: Vec<SourceView> = catalog
                .sources
                .iter()
                .map(|s| SourceView {
                    source: s,
                    age_seconds: catalog.age(s).map(|d| d.as_secs()),
                    plugins: catalog.plugin_count(&s.name),
                })
                .collect();
            if output != Format::Table {
                ui::emit(output, &views).context("could not write to stdout")?;
                return Ok(0);
            }
            if views.is_empty() {
                eprintln!(
                    "no sources are configured; add one with `kplug plugin source add NAME ADDRESS`"
                );
                return Ok(0);
            }
            let mut t = Table::new(&["NAME", "KIND", "TTL", "FETCHED", "PLUGINS", "ADDRESS"]);
            for v in views {
                t.row(vec![
                    v.source.name.clone(),
                    v.source.kind.as_str().into(),
                    crate::protocol::format_duration(
                        v.source.ttl.map_or(catalog::DEFAULT_TTL, |t| t.0),
                    ),
                    v.age_seconds.map_or_else(
                        || "never".into(),
                        |s| {
                            format!(
                                "{} ago",
                                crate::protocol::format_duration(std::time::Duration::from_secs(
                                    s.max(1)
                                ))
                            )
                        },
                    ),
                    v.plugins.map_or_else(|| "-".into(), |n| n.to_string()),
                    match &v.source.channel {
                        Some(c) => format!(
                            "{} (channel {c})",
                            crate::install::http::display_text(&v.source.address)
                        ),
                        None => crate::install::http::display_text(&v.source.address),
                    },
                ]);
            }
            stdout(&t.render_within(100, 5))?;
            Ok(0)
        }
        SourceCommand::Remove { name } => {
            catalog::check_source_name(&name)?;
            let catalog = Catalog::new(cfg)?;
            if catalog.get(&name).is_none() {
                let mut err = Error::usage(format!("no source named `{name}`"));
                if let Some(s) =
                    ui::did_you_mean(&name, catalog.sources.iter().map(|s| s.name.as_str()))
                {
                    err = err.with_hint(format!("did you mean `{s}`?"));
                }
                return Err(err.with_hint("see the sources with `kplug plugin source list`"));
            }
            edit::remove_source(&config_path(cfg)?, &name)?;
            catalog.forget(&name)?;
            eprintln!("removed source `{name}`; plugins installed from it stay installed");
            Ok(0)
        }
        SourceCommand::Refresh { name } => {
            let catalog = Catalog::new(cfg)?;
            if let Some(n) = &name
                && catalog.get(n).is_none()
            {
                return Err(Error::usage(format!("no source named `{}`", ui::escape(n)))
                    .with_hint("see the sources with `kplug plugin source list`"));
            }
            if catalog.sources.is_empty() {
                eprintln!(
                    "no sources are configured; add one with `kplug plugin source add NAME ADDRESS`"
                );
                return Ok(0);
            }
            let mut failed = 0;
            for (n, r) in catalog.refresh(name.as_deref(), true) {
                match r {
                    Refreshed::Failed(e) => {
                        failed += 1;
                        ui::print_error(
                            cfg,
                            &e.with_hint(format!("source `{n}` keeps its previous copy")),
                        );
                    }
                    Refreshed::NotModified => eprintln!("source `{n}`: unchanged"),
                    Refreshed::Answered => eprintln!("source `{n}`: the server answers"),
                    _ => eprintln!(
                        "source `{n}`: {} plugins",
                        catalog.plugin_count(&n).unwrap_or(0)
                    ),
                }
            }
            Ok(if failed > 0 {
                crate::error::exit::FAILED
            } else {
                0
            })
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BlobView {
    sha256: String,
    size: u64,
    used_by: Vec<String>,
}

fn cache(cfg: &Config, command: CacheCommand) -> Result<i32> {
    let store = Store::new(cfg)?;
    match command {
        CacheCommand::List { output } => {
            let (blobs, unreadable) = store.blobs();
            for e in &unreadable {
                ui::warn(
                    cfg,
                    &format!(
                        "{}; the artifacts it names are shown as unused",
                        e.message()
                    ),
                );
            }
            if output != Format::Table {
                let views: Vec<BlobView> = blobs
                    .into_iter()
                    .map(|b| BlobView {
                        sha256: b.sha256,
                        size: b.size,
                        used_by: b.used_by,
                    })
                    .collect();
                ui::emit(output, &views).context("could not write to stdout")?;
                return Ok(0);
            }
            if blobs.is_empty() {
                eprintln!("the cache is empty");
                return Ok(0);
            }
            let total: u64 = blobs.iter().map(|b| b.size).sum();
            let unused: u64 = blobs
                .iter()
                .filter(|b| b.used_by.is_empty())
                .map(|b| b.size)
                .sum();
            let mut t = Table::new(&["SHA256", "SIZE", "USED BY"]);
            for b in &blobs {
                t.row(vec![
                    b.sha256[..12].to_string(),
                    human(b.size),
                    if b.used_by.is_empty() {
                        "-".into()
                    } else {
                        b.used_by.join(", ")
                    },
                ]);
            }
            stdout(&t.render_within(100, 2))?;
            eprintln!(
                "{} in {} artifact{}; {} unused (reclaim with `kplug plugin cache prune`)",
                human(total),
                blobs.len(),
                if blobs.len() == 1 { "" } else { "s" },
                human(unused)
            );
            Ok(0)
        }
        CacheCommand::Prune => {
            crate::exec::interrupt::install();
            let lock = store.lock()?;
            let removed = store.prune_blobs(&lock)?;
            let freed: u64 = removed.iter().map(|b| b.size).sum();
            eprintln!(
                "removed {} unused artifact{}, {}",
                removed.len(),
                if removed.len() == 1 { "" } else { "s" },
                human(freed)
            );
            Ok(0)
        }
    }
}

fn build(
    cfg: &Config,
    archives: &[PathBuf],
    base_url: &str,
    output: &std::path::Path,
    merge: bool,
    sign_key: Option<&std::path::Path>,
) -> Result<i32> {
    use crate::install::inventory;
    crate::exec::interrupt::install();
    let to_stdout = output.as_os_str() == "-";
    if to_stdout && sign_key.is_some() {
        return Err(Error::usage(
            "`--sign-key` writes the document's signature beside it: give `--output FILE`",
        ));
    }
    let signer = match sign_key {
        Some(k) => Some(crate::install::signing::load_secret(cfg, k)?),
        None => None,
    };
    let existing = if merge && !to_stdout {
        match crate::fsutil::read_bounded(output, inventory::MAX_BYTES) {
            Ok(bytes) => Some(inventory::parse(&bytes).map_err(|p| {
                Error::new(format!("cannot merge into {}: {p}", output.display()))
                    .with_hint("fix the file, or build without --merge to replace it")
            })?),
            Err(crate::fsutil::ReadError::Missing) => None,
            Err(e) => {
                return Err(Error::new(format!("could not read {}", output.display())).caused_by(e));
            }
        }
    } else {
        None
    };
    let (inv, warnings) =
        crate::authoring::inventory::build(cfg, archives, base_url, existing, signer.as_ref())?;
    for w in &warnings {
        ui::warn(cfg, w);
    }
    let text = inventory::to_yaml(&inv);
    if to_stdout {
        stdout(&text)?;
    } else {
        crate::fsutil::write_atomic(output, text.as_bytes())
            .with_context(|| format!("could not write {}", output.display()))?;
        if let Some(signer) = &signer {
            let file = output
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let sig = signer.sign(text.as_bytes(), &file)?;
            let at = std::path::PathBuf::from(format!("{}.minisig", output.display()));
            crate::fsutil::write_atomic(&at, sig.as_bytes())
                .with_context(|| format!("could not write {}", at.display()))?;
            eprintln!(
                "signed it and its artifacts with key {}: {}",
                signer.key.id,
                at.display()
            );
        }
        let versions: usize = inv.plugins.values().map(|p| p.versions.len()).sum();
        eprintln!(
            "wrote {}: {} plugin{}, {versions} version{}",
            output.display(),
            inv.plugins.len(),
            if inv.plugins.len() == 1 { "" } else { "s" },
            if versions == 1 { "" } else { "s" }
        );
    }
    Ok(0)
}
