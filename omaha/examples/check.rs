//! Ask an Omaha server once whether there is an update:
//! `cargo run -p omaha-client --example check -- https://nebraska.example.com/v1/update APP_ID VERSION [TRACK]`

use omaha_client::{Check, Client};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, app, version, rest @ ..] = args.as_slice() else {
        eprintln!("usage: check ENDPOINT APP_ID VERSION [TRACK]");
        std::process::exit(2);
    };
    let id =
        omaha_client::machine_id(&std::env::temp_dir().join("omaha-client-example-machine-id"))
            .expect("a machine id");
    let client = Client::builder(endpoint)
        .app_id(app)
        .version(version)
        .track(rest.first().map_or("stable", String::as_str))
        .machine_id(&id)
        .build()
        .unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(2)
        });
    match client.check() {
        Ok(Check::NoUpdate) => println!("{app} {version} is up to date"),
        Ok(Check::Update(u)) => println!(
            "{app}: {} is available ({} package(s))",
            u.version,
            u.packages.len()
        ),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
