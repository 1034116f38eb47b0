//! Connection complaints (P2.2.5, P8): the user's description with the recent
//! network-quality samples attached. From then on the bundle is personal data: sealed
//! with the user's data and sent on the personal channel (sync), never the telemetry one.

use super::event::NetworkType;
use super::queue::{self, COMPLAINTS};
use crate::crypto::StoreKeys;
use crate::error::{Error, Result};
use crate::store::db::{now_millis, time_of};
use crate::store::sealed::RowSeal;
use rusqlite::{params, Connection};
use serde_json::{json, Value};
use std::time::SystemTime;

const DESCRIPTION_MAX_CHARS: usize = 2000;

/// One network-quality sample attached to a complaint.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NetworkSample {
    /// When it was recorded.
    pub recorded_at: SystemTime,
    /// Connection type.
    pub network_type: NetworkType,
    /// Signal strength in dBm.
    pub signal_dbm: Option<i32>,
    /// Round-trip time in milliseconds.
    pub rtt_ms: Option<i32>,
    /// Throughput in kbit/s.
    pub throughput_kbps: Option<i32>,
    /// Failed requests since the previous sample.
    pub failed_requests: i32,
}

/// A complaint about connection quality.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ConnectionComplaint {
    /// Complaint id (UUID).
    pub id: String,
    /// The user's description.
    pub description: String,
    /// When it was filed.
    pub created_at: SystemTime,
    /// The samples attached.
    pub samples: Vec<NetworkSample>,
}

fn sample_of(v: &Value) -> Option<NetworkSample> {
    let data = &v["data"];
    let opt_u32 = |k: &str| {
        data.get(k)
            .and_then(Value::as_u64)
            .and_then(|n| i32::try_from(n).ok())
    };
    Some(NetworkSample {
        recorded_at: time_of(v["recorded_at"].as_i64()?),
        network_type: NetworkType::parse(data["network_type"].as_str()?)?,
        signal_dbm: data
            .get("signal_dbm")
            .and_then(Value::as_i64)
            .and_then(|n| i32::try_from(n).ok()),
        rtt_ms: opt_u32("rtt_ms"),
        throughput_kbps: opt_u32("throughput_kbps"),
        failed_requests: opt_u32("failed_requests")?,
    })
}

/// The longest window of samples a complaint carries: one week.
const MAX_WINDOW_MINUTES: i32 = 10_080;

fn validate_description(input: &str) -> Result<String> {
    let s = input.trim();
    if s.is_empty() {
        return Err(Error::invalid("description", "must not be blank"));
    }
    if s.chars().count() > DESCRIPTION_MAX_CHARS {
        return Err(Error::invalid("description", "too long"));
    }
    if s.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::invalid(
            "description",
            "must not contain control characters",
        ));
    }
    Ok(s.to_string())
}

/// Files a complaint with the samples of the last `window_minutes`.
pub(crate) fn file(
    conn: &Connection,
    keys: &StoreKeys,
    description: &str,
    window_minutes: i32,
) -> Result<ConnectionComplaint> {
    let description = validate_description(description)?;
    if !(0..=MAX_WINDOW_MINUTES).contains(&window_minutes) {
        return Err(Error::invalid(
            "samples_window_minutes",
            "must be between 0 and 10080 (one week)",
        ));
    }
    let now = now_millis();
    let since = now - i64::from(window_minutes) * 60_000;
    let samples: Vec<Value> = queue::network_samples_since(conn, keys, since)?
        .iter()
        .filter_map(|j| serde_json::from_str(j).ok())
        .collect();
    let id = uuid::Uuid::new_v4().to_string();
    let body =
        json!({ "id": id, "description": description, "created_at": now, "samples": samples });
    let sealed = RowSeal::new(keys, &COMPLAINTS, &id).seal(&[Some(&body.to_string())])?;
    conn.prepare_cached("INSERT INTO complaints (id, created_at, sealed) VALUES (?1, ?2, ?3)")?
        .execute(params![id, now, sealed])?;
    Ok(ConnectionComplaint {
        id,
        description,
        created_at: time_of(now),
        samples: samples.iter().filter_map(sample_of).collect(),
    })
}

/// Every complaint, oldest first.
pub(crate) fn list(conn: &Connection, keys: &StoreKeys) -> Result<Vec<ConnectionComplaint>> {
    COMPLAINTS.open_rows(
        conn,
        keys,
        "SELECT id, sealed FROM complaints ORDER BY created_at, rowid",
        [],
        |seal, json| {
            let v: Value = seal.json(&json)?;
            Ok(ConnectionComplaint {
                description: v["description"]
                    .as_str()
                    .ok_or_else(|| seal.integrity_error())?
                    .to_string(),
                created_at: time_of(
                    v["created_at"]
                        .as_i64()
                        .ok_or_else(|| seal.integrity_error())?,
                ),
                samples: v["samples"]
                    .as_array()
                    .map(|a| a.iter().filter_map(sample_of).collect())
                    .unwrap_or_default(),
                id: seal.id().to_string(),
            })
        },
    )
}
