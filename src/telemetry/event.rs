//! The telemetry event kinds (policy clause P3.1.1), each with its purpose, and their wire
//! form.

use crate::consent::Purpose;
use serde_json::{json, Map, Value};

/// The longest string an event field may hold; longer events are dropped as invalid.
pub(crate) const MAX_STRING_CHARS: usize = 128;

/// How the device is connected (P3.1.1: cellular network characteristics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum NetworkType {
    /// No connection.
    Offline,
    /// Wi-Fi.
    Wifi,
    /// 2G cellular.
    Cellular2g,
    /// 3G cellular.
    Cellular3g,
    /// 4G / LTE.
    Cellular4g,
    /// 5G.
    Cellular5g,
    /// Anything else (Ethernet, unknown).
    Other,
}

impl NetworkType {
    const ALL: [NetworkType; 7] = [
        NetworkType::Offline,
        NetworkType::Wifi,
        NetworkType::Cellular2g,
        NetworkType::Cellular3g,
        NetworkType::Cellular4g,
        NetworkType::Cellular5g,
        NetworkType::Other,
    ];

    /// Parses a wire name.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        NetworkType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    fn as_str(self) -> &'static str {
        match self {
            NetworkType::Offline => "offline",
            NetworkType::Wifi => "wifi",
            NetworkType::Cellular2g => "cellular_2g",
            NetworkType::Cellular3g => "cellular_3g",
            NetworkType::Cellular4g => "cellular_4g",
            NetworkType::Cellular5g => "cellular_5g",
            NetworkType::Other => "other",
        }
    }
}

/// One telemetry event. Each kind serves one purpose (its `purpose`); an
/// event whose purpose is not consented to now is dropped on the caller's thread and only
/// counted. Events never carry account identity: the SDK adds a pseudonymous installation
/// id, replaced on every consent change.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum TelemetryEvent {
    /// App and device facts. Purpose: statistics.
    AppInfo {
        /// Operating system (`Android`, `iOS`).
        os: String,
        /// Its version (`15`).
        os_version: String,
        /// Device model (`Pixel 8`).
        device_model: String,
        /// The app's version.
        app_version: String,
        /// The app's locale (`kk-KZ`).
        locale: String,
    },
    /// A screen was shown. Purpose: service improvement.
    ScreenView {
        /// The screen's name in the app's code (`parking_map`), never user content.
        screen: String,
    },
    /// A session started. Purpose: service improvement.
    SessionStart,
    /// A session ended. Purpose: service improvement.
    SessionEnd {
        /// How long it lasted.
        duration_ms: i64,
    },
    /// Where the device is, coarsely. Rounded by the SDK to 0.01 degree (about 1.1 km)
    /// unless configured coarser. Purpose: statistics.
    CoarseLocation {
        /// Latitude in degrees.
        latitude: f64,
        /// Longitude in degrees.
        longitude: f64,
    },
    /// A network-quality sample (P2.2.5). Purpose: connection diagnostics.
    NetworkQuality {
        /// Connection type.
        network_type: NetworkType,
        /// Signal strength in dBm, if known.
        signal_dbm: Option<i32>,
        /// Round-trip time to the backend in milliseconds, if measured.
        rtt_ms: Option<i32>,
        /// Measured throughput in kbit/s, if measured.
        throughput_kbps: Option<i32>,
        /// Requests that failed since the previous sample.
        failed_requests: i32,
    },
    /// How often an error happened. Purpose: service improvement.
    ErrorCount {
        /// The error's code in the app (`payment_timeout`), never a message.
        code: String,
        /// How many times.
        count: i32,
    },
}

impl TelemetryEvent {
    /// The purpose the event serves.
    pub fn purpose(&self) -> Purpose {
        match self {
            TelemetryEvent::AppInfo { .. } | TelemetryEvent::CoarseLocation { .. } => {
                Purpose::Statistics
            }
            TelemetryEvent::ScreenView { .. }
            | TelemetryEvent::SessionStart
            | TelemetryEvent::SessionEnd { .. }
            | TelemetryEvent::ErrorCount { .. } => Purpose::ServiceImprovement,
            TelemetryEvent::NetworkQuality { .. } => Purpose::ConnectionDiagnostics,
        }
    }

