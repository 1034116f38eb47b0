//! TLS trust: Mozilla's roots plus any extra roots the host configured, and optional
//! SPKI SHA-256 certificate pinning on top of the usual WebPKI validation.

use super::config::NetworkConfig;
use crate::error::{Error, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::digest::{digest, SHA256};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;

/// What a pin mismatch says (also how `describe` recognises it in an error chain).
pub(crate) const PIN_MISMATCH: &str = "certificate pin mismatch";

/// The rustls client configuration for `config`: ring as the only provider.
pub(crate) fn client_config(config: &NetworkConfig) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for pem in &config.extra_root_certificates_pem {
        let mut found = false;
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|_| {
                Error::invalid("extra_root_certificates_pem", "not a PEM certificate")
            })?;
            roots.add(cert).map_err(|_| {
                Error::invalid("extra_root_certificates_pem", "not a usable CA certificate")
            })?;
            found = true;
        }
        if !found {
            return Err(Error::invalid(
                "extra_root_certificates_pem",
                "no CERTIFICATE block in the PEM text",
            ));
        }
    }
    let pins = parse_pins(&config.pinned_spki_sha256)?;
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|_| Error::Crypto("tls configuration"))?;
    let tls = if pins.is_empty() {
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|_| Error::Crypto("tls configuration"))?;
        builder
            .dangerous() // rustls's name for "custom verifier": ours only adds a check
            .with_custom_certificate_verifier(Arc::new(PinningVerifier { inner, pins }))
            .with_no_client_auth()
    };
    Ok(tls)
}

/// Decodes the base64 pins (an optional `sha256/` prefix is accepted).
fn parse_pins(pins: &[String]) -> Result<Vec<[u8; 32]>> {
    pins.iter()
        .map(|pin| {
            let text = pin.trim();
            let text = text.strip_prefix("sha256/").unwrap_or(text);
            let bytes = STANDARD.decode(text).map_err(|_| {
                Error::invalid(
                    "pinned_spki_sha256",
                    "each pin is the base64 SHA-256 of a SubjectPublicKeyInfo",
                )
            })?;
            <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
                Error::invalid("pinned_spki_sha256", "a pin must be 32 bytes (SHA-256)")
            })
        })
        .collect()
}

/// The SHA-256 of a certificate's SubjectPublicKeyInfo, or `None` when it does not parse.
pub(crate) fn spki_sha256(cert: &CertificateDer<'_>) -> Option<[u8; 32]> {
    let parsed = webpki::EndEntityCert::try_from(cert).ok()?;
    let spki = parsed.subject_public_key_info();
    <[u8; 32]>::try_from(digest(&SHA256, spki.as_ref()).as_ref()).ok()
}

/// WebPKI validation first, then: one of the presented certificates carries a pinned key.
#[derive(Debug)]
struct PinningVerifier {
    inner: Arc<WebPkiServerVerifier>,
    pins: Vec<[u8; 32]>,
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        let pinned = std::iter::once(end_entity)
            .chain(intermediates)
            .filter_map(spki_sha256)
            .any(|hash| self.pins.contains(&hash));
        if pinned {
            Ok(verified)
        } else {
            Err(rustls::Error::General(PIN_MISMATCH.into()))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The rustls error behind a request failure, if any. rustls errors reach reqwest
/// wrapped in (nested) `io::Error`s, whose `source()` skips the wrapped error, so those
/// are unwrapped with `get_ref()`.
fn find_tls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next: Option<&'a (dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        next = match err.downcast_ref::<std::io::Error>() {
            Some(io) => match io.get_ref() {
                Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
                None => err.source(),
            },
            None => err.source(),
        };
    }
    None
}

/// Why a request failed, in words fit for an error message (no URL, no body), and
/// whether trying again can help (a rejected certificate will not fix itself).
pub(crate) fn describe(e: &reqwest::Error) -> (&'static str, bool) {
    if let Some(tls) = find_tls_error(e) {
        return match tls {
            rustls::Error::General(text) if text == PIN_MISMATCH => (PIN_MISMATCH, false),
            rustls::Error::InvalidCertificate(_) => ("certificate not trusted", false),
            _ => ("TLS handshake failed", true),
        };
    }
    if e.is_timeout() {
        ("timeout", true)
    } else if e.is_connect() {
        ("connection failed", true)
    } else {
        ("request failed", true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_decode_and_bad_ones_are_refused() {
        let pin = "sha256/".to_string() + &"A".repeat(43) + "=";
        assert_eq!(parse_pins(&[pin]).unwrap(), vec![[0u8; 32]]);
        assert!(matches!(
            parse_pins(&["AAAA".into()]),
            Err(Error::InvalidInput {
                field: "pinned_spki_sha256",
                ..
            })
        ));
        assert!(matches!(
            parse_pins(&["not base64!".into()]),
            Err(Error::InvalidInput {
                field: "pinned_spki_sha256",
                ..
            })
        ));
    }

    #[test]
    fn extra_roots_must_be_pem_certificates() {
        let config = NetworkConfig {
            extra_root_certificates_pem: vec!["not pem".into()],
            ..NetworkConfig::default()
        };
        assert!(matches!(
            client_config(&config),
            Err(Error::InvalidInput {
                field: "extra_root_certificates_pem",
                ..
            })
        ));
    }
}
