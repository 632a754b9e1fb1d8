//! Link the `kplug` executable as non-PIE on Linux.
//!
//! A position-independent executable has its pointer tables relocated at
//! every start, which dirties (copy-on-write faults) their pages; for a
//! binary whose main job is to exec a plugin, that was ~20% of the page
//! faults of a dispatch (benches/dispatch.rs). Shared libraries, the heap
//! and the stack stay randomised. Only the binary is affected, not the
//! library or the tests' code.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[allow(
        clippy::disallowed_methods,
        reason = "build scripts read cargo's environment"
    )]
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" {
        println!("cargo:rustc-link-arg-bin=kplug=-no-pie");
    }
}
