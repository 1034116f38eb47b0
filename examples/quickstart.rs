//! Quickstart: the encrypted store, consent and telemetry, on a temporary store with an
//! in-memory key and the reference backend running in-process on 127.0.0.1.
//!
//! `cargo run --example quickstart`
//!
//! Apps pass a `KeyProvider` backed by the Android Keystore or the iOS Keychain instead
//! of `InMemoryKeyProvider`, a path in the app's private files directory, and the
//! operator's https endpoint.

use aparking_core::{
    AparkingError, AuthProvider, AuthProviderError, CollectionMethod, Consent, ConsentContext,
    DocumentKind, InMemoryKeyProvider, Language, NetworkConfig, NetworkType, NewDocument,
    NewVehicle, ProfilePatch, Purpose, Store, SyncClient, SyncConfig, Telemetry, TelemetryConfig,
    TelemetryEvent, VehiclePatch,
};

/// The app's session: gives the bearer token of the personal channel.
struct Session(&'static str);

impl AuthProvider for Session {
    fn bearer_token(&self, _refresh: bool) -> Result<String, AuthProviderError> {
        Ok(self.0.to_string())
    }
}
use aparking_server::{ReferenceServer, ServerConfig};
use std::sync::Arc;

/// The policy manifest an app would bundle.
const POLICY_JSON: &str = r#"{"version": 1, "last_updated": "2026-01-15",
  "url": "https://aparking.kz/privacy",
  "text_sha256": "2b1f6a0e8c1d4f5b9a7e3c2d1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f21",
  "purposes": ["personalization", "communication", "service_improvement", "statistics", "connection_diagnostics"],
  "operator": {"name": "ТОО «Алматы спецтехпаркинг сервис»", "bin": "123456789012"},
  "data_categories": [{"purpose": "service_improvement", "categories": ["app_usage", "screen_views"]},
                      {"purpose": "connection_diagnostics", "categories": ["network_quality"]}],
  "personal_data_hosts": ["api.aparking.kz"], "telemetry_hosts": ["telemetry.aparking.kz"]}"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let temp = tempfile::tempdir()?;
    let dir = temp.path().to_path_buf();
    let path = dir.join("aparking.db");
    let key = Arc::new(InMemoryKeyProvider::random());
    let mut n = 0;
    let mut step = |text: String| {
        n += 1;
        println!("{n:>2}. {text}");
    };

    println!(
        "aparking-core {} — quickstart",
        aparking_core::ffi::sdk_version()
    );
    let store = Store::open(path.to_string_lossy().into_owned(), key.clone())?;
    step(format!(
        "opened a new encrypted store at {}",
        path.display()
    ));

    // --- The encrypted store -------------------------------------------------------
    let profile = store.update_profile(ProfilePatch {
        phone: Some("8 (701) 234-56-78".into()),
        full_name: Some("Айгерим Сапарова".into()),
        preferred_language: Some(Language::Kk),
        ..Default::default()
    })?;
    step(format!(
        "saved the profile (phone normalised to E.164: {} digits)",
        profile.phone.len() - 1
    ));

    let car = store.add_vehicle(NewVehicle {
        plate: "123 авс 02".into(), // typed with Cyrillic letters
        nickname: Some("Семейная".into()),
        make: Some("Toyota".into()),
        ..Default::default()
    })?;
    store.add_vehicle(NewVehicle {
        plate: "A 456 MNO".into(),
        ..Default::default()
    })?;
    step(format!(
        "added 2 vehicles; the Cyrillic plate was stored as {} (display \"{}\")",
        car.plate.canonical, car.plate.display
    ));
    let found = store.find_vehicle_by_plate("123ABC02".into())?;
    step(format!(
        "found it again typed in Latin: {}",
        found.is_some_and(|v| v.id == car.id)
    ));
    match store.add_vehicle(NewVehicle {
        plate: "123-ABC-02".into(),
        ..Default::default()
    }) {
        Err(AparkingError::AlreadyExists { entity }) => {
            step(format!("the same plate again: AlreadyExists({entity})"))
        }
        other => step(format!("unexpected: {other:?}")),
    }
    if let Err(e) = store.add_vehicle(NewVehicle {
        plate: "12 ЖЖ 99".into(),
        ..Default::default()
    }) {
        step(format!("a malformed plate: {e}"));
    }
    store.add_document(NewDocument {
        kind: DocumentKind::VehicleRegistrationCertificate,
        number: "ав 12-34 56".into(),
        issued_on: Some("2024-03-01".into()),
        expires_on: None,
        vehicle_id: Some(car.id.clone()),
    })?;
    store.update_vehicle(
        car.id.clone(),
        VehiclePatch {
            colour: Some("white".into()),
            ..Default::default()
        },
    )?;
    step("added a registration certificate linked to the car and set the car's colour".into());
    store.rotate_data_key()?;
    let info = store.info()?;
    step(format!(
        "rotated the data key: key v{}, schema v{}, {} vehicles, {} documents",
        info.key_version, info.schema_version, info.vehicle_count, info.document_count
    ));

    // --- Consent and telemetry -------------------------------------------------------
    let server = ReferenceServer::start(ServerConfig::default())?;
    step(format!(
        "started the reference backend at {}",
        server.base_url()
    ));
    let consent = Consent::new(Arc::clone(&store));
    consent.publish_policy_json(POLICY_JSON.into())?;
    let config = TelemetryConfig {
        network: NetworkConfig {
            retry_base_delay_ms: 50,
            ..NetworkConfig::default()
        },
        ..TelemetryConfig::new(server.base_url())
    };
    let telemetry = Telemetry::new(Arc::clone(&store), config)?;
    telemetry.record(TelemetryEvent::SessionStart);
    telemetry.record(TelemetryEvent::ScreenView {
        screen: "parking_map".into(),
    });
    telemetry.flush(5_000);
    step(format!(
        "policy v1 published, not accepted yet: {:?}; events stored: {}",
        consent.status(Purpose::ServiceImprovement),
        telemetry.pending_events(None)?
    ));

    let context = ConsentContext {
        app_version: "4.2.0 (421)".into(),
        locale: "kk-KZ".into(),
        collection_method: CollectionMethod::OnboardingScreen,
        subject_id: None,
    };
    let receipt = consent.accept_policy(
        1,
        vec![Purpose::ServiceImprovement, Purpose::ConnectionDiagnostics],
        context.clone(),
    )?;
    step(format!(
        "accepted v1 for {:?}; denied {:?}; the receipt names the operator's BIN and is hash {}…",
        receipt.purposes_granted,
        receipt.purposes_denied,
        &receipt.receipt_sha256[..12]
    ));

    telemetry.record(TelemetryEvent::ScreenView {
        screen: "parking_map".into(),
    });
    telemetry.record(TelemetryEvent::ErrorCount {
        code: "payment_timeout".into(),
        count: 1,
    });
    telemetry.record(TelemetryEvent::CoarseLocation {
        latitude: 43.2389,
        longitude: 76.8897,
    }); // statistics: not granted
    telemetry.record(TelemetryEvent::ScreenView {
        screen: "plate_123 АВС 02".into(),
    }); // the user's own plate
    telemetry.record(TelemetryEvent::NetworkQuality {
        network_type: NetworkType::Cellular4g,
        signal_dbm: Some(-101),
        rtt_ms: Some(420),
        throughput_kbps: Some(300),
        failed_requests: 3,
    });
    telemetry.flush(5_000);
    let counters = telemetry.counters()?;
    let firewalled: i64 = counters.dropped_firewall.values().sum();
    let statistics_dropped = counters.dropped_no_consent[&Purpose::Statistics];
    step(format!(
        "recorded 5 events: {} stored, {statistics_dropped} dropped (statistics not granted), {firewalled} stopped by the PII firewall",
        counters.stored
    ));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let summary = runtime.block_on(telemetry.upload())?;
    step(format!(
        "uploaded {} events in {} gzip batch(es); the backend holds {}",
        summary.events_sent,
        summary.batches_sent,
        server.stats().events_stored
    ));

    let complaint =
        telemetry.file_connection_complaint("Связь пропадает на парковке".into(), 60)?;
    step(format!(
        "filed a connection complaint with {} network sample(s), kept sealed as personal data",
        complaint.samples.len()
    ));

    consent.withdraw(vec![Purpose::ServiceImprovement], context)?;
    let summary = runtime.block_on(telemetry.upload())?;
    step(format!(
        "withdrew service_improvement: {} deletion request(s) sent, the backend deleted {} event(s)",
        summary.deletion_requests_sent,
        server.stats().events_deleted
    ));
    telemetry.shutdown();

    // --- Sync with the backend (personal channel) ---------------------------------------
    server.add_account("demo-session-token");
    // The backend publishes policy v2, signed; the app trusts the operator's public key
    // (shipped in the app). Personal data go only to hosts the policy declares; loopback
    // is always allowed, so the quickstart's backend on 127.0.0.1 passes.
    let mut v2: serde_json::Value = serde_json::from_str(POLICY_JSON)?;
    v2["version"] = 2.into();
    server.set_policy(Some(v2));
    let sync_config = SyncConfig {
        policy_public_keys: vec![server.policy_public_key()],
        ..SyncConfig::new(server.base_url())
    };
    let sync = SyncClient::new(
        Arc::clone(&store),
        sync_config.clone(),
        Arc::new(Session("demo-session-token")),
    )?;
    let summary = runtime.block_on(sync.sync())?;
    step(format!(
        "synced: {} local changes pushed, {} pulled, {} pending, in {} ms; the backend's signed policy v{} verified and adopted",
        summary.pushed,
        summary.pulled,
        summary.pending,
        summary.duration_ms,
        summary.policy_version.unwrap_or(0)
    ));
    let chain = consent.verify_receipts()?;
    step(format!(
        "the {} consent receipts form an unbroken hash chain",
        chain.length
    ));
    let other_dir = tempfile::tempdir()?;
    let other = Store::open(
        other_dir
            .path()
            .join("tablet.db")
            .to_string_lossy()
            .into_owned(),
        Arc::new(InMemoryKeyProvider::random()),
    )?;
    let tablet = SyncClient::new(
        Arc::clone(&other),
        sync_config,
        Arc::new(Session("demo-session-token")),
    )?;
    let pulled = runtime.block_on(tablet.sync())?;
    step(format!(
        "a second device signed in to the same account pulled {} records: {} vehicles, profile {}",
        pulled.pulled,
        other.list_vehicles()?.len(),
        if other.get_profile()?.is_some() {
            "present"
        } else {
            "missing"
        }
    ));
    other.close()?;

    // --- Access, at rest, erasure ------------------------------------------------------
    let export = store.export_user_data()?;
    step(format!(
        "exported the user's data: {} bytes of JSON",
        export.len()
    ));
    store.close()?;
    let plain_hits = ["123ABC02", "Айгерим", "AB123456"]
        .iter()
        .filter(|v| {
            std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .any(|f| {
                    std::fs::read(f.path())
                        .map(|b| b.windows(v.len()).any(|w| w == v.as_bytes()))
                        .unwrap_or(false)
                })
        })
        .count();
    step(format!(
        "closed the store; personal values found in the clear in its files: {plain_hits}"
    ));

    let wrong = Store::open(
        path.to_string_lossy().into_owned(),
        Arc::new(InMemoryKeyProvider::random()),
    );
    step(format!(
        "opening with another key: {}",
        wrong.err().map(|e| e.to_string()).unwrap_or_default()
    ));

    let store = Store::open(path.to_string_lossy().into_owned(), key)?;
    store.delete_all_user_data()?;
    step(format!(
        "deleted all user data (crypto-shredding): {} vehicles left",
        store.info()?.vehicle_count
    ));
    store.close()?;
    server.shutdown();
    println!("done.");
    Ok(())
}
