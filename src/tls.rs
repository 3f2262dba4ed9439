//! The federation listener's certificate: the configured pair, or a self-signed one generated
//! once in the data directory (other servers in tests and on private networks accept it when
//! they do not verify certificates, as Synapse's `federation_verify_certificates: false`).

use std::path::PathBuf;

use myelin_core::config::Config;

const GENERATED_CERTIFICATE: &str = "federation-tls.crt";
const GENERATED_KEY: &str = "federation-tls.key";

/// PEM certificate chain and private key for the federation listener.
pub fn certificate_and_key(config: &Config) -> Result<(Vec<u8>, Vec<u8>), String> {
    let read = |path: &PathBuf| {
        std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))
    };
    if let (Some(certificate), Some(key)) = (
        &config.federation.tls_certificate,
        &config.federation.tls_private_key,
    ) {
        return Ok((read(certificate)?, read(key)?));
    }
    let certificate = config.server.data_dir.join(GENERATED_CERTIFICATE);
    let key = config.server.data_dir.join(GENERATED_KEY);
    if certificate.exists() && key.exists() {
        return Ok((read(&certificate)?, read(&key)?));
    }
    let host = config
        .server
        .name
        .split(':')
        .next()
        .unwrap_or(&config.server.name)
        .to_owned();
    let mut names = vec![host, "localhost".to_owned(), "127.0.0.1".to_owned()];
    names.dedup();
    let generated = rcgen::generate_simple_self_signed(names)
        .map_err(|error| format!("cannot generate a certificate: {error}"))?;
    let certificate_pem = generated.cert.pem().into_bytes();
    let key_pem = generated.signing_key.serialize_pem().into_bytes();
    std::fs::create_dir_all(&config.server.data_dir).map_err(|error| {
        format!(
            "cannot create {}: {error}",
            config.server.data_dir.display()
        )
    })?;
    std::fs::write(&certificate, &certificate_pem)
        .map_err(|error| format!("cannot write {}: {error}", certificate.display()))?;
    write_private(&key, &key_pem)?;
    tracing::warn!(certificate = %certificate.display(), "generated a self-signed certificate for federation; configure federation.tls_certificate for a real one");
    Ok((certificate_pem, key_pem))
}

fn write_private(path: &PathBuf, contents: &[u8]) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::{io::Write as _, os::unix::fs::OpenOptionsExt as _};
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
        file.write_all(contents)
            .map_err(|error| format!("cannot write {}: {error}", path.display()))
    }
    #[cfg(not(unix))]
    std::fs::write(path, contents)
        .map_err(|error| format!("cannot write {}: {error}", path.display()))
}
