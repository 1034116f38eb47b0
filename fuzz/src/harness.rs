//! What the fuzz targets (`fuzz/fuzz_targets/*.rs`) and the property tests
//! (`tests/properties_decoders.rs`) drive: the SDK's parsers and decoders through its
//! public API, with the invariants each must keep. One file, compiled into both (the tests
//! include it with `#[path]`), so a property test and a fuzz target run the same code.
//!
//! Sync answers are decoded exactly as in production: a [`SyncClient`] syncs a real store
//! against [`FakeBackend`], a loopback HTTP server that serves the bytes under test. No
//! internal function of the crate is called, so no `fuzzing` feature is needed.
//!
//! Every entry point panics when an invariant breaks (a fuzzer crash, a failed property);
//! what it returns is for statistics only.
#![allow(dead_code)]

use aparking_core::consent::parse_policy_manifest;
use aparking_core::formats::{normalize_document_number, normalize_phone, parse_plate};
use aparking_core::{
    AparkingError, AuthProvider, AuthProviderError, CollectionMethod, Consent, ConsentContext,
    DocumentKind, InMemoryKeyProvider, KeyProvider, NewDocument, NewVehicle, PlateFormat,
    ProfilePatch, Purpose, Store, SyncClient, SyncConfig, SyncSummary, VehiclePatch,
};
use serde_json::{json, Value};
use std::collections::{BTreeSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

// ---------------------------------------------------------------------------------------
// Typed values: plates, document numbers, phones.

/// Errors of a parser must not depend on the input: every input it refuses gives the one
/// error it gives for the empty string. A message that echoed the value would differ.
fn fixed_error(probe: &AparkingError, err: &AparkingError, field: &str, input: &str) {
    assert!(
        matches!(err, AparkingError::InvalidInput { field: f, .. } if f == field),
        "{field}: not InvalidInput({field}): {err:?}"
    );
    assert_eq!(
        err, probe,
        "{field}: the error depends on the input {input:?}"
    );
}

fn probe<T: std::fmt::Debug>(
    slot: &'static OnceLock<AparkingError>,
    r: Result<T, AparkingError>,
) -> &'static AparkingError {
    slot.get_or_init(|| r.expect_err("the empty string is refused"))
}

/// Plate parser: a parsed plate's canonical and display forms parse back to the same
/// plate; the fields agree with the format; a refusal is the fixed error.
pub fn check_plate(input: &str) {
    static PROBE: OnceLock<AparkingError> = OnceLock::new();
    let probe = probe(&PROBE, parse_plate(String::new()));
    match parse_plate(input.to_string()) {
        Ok(p) => {
            let c = p.canonical.as_str();
            assert!(
                c.bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()),
                "canonical {c:?} is not [0-9A-Z]"
            );
            assert_eq!(
                p.display.replace(' ', ""),
                p.canonical,
                "display groups the canonical form"
            );
            match p.format {
                PlateFormat::Current => {
                    assert_eq!(c.len(), 8);
                    assert_eq!(p.region, c[6..8]);
                    let region: u8 = p.region.parse().expect("numeric region");
                    assert!((1..=20).contains(&region), "region {region}");
                }
                PlateFormat::CurrentLegalEntity => {
                    assert_eq!(c.len(), 7);
                    assert!(c.as_bytes()[0].is_ascii_digit(), "starts with digits");
                    assert_eq!(p.region, c[5..7]);
                    let region: u8 = p.region.parse().expect("numeric region");
                    assert!((1..=20).contains(&region), "region {region}");
                }
                PlateFormat::CurrentForeign => {
                    assert_eq!(c.len(), 7);
                    assert!(c.starts_with('F') || c.starts_with('H'), "F or H");
                    assert_eq!(p.region, c[5..7]);
                    let region: u8 = p.region.parse().expect("numeric region");
                    assert!((1..=20).contains(&region), "region {region}");
                }
                PlateFormat::Legacy => {
                    assert!(c.len() == 6 || c.len() == 7);
                    assert_eq!(p.region, c[0..1]);
                }
            }
            assert_eq!(
                parse_plate(p.canonical.clone()).as_ref(),
                Ok(&p),
                "canonical re-parses"
            );
            assert_eq!(
                parse_plate(p.display.clone()).as_ref(),
                Ok(&p),
                "display re-parses"
            );
            assert_eq!(
                parse_plate(p.display.to_lowercase()).as_ref(),
                Ok(&p),
                "case is folded"
            );
        }
        Err(e) => fixed_error(probe, &e, "plate", input),
    }
}

/// Document-number parser: 5-20 of [A-Z0-9], idempotent, the fixed error otherwise.
pub fn check_document_number(input: &str) {
    static PROBE: OnceLock<AparkingError> = OnceLock::new();
    let probe = probe(&PROBE, normalize_document_number(String::new()));
    match normalize_document_number(input.to_string()) {
        Ok(n) => {
            assert!((5..=20).contains(&n.len()), "length {}", n.len());
            assert!(
                n.bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()),
                "{n:?}"
            );
            assert_eq!(
                normalize_document_number(n.clone()).as_ref(),
                Ok(&n),
                "idempotent"
            );
            assert_eq!(
                normalize_document_number(n.to_lowercase()).as_ref(),
                Ok(&n),
                "case"
            );
        }
        Err(e) => fixed_error(probe, &e, "number", input),
    }
}