    /// The kind's name on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            TelemetryEvent::AppInfo { .. } => "app_info",
            TelemetryEvent::ScreenView { .. } => "screen_view",
            TelemetryEvent::SessionStart => "session_start",
            TelemetryEvent::SessionEnd { .. } => "session_end",
            TelemetryEvent::CoarseLocation { .. } => "coarse_location",
            TelemetryEvent::NetworkQuality { .. } => "network_quality",
            TelemetryEvent::ErrorCount { .. } => "error_count",
        }
    }

    /// An `AppInfo` event's fields under their wire names.
    fn app_info(&self) -> Option<[(&'static str, &str); 5]> {
        match self {
            TelemetryEvent::AppInfo {
                os,
                os_version,
                device_model,
                app_version,
                locale,
            } => Some([
                ("os", os),
                ("os_version", os_version),
                ("device_model", device_model),
                ("app_version", app_version),
                ("locale", locale),
            ]),
            _ => None,
        }
    }

    /// The free-text fields, for the PII firewall.
    pub(crate) fn strings(&self) -> Vec<&str> {
        match self {
            TelemetryEvent::AppInfo { .. } => self
                .app_info()
                .into_iter()
                .flatten()
                .map(|(_, value)| value)
                .collect(),
            TelemetryEvent::ScreenView { screen } => vec![screen],
            TelemetryEvent::ErrorCount { code, .. } => vec![code],
            _ => Vec::new(),
        }
    }

    /// Counts and durations are never negative; an event with one is invalid.
    fn has_negative_number(&self) -> bool {
        match self {
            TelemetryEvent::SessionEnd { duration_ms } => *duration_ms < 0,
            TelemetryEvent::NetworkQuality {
                rtt_ms,
                throughput_kbps,
                failed_requests,
                ..
            } => {
                rtt_ms.is_some_and(|v| v < 0)
                    || throughput_kbps.is_some_and(|v| v < 0)
                    || *failed_requests < 0
            }
            TelemetryEvent::ErrorCount { count, .. } => *count < 0,
            _ => false,
        }
    }

    /// The event's data object on the wire, after the SDK's own coarsening. `None` when
    /// the event is invalid (an empty or over-long string, coordinates out of range).
    pub(crate) fn wire_data(&self, location_decimals: u8) -> Option<Value> {
        if self.strings().iter().any(|s| {
            s.trim().is_empty()
                || s.chars().count() > MAX_STRING_CHARS
                || s.chars()
                    .any(|c| c.is_control() || super::firewall::is_invisible(c))
        }) {
            return None;
        }
        if self.has_negative_number() {
            return None;
        }
        Some(match self {
            TelemetryEvent::AppInfo { .. } => Value::Object(
                self.app_info()
                    .into_iter()
                    .flatten()
                    .map(|(name, value)| (name.to_string(), Value::from(value)))
                    .collect(),
            ),
            TelemetryEvent::ScreenView { screen } => json!({ "screen": screen }),
            TelemetryEvent::SessionStart => json!({}),
            TelemetryEvent::SessionEnd { duration_ms } => json!({ "duration_ms": duration_ms }),
            TelemetryEvent::CoarseLocation {
                latitude,
                longitude,
            } => {
                if !(latitude.is_finite() && longitude.is_finite())
                    || latitude.abs() > 90.0
                    || longitude.abs() > 180.0
                {
                    return None;
                }
                let decimals = location_decimals.min(2);
                json!({
                    "latitude": coarsen(*latitude, decimals),
                    "longitude": coarsen(*longitude, decimals),
                    "precision_decimals": decimals,
                })
            }
            TelemetryEvent::NetworkQuality {
                network_type,
                signal_dbm,
                rtt_ms,
                throughput_kbps,
                failed_requests,
            } => {
                let mut m = Map::new();
                m.insert("network_type".into(), json!(network_type.as_str()));
                if let Some(v) = signal_dbm {
                    m.insert("signal_dbm".into(), json!(v));
                }
                if let Some(v) = rtt_ms {
                    m.insert("rtt_ms".into(), json!(v));
                }
                if let Some(v) = throughput_kbps {
                    m.insert("throughput_kbps".into(), json!(v));
                }
                m.insert("failed_requests".into(), json!(failed_requests));
                Value::Object(m)
            }
            TelemetryEvent::ErrorCount { code, count } => json!({ "code": code, "count": count }),
        })
    }
}

