//! `myelin-bench`: drives any homeserver through the public client API (so it runs unchanged
//! against Synapse), shows progress on stderr and prints JSON results. Benchmarks report; they
//! never assert.
#![forbid(unsafe_code)]

mod client;
mod flood;
mod more_scenarios;
mod progress;
mod report;
mod scenarios;
mod sliding;
mod stats;
#[cfg(test)]
mod test_server;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use serde_json::{Value, json};

use crate::client::Error;

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
    /// A user in R rooms with history: initial and empty incremental sync.
    InitialSync {
        #[arg(long, default_value_t = 100)]
        rooms: usize,
        #[arg(long, default_value_t = 5)]
        history: usize,
    },
    /// An Element X room list over simplified sliding sync in R rooms, against `/sync`.
    SlidingSync {
        #[arg(long, default_value_t = 500)]
        rooms: usize,
        #[arg(long, default_value_t = 5)]
        history: usize,
    },
    /// Server CPU per unrelated message while K clients long-poll, /sync against sliding sync.
    SlidingWakeups {
        #[arg(long, default_value_t = 200)]
        clients: usize,
        #[arg(long, default_value_t = 5)]
        rooms: usize,
        #[arg(long, default_value_t = 200)]
        messages: usize,
        /// The server's process id.
        #[arg(long)]
        pid: u32,
    },
    /// U users join one room at once.
    JoinStorm {
        #[arg(long, default_value_t = 200)]
        users: usize,
    },
    /// Server memory with U users, each with an open long-poll.
    IdleMemory {
        #[arg(long, default_value_t = 1000)]
        users: usize,
        /// The server's process id.
        #[arg(long)]
        pid: u32,
    },
    /// Data directory growth per stored event.
    Disk {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long, default_value_t = 100)]
        users: usize,
        #[arg(long, default_value_t = 20)]
        messages: usize,
    },
    /// Other users' /sync latency, idle and while one address floods login and registration.
    Flood {
        /// Users in the room, each long-polling /sync.
        #[arg(long, default_value_t = 20)]
        users: usize,
        /// How many of them send a message every --interval-ms.
        #[arg(long, default_value_t = 1)]
        senders: usize,
        /// How many of them also make a timeout=0 /sync every --interval-ms.
        #[arg(long, default_value_t = 2)]
        probes: usize,
        #[arg(long, default_value_t = 100)]
        interval_ms: u64,
        /// Length of each phase (idle, then flood).
        #[arg(long, default_value_t = 15)]
        seconds: u64,
        /// Login and registration attempts a second during the flood (half each).
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        /// The server's process id, for its CPU seconds per phase.
        #[arg(long)]
        pid: Option<u32>,
    },
    /// Every scenario in turn, plus the server's CPU seconds and peak memory; writes JSON.
    All {
        #[arg(long)]
        pid: u32,
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Compares two `all` results: a table on stdout and an SVG chart.
    Compare {
        #[arg(long)]
        a: PathBuf,
        #[arg(long, default_value = "Myelin")]
        a_name: String,
        #[arg(long)]
        b: PathBuf,
        #[arg(long, default_value = "Synapse")]
        b_name: String,
        #[arg(long)]
        svg: PathBuf,
    },
}

