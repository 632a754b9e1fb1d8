//! `kplug plugin validate`: a conformance checker for protocol v1.
//!
//! The plugin is run the way kplug runs it, each run in a throw-away
//! environment of its own (`Sandbox`): an empty `HOME`, working
//! directory, `TMPDIR`, XDG directories and `KPLUG_HOME`, all in one temp
//! directory that is removed afterwards. Every run goes through
//! [`exec::run`], so a plugin that hangs is stopped (its whole process
//! group) when its time is up.
//!
//! The checks, in report order:
//!
//! | check | passes when |
//! |---|---|
//! | `info-exit` | INFO exits 0 (asked twice), printing at most 1 MiB |
//! | `info-time` | both INFO runs answer within `timeouts.info` |
//! | `info-document` | the document is valid YAML with valid hooks, requires, conflicts |
//! | `info-name-version` | `name` and `version` are valid; `name` matches `kplug-<name>` |
//! | `info-protocol` | the plugin lists a protocol version this kplug speaks |
//! | `info-stable` | the two INFO runs printed the same bytes |
//! | `info-side-effects` | INFO wrote nothing in HOME, cwd, TMPDIR, XDG dirs, KPLUG_HOME |
//! | `exec:<event>` | EXEC of each declared event, on a simulated context, ends in time with a well-formed result (exit 0) or error document (non-zero) |
//! | `unknown-event` | EXEC of `pre-cluster-explode` exits non-zero with error code 4 |
//! | `run` | run without `KPLUG_COMMAND` and without arguments, it exits and does not print its INFO document |
//!
//! Declared events get their hook's timeout (else the host's default for
//! the event, capped by `timeouts.max`), as when kplug fires them; the
//! unknown event and the bare run get the INFO time limit.
//!
//! The INFO checks are independent where they can be: a missing `name`
//! fails `info-name-version` only, and the hooks of a document are still
//! executed. A plugin that does not answer INFO at all fails every INFO
//! check, and its events cannot be exercised.

use crate::config::{Config, vars};
use crate::discovery;
use crate::error::{Context, Error, Result};
use crate::exec::{self, Outcome, Spawn, Target, Termination};
use crate::protocol::{
    self, ClusterContext, Command, ErrorCode, ErrorDoc, Event, ExecContext, HookResult, Info, Node,
    Spec, env, names,
};
use serde::Serialize;
use serde_yaml::{Mapping, Value};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Largest stdout accepted from any run.
const STDOUT_LIMIT: usize = 1024 * 1024;
/// Bytes of stderr kept for the report.
const STDERR_TAIL: usize = 64 * 1024;
/// The event no kplug will ever send.
pub const UNKNOWN_EVENT: &str = "pre-cluster-explode";
/// Name of the simulated cluster in EXEC contexts.
pub const SIM_CLUSTER: &str = "validate-sim";

/// One check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    /// Why it passed or failed, for a person.
    pub detail: String,
}

/// Every check of one plugin.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The plugin's name, as its file name (or else its INFO) says.
    pub plugin: String,
    pub path: PathBuf,
    /// Whether every check passed.
    pub ok: bool,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn failed(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.ok)
    }

    /// The report as a table: one row per check.
    pub fn table(&self) -> String {
        let mut t = crate::ui::Table::new(&["CHECK", "RESULT", "DETAIL"]);
        for c in &self.checks {
            t.row(vec![
                c.name.clone(),
                if c.ok { "pass" } else { "FAIL" }.to_string(),
                c.detail.clone(),
            ]);
        }
        t.render()
    }

    /// One line for stderr: how many checks passed or failed.
    pub fn summary(&self) -> String {
        let failed: Vec<&str> = self.failed().map(|c| c.name.as_str()).collect();
        if failed.is_empty() {
            format!(
                "{} ({}) passed all {} checks of protocol v1",
                self.plugin,
                self.path.display(),
                self.checks.len()
            )
        } else {
            format!(
                "{} ({}) failed {} of {} checks: {}",
                self.plugin,
                self.path.display(),
                failed.len(),
                self.checks.len(),
                failed.join(", ")
            )
        }
    }
}

fn pass(name: impl Into<String>, detail: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        ok: true,
        detail: detail.into(),
    }
}

fn fail(name: impl Into<String>, detail: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        ok: false,
        detail: detail.into(),
    }
}

/// `12ms`, `1.52s`.
fn elapsed(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.2}s", d.as_secs_f64())
    }
}

// ---------------------------------------------------------------------------
// The plugin under test

/// The executable being validated.
struct Subject {
    path: PathBuf,
    dir: PathBuf,
    /// `<name>` when the file is called `kplug-<name>` with a valid name.
    file_name: Option<String>,
    /// The name the plugin is run as (`KPLUG_PLUGIN_NAME`).
    name: String,
}