/// The purpose an event serves (for hosts that check consent on their side before
/// handing events over in batches).
#[uniffi::export]
pub fn telemetry_event_purpose(event: &TelemetryEvent) -> Purpose {
    event.purpose()
}

/// Rounds a coordinate to `decimals` places (at most 2: about 1.1 km).
fn coarsen(value: f64, decimals: u8) -> f64 {
    let scale = 10f64.powi(i32::from(decimals));
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_info_goes_out_under_its_wire_names_and_every_string_is_checked() {
        let e = TelemetryEvent::AppInfo {
            os: "Android".into(),
            os_version: "15".into(),
            device_model: "Pixel 8".into(),
            app_version: "4.2.0".into(),
            locale: "kk-KZ".into(),
        };
        assert_eq!(
            e.wire_data(2).unwrap(),
            json!({"os": "Android", "os_version": "15", "device_model": "Pixel 8",
                   "app_version": "4.2.0", "locale": "kk-KZ"})
        );
        assert_eq!(e.strings(), ["Android", "15", "Pixel 8", "4.2.0", "kk-KZ"]);
        let blank_locale = TelemetryEvent::AppInfo {
            os: "Android".into(),
            os_version: "15".into(),
            device_model: "Pixel 8".into(),
            app_version: "4.2.0".into(),
            locale: " ".into(),
        };
        assert!(blank_locale.wire_data(2).is_none());
    }

    #[test]
    fn location_is_never_finer_than_two_decimals() {
        let e = TelemetryEvent::CoarseLocation {
            latitude: 43.238_949,
            longitude: 76.889_709,
        };
        let d = e.wire_data(6).unwrap();
        assert_eq!(d["latitude"], 43.24);
        assert_eq!(d["longitude"], 76.89);
        assert_eq!(d["precision_decimals"], 2);
        let d = e.wire_data(0).unwrap();
        assert_eq!(
            (d["latitude"].as_f64(), d["longitude"].as_f64()),
            (Some(43.0), Some(77.0))
        );
        assert!(TelemetryEvent::CoarseLocation {
            latitude: 91.0,
            longitude: 0.0
        }
        .wire_data(2)
        .is_none());
        assert!(TelemetryEvent::CoarseLocation {
            latitude: f64::NAN,
            longitude: 0.0
        }
        .wire_data(2)
        .is_none());
    }

    #[test]
    fn every_kind_declares_a_purpose() {
        use Purpose::*;
        let cases = [
            (TelemetryEvent::SessionStart, ServiceImprovement),
            (
                TelemetryEvent::ScreenView {
                    screen: "map".into(),
                },
                ServiceImprovement,
            ),
            (
                TelemetryEvent::CoarseLocation {
                    latitude: 0.0,
                    longitude: 0.0,
                },
                Statistics,
            ),
            (
                TelemetryEvent::NetworkQuality {
                    network_type: NetworkType::Cellular4g,
                    signal_dbm: Some(-97),
                    rtt_ms: None,
                    throughput_kbps: None,
                    failed_requests: 2,
                },
                ConnectionDiagnostics,
            ),
        ];
        for (event, purpose) in cases {
            assert_eq!(event.purpose(), purpose, "{}", event.kind());
        }
    }

    #[test]
    fn invalid_strings_make_the_event_invalid() {
        assert!(TelemetryEvent::ScreenView { screen: " ".into() }
            .wire_data(2)
            .is_none());
        assert!(TelemetryEvent::ScreenView {
            screen: "x".repeat(129)
        }
        .wire_data(2)
        .is_none());
        assert!(TelemetryEvent::ErrorCount {
            code: "a\nb".into(),
            count: 1
        }
        .wire_data(2)
        .is_none());
        assert!(TelemetryEvent::ScreenView {
            screen: "parking_map".into()
        }
        .wire_data(2)
        .is_some());
    }
}
