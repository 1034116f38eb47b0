//! Acceptance (issue #4): 200 sync rounds with 30% injected faults of every kind end with
//! server and client equal, and every change applied exactly once (the server counts
//! applications).

mod common;

use aparking_core::testing::pending_sync_changes;
use aparking_core::{
    AuthProvider, AuthProviderError, NetworkConfig, NewVehicle, ProfilePatch, SyncClient,
    SyncConfig, VehiclePatch,
};
use aparking_server::{Fault, FaultPlan, FaultTarget, RandomFaults, ReferenceServer, ServerConfig};
use common::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROUNDS: u32 = 200;

struct Token;

impl AuthProvider for Token {
    fn bearer_token(&self, _refresh: bool) -> Result<String, AuthProviderError> {
        Ok("token-a".into())
    }
}

/// A small deterministic generator (xorshift), seeded per run and printed on failure.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

/// A per-run seed (printed with every failure; `APARKING_TEST_SEED` replays it).
fn time_seed() -> u64 {
    common::child::clock_seed() | 1
}

/// The backend with one account (`token-a`) and 30 % random faults on every sync request:
/// 503 and 429 with Retry-After, answers dropped after apply, delays past the client's
/// timeout, and `extra`.
fn faulty_server(seed: u64, extra: Vec<Fault>) -> (ReferenceServer, String) {
    let server = ReferenceServer::start(ServerConfig::default()).unwrap();
    let account = server.add_account("token-a");
    let mut faults = extra;
    faults.extend([
        Fault::Status {
            code: 503,
            retry_after_secs: Some(0),
        },
        Fault::Status {
            code: 429,
            retry_after_secs: Some(0),
        },
        Fault::DropAfterApply,
        Fault::Delay(Duration::from_millis(400)), // beyond the client's timeout
    ]);
    server.inject(FaultPlan::new().random(RandomFaults {
        share: 0.3,
        faults,
        seed,
        target: FaultTarget::PathPrefix("/v1/sync".into()),
    }));
    (server, account)
}

/// Two attempts per request, millisecond backoff, a 250 ms request timeout.
fn faulty_network() -> NetworkConfig {
    NetworkConfig {
        max_attempts: 2,
        retry_base_delay_ms: 1,
        retry_max_delay_ms: 5,
        request_timeout_ms: 250,
        ..NetworkConfig::default()
    }
}

#[tokio::test]
async fn two_hundred_rounds_with_thirty_percent_faults() {
    let seed = time_seed();
    let mut rng = Rng(seed);
    let server_error = Fault::Status {
        code: 500,
        retry_after_secs: None,
    };
    let (server, account) = faulty_server(seed, vec![server_error]);
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let config = SyncConfig {
        network: faulty_network(),
        ..SyncConfig::new(server.base_url())
    };
    let sync = SyncClient::new(Arc::clone(&store), config, Arc::new(Token)).unwrap();

    let started = Instant::now();
    let mut changes_made = 0usize;
    let mut failed_syncs = 0;
    let mut plate_no = 0u64;
    for round in 0..ROUNDS {
        for _ in 0..=rng.next(3) {
            let before = pending_sync_changes(&store).unwrap().len();
            let vehicles = store.list_vehicles().unwrap();
            match rng.next(10) {
                0..=3 => {
                    plate_no += 1;
                    let plate = format!("{:03}KZX{:02}", plate_no % 1000, plate_no / 1000 % 20 + 1);
                    store
                        .add_vehicle(NewVehicle {
                            plate,
                            ..Default::default()
                        })
                        .unwrap();
                }
                4..=7 if !vehicles.is_empty() => {
                    let v = &vehicles[rng.next(vehicles.len() as u64) as usize];
                    let patch = VehiclePatch {
                        nickname: Some(format!("n{round}_{}", rng.next(1000))),
                        ..Default::default()
                    };
                    store.update_vehicle(v.id.clone(), patch).unwrap();
                }
                8 if !vehicles.is_empty() => {
                    let v = &vehicles[rng.next(vehicles.len() as u64) as usize];
                    store.remove_vehicle(v.id.clone()).unwrap();
                }
                _ => {
                    let phone = format!("+7701{:07}", rng.next(10_000_000));
                    store
                        .update_profile(ProfilePatch {
                            phone: Some(phone),
                            ..Default::default()
                        })
                        .unwrap();
                }
            }
            changes_made += pending_sync_changes(&store).unwrap().len() - before;
        }
        if sync.sync().await.is_err() {
            failed_syncs += 1;
        }
    }
    server.clear_faults();
    for _ in 0..5 {
        if sync.sync().await.unwrap().pending == 0 {
            break;
        }
    }
    assert_eq!(sync.pending_changes().unwrap(), 0, "seed {seed}");

    let stats = server.stats();
    assert_eq!(
        stats.changes_applied as usize, changes_made,
        "seed {seed}: every change applied exactly once"
    );
    // Server and client hold the same data.
    let server_vehicles: BTreeMap<String, Option<String>> = server
        .records(&account)
        .into_iter()
        .filter(|r| r.entity == "vehicle" && !r.deleted)
        .map(|r| (r.record_id, r.fields.get("nickname").cloned().flatten()))
        .collect();
    let local_vehicles: BTreeMap<String, Option<String>> = store
        .list_vehicles()
        .unwrap()
        .into_iter()
        .map(|v| (v.id, v.nickname))
        .collect();
    assert_eq!(server_vehicles, local_vehicles, "seed {seed}");
    if let Some(p) = store.get_profile().unwrap() {
        let remote = server
            .records(&account)
            .into_iter()
            .find(|r| r.entity == "profile")
            .unwrap();
        assert_eq!(
            remote.fields["phone"].as_deref(),
            Some(p.phone.as_str()),
            "seed {seed}"
        );
    }
    eprintln!(
        "{ROUNDS} rounds, {changes_made} changes applied once each, {failed_syncs} syncs failed, faults injected: {:?}, {:.1} s",
        stats.faults,
        started.elapsed().as_secs_f64()
    );
}

