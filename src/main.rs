//! The `myelin` command: `serve` (the default), account and token administration, config checks
//! and store tools.
#![forbid(unsafe_code)]

mod admin_client;
mod cli;
mod failure;
mod store_tools;

use std::process::ExitCode;

use clap::Parser as _;

// glibc's malloc kept gigabytes of freed argon2 buffers (19 MiB per password hash, on many
// blocking threads) as resident memory; mimalloc returns them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let arguments = cli::Cli::parse();
    cli::init_logging();
    match cli::run(arguments) {
        Ok(()) => ExitCode::SUCCESS,
        Err(cli::Failure::Config(error)) => {
            eprintln!("myelin: config error: {error}");
            ExitCode::from(2)
        }
        Err(cli::Failure::Other(message)) => {
            eprintln!("myelin: {message}");
            ExitCode::FAILURE
        }
    }
}
