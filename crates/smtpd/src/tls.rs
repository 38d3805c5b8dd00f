//! STARTTLS (RFC 3207): the server configuration from PEM files, and the handshake, held to a
//! deadline like any command line.

use crate::stream::ClientStream;
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use std::io;
use std::sync::Arc;
use std::time::Instant;

/// Load a certificate chain and a private key (PEM) into a rustls server configuration.
pub fn load_tls(cert: &std::path::Path, key: &std::path::Path) -> Result<ServerConfig, String> {
    let certs = rustls_pemfile::certs(&mut io::BufReader::new(
        std::fs::File::open(cert).map_err(|e| format!("{}: {e}", cert.display()))?,
    ))
    .collect::<Result<Vec<_>, _>>()
    .map_err(|e| format!("{}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate found", cert.display()));
    }
    let key = rustls_pemfile::private_key(&mut io::BufReader::new(
        std::fs::File::open(key).map_err(|e| format!("{}: {e}", key.display()))?,
    ))
    .map_err(|e| format!("{}: {e}", key.display()))?
    .ok_or_else(|| format!("{}: no private key found", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("{}: {e}", cert.display()))
}

/// Why a handshake did not finish.
pub(crate) enum HandshakeError {
    /// Past the deadline.
    Timeout,
    Failed(String),
}

/// Run the server side of a TLS handshake over `plain` to its end, by `deadline` at the latest.
pub(crate) fn handshake<T: ClientStream>(
    cfg: Arc<ServerConfig>,
    plain: T,
    deadline: Instant,
) -> Result<StreamOwned<ServerConnection, T>, HandshakeError> {
    let server = ServerConnection::new(cfg).map_err(|e| HandshakeError::Failed(e.to_string()))?;
    let mut stream = StreamOwned::new(server, plain);
    while stream.conn.is_handshaking() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HandshakeError::Timeout);
        }
        stream.sock.set_read_timeout(left);
        stream
            .conn
            .complete_io(&mut stream.sock)
            .map_err(|e| HandshakeError::Failed(e.to_string()))?;
    }
    Ok(stream)
}
