//! Encrypted store against a plain rusqlite table of the same shape, in one run.
//!
//! Both sides use the same file settings (WAL, `synchronous=FULL`, `secure_delete`) and
//! build the same `Vehicle` records. The plain side is the floor: every field in a clear
//! TEXT column (the plate's canonical and display forms, format and region too, so a read
//! parses nothing), the typed plate parsed once per lookup or insert. Operations: insert,
//! lookup by plate, update, list of 1,000 vehicles, each timed twice: wall time (groups
//! `insert`, ...) and the benchmark thread's CPU time (groups `cpu_insert`, ...; writes
//! wait for an fsync, which wall time counts and CPU time does not). `python3
//! benches/ratios.py` prints the ratios from the results; they are recorded in
//! docs/performance.md.
//!
//! Instruction counts: with `APARKING_BENCH_REPEAT="<operation> <count>"` (operations
//! `lookup`, `list`, `insert`, `update`, each with `_encrypted` or `_plain`) the binary
//! builds the two 1,000-vehicle stores, runs that operation `count` times and exits, for
//! `valgrind --tool=callgrind`; `bash benches/instructions.sh` runs each with 0 and with
//! `count` and prints the instructions per operation.

use aparking_core::formats::{parse_plate, PlateFormat, PlateNumber};
use aparking_core::{
    Durability, InMemoryKeyProvider, NewVehicle, Store, StoreOptions, Vehicle, VehiclePatch,
};
use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{BatchSize, Criterion, Throughput};
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
                plate_display TEXT NOT NULL, plate_format TEXT NOT NULL,
                plate_region TEXT NOT NULL, nickname TEXT, make TEXT, model TEXT, colour TEXT, registration_certificate TEXT,
                created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
             CREATE INDEX vehicles_by_created ON vehicles (created_at);",
        )
        .unwrap();
        PlainStore { conn }
    }

    fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Vehicle> {
        let format = match r.get_ref(3)?.as_str()? {
            "current" => PlateFormat::Current,
            "current_legal_entity" => PlateFormat::CurrentLegalEntity,
            "current_foreign" => PlateFormat::CurrentForeign,
            _ => PlateFormat::Legacy,
        };
        Ok(Vehicle {
            id: r.get(0)?,
            plate: PlateNumber {
                canonical: r.get(1)?,
                display: r.get(2)?,
                format,
                region: r.get(4)?,
            },
            nickname: r.get(5)?,
            make: r.get(6)?,
            model: r.get(7)?,
            colour: r.get(8)?,
            registration_certificate_number: r.get(9)?,
            created_at: time_of(r.get(10)?),
            updated_at: time_of(r.get(11)?),
        })
    }

    fn write(&mut self, v: &Vehicle, insert: bool) {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        let sql = if insert {
            "INSERT INTO vehicles VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
        } else {
            "UPDATE vehicles SET plate = ?2, plate_display = ?3, plate_format = ?4,
                plate_region = ?5, nickname = ?6, make = ?7, model = ?8, colour = ?9,
                registration_certificate = ?10, created_at = ?11, updated_at = ?12 WHERE id = ?1"
        };
        let format = match v.plate.format {
            PlateFormat::Current => "current",
            PlateFormat::CurrentLegalEntity => "current_legal_entity",
            PlateFormat::CurrentForeign => "current_foreign",
            PlateFormat::Legacy => "legacy",
        };
        tx.prepare_cached(sql)
            .unwrap()
            .execute(params![
                v.id,
                v.plate.canonical,
                v.plate.display,
                format,
                v.plate.region,
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

/// The benchmark thread's CPU time (user and system), from `CLOCK_THREAD_CPUTIME_ID`: what
/// an operation costs the processor, without the time it waits for an fsync.
struct ThreadCpuTime;

#[repr(C)]
struct Timespec {
    tv_sec: i64,
    tv_nsec: i64,
}

extern "C" {
    fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
}

#[cfg(target_os = "linux")]
const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
#[cfg(target_vendor = "apple")]
const CLOCK_THREAD_CPUTIME_ID: i32 = 16;

fn thread_cpu_nanos() -> u64 {
    let mut ts = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is the platform's own.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_nanos()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_nanos().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuNanos
    }
}

/// Formats CPU nanoseconds the way criterion formats wall time.
struct CpuNanos;

impl ValueFormatter for CpuNanos {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = if typical < 1e3 {
            (1.0, "ns cpu")
        } else if typical < 1e6 {
            (1e-3, "us cpu")
        } else {
            (1e-6, "ms cpu")
        };
        values.iter_mut().for_each(|v| *v *= factor);
        unit
    }
    fn scale_throughputs(&self, _: f64, _: &Throughput, values: &mut [f64]) -> &'static str {
        values.iter_mut().for_each(|v| *v = 0.0);
        "n/a"
    }
    fn scale_for_machines(&self, _: &mut [f64]) -> &'static str {
        "ns"
    }
}

