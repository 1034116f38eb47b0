//! Consent gated on the accepted policy version, and the local telemetry pipeline.

mod common;

use aparking_core::{
    AparkingError, Consent, ConsentAction, ConsentObserver, ConsentState, ConsentStatus,
    PolicyUpdate, Purpose, TelemetryConfig, TelemetryEvent,
};
use common::privacy::*;
use common::*;
use std::sync::{Arc, Mutex};

const NOWHERE: &str = "http://127.0.0.1:9";

fn pending(t: &aparking_core::Telemetry, p: Purpose) -> i64 {
    t.pending_events(Some(p)).unwrap()
}

#[test]
fn nothing_is_stored_before_acceptance_then_only_the_granted_purpose() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let t = telemetry(&store, NOWHERE);
    let consent = Consent::new(Arc::clone(&store));
    assert_eq!(consent.status(Purpose::Statistics), ConsentStatus::NoPolicy);

    // No policy, then a policy not accepted: nothing stored, whatever the app records.
    for e in one_of_each() {
        t.record(e);
    }
    consent.publish_policy(policy(3)).unwrap();
    assert_eq!(
        consent.status(Purpose::Statistics),
        ConsentStatus::PolicyNotAccepted { current_version: 3 }
    );
    for e in one_of_each() {
        t.record(e);
    }
    assert!(t.flush(5_000));
    assert_eq!(t.pending_events(None).unwrap(), 0);
    let counters = t.counters().unwrap();
    assert_eq!(counters.stored, 0);
    assert_eq!(counters.dropped_no_consent.values().sum::<i64>(), 14);

    // Accept v3 with connection diagnostics only.
    let receipt = consent
        .accept_policy(3, vec![Purpose::ConnectionDiagnostics], context())
        .unwrap();
    assert_eq!(
        receipt.purposes_granted,
        vec![Purpose::ConnectionDiagnostics]
    );
    assert_eq!(receipt.purposes_denied.len(), 4);
    for e in one_of_each() {
        t.record(e);
    }
    assert!(t.flush(5_000));
    assert_eq!(pending(&t, Purpose::ConnectionDiagnostics), 1);
    assert_eq!(
        t.pending_events(None).unwrap(),
        1,
        "only connection diagnostics stored"
    );
    assert_eq!(
        consent.status(Purpose::Statistics),
        ConsentStatus::NotGranted
    );
    assert_eq!(
        consent.status(Purpose::ConnectionDiagnostics),
        ConsentStatus::Allowed
    );
}

#[test]
fn a_new_policy_stops_collection_until_accepted() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let t = telemetry(&store, NOWHERE);
    let consent = consent_with_policy(&store, 3);
    consent
        .accept_policy(3, vec![Purpose::ConnectionDiagnostics], context())
        .unwrap();
    t.record(network_sample(-90));
    assert!(t.flush(5_000));
    assert_eq!(t.pending_events(None).unwrap(), 1);
    let ids_before = t.installation_ids().unwrap();

    assert_eq!(
        consent.publish_policy(policy(4)).unwrap(),
        PolicyUpdate::Adopted
    );
    assert_eq!(
        consent.status(Purpose::ConnectionDiagnostics),
        ConsentStatus::NewPolicyNotAccepted {
            accepted_version: 3,
            current_version: 4
        }
    );
    assert!(!consent.is_allowed(Purpose::ConnectionDiagnostics));
    // What was pending under v3 for that purpose is purged, and a deletion request queued.
    assert_eq!(t.pending_events(None).unwrap(), 0);
    assert_eq!(t.pending_deletion_requests().unwrap(), 1);
    assert_ne!(
        t.installation_ids().unwrap().last(),
        ids_before.last(),
        "installation id replaced"
    );

    for _ in 0..5 {
        t.record(network_sample(-80));
    }
    assert!(t.flush(5_000));
    assert_eq!(
        t.pending_events(None).unwrap(),
        0,
        "collection stopped at once"
    );

    // Old versions are ignored; only the version in force can be accepted.
    assert_eq!(
        consent.publish_policy(policy(2)).unwrap(),
        PolicyUpdate::Outdated
    );
    assert_eq!(
        consent.publish_policy(policy(4)).unwrap(),
        PolicyUpdate::AlreadyInForce
    );
    assert_eq!(
        consent
            .accept_policy(3, vec![Purpose::ConnectionDiagnostics], context())
            .unwrap_err(),
        AparkingError::PolicyVersionMismatch {
            accepted: 3,
            in_force: 4
        }
    );
    consent
        .accept_policy(4, vec![Purpose::ConnectionDiagnostics], context())
        .unwrap();
    t.record(network_sample(-70));
    assert!(t.flush(5_000));
    assert_eq!(
        t.pending_events(None).unwrap(),
        1,
        "resumed after v4 was accepted"
    );
}

