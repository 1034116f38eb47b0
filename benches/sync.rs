//! Sync on loopback against the reference backend: push 10,000 pending changes, and pull
//! 10,000 records into an empty store. Target: at most 2 s each, at most one request per
//! 500 changes. Request counts come from the server's counters; bytes per change from
//! the gzip size of a batch in the wire format. Figures go to docs/performance.md.

use aparking_core::{
    AuthProvider, AuthProviderError, InMemoryKeyProvider, NewVehicle, Store, SyncClient, SyncConfig,
};
use aparking_server::{ReferenceServer, ServerConfig};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

const CHANGES: u32 = 10_000;

struct Token(String);

impl AuthProvider for Token {
    fn bearer_token(&self, _refresh: bool) -> Result<String, AuthProviderError> {
        Ok(self.0.clone())
    }
}

fn plate(n: u32) -> String {
    format!(
        "{:03}{}{:02}",
        n % 1000,
        ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG", "HHH", "JJJ", "KKK"]
            [(n / 1000 % 10) as usize],
        n / 10_000 % 20 + 1
    )
}

fn device(
    dir: &tempfile::TempDir,
    name: &str,
    server: &ReferenceServer,
    token: &str,
) -> (Arc<Store>, Arc<SyncClient>) {
    let store = Store::open(
        dir.path().join(name).to_string_lossy().into_owned(),
        Arc::new(InMemoryKeyProvider::random()),
    )
    .unwrap();
    let sync = SyncClient::new(
        Arc::clone(&store),
        SyncConfig::new(server.base_url()),
        Arc::new(Token(token.into())),
    )
    .unwrap();
    (store, sync)
}

fn fill(store: &Store) {
    for n in 0..CHANGES {
        store
            .add_vehicle(NewVehicle {
                plate: plate(n),
                make: Some("Toyota".into()),
                model: Some("Camry".into()),
                ..Default::default()
            })
            .unwrap();
    }
}

/// Gzip bytes per change of a 500-change push batch in the wire format, compressed as the
/// client does (the fastest level).
fn bytes_per_change() -> f64 {
    let changes: Vec<_> = (0..500)
        .map(|n| {
            serde_json::json!({
                "change_id": uuid::Uuid::new_v4().to_string(), "entity": "vehicle",
                "record_id": uuid::Uuid::new_v4().to_string(), "op": "upsert", "base_version": null,
                "fields": {"plate": plate(n), "nickname": null, "make": "Toyota", "model": "Camry", "colour": null, "registration_certificate_number": null},
            })
        })
        .collect();
    let body = serde_json::json!({"schema_version": 1, "client_id": uuid::Uuid::new_v4().to_string(), "changes": changes});
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(body.to_string().as_bytes()).unwrap();
    gz.finish().unwrap().len() as f64 / 500.0
}

fn bench_sync(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("sync_10000");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_millis(100));

    let mut round = 0;
    g.bench_function("push", |b| {
        b.iter_batched(
            || {
                round += 1;
                let server = ReferenceServer::start(ServerConfig::default()).unwrap();
                server.add_account("token");
                let (store, sync) = device(&dir, &format!("push-{round}.db"), &server, "token");
                fill(&store);
                (server, store, sync)
            },
            |(server, _store, sync)| {
                let summary = runtime.block_on(sync.sync()).unwrap();
                assert_eq!(summary.pushed, i64::from(CHANGES));
                server
            },
            BatchSize::PerIteration,
        )
    });

    // One server holding 10,000 records; every iteration pulls them into a new store.
    let server = ReferenceServer::start(ServerConfig::default()).unwrap();
    server.add_account("token");
    let (source, sync) = device(&dir, "source.db", &server, "token");
    fill(&source);
    runtime.block_on(sync.sync()).unwrap();
    let pushes = server.stats().push_requests;
    g.bench_function("pull", |b| {
        b.iter_batched(
            || {
                round += 1;
                device(&dir, &format!("pull-{round}.db"), &server, "token")
            },
            |(store, sync)| {
                let summary = runtime.block_on(sync.sync()).unwrap();
                assert_eq!(summary.pulled, i64::from(CHANGES));
                store
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
    let pulls_before = server.stats().pull_requests;
    let (_, probe) = device(&dir, "probe.db", &server, "token");
    runtime.block_on(probe.sync()).unwrap();
    let pulls = server.stats().pull_requests - pulls_before;
    println!(
        "sync_10000: push {} requests ({:.0} changes each), pull {} requests ({:.0} records each), {:.0} gzip bytes per pushed change",
        pushes,
        f64::from(CHANGES) / pushes as f64,
        pulls,
        f64::from(CHANGES) / pulls as f64,
        bytes_per_change()
    );
}

criterion_group!(benches, bench_sync);
criterion_main!(benches);
