//! kplug-@NAME@: a kplug plugin (scaffolded by `kplug plugin new`).
//!
//! kplug runs this program with the command in `KPLUG_COMMAND`:
//!
//! * `INFO`: print what the plugin offers (one YAML or JSON document) and
//!   exit 0, quickly and without side effects;
//! * `EXEC`: handle one lifecycle event (`KPLUG_EVENT`): the context is JSON
//!   on stdin; print nothing or a result document on stdout; on failure
//!   print an error document and exit non-zero;
//! * `RUN`: `kplug @NAME@ ARGS...`: the arguments arrive untouched (this is
//!   also what happens when the program is run directly, without
//!   `KPLUG_COMMAND`).
//!
//! stderr is for logs: kplug shows it, prefixed with the plugin's name.
//! The protocol: <https://github.com/kplug/kplug/blob/main/docs/protocol.md>

use serde_json::{json, Value};
use std::io::Read;
use std::process::ExitCode;

const NAME: &str = "@NAME@";
const VERSION: &str = env!("CARGO_PKG_VERSION");

// Error codes 0-99 are reserved by the protocol; use 100+ for your own.
const BAD_INVOCATION: u32 = 4;
const DECODE: u32 = 6;

/// A failure, printed as an error document: `{"code": 4, "msg": "..."}`.
struct Failure {
    code: u32,
    msg: String,
}

fn fail(code: u32, msg: impl Into<String>) -> Failure {
    Failure {
        code,
        msg: msg.into(),
    }
}

/// The INFO document (JSON is valid YAML). Keep `version` in step with the
/// release tag: `v0.1.0` publishes `version: 0.1.0`.
fn info() -> Value {
    json!({
        "protocols": [1],
        "name": NAME,
        "version": VERSION,
        "description": format!("{NAME}: a kplug plugin (describe it here)"),
        "usage": format!("{NAME} [NAME]"),
        "hooks": [
            {"event": "post-cluster-create", "timeout": "30s"}
        ]
    })
}

/// Handle one event; `Ok(None)` prints nothing (an empty result).
fn exec_hook(event: &str, ctx: &Value) -> Result<Option<Value>, Failure> {
    match event {
        "post-cluster-create" => {
            let cluster = &ctx["cluster"];
            let name = cluster["name"].as_str().unwrap_or_default();
            let servers: Vec<&str> = cluster["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|n| n["role"] == "server")
                .filter_map(|n| n["name"].as_str())
                .collect();
            eprintln!(
                "cluster {name} is up (engine {}, servers: {})",
                cluster["engine"].as_str().unwrap_or_default(),
                if servers.is_empty() { "none".to_string() } else { servers.join(", ") }
            );
            Ok(Some(json!({ "messages": [format!("{NAME}: cluster {name} is ready")] })))
        }
        // Declare every event handled here under `hooks` in `info()` too.
        _ => Err(fail(
            BAD_INVOCATION,
            format!("kplug-{NAME} does not handle the event {event}"),
        )),
    }
}

fn run(args: &[String]) -> Result<(), Failure> {
    match args.first().map(String::as_str) {
        Some("-h" | "--help" | "help") => println!("usage: kplug {NAME} [NAME]"),
        Some("--version") => println!("kplug-{NAME} {VERSION}"),
        who => println!("hello from {NAME}, {}!", who.unwrap_or("world")),
    }
    Ok(())
}

fn main() -> ExitCode {
    let command = std::env::var("KPLUG_COMMAND").unwrap_or_else(|_| "RUN".into());
    let outcome = match command.as_str() {
        "INFO" => {
            println!("{:#}", info());
            Ok(())
        }
        "EXEC" => {
            let event = std::env::var("KPLUG_EVENT").unwrap_or_default();
            let mut stdin = String::new();
            std::io::stdin()
                .read_to_string(&mut stdin)
                .map_err(|e| fail(DECODE, format!("could not read the context: {e}")))
                .and_then(|_| {
                    serde_json::from_str::<Value>(&stdin)
                        .map_err(|e| fail(DECODE, format!("could not decode the context: {e}")))
                })
                .and_then(|ctx| exec_hook(&event, &ctx))
                .map(|result| {
                    if let Some(result) = result {
                        println!("{result}");
                    }
                })
        }
        "RUN" => run(&std::env::args().skip(1).collect::<Vec<_>>()),
        other => Err(fail(
            BAD_INVOCATION,
            format!("kplug-{NAME} does not know the command {other}"),
        )),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure { code, msg }) => {
            println!("{}", json!({ "code": code, "msg": msg }));
            ExitCode::FAILURE
        }
    }
}
