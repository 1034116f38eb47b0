//! Encrypted store against a plain rusqlite table of the same shape, in one run.
//!
//! Both sides use the same file settings (WAL, `synchronous=FULL`, `secure_delete`), the
//! same plate parsing and build the same `Vehicle` records; the only difference is the
//! encryption (sealing, opening, blind index). Operations: insert, lookup by plate,
//! update, list of 1,000 vehicles. `python3 benches/ratios.py` prints the ratios from
//! the results; they are recorded in docs/performance.md.

use aparking_core::formats::parse_plate;
use aparking_core::{
    Durability, InMemoryKeyProvider, NewVehicle, Store, StoreOptions, Vehicle, VehiclePatch,
};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const LIST_SIZE: u64 = 1_000;

/// The n-th unique plate.
fn plate(n: u64) -> String {
    let mut letters = n / 1000;
    let mut l = String::new();
    for _ in 0..3 {
        l.push((b'A' + (letters % 26) as u8) as char);
        letters /= 26;
    }
    format!("{:03} {} {:02}", n % 1000, l, n % 20 + 1)
}

fn new_vehicle(n: u64) -> NewVehicle {
    NewVehicle {
        plate: plate(n),
        nickname: Some("Семейная машина".into()),
        make: Some("Toyota".into()),
        model: Some("Camry".into()),
        colour: Some("white".into()),
        registration_certificate_number: None,
    }
}

/// The baseline: the same table without encryption.
struct PlainStore {
    conn: Connection,
}

fn millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn time_of(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms as u64)
}

impl PlainStore {
    fn open(path: &std::path::Path) -> Self {
        let conn = Connection::open(path).unwrap();
        conn.pragma_update(None, "secure_delete", "ON").unwrap();
        conn.pragma_update(None, "temp_store", "MEMORY").unwrap();
        conn.pragma_update(None, "synchronous", "FULL").unwrap();
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))
            .unwrap();
        conn.execute_batch(
            "CREATE TABLE vehicles (id TEXT PRIMARY KEY, plate TEXT NOT NULL UNIQUE,
                nickname TEXT, make TEXT, model TEXT, colour TEXT, registration_certificate TEXT,
                created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
             CREATE INDEX vehicles_by_created ON vehicles (created_at);",
        )
        .unwrap();
        PlainStore { conn }
    }

    fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Vehicle> {
        let plate: String = r.get(1)?;
        Ok(Vehicle {
            id: r.get(0)?,
            plate: parse_plate(plate).expect("stored plates are valid"),
            nickname: r.get(2)?,
            make: r.get(3)?,
            model: r.get(4)?,
            colour: r.get(5)?,
            registration_certificate_number: r.get(6)?,
            created_at: time_of(r.get(7)?),
            updated_at: time_of(r.get(8)?),
        })
    }

    fn write(&mut self, v: &Vehicle, insert: bool) {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        let sql = if insert {
            "INSERT INTO vehicles VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        } else {
            "UPDATE vehicles SET plate = ?2, nickname = ?3, make = ?4, model = ?5, colour = ?6,
                registration_certificate = ?7, created_at = ?8, updated_at = ?9 WHERE id = ?1"
        };
        tx.prepare_cached(sql)
            .unwrap()
            .execute(params![
                v.id,
                v.plate.canonical,
                v.nickname,
                v.make,
                v.model,
                v.colour,
                v.registration_certificate_number,
                millis(),
                millis()
            ])
            .unwrap();
        tx.commit().unwrap();
    }

    fn add(&mut self, input: NewVehicle) -> Vehicle {
        let now = time_of(millis());
        let v = Vehicle {
            id: uuid::Uuid::new_v4().to_string(),
            plate: parse_plate(input.plate).unwrap(),
            nickname: input.nickname,
            make: input.make,
            model: input.model,
            colour: input.colour,
            registration_certificate_number: input.registration_certificate_number,
            created_at: now,
            updated_at: now,
        };
        self.write(&v, true);
        v
    }

    fn get(&self, id: &str) -> Option<Vehicle> {
        self.conn
            .prepare_cached("SELECT * FROM vehicles WHERE id = ?1")
            .unwrap()
            .query_row([id], Self::row)
            .optional()
            .unwrap()
    }

    fn find_by_plate(&self, typed: &str) -> Option<Vehicle> {
        let p = parse_plate(typed.to_string()).unwrap();
        self.conn
            .prepare_cached("SELECT * FROM vehicles WHERE plate = ?1")
            .unwrap()
            .query_row([p.canonical], Self::row)
            .optional()
            .unwrap()
    }

    fn update_nickname(&mut self, id: &str, nickname: &str) -> Vehicle {
        let mut v = self.get(id).unwrap();
        v.nickname = Some(nickname.to_string());
        self.write(&v, false);
        v
    }

    fn list(&self) -> Vec<Vehicle> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT * FROM vehicles ORDER BY created_at, rowid")
            .unwrap();
        let rows = stmt.query_map([], Self::row).unwrap();
        rows.map(Result::unwrap).collect()
    }
}

