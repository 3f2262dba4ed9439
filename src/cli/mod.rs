//! Command-line parsing and the subcommands.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use myelin::RunningServer;

pub use crate::failure::Failure;
use myelin_core::{Services, config::Config};

mod accounts;

use accounts::{token_command, token_command_online, user_command, user_command_online};

#[derive(Parser)]
#[command(name = "myelin", version, about = "Myelin, a Matrix homeserver")]
pub struct Cli {
    /// TOML config file; without one, built-in defaults and MYELIN_* variables apply.
    #[arg(long, global = true, env = "MYELIN_CONFIG")]
    config: Option<PathBuf>,
    /// An administrator's access token: with the server running, account, registration-token
    /// and report commands go through its admin API with it.
    #[arg(
        long,
        global = true,
        env = "MYELIN_ADMIN_TOKEN",
        hide_env_values = true
    )]
    admin_token: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Manage accounts (on the store when the server is stopped; through its admin API when it
    /// runs).
    #[command(subcommand)]
    User(UserCommand),
    /// Manage registration tokens (as accounts: stopped or running).
    #[command(subcommand)]
    RegistrationToken(TokenCommand),
    /// Check the configuration and exit.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Storage benchmark and crash test.
    #[command(subcommand)]
    Store(crate::store_tools::StoreCommand),
    /// The server's signing keys (only with the server stopped: the store is opened directly).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The media repository (from the store when the server is stopped, through its admin API
    /// when it runs).
    #[command(subcommand)]
    Media(MediaCommand),
    /// Reports users made of events, rooms and users (from the store when the server is stopped,
    /// through the admin API when it runs).
    #[command(subcommand)]
    Reports(ReportsCommand),
}

#[derive(Subcommand)]
enum ReportsCommand {
    /// Every report, oldest first, one JSON object per line.
    List,
}

#[derive(Subcommand)]
enum MediaCommand {
    /// Delete media not accessed for a while (ages like `30d`, `12h`, `90m`), and created ids
    /// that expired unused; shows progress. On a running server, local media still used as an
    /// avatar stays (Synapse's `keep_profiles`), and the server drops expired ids itself.
    Purge {
        /// Cached media of other servers not accessed for this long.
        #[arg(long, value_parser = parse_age)]
        remote_older_than: Option<u64>,
        /// Media uploaded here not accessed for this long.
        #[arg(long, value_parser = parse_age)]
        local_older_than: Option<u64>,
    },
}

