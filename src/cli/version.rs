//! `kplug version`.

use crate::error::{Context, Result};
use crate::protocol::SUPPORTED_PROTOCOLS;
use crate::ui::{self, Format};
use serde::Serialize;

#[derive(Serialize)]
struct Version {
    version: &'static str,
    protocols: &'static [u32],
    /// The platform this binary is built for (what `self update` checks).
    os: &'static str,
    arch: &'static str,
}

pub fn run(cfg: &crate::config::Config, output: Format) -> Result<i32> {
    let v = Version {
        version: crate::version(),
        protocols: SUPPORTED_PROTOCOLS,
        os: std::env::consts::OS,
        arch: std::env::consts::ARCH,
    };
    match output {
        Format::Table => {
            let protocols: Vec<String> = v.protocols.iter().map(u32::to_string).collect();
            ui::print_stdout(&format!(
                "kplug {}\nprotocols: {}\n",
                v.version,
                protocols.join(", ")
            ))
        }
        f => ui::emit(f, &v),
    }
    .context("could not write to stdout")?;
    // What the last `self check` found, on a terminal only: scripts and
    // pipes see nothing extra, and nothing here asks the network.
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal()
        && !cfg.flag(crate::config::vars::NO_UPDATE_NOTICE)
        && let Some(n) = crate::host::notice(cfg)
    {
        eprintln!("{n}");
    }
    Ok(0)
}
