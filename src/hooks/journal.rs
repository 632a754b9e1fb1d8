//! The journal of hook runs: `$KPLUG_HOME/state/journal.jsonl`, one JSON
//! object per line, appended as each hook finishes. `kplug hooks log`
//! reads it back.

use super::{HookRun, RunStatus};
use crate::clock;
use crate::config::Config;
use crate::error::Result;
use crate::protocol::ExecContext;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub time: String,
    pub event: String,
    #[serde(default)]
    pub cluster: String,
    pub hook: String,
    pub kind: String,
    pub mode: String,
    /// `ok` or `failed`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub duration_ms: u64,
    pub invocation_id: String,
}

/// The journal file, opened once per process (a firing of 100 hooks would
/// otherwise open it 100 times), behind a lock that serialises appends
/// from concurrent post hooks; `O_APPEND` keeps whole lines from different
/// processes apart.
static JOURNAL: Mutex<Option<(PathBuf, std::fs::File)>> = Mutex::new(None);

/// Append one run. A journal that cannot be written is a warning, never a
/// reason to fail the operation.
pub fn record(cfg: &Config, ctx: &ExecContext, run: &HookRun) {
    let Ok(dir) = cfg.state_dir() else { return };
    let (outcome, code, message) = match &run.status {
        RunStatus::Ok => ("ok", None, None),
        RunStatus::Failed { code, msg } => ("failed", *code, Some(msg.clone())),
    };
    let entry = Entry {
        time: clock::rfc3339(clock::now_unix()),
        event: ctx.event.to_string(),
        cluster: ctx
            .cluster
            .as_ref()
            .map(|c| c.name.clone())
            .unwrap_or_default(),
        hook: run.hook.name.clone(),
        kind: run.hook.kind.as_str().into(),
        mode: run.hook.mode.to_string(),
        outcome: outcome.into(),
        exit: run.exit,
        code,
        message,
        duration_ms: run.elapsed.as_millis() as u64,
        invocation_id: ctx.invocation_id.clone(),
    };
    let mut line = serde_json::to_vec(&entry).expect("an entry serialises");
    line.push(b'\n');
    let path = dir.join("journal.jsonl");
    let mut open = JOURNAL.lock().unwrap_or_else(|e| e.into_inner());
    let result = (|| {
        if open.as_ref().is_none_or(|(p, _)| *p != path) {
            std::fs::create_dir_all(&dir)?;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?;
            *open = Some((path, file));
        }
        let (_, file) = open.as_mut().expect("opened above");
        file.write_all(&line)
    })();
    if let Err(e) = result {
        crate::ui::warn(cfg, &format!("could not write the hook journal: {e}"));
    }
}

/// The last `n` entries, oldest first. Lines that do not parse (a torn
/// write, a hand edit) are skipped. Only the end of a large journal is read.
pub fn tail(cfg: &Config, n: usize) -> Result<Vec<Entry>> {
    /// Plenty for the entries anyone asks to see (an entry is ~300 bytes).
    const MAX_READ: u64 = 16 * 1024 * 1024;
    let path = cfg.state_dir()?.join("journal.jsonl");
    let bytes = match crate::fsutil::read_tail(&path, MAX_READ) {
        Ok(b) => b,
        Err(crate::fsutil::ReadError::Missing) => return Ok(Vec::new()),
        Err(e) => {
            return Err(
                crate::error::Error::new(format!("could not read {}", path.display())).caused_by(e),
            );
        }
    };
    let entries: Vec<Entry> = bytes
        .split(|b| *b == b'\n')
        .filter_map(|l| serde_json::from_slice(l).ok())
        .collect();
    Ok(entries[entries.len().saturating_sub(n)..].to_vec())
}