/// Resolve `target`: a path (anything with a `/`, or an existing file), or
/// the name of a plugin kplug can find.
fn resolve(cfg: &Config, target: &str) -> Result<Subject> {
    let as_path = Path::new(target);
    let path = if target.contains('/') || as_path.is_file() {
        if !as_path.exists() {
            return Err(Error::new(format!("{target} does not exist")));
        }
        std::path::absolute(as_path).with_context(|| format!("cannot resolve {target}"))?
    } else {
        let name = target
            .strip_prefix(protocol::EXECUTABLE_PREFIX)
            .unwrap_or(target);
        match discovery::find(cfg, name) {
            Some(found) => found.path,
            None => {
                return Err(Error::new(format!("no plugin named `{name}` was found"))
                    .with_hint(format!(
                        "pass the path of the executable, e.g. `kplug plugin validate ./kplug-{name}`"
                    )));
            }
        }
    };
    if path.is_dir() {
        let inner = path
            .file_name()
            .map(|n| path.join(n))
            .filter(|p| discovery::is_executable_file(p));
        let hint = match inner {
            Some(p) => format!(
                "validate the executable inside it: `kplug plugin validate {}`",
                p.display()
            ),
            None => "pass the path of the plugin's executable, not its directory".to_string(),
        };
        return Err(Error::usage(format!("{} is a directory", path.display())).with_hint(hint));
    }
    if !discovery::is_executable_file(&path) {
        return Err(
            Error::new(format!("{} is not an executable file", path.display()))
                .with_hint(format!("make it executable: chmod +x {}", path.display())),
        );
    }
    let file_name = path
        .file_name()
        .and_then(|f| f.to_str())
        .and_then(|f| f.strip_prefix(protocol::EXECUTABLE_PREFIX))
        .filter(|n| names::validate(n).is_ok())
        .map(str::to_string);
    let name = file_name.clone().unwrap_or_else(|| "unnamed".to_string());
    let dir = path
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
    Ok(Subject {
        path,
        dir,
        file_name,
        name,
    })
}

impl Subject {
    fn target(&self) -> Target<'_> {
        Target {
            name: &self.name,
            path: &self.path,
            dir: &self.dir,
        }
    }
}

// ---------------------------------------------------------------------------
// Sandboxes

/// Directories a run must leave untouched, by how the report names them.
const WATCHED: &[(&str, &str)] = &[
    ("home", "$HOME"),
    ("cwd", "."),
    ("tmp", "$TMPDIR"),
    ("config", "$XDG_CONFIG_HOME"),
    ("data", "$XDG_DATA_HOME"),
    ("cache", "$XDG_CACHE_HOME"),
    ("state", "$XDG_STATE_HOME"),
    ("runtime", "$XDG_RUNTIME_DIR"),
    ("kplug-home", "$KPLUG_HOME"),
];

/// A throw-away environment for one run: fresh, empty directories for every
/// place a plugin could write to, and a [`Config`] resolved against them.
struct Sandbox {
    root: tempfile::TempDir,
    cfg: Config,
}

impl Sandbox {
    fn new(outer: &Config) -> Result<Sandbox> {
        let base = outer
            .var("TMPDIR")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .unwrap_or_else(|| PathBuf::from("/tmp"));
        let root = tempfile::Builder::new()
            .prefix("kplug-validate-")
            .tempdir_in(&base)
            .with_context(|| format!("could not make a temp directory in {}", base.display()))?;
        let dir = |d: &str| root.path().join(d);
        for (d, _) in WATCHED {
            std::fs::create_dir(dir(d))
                .with_context(|| format!("could not create {}", dir(d).display()))?;
        }
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir("runtime"), std::fs::Permissions::from_mode(0o700));
        let replaced: [(&str, &str); 10] = [
            (vars::USER_HOME, "home"),
            ("PWD", "cwd"),
            ("TMPDIR", "tmp"),
            (vars::XDG_CONFIG_HOME, "config"),
            (vars::XDG_DATA_HOME, "data"),
            ("XDG_CACHE_HOME", "cache"),
            ("XDG_STATE_HOME", "state"),
            ("XDG_RUNTIME_DIR", "runtime"),
            (vars::HOME, "kplug-home"),
            ("OLDPWD", "cwd"),
        ];
        let mut vars: Vec<(OsString, OsString)> = outer
            .vars
            .iter()
            .filter(|(k, _)| !replaced.iter().any(|(r, _)| k == r))
            .cloned()
            .collect();
        for (k, d) in replaced {
            vars.push((k.into(), dir(d).into_os_string()));
        }
        Ok(Sandbox {
            cfg: Config::from_vars(vars),
            root,
        })
    }

    fn cwd(&self) -> PathBuf {
        self.root.path().join("cwd")
    }

    /// Everything that appeared in a watched directory: `$HOME/.cache/x`,
    /// `./out.txt`.
    fn written(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (d, label) in WATCHED {
            let top = self.root.path().join(d);
            let mut stack = vec![top.clone()];
            while let Some(dir) = stack.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
                entries.sort();
                for path in entries {
                    let rel = path.strip_prefix(&top).unwrap_or(&path);
                    out.push(format!("{label}/{}", rel.display()));
                    if path.is_dir() && !path.is_symlink() {
                        stack.push(path);
                    }
                }
            }
        }
        out
    }
}

