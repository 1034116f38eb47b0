//! Log forwarding: records reach the host's sink, filtered by level before they are
//! formatted; other crates' records are not forwarded; no personal data in any message.
//! (One test function: the logger is global to the process.)

mod common;

use aparking_core::{set_log_sink, LogLevel, LogRecord, LogSink, ProfilePatch};
use common::*;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Collect(Mutex<Vec<LogRecord>>);

impl LogSink for Collect {
    fn log(&self, record: LogRecord) {
        self.0.lock().unwrap().push(record);
    }
}

impl Collect {
    fn take(&self) -> Vec<LogRecord> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

#[test]
fn records_arrive_filtered_by_level_and_free_of_personal_data() {
    let sink = Arc::new(Collect::default());
    assert!(set_log_sink(Some(sink.clone()), LogLevel::Info));

    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    store
        .update_profile(ProfilePatch {
            phone: Some(Sample::PHONE.into()),
            full_name: Some(Sample::FULL_NAME.into()),
            ..Default::default()
        })
        .unwrap();
    add_plate(&store, "123 ABC 02");
    store.rotate_data_key().unwrap();
    log::debug!(target: "aparking_core::test", "debug detail");
    log::info!(target: "hyper::client", "a dependency's record");

    let records = sink.take();
    let messages: Vec<&str> = records.iter().map(|r| r.message.as_str()).collect();
    assert!(
        messages.iter().any(|m| m.contains("created a new store")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("data key rotated")),
        "{messages:?}"
    );
    assert!(
        records.iter().all(|r| r.level <= LogLevel::Info),
        "debug filtered out"
    );
    assert!(
        records
            .iter()
            .all(|r| r.target.starts_with("aparking_core")),
        "only the SDK's records"
    );
    for r in &records {
        for value in [
            "123ABC02",
            "123 ABC 02",
            "77012345678",
            "Айгерим",
            "Сапарова",
        ] {
            assert!(!r.message.contains(value), "personal data in a log record");
        }
    }

    // A stricter level applies at once; None stops forwarding.
    assert!(set_log_sink(Some(sink.clone()), LogLevel::Warn));
    store.rotate_data_key().unwrap();
    assert!(sink.take().is_empty(), "info records no longer arrive");
    assert!(set_log_sink(None, LogLevel::Trace));
    assert_eq!(log::max_level(), log::LevelFilter::Off);
}
