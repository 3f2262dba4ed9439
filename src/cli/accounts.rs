//! The account and registration-token commands: on the store when the server is stopped, or
//! through the running server's admin API.

use myelin_core::{Services, config::Config, users::validate_new_localpart};
use ruma::{OwnedUserId, UserId};

use super::{TokenCommand, UserCommand};
use crate::failure::Failure;

fn parse_user(services: &Services, given: &str) -> Result<OwnedUserId, Failure> {
    if given.starts_with('@') {
        let user_id =
            UserId::parse(given).map_err(|error| format!("invalid user id {given}: {error}"))?;
        if !services.users.is_local(&user_id) {
            return Err(Failure::Other(format!(
                "{user_id} is not a user of {}",
                services.config.server.name
            )));
        }
        Ok(user_id)
    } else {
        Ok(
            UserId::parse_with_server_name(given.to_lowercase(), services.users.server_name())
                .map_err(|error| format!("invalid user {given}: {error}"))?,
        )
    }
}

fn user_id_of(config: &Config, given: &str) -> Result<String, Failure> {
    let user_id = if given.starts_with('@') {
        UserId::parse(given).map_err(|error| format!("invalid user id {given}: {error}"))?
    } else {
        let server_name = ruma::ServerName::parse(&config.server.name)
            .map_err(|error| Failure::Other(error.to_string()))?;
        UserId::parse_with_server_name(given.to_lowercase(), &server_name)
            .map_err(|error| format!("invalid user {given}: {error}"))?
    };
    if user_id.server_name().as_str() != config.server.name {
        return Err(Failure::Other(format!(
            "{user_id} is not a user of {}",
            config.server.name
        )));
    }
    Ok(user_id.to_string())
}

pub(super) async fn user_command_online(
    client: &crate::admin_client::AdminClient,
    config: &Config,
    command: &UserCommand,
) -> Result<(), Failure> {
    match command {
        UserCommand::Create {
            user,
            password,
            admin,
        } => {
            let localpart = user
                .strip_prefix('@')
                .map_or(user.as_str(), |rest| rest.split(':').next().unwrap_or(rest));
            let server_name = ruma::ServerName::parse(&config.server.name)
                .map_err(|error| Failure::Other(error.to_string()))?;
            let user_id = validate_new_localpart(&localpart.to_lowercase(), &server_name)?;
            let (password, generated) = match password {
                Some(password) => (password.clone(), false),
                None => (myelin_core::users::random_string(20), true),
            };
            client
                .create_user(user_id.as_str(), &password, *admin)
                .await?;
            println!("created {user_id}{}", if *admin { " (admin)" } else { "" });
            if generated {
                println!("password: {password}");
            }
        }
        UserCommand::List => {
            for (user_id, state) in client.list_users().await? {
                println!("{user_id}\t{state}");
            }
        }
        UserCommand::Deactivate { user } => {
            let user_id = user_id_of(config, user)?;
            client.deactivate(&user_id).await?;
            println!("deactivated {user_id}");
        }
        UserCommand::ResetPassword { user, password } => {
            let user_id = user_id_of(config, user)?;
            let (password, generated) = match password {
                Some(password) => (password.clone(), false),
                None => (myelin_core::users::random_string(20), true),
            };
            client.reset_password(&user_id, &password).await?;
            println!("password of {user_id} reset; all its devices are logged out");
            if generated {
                println!("password: {password}");
            }
        }
    }
    Ok(())
}

pub(super) async fn token_command_online(
    client: &crate::admin_client::AdminClient,
    command: &TokenCommand,
) -> Result<(), Failure> {
    match command {
        TokenCommand::Create {
            uses,
            expires_in_hours,
        } => {
            let expiry =
                expires_in_hours.map(|hours| myelin_core::users::now_ms() + hours * 3_600_000);
            println!("{}", client.create_token(*uses, expiry).await?);
        }
        TokenCommand::List => {
            for (token, completed, uses, expiry) in client.list_tokens().await? {
                let uses =
                    uses.map_or_else(|| "unlimited".to_owned(), |allowed| allowed.to_string());
                let expiry = expiry.map_or_else(|| "never".to_owned(), |expiry| expiry.to_string());
                println!("{token}\tused {completed}/{uses}\texpires {expiry}");
            }
        }
        TokenCommand::Delete { token } => {
            client.delete_token(token).await?;
            println!("deleted");
        }
    }
    Ok(())
}

pub(super) async fn user_command(
    services: &Services,
    command: &UserCommand,
) -> Result<(), Failure> {
    let users = &services.users;
    match command {
        UserCommand::Create {
            user,
            password,
            admin,
        } => {
            let localpart = user
                .strip_prefix('@')
                .map_or(user.as_str(), |rest| rest.split(':').next().unwrap_or(rest));
            let user_id = validate_new_localpart(&localpart.to_lowercase(), users.server_name())?;
            let (password, generated) = match password {
                Some(password) => (password.clone(), false),
                None => (myelin_core::users::random_string(20), true),
            };
            users
                .create_account(&user_id, Some(&password), *admin, None)
                .await?;
            println!("created {user_id}{}", if *admin { " (admin)" } else { "" });
            if generated {
                println!("password: {password}");
            }
        }
        UserCommand::List => {
            for (user_id, record) in users.list_accounts()? {
                let state = if record.deactivated {
                    "deactivated"
                } else if record.admin {
                    "admin"
                } else {
                    "active"
                };
                println!("{user_id}\t{state}");
            }
        }
        UserCommand::Deactivate { user } => {
            let user_id = parse_user(services, user)?;
            users.deactivate(&user_id).await?;
            println!("deactivated {user_id}");
        }
        UserCommand::ResetPassword { user, password } => {
            let user_id = parse_user(services, user)?;
            let (password, generated) = match password {
                Some(password) => (password.clone(), false),
                None => (myelin_core::users::random_string(20), true),
            };
            users.set_password(&user_id, &password, true, None).await?;
            println!("password of {user_id} reset; all its devices are logged out");
            if generated {
                println!("password: {password}");
            }
        }
    }
    Ok(())
}

pub(super) async fn token_command(
    services: &Services,
    command: &TokenCommand,
) -> Result<(), Failure> {
    let users = &services.users;
    match command {
        TokenCommand::Create {
            uses,
            expires_in_hours,
        } => {
            let expiry =
                expires_in_hours.map(|hours| myelin_core::users::now_ms() + hours * 3_600_000);
            let token = users.create_registration_token(*uses, expiry).await?;
            println!("{}", token.token);
        }
        TokenCommand::List => {
            for token in users.registration_tokens()? {
                let uses = token
                    .uses_allowed
                    .map_or_else(|| "unlimited".to_owned(), |allowed| allowed.to_string());
                let expiry = token
                    .expiry_time
                    .map_or_else(|| "never".to_owned(), |expiry| expiry.to_string());
                println!(
                    "{}\tused {}/{uses}\texpires {expiry}",
                    token.token, token.completed
                );
            }
        }
        TokenCommand::Delete { token } => {
            users.delete_registration_token(token).await?;
            println!("deleted");
        }
    }
    Ok(())
}