/// The stores every group works on: two of 1,000 vehicles each (lookups, updates, lists)
/// and two that only grow (inserts), so the list stays at 1,000.
struct Fixtures {
    _dir: tempfile::TempDir,
    encrypted: Arc<Store>,
    plain: PlainStore,
    ids_encrypted: Vec<String>,
    ids_plain: Vec<String>,
    /// The plates as a user types them, made before the timed region.
    plates: Vec<String>,
    insert_encrypted: Arc<Store>,
    insert_plain: PlainStore,
    inserted: u64,
    next: usize,
    updates: u64,
}

impl Fixtures {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let open = |name: &str| {
            Store::open(
                dir.path().join(name).to_string_lossy().into_owned(),
                Arc::new(InMemoryKeyProvider::random()),
            )
            .unwrap()
        };
        let encrypted = open("encrypted.db");
        let mut plain = PlainStore::open(&dir.path().join("plain.db"));
        let mut ids_encrypted = Vec::new();
        let mut ids_plain = Vec::new();
        for n in 0..LIST_SIZE {
            ids_encrypted.push(encrypted.add_vehicle(new_vehicle(n)).unwrap().id);
            ids_plain.push(plain.add(new_vehicle(n)).id);
        }
        Fixtures {
            insert_encrypted: open("insert-encrypted.db"),
            insert_plain: PlainStore::open(&dir.path().join("insert-plain.db")),
            _dir: dir,
            encrypted,
            plain,
            ids_encrypted,
            ids_plain,
            plates: (0..LIST_SIZE).map(plate).collect(),
            inserted: LIST_SIZE,
            next: 0,
            updates: 0,
        }
    }

    /// A vehicle index that walks the 1,000 in a fixed stride.
    fn step(&mut self) -> usize {
        self.next = (self.next + 7) % LIST_SIZE as usize;
        self.next
    }

    fn lookup_encrypted(&mut self) -> Vehicle {
        let i = self.step();
        self.encrypted
            .find_vehicle_by_plate(self.plates[i].clone())
            .unwrap()
            .unwrap()
    }

    fn lookup_plain(&mut self) -> Vehicle {
        let i = self.step();
        self.plain.find_by_plate(&self.plates[i]).unwrap()
    }

    /// The nickname the next update sets: each round over the 1,000 vehicles sets the other
    /// of two, so that every update changes a value (and the store remembers the old one).
    fn next_nickname(&mut self) -> &'static str {
        self.updates += 1;
        if (self.updates / LIST_SIZE) % 2 == 0 {
            "Work car"
        } else {
            "Family car"
        }
    }

    fn update_encrypted(&mut self) -> Vehicle {
        let i = self.step();
        let patch = VehiclePatch {
            nickname: Some(self.next_nickname().into()),
            ..Default::default()
        };
        self.encrypted
            .update_vehicle(self.ids_encrypted[i].clone(), patch)
            .unwrap()
    }

    fn update_plain(&mut self) -> Vehicle {
        let i = self.step();
        let id = self.ids_plain[i].clone();
        let nickname = self.next_nickname();
        self.plain.update_nickname(&id, nickname)
    }

    fn next_new_vehicle(&mut self) -> NewVehicle {
        self.inserted += 1;
        new_vehicle(self.inserted)
    }

    /// Runs `op` `count` times (the instruction-count mode).
    fn repeat(&mut self, op: &str, count: u64) {
        for _ in 0..count {
            match op {
                "lookup_encrypted" => drop(black_box(self.lookup_encrypted())),
                "lookup_plain" => drop(black_box(self.lookup_plain())),
                "list_encrypted" => drop(black_box(self.encrypted.list_vehicles().unwrap())),
                "list_plain" => drop(black_box(self.plain.list())),
                "update_encrypted" => drop(black_box(self.update_encrypted())),
                "update_plain" => drop(black_box(self.update_plain())),
                "insert_encrypted" => {
                    let v = self.next_new_vehicle();
                    drop(black_box(self.insert_encrypted.add_vehicle(v).unwrap()))
                }
                "insert_plain" => {
                    let v = self.next_new_vehicle();
                    drop(black_box(self.insert_plain.add(v)))
                }
                other => panic!("unknown operation {other}"),
            }
        }
    }
}

