use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // clap prints --help/--version (exit 0) or a usage error (exit 2) itself.
    debpipe_core::error::report(
        "gen-gunicorn",
        gen_gunicorn::run(&gen_gunicorn::Cli::parse()),
    )
}