/// One edit the API acknowledged: `field` `"_deleted"` for a removal.
struct Edit {
    clock: usize,
    device: usize,
    entity: &'static str,
    record_id: String,
    field: &'static str,
    value: Option<String>,
}

/// Three devices of one account, 30 % faults on every sync request, plate moves and
/// clashes, document numbers that clash, links and removals (issue #16, point 3). After
/// the faults stop and each device syncs cleanly, nothing is pending anywhere, every
/// device holds what the server holds, no document links to a vehicle that is not live,
/// and the last acknowledged value of every field is on the server or explained: by a
/// conflict-log entry of the device that wrote it, by the record's removal (delete wins)
/// or by its merge into another record (the same plate or number).
#[tokio::test]
async fn three_devices_with_moves_links_and_removals_under_faults_lose_nothing_unlogged() {
    use aparking_core::{ConflictResolution, DocumentKind, DocumentPatch, NewDocument};
    const DEVICES: usize = 3;
    const ROUNDS3: u32 = 60;
    let seed = time_seed();
    let mut rng = Rng(seed);
    let (server, account) = faulty_server(seed, Vec::new());
    let network = faulty_network();
    let mut dirs = Vec::new();
    let mut devices = Vec::new();
    for d in 0..DEVICES {
        let (dir, path) = temp_store_path();
        let store = open(&path, &key(d as u8 + 1));
        let config = SyncConfig {
            network: network.clone(),
            ..SyncConfig::new(server.base_url())
        };
        let sync = SyncClient::new(Arc::clone(&store), config, Arc::new(Token)).unwrap();
        dirs.push(dir);
        devices.push((store, sync));
    }
    let plates = ["123ABC02", "456DEF03", "789GHK04", "111KZX01", "222KZX05"];
    let numbers = ["DL40000001", "DL40000002", "DL40000003", "DL40000004"];
    let dates = [
        (Some("2020-01-01"), Some("2030-01-01")),
        (Some("2026-06-01"), None),
        (None, Some("2024-01-01")),
    ];
    let mut edits: Vec<Edit> = Vec::new();
    let mut clock = 0usize;
    let mut ack = |edits: &mut Vec<Edit>,
                   device: usize,
                   entity: &'static str,
                   id: &str,
                   field: &'static str,
                   value: Option<String>| {
        clock += 1;
        edits.push(Edit {
            clock,
            device,
            entity,
            record_id: id.to_string(),
            field,
            value,
        });
    };
    let mut failed = 0;
    for _ in 0..ROUNDS3 {
        let d = rng.next(DEVICES as u64) as usize;
        let (store, sync) = &devices[d];
        for _ in 0..=rng.next(3) {
            let vehicles = store.list_vehicles().unwrap();
            let documents = store.list_documents().unwrap();
            let pick = |rng: &mut Rng, n: usize| rng.next(n as u64) as usize;
            match rng.next(12) {
                0 | 1 => {
                    let plate = plates[pick(&mut rng, plates.len())];
                    if let Ok(v) = store.add_vehicle(NewVehicle {
                        plate: plate.into(),
                        ..Default::default()
                    }) {
                        ack(
                            &mut edits,
                            d,
                            "vehicle",
                            &v.id,
                            "plate",
                            Some(v.plate.canonical),
                        );
                    }
                }
                2 if !vehicles.is_empty() => {
                    let v = &vehicles[pick(&mut rng, vehicles.len())];
                    let plate = plates[pick(&mut rng, plates.len())];
                    let patch = VehiclePatch {
                        plate: Some(plate.into()),
                        ..Default::default()
                    };
                    let before = v.plate.canonical.clone();
                    if let Ok(v) = store.update_vehicle(v.id.clone(), patch) {
                        // Setting the value a field already has changes nothing (the
                        // merge sees no local change): not an edit to account for.
                        if v.plate.canonical == before {
                            continue;
                        }
                        ack(
                            &mut edits,
                            d,
                            "vehicle",
                            &v.id,
                            "plate",
                            Some(v.plate.canonical),
                        );
                    }
                }
                3 | 4 if !vehicles.is_empty() => {
                    let v = &vehicles[pick(&mut rng, vehicles.len())];
                    let nickname = format!("n{}", rng.next(1000));
                    let patch = VehiclePatch {
                        nickname: Some(nickname.clone()),
                        ..Default::default()
                    };
                    store.update_vehicle(v.id.clone(), patch).unwrap();
                    if v.nickname.as_deref() != Some(nickname.as_str()) {
                        ack(&mut edits, d, "vehicle", &v.id, "nickname", Some(nickname));
                    }
                }
                5 if !vehicles.is_empty() => {
                    let v = &vehicles[pick(&mut rng, vehicles.len())];
                    store.remove_vehicle(v.id.clone()).unwrap();
                    ack(&mut edits, d, "vehicle", &v.id, "_deleted", None);
                }
                6 => {
                    let number = numbers[pick(&mut rng, numbers.len())];
                    if let Ok(doc) = store.add_document(NewDocument {
                        kind: DocumentKind::DriverLicence,
                        number: number.into(),
                        issued_on: None,
                        expires_on: None,
                        vehicle_id: None,
                    }) {
                        ack(
                            &mut edits,
                            d,
                            "document",
                            &doc.id,
                            "number",
                            Some(doc.number),
                        );
                    }
                }
                7 if !documents.is_empty() => {
                    let doc = &documents[pick(&mut rng, documents.len())];
                    let number = numbers[pick(&mut rng, numbers.len())];
                    let patch = DocumentPatch {
                        number: Some(number.into()),
                        ..Default::default()
                    };
                    let before = doc.number.clone();
                    if let Ok(doc) = store.update_document(doc.id.clone(), patch) {
                        if doc.number == before {
                            continue;
                        }
                        ack(
                            &mut edits,
                            d,
                            "document",
                            &doc.id,
                            "number",
                            Some(doc.number),
                        );
                    }
                }
                8 | 9 if !documents.is_empty() && !vehicles.is_empty() => {
                    let doc = &documents[pick(&mut rng, documents.len())];
                    let v = &vehicles[pick(&mut rng, vehicles.len())];
                    let patch = DocumentPatch {
                        vehicle_id: Some(v.id.clone()),
                        ..Default::default()
                    };
                    store.update_document(doc.id.clone(), patch).unwrap();
                    if doc.vehicle_id.as_deref() != Some(v.id.as_str()) {
                        ack(
                            &mut edits,
                            d,
                            "document",
                            &doc.id,
                            "vehicle_id",
                            Some(v.id.clone()),
                        );
                    }
                }
                10 if !documents.is_empty() => {
                    let doc = &documents[pick(&mut rng, documents.len())];
                    let (issued, expires) = dates[pick(&mut rng, dates.len())];
                    let patch = DocumentPatch {
                        issued_on: issued.map(str::to_string),
                        expires_on: expires.map(str::to_string),
                        ..Default::default()
                    };
                    if store.update_document(doc.id.clone(), patch).is_ok() {
                        let fields = [
                            ("issued_on", issued, doc.issued_on.as_deref()),
                            ("expires_on", expires, doc.expires_on.as_deref()),
                        ];
                        for (field, value, before) in fields {
                            if let Some(value) = value.filter(|v| Some(*v) != before) {
                                ack(
                                    &mut edits,
                                    d,
                                    "document",
                                    &doc.id,
                                    field,
                                    Some(value.into()),
                                );
                            }
                        }
                    }
                }
                11 if !documents.is_empty() => {
                    let doc = &documents[pick(&mut rng, documents.len())];
                    store.remove_document(doc.id.clone()).unwrap();
                    ack(&mut edits, d, "document", &doc.id, "_deleted", None);
                }
                _ => {}
            }
        }
        if sync.sync().await.is_err() {
            failed += 1;
        }
    }
    server.clear_faults();
    for _ in 0..3 {
        for (_, sync) in &devices {
            sync.sync()
                .await
                .unwrap_or_else(|e| panic!("seed {seed}: {e:?}"));
        }
    }
    let records = server.records(&account);
    let live = |entity: &str| -> BTreeMap<String, BTreeMap<String, Option<String>>> {
        records
            .iter()
            .filter(|r| r.entity == entity && !r.deleted)
            .map(|r| (r.record_id.clone(), r.fields.clone()))
            .collect()
    };
    let (server_vehicles, server_documents) = (live("vehicle"), live("document"));
    for (d, (store, sync)) in devices.iter().enumerate() {
        assert_eq!(
            sync.pending_changes().unwrap(),
            0,
            "seed {seed}: device {d} stuck"
        );
        let vehicles: BTreeMap<String, Option<String>> = store
            .list_vehicles()
            .unwrap()
            .into_iter()
            .map(|v| (v.id, Some(v.plate.canonical)))
            .collect();
        let on_server: BTreeMap<String, Option<String>> = server_vehicles
            .iter()
            .map(|(id, f)| (id.clone(), f.get("plate").cloned().flatten()))
            .collect();
        assert_eq!(vehicles, on_server, "seed {seed}: device {d} vehicles");
        let documents: BTreeMap<String, (String, Option<String>)> = store
            .list_documents()
            .unwrap()
            .into_iter()
            .map(|x| (x.id, (x.number, x.vehicle_id)))
            .collect();
        let on_server: BTreeMap<String, (String, Option<String>)> = server_documents
            .iter()
            .map(|(id, f)| {
                let text = |k: &str| f.get(k).cloned().flatten();
                (
                    id.clone(),
                    (text("number").unwrap_or_default(), text("vehicle_id")),
                )
            })
            .collect();
        assert_eq!(documents, on_server, "seed {seed}: device {d} documents");
    }
    for (id, fields) in &server_documents {
        if let Some(Some(vehicle)) = fields.get("vehicle_id") {
            assert!(
                server_vehicles.contains_key(vehicle),
                "seed {seed}: document {id} links to a vehicle that is not live"
            );
        }
    }
    // The last acknowledged value of each field: on the server, or explained.
    let logs: Vec<_> = devices
        .iter()
        .map(|(_, sync)| sync.conflicts().unwrap())
        .collect();
    let merged_away = |id: &str| {
        logs.iter()
            .flatten()
            .any(|c| c.record_id == id && c.resolution == ConflictResolution::Merged)
    };
    let removed = |id: &str| {
        edits
            .iter()
            .any(|e| e.record_id == id && e.field == "_deleted")
    };
    let mut last: BTreeMap<(&str, &str), &Edit> = BTreeMap::new();
    for e in &edits {
        let slot = last.entry((e.record_id.as_str(), e.field)).or_insert(e);
        if e.clock > slot.clock {
            *slot = e;
        }
    }
    let (mut on_server_count, mut logged, mut deleted, mut merged) = (0, 0, 0, 0);
    for ((id, field), e) in &last {
        let server_fields = match e.entity {
            "vehicle" => server_vehicles.get(*id),
            _ => server_documents.get(*id),
        };
        let explained_by_log = logs[e.device].iter().any(|c| {
            c.record_id == *id
                && (c.resolution == ConflictResolution::DeleteWon
                    || c.field.map(aparking_core::RecordField::name) == Some(*field)
                        && c.local_value == e.value)
        });
        if *field == "_deleted" {
            assert!(
                server_fields.is_none(),
                "seed {seed}: a removal of {id} was lost"
            );
            deleted += 1;
            continue;
        }
        let here = server_fields.map(|f| f.get(*field).cloned().flatten());
        if here.as_ref() == Some(&e.value) {
            on_server_count += 1;
        } else if explained_by_log {
            logged += 1;
        } else if server_fields.is_none() && (removed(id) || merged_away(id)) {
            deleted += 1;
        } else if merged_away(id) {
            merged += 1;
        } else if *field == "vehicle_id"
            && e.value
                .as_deref()
                .is_some_and(|v| removed(v) || merged_away(v))
        {
            deleted += 1; // the vehicle it linked to was removed or merged away
        } else {
            panic!(
                "seed {seed}: device {}'s {field} of {} {id} is lost: not on the server ({here:?}) and not in its conflict log",
                e.device, e.entity
            );
        }
    }
    eprintln!(
        "3 devices, {ROUNDS3} rounds, {} acknowledged edits, {failed} syncs failed, faults {:?}: last values {on_server_count} on the server, {logged} logged, {deleted} removed, {merged} merged; 0 lost, 0 stuck",
        edits.len(),
        server.stats().faults
    );
}
