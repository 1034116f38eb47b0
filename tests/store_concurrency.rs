//! One `Store` shared by many threads.

mod common;

use aparking_core::NewVehicle;
use common::*;
use std::sync::Arc;

#[test]
fn eight_threads_share_one_store() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    const THREADS: u32 = 8;
    const PER_THREAD: u32 = 25;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let plate = format!("{:03}ABC{:02}", t * PER_THREAD + i, t % 20 + 1);
                    let v = store
                        .add_vehicle(NewVehicle {
                            plate: plate.clone(),
                            ..Default::default()
                        })
                        .unwrap();
                    assert_eq!(
                        store.find_vehicle_by_plate(plate).unwrap().unwrap().id,
                        v.id
                    );
                    store.list_vehicles().unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("no thread panicked");
    }
    assert_eq!(
        store.list_vehicles().unwrap().len(),
        (THREADS * PER_THREAD) as usize
    );
}
