//! Write [kplug](https://github.com/kplug/kplug) plugins in Rust.
//!
//! A kplug plugin is an executable named `kplug-<name>`. kplug runs it with
//! `KPLUG_COMMAND` set to `INFO` (describe yourself), `EXEC` (handle a
//! lifecycle hook: context on stdin, result on stdout) or `RUN` (the user
//! typed `kplug <name> …`). This crate holds the protocol v1 types a plugin
//! needs and [`run`], which reads the environment and stdin, calls your
//! [`Plugin`], prints its documents and returns the exit status. It depends
//! on serde and serde_json only.
//!
//! ```no_run
//! use kplug_sdk::{ErrorDoc, Event, ExecContext, Hook, HookResult, Info, Plugin};
//! use std::ffi::OsString;
//!
//! struct Hello;
//!
//! impl Plugin for Hello {
//!     fn info(&self) -> Info {
//!         Info::new("hello", env!("CARGO_PKG_VERSION"))
//!             .description("Greets every cluster kplug creates")
//!             .usage("hello [NAME]")
//!             .hook(Hook::new(Event::PostClusterCreate))
//!     }
//!
//!     // Called only for events declared in `info()`; others are answered
//!     // with error code 4 before this runs.
//!     fn exec(&self, ctx: &ExecContext) -> Result<HookResult, ErrorDoc> {
//!         let cluster = ctx.cluster_name().unwrap_or("?");
//!         Ok(HookResult::new().message(format!("hello, {cluster}!")))
//!     }
//!
//!     fn run(&self, args: &[OsString]) -> i32 {
//!         let name = args.first().map(|a| a.to_string_lossy()).unwrap_or("world".into());
//!         println!("hello, {name}!");
//!         0
//!     }
//! }
//!
//! fn main() {
//!     std::process::exit(kplug_sdk::run(&Hello))
//! }
//! ```
//!
//! The protocol is specified in kplug's `docs/protocol.md`.

mod context;
mod info;
mod result;

pub use context::{Cluster, ExecContext, Host, Node, PluginRef, Spec};
pub use info::{Event, Hook, Info, Mode, PluginRequirement, Requires, UnknownEvent};
pub use result::{ErrorDoc, HookResult};

use std::ffi::OsString;
use std::io::{Read, Write};

/// The protocol version this SDK speaks.
pub const PROTOCOL: u32 = 1;

/// Environment variables kplug sets for a plugin process.
pub mod env {
    /// Every variable of the protocol starts with this; kplug removes any
    /// inherited one before it sets its own.
    pub const PREFIX: &str = "KPLUG_";
    /// `INFO`, `EXEC` or `RUN`; absent when the plugin is run by hand (treat
    /// as `RUN`).
    pub const COMMAND: &str = "KPLUG_COMMAND";
    /// The protocol version in use.
    pub const PROTOCOL: &str = "KPLUG_PROTOCOL";
    /// kplug's version (semver).
    pub const VERSION: &str = "KPLUG_VERSION";
    /// Absolute path of the kplug binary, for call-backs.
    pub const BIN: &str = "KPLUG_BIN";
    /// The plugin's own name.
    pub const PLUGIN_NAME: &str = "KPLUG_PLUGIN_NAME";
    /// The directory the plugin was installed in (or found in).
    pub const PLUGIN_DIR: &str = "KPLUG_PLUGIN_DIR";
    /// A persistent per-plugin state directory (create it when needed).
    pub const DATA_DIR: &str = "KPLUG_DATA_DIR";
    /// How many plugins deep this process is nested (1 when run by a user).
    pub const DEPTH: &str = "KPLUG_DEPTH";
    /// The plugins of the nesting chain, outermost first, joined by `>`.
    pub const CHAIN: &str = "KPLUG_CHAIN";
    /// kplug's data directory.
    pub const HOME: &str = "KPLUG_HOME";
    /// Passed on when the user set it.
    pub const PLUGIN_PATH: &str = "KPLUG_PLUGIN_PATH";
    /// EXEC: the event, e.g. `post-cluster-create`.
    pub const EVENT: &str = "KPLUG_EVENT";
    /// EXEC, cluster events: the cluster's name.
    pub const CLUSTER: &str = "KPLUG_CLUSTER";
    /// EXEC, cluster events: `k3d`, `kind` or `sim`.
    pub const ENGINE: &str = "KPLUG_ENGINE";
    /// EXEC, cluster events: the cluster's container network.
    pub const NETWORK: &str = "KPLUG_NETWORK";
    /// EXEC, cluster events: path of a kubeconfig for the cluster.
    pub const KUBECONFIG: &str = "KPLUG_KUBECONFIG";
    /// EXEC, cluster events: server nodes as `name=ip;name=ip`.
    pub const SERVERS: &str = "KPLUG_SERVERS";
    /// EXEC, cluster events: agent nodes as `name=ip;name=ip`.
    pub const AGENTS: &str = "KPLUG_AGENTS";
}

