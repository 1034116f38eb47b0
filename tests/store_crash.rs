//! Crash consistency: a child process writes vehicles, rotates the data key and rotates
//! the key-encryption key between two keys, and is killed with SIGKILL at a random
//! moment. After every kill the store must pass `PRAGMA integrity_check`, open with
//! exactly one of the two keys, decrypt every row, hold every write the child had
//! acknowledged, and have exactly one outbox entry per vehicle created.

mod common;

use aparking_core::{AparkingError, NewVehicle, Store};
use common::child::{self, ChildCommand, KillAt, Rng};
use common::*;
use std::path::Path;
use std::time::Instant;

const CHILD_ENV: &str = "APARKING_CRASH_CHILD_STORE";
const START_ENV: &str = "APARKING_CRASH_CHILD_START";
const KILLS: u32 = 40;
const KEY_A: u8 = 0xA1;
const KEY_B: u8 = 0xB2;

/// The n-th unique plate: 3 digits from n, 3 letters from n / 1000, region 01-20.
fn plate(n: u64) -> String {
    let mut letters = n / 1000;
    let mut l = String::new();
    for _ in 0..3 {
        l.push((b'A' + (letters % 26) as u8) as char);
        letters /= 26;
    }
    format!("{:03}{}{:02}", n % 1000, l, n % 20 + 1)
}

/// Opens with whichever of the two keys the store is wrapped with now.
fn open_either(path: &Path) -> (std::sync::Arc<Store>, u8) {
    let path_str = path.to_string_lossy().into_owned();
    match common::open_store(path_str.clone(), key(KEY_A)) {
        Ok(s) => {
            assert_eq!(
                common::open_store(path_str, key(KEY_B)).unwrap_err(),
                AparkingError::WrongKey,
                "exactly one key opens the store"
            );
            (s, KEY_A)
        }
        Err(AparkingError::WrongKey) => (
            common::open_store(path_str, key(KEY_B)).expect("key B opens"),
            KEY_B,
        ),
        Err(other) => panic!("reopen after a kill failed: {other:?}"),
    }
}

/// The child's work, run in a separate process by `crash_consistency_under_sigkill`.
#[test]
#[ignore = "entry point of the child process of crash_consistency_under_sigkill"]
fn crash_child_process() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut n: u64 = std::env::var(START_ENV).unwrap().parse().unwrap();
    let (store, mut current) = open_either(Path::new(&path));
    for step in 0u64.. {
        match step % 12 {
            3 => store.rotate_data_key().unwrap(),
            7 => {
                let next = if current == KEY_A { KEY_B } else { KEY_A };
                store.rotate_key_encryption_key(key(next)).unwrap();
                current = next;
            }
            _ => {
                store
                    .add_vehicle(NewVehicle {
                        plate: plate(n),
                        ..Default::default()
                    })
                    .unwrap();
                // Acknowledged only after the commit returned.
                child::ack(n);
                n += 1;
            }
        }
    }
}

#[test]
fn crash_consistency_under_sigkill() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(KEY_A));
    fill_sample(&store);
    drop(store);

    let seed = child::clock_seed();
    let mut rng = Rng::new(seed);
    let mut acknowledged: Vec<u64> = Vec::new();
    let started = Instant::now();
    for round in 0..KILLS {
        let start = u64::from(round) * 100_000;
        let run = ChildCommand::new("crash_child_process")
            .env(CHILD_ENV, path.display())
            .env(START_ENV, start)
            .run(KillAt::Delay(rng.millis(30, 279)));
        run.expect_killed(&format!("round {round} (seed {seed})"));
        acknowledged.extend(run.acks().map(|n| n.parse::<u64>().expect("ACK n")));

        let conn = rusqlite::Connection::open(&path).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "round {round}");
        drop(conn);

        let (store, _) = open_either(&path);
        let vehicles = store
            .list_vehicles()
            .expect("every row decrypts with the current key");
        let plates: std::collections::HashSet<String> =
            vehicles.iter().map(|v| v.plate.canonical.clone()).collect();
        for n in &acknowledged {
            assert!(
                plates.contains(&plate(*n)),
                "round {round}: acknowledged write {n} lost"
            );
        }
        // Three sample vehicles, every acknowledged one, and at most one in flight per round.
        let extra = vehicles.len() - 3 - acknowledged.len();
        assert!(
            extra <= round as usize + 1,
            "round {round}: {extra} unexpected vehicles"
        );
        assert!(store.get_profile().unwrap().is_some());
        assert_eq!(store.list_documents().unwrap().len(), 2);
        // The outbox matches the data: one create per vehicle, written in its transaction.
        let vehicle_creates = aparking_core::testing::pending_sync_changes(&store)
            .unwrap()
            .into_iter()
            .filter(|(entity, _, op, fields)| {
                entity == "vehicle" && op == "upsert" && fields.get("plate").is_some()
            })
            .count();
        assert_eq!(
            vehicle_creates,
            vehicles.len(),
            "round {round}: outbox and data disagree"
        );
    }
    assert!(
        acknowledged.len() > KILLS as usize,
        "the child made progress ({} writes)",
        acknowledged.len()
    );
    eprintln!(
        "{KILLS} kills survived, {} acknowledged writes kept, {:.1} s",
        acknowledged.len(),
        started.elapsed().as_secs_f64()
    );
}
