//! Helpers for the consent and telemetry tests.
#![allow(dead_code)]

use aparking_core::{
    CollectionMethod, Consent, ConsentContext, NetworkConfig, NetworkType, Purpose, Store,
    Telemetry, TelemetryConfig, TelemetryEvent,
};
use std::sync::Arc;

/// A manifest of `version` offering every purpose.
pub use aparking_core::testing::policy;

/// The context of a consent given on the onboarding screen.
pub fn context() -> ConsentContext {
    ConsentContext {
        app_version: "4.2.0 (421)".into(),
        locale: "kk-KZ".into(),
        collection_method: CollectionMethod::OnboardingScreen,
        subject_id: None,
    }
}

/// A telemetry pipeline for `store` posting to `endpoint`, with fast retries.
pub fn telemetry(store: &Arc<Store>, endpoint: &str) -> Arc<Telemetry> {
    Telemetry::new(Arc::clone(store), fast_config(endpoint)).unwrap()
}

/// Test limits: millisecond backoff.
pub fn fast_config(endpoint: &str) -> TelemetryConfig {
    TelemetryConfig {
        network: NetworkConfig {
            retry_base_delay_ms: 5,
            retry_max_delay_ms: 50,
            ..NetworkConfig::default()
        },
        max_uploads_per_minute: 1000,
        ..TelemetryConfig::new(endpoint)
    }
}

/// One event of every kind.
pub fn one_of_each() -> Vec<TelemetryEvent> {
    vec![
        TelemetryEvent::AppInfo {
            os: "Android".into(),
            os_version: "15".into(),
            device_model: "Pixel 8".into(),
            app_version: "4.2.0".into(),
            locale: "kk-KZ".into(),
        },
        TelemetryEvent::ScreenView {
            screen: "parking_map".into(),
        },
        TelemetryEvent::SessionStart,
        TelemetryEvent::SessionEnd {
            duration_ms: 61_000,
        },
        TelemetryEvent::CoarseLocation {
            latitude: 43.238949,
            longitude: 76.889709,
        },
        network_sample(-97),
        TelemetryEvent::ErrorCount {
            code: "payment_timeout".into(),
            count: 2,
        },
    ]
}

/// A network-quality sample.
pub fn network_sample(signal_dbm: i32) -> TelemetryEvent {
    TelemetryEvent::NetworkQuality {
        network_type: NetworkType::Cellular4g,
        signal_dbm: Some(signal_dbm),
        rtt_ms: Some(180),
        throughput_kbps: Some(2500),
        failed_requests: 1,
    }
}

/// Consent for `store` with policy 1 published and every purpose accepted.
pub fn consent_all_granted(store: &Arc<Store>) -> Arc<Consent> {
    let consent = consent_with_policy(store, 1);
    consent
        .accept_policy(1, Purpose::ALL.to_vec(), context())
        .unwrap();
    consent
}

/// Consent for `store` with policy `version` published.
pub fn consent_with_policy(store: &Arc<Store>, version: i32) -> Arc<Consent> {
    let consent = Consent::new(Arc::clone(store));
    consent.publish_policy(policy(version)).unwrap();
    consent
}