/// Error codes of the error document. 0–99 are reserved; a plugin's own
/// codes start at [`code::PLUGIN_BASE`].
pub mod code {
    pub const INCOMPATIBLE_PROTOCOL: u32 = 1;
    pub const UNSUPPORTED_FIELD: u32 = 2;
    pub const UNKNOWN_CLUSTER: u32 = 3;
    /// Bad environment, command or event.
    pub const BAD_INVOCATION: u32 = 4;
    pub const IO: u32 = 5;
    /// The context could not be decoded.
    pub const DECODE: u32 = 6;
    pub const INVALID_CONFIG: u32 = 7;
    pub const TRY_AGAIN_LATER: u32 = 11;
    pub const VETOED: u32 = 20;
    /// Made by kplug when a hook runs out of time; never by a plugin.
    pub const TIMED_OUT: u32 = 21;
    /// Made by kplug when the user interrupts; never by a plugin.
    pub const CANCELLED: u32 = 22;
    pub const DEPENDENCY_UNAVAILABLE: u32 = 50;
    /// The first code free for a plugin's own use.
    pub const PLUGIN_BASE: u32 = 100;
}

/// A kplug plugin. Implement [`Plugin::info`], and [`Plugin::exec`] if you
/// declare hooks, [`Plugin::run`] if the plugin is a callable; then hand it
/// to [`run`].
pub trait Plugin {
    /// The INFO document. Must be cheap and free of side effects: kplug
    /// asks for it whenever the executable changes.
    fn info(&self) -> Info;

    /// Handle one hook. [`run`] calls it only for events declared in
    /// [`Plugin::info`]; return `Err` to fail the hook (a `pre-*` hook in
    /// `veto` or `mutate` mode then aborts the operation).
    ///
    /// The default answers every event with error code 4.
    fn exec(&self, ctx: &ExecContext) -> Result<HookResult, ErrorDoc> {
        Err(ErrorDoc::unhandled_event(&ctx.event))
    }

    /// A callable invocation, `kplug <name> ARGS…`: `args` are the ARGS,
    /// untouched; stdio is the user's. Returns the exit status.
    ///
    /// The default prints the plugin's description and usage and returns 0.
    fn run(&self, args: &[OsString]) -> i32 {
        let _ = args;
        let info = self.info();
        println!("{} {}: {}", info.name, info.version, info.description);
        if let Some(usage) = info.usage {
            println!("usage: kplug {usage}");
        }
        0
    }
}

/// Run `plugin` as this process: read `KPLUG_COMMAND` (absent means `RUN`),
/// the environment, stdin and the arguments, dispatch, print the answer on
/// stdout, and return the exit status for [`std::process::exit`].
// kplug's clippy.toml routes the host's environment reads through its
// Config; a plugin's only source of the environment is this function.
#[allow(clippy::disallowed_methods)]
pub fn run<P: Plugin + ?Sized>(plugin: &P) -> i32 {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    run_with(
        plugin,
        |name| std::env::var(name).ok(),
        &args,
        std::io::stdin().lock(),
        std::io::stdout().lock(),
    )
}

