//! `kplug version`.

use crate::error::{Context, Result};
use crate::protocol::SUPPORTED_PROTOCOLS;
use crate::ui::{self, Format};
use serde::Serialize;

#[derive(Serialize)]
struct Version {
    version: &'static str,
    protocols: &'static [u32],
}

pub fn run(output: Format) -> Result<i32> {
    let v = Version {
        version: crate::VERSION,
        protocols: SUPPORTED_PROTOCOLS,
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
    Ok(0)
}