/// Run the subject in `sandbox` with a complete environment.
fn spawn(
    subject: &Subject,
    sandbox: &Sandbox,
    env: Vec<(OsString, OsString)>,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
) -> std::io::Result<Outcome> {
    exec::run(Spawn {
        program: subject.path.clone(),
        cwd: Some(sandbox.cwd()),
        args: Vec::new(),
        env,
        stdin,
        timeout,
        stdout_limit: STDOUT_LIMIT,
        kill_on_stdout_overflow: true,
        stderr_tail: STDERR_TAIL,
        stderr_prefix: None,
    })
}

/// `: <last lines of stderr>` when there are any.
fn stderr_note(o: &Outcome) -> String {
    let tail = o.stderr_summary(3);
    if tail.is_empty() {
        String::new()
    } else {
        format!(" (stderr: {})", tail.replace('\n', " / "))
    }
}

/// How a run that did not exit by itself ended, for a report.
fn abnormal_end(o: &Outcome, timeout: Duration) -> Option<String> {
    match o.termination {
        Termination::Exited(_) => None,
        Termination::Signaled(sig) => Some(format!("was killed by signal {sig}")),
        Termination::TimedOut => Some(format!(
            "did not finish within {} and was stopped",
            protocol::format_duration(timeout)
        )),
        Termination::OutputLimit => Some(format!(
            "printed more than {} KiB on stdout and was stopped",
            STDOUT_LIMIT / 1024
        )),
        Termination::Cancelled => Some("was interrupted".into()),
    }
}

// ---------------------------------------------------------------------------
// INFO

struct InfoRun {
    outcome: std::io::Result<Outcome>,
    written: Vec<String>,
}

impl InfoRun {
    fn timed_out(&self) -> bool {
        matches!(&self.outcome, Ok(o) if o.termination == Termination::TimedOut)
    }

    /// The document it printed, if it exited 0.
    fn document(&self) -> Option<&[u8]> {
        match &self.outcome {
            Ok(o) if o.termination == Termination::Exited(0) => Some(&o.stdout),
            _ => None,
        }
    }
}

fn run_info(subject: &Subject, outer: &Config, timeout: Duration) -> Result<InfoRun> {
    let sandbox = Sandbox::new(outer)?;
    let env = exec::plugin_env(
        &sandbox.cfg,
        subject.target(),
        Command::Info,
        protocol::CURRENT_PROTOCOL,
    );
    let outcome = spawn(subject, &sandbox, env, None, timeout);
    Ok(InfoRun {
        outcome,
        written: sandbox.written(),
    })
}

/// What an executable's INFO says, asked once in a sandbox of its own.
pub(crate) enum Declared {
    Info(Box<Info>),
    /// It is not a program for this machine (another OS or architecture).
    Foreign,
    /// It ran and gave no usable document: why.
    Failed(String),
}

/// Run `exe`'s INFO the way `plugin validate` does (a throw-away `HOME`,
/// working directory, XDG directories and `KPLUG_HOME`; stopped at
/// `timeouts.info`), for tools that read a plugin without installing it.
pub(crate) fn sandboxed_info(cfg: &Config, exe: &Path) -> Result<Declared> {
    let file_name = exe
        .file_name()
        .and_then(|f| f.to_str())
        .and_then(|f| f.strip_prefix(protocol::EXECUTABLE_PREFIX))
        .filter(|n| names::validate(n).is_ok())
        .map(str::to_string);
    let subject = Subject {
        path: exe.to_path_buf(),
        dir: exe
            .parent()
            .map_or_else(|| PathBuf::from("/"), Path::to_path_buf),
        name: file_name.clone().unwrap_or_else(|| "unnamed".to_string()),
        file_name,
    };
    let limit = cfg.file()?.timeouts.info.0;
    let run = run_info(&subject, cfg, limit)?;
    if let Err(e) = &run.outcome
        && e.raw_os_error() == Some(libc::ENOEXEC)
    {
        return Ok(Declared::Foreign);
    }
    if let Some(why) = info_exit_problem(&run, limit) {
        return Ok(Declared::Failed(why));
    }
    let doc = run.document().unwrap_or_default();
    Ok(match Info::parse(doc) {
        Ok(info) => Declared::Info(Box::new(info)),
        Err(e) => Declared::Failed(format!("its INFO document is not valid: {e}")),
    })
}

/// Why a finished INFO run is not a usable answer, if it is not.
fn info_exit_problem(run: &InfoRun, timeout: Duration) -> Option<String> {
    match &run.outcome {
        Err(e) if e.raw_os_error() == Some(libc::ENOEXEC) => Some(
            "cannot be executed: not a program for this system (wrong architecture, or a script without a `#!` line)".into(),
        ),
        Err(e) => Some(format!("cannot be executed: {e}")),
        Ok(o) => match o.termination {
            Termination::Exited(0) => None,
            Termination::Exited(code) => Some(format!(
                "INFO exited with status {code}{}",
                stderr_note(o)
            )),
            _ => Some(format!(
                "INFO {}{}",
                abnormal_end(o, timeout).unwrap_or_default(),
                stderr_note(o)
            )),
        },
    }
}

