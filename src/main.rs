//! The `tokend` binary: make new files private, set up logging, parse the command line,
//! run. Nothing else.

use clap::Parser as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    tokend::bootstrap::private_umask();
    tokend::logging::init();
    match tokend::cli::run(tokend::cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