#[test]
fn withdrawal_purges_pending_events_and_queues_a_deletion_request_that_survives_overflow() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let config = TelemetryConfig {
        max_queue_events: 20,
        ..fast_config(NOWHERE)
    };
    let t = aparking_core::Telemetry::new(Arc::clone(&store), config).unwrap();
    let consent = consent_with_policy(&store, 3);
    consent
        .accept_policy(
            3,
            vec![Purpose::ServiceImprovement, Purpose::ConnectionDiagnostics],
            context(),
        )
        .unwrap();
    for i in 0..6 {
        t.record(TelemetryEvent::ScreenView {
            screen: format!("screen_{i}"),
        });
        t.record(network_sample(-90 - i));
    }
    assert!(t.flush(5_000));
    assert_eq!(pending(&t, Purpose::ServiceImprovement), 6);
    assert_eq!(pending(&t, Purpose::ConnectionDiagnostics), 6);
    let used = t.installation_ids().unwrap();

    let receipt = consent
        .withdraw(vec![Purpose::ServiceImprovement], context())
        .unwrap();
    assert_eq!(receipt.action, ConsentAction::Withdraw);
    assert_eq!(
        receipt.purposes_granted,
        vec![Purpose::ConnectionDiagnostics]
    );
    assert_eq!(
        pending(&t, Purpose::ServiceImprovement),
        0,
        "purged at once"
    );
    assert_eq!(
        pending(&t, Purpose::ConnectionDiagnostics),
        6,
        "other purposes kept"
    );
    assert_eq!(t.pending_deletion_requests().unwrap(), 1);
    assert_eq!(t.counters().unwrap().purged, 6);
    let after = t.installation_ids().unwrap();
    assert!(
        after.len() > used.len() && !used.contains(after.last().unwrap()),
        "a fresh installation id"
    );

    // Overflow the queue: the oldest events go, the deletion request stays.
    for i in 0..100 {
        t.record(network_sample(-50 - (i % 40)));
    }
    assert!(t.flush(5_000));
    assert_eq!(t.pending_events(None).unwrap(), 20);
    assert!(t.counters().unwrap().dropped_queue_full >= 86);
    assert_eq!(
        t.pending_deletion_requests().unwrap(),
        1,
        "limits never drop a deletion request"
    );
}

#[test]
fn the_firewall_stops_the_users_own_plate_typed_differently() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    add_plate(&store, "123ABC02");
    let t = telemetry(&store, NOWHERE);
    consent_all_granted(&store);

    t.record(TelemetryEvent::ScreenView {
        screen: "123 авс 02".into(),
    });
    t.record(TelemetryEvent::ErrorCount {
        code: "plate_123-АВС-02_invalid".into(),
        count: 1,
    });
    t.record(TelemetryEvent::ScreenView {
        screen: "ask +7 701 000 11 22".into(),
    });
    t.record(TelemetryEvent::ScreenView {
        screen: "parking_map".into(),
    });
    assert!(t.flush(5_000));
    let c = t.counters().unwrap();
    let firewalled: i64 = c.dropped_firewall.values().sum();
    assert_eq!(firewalled, 3);
    assert_eq!(
        t.pending_events(None).unwrap(),
        1,
        "only the clean event is stored"
    );
}

#[test]
fn accept_and_withdraw_errors_are_typed() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let consent = Consent::new(Arc::clone(&store));
    assert_eq!(
        consent.accept_policy(1, vec![], context()).unwrap_err(),
        AparkingError::NoPolicy
    );
    assert_eq!(
        consent.withdraw_all(context()).unwrap_err(),
        AparkingError::NoPolicy
    );
    let mut narrow = policy(1);
    narrow.purposes = vec![Purpose::Statistics];
    consent.publish_policy(narrow).unwrap();
    assert!(matches!(
        consent.accept_policy(1, vec![Purpose::Communication], context()).unwrap_err(),
        AparkingError::InvalidInput { field, .. } if field == "granted"
    ));
    let mut bad = context();
    bad.locale = "kk KZ!".into();
    assert!(matches!(consent.accept_policy(1, vec![], bad).unwrap_err(),
        AparkingError::InvalidInput { field, .. } if field == "context.locale"));
    assert!(matches!(
        consent
            .publish_policy_json("{\"version\":0}".into())
            .unwrap_err(),
        AparkingError::InvalidInput { .. }
    ));
    assert_eq!(
        consent.status(Purpose::Communication),
        ConsentStatus::PolicyNotAccepted { current_version: 1 }
    );
    consent
        .accept_policy(1, vec![Purpose::Statistics], context())
        .unwrap();
    assert_eq!(
        consent.status(Purpose::Communication),
        ConsentStatus::NotOffered
    );
}