/// A YAML scalar or structure as one short line.
fn short(v: &Value) -> String {
    serde_yaml::to_string(v)
        .map(|s| s.trim().replace('\n', " "))
        .unwrap_or_default()
}

/// The INFO checks that read the document. Returns them and the parsed
/// document (with `name`, `version` and `protocols` made valid if they were
/// not, so that its hooks can still be exercised) and the protocol to use.
fn document_checks(subject: &Subject, doc: &[u8]) -> (Vec<Check>, Option<Info>, Option<u32>) {
    let mut checks = Vec::new();
    let mapping = std::str::from_utf8(doc)
        .ok()
        .and_then(|t| serde_yaml::from_str::<Value>(t).ok())
        .and_then(|v| match v {
            Value::Mapping(m) => Some(m),
            _ => None,
        });
    let Some(raw) = mapping else {
        let why = match Info::parse(doc) {
            Err(e) => e.to_string(),
            Ok(_) => "is not a YAML mapping".into(),
        };
        checks.push(fail("info-document", why));
        let skipped = "no INFO document to read it from (see info-document)";
        checks.push(fail("info-name-version", skipped));
        checks.push(fail("info-protocol", skipped));
        return (checks, None, None);
    };
    let get = |k: &str| raw.get(Value::String(k.into())).cloned();

    // The document as a whole, with the fields checked on their own below
    // replaced by valid values.
    let mut patched = raw.clone();
    patched.insert(
        "protocols".into(),
        Value::Sequence(vec![Value::Number(protocol::CURRENT_PROTOCOL.into())]),
    );
    patched.insert("name".into(), Value::String(subject.name.clone()));
    patched.insert("version".into(), Value::String("0.0.0".into()));
    let info = match serde_yaml::to_string(&patched)
        .map_err(|e| e.to_string())
        .and_then(|t| Info::parse(t.as_bytes()).map_err(|e| e.to_string()))
    {
        Ok(info) => {
            let mut detail = match info.hooks.len() {
                0 => "a valid document declaring no hooks".to_string(),
                _ => format!(
                    "a valid document declaring {}",
                    info.hooks
                        .iter()
                        .map(|h| format!("{} ({})", h.event, h.mode))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            for w in &info.warnings {
                detail.push_str(&format!("; warning: {w}"));
            }
            checks.push(pass("info-document", detail));
            Some(info)
        }
        Err(e) => {
            checks.push(fail("info-document", e));
            None
        }
    };

    // Name and version, on their own.
    let mut nv = Mapping::new();
    nv.insert(
        "protocols".into(),
        Value::Sequence(vec![Value::Number(protocol::CURRENT_PROTOCOL.into())]),
    );
    for k in ["name", "version"] {
        if let Some(v) = get(k) {
            nv.insert(k.into(), v);
        }
    }
    let nv_check = match serde_yaml::to_string(&nv)
        .map_err(|e| e.to_string())
        .and_then(|t| Info::parse(t.as_bytes()).map_err(|e| e.to_string()))
    {
        Err(e) => fail("info-name-version", e),
        Ok(i) => match &subject.file_name {
            Some(file) if *file != i.name => fail(
                "info-name-version",
                format!(
                    "INFO reports the name `{}`, but the executable is `{}{file}`; they must match",
                    i.name,
                    protocol::EXECUTABLE_PREFIX
                ),
            ),
            _ => pass(
                "info-name-version",
                format!("name `{}`, version {}", i.name, i.version),
            ),
        },
    };
    checks.push(nv_check);

    // Protocol versions.
    let mut negotiated = None;
    let protocol_check = match get("protocols") {
        None => fail(
            "info-protocol",
            "`protocols` is missing (list the versions the plugin speaks, e.g. `protocols: [1]`)",
        ),
        Some(v) => match serde_yaml::from_value::<Vec<u32>>(v.clone()) {
            Err(_) => fail(
                "info-protocol",
                format!(
                    "`protocols` must be a list of integers like `[1]`, not `{}`",
                    short(&v)
                ),
            ),
            Ok(list) if list.is_empty() => fail("info-protocol", "`protocols` is empty"),
            Ok(list) => match protocol::negotiate(&list) {
                Some(p) => {
                    negotiated = Some(p);
                    pass(
                        "info-protocol",
                        format!(
                            "{}; protocol {p} is used",
                            discovery::describe_protocols(&list)
                        ),
                    )
                }
                None => fail(
                    "info-protocol",
                    format!(
                        "no protocol in common: {}",
                        discovery::describe_protocols(&list)
                    ),
                ),
            },
        },
    };
    checks.push(protocol_check);
    (checks, info, negotiated)
}

/// The first line where two documents differ, for a report.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    let (mut la, mut lb) = (a.lines(), b.lines());
    for n in 1.. {
        match (la.next(), lb.next()) {
            (Some(x), Some(y)) if x == y => continue,
            (None, None) => break,
            (x, y) => {
                let show = |l: Option<&str>| {
                    l.map_or("(end of document)".to_string(), |l| {
                        format!("`{}`", l.trim())
                    })
                };
                return format!(
                    "line {n}: {} the first time, {} the second",
                    show(x),
                    show(y)
                );
            }
        }
    }
    "they differ in white space only".into()
}

// ---------------------------------------------------------------------------
// EXEC

/// The simulated context of `event`.
fn context(
    event: Event,
    protocol_version: u32,
    name: &str,
    version: &str,
    kubeconfig: &Path,
) -> ExecContext {
    let cluster = (!event.is_plugin_event()).then(|| ClusterContext {
        name: SIM_CLUSTER.into(),
        engine: "sim".into(),
        network: format!("k3d-{SIM_CLUSTER}"),
        kubeconfig: kubeconfig.to_string_lossy().into_owned(),
        kubernetes_version: Some("v1.31.2+k3s1".into()),
        nodes: vec![
            Node {
                name: format!("k3d-{SIM_CLUSTER}-server-0"),
                role: "server".into(),
                ip: "192.0.2.2".into(),
            },
            Node {
                name: format!("k3d-{SIM_CLUSTER}-agent-0"),
                role: "agent".into(),
                ip: "192.0.2.3".into(),
            },
        ],
        annotations: BTreeMap::new(),
        simulated: true,
    });
    let id = crate::clock::invocation_id();
    let mut ctx = if event.is_plugin_event() {
        ExecContext::for_plugin(event, id, name, version)
    } else {
        ExecContext::new(event, id)
    };
    ctx.protocol = protocol_version;
    ctx.cluster = cluster;
    ctx.spec = matches!(event, Event::PreClusterCreate | Event::PostClusterCreate).then(|| Spec {
        servers: 1,
        agents: 1,
        engine_args: Vec::new(),
    });
    ctx
}

const KUBECONFIG: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: k3d-validate-sim\n  cluster:\n    server: https://127.0.0.1:6443\ncontexts:\n- name: k3d-validate-sim\n  context:\n    cluster: k3d-validate-sim\n    user: admin@k3d-validate-sim\ncurrent-context: k3d-validate-sim\nusers:\n- name: admin@k3d-validate-sim\n  user: {}\n";

/// What the simulated contexts say about the plugin.
struct Sim<'a> {
    protocol: u32,
    name: &'a str,
    version: &'a str,
}