/// Phone parser: E.164 `+7` and 10 digits, the first 3-9; idempotent; the domestic `8`
/// form of the result folds to the same number; the fixed error otherwise.
pub fn check_phone(input: &str) {
    static PROBE: OnceLock<AparkingError> = OnceLock::new();
    let probe = probe(&PROBE, normalize_phone(String::new()));
    match normalize_phone(input.to_string()) {
        Ok(p) => {
            let national = p.strip_prefix("+7").expect("starts with +7");
            assert_eq!(national.len(), 10, "{p:?}");
            assert!(national.bytes().all(|b| b.is_ascii_digit()), "{p:?}");
            assert!(matches!(national.as_bytes()[0], b'3'..=b'9'), "{p:?}");
            assert_eq!(normalize_phone(p.clone()).as_ref(), Ok(&p), "idempotent");
            assert_eq!(
                normalize_phone(format!("8{national}")).as_ref(),
                Ok(&p),
                "8 form"
            );
        }
        Err(e) => fixed_error(probe, &e, "phone", input),
    }
}

// ---------------------------------------------------------------------------------------
// Policy manifests.

const SHA: &str = "abababababababababababababababababababababababababababababababab";

fn manifest_json(version: i64) -> String {
    json!({"version": version, "last_updated": "2026-01-15", "url": "https://aparking.kz/privacy",
        "text_sha256": SHA, "purposes": ["statistics", "connection_diagnostics",
        "personalization", "communication", "service_improvement"]})
    .to_string()
}

/// Every message the manifest parser can give, collected by probing it with one broken
/// manifest per check. A message outside this set is new: it must be reviewed (does it
/// echo the value?) and given a probe here.
fn manifest_errors() -> &'static Vec<AparkingError> {
    static ERRORS: OnceLock<Vec<AparkingError>> = OnceLock::new();
    ERRORS.get_or_init(|| {
        let good: Value = serde_json::from_str(&manifest_json(3)).unwrap();
        let broken = |key: &str, v: Value| {
            let mut m = good.clone();
            m[key] = v;
            m.to_string()
        };
        let probes = [
            String::new(),
            broken("version", json!(0)),
            broken("last_updated", json!("15.01.2026")),
            broken("url", json!("http://aparking.kz")),
            broken("text_sha256", json!("AB")),
            broken("purposes", json!([])),
            broken("purposes", json!(["statistics", "statistics"])),
        ];
        let mut errors: Vec<AparkingError> = Vec::new();
        for p in probes {
            let e = parse_policy_manifest(p).expect_err("a broken manifest is refused");
            if !errors.contains(&e) {
                errors.push(e);
            }
        }
        errors
    })
}

/// Policy manifest as bundled with the app (`parse_policy_manifest`): an accepted manifest
/// is valid and survives a JSON round trip; a refused one gets one of the fixed messages.
/// Returns the manifest's version when accepted.
pub fn check_policy_manifest(input: &str) -> Option<i64> {
    match parse_policy_manifest(input.to_string()) {
        Ok(m) => {
            assert!(m.version >= 1, "version {}", m.version);
            assert!(m.url.starts_with("https://"), "url");
            assert_eq!(m.text_sha256.len(), 64, "sha length");
            assert!(
                m.text_sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "sha digits"
            );
            let purposes: BTreeSet<Purpose> = m.purposes.iter().copied().collect();
            assert!(
                !purposes.is_empty() && purposes.len() == m.purposes.len(),
                "purposes"
            );
            let again = serde_json::to_string(&m).expect("serializes");
            assert_eq!(
                parse_policy_manifest(again).as_ref(),
                Ok(&m),
                "JSON round trip"
            );
            Some(i64::from(m.version))
        }
        Err(e) => {
            assert!(
                manifest_errors().contains(&e),
                "a new manifest error message (review it for echo, then probe it): {e:?}"
            );
            None
        }
    }
}

// ---------------------------------------------------------------------------------------
// A loopback backend that serves the bytes under test.

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// This status, empty body.
    Status(u16),
    /// 200 with these bytes, after alias substitution (see [`FakeBackend`]).
    Json(Vec<u8>),
    /// 200 to a push: every change applied, at its base version + 1.
    ApplyAll,
}

#[derive(Default)]
struct Script {
    /// `GET /v1/policy`; none: 404.
    policy: Option<Reply>,
    /// `POST /v1/sync/push`, in order; when empty: `push_default`.
    push: VecDeque<Reply>,
    /// Default: `{"results":[]}` (nothing applied).
    push_default: Option<Reply>,
    /// `GET /v1/sync/pull`, in order; when empty: an empty last page.
    pull: VecDeque<Reply>,
    /// How many changes each push request carried.
    pushed: Vec<usize>,
    requests: u32,
}