struct Recorder(Mutex<Vec<ConsentState>>);

impl ConsentObserver for Recorder {
    fn on_consent_changed(&self, state: ConsentState) {
        self.0.lock().unwrap().push(state);
    }
}

#[test]
fn observers_hear_every_change_and_receipts_are_kept() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let consent = Consent::new(Arc::clone(&store));
    let recorder = Arc::new(Recorder(Mutex::new(Vec::new())));
    let subscription = consent.subscribe(recorder.clone());
    consent.publish_policy(policy(1)).unwrap();
    consent
        .accept_policy(
            1,
            vec![Purpose::Statistics, Purpose::Personalization],
            context(),
        )
        .unwrap();
    consent
        .withdraw(vec![Purpose::Statistics], context())
        .unwrap();
    let states = recorder.0.lock().unwrap().clone();
    assert_eq!(states.len(), 3);
    assert_eq!(states[0].allowed, vec![]);
    assert_eq!(
        states[1].allowed,
        vec![Purpose::Personalization, Purpose::Statistics]
    );
    assert_eq!(states[2].allowed, vec![Purpose::Personalization]);
    subscription.cancel();
    assert!(!subscription.is_active());
    let dropped = Arc::new(Recorder(Mutex::new(Vec::new())));
    drop(consent.subscribe(dropped.clone()));
    assert!(
        matches!(consent.withdraw(vec![], context()).unwrap_err(),
        AparkingError::InvalidInput { field, .. } if field == "purposes"),
        "an empty list is not 'all'"
    );
    consent.withdraw_all(context()).unwrap();
    assert_eq!(
        recorder.0.lock().unwrap().len(),
        3,
        "removed observers hear nothing"
    );
    assert!(
        dropped.0.lock().unwrap().is_empty(),
        "dropping the handle cancels it too"
    );

    let receipts = consent.receipts().unwrap();
    let actions: Vec<_> = receipts.iter().map(|r| r.action).collect();
    assert_eq!(
        actions,
        vec![
            ConsentAction::Accept,
            ConsentAction::Withdraw,
            ConsentAction::Withdraw
        ]
    );
    assert!(receipts
        .iter()
        .all(|r| r.policy_version == 1 && r.jurisdiction == "KZ" && r.locale == "kk-KZ"));
    assert_eq!(receipts[2].purposes_granted, vec![]);
}

#[test]
fn consent_survives_reopening_and_key_rotation() {
    let (_dir, path) = temp_store_path();
    {
        let store = open(&path, &key(1));
        let consent = consent_with_policy(&store, 2);
        consent
            .accept_policy(2, vec![Purpose::Statistics], context())
            .unwrap();
        let t = telemetry(&store, NOWHERE);
        t.record(TelemetryEvent::SessionStart);
        t.record(TelemetryEvent::CoarseLocation {
            latitude: 51.1,
            longitude: 71.4,
        });
        assert!(t.flush(5_000));
        t.shutdown();
        store.rotate_data_key().unwrap();
        store.close().unwrap();
    }
    let store = open(&path, &key(1));
    let consent = aparking_core::Consent::new(Arc::clone(&store));
    assert!(consent.is_allowed(Purpose::Statistics));
    assert_eq!(
        consent.receipts().unwrap().len(),
        1,
        "the sealed receipt opens after rotation"
    );
    let t = telemetry(&store, NOWHERE);
    assert_eq!(t.pending_events(None).unwrap(), 1);
}

#[test]
fn deleting_all_user_data_ends_consent_and_telemetry() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let consent = consent_all_granted(&store);
    let t = telemetry(&store, NOWHERE);
    for e in one_of_each() {
        t.record(e);
    }
    assert!(t.flush(5_000));
    assert!(t.pending_events(None).unwrap() > 0);
    store.delete_all_user_data().unwrap();
    assert_eq!(t.pending_events(None).unwrap(), 0);
    assert_eq!(t.pending_deletion_requests().unwrap(), 1);
    assert_eq!(
        consent.status(Purpose::Statistics),
        ConsentStatus::PolicyNotAccepted { current_version: 1 }
    );
    assert!(consent.receipts().unwrap().is_empty());
    t.record(TelemetryEvent::SessionStart);
    assert!(t.flush(5_000));
    assert_eq!(t.pending_events(None).unwrap(), 0);
}