/// Run EXEC of `event_name` in a sandbox of its own, with the context of
/// `event` (whose name is replaced by `event_name` when they differ: the
/// unknown event).
fn run_exec(
    subject: &Subject,
    outer: &Config,
    sim: &Sim<'_>,
    event: Event,
    event_name: &str,
    timeout: Duration,
) -> Result<std::io::Result<Outcome>> {
    let sandbox = Sandbox::new(outer)?;
    let kubeconfig = sandbox.root.path().join("validate-sim.kubeconfig.yaml");
    std::fs::write(&kubeconfig, KUBECONFIG).context("could not write the simulated kubeconfig")?;
    let ctx = context(event, sim.protocol, sim.name, sim.version, &kubeconfig);
    let mut doc = serde_json::to_value(&ctx).expect("the context serialises");
    doc["event"] = serde_json::Value::String(event_name.into());
    let stdin = serde_json::to_vec(&doc).expect("the context serialises");
    let vars = exec::exec_env(
        &sandbox.cfg,
        subject.target(),
        ctx.protocol,
        event_name,
        ctx.cluster.as_ref(),
    );
    Ok(spawn(subject, &sandbox, vars, Some(stdin), timeout))
}

/// Judge the EXEC of a declared event.
fn judge_exec(name: String, run: std::io::Result<Outcome>, timeout: Duration) -> Check {
    let o = match run {
        Ok(o) => o,
        Err(e) => return fail(name, format!("could not be started: {e}")),
    };
    if let Some(why) = abnormal_end(&o, timeout) {
        return fail(name, format!("EXEC {why}{}", stderr_note(&o)));
    }
    let took = elapsed(o.elapsed);
    match o.termination {
        Termination::Exited(0) => match HookResult::parse(&o.stdout) {
            Ok(r) if r == HookResult::default() => {
                pass(name, format!("exit 0 in {took}, an empty result"))
            }
            Ok(r) => {
                let mut parts = Vec::new();
                if !r.messages.is_empty() {
                    parts.push(format!("messages {:?}", r.messages));
                }
                if !r.engine_args.is_empty() {
                    parts.push(format!("engineArgs {:?}", r.engine_args));
                }
                if !r.annotations.is_empty() {
                    parts.push(format!("annotations {:?}", r.annotations));
                }
                pass(
                    name,
                    format!("exit 0 in {took}, a result with {}", parts.join(", ")),
                )
            }
            Err(e) => fail(
                name,
                format!(
                    "exit 0, but stdout is not a valid result document ({}); print nothing, or one JSON object like {{\"messages\": [\"…\"]}}",
                    e.problem
                ),
            ),
        },
        Termination::Exited(code) => match ErrorDoc::parse(&o.stdout) {
            Some(doc) => pass(
                name,
                format!(
                    "exit {code} in {took} with a well-formed error document: code {}: {}",
                    doc.code, doc.msg
                ),
            ),
            None => fail(
                name,
                format!(
                    "exit {code} without an error document on stdout (print one JSON object like {{\"code\": 100, \"msg\": \"…\"}}){}",
                    stderr_note(&o)
                ),
            ),
        },
        _ => unreachable!("abnormal ends are handled above"),
    }
}

