//! Firing an event's plan.
//!
//! `pre-*` hooks run one at a time: a `veto`/`mutate` hook that fails stops
//! the operation before anything changed (exit 3); an `observe` hook that
//! fails is a warning; a `mutate` hook's `engineArgs` and `annotations` are
//! merged into the context that later hooks and the engine see. `post-*`
//! hooks run concurrently (`--jobs`), cannot stop anything, and are
//! reported in plan order; their failures are collected for the caller.

use super::{Hook, HookRun, RunStatus, journal};
use crate::config::Config;
use crate::error::{Error, exit};
use crate::exec::{self, Spawn, Termination, interrupt};
use crate::protocol::{self, ErrorCode, ErrorDoc, Event, ExecContext, HookResult, Mode};
use crate::ui;
use std::time::Duration;

/// Bytes of a hook's stdout kept (the result document).
pub const STDOUT_LIMIT: usize = 1024 * 1024;
/// Bytes of the end of a hook's stderr kept for the failure report.
pub const STDERR_TAIL: usize = 64 * 1024;

#[derive(Debug, Clone, Copy)]
pub struct FireOptions {
    /// Most `post-*` hooks running at once.
    pub jobs: usize,
    /// Rollback/teardown: a failing `veto` hook does not stop the rest.
    pub best_effort: bool,
}

/// Run one hook to completion and judge its answer.
pub fn run_hook(cfg: &Config, hook: &Hook, ctx: &ExecContext) -> HookRun {
    let stdin = serde_json::to_vec(ctx).expect("the context serialises");
    run_hook_with(cfg, hook, ctx, stdin)
}

/// [`run_hook`] with the context already serialised (post hooks share one).
fn run_hook_with(cfg: &Config, hook: &Hook, ctx: &ExecContext, stdin: Vec<u8>) -> HookRun {
    let mut run = HookRun {
        hook: hook.clone(),
        status: RunStatus::Ok,
        result: HookResult::default(),
        exit: None,
        stderr_tail: String::new(),
        elapsed: Duration::ZERO,
    };
    let fail = |code: Option<u32>, msg: String| RunStatus::Failed { code, msg };
    if let Err(e) = exec::check_depth(cfg, &hook.name) {
        run.status = fail(Some(ErrorCode::BadInvocation.code()), e.to_string());
        return run;
    }
    let outcome = exec::run(Spawn {
        program: hook.path.clone(),
        args: Vec::new(),
        env: exec::exec_env(
            cfg,
            hook.target(),
            hook.protocol,
            ctx.event.as_str(),
            ctx.cluster.as_ref(),
        ),
        cwd: None,
        stdin: Some(stdin),
        timeout: hook.timeout,
        stdout_limit: STDOUT_LIMIT,
        kill_on_stdout_overflow: false,
        stderr_tail: STDERR_TAIL,
        stderr_prefix: Some(format!("[{}] ", hook.name)),
    });
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            run.status = fail(
                Some(ErrorCode::Io.code()),
                format!("could not be started: {e}"),
            );
            return run;
        }
    };
    run.elapsed = outcome.elapsed;
    run.stderr_tail = String::from_utf8_lossy(&outcome.stderr_tail).into_owned();
    let stderr_msg = || outcome.stderr_summary(1);
    run.status = match outcome.termination {
        Termination::Exited(0) if outcome.stdout_truncated => fail(
            Some(ErrorCode::Decode.code()),
            format!("printed a result larger than {} KiB", STDOUT_LIMIT / 1024),
        ),
        Termination::Exited(0) => match HookResult::parse(&outcome.stdout) {
            Ok(result) => {
                run.result = result;
                RunStatus::Ok
            }
            Err(e) => fail(
                Some(ErrorCode::Decode.code()),
                format!("printed an invalid result document ({})", e.problem),
            ),
        },
        Termination::Exited(code) => match ErrorDoc::parse(&outcome.stdout) {
            Some(doc) => {
                let details = doc.details.map(|d| format!(" ({d})")).unwrap_or_default();
                fail(Some(doc.code), format!("{}{details}", doc.msg))
            }
            None => {
                let tail = stderr_msg();
                let msg = if tail.is_empty() {
                    format!("exited with status {code}")
                } else {
                    tail
                };
                fail(None, msg)
            }
        },
        Termination::Signaled(sig) => fail(None, format!("was killed by signal {sig}")),
        Termination::TimedOut => fail(
            Some(ErrorCode::TimedOut.code()),
            format!(
                "timed out after {} and was stopped",
                protocol::format_duration(hook.timeout)
            ),
        ),
        Termination::Cancelled => fail(
            Some(ErrorCode::Cancelled.code()),
            "cancelled by an interrupt".into(),
        ),
        Termination::OutputLimit => fail(
            Some(ErrorCode::Decode.code()),
            "printed too much output".into(),
        ),
    };
    if let Termination::Exited(code) = outcome.termination {
        run.exit = Some(code);
    }
    run
}

fn print_messages(run: &HookRun) {
    for m in &run.result.messages {
        // A plugin's words, shown, never obeyed by the terminal.
        eprintln!("[{}] {}", run.hook.name, ui::escape(m));
    }
}

