//! No echo (issue #16, point 7): the pull that follows a push does not download the changes
//! that push just made; the push answers already put them in the mirror. Only the changes of
//! the same sync run are left out, so a store restored from an old copy still gets back what
//! it pushed after the copy was made.

mod common;

use aparking_core::{NewVehicle, VehiclePatch};
use common::sync::*;
use common::*;

#[tokio::test]
async fn the_pull_after_a_push_does_not_download_the_devices_own_changes() {
    let (server, account) = server_with_account("token-e");
    let (_da, a_path) = temp_store_path();
    let a_store = open(&a_path, &key(1));
    for i in 0..600u32 {
        a_store
            .add_vehicle(NewVehicle {
                plate: format!("{:03}ABC{:02}", i % 1000, i / 1000 % 20 + 1),
                ..Default::default()
            })
            .unwrap();
    }
    let a = sync_client(&a_store, &server, "token-e");
    let summary = a.sync().await.unwrap();
    assert_eq!((summary.pushed, summary.pending), (600, 0));
    assert_eq!(server.records(&account).len(), 600);
    assert_eq!(
        server.stats().records_pulled,
        0,
        "the pull after the push sent none of the 600 back"
    );

    // Another device of the account gets them all.
    let (_db, b_path) = temp_store_path();
    let b_store = open(&b_path, &key(2));
    let b = sync_client(&b_store, &server, "token-e");
    assert_eq!(b.sync().await.unwrap().pulled, 600);
    assert_eq!(server.stats().records_pulled, 600);
    assert_eq!(b_store.list_vehicles().unwrap().len(), 600);

    // A's next sync: nothing new. Then B edits one vehicle: A gets exactly that one, and
    // the edit's own pull on B does not echo it.
    assert_eq!(a.sync().await.unwrap().pulled, 0);
    let id = b_store.list_vehicles().unwrap()[0].id.clone();
    b_store
        .update_vehicle(
            id.clone(),
            VehiclePatch {
                colour: Some("white".into()),
                ..Default::default()
            },
        )
        .unwrap();
    b.sync().await.unwrap();
    assert_eq!(
        server.stats().records_pulled,
        600,
        "B's edit was not echoed to B"
    );
    assert_eq!(a.sync().await.unwrap().pulled, 1);
    assert_eq!(server.stats().records_pulled, 601);
    assert_eq!(
        a_store.get_vehicle(id).unwrap().unwrap().colour.as_deref(),
        Some("white")
    );
}

#[tokio::test]
async fn a_store_restored_from_an_old_copy_gets_back_what_it_pushed_after_the_copy() {
    let (server, _account) = server_with_account("token-r");
    let (dir, path) = temp_store_path();
    let backup = dir.path().join("backup");
    std::fs::create_dir(&backup).unwrap();
    let id = {
        let store = open(&path, &key(3));
        let v = add_plate(&store, "123ABC02");
        sync_client(&store, &server, "token-r")
            .sync()
            .await
            .unwrap();
        store.close().unwrap();
        v.id
    };
    // The copy (as an OS backup would take it), then an edit pushed after it.
    let copy_files = |from: &std::path::Path, to: &std::path::Path| {
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
            }
        }
    };
    copy_files(dir.path(), &backup);
    {
        let store = open(&path, &key(3));
        store
            .update_vehicle(
                id.clone(),
                VehiclePatch {
                    colour: Some("red".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        let summary = sync_client(&store, &server, "token-r")
            .sync()
            .await
            .unwrap();
        assert_eq!(summary.pushed, 1);
        store.close().unwrap();
    }
    // Restore the old copy over the store: same installation, old cursor and mirror.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::remove_file(entry.path()).unwrap();
        }
    }
    copy_files(&backup, dir.path());
    let store = open(&path, &key(3));
    assert_eq!(store.get_vehicle(id.clone()).unwrap().unwrap().colour, None);
    let summary = sync_client(&store, &server, "token-r")
        .sync()
        .await
        .unwrap();
    assert_eq!(
        summary.pulled, 1,
        "its own later edit comes back: {summary:?}"
    );
    assert_eq!(
        store.get_vehicle(id).unwrap().unwrap().colour.as_deref(),
        Some("red")
    );
}
