fn main() {
    std::process::exit(kplug::cli::main());
}
