//! The `berth` binary (also installed as `dokku`).

fn main() {
    std::process::exit(berth::cli::main());
}
