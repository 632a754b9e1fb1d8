//! The `kplug` binary: everything lives in the library; see [`kplug::cli`].
//!
//! `no_main`: `kplug <plugin>` exists to exec another program as fast as
//! possible, and std's runtime start-up (stack-guard discovery through
//! /proc/self/maps, a signal stack, SIGPIPE set-up) is a measurable part of
//! that (see benches/dispatch.rs). `cli::main` does the one piece that
//! matters, ignoring SIGPIPE, on the paths that need it. `process::exit`
//! still flushes stdout.
#![no_main]

#[unsafe(no_mangle)]
pub extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    // std reads the arguments itself on this platform (std::env::args_os).
    std::process::exit(kplug::cli::main())
}