/// Insert, lookup by plate, update and list of 1,000, encrypted against plain; group names
/// start with `prefix` (`""` for wall time, `"cpu_"` for CPU time).
fn bench_operations<M: Measurement>(c: &mut Criterion<M>, prefix: &str, f: &mut Fixtures) {
    let mut g = c.benchmark_group(format!("{prefix}insert"));
    let inserted = std::cell::Cell::new(f.inserted);
    let next = || {
        inserted.set(inserted.get() + 1);
        new_vehicle(inserted.get())
    };
    let store = &f.insert_encrypted;
    g.bench_function("encrypted", |b| {
        b.iter_batched(
            next,
            |v| store.add_vehicle(v).unwrap(),
            BatchSize::SmallInput,
        )
    });
    let plain = &mut f.insert_plain;
    g.bench_function("plain", |b| {
        b.iter_batched(next, |v| plain.add(v), BatchSize::SmallInput)
    });
    f.inserted = inserted.get();
    g.finish();

    let mut g = c.benchmark_group(format!("{prefix}lookup_by_plate"));
    g.bench_function("encrypted", |b| b.iter(|| black_box(f.lookup_encrypted())));
    g.bench_function("plain", |b| b.iter(|| black_box(f.lookup_plain())));
    g.finish();

    let mut g = c.benchmark_group(format!("{prefix}update"));
    g.bench_function("encrypted", |b| b.iter(|| black_box(f.update_encrypted())));
    g.bench_function("plain", |b| b.iter(|| black_box(f.update_plain())));
    g.finish();

    let mut g = c.benchmark_group(format!("{prefix}list_1000"));
    g.bench_function("encrypted", |b| {
        b.iter(|| black_box(f.encrypted.list_vehicles().unwrap()))
    });
    g.bench_function("plain", |b| b.iter(|| black_box(f.plain.list())));
    g.finish();
}

/// The same writes at `Durability::Normal` (WAL synced at checkpoints only), on stores of
/// the same shape: inserts into a store of their own, updates of 1,000 vehicles.
fn bench_durability_normal(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
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
    let mut updates = 0u64;
    g.bench_function("update", |b| {
        b.iter(|| {
            i = (i + 7) % ids_normal.len();
            // As in `update`: every update changes the nickname.
            updates += 1;
            let nickname = if (updates / LIST_SIZE) % 2 == 0 {
                "Work car"
            } else {
                "Family car"
            };
            let patch = VehiclePatch {
                nickname: Some(nickname.into()),
                ..Default::default()
            };
            black_box(normal.update_vehicle(ids_normal[i].clone(), patch).unwrap())
        })
    });
    g.finish();
}

/// The store calls that touch every record, on a store of 1,000 vehicles, in wall time (the
/// time the calling thread is blocked): the export, a data-key rotation (every row
/// re-encrypted) and the erasure (every row deleted, the data key replaced, the freed pages
/// zeroed; each sample on a store filled again, outside the timed region).
fn bench_account_operations(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let filled = |name: &str| {
        let store = Store::open(
            dir.path().join(name).to_string_lossy().into_owned(),
            Arc::new(InMemoryKeyProvider::random()),
        )
        .unwrap();
        for n in 0..LIST_SIZE {
            store.add_vehicle(new_vehicle(n)).unwrap();
        }
        store
    };
    let store = filled("account.db");
    let mut g = c.benchmark_group("account_1000");
    g.sample_size(10);
    g.bench_function("export_user_data", |b| {
        b.iter(|| black_box(store.export_user_data().unwrap()))
    });
    g.bench_function("rotate_data_key", |b| {
        b.iter(|| store.rotate_data_key().unwrap())
    });
    let mut round = 0u32;
    g.bench_function("delete_all_user_data", |b| {
        b.iter_batched(
            || {
                round += 1;
                filled(&format!("erase-{round}.db"))
            },
            |s| {
                s.delete_all_user_data().unwrap();
                s
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn configured<M: Measurement>(c: Criterion<M>) -> Criterion<M> {
    c.sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args()
}

fn main() {
    if let Ok(spec) = std::env::var("APARKING_BENCH_REPEAT") {
        let (op, count) = spec
            .split_once(' ')
            .expect("APARKING_BENCH_REPEAT is \"<operation> <count>\"");
        Fixtures::new().repeat(op, count.parse().expect("a count"));
        return;
    }
    let mut fixtures = Fixtures::new();
    let mut wall = configured(Criterion::default());
    bench_operations(&mut wall, "", &mut fixtures);
    bench_durability_normal(&mut wall);
    bench_account_operations(&mut wall);
    let mut cpu = configured(Criterion::default().with_measurement(ThreadCpuTime));
    bench_operations(&mut cpu, "cpu_", &mut fixtures);
    cpu.final_summary();
    wall.final_summary();
}