/// [`run`] with its inputs made explicit, for tests: `var` looks up an
/// environment variable, `args` are the arguments after the program name.
///
/// * `INFO`: prints the INFO document as JSON; 0.
/// * `EXEC`: decodes the context from `stdin` (or, when stdin is empty,
///   from the `KPLUG_*` variables), answers an event not declared in
///   [`Plugin::info`] with error code 4, otherwise calls [`Plugin::exec`]
///   and prints its result (nothing when empty; 0) or its error document (1).
/// * `RUN` or no command: [`Plugin::run`]; its status.
/// * anything else: an error document with code 4; 1.
pub fn run_with<P, V, R, W>(plugin: &P, var: V, args: &[OsString], stdin: R, mut stdout: W) -> i32
where
    P: Plugin + ?Sized,
    V: Fn(&str) -> Option<String>,
    R: Read,
    W: Write,
{
    let command = var(env::COMMAND);
    let answer = match command.as_deref() {
        None | Some("RUN") => {
            drop(stdout);
            return plugin.run(args);
        }
        Some("INFO") => Ok(Some(plugin.info().to_json())),
        Some("EXEC") => exec(plugin, &var, stdin).map(|r| (!r.is_empty()).then(|| json(&r))),
        Some(other) => Err(ErrorDoc::new(
            code::BAD_INVOCATION,
            format!("unknown KPLUG_COMMAND `{other}` (expected INFO, EXEC or RUN)"),
        )),
    };
    let (doc, status) = match answer {
        Ok(doc) => (doc, 0),
        Err(e) => (Some(e.to_json()), 1),
    };
    if let Some(doc) = doc
        && writeln!(stdout, "{doc}")
            .and_then(|()| stdout.flush())
            .is_err()
    {
        return 1;
    }
    status
}

fn json(r: &HookResult) -> String {
    serde_json::to_string(r).expect("a result always serialises")
}

