//! The myelin command line: accounts and registration tokens with the server stopped and running,
//! and the first start's guidance.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    common::{PASSWORD, assert_error, test_config},
    durability::{BINARY, server_env, spawn_server, wait_for_line},
};

#[tokio::test]
async fn accounts_made_with_the_cli_can_log_in_and_cli_deactivation_locks_them_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = |arguments: &[&str]| {
        let output = Command::new(BINARY)
            .args(arguments)
            .env("MYELIN_SERVER__DATA_DIR", dir.path())
            .env("MYELIN_LOG", "error")
            .output()
            .expect("run cli");
        assert!(
            output.status.success(),
            "{arguments:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert!(
        cli(&["user", "create", "admin", "--password", PASSWORD, "--admin"])
            .contains("created @admin:localhost (admin)")
    );
    let generated = cli(&["user", "create", "carol"]);
    let carol_password = generated
        .lines()
        .find_map(|line| line.strip_prefix("password: "))
        .expect("generated password")
        .to_owned();
    let listing = cli(&["user", "list"]);
    assert!(
        listing.contains("@admin:localhost\tadmin") && listing.contains("@carol:localhost\tactive"),
        "{listing}"
    );

    let check_login = |password: String, localpart: &'static str| {
        let dir = dir.path().to_path_buf();
        async move {
            let server = myelin::RunningServer::start(test_config(&dir))
                .await
                .expect("start");
            let body = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": localpart }, "password": password });
            let response = crate::common::http_client()
                .post(format!("{}/_matrix/client/v3/login", server.client_url()))
                .json(&body)
                .send()
                .await
                .expect("login");
            let status = response.status();
            let body: serde_json::Value = response.json().await.expect("json");
            server.shutdown().await;
            (status, body)
        }
    };
    assert_eq!(
        check_login(PASSWORD.into(), "admin").await.0,
        StatusCode::OK
    );
    assert_eq!(
        check_login(carol_password.clone(), "carol").await.0,
        StatusCode::OK
    );

    let reset = cli(&[
        "user",
        "reset-password",
        "carol",
        "--password",
        "another good password",
    ]);
    assert!(reset.contains("@carol:localhost"));
    assert_error(
        &check_login(carol_password, "carol").await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    assert_eq!(
        check_login("another good password".into(), "carol").await.0,
        StatusCode::OK
    );

    cli(&["user", "deactivate", "@carol:localhost"]);
    assert_error(
        &check_login("another good password".into(), "carol").await,
        StatusCode::FORBIDDEN,
        "M_USER_DEACTIVATED",
    );
    assert!(cli(&["user", "list"]).contains("@carol:localhost\tdeactivated"));

    let token = cli(&["registration-token", "create", "--uses", "2"])
        .trim()
        .to_owned();
    assert!(cli(&["registration-token", "list"]).contains(&format!("{token}\tused 0/2")));
}

#[tokio::test]
async fn first_start_tells_the_newcomer_a_token_that_registers_an_account() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut environment = server_env(dir.path());
    environment.retain(|(key, _)| *key != "MYELIN_REGISTRATION__OPEN");
    let mut server = spawn_server(&environment);
    let line = wait_for_line(&server.lines, "one-time registration token");
    assert!(line.contains("myelin user create"), "{line}");
    let token = line.rsplit(' ').next().expect("token").trim().to_owned();
    let body = json!({ "username": "newcomer", "password": PASSWORD, "auth": { "type": "m.login.registration_token", "token": token } });
    let response = crate::common::http_client()
        .post(format!("{}/_matrix/client/v3/register", server.url))
        .json(&body)
        .send()
        .await
        .expect("register");
    assert_eq!(response.status(), StatusCode::OK);
    server.child.kill().expect("kill");
    let _ = server.child.wait();
}

