//! HTTP for the SDK's network work (telemetry upload, and sync later): reqwest over rustls
//! with ring as the only crypto provider and Mozilla's root certificates, HTTPS required
//! except to loopback, timeouts, and retry policy (backoff with full jitter, Retry-After).

mod backoff;

pub(crate) use backoff::{retry_after, Backoff};

use crate::error::{Error, Result};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Builds the HTTP client. `base_url` must be https, or http to a loopback address
/// (development and tests). Returns the client and the base URL without a trailing slash.
pub(crate) fn client(
    base_url: &str,
    connect_timeout: Duration,
    request_timeout: Duration,
) -> Result<(reqwest::Client, String)> {
    let url = reqwest::Url::parse(base_url).map_err(|_| Error::invalid("endpoint", "not a URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(Error::invalid(
                "endpoint",
                "must use https (http only to loopback)",
            ))
        }
        _ => return Err(Error::invalid("endpoint", "must be an https URL")),
    }
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|_| Error::Crypto("tls configuration"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .https_only(url.scheme() == "https")
        .connect_timeout(connect_timeout)
        .timeout(request_timeout)
        .user_agent(concat!("aparking-core/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|_| Error::Crypto("http client"))?;
    Ok((client, base_url.trim_end_matches('/').to_string()))
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_is_required_except_to_loopback() {
        let t = Duration::from_secs(1);
        assert!(client("https://api.aparking.kz", t, t).is_ok());
        assert!(client("http://127.0.0.1:8080/", t, t).is_ok());
        assert!(client("http://localhost:8080", t, t).is_ok());
        assert!(client("http://[::1]:8080", t, t).is_ok());
        for bad in [
            "http://api.aparking.kz",
            "http://10.0.0.1",
            "ftp://x",
            "not a url",
        ] {
            assert!(
                matches!(
                    client(bad, t, t),
                    Err(Error::InvalidInput {
                        field: "endpoint",
                        ..
                    })
                ),
                "{bad}"
            );
        }
        assert_eq!(
            client("http://127.0.0.1:1/", t, t).unwrap().1,
            "http://127.0.0.1:1"
        );
    }
}