fn interrupted_error() -> Error {
    Error::new("interrupted; the hooks that were running were stopped")
        .with_code(interrupt::EXIT_INTERRUPTED)
}

/// Fire a `pre-*` plan in order. Each hook sees the results of the ones
/// before it in `ctx.previous`; `mutate` results are merged into `ctx`.
/// Returns the runs, or the error that stopped the operation.
pub fn fire_pre(
    cfg: &Config,
    hooks: &[Hook],
    ctx: &mut ExecContext,
    opts: FireOptions,
) -> Result<Vec<HookRun>, Error> {
    let mut runs = Vec::with_capacity(hooks.len());
    for hook in hooks {
        if exec::cancelled() {
            return Err(interrupted_error());
        }
        let run = run_hook(cfg, hook, ctx);
        journal::record(cfg, ctx, &run);
        if run.failed_with(ErrorCode::Cancelled) {
            return Err(interrupted_error());
        }
        if run.ok() {
            print_messages(&run);
            if hook.mode == Mode::Mutate {
                if let Some(spec) = &mut ctx.spec {
                    spec.engine_args
                        .extend(run.result.engine_args.iter().cloned());
                }
                if let Some(cluster) = &mut ctx.cluster {
                    cluster.annotations.extend(run.result.annotations.clone());
                }
            }
            ctx.previous.insert(hook.name.clone(), run.result.clone());
        } else if hook.mode == Mode::Observe || opts.best_effort {
            ui::warn(
                cfg,
                &format!(
                    "{} failed on {} (continuing: {}): {}",
                    run.label(),
                    ctx.event,
                    if opts.best_effort {
                        "best effort"
                    } else {
                        "it only observes"
                    },
                    run.message()
                ),
            );
        } else {
            let mut err = Error::new(format!(
                "{} stopped {}: {}",
                run.label(),
                ctx.event,
                run.message()
            ))
            .with_code(exit::VETOED);
            if let Some(block) = stderr_block(&run) {
                err = err.caused_by(block);
            }
            let skip = match hook.kind {
                super::Kind::Plugin => format!("`kplug plugin disable {}`", hook.name),
                super::Kind::Script => {
                    format!("move {} out of its hooks directory", hook.path.display())
                }
            };
            return Err(err.with_hint(format!(
                "nothing was changed; fix what it reports, or run without it (`--no-hooks`, or {skip})"
            )));
        }
        runs.push(run);
    }
    Ok(runs)
}

/// Fire a `post-*` plan concurrently (at most `opts.jobs` at once). Returns
/// every run in plan order; their messages are printed in that order.
pub fn fire_post(
    cfg: &Config,
    hooks: &[Hook],
    ctx: &ExecContext,
    opts: FireOptions,
) -> Vec<HookRun> {
    // Every post hook gets the same context: serialise it once.
    let stdin = serde_json::to_vec(ctx).expect("the context serialises");
    let runs: Vec<HookRun> = exec::parallel_map(hooks, opts.jobs.max(1), |hook| {
        let run = run_hook_with(cfg, hook, ctx, stdin.clone());
        journal::record(cfg, ctx, &run);
        run
    });
    for run in &runs {
        print_messages(run);
    }
    runs
}

/// A failed hook's stderr tail between divider lines, for reports.
fn stderr_block(run: &HookRun) -> Option<String> {
    let tail = run.stderr_tail.trim_end();
    if tail.is_empty() {
        return None;
    }
    // The last 20 lines are plenty on a terminal; the journal has the rest
    // of the story (exit, duration).
    let lines: Vec<&str> = tail.lines().collect();
    let shown = &lines[lines.len().saturating_sub(20)..];
    Some(format!(
        "--- stderr of {} ---\n{}\n---",
        run.hook.name,
        shown.join("\n")
    ))
}

/// The error for failed `post-*` hooks (exit 4): the operation itself is
/// done, and each failure is named with its stderr.
pub fn post_failures(event: Event, done: &str, runs: &[HookRun]) -> Option<Error> {
    let failed: Vec<&HookRun> = runs.iter().filter(|r| !r.ok()).collect();
    if failed.is_empty() {
        return None;
    }
    let mut err = if interrupt::interrupted() {
        // Ctrl-C: the user's exit status, not a hook failure.
        Error::new(format!("interrupted during {event}; {done}"))
            .with_code(interrupt::EXIT_INTERRUPTED)
    } else {
        Error::new(format!(
            "{} of {} {event} hooks failed; {done}",
            failed.len(),
            runs.len()
        ))
        .with_code(exit::POST_HOOKS_FAILED)
    };
    for run in failed {
        let exit = run.exit.map(|c| format!(" (exit {c})")).unwrap_or_default();
        let mut cause = format!("{}{exit}: {}", run.label(), run.message());
        if let Some(block) = stderr_block(run) {
            cause.push('\n');
            cause.push_str(&block);
        }
        err = err.caused_by(cause);
    }
    Some(err.with_hint("`kplug hooks log` lists every hook run"))
}