fn exec<P, V, R>(plugin: &P, var: &V, mut stdin: R) -> Result<HookResult, ErrorDoc>
where
    P: Plugin + ?Sized,
    V: Fn(&str) -> Option<String>,
    R: Read,
{
    let mut input = Vec::new();
    stdin.read_to_end(&mut input).map_err(|e| {
        ErrorDoc::new(code::IO, "could not read the context from stdin").details(e.to_string())
    })?;
    let ctx = if input.iter().all(u8::is_ascii_whitespace) {
        ExecContext::from_env(var).ok_or_else(|| {
            ErrorDoc::new(
                code::BAD_INVOCATION,
                "EXEC without a context on stdin or KPLUG_EVENT",
            )
        })?
    } else {
        ExecContext::from_json(&input).map_err(|e| {
            ErrorDoc::new(code::DECODE, "could not decode the context").details(e.to_string())
        })?
    };
    if ctx.protocol != PROTOCOL {
        return Err(ErrorDoc::new(
            code::INCOMPATIBLE_PROTOCOL,
            format!(
                "protocol {} is not supported; this plugin speaks {PROTOCOL}",
                ctx.protocol
            ),
        ));
    }
    match ctx.event() {
        Some(event) if plugin.info().handles(event) => plugin.exec(&ctx),
        _ => Err(ErrorDoc::unhandled_event(&ctx.event)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::time::Duration;

    struct Greeter;

    impl Plugin for Greeter {
        fn info(&self) -> Info {
            Info::new("greeter", "1.2.3")
                .description("Says hello")
                .hook(Hook::new(Event::PostClusterCreate).timeout(Duration::from_secs(10)))
                .hook(Hook::new(Event::PreClusterCreate).mode(Mode::Veto))
        }

        fn exec(&self, ctx: &ExecContext) -> Result<HookResult, ErrorDoc> {
            match ctx.event() {
                Some(Event::PreClusterCreate) => Err(ErrorDoc::vetoed("not today")),
                _ => {
                    let c = ctx.cluster.as_ref().expect("a cluster");
                    let servers: Vec<&str> =
                        c.nodes_with_role("server").map(|n| n.ip.as_str()).collect();
                    Ok(HookResult::new().message(format!("hello, {} {servers:?}", c.name)))
                }
            }
        }

        fn run(&self, args: &[OsString]) -> i32 {
            args.len() as i32
        }
    }

    /// Run [`Greeter`] with `vars` and `stdin`; (status, stdout).
    fn invoke(vars: &[(&str, &str)], stdin: &str) -> (i32, String) {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut out = Vec::new();
        let status = run_with(
            &Greeter,
            |k| vars.get(k).cloned(),
            &[],
            stdin.as_bytes(),
            &mut out,
        );
        (status, String::from_utf8(out).unwrap())
    }

    fn value(s: &str) -> serde_json::Value {
        serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s:?}"))
    }

    const CONTEXT: &str = r#"{"protocol": 1, "event": "post-cluster-create",
        "invocationId": "18ea-1", "host": {"version": "0.1.0"},
        "cluster": {"name": "dev", "engine": "k3d", "network": "k3d-dev",
          "kubeconfig": "/k/dev.yaml", "kubernetesVersion": "v1.31.2+k3s1",
          "nodes": [{"name": "k3d-dev-server-0", "role": "server", "ip": "172.18.0.2"},
                    {"name": "k3d-dev-agent-0", "role": "agent", "ip": "172.18.0.3"}],
          "annotations": {"registry": "k3d-registry:5000"}, "futureKey": [1]},
        "spec": {"servers": 1, "agents": 1, "engineArgs": ["--x"]},
        "previous": {"dns": {"messages": ["zone ready"]}},
        "somethingNew": true}"#;

    #[test]
    fn info_is_printed_as_json_in_the_documented_shape() {
        let (status, out) = invoke(&[("KPLUG_COMMAND", "INFO")], "");
        assert_eq!(status, 0);
        assert_eq!(
            value(&out),
            value(
                r#"{"protocols": [1], "name": "greeter", "version": "1.2.3",
                    "description": "Says hello",
                    "hooks": [{"event": "post-cluster-create", "timeout": "10s"},
                              {"event": "pre-cluster-create", "mode": "veto"}]}"#
            )
        );
    }

    #[test]
    fn a_full_info_document() {
        let info = Info::new("registry", "1.4.0")
            .usage("registry create")
            .hook(
                Hook::new(Event::PreClusterCreate)
                    .mode(Mode::Mutate)
                    .order(20)
                    .timeout(Duration::from_millis(1500)),
            )
            .requires_kplug(">=0.1")
            .requires_kubernetes(">=1.27")
            .requires_plugin("dns", "^1")
            .requires_plugin_from("certs", ">=2, <3", "acme/kplug-certs")
            .conflicts_with("other-registry");
        assert_eq!(
            value(&info.to_json()),
            value(
                r#"{"protocols": [1], "name": "registry", "version": "1.4.0",
                    "usage": "registry create",
                    "hooks": [{"event": "pre-cluster-create", "mode": "mutate",
                               "timeout": "1500ms", "order": 20}],
                    "requires": {"kplug": ">=0.1", "kubernetes": ">=1.27",
                      "plugins": {"certs": {"version": ">=2, <3", "source": "acme/kplug-certs"},
                                  "dns": {"version": "^1"}}},
                    "conflicts": ["other-registry"]}"#
            )
        );
        assert!(info.handles(Event::PreClusterCreate));
        assert!(!info.handles(Event::PostClusterCreate));
    }

    #[test]
    fn the_documented_context_decodes() {
        let ctx = ExecContext::from_json(CONTEXT.as_bytes()).unwrap();
        assert_eq!(ctx.event(), Some(Event::PostClusterCreate));
        assert_eq!(ctx.invocation_id, "18ea-1");
        assert_eq!(ctx.host.version, "0.1.0");
        let c = ctx.cluster.as_ref().unwrap();
        assert_eq!(c.kubernetes_version.as_deref(), Some("v1.31.2+k3s1"));
        assert_eq!(c.annotations["registry"], "k3d-registry:5000");
        assert!(!c.simulated);
        assert_eq!(ctx.spec.as_ref().unwrap().engine_args, ["--x"]);
        assert_eq!(ctx.previous["dns"].messages, ["zone ready"]);
        // A plugin event: no cluster, the plugin itself.
        let ctx = ExecContext::from_json(
            br#"{"protocol":1,"event":"post-plugin-install","invocationId":"x",
                 "host":{"version":"0.1.0"},"plugin":{"name":"greeter","version":"1.2.3"},
                 "previous":{}}"#,
        )
        .unwrap();
        assert_eq!(ctx.plugin.unwrap().name, "greeter");
        assert!(ctx.cluster.is_none());
    }

    #[test]
    fn exec_dispatches_and_prints_the_result() {
        let (status, out) = invoke(&[("KPLUG_COMMAND", "EXEC")], CONTEXT);
        assert_eq!(status, 0);
        assert_eq!(
            value(&out),
            value(r#"{"messages": ["hello, dev [\"172.18.0.2\"]"]}"#)
        );
    }

    #[test]
    fn exec_failure_prints_an_error_document() {
        let ctx = CONTEXT.replace("post-cluster-create", "pre-cluster-create");
        let (status, out) = invoke(&[("KPLUG_COMMAND", "EXEC")], &ctx);
        assert_eq!(status, 1);
        assert_eq!(value(&out), value(r#"{"code": 20, "msg": "not today"}"#));
    }

    #[test]
    fn undeclared_and_unknown_events_are_code_4() {
        for event in ["post-cluster-stop", "pre-cluster-explode"] {
            let ctx = CONTEXT.replace("post-cluster-create", event);
            let (status, out) = invoke(&[("KPLUG_COMMAND", "EXEC")], &ctx);
            assert_eq!(status, 1);
            assert_eq!(value(&out)["code"], 4, "{event}: {out}");
            assert!(out.contains(event), "{out}");
        }
    }

    #[test]
    fn exec_without_stdin_uses_the_environment() {
        let (status, out) = invoke(
            &[
                ("KPLUG_COMMAND", "EXEC"),
                ("KPLUG_EVENT", "post-cluster-create"),
                ("KPLUG_CLUSTER", "dev"),
                ("KPLUG_SERVERS", "k3d-dev-server-0=172.18.0.2"),
                ("KPLUG_AGENTS", "a=1.2.3.4;b=1.2.3.5"),
            ],
            "",
        );
        assert_eq!(
            (status, value(&out)["messages"][0].as_str()),
            (0, Some("hello, dev [\"172.18.0.2\"]"))
        );
        let (status, out) = invoke(&[("KPLUG_COMMAND", "EXEC")], "");
        assert_eq!((status, value(&out)["code"].as_u64()), (1, Some(4)));
    }

    #[test]
    fn bad_contexts_are_refused_with_their_codes() {
        let (status, out) = invoke(&[("KPLUG_COMMAND", "EXEC")], "{not json");
        assert_eq!((status, value(&out)["code"].as_u64()), (1, Some(6)));
        let ctx = CONTEXT.replace(r#""protocol": 1"#, r#""protocol": 2"#);
        let (status, out) = invoke(&[("KPLUG_COMMAND", "EXEC")], &ctx);
        assert_eq!((status, value(&out)["code"].as_u64()), (1, Some(1)));
    }

    #[test]
    fn run_is_the_default_command() {
        let mut out = Vec::new();
        let args = [OsString::from("a"), OsString::from("b")];
        assert_eq!(run_with(&Greeter, |_| None, &args, &b""[..], &mut out), 2);
        let rs = |k: &str| (k == env::COMMAND).then(|| "RUN".to_string());
        assert_eq!(run_with(&Greeter, rs, &args[..1], &b""[..], &mut out), 1);
        assert!(out.is_empty());
    }

    #[test]
    fn an_unknown_command_is_code_4() {
        let (status, out) = invoke(&[("KPLUG_COMMAND", "DANCE")], "");
        assert_eq!(status, 1);
        assert_eq!(value(&out)["code"], 4);
        assert!(out.contains("DANCE"));
    }

    #[test]
    fn events_round_trip() {
        for e in Event::ALL {
            assert_eq!(e.as_str().parse::<Event>(), Ok(e));
            assert_eq!(e.is_pre(), e.as_str().starts_with("pre-"));
        }
        assert!("post-lunch".parse::<Event>().is_err());
    }

    #[test]
    fn error_documents() {
        let e = ErrorDoc::new(code::PLUGIN_BASE + 1, "port busy").details("bind: in use");
        assert_eq!(
            e.to_json(),
            r#"{"code":101,"msg":"port busy","details":"bind: in use"}"#
        );
        assert_eq!(e.to_string(), "port busy (code 101): bind: in use");
        let back: ErrorDoc = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(back, e);
    }
}
