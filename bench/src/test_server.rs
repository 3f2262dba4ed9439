//! For the bench's own tests: a real Myelin in this process on `127.0.0.1:0` (open registration,
//! no federation), and an HTTP client for it.

/// Starts the server with `adjust` applied to its config; keep the directory alive with it.
pub(crate) async fn start_myelin(
    adjust: impl FnOnce(&mut myelin_core::config::Config),
) -> (tempfile::TempDir, myelin::RunningServer, reqwest::Client) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = myelin_core::config::Config::default();
    config.server.data_dir = dir.path().to_path_buf();
    config.client.bind = "127.0.0.1:0".parse().expect("address");
    config.federation.enabled = false;
    config.registration.open = true;
    adjust(&mut config);
    let server = myelin::RunningServer::start(config)
        .await
        .expect("server starts");
    let _ = rustls::crypto::ring::default_provider().install_default();
    (dir, server, reqwest::Client::new())
}