fn bench_store(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let encrypted = Store::open(
        dir.path()
            .join("encrypted.db")
            .to_string_lossy()
            .into_owned(),
        Arc::new(InMemoryKeyProvider::random()),
    )
    .unwrap();
    let mut plain = PlainStore::open(&dir.path().join("plain.db"));
    let mut ids_encrypted = Vec::new();
    let mut ids_plain = Vec::new();
    for n in 0..LIST_SIZE {
        ids_encrypted.push(encrypted.add_vehicle(new_vehicle(n)).unwrap().id);
        ids_plain.push(plain.add(new_vehicle(n)).id);
    }
    // Later inserts go to other stores so that the list stays at 1,000 vehicles.
    let insert_encrypted = Store::open(
        dir.path()
            .join("insert-encrypted.db")
            .to_string_lossy()
            .into_owned(),
        Arc::new(InMemoryKeyProvider::random()),
    )
    .unwrap();
    let mut insert_plain = PlainStore::open(&dir.path().join("insert-plain.db"));

    let mut g = c.benchmark_group("insert");
    let mut n = 0u64;
    g.bench_function("encrypted", |b| {
        b.iter_batched(
            || {
                n += 1;
                new_vehicle(n)
            },
            |v| insert_encrypted.add_vehicle(v).unwrap(),
            BatchSize::SmallInput,
        )
    });
    let mut n = 0u64;
    g.bench_function("plain", |b| {
        b.iter_batched(
            || {
                n += 1;
                new_vehicle(n)
            },
            |v| insert_plain.add(v),
            BatchSize::SmallInput,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("lookup_by_plate");
    let mut i = 0u64;
    g.bench_function("encrypted", |b| {
        b.iter(|| {
            i = (i + 7) % LIST_SIZE;
            black_box(encrypted.find_vehicle_by_plate(plate(i)).unwrap().unwrap())
        })
    });
    let mut i = 0u64;
    g.bench_function("plain", |b| {
        b.iter(|| {
            i = (i + 7) % LIST_SIZE;
            black_box(plain.find_by_plate(&plate(i)).unwrap())
        })
    });
    g.finish();

    let mut g = c.benchmark_group("update");
    let mut i = 0usize;
    g.bench_function("encrypted", |b| {
        b.iter(|| {
            i = (i + 7) % ids_encrypted.len();
            let patch = VehiclePatch {
                nickname: Some("Work car".into()),
                ..Default::default()
            };
            black_box(
                encrypted
                    .update_vehicle(ids_encrypted[i].clone(), patch)
                    .unwrap(),
            )
        })
    });
    let mut i = 0usize;
    g.bench_function("plain", |b| {
        b.iter(|| {
            i = (i + 7) % ids_plain.len();
            black_box(plain.update_nickname(&ids_plain[i], "Work car"))
        })
    });
    g.finish();

    // The same writes at `Durability::Normal` (WAL synced at checkpoints only), on stores
    // of the same shape: inserts into a store of their own, updates of 1,000 vehicles.
    let open_normal = |name: &str| {
        Store::open_with_options(
            dir.path().join(name).to_string_lossy().into_owned(),
            Arc::new(InMemoryKeyProvider::random()),
            StoreOptions {
                durability: Some(Durability::Normal),
                ..StoreOptions::default()
            },
        )
        .unwrap()
    };
    let normal = open_normal("normal.db");
    let insert_normal = open_normal("insert-normal.db");
    let ids_normal: Vec<String> = (0..LIST_SIZE)
        .map(|n| normal.add_vehicle(new_vehicle(n)).unwrap().id)
        .collect();
    let mut g = c.benchmark_group("durability_normal");
    let mut n = 0u64;
    g.bench_function("insert", |b| {
        b.iter_batched(
            || {
                n += 1;
                new_vehicle(n)
            },
            |v| insert_normal.add_vehicle(v).unwrap(),
            BatchSize::SmallInput,
        )
    });
    let mut i = 0usize;
    g.bench_function("update", |b| {
        b.iter(|| {
            i = (i + 7) % ids_normal.len();
            let patch = VehiclePatch {
                nickname: Some("Work car".into()),
                ..Default::default()
            };
            black_box(normal.update_vehicle(ids_normal[i].clone(), patch).unwrap())
        })
    });
    g.finish();

    let mut g = c.benchmark_group("list_1000");
    g.bench_function("encrypted", |b| {
        b.iter(|| black_box(encrypted.list_vehicles().unwrap()))
    });
    g.bench_function("plain", |b| b.iter(|| black_box(plain.list())));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = bench_store
}
criterion_main!(benches);
