//! The `meshrender` binary: a thin shell around `meshrender::cli`.

fn main() {
    std::process::exit(meshrender::cli::main());
}
