//! Plugins the user turned off with `kplug plugin disable`: their hooks do
//! not fire (they can still be called). Kept in
//! `$KPLUG_HOME/state/disabled.json`.

use crate::config::Config;
use crate::error::{Context, Error, Result};
use std::collections::BTreeSet;
use std::path::PathBuf;

fn path(cfg: &Config) -> Result<PathBuf> {
    Ok(cfg.state_dir()?.join("disabled.json"))
}

/// The disabled plugins (none when the file is missing).
pub fn load(cfg: &Config) -> Result<BTreeSet<String>> {
    let Some(home) = cfg.home_opt() else {
        return Ok(BTreeSet::new());
    };
    let file = home.join("state/disabled.json");
    let corrupt = |e: &dyn std::fmt::Display| {
        Error::new(format!("{} is corrupt", file.display()))
            .caused_by(e.to_string())
            .with_hint("fix or delete the file; it only lists disabled plugins")
    };
    match crate::fsutil::read_bounded(&file, 4 * 1024 * 1024) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| corrupt(&e)),
        Err(crate::fsutil::ReadError::Missing) => Ok(BTreeSet::new()),
        Err(e) => Err(corrupt(&e)),
    }
}

/// Mark `name` disabled or enabled; returns whether anything changed.
pub fn set(cfg: &Config, name: &str, disabled: bool) -> Result<bool> {
    crate::store::check_layout(cfg)?;
    let mut set = load(cfg)?;
    let changed = if disabled {
        set.insert(name.to_string())
    } else {
        set.remove(name)
    };
    if changed {
        let file = path(cfg)?;
        let json = serde_json::to_vec_pretty(&set).expect("a set of names serialises");
        crate::fsutil::write_atomic(&file, &json)
            .with_context(|| format!("could not write {}", file.display()))?;
    }
    Ok(changed)
}
