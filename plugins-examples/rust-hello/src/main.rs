//! kplug-rust-hello: an example kplug plugin built on `kplug-sdk`.
//!
//! * `kplug rust-hello [NAME]` greets NAME (a callable: `RUN`);
//! * on `post-cluster-create` it greets the new cluster (a hook: `EXEC`);
//! * `KPLUG_COMMAND=INFO` prints what it offers (done by the SDK from
//!   [`Plugin::info`]).
//!
//! Build it with `cargo build -p kplug-rust-hello`; the executable is
//! `target/debug/kplug-rust-hello`.

use kplug_sdk::{ErrorDoc, Event, ExecContext, Hook, HookResult, Info, Plugin, code};
use std::ffi::OsString;
use std::time::Duration;

struct RustHello;

impl Plugin for RustHello {
    fn info(&self) -> Info {
        Info::new("rust-hello", env!("CARGO_PKG_VERSION"))
            .description("Greets you, and every cluster kplug creates (Rust)")
            .usage("rust-hello [NAME]")
            .hook(Hook::new(Event::PostClusterCreate).timeout(Duration::from_secs(10)))
    }

    fn exec(&self, ctx: &ExecContext) -> Result<HookResult, ErrorDoc> {
        // Only declared events reach here; the SDK answers others with code 4.
        let cluster = ctx
            .cluster
            .as_ref()
            .ok_or_else(|| ErrorDoc::new(code::BAD_INVOCATION, "the context has no cluster"))?;
        // stderr is the log: kplug shows it prefixed with `[rust-hello]`.
        let servers = cluster.nodes_with_role("server").count();
        let agents = cluster.nodes_with_role("agent").count();
        eprintln!(
            "rust-hello: cluster {} is up (engine {}, {servers} server(s), {agents} agent(s){})",
            cluster.name,
            cluster.engine,
            if cluster.simulated { ", simulated" } else { "" },
        );
        Ok(HookResult::new().message(format!("hello from Rust, {}!", cluster.name)))
    }

    fn run(&self, args: &[OsString]) -> i32 {
        let name = args
            .first()
            .map(|a| a.to_string_lossy())
            .unwrap_or("world".into());
        println!("hello, {name}!");
        0
    }
}

fn main() {
    std::process::exit(kplug_sdk::run(&RustHello))
}