/// An age like `30d`, `12h`, `90m` or `45s`, in milliseconds.
fn parse_age(text: &str) -> Result<u64, String> {
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not an age like 30d, 12h, 90m or 45s"))?;
    let unit_ms = match unit {
        "d" => 86_400_000,
        "h" => 3_600_000,
        "m" => 60_000,
        "s" => 1_000,
        _ => return Err(format!("`{text}` is not an age like 30d, 12h, 90m or 45s")),
    };
    Ok(number.saturating_mul(unit_ms))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ages_parse_with_units() {
        assert_eq!(super::parse_age("30d"), Ok(30 * 86_400_000));
        assert_eq!(super::parse_age("90m"), Ok(90 * 60_000));
        assert!(super::parse_age("30").is_err());
        assert!(super::parse_age("d").is_err());
        assert!(super::parse_age("5w").is_err());
    }
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Start signing with a new key; the current one is published as an old key (expired now),
    /// so what it signed still verifies.
    Rotate,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account; prints a generated password when none is given.
    Create {
        /// Localpart (`alice`) or full user id.
        user: String,
        #[arg(long)]
        password: Option<String>,
        #[arg(long)]
        admin: bool,
    },
    /// List accounts.
    List,
    /// Deactivate an account for good.
    Deactivate { user: String },
    /// Set a new password and log out every device.
    ResetPassword {
        user: String,
        #[arg(long)]
        password: Option<String>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a registration token.
    Create {
        /// How many registrations it allows (unlimited if absent).
        #[arg(long)]
        uses: Option<u32>,
        /// Hours until it expires (never if absent).
        #[arg(long)]
        expires_in_hours: Option<u64>,
    },
    /// List registration tokens.
    List,
    /// Delete a registration token.
    Delete { token: String },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Parse and validate the configuration, print the result.
    Check,
}

pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MYELIN_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,tower_http=warn,ruma_state_res=warn")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}

fn load_config(cli: &Cli) -> Result<Config, Failure> {
    myelin::config::load(cli.config.as_deref(), std::env::vars()).map_err(Failure::Config)
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

pub fn run(cli: Cli) -> Result<(), Failure> {
    match &cli.command {
        None | Some(Command::Serve) => serve(load_config(&cli)?, &cli),
        Some(Command::Config(ConfigCommand::Check)) => {
            let config = load_config(&cli)?;
            println!(
                "configuration is valid: server {} · client {} · federation {} · data {} · store {}",
                config.server.name,
                config.client.bind,
                if config.federation.enabled {
                    config.federation.bind.to_string()
                } else {
                    "off".into()
                },
                config.server.data_dir.display(),
                config.storage.backend,
            );
            Ok(())
        }
        Some(Command::User(command)) => {
            let config = load_config(&cli)?;
            runtime()?.block_on(async {
                match Services::open(config.clone()) {
                    Ok(services) => user_command(&services, command).await,
                    Err(error) => {
                        let client = running_server(&config, &cli, error)?;
                        user_command_online(&client, &config, command).await
                    }
                }
            })
        }
        Some(Command::RegistrationToken(command)) => {
            let config = load_config(&cli)?;
            runtime()?.block_on(async {
                match Services::open(config.clone()) {
                    Ok(services) => token_command(&services, command).await,
                    Err(error) => {
                        let client = running_server(&config, &cli, error)?;
                        token_command_online(&client, command).await
                    }
                }
            })
        }
        Some(Command::Store(command)) => crate::store_tools::run(command),
        Some(Command::Media(MediaCommand::Purge {
            remote_older_than,
            local_older_than,
        })) => {
            let config = load_config(&cli)?;
            let now = myelin_core::users::now_ms();
            let remote_before = remote_older_than.map(|age| now.saturating_sub(age));
            let local_before = local_older_than.map(|age| now.saturating_sub(age));
            let services = match Services::open(config.clone()) {
                Ok(services) => services,
                Err(error) => {
                    // The server runs: its admin API purges (Synapse's media endpoints).
                    let client = running_server(&config, &cli, error)?;
                    let (media, remote) =
                        runtime()?.block_on(client.purge_media(remote_before, local_before))?;
                    println!("deleted {media} local media and {remote} cached remote media");
                    return Ok(());
                }
            };
            let report = runtime()?
                .block_on(
                    services
                        .media
                        .purge(remote_before, local_before, |done, total| {
                            if done == total || done % 100 == 0 {
                                eprintln!("purged {done}/{total}");
                            }
                        }),
                )
                .map_err(|error| Failure::Other(error.to_string()))?;
            services
                .store
                .flush()
                .map_err(|error| Failure::Other(error.to_string()))?;
            println!(
                "deleted {} media ({} bytes); files no other media uses are gone",
                report.media, report.bytes
            );
            Ok(())
        }
        Some(Command::Reports(ReportsCommand::List)) => {
            let config = load_config(&cli)?;
            let services = match Services::open(config.clone()) {
                Ok(services) => services,
                Err(error) => {
                    let client = running_server(&config, &cli, error)?;
                    for report in runtime()?.block_on(client.reports())? {
                        println!("{report}");
                    }
                    return Ok(());
                }
            };
            let reports = services
                .rooms
                .reports()
                .map_err(|error| Failure::Other(error.to_string()))?;
            for report in reports {
                let line = serde_json::to_string(&report)
                    .map_err(|error| Failure::Other(error.to_string()))?;
                println!("{line}");
            }
            Ok(())
        }
        Some(Command::Keys(KeysCommand::Rotate)) => {
            let config = load_config(&cli)?;
            let store =
                myelin_core::storage::Store::open(config.storage.backend, &config.server.data_dir)
                    .map_err(|error| Failure::Other(error.to_string()))?;
            let key_id = myelin_core::keys::ServerKeys::rotate(&store)
                .map_err(|error| Failure::Other(error.to_string()))?;
            store
                .flush()
                .map_err(|error| Failure::Other(error.to_string()))?;
            println!("now signing with {key_id}; the previous key is published in old_verify_keys");
            Ok(())
        }
    }
}

fn serve(config: Config, cli: &Cli) -> Result<(), Failure> {
    let runtime = runtime()?;
    let served = runtime.block_on(async {
        // Listen for signals before anything else: a SIGTERM that arrives while the server is
        // still starting must shut it down cleanly, not kill it.
        let mut signals = Signals::install()?;
        let server = RunningServer::start(config).await?;
        while signals.wait().await == Wake::Reload {
            // SIGHUP: the configuration's appservice registrations are read again.
            match load_config(cli) {
                Ok(config) => {
                    if let Err(error) = server
                        .reload_appservices(&config.appservices.registration_files)
                        .await
                    {
                        tracing::error!(%error, "appservice registrations not reloaded");
                    }
                }
                Err(Failure::Config(error)) => {
                    tracing::error!(%error, "configuration not reloaded");
                }
                Err(Failure::Other(error)) => {
                    tracing::error!(%error, "configuration not reloaded");
                }
            }
        }
        tracing::info!("shutting down: finishing in-flight requests");
        server.shutdown().await;
        Ok(())
    });
    // Work that outlived the listeners' grace period (a blocking task, a request stuck in
    // computation) must not keep the process from exiting.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    served
}

/// What woke the serving loop.
#[derive(Debug, PartialEq, Eq)]
enum Wake {
    Shutdown,
    Reload,
}

/// SIGTERM and SIGINT (shut down) and SIGHUP (reload), registered up front.
struct Signals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Self, Failure> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                terminate: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
                hangup: signal(SignalKind::hangup())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    async fn wait(&mut self) -> Wake {
        #[cfg(unix)]
        tokio::select! {
            _ = self.terminate.recv() => Wake::Shutdown,
            _ = self.interrupt.recv() => Wake::Shutdown,
            _ = self.hangup.recv() => Wake::Reload,
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Wake::Shutdown
        }
    }
}

/// The running server's admin API, when the store cannot be opened because the server holds
/// it, and the CLI has a way in (an administrator's token, or the shared secret for `user
/// create`).
fn running_server(
    config: &Config,
    cli: &Cli,
    error: myelin_core::Error,
) -> Result<crate::admin_client::AdminClient, Failure> {
    let client = crate::admin_client::AdminClient::new(config, cli.admin_token.clone());
    if client.usable() {
        Ok(client)
    } else {
        Err(Failure::Other(format!(
            "{error} (is the server running? then give an administrator's access token with \
             --admin-token or MYELIN_ADMIN_TOKEN)"
        )))
    }
}
