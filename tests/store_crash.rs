//! Crash consistency: a child process writes vehicles, rotates the data key and rotates
//! the key-encryption key between two keys, and is killed with SIGKILL at a random
//! moment. After every kill the store must pass `PRAGMA integrity_check`, open with
//! exactly one of the two keys, decrypt every row, hold every write the child had
//! acknowledged, and have exactly one outbox entry per vehicle created.

mod common;

use aparking_core::{AparkingError, NewVehicle, Store};
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

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
    match Store::open(path_str.clone(), key(KEY_A)) {
        Ok(s) => {
            assert_eq!(
                Store::open(path_str, key(KEY_B)).unwrap_err(),
                AparkingError::WrongKey,
                "exactly one key opens the store"
            );
            (s, KEY_A)
        }
        Err(AparkingError::WrongKey) => (
            Store::open(path_str, key(KEY_B)).expect("key B opens"),
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
    let out = std::io::stdout();
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
                writeln!(out.lock(), "ACK {n}").unwrap();
                out.lock().flush().unwrap();
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

    let mut seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut next_random = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut acknowledged: Vec<u64> = Vec::new();
    let started = Instant::now();
    for round in 0..KILLS {
        let start = u64::from(round) * 100_000;
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "crash_child_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .env(START_ENV, start.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("child starts");
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                // libtest may print its own prefix on the first line: find the marker anywhere.
                .filter_map(|l| {
                    l.rsplit_once("ACK ")
                        .and_then(|(_, n)| n.trim().parse::<u64>().ok())
                })
                .collect::<Vec<_>>()
        });
        std::thread::sleep(Duration::from_millis(30 + next_random() % 250));
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        acknowledged.extend(reader.join().unwrap());

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
        let vehicle_creates = aparking_core::store::pending_sync_changes(&store)
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