#[test]
fn a_connection_complaint_carries_recent_samples_as_personal_data() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let consent = consent_with_policy(&store, 1);
    consent
        .accept_policy(1, vec![Purpose::ConnectionDiagnostics], context())
        .unwrap();
    let t = telemetry(&store, NOWHERE);
    for dbm in [-101, -99, -97] {
        t.record(network_sample(dbm));
    }
    let complaint = t
        .file_connection_complaint("Связь пропадает у ТРЦ Mega".into(), 60)
        .unwrap();
    assert_eq!(complaint.samples.len(), 3);
    assert_eq!(complaint.samples[0].signal_dbm, Some(-101));
    assert_eq!(t.complaints().unwrap(), vec![complaint]);
    assert!(t.file_connection_complaint("   ".into(), 60).is_err());
    // The right of access covers the complaint and the consent receipts.
    let export: serde_json::Value = common::export_schema::validated_export(&store);
    assert_eq!(
        export["complaints"][0]["description"],
        "Связь пропадает у ТРЦ Mega"
    );
    assert_eq!(export["complaints"][0]["network_samples"], 3);
    assert_eq!(
        export["consent_receipts"][0]["purposes_granted"][0],
        "connection_diagnostics"
    );
    assert_eq!(export["consent_receipts"][0]["policy_version"], 1);
    // Withdrawing connection diagnostics forgets the kept samples; the complaint stays.
    consent
        .withdraw(vec![Purpose::ConnectionDiagnostics], context())
        .unwrap();
    let later = t.file_connection_complaint("again".into(), 60).unwrap();
    assert!(later.samples.is_empty());
    assert_eq!(t.complaints().unwrap().len(), 2);
}

#[test]
fn invalid_events_are_counted_not_stored() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    consent_all_granted(&store);
    let t = telemetry(&store, NOWHERE);
    t.record(TelemetryEvent::CoarseLocation {
        latitude: 123.0,
        longitude: 0.0,
    });
    t.record(TelemetryEvent::ScreenView {
        screen: "x".repeat(500),
    });
    assert!(t.flush(5_000));
    assert_eq!(t.counters().unwrap().dropped_invalid, 2);
    assert_eq!(t.pending_events(None).unwrap(), 0);
}

#[test]
fn an_event_recorded_before_a_withdrawal_is_not_stored_after_consent_is_given_again() {
    // Review finding: "withdraw all, then accept the new selection" must not let events
    // recorded before the withdrawal through under the new installation id.
    for _ in 0..20 {
        let (_dir, path) = temp_store_path();
        let store = open(&path, &key(1));
        let consent = consent_with_policy(&store, 3);
        consent
            .accept_policy(3, Purpose::ALL.to_vec(), context())
            .unwrap();
        let t = telemetry(&store, NOWHERE);
        t.record(TelemetryEvent::ScreenView {
            screen: "before_withdrawal".into(),
        });
        consent.withdraw_all(context()).unwrap();
        consent
            .accept_policy(3, Purpose::ALL.to_vec(), context())
            .unwrap();
        assert!(t.flush(5_000));
        assert_eq!(
            t.pending_events(None).unwrap(),
            0,
            "{:?} {:?}",
            t.counters().unwrap(),
            t.installation_ids().unwrap().len()
        );
    }
}

#[test]
fn a_second_open_of_the_same_file_shares_one_consent_state() {
    // Review finding: two Store objects on one file must not keep two consent states.
    let (_dir, path) = temp_store_path();
    let ui = open(&path, &key(1));
    let background = open(&path, &key(1));
    assert!(Arc::ptr_eq(&ui, &background), "the same store");
    assert_eq!(
        aparking_core::Store::open(path.to_string_lossy().into_owned(), key(2)).unwrap_err(),
        AparkingError::WrongKey,
        "the key is still checked"
    );
    let consent = consent_with_policy(&ui, 1);
    consent
        .accept_policy(1, Purpose::ALL.to_vec(), context())
        .unwrap();
    let t = telemetry(&background, NOWHERE);
    consent.withdraw_all(context()).unwrap();
    t.record(TelemetryEvent::SessionStart);
    assert!(t.flush(5_000));
    assert_eq!(t.pending_events(None).unwrap(), 0);
}

#[test]
fn a_withdrawal_receipt_describes_the_accepted_version() {
    // Review finding: after v4 is published, withdrawing v3 consent must not mix v4's
    // text hash and purposes into the receipt.
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let consent = Consent::new(Arc::clone(&store));
    let mut v3 = policy(3);
    v3.purposes = vec![Purpose::Statistics, Purpose::Communication];
    consent.publish_policy(v3.clone()).unwrap();
    consent
        .accept_policy(
            3,
            vec![Purpose::Statistics, Purpose::Communication],
            context(),
        )
        .unwrap();
    consent.publish_policy(policy(4)).unwrap();
    let receipt = consent
        .withdraw(vec![Purpose::Communication], context())
        .unwrap();
    assert_eq!(receipt.policy_version, 3);
    assert_eq!(receipt.policy_text_sha256, v3.text_sha256);
    assert_eq!(receipt.purposes_granted, vec![Purpose::Statistics]);
    assert_eq!(receipt.purposes_denied, vec![Purpose::Communication]);
}