async fn run(cli: Cli) -> Result<Value, Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(4096)
        .build()?;
    let prefix = format!("{}{}x", cli.prefix, rand::random::<u32>());
    let server = cli.server.as_str();
    Ok(match cli.scenario {
        Scenario::Send {
            users,
            rooms,
            messages,
        } => scenarios::send(&http, server, &prefix, users, rooms, messages).await?,
        Scenario::Fanout { clients, messages } => {
            scenarios::fanout(&http, server, &prefix, clients, messages).await?
        }
        Scenario::InitialSync { rooms, history } => {
            more_scenarios::initial_sync(&http, server, &prefix, rooms, history).await?
        }
        Scenario::SlidingSync { rooms, history } => {
            sliding::sliding_sync(&http, server, &prefix, rooms, history).await?
        }
        Scenario::SlidingWakeups {
            clients,
            rooms,
            messages,
            pid,
        } => sliding::wakeups(&http, server, &prefix, clients, rooms, messages, pid).await?,
        Scenario::JoinStorm { users } => {
            more_scenarios::join_storm(&http, server, &prefix, users).await?
        }
        Scenario::IdleMemory { users, pid } => {
            more_scenarios::idle_memory(&http, server, &prefix, users, pid).await?
        }
        Scenario::Disk {
            data_dir,
            users,
            messages,
        } => more_scenarios::disk(&http, server, &prefix, &data_dir, users, messages).await?,
        Scenario::Flood {
            users,
            senders,
            probes,
            interval_ms,
            seconds,
            rate,
            pid,
        } => {
            let options = flood::Options {
                users,
                senders,
                probes,
                interval_ms,
                seconds,
                rate,
                pid,
            };
            flood::flood(&http, server, &prefix, options).await?
        }
        Scenario::All { pid, data_dir, out } => {
            let cpu_before = more_scenarios::cpu_seconds(pid)
                .ok_or("cannot read the server's CPU time (is --pid right?)")?;
            let mut results = serde_json::Map::new();
            eprintln!("send");
            results.insert(
                "send".into(),
                scenarios::send(&http, server, &format!("{prefix}a"), 100, 10, 20).await?,
            );
            eprintln!("fanout 100");
            results.insert(
                "fanout_100".into(),
                scenarios::fanout(&http, server, &format!("{prefix}b"), 100, 10).await?,
            );
            eprintln!("fanout 1000");
            results.insert(
                "fanout_1000".into(),
                scenarios::fanout(&http, server, &format!("{prefix}c"), 1000, 10).await?,
            );
            eprintln!("initial sync 100");
            results.insert(
                "initial_sync_100".into(),
                more_scenarios::initial_sync(&http, server, &format!("{prefix}e"), 100, 5).await?,
            );
            eprintln!("initial sync 500");
            results.insert(
                "initial_sync_500".into(),
                more_scenarios::initial_sync(&http, server, &format!("{prefix}f"), 500, 5).await?,
            );
            eprintln!("join storm");
            results.insert(
                "join_storm".into(),
                more_scenarios::join_storm(&http, server, &format!("{prefix}g"), 200).await?,
            );
            eprintln!("idle memory");
            results.insert(
                "idle_memory".into(),
                more_scenarios::idle_memory(&http, server, &format!("{prefix}h"), 1000, pid)
                    .await?,
            );
            eprintln!("disk");
            results.insert(
                "disk".into(),
                more_scenarios::disk(&http, server, &format!("{prefix}k"), &data_dir, 100, 100)
                    .await?,
            );
            let cpu = more_scenarios::cpu_seconds(pid).unwrap_or(cpu_before) - cpu_before;
            let peak = more_scenarios::peak_resident_bytes(pid).unwrap_or(0) as f64 / 1_048_576.0;
            results.insert(
                "process".into(),
                json!({ "cpu_seconds": cpu, "peak_rss_mb": peak }),
            );
            let value = Value::Object(results);
            std::fs::write(&out, serde_json::to_vec_pretty(&value)?)?;
            value
        }
        Scenario::Compare {
            a,
            a_name,
            b,
            b_name,
            svg,
        } => {
            let a: Value = serde_json::from_slice(&std::fs::read(a)?)?;
            let b: Value = serde_json::from_slice(&std::fs::read(b)?)?;
            let rows = report::compare(&a, &b);
            print!("{}", report::table(&rows, &a_name, &b_name));
            std::fs::write(svg, report::svg(&rows, &a_name, &b_name))?;
            return Ok(Value::Null);
        }
    })
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(Value::Null) => std::process::ExitCode::SUCCESS,
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