/// A minimal HTTP/1.1 server on 127.0.0.1 answering the sync endpoints from a script.
///
/// Served JSON is the scripted bytes verbatim, except that the quoted tokens `"#0"`-`"#9"`
/// in a push answer become the change ids of that request's changes 0-9 (they are random),
/// so that a fuzzer reaches the paths that need a matching id.
pub struct FakeBackend {
    addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    stop: Arc<AtomicBool>,
}

impl FakeBackend {
    pub fn start() -> FakeBackend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let script = Arc::new(Mutex::new(Script::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (Arc::clone(&script), Arc::clone(&stop));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::Acquire) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let s = Arc::clone(&s);
                std::thread::spawn(move || serve(conn, &s));
            }
        });
        FakeBackend { addr, script, stop }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn set(
        &self,
        policy: Option<Reply>,
        push: Vec<Reply>,
        push_default: Option<Reply>,
        pull: Vec<Reply>,
    ) {
        let mut s = self.script.lock().unwrap();
        s.policy = policy;
        s.push = push.into();
        s.push_default = push_default;
        s.pull = pull.into();
        s.pushed.clear();
        s.requests = 0;
    }

    fn requests(&self) -> u32 {
        self.script.lock().unwrap().requests
    }

    /// How many changes the first push request of this script carried.
    fn first_push(&self) -> usize {
        self.script
            .lock()
            .unwrap()
            .pushed
            .first()
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for FakeBackend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
    }
}

/// Replaces every occurrence of each `from` by its `to` (non-overlapping, left to right).
fn substitute(body: &[u8], aliases: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    if aliases.is_empty() || !body.contains(&b'"') {
        return body.to_vec();
    }
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    'outer: while i < body.len() {
        if body[i] == b'"' {
            for (from, to) in aliases {
                if body[i..].starts_with(from) {
                    out.extend_from_slice(to);
                    i += from.len();
                    continue 'outer;
                }
            }
        }
        out.push(body[i]);
        i += 1;
    }
    out
}

fn serve(conn: TcpStream, script: &Mutex<Script>) {
    let _ = conn.set_nodelay(true);
    let mut reader = BufReader::new(conn.try_clone().expect("clone stream"));
    let mut writer = conn;
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let (mut length, mut gzip) = (0usize, false);
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    "content-encoding" => gzip = value.trim().eq_ignore_ascii_case("gzip"),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if gzip {
            let mut plain = Vec::new();
            if flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut plain)
                .is_err()
            {
                return;
            }
            body = plain;
        }
        let (code, answer) = answer(script, &method, &path, &body);
        // The policy manifest is signed, as the reference backend signs it.
        let signature = if path.starts_with("/v1/policy") && code == 200 {
            format!("x-aparking-signature: {}\r\n", policy_signature(&answer))
        } else {
            String::new()
        };
        let head = format!(
            "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\n{signature}content-length: {}\r\n\r\n",
            answer.len()
        );
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(&answer).is_err() {
            return;
        }
    }
}

fn answer(script: &Mutex<Script>, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut s = script.lock().unwrap();
    s.requests += 1;
    let changes: Vec<Value> = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|b| b["changes"].as_array().cloned())
        .unwrap_or_default();
    let reply = if path.starts_with("/v1/policy") {
        s.policy.clone()
    } else if method == "POST" && path.starts_with("/v1/sync/push") {
        s.pushed.push(changes.len());
        let default = s.push_default.clone();
        Some(
            s.push
                .pop_front()
                .or(default)
                .unwrap_or(Reply::Json(br#"{"results":[]}"#.to_vec())),
        )
    } else if path.starts_with("/v1/sync/pull") {
        Some(s.pull.pop_front().unwrap_or(Reply::Json(
            br#"{"changes":[],"cursor":"end","has_more":false}"#.to_vec(),
        )))
    } else {
        None
    };
    match reply {
        None => (404, Vec::new()),
        Some(Reply::Status(code)) => (code, Vec::new()),
        Some(Reply::ApplyAll) => {
            let results: Vec<Value> = changes
                .iter()
                .map(|c| {
                    let version = (c["base_version"].as_i64().unwrap_or(0) + 1).min(1 << 40);
                    json!({"change_id": c["change_id"], "status": "applied", "version": version})
                })
                .collect();
            (200, json!({ "results": results }).to_string().into_bytes())
        }
        Some(Reply::Json(bytes)) => {
            let mut aliases = Vec::new();
            for (i, c) in changes.iter().take(10).enumerate() {
                if let Some(id) = c["change_id"].as_str() {
                    aliases.push((
                        format!("\"#{i}\"").into_bytes(),
                        format!("\"{id}\"").into_bytes(),
                    ));
                }
            }
            (200, substitute(&bytes, &aliases))
        }
    }
}

/// The fake backend's fixed policy-signing key (a test key: its seed is public).
fn policy_signer() -> &'static ring::signature::Ed25519KeyPair {
    static KEY: OnceLock<ring::signature::Ed25519KeyPair> = OnceLock::new();
    KEY.get_or_init(|| {
        ring::signature::Ed25519KeyPair::from_seed_unchecked(&[0x42; 32]).expect("seed")
    })
}