/// With the server running (it holds the store), the CLI's account, token and report commands
/// go through its admin API: `user create` with the shared secret alone, the rest with an
/// administrator's token; commands that need the store say to stop the server.
#[tokio::test]
async fn the_cli_manages_accounts_and_tokens_of_a_running_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = crate::common::free_port();
    let mut environment = server_env(dir.path());
    environment.retain(|(key, _)| *key != "MYELIN_CLIENT__BIND");
    environment.extend([
        ("MYELIN_CLIENT__BIND", format!("127.0.0.1:{port}")),
        (
            "MYELIN_REGISTRATION__REGISTRATION_SHARED_SECRET",
            "a secret for the cli".into(),
        ),
    ]);
    let mut server = spawn_server(&environment);
    let cli = |arguments: &[&str], token: Option<&str>| {
        let mut command = Command::new(BINARY);
        command
            .args(arguments)
            .envs(
                environment
                    .iter()
                    .map(|(key, value)| (*key, value.as_str())),
            )
            .env("MYELIN_LOG", "error");
        if let Some(token) = token {
            command.env("MYELIN_ADMIN_TOKEN", token);
        }
        command.output().expect("run cli")
    };
    let ok = |output: std::process::Output| {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    // The shared secret is enough to make the first administrator.
    assert!(
        ok(cli(
            &["user", "create", "root", "--password", PASSWORD, "--admin"],
            None
        ))
        .contains("created @root:localhost (admin)")
    );
    let http = crate::common::http_client();
    let login = |user: &'static str, password: String| {
        let http = http.clone();
        let url = server.url.clone();
        async move {
            let body = json!({ "type": "m.login.password",
                               "identifier": { "type": "m.id.user", "user": user },
                               "password": password });
            let response = http
                .post(format!("{url}/_matrix/client/v3/login"))
                .json(&body)
                .send()
                .await
                .expect("login");
            let status = response.status();
            (
                status,
                response.json::<serde_json::Value>().await.expect("json"),
            )
        }
    };
    let (status, root) = login("root", PASSWORD.into()).await;
    assert_eq!(status, StatusCode::OK, "{root}");
    let access_token = root["access_token"].as_str().expect("token").to_owned();
    let token = Some(access_token.as_str());

    // Without a token, the rest is refused with what to do.
    let refused = cli(&["user", "list"], None);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("MYELIN_ADMIN_TOKEN"));

    let generated = ok(cli(&["user", "create", "carol"], token));
    assert!(
        generated.contains("created @carol:localhost"),
        "{generated}"
    );
    let listing = ok(cli(&["user", "list"], token));
    assert!(
        listing.contains("@root:localhost\tadmin") && listing.contains("@carol:localhost\tactive"),
        "{listing}"
    );
    ok(cli(
        &[
            "user",
            "reset-password",
            "carol",
            "--password",
            "carol's new password",
        ],
        token,
    ));
    assert_eq!(
        login("carol", "carol's new password".into()).await.0,
        StatusCode::OK
    );
    let made = ok(cli(&["registration-token", "create", "--uses", "2"], token));
    let made = made.trim();
    assert!(ok(cli(&["registration-token", "list"], token)).contains(&format!("{made}\tused 0/2")),);
    ok(cli(&["registration-token", "delete", made], token));
    assert!(!ok(cli(&["registration-token", "list"], token)).contains(made));
    ok(cli(&["user", "deactivate", "carol"], token));
    assert_error(
        &login("carol", "carol's new password".into()).await,
        StatusCode::FORBIDDEN,
        "M_USER_DEACTIVATED",
    );
    assert!(ok(cli(&["user", "list"], token)).contains("@carol:localhost\tdeactivated"));
    assert_eq!(ok(cli(&["reports", "list"], token)), "");
    // A room report is listed too.
    let bearer = format!("Bearer {access_token}");
    let room: serde_json::Value = http
        .post(format!("{}/_matrix/client/v3/createRoom", server.url))
        .header("Authorization", &bearer)
        .json(&json!({}))
        .send()
        .await
        .expect("createRoom")
        .json()
        .await
        .expect("json");
    let room_id = room["room_id"].as_str().expect("room id");
    let reported = http
        .post(format!(
            "{}/_matrix/client/v3/rooms/{room_id}/report",
            server.url
        ))
        .header("Authorization", &bearer)
        .json(&json!({ "reason": "seen from the cli" }))
        .send()
        .await
        .expect("report");
    assert_eq!(reported.status(), StatusCode::OK);
    let reports = ok(cli(&["reports", "list"], token));
    assert!(
        reports.contains(room_id) && reports.contains("seen from the cli"),
        "{reports}"
    );
    // Media purging goes through the admin API too.
    let uploaded: serde_json::Value = http
        .post(format!("{}/_matrix/media/v3/upload", server.url))
        .header("Authorization", &bearer)
        .header("Content-Type", "text/plain")
        .body("soon gone")
        .send()
        .await
        .expect("upload")
        .json()
        .await
        .expect("json");
    let uri = uploaded["content_uri"].as_str().expect("content uri");
    let purge = ok(cli(&["media", "purge", "--local-older-than", "0s"], token));
    assert!(
        purge.contains("deleted 1 local media and 0 cached remote media"),
        "{purge}"
    );
    let media_id = uri.rsplit('/').next().expect("media id");
    let gone = http
        .get(format!(
            "{}/_matrix/client/v1/media/download/localhost/{media_id}",
            server.url
        ))
        .header("Authorization", &bearer)
        .send()
        .await
        .expect("download");
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    let _ = server.child.kill();
    let _ = server.child.wait();
}
