//! Acceptance (issue #4): a child process that adds vehicles and syncs is killed with
//! SIGKILL at random points, 50 times. After reopening and syncing, no acknowledged change
//! is lost, none is duplicated, and the server applied each exactly once.

mod common;

use aparking_core::{NewVehicle, SyncClient};
use aparking_server::{ReferenceServer, ServerConfig};
use common::child::{self, ChildCommand, KillAt, Rng};
use common::*;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

const KILLS: u32 = 50;
const STORE_ENV: &str = "APARKING_SYNC_CRASH_STORE";
const SERVER_ENV: &str = "APARKING_SYNC_CRASH_SERVER";
const START_ENV: &str = "APARKING_SYNC_CRASH_START";

fn plate(n: u64) -> String {
    format!(
        "{:03}{}{:02}",
        n % 1000,
        ["AAA", "BBB", "CCC", "DDD", "EEE"][(n / 1000 % 5) as usize],
        n / 5000 % 20 + 1
    )
}

fn client(path: &str, server: &str) -> (Arc<aparking_core::Store>, Arc<SyncClient>) {
    let store = common::open_store(path.to_string(), key(7)).unwrap();
    let sync =
        common::sync::sync_client_at(&store, server, "token-a", common::sync::fast_network());
    (store, sync)
}

/// The child's work: add a vehicle, acknowledge it, sync every few vehicles; forever.
#[test]
#[ignore = "entry point of the child process of sync_survives_sigkill"]
fn sync_crash_child_process() {
    let (Ok(path), Ok(server)) = (std::env::var(STORE_ENV), std::env::var(SERVER_ENV)) else {
        return;
    };
    let start: u64 = std::env::var(START_ENV).unwrap().parse().unwrap();
    let (store, sync) = client(&path, &server);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for n in start.. {
        store
            .add_vehicle(NewVehicle {
                plate: plate(n),
                ..Default::default()
            })
            .unwrap();
        child::ack(n);
        if n % 3 == 0 {
            let _ = runtime.block_on(sync.sync());
        }
    }
}

#[tokio::test]
async fn sync_survives_sigkill() {
    let server = ReferenceServer::start(ServerConfig::default()).unwrap();
    let account = server.add_account("token-a");
    let (_dir, path) = temp_store_path();
    let path_str = path.to_string_lossy().into_owned();
    let seed = child::clock_seed();
    let mut rng = Rng::new(seed);
    let mut acknowledged = BTreeSet::new();
    let started = Instant::now();
    for round in 0..KILLS {
        let run = ChildCommand::new("sync_crash_child_process")
            .env(STORE_ENV, &path_str)
            .env(SERVER_ENV, server.base_url())
            .env(START_ENV, u64::from(round) * 200)
            .run(KillAt::Delay(rng.millis(40, 239)));
        run.expect_killed(&format!("round {round} (seed {seed})"));
        acknowledged.extend(run.acks().map(|n| n.parse::<u64>().expect("ACK n")));
    }

    // Reopen, sync to the end, compare.
    let (store, sync) = client(&path_str, &server.base_url());
    for _ in 0..5 {
        if sync.sync().await.unwrap().pending == 0 {
            break;
        }
    }
    let local: BTreeSet<String> = store
        .list_vehicles()
        .unwrap()
        .into_iter()
        .map(|v| v.plate.canonical)
        .collect();
    for n in &acknowledged {
        assert!(local.contains(&plate(*n)), "acknowledged vehicle {n} lost");
    }
    let remote: BTreeSet<String> = server
        .records(&account)
        .into_iter()
        .filter(|r| r.entity == "vehicle" && !r.deleted)
        .filter_map(|r| r.fields.get("plate").cloned().flatten())
        .collect();
    assert_eq!(local, remote, "client and server equal");
    assert_eq!(
        server.stats().changes_applied as usize,
        local.len(),
        "each creation applied exactly once"
    );
    assert!(
        acknowledged.len() > KILLS as usize,
        "the child made progress"
    );
    eprintln!(
        "{KILLS} kills during sync, {} acknowledged vehicles, {} applied once each, {:.1} s",
        acknowledged.len(),
        local.len(),
        started.elapsed().as_secs_f64()
    );
}
