//! HTTPS: the fault-injecting TCP listener with a TLS handshake on top (rustls, ring).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsConfig;
use crate::error::{Result, ServerError};
use crate::faults::{ConnHandle, FaultIo, FaultListener};

/// A client that starts a handshake and then stalls is dropped after this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The rustls acceptor for `config`.
pub(crate) fn acceptor(config: &TlsConfig) -> Result<TlsAcceptor> {
    let bad = |what: &str| ServerError::Config(format!("tls: {what}"));
    let chain = CertificateDer::pem_slice_iter(config.cert_chain_pem.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| bad("the certificate chain is not PEM"))?;
    if chain.is_empty() {
        return Err(bad("no certificate in the chain"));
    }
    let key = PrivateKeyDer::from_pem_slice(config.private_key_pem.as_bytes())
        .map_err(|_| bad("the private key is not PEM"))?;
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|_| bad("protocol versions"))?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|_| bad("the key does not match the certificate"))?;
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// [`FaultListener`] with TLS: faults still apply underneath the encryption.
pub(crate) struct TlsListener {
    pub(crate) inner: FaultListener,
    pub(crate) acceptor: TlsAcceptor,
}

impl Listener for TlsListener {
    type Io = TlsStream<FaultIo>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, SocketAddr) {
        loop {
            let (io, addr) = self.inner.accept().await;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(io)).await {
                Ok(Ok(tls)) => return (tls, addr),
                // A client that refuses our certificate (a pinning test) ends up here.
                Ok(Err(e)) => log::info!("tls handshake with {addr} failed: {e}"),
                Err(_) => log::info!("tls handshake with {addr} timed out"),
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for ConnHandle {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        stream.io().get_ref().0.handle.clone()
    }
}