/// Base64 of the fake backend's signature over `body`.
fn policy_signature(body: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(policy_signer().sign(body).as_ref())
}

/// Base64 of the fake backend's policy-signing public key.
fn policy_public_key() -> String {
    use base64::Engine;
    use ring::signature::KeyPair;
    base64::engine::general_purpose::STANDARD.encode(policy_signer().public_key().as_ref())
}

// ---------------------------------------------------------------------------------------
// Stores: the fixtures, and the checks every store must pass after hostile input.

/// The fixed key-encryption key of every fixture store.
pub fn test_key() -> Arc<dyn KeyProvider> {
    Arc::new(InMemoryKeyProvider::from_bytes(&[0x5a; 32]))
}

struct Token;

impl AuthProvider for Token {
    fn bearer_token(&self, _refresh: bool) -> Result<String, AuthProviderError> {
        Ok("fuzz-token".into())
    }
}

/// A scratch directory, on tmpfs when there is one (the store fsyncs every commit).
pub fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = tempfile::Builder::new()
            .prefix("aparking-fuzz")
            .tempdir_in(shm)
        {
            return dir;
        }
    }
    tempfile::Builder::new()
        .prefix("aparking-fuzz")
        .tempdir()
        .expect("temp dir")
}

/// Personal values written to the fixtures (all of them, including those edited away).
pub mod sample {
    pub const PHONE: &str = "+77012345678";
    pub const NAME: &str = "Айгерим Сапарова";
    pub const EMAILS: [&str; 2] = ["aigerim@example.kz", "a.saparova@example.kz"];
    /// Local plates, then the plates of the records pulled from the backend.
    pub const PLATES: [&str; 5] = ["123ABC02", "A456MNO", "321CBA03", "777KZX01", "555XYZ05"];
    pub const NICKNAMES: [&str; 4] = ["Семейная машина", "Old Volga", "Work car", "Dacha"];
    pub const NUMBERS: [&str; 3] = ["DL88112233", "VRC5566778", "DL00112233"];
}

/// Fixed ids of the records the fixture pulled from the backend (seeds use them).
pub mod remote {
    pub const VEHICLE_1: &str = "11111111-1111-4111-8111-111111111111";
    pub const VEHICLE_2: &str = "22222222-2222-4222-8222-222222222222";
    pub const DOCUMENT_3: &str = "33333333-3333-4333-8333-333333333333";
}

fn context() -> ConsentContext {
    ConsentContext {
        app_version: "4.2.0 (421)".into(),
        locale: "kk-KZ".into(),
        collection_method: CollectionMethod::OnboardingScreen,
        subject_id: None,
    }
}

/// Which errors hostile file contents may give: typed, about the file.
fn allowed_store_error(e: &AparkingError) -> bool {
    matches!(
        e,
        AparkingError::StoreCorrupted { .. }
            | AparkingError::WrongKey
            | AparkingError::IncompatibleVersion { .. }
            | AparkingError::IntegrityFailure { .. }
            | AparkingError::Storage { .. }
            | AparkingError::StorageFull
    )
}

fn no_personal_value(what: &str, text: &str) {
    let s = sample::PLATES
        .iter()
        .chain(&sample::NICKNAMES)
        .chain(&sample::NUMBERS)
        .chain(&sample::EMAILS)
        .chain(&[sample::PHONE, sample::NAME]);
    for v in s {
        assert!(!text.contains(v), "{what} carries a personal value: {text}");
    }
}

/// What a store that went through hostile input must still be: every record readable,
/// every value valid, links intact, the export complete.
pub fn check_consistent(store: &Store) {
    let profile = store.get_profile().expect("profile readable");
    if let Some(p) = &profile {
        assert_eq!(
            normalize_phone(p.phone.clone()).as_ref(),
            Ok(&p.phone),
            "stored phone"
        );
    }
    let vehicles = store.list_vehicles().expect("vehicles readable");
    let mut plates = BTreeSet::new();
    for v in &vehicles {
        assert_eq!(
            parse_plate(v.plate.canonical.clone()).as_ref(),
            Ok(&v.plate),
            "stored plate"
        );
        assert!(
            plates.insert(v.plate.canonical.clone()),
            "two vehicles with one plate"
        );
    }
    let ids: BTreeSet<&str> = vehicles.iter().map(|v| v.id.as_str()).collect();
    let documents = store.list_documents().expect("documents readable");
    let mut numbers = BTreeSet::new();
    for d in &documents {
        assert_eq!(
            normalize_document_number(d.number.clone()).as_ref(),
            Ok(&d.number),
            "number"
        );
        assert!(
            numbers.insert((d.kind.as_str(), d.number.clone())),
            "a document twice"
        );
        if let Some(v) = &d.vehicle_id {
            assert!(
                ids.contains(v.as_str()),
                "a document links to a missing vehicle"
            );
        }
    }
    let export: Value =
        serde_json::from_str(&store.export_user_data().expect("export")).expect("JSON");
    assert!(export.is_object(), "export");
    let info = store.info().expect("info");
    assert_eq!(
        usize::try_from(info.vehicle_count).ok(),
        Some(vehicles.len()),
        "info vehicle count"
    );
    assert_eq!(
        usize::try_from(info.document_count).ok(),
        Some(documents.len()),
        "info document count"
    );
    assert_eq!(info.has_profile, profile.is_some(), "info profile");
}