/// Judge the EXEC of an event no kplug sends.
fn judge_unknown(run: std::io::Result<Outcome>, timeout: Duration) -> Check {
    let name = "unknown-event";
    let o = match run {
        Ok(o) => o,
        Err(e) => return fail(name, format!("could not be started: {e}")),
    };
    if let Some(why) = abnormal_end(&o, timeout) {
        return fail(
            name,
            format!("EXEC of `{UNKNOWN_EVENT}` {why}{}", stderr_note(&o)),
        );
    }
    let want = ErrorCode::BadInvocation.code();
    match (o.termination, ErrorDoc::parse(&o.stdout)) {
        (Termination::Exited(0), _) => fail(
            name,
            format!(
                "EXEC of `{UNKNOWN_EVENT}` succeeded (exit 0); an event the plugin does not handle must be answered with a non-zero exit and the error document {{\"code\": {want}, \"msg\": \"…\"}}"
            ),
        ),
        (Termination::Exited(code), Some(doc)) if doc.code == want => pass(
            name,
            format!("exit {code} with error code {want}: {}", doc.msg),
        ),
        (Termination::Exited(code), Some(doc)) => fail(
            name,
            format!(
                "exit {code} with error code {}, but an unknown event is error {want} ({})",
                doc.code,
                ErrorCode::BadInvocation.describe()
            ),
        ),
        (Termination::Exited(code), None) => fail(
            name,
            format!(
                "exit {code} without an error document on stdout; print {{\"code\": {want}, \"msg\": \"…\"}}{}",
                stderr_note(&o)
            ),
        ),
        _ => unreachable!("abnormal ends are handled above"),
    }
}

// ---------------------------------------------------------------------------
// RUN

fn run_bare(
    subject: &Subject,
    outer: &Config,
    timeout: Duration,
) -> Result<std::io::Result<Outcome>> {
    let sandbox = Sandbox::new(outer)?;
    // As a user would run it: no protocol variables, no host credentials.
    let vars: Vec<(OsString, OsString)> = sandbox
        .cfg
        .vars
        .iter()
        .filter(|(k, _)| {
            let k = k.to_string_lossy();
            !k.starts_with(env::PREFIX) && !vars::TOKENS.contains(&k.as_ref())
        })
        .cloned()
        .collect();
    Ok(spawn(subject, &sandbox, vars, None, timeout))
}

fn judge_run(run: std::io::Result<Outcome>, timeout: Duration, info_doc: Option<&[u8]>) -> Check {
    let name = "run";
    let o = match run {
        Ok(o) => o,
        Err(e) => return fail(name, format!("could not be started: {e}")),
    };
    if o.termination == Termination::TimedOut {
        return fail(
            name,
            format!(
                "run without KPLUG_COMMAND and without arguments, it did not exit within {} (it should behave as RUN: do its default action or print usage, and exit)",
                protocol::format_duration(timeout)
            ),
        );
    }
    if let Some(why) = abnormal_end(&o, timeout) {
        return fail(name, format!("run without KPLUG_COMMAND, it {why}"));
    }
    let prints_info = !o.stdout.iter().all(u8::is_ascii_whitespace)
        && (Info::parse(&o.stdout).is_ok() || info_doc == Some(o.stdout.as_slice()));
    if prints_info {
        return fail(
            name,
            "run without KPLUG_COMMAND, it printed an INFO document; a missing KPLUG_COMMAND means RUN",
        );
    }
    let code = match o.termination {
        Termination::Exited(c) => c,
        _ => unreachable!("abnormal ends are handled above"),
    };
    pass(
        name,
        format!(
            "without KPLUG_COMMAND it ran as RUN: exit {code} in {}, {} bytes on stdout",
            elapsed(o.elapsed),
            o.stdout.len()
        ),
    )
}

// ---------------------------------------------------------------------------

