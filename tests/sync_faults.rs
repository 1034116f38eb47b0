//! Acceptance (issue #4): 200 sync rounds with 30% injected faults of every kind end with
//! server and client equal, and every change applied exactly once (the server counts
//! applications).

mod common;

use aparking_core::store::pending_sync_changes;
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

#[tokio::test]
async fn two_hundred_rounds_with_thirty_percent_faults() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut rng = Rng(seed);
    let server = ReferenceServer::start(ServerConfig::default()).unwrap();
    let account = server.add_account("token-a");
    server.inject(FaultPlan::new().random(RandomFaults {
        share: 0.3,
        faults: vec![
            Fault::Status {
                code: 500,
                retry_after_secs: None,
            },
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
        ],
        seed,
        target: FaultTarget::PathPrefix("/v1/sync".into()),
    }));
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let config = SyncConfig {
        network: NetworkConfig {
            max_attempts: 2,
            retry_base_delay_ms: 1,
            retry_max_delay_ms: 5,
            request_timeout_ms: 250,
            ..NetworkConfig::default()
        },
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