/// Inputs that went the whole way (a sync, an opened file) and inputs skipped early (not
/// JSON, not UTF-8), for the figures in docs/fuzzing.md.
pub static FULL_RUNS: AtomicU64 = AtomicU64::new(0);
/// See [`FULL_RUNS`].
pub static SKIPPED: AtomicU64 = AtomicU64::new(0);

fn skipped<T>() -> Option<T> {
    SKIPPED.fetch_add(1, Ordering::Relaxed);
    None
}

/// A store file and the ids of its local records.
struct Fixture {
    bytes: Vec<u8>,
    aliases: Vec<(String, String)>,
}

/// What a sync fed with hostile bytes did.
#[derive(Debug)]
pub struct SyncOutcome {
    pub result: Result<SyncSummary, AparkingError>,
    /// HTTP requests the client made.
    pub requests: u32,
}

/// How the two paths read one manifest.
#[derive(Debug)]
pub struct ManifestOutcome {
    /// The version `parse_policy_manifest` read, if it accepted the manifest.
    pub bundled: Option<i64>,
    /// What the sync that fetched it from the backend gave: the served version, or the
    /// error that stopped the sync.
    pub served: Result<Option<i64>, AparkingError>,
}

/// Drives the sync client and the store over fuzz inputs; see the module docs.
///
/// Fixtures (built once, then copied to a fresh file for every input, so every run starts
/// from the same state and a crash reproduces):
/// - `pending`: policy v3 accepted (its receipt pushed), a profile, vehicles `@v0`, `@v1`
///   and documents `@d0` (licence), `@d1` (certificate of `@v0`), all synced; the records
///   pulled from the backend ([`remote`]): vehicles 1 (v2) and 2 (v1), and document 3
///   (v1, of vehicle 1); then local edits waiting to be pushed: the e-mail, vehicle 1's
///   nickname, a new vehicle `@v2`, document `@d0` removed, and a new consent receipt.
/// - `synced`: the same before the local edits (nothing pending).
pub struct Harness {
    dir: tempfile::TempDir,
    backend: FakeBackend,
    runtime: tokio::runtime::Runtime,
    pending: Fixture,
    synced: Fixture,
    damage: Vec<u8>,
    damage_wal: (Vec<u8>, Vec<u8>),
    run: u64,
}

