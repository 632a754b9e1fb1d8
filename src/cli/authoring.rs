//! `kplug plugin new|validate` and `kplug completion`.

use crate::config::Config;
use crate::error::{Error, Result};
use clap::Subcommand;

/// Plugin-authoring commands, flattened into `kplug plugin`.
#[derive(Debug, Subcommand)]
pub enum AuthoringCommand {
    /// Scaffold a new plugin (bash, Rust or Python) that speaks protocol v1
    New {
        /// The plugin's name: the executable is `kplug-NAME`
        name: String,
        /// The language of the plugin
        #[arg(long, value_enum)]
        lang: crate::authoring::new::Lang,
        /// Directory to create (default: ./kplug-NAME); must not exist or be empty
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
    /// Push a plugin version to an OCI registry, one manifest per platform
    ///
    /// Each ARCHIVE's platform is read from its file name
    /// (`kplug-NAME_1.2.0_linux_amd64.tar.gz`), or given with `--platform`.
    /// The contract comes from the plugin's INFO, run in a sandbox; its name
    /// and version must be the repository's last component and the tag.
    /// Blobs the registry has are not sent again. Prints the index digest.
    Publish {
        /// Where: oci://HOST[:PORT]/REPO/NAME:VERSION
        #[arg(value_name = "REFERENCE")]
        reference: String,
        /// Release archives (.tar.gz, .zip) or executables
        #[arg(value_name = "ARCHIVE")]
        archives: Vec<std::path::PathBuf>,
        /// An archive for a platform its name does not tell: os/arch=ARCHIVE
        #[arg(long, value_name = "OS/ARCH=ARCHIVE", value_parser = platform_archive)]
        platform: Vec<(String, std::path::PathBuf)>,
        /// Also tag the version with TAG (e.g. `latest`)
        #[arg(long, value_name = "TAG")]
        also_tag: Vec<String>,
        /// The plugin's source code (the `org.opencontainers.image.source` annotation)
        #[arg(long, value_name = "URL")]
        source_url: Option<String>,
        /// Replace the version if the tag already holds other content
        #[arg(long)]
        force: bool,
        /// Sign the version with this minisign secret key (its password in KPLUG_SIGN_PASSWORD, else asked); pushes the signature as the tag sha256-<digest>.sig
        #[arg(long, value_name = "FILE")]
        sign_key: Option<std::path::PathBuf>,
        /// Output format of the result
        #[arg(short, long, value_enum, default_value_t = crate::ui::Format::Table)]
        output: crate::ui::Format,
    },
    /// Check a plugin against protocol v1 (exit 1 if any check fails)
    Validate {
        /// A path to an executable, or the name of a plugin kplug finds
        #[arg(value_name = "PATH|NAME")]
        target: String,
        /// Output format
        #[arg(short, long, value_enum, default_value_t = crate::ui::Format::Table)]
        output: crate::ui::Format,
    },
}

/// Top-level commands of the authoring kit, flattened into `kplug`.
#[derive(Debug, Subcommand)]
pub enum TopCommand {
    /// Print a shell completion script
    ///
    /// Completes built-in commands and flags, and the names of the plugins
    /// kplug can find (asked for when completing, without running any
    /// plugin). Load it with `source <(kplug completion bash)` in ~/.bashrc,
    /// `kplug completion zsh > "${fpath[1]}/_kplug"`, or
    /// `kplug completion fish > ~/.config/fish/completions/kplug.fish`.
    Completion {
        /// The shell to print the script for
        #[arg(value_enum)]
        shell: super::completion::Shell,
    },
    /// Print candidate words for the completion scripts, one per line
    #[command(name = "__complete", hide = true)]
    Complete {
        /// What to list
        #[arg(value_enum)]
        what: super::completion::Words,
    },
}

fn platform_archive(text: &str) -> std::result::Result<(String, std::path::PathBuf), String> {
    let (p, a) = text
        .split_once('=')
        .ok_or("write it as os/arch=ARCHIVE, e.g. linux/amd64=./dist/kplug-x")?;
    Ok((p.to_string(), a.into()))
}

pub fn run(cfg: &Config, command: AuthoringCommand) -> Result<i32> {
    use crate::authoring::{new, validate};
    match command {
        AuthoringCommand::Publish {
            reference,
            archives,
            platform,
            also_tag,
            source_url,
            force,
            sign_key,
            output,
        } => {
            crate::exec::interrupt::install();
            let done = crate::authoring::publish::publish(
                cfg,
                &crate::authoring::publish::Publish {
                    reference: &reference,
                    archives: &archives,
                    platforms: &platform,
                    also_tags: &also_tag,
                    source_url: source_url.as_deref(),
                    force,
                    sign_key: sign_key.as_deref(),
                },
            )?;
            if output != crate::ui::Format::Table {
                crate::ui::emit(output, &done)
                    .map_err(|e| Error::new("could not write to stdout").caused_by(e))?;
            } else {
                crate::ui::print_stdout(&format!("{}\n", done.digest))
                    .map_err(|e| Error::new("could not write to stdout").caused_by(e))?;
            }
            if let Some(s) = &done.signature {
                eprintln!(
                    "signed it with key {} (the tag {})",
                    s.key_id,
                    crate::ui::escape(&s.tag)
                );
            }
            eprintln!(
                "published {} ({}): {} blob{} uploaded, {} already there",
                crate::ui::escape(&done.reference),
                done.platforms.join(", "),
                done.uploaded,
                if done.uploaded == 1 { "" } else { "s" },
                done.reused
            );
            Ok(crate::error::exit::OK)
        }
        AuthoringCommand::New { name, lang, dir } => {
            let scaffold = new::scaffold(&name, lang, dir.as_deref())?;
            eprint!("{}", scaffold.next_steps());
            Ok(crate::error::exit::OK)
        }
        AuthoringCommand::Validate { target, output } => {
            crate::exec::interrupt::install();
            let report = validate::validate(cfg, &target)?;
            let written = match output {
                crate::ui::Format::Table => crate::ui::print_stdout(&report.table()),
                format => crate::ui::emit(format, &report),
            };
            // `kplug plugin validate x -o json | head` is not a failure.
            if let Err(e) = written
                && e.kind() != std::io::ErrorKind::BrokenPipe
            {
                return Err(Error::new("could not write the report").caused_by(e));
            }
            eprintln!("{}", report.summary());
            Ok(if report.ok {
                crate::error::exit::OK
            } else {
                crate::error::exit::FAILED
            })
        }
    }
}

pub fn run_top(cfg: &Config, command: TopCommand) -> Result<i32> {
    use super::completion;
    match command {
        TopCommand::Completion { shell } => completion::print_script(shell),
        TopCommand::Complete { what } => completion::print_words(cfg, what),
    }
}