/// Validate the plugin `target` (a path, or a plugin name kplug can find).
///
/// Fails only when there is nothing to validate (no such plugin, not
/// executable) or no temp directory can be made; every finding about the
/// plugin is a [`Check`] in the report. The checks run in the order of the
/// table in the module docs, each a `judge_*` function of what was run.
///
/// Runs change kplug's working directory for the duration of each spawn,
/// so this is meant for the `kplug plugin validate` process, not for a
/// library caller with threads of its own that use relative paths.
pub fn validate(cfg: &Config, target: &str) -> Result<Report> {
    let mut subject = resolve(cfg, target)?;
    let timeouts = cfg.file()?.timeouts.clone();
    let limit = timeouts.info.0;
    // A slow INFO is given more time than its limit, so the rest of its
    // document can still be checked; a hung one is stopped at this.
    let patience = (limit * 3).min(limit + Duration::from_secs(30));

    let first = run_info(&subject, cfg, patience)?;
    // A hung INFO is not waited for twice.
    let second = if first.timed_out() {
        None
    } else {
        Some(run_info(&subject, cfg, patience)?)
    };
    let runs: Vec<&InfoRun> = std::iter::once(&first).chain(second.as_ref()).collect();
    let mut checks = vec![
        judge_info_exit(&runs, patience),
        judge_info_time(&runs, limit, patience),
    ];

    // The document: from the first run that exited 0.
    let (doc1, doc2) = (
        first.document(),
        second.as_ref().and_then(InfoRun::document),
    );
    let doc = doc1.or(doc2);
    let (info, negotiated) = match doc {
        Some(doc) => {
            let (doc_checks, info, negotiated) = document_checks(&subject, doc);
            checks.extend(doc_checks);
            (info, negotiated)
        }
        None => {
            let skipped = "INFO gave no document (see info-exit)";
            for c in ["info-document", "info-name-version", "info-protocol"] {
                checks.push(fail(c, skipped));
            }
            (None, None)
        }
    };
    checks.push(judge_info_stable(doc1, doc2));
    checks.push(judge_info_side_effects(&runs));

    // EXEC of each declared event, as the name INFO reports when the file
    // name does not say.
    let parsed = doc.and_then(|d| Info::parse(d).ok());
    if let Some(p) = &parsed
        && subject.file_name.is_none()
    {
        subject.name = p.name.clone();
    }
    let version = parsed
        .as_ref()
        .map_or_else(|| "0.0.0".to_string(), |i| i.version.to_string());
    let sim = Sim {
        protocol: negotiated.unwrap_or(protocol::CURRENT_PROTOCOL),
        name: &subject.name,
        version: &version,
    };
    match &info {
        None => checks.push(fail(
            "exec",
            "no valid INFO document to read the hooks from, so no event was executed",
        )),
        Some(i) if i.hooks.is_empty() => checks.push(pass(
            "exec",
            "the plugin declares no hooks; nothing to execute",
        )),
        Some(i) => {
            for h in &i.hooks {
                let timeout = crate::hooks::timeout(&timeouts, h.event, h.timeout);
                let run = run_exec(&subject, cfg, &sim, h.event, h.event.as_str(), timeout)?;
                checks.push(judge_exec(format!("exec:{}", h.event), run, timeout));
            }
        }
    }

    // An unknown event, and RUN without KPLUG_COMMAND: both should end at
    // once, so they get the INFO time limit.
    let run = run_exec(
        &subject,
        cfg,
        &sim,
        Event::PreClusterCreate,
        UNKNOWN_EVENT,
        limit,
    )?;
    checks.push(judge_unknown(run, limit));
    let run = run_bare(&subject, cfg, limit)?;
    checks.push(judge_run(run, limit, doc));

    let plugin = match (&subject.file_name, &parsed) {
        (Some(n), _) => n.clone(),
        (None, Some(i)) => i.name.clone(),
        _ => subject
            .path
            .file_name()
            .map_or_else(String::new, |f| f.to_string_lossy().into_owned()),
    };
    if exec::cancelled() {
        return Err(Error::new("interrupted; the plugin was stopped")
            .with_code(exec::interrupt::EXIT_INTERRUPTED));
    }
    let ok = checks.iter().all(|c| c.ok);
    Ok(Report {
        plugin,
        path: subject.path,
        ok,
        checks,
    })
}

/// `info-exit`: every INFO run exited 0.
fn judge_info_exit(runs: &[&InfoRun], patience: Duration) -> Check {
    match runs.iter().find_map(|r| info_exit_problem(r, patience)) {
        None => pass("info-exit", format!("INFO exited 0 ({} runs)", runs.len())),
        Some(p) => fail("info-exit", p),
    }
}

