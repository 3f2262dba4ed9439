//! `myelin-bench`: drives any homeserver through the public client API (so it runs unchanged
//! against Synapse) and prints JSON results. Benchmarks report; they never assert.
#![forbid(unsafe_code)]

mod client;
mod scenarios;
mod stats;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "myelin-bench", about = "Load tool for Matrix homeservers")]
struct Cli {
    /// Base URL of the server's client API.
    #[arg(long, default_value = "http://127.0.0.1:8008")]
    server: String,
    /// Prefix for the users this run registers (open registration must be on).
    #[arg(long, default_value = "bench")]
    prefix: String,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// N users in M rooms send messages as fast as the server accepts them.
    Send {
        #[arg(long, default_value_t = 100)]
        users: usize,
        #[arg(long, default_value_t = 10)]
        rooms: usize,
        #[arg(long, default_value_t = 20)]
        messages: usize,
    },
    /// K clients long-poll /sync in one room while one user sends.
    Fanout {
        #[arg(long, default_value_t = 100)]
        clients: usize,
        #[arg(long, default_value_t = 20)]
        messages: usize,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let http = match reqwest::Client::builder()
        .pool_max_idle_per_host(4096)
        .build()
    {
        Ok(http) => http,
        Err(error) => {
            eprintln!("myelin-bench: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let prefix = format!("{}{}x", cli.prefix, rand::random::<u32>());
    let result = match cli.scenario {
        Scenario::Send {
            users,
            rooms,
            messages,
        } => scenarios::send(&http, &cli.server, &prefix, users, rooms, messages).await,
        Scenario::Fanout { clients, messages } => {
            scenarios::fanout(&http, &cli.server, &prefix, clients, messages).await
        }
    };
    match result {
        Ok(report) => {
            println!("{report:#}");
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            let mut message = error.to_string();
            let mut source = error.source();
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("myelin-bench: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
