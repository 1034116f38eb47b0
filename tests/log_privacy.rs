//! Privacy of logs (policy clause P4.2, issue #6): every log record of every crate (the
//! SDK, reqwest, hyper, rustls, the reference backend) at trace level, captured through a
//! full flow (store, consent, telemetry, upload, sync), contains no personal value.

mod common;

use aparking_core::{
    AuthProvider, AuthProviderError, NewVehicle, ProfilePatch, Purpose, SyncClient, SyncConfig,
    Telemetry, TelemetryEvent, VehiclePatch,
};
use aparking_server::{ReferenceServer, ServerConfig};
use common::privacy::*;
use common::*;
use std::sync::{Arc, Mutex};

struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        self.0.lock().unwrap().push(format!(
            "{} {} {}",
            record.level(),
            record.target(),
            record.args()
        ));
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));

struct Token;

impl AuthProvider for Token {
    fn bearer_token(&self, _refresh: bool) -> Result<String, AuthProviderError> {
        Ok("secret-session-token-1234".into())
    }
}

#[tokio::test]
async fn no_personal_value_in_any_log_record() {
    log::set_logger(&CAPTURE).unwrap();
    log::set_max_level(log::LevelFilter::Trace);

    let server = ReferenceServer::start(ServerConfig::default()).unwrap();
    server.add_account("secret-session-token-1234");
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    fill_sample(&store);
    store
        .update_profile(ProfilePatch {
            email: Some("aigerim.saparova@example.kz".into()),
            ..Default::default()
        })
        .unwrap();
    let car = store
        .find_vehicle_by_plate("123ABC02".into())
        .unwrap()
        .unwrap();
    store
        .update_vehicle(
            car.id,
            VehiclePatch {
                nickname: Some("Семейная машина".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let _ = store.add_vehicle(NewVehicle {
        plate: "123 ABC 02".into(),
        ..Default::default()
    }); // duplicate error
    let _ = store.add_vehicle(NewVehicle {
        plate: "bad plate 777".into(),
        ..Default::default()
    }); // invalid error

    let consent = consent_all_granted(&store);
    let t = Telemetry::new(Arc::clone(&store), fast_config(&server.base_url())).unwrap();
    for e in one_of_each() {
        t.record(e);
    }
    t.record(TelemetryEvent::ScreenView {
        screen: "123 авс 02".into(),
    }); // stopped by the firewall
    t.upload().await.unwrap();
    t.file_connection_complaint("Связь пропадает, звоните +7 701 234 56 78".into(), 60)
        .unwrap();
    consent
        .withdraw(vec![Purpose::Statistics], context())
        .unwrap();

    let sync = SyncClient::new(
        Arc::clone(&store),
        SyncConfig::new(server.base_url()),
        Arc::new(Token),
    )
    .unwrap();
    sync.sync().await.unwrap();
    store.rotate_data_key().unwrap();
    store.delete_all_user_data().unwrap();
    t.shutdown();

    let records = std::mem::take(&mut *CAPTURE.0.lock().unwrap());
    assert!(
        records.len() >= 10,
        "the flow logged ({} records)",
        records.len()
    );
    assert!(
        records.iter().any(|r| r.contains("aparking_core")),
        "SDK records captured"
    );
    let secrets = [
        "77012345678",
        "7012345678",
        "701 234 56 78",
        "Айгерим",
        "Сапарова",
        "aigerim",
        "saparova",
        "123ABC02",
        "123 ABC 02",
        "777KZX01",
        "A456MNO",
        "DL88112233",
        "VRC5566778",
        "KZ01CR778899",
        "Семейная",
        "secret-session-token",
        "Связь пропадает",
        "bad plate",
    ];
    for record in &records {
        let lower = record.to_lowercase();
        for secret in secrets {
            assert!(
                !lower.contains(&secret.to_lowercase()),
                "personal data in a log record: {record:.60}"
            );
        }
    }
    eprintln!(
        "{} log records checked, none with personal data",
        records.len()
    );
}