impl Harness {
    pub fn new() -> Harness {
        let dir = scratch_dir();
        let backend = FakeBackend::start();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let mut h = Harness {
            dir,
            backend,
            runtime,
            pending: Fixture {
                bytes: Vec::new(),
                aliases: Vec::new(),
            },
            synced: Fixture {
                bytes: Vec::new(),
                aliases: Vec::new(),
            },
            damage: Vec::new(),
            damage_wal: (Vec::new(), Vec::new()),
            run: 0,
        };
        h.build_fixtures();
        h
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn client(&self, store: &Arc<Store>, local_wins: bool) -> Arc<SyncClient> {
        let config = SyncConfig {
            local_wins_conflicts: local_wins,
            policy_public_keys: vec![policy_public_key()],
            ..SyncConfig::new(self.backend.url())
        };
        SyncClient::new(Arc::clone(store), config, Arc::new(Token)).expect("sync client")
    }

    fn sync(&self, client: &SyncClient) -> Result<SyncSummary, AparkingError> {
        self.runtime.block_on(client.sync())
    }

    fn build_fixtures(&mut self) {
        let path = self.path("fixture.db");
        let store = Store::open(path.to_string_lossy().into_owned(), test_key()).expect("open");
        let consent = Consent::new(Arc::clone(&store));
        consent
            .publish_policy_json(manifest_json(3))
            .expect("policy");
        let version = consent.policy_in_force().expect("in force").version;
        consent
            .accept_policy(version, Purpose::ALL.to_vec(), context())
            .expect("accept");
        let profile = store
            .update_profile(ProfilePatch {
                phone: Some(sample::PHONE.into()),
                full_name: Some(sample::NAME.into()),
                email: Some(sample::EMAILS[0].into()),
                ..Default::default()
            })
            .expect("profile");
        let vehicle = |plate: &str, nickname: &str| {
            store
                .add_vehicle(NewVehicle {
                    plate: plate.into(),
                    nickname: Some(nickname.into()),
                    make: Some("Toyota".into()),
                    model: Some("Camry".into()),
                    colour: Some("white".into()),
                    registration_certificate_number: None,
                })
                .expect("vehicle")
        };
        let v0 = vehicle(sample::PLATES[0], sample::NICKNAMES[0]);
        let v1 = vehicle(sample::PLATES[1], sample::NICKNAMES[1]);
        let document = |kind, number: &str, vehicle_id: Option<String>| {
            store
                .add_document(NewDocument {
                    kind,
                    number: number.into(),
                    issued_on: Some("2020-01-15".into()),
                    expires_on: Some("2030-01-15".into()),
                    vehicle_id,
                })
                .expect("document")
        };
        let d0 = document(DocumentKind::DriverLicence, sample::NUMBERS[0], None);
        let d1 = document(
            DocumentKind::VehicleRegistrationCertificate,
            sample::NUMBERS[1],
            Some(v0.id.clone()),
        );
        // First sync: everything pushed, the remote records pulled.
        let page = json!({"changes": [
            {"entity": "vehicle", "record_id": remote::VEHICLE_1, "version": 2, "deleted": false,
             "fields": {"plate": sample::PLATES[3], "nickname": sample::NICKNAMES[3],
                        "make": "Lada", "model": "Niva", "colour": null,
                        "registration_certificate_number": null}},
            {"entity": "vehicle", "record_id": remote::VEHICLE_2, "version": 1, "deleted": false,
             "fields": {"plate": sample::PLATES[4], "nickname": null, "make": null,
                        "model": null, "colour": "red", "registration_certificate_number": null}},
            {"entity": "document", "record_id": remote::DOCUMENT_3, "version": 1, "deleted": false,
             "fields": {"kind": "driver_licence", "number": sample::NUMBERS[2],
                        "issued_on": "2019-05-01", "expires_on": null,
                        "vehicle_id": remote::VEHICLE_1}}
        ], "cursor": "c1", "has_more": false});
        self.backend.set(
            None,
            Vec::new(),
            Some(Reply::ApplyAll),
            vec![Reply::Json(page.to_string().into_bytes())],
        );
        let client = self.client(&store, false);
        let summary = self.sync(&client).expect("fixture sync");
        assert_eq!(summary.pulled, 3, "fixture pulled the remote records");
        assert_eq!(client.pending_changes().unwrap(), 0, "fixture synced");
        drop(client);
        let mut aliases = vec![
            ("@p".to_string(), profile.id.clone()),
            ("@v0".to_string(), v0.id.clone()),
            ("@v1".to_string(), v1.id.clone()),
            ("@d0".to_string(), d0.id.clone()),
            ("@d1".to_string(), d1.id.clone()),
        ];
        self.synced = Fixture {
            bytes: snapshot(&path),
            aliases: aliases.clone(),
        };
        // Then local edits, left pending.
        store
            .update_profile(ProfilePatch {
                email: Some(sample::EMAILS[1].into()),
                ..Default::default()
            })
            .expect("edit profile");
        store
            .update_vehicle(
                remote::VEHICLE_1.into(),
                VehiclePatch {
                    nickname: Some(sample::NICKNAMES[2].into()),
                    ..Default::default()
                },
            )
            .expect("edit vehicle");
        let v2 = vehicle(sample::PLATES[2], sample::NICKNAMES[2]);
        store
            .remove_document(d0.id.clone())
            .expect("remove document");
        let purposes = vec![Purpose::Statistics];
        consent.withdraw(purposes, context()).expect("withdraw");
        aliases.push(("@v2".to_string(), v2.id.clone()));
        self.damage_wal = snapshot_with_wal(&path);
        self.pending = Fixture {
            bytes: snapshot(&path),
            aliases,
        };
        self.damage = self.pending.bytes.clone();
        store.close().expect("close");
        drop(consent);
        drop(store);
    }

    /// Copies `fixture` to a fresh store file and opens it.
    fn open_copy(&mut self, bytes: &[u8]) -> (Arc<Store>, PathBuf) {
        self.run += 1;
        let path = self.path(&format!("run-{}.db", self.run % 2));
        remove_store_files(&path);
        std::fs::write(&path, bytes).expect("write store");
        let store =
            Store::open(path.to_string_lossy().into_owned(), test_key()).expect("fixture opens");
        (store, path)
    }

    /// Checks after a hostile sync: a typed error, bounded counts, a consistent store, and
    /// a next sync against a cooperative backend that completes with nothing left pending.
    /// `answered`: how many changes the hostile answer was about (the page's records, or
    /// the changes of the push it answered); each is counted once at most.
    fn after_sync(
        &mut self,
        store: &Arc<Store>,
        client: &SyncClient,
        outcome: &SyncOutcome,
        answered: usize,
    ) {
        match &outcome.result {
            Ok(s) => {
                let counted = s.pulled + s.pushed + s.rejected;
                assert!(
                    (0..=answered as i64).contains(&counted),
                    "more records counted than answered ({answered}): {s:?}"
                );
                assert_eq!(
                    s.pending,
                    client.pending_changes().expect("pending"),
                    "the summary's pending count"
                );
            }
            Err(AparkingError::Network { reason, .. }) => no_personal_value("error", reason),
            Err(e) => panic!("a hostile answer gave {e:?}, not Network"),
        }
        client.pending_changes().expect("pending readable");
        client.conflicts().expect("conflicts readable");
        check_consistent(store);
        self.backend
            .set(None, Vec::new(), Some(Reply::ApplyAll), Vec::new());
        let next = self
            .sync(client)
            .expect("the next sync, cooperative backend, succeeds");
        assert_eq!(
            next.pending, 0,
            "the next sync leaves nothing pending: {next:?}"
        );
        check_consistent(store);
    }

    /// A pull page as the client decodes it: the `pending` fixture syncs; the push is not
    /// applied (the edits stay pending and meet the page), the first pull gets `page`
    /// (aliases substituted), later pulls an empty last page. Bytes that are not JSON are
    /// skipped (the client retries them with backoff; `serde_json` decides, as in the
    /// client). Returns `None` when skipped.
    pub fn pull_page(&mut self, page: &[u8], local_wins: bool) -> Option<SyncOutcome> {
        let page = substitute(page, &quoted(&self.pending.aliases));
        let Ok(parsed) = serde_json::from_slice::<Value>(&page) else {
            return skipped();
        };
        let changes = parsed["changes"].as_array().map_or(0, Vec::len);
        let bytes = self.pending.bytes.clone();
        let (store, path) = self.open_copy(&bytes);
        let client = self.client(&store, local_wins);
        self.backend
            .set(None, Vec::new(), None, vec![Reply::Json(page)]);
        FULL_RUNS.fetch_add(1, Ordering::Relaxed);
        let result = self.sync(&client);
        let outcome = SyncOutcome {
            result,
            requests: self.backend.requests(),
        };
        self.after_sync(&store, &client, &outcome, changes);
        close(client, store, &path);
        Some(outcome)
    }

    /// A push answer as the client decodes it: the `pending` fixture syncs and its first
    /// push gets `answer` (`"#N"`: the id of the request's change N); later pushes apply
    /// nothing, pulls get an empty last page. Non-JSON bytes are skipped, as for
    /// [`Harness::pull_page`].
    pub fn push_answer(&mut self, answer: &[u8]) -> Option<SyncOutcome> {
        if serde_json::from_slice::<Value>(answer).is_err() {
            return skipped();
        }
        let bytes = self.pending.bytes.clone();
        let (store, path) = self.open_copy(&bytes);
        let client = self.client(&store, false);
        self.backend
            .set(None, vec![Reply::Json(answer.to_vec())], None, Vec::new());
        FULL_RUNS.fetch_add(1, Ordering::Relaxed);
        let result = self.sync(&client);
        let outcome = SyncOutcome {
            result,
            requests: self.backend.requests(),
        };
        let answered = self.backend.first_push();
        self.after_sync(&store, &client, &outcome, answered);
        close(client, store, &path);
        Some(outcome)
    }

    /// A policy manifest, both ways the SDK reads one: as bundled (`parse_policy_manifest`,
    /// [`check_policy_manifest`]) and as served by the backend (`GET /v1/policy` in a sync
    /// of the `synced` fixture, policy v3 in force). A manifest the bundled parser accepts
    /// is read alike from the backend and adopted when newer; what it refuses, the backend
    /// path refuses too: the sync fails with `Network` and nothing changes.
    /// Non-JSON bytes only go the bundled way.
    pub fn policy_manifest(&mut self, bytes: &[u8]) -> Option<ManifestOutcome> {
        let text = std::str::from_utf8(bytes).ok();
        let bundled = text.and_then(check_policy_manifest);
        if serde_json::from_slice::<Value>(bytes).is_err() {
            return skipped();
        }
        let fixture = self.synced.bytes.clone();
        let (store, path) = self.open_copy(&fixture);
        let client = self.client(&store, false);
        self.backend.set(
            Some(Reply::Json(bytes.to_vec())),
            Vec::new(),
            None,
            Vec::new(),
        );
        FULL_RUNS.fetch_add(1, Ordering::Relaxed);
        let result = self.sync(&client);
        let consent = Consent::new(Arc::clone(&store));
        let in_force = i64::from(
            consent
                .policy_in_force()
                .expect("a policy stays in force")
                .version,
        );
        match &result {
            Ok(s) => {
                let served = s.policy_version.map(i64::from).expect("the served version");
                assert!(served >= 1, "served version {served}");
                assert_eq!(in_force, served.max(3), "the newest version is in force");
                assert_eq!(
                    bundled,
                    Some(served),
                    "the backend path adopted what the bundled parser refuses or reads otherwise"
                );
                if served > 3 {
                    for p in Purpose::ALL {
                        assert!(!consent.is_allowed(p), "a newer policy stops collection");
                    }
                }
            }
            Err(AparkingError::Network { .. }) => {
                assert_eq!(
                    bundled, None,
                    "the bundled parser accepts what the backend path refused"
                );
                assert_eq!(in_force, 3, "a refused manifest changes nothing");
            }
            Err(e) => panic!("a hostile manifest gave {e:?}"),
        }
        check_consistent(&store);
        drop(consent);
        close(client, store, &path);
        Some(ManifestOutcome {
            bundled,
            served: result.map(|s| s.policy_version.map(i64::from)),
        })
    }

    /// Opens a damaged store file with the fixture's key: `Ok` or a typed error about the
    /// file, never a panic; what an opened store returns is either an error of those kinds
    /// or one of the values written (sealed values cannot be forged by flipping bytes).
    ///
    /// `data[0] % 3` picks the damage: 0, the `pending` fixture with byte flips; 1, the
    /// fixture's database and write-ahead log (a crash snapshot) with flips in the log;
    /// 2, the rest of `data` as the whole file. Flips: each 4 bytes of `data[1..]` are a
    /// 24-bit little-endian offset (modulo the length) and a byte XORed there (`| 1`, so
    /// it changes something).
    pub fn open_damaged(&mut self, data: &[u8]) -> Result<(), AparkingError> {
        let Some((&mode, rest)) = data.split_first() else {
            return Ok(());
        };
        self.run += 1;
        let path = self.path(&format!("damaged-{}.db", self.run % 2));
        remove_store_files(&path);
        let flip = |mut bytes: Vec<u8>| {
            if !bytes.is_empty() {
                for f in rest.chunks_exact(4) {
                    let at = u32::from_le_bytes([f[0], f[1], f[2], 0]) as usize % bytes.len();
                    bytes[at] ^= f[3] | 1;
                }
            }
            bytes
        };
        match mode % 3 {
            0 => std::fs::write(&path, flip(self.damage.clone())).unwrap(),
            1 => {
                std::fs::write(&path, &self.damage_wal.0).unwrap();
                std::fs::write(wal_path(&path), flip(self.damage_wal.1.clone())).unwrap();
            }
            _ => std::fs::write(&path, rest).unwrap(),
        }
        FULL_RUNS.fetch_add(1, Ordering::Relaxed);
        let result = damaged_reads(&path);
        remove_store_files(&path);
        result
    }
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}

fn damaged_reads(path: &Path) -> Result<(), AparkingError> {
    let check = |what: &str, e: &AparkingError| {
        assert!(allowed_store_error(e), "{what}: {e:?}");
        no_personal_value(what, &format!("{e} {e:?}"));
    };
    let store = match Store::open(path.to_string_lossy().into_owned(), test_key()) {
        Ok(store) => store,
        Err(e) => {
            check("open", &e);
            return Err(e);
        }
    };
    let known = |set: &[&str], v: &str, what: &str| {
        assert!(
            set.contains(&v),
            "a damaged file gave a {what} never written"
        );
    };
    match store.get_profile() {
        Ok(Some(p)) => {
            known(&[sample::PHONE], &p.phone, "phone");
            if let Some(n) = &p.full_name {
                known(&[sample::NAME], n, "name");
            }
            if let Some(e) = &p.email {
                known(&sample::EMAILS, e, "e-mail");
            }
        }
        Ok(None) => {}
        Err(e) => check("profile", &e),
    }
    match store.list_vehicles() {
        Ok(vs) => {
            for v in vs {
                known(&sample::PLATES, &v.plate.canonical, "plate");
                if let Some(n) = &v.nickname {
                    known(&sample::NICKNAMES, n, "nickname");
                }
            }
        }
        Err(e) => check("vehicles", &e),
    }
    match store.list_documents() {
        Ok(ds) => {
            for d in ds {
                known(&sample::NUMBERS, &d.number, "document number");
            }
        }
        Err(e) => check("documents", &e),
    }
    if let Err(e) = store.export_user_data() {
        check("export", &e);
    }
    if let Err(e) = store.info() {
        check("info", &e);
    }
    // A write on the damaged file: done or refused, never a panic.
    let _ = store.add_vehicle(NewVehicle {
        plate: "999 ZZZ 09".into(),
        nickname: None,
        make: None,
        model: None,
        colour: None,
        registration_certificate_number: None,
    });
    let _ = store.close();
    Ok(())
}

fn quoted(aliases: &[(String, String)]) -> Vec<(Vec<u8>, Vec<u8>)> {
    aliases
        .iter()
        .map(|(k, v)| {
            (
                format!("\"{k}\"").into_bytes(),
                format!("\"{v}\"").into_bytes(),
            )
        })
        .collect()
}

fn wal_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push("-wal");
    PathBuf::from(p)
}

