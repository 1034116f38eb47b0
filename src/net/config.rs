//! `NetworkConfig`: the connection settings telemetry upload and sync share (timeouts,
//! retries, certificate pinning, extra trusted roots).

use crate::error::{Error, Result};
use std::time::Duration;

/// How the SDK talks to a backend: timeouts, retries and TLS trust. Shared by
/// `SyncConfig` and `TelemetryConfig`; every field has a default.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NetworkConfig {
    /// Attempts per request before the operation gives up for now (at least 1).
    #[uniffi(default = 3)]
    pub max_attempts: i32,
    /// First backoff delay (full jitter, doubling per attempt), in milliseconds.
    #[uniffi(default = 1000)]
    pub retry_base_delay_ms: i64,
    /// Longest wait between attempts, including a server's Retry-After, in milliseconds.
    #[uniffi(default = 60000)]
    pub retry_max_delay_ms: i64,
    /// Connect timeout, in milliseconds.
    #[uniffi(default = 10000)]
    pub connect_timeout_ms: i64,
    /// Whole-request timeout, in milliseconds.
    #[uniffi(default = 30000)]
    pub request_timeout_ms: i64,
    /// Certificate pins: base64 SHA-256 digests of a certificate's SubjectPublicKeyInfo
    /// (the `sha256/...` value OkHttp's `CertificatePinner` uses, without the prefix).
    /// When not empty, a connection succeeds only if the server's certificate or one of
    /// the intermediates it sends has one of these keys, on top of the usual validation.
    /// Pin a backup key too, or a key rotation locks the app out.
    #[uniffi(default)]
    pub pinned_spki_sha256: Vec<String>,
    /// Extra trusted root certificates, PEM (for a test or staging CA). They are trusted
    /// in addition to the built-in Mozilla roots; leave empty in production.
    #[uniffi(default)]
    pub extra_root_certificates_pem: Vec<String>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            max_attempts: 3,
            retry_base_delay_ms: 1000,
            retry_max_delay_ms: 60_000,
            connect_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
            pinned_spki_sha256: Vec::new(),
            extra_root_certificates_pem: Vec::new(),
        }
    }
}

impl NetworkConfig {
    /// Checks the numbers: attempts and timeouts positive, delays not negative.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.max_attempts < 1 {
            return Err(Error::invalid("max_attempts", "must be at least 1"));
        }
        for (value, field) in [
            (self.connect_timeout_ms, "connect_timeout_ms"),
            (self.request_timeout_ms, "request_timeout_ms"),
        ] {
            if value < 1 {
                return Err(Error::invalid(field, "must be positive"));
            }
        }
        for (value, field) in [
            (self.retry_base_delay_ms, "retry_base_delay_ms"),
            (self.retry_max_delay_ms, "retry_max_delay_ms"),
        ] {
            if value < 0 {
                return Err(Error::invalid(field, "must not be negative"));
            }
        }
        Ok(())
    }

    /// Attempts per request (validated positive).
    pub(crate) fn attempts(&self) -> u32 {
        self.max_attempts.max(1) as u32
    }

    /// The first backoff delay.
    pub(crate) fn retry_base_delay(&self) -> Duration {
        millis(self.retry_base_delay_ms)
    }

    /// The longest backoff delay.
    pub(crate) fn retry_max_delay(&self) -> Duration {
        millis(self.retry_max_delay_ms)
    }

    /// The connect timeout.
    pub(crate) fn connect_timeout(&self) -> Duration {
        millis(self.connect_timeout_ms)
    }

    /// The whole-request timeout.
    pub(crate) fn request_timeout(&self) -> Duration {
        millis(self.request_timeout_ms)
    }
}

/// A non-negative millisecond count as a duration (negative counts as zero).
pub(crate) fn millis(ms: i64) -> Duration {
    Duration::from_millis(ms.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_numbers_are_named() {
        assert!(NetworkConfig::default().validate().is_ok());
        type Change = fn(&mut NetworkConfig);
        let cases: [(Change, &str); 4] = [
            (|c| c.max_attempts = 0, "max_attempts"),
            (|c| c.connect_timeout_ms = 0, "connect_timeout_ms"),
            (|c| c.request_timeout_ms = -5, "request_timeout_ms"),
            (|c| c.retry_base_delay_ms = -1, "retry_base_delay_ms"),
        ];
        for (change, name) in cases {
            let mut config = NetworkConfig::default();
            change(&mut config);
            match config.validate() {
                Err(Error::InvalidInput { field, .. }) => assert_eq!(field, name),
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}
