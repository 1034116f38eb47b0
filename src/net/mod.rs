//! HTTP for the SDK's network work (telemetry upload, and sync later): reqwest over rustls
//! with ring as the only crypto provider and Mozilla's root certificates, HTTPS required
//! except to loopback, timeouts, and retry policy (backoff with full jitter, Retry-After).

mod backoff;
mod config;
mod tls;

pub(crate) use backoff::{retry_after, Backoff};
pub(crate) use config::millis;
pub use config::NetworkConfig;
pub(crate) use tls::describe;

use crate::error::{Error, Result};
use std::net::IpAddr;

/// Builds the HTTP client. `base_url` must be https, or http to a loopback address
/// (development and tests). Returns the client and the base URL without a trailing slash.
pub(crate) fn client(base_url: &str, config: &NetworkConfig) -> Result<(reqwest::Client, String)> {
    config.validate()?;
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
    let tls = tls::client_config(config)?;
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .https_only(url.scheme() == "https")
        .connect_timeout(config.connect_timeout())
        .timeout(config.request_timeout())
        .user_agent(concat!("aparking-core/", env!("CARGO_PKG_VERSION")))
        // The API never redirects; following one would leave the pinned, checked host.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|_| Error::Crypto("http client"))?;
    Ok((client, base_url.trim_end_matches('/').to_string()))
}

/// The host of a URL `client` accepted (lower case; IPv6 in brackets).
pub(crate) fn host_of(base_url: &str) -> Result<String> {
    reqwest::Url::parse(base_url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_ascii_lowercase))
        .ok_or(Error::invalid("endpoint", "not a URL"))
}

/// Reads a response body of at most `max` bytes; `None` when it is longer (checked
/// against Content-Length first, then while reading, so a hostile server cannot make
/// the app buffer more) or the connection fails.
pub(crate) async fn read_limited(mut response: reqwest::Response, max: usize) -> Option<Vec<u8>> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return None;
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.ok()? {
        if body.len() + chunk.len() > max {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    Some(body)
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
        let t = &NetworkConfig::default();
        assert!(client("https://api.aparking.kz", t).is_ok());
        assert!(client("http://127.0.0.1:8080/", t).is_ok());
        assert!(client("http://localhost:8080", t).is_ok());
        assert!(client("http://[::1]:8080", t).is_ok());
        for bad in [
            "http://api.aparking.kz",
            "http://10.0.0.1",
            "ftp://x",
            "not a url",
        ] {
            assert!(
                matches!(
                    client(bad, t),
                    Err(Error::InvalidInput {
                        field: "endpoint",
                        ..
                    })
                ),
                "{bad}"
            );
        }
        assert_eq!(
            client("http://127.0.0.1:1/", t).unwrap().1,
            "http://127.0.0.1:1"
        );
    }
}