/// `info-time`: every INFO run answered within `timeouts.info`.
fn judge_info_time(runs: &[&InfoRun], limit: Duration, patience: Duration) -> Check {
    let times: Vec<Duration> = runs
        .iter()
        .filter_map(|r| r.outcome.as_ref().ok())
        .map(|o| o.elapsed)
        .collect();
    let limit_text = protocol::format_duration(limit);
    if runs.iter().any(|r| r.timed_out()) {
        fail(
            "info-time",
            format!(
                "INFO did not answer within {} (the limit is {limit_text}, `timeouts.info`)",
                protocol::format_duration(patience)
            ),
        )
    } else if times.is_empty() {
        fail("info-time", "INFO could not be run")
    } else if let Some(slow) = times.iter().find(|t| **t > limit) {
        fail(
            "info-time",
            format!(
                "INFO answered after {}; the limit is {limit_text} (`timeouts.info`); answer INFO from a constant, without network or slow commands",
                elapsed(*slow)
            ),
        )
    } else {
        pass(
            "info-time",
            format!(
                "answered in {} (limit {limit_text})",
                times
                    .iter()
                    .map(|t| elapsed(*t))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        )
    }
}

/// `info-stable`: two runs printed the same document.
fn judge_info_stable(a: Option<&[u8]>, b: Option<&[u8]>) -> Check {
    match (a, b) {
        (Some(a), Some(b)) if a == b => pass(
            "info-stable",
            format!("two runs printed the same document ({} bytes)", a.len()),
        ),
        (Some(a), Some(b)) => fail(
            "info-stable",
            format!(
                "two runs printed different documents, {}; INFO must be a constant of the binary (kplug caches it)",
                first_difference(a, b)
            ),
        ),
        _ => fail("info-stable", "INFO did not answer twice (see info-exit)"),
    }
}

/// `info-side-effects`: INFO wrote nothing anywhere it could.
fn judge_info_side_effects(runs: &[&InfoRun]) -> Check {
    let mut written: Vec<&String> = runs.iter().flat_map(|r| &r.written).collect();
    written.sort();
    written.dedup();
    if written.is_empty() {
        return pass(
            "info-side-effects",
            "nothing written in HOME, the working directory, TMPDIR, the XDG directories or KPLUG_HOME",
        );
    }
    let shown: Vec<&str> = written.iter().take(5).map(|s| s.as_str()).collect();
    let more = written.len().saturating_sub(shown.len());
    fail(
        "info-side-effects",
        format!(
            "INFO wrote {}{} (in the temp HOME, working directory, TMPDIR, XDG directories or KPLUG_HOME it was given); answering INFO must not change anything",
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(name: &str) -> Subject {
        Subject {
            path: PathBuf::from(format!("/p/kplug-{name}")),
            dir: PathBuf::from("/p"),
            file_name: Some(name.into()),
            name: name.into(),
        }
    }

    fn by_name(checks: &[Check]) -> BTreeMap<&str, bool> {
        checks.iter().map(|c| (c.name.as_str(), c.ok)).collect()
    }

    #[test]
    fn a_missing_name_fails_only_the_name_check() {
        let (checks, info, p) = document_checks(
            &subject("x"),
            b"protocols: [1]\nversion: 1.0.0\nhooks: [{event: post-cluster-create}]\n",
        );
        let m = by_name(&checks);
        assert_eq!(
            (
                m["info-document"],
                m["info-name-version"],
                m["info-protocol"]
            ),
            (true, false, true),
            "{checks:#?}"
        );
        assert_eq!(info.unwrap().hooks.len(), 1);
        assert_eq!(p, Some(1));
    }

    #[test]
    fn an_unsupported_protocol_fails_only_the_protocol_check() {
        let (checks, _, p) =
            document_checks(&subject("x"), b"protocols: [99]\nname: x\nversion: 1.0.0\n");
        let m = by_name(&checks);
        assert_eq!(
            (
                m["info-document"],
                m["info-name-version"],
                m["info-protocol"]
            ),
            (true, true, false),
            "{checks:#?}"
        );
        assert_eq!(p, None);
        assert!(checks[2].detail.contains("99"), "{}", checks[2].detail);
    }

    #[test]
    fn a_bad_hook_fails_the_document_check() {
        let (checks, info, _) = document_checks(
            &subject("x"),
            b"protocols: [1]\nname: x\nversion: 1.0.0\nhooks: [{event: post-cluster-create, mode: veto}]\n",
        );
        let m = by_name(&checks);
        assert!(!m["info-document"] && m["info-name-version"] && m["info-protocol"]);
        assert!(info.is_none());
    }

    #[test]
    fn the_name_must_match_the_file() {
        let (checks, _, _) =
            document_checks(&subject("x"), b"protocols: [1]\nname: y\nversion: 1.0.0\n");
        let c = checks
            .iter()
            .find(|c| c.name == "info-name-version")
            .unwrap();
        assert!(!c.ok && c.detail.contains("kplug-x"), "{c:?}");
    }

    #[test]
    fn not_a_document() {
        let (checks, info, _) = document_checks(&subject("x"), b"hello world\n");
        assert!(checks.iter().all(|c| !c.ok) && info.is_none());
    }

    #[test]
    fn differences_are_located() {
        assert_eq!(
            first_difference(b"a\nb: 1\n", b"a\nb: 2\n"),
            "line 2: `b: 1` the first time, `b: 2` the second"
        );
        assert!(first_difference(b"a\n", b"a\nb\n").contains("(end of document)"));
    }

    #[test]
    fn contexts_are_simulated() {
        let c = context(Event::PostClusterCreate, 1, "x", "1.0.0", Path::new("/k"));
        let cl = c.cluster.as_ref().unwrap();
        assert!(cl.simulated && cl.engine == "sim" && cl.name == SIM_CLUSTER);
        assert!(c.spec.is_some() && c.plugin.is_none());
        let c = context(Event::PostPluginInstall, 1, "x", "1.0.0", Path::new("/k"));
        assert!(c.cluster.is_none() && c.plugin.is_some());
    }
}