fn remove_store_files(db: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

/// The database as it is now, as one checkpointed file, taken while the store stays open.
fn snapshot(path: &Path) -> Vec<u8> {
    // Every committed transaction is in the database file or the WAL: copy both, open the
    // copy (which recovers the WAL), close it (which checkpoints), and read the result.
    let copy = path.with_extension("snapshot.db");
    remove_store_files(&copy);
    std::fs::copy(path, &copy).expect("copy db");
    if wal_path(path).exists() {
        std::fs::copy(wal_path(path), wal_path(&copy)).expect("copy wal");
    }
    let s = Store::open(copy.to_string_lossy().into_owned(), test_key()).expect("snapshot opens");
    s.close().expect("checkpoint");
    drop(s);
    let bytes = std::fs::read(&copy).expect("read snapshot");
    remove_store_files(&copy);
    bytes
}

/// The database file and its write-ahead log, as a crash would leave them.
fn snapshot_with_wal(path: &Path) -> (Vec<u8>, Vec<u8>) {
    let db = std::fs::read(path).expect("read db");
    let wal = std::fs::read(wal_path(path)).unwrap_or_default();
    (db, wal)
}

fn close(client: Arc<SyncClient>, store: Arc<Store>, path: &Path) {
    drop(client);
    store.close().expect("close");
    drop(store);
    remove_store_files(path);
}
