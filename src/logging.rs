//! Forwarding of the SDK's `log` records to the host's logger (Logcat, os_log, ...).
//!
//! The host installs a [`LogSink`] with a level; records above the level are filtered in
//! Rust by `log`'s global max level, so they cost one comparison and never cross the FFI
//! (forwarding every record is slow: app-services measured 18 s for a million). Only the
//! SDK's own records (targets `aparking_core::*`) are forwarded: those of dependencies
//! (HTTP, TLS) could quote URLs or headers. No SDK message contains personal data.

use once_cell::sync::OnceCell;
use std::sync::{Arc, RwLock};

/// Severity of a log record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, uniffi::Enum)]
pub enum LogLevel {
    /// Errors.
    Error,
    /// Warnings.
    Warn,
    /// Information (store opened, key rotated, ...).
    Info,
    /// Debugging detail.
    Debug,
    /// Very verbose detail.
    Trace,
}

impl LogLevel {
    fn filter(self) -> log::LevelFilter {
        match self {
            LogLevel::Error => log::LevelFilter::Error,
            LogLevel::Warn => log::LevelFilter::Warn,
            LogLevel::Info => log::LevelFilter::Info,
            LogLevel::Debug => log::LevelFilter::Debug,
            LogLevel::Trace => log::LevelFilter::Trace,
        }
    }

    fn of(level: log::Level) -> Self {
        match level {
            log::Level::Error => LogLevel::Error,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Info => LogLevel::Info,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Trace => LogLevel::Trace,
        }
    }
}

/// One log record.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LogRecord {
    /// Severity.
    pub level: LogLevel,
    /// The module that logged it (`aparking_core::store`).
    pub target: String,
    /// The message (never personal data).
    pub message: String,
}

/// The host's logger. Called on the thread that logged (any SDK thread); must be quick
/// and must not call back into the SDK.
#[uniffi::export(with_foreign)]
pub trait LogSink: Send + Sync {
    /// Receives one record.
    fn log(&self, record: LogRecord);
}

struct Forwarder {
    sink: RwLock<Option<Arc<dyn LogSink>>>,
}

impl log::Log for Forwarder {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target().starts_with("aparking_core")
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let sink = self
            .sink
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let Some(sink) = sink {
            sink.log(LogRecord {
                level: LogLevel::of(record.level()),
                target: record.target().to_string(),
                message: record.args().to_string(),
            });
        }
    }

    fn flush(&self) {}
}

static FORWARDER: OnceCell<&'static Forwarder> = OnceCell::new();

/// Installs `sink` as the receiver of the SDK's log records at `maxLevel` and above
/// (replacing any previous sink), or stops forwarding when `sink` is null / nil. The level
/// applies before the sink is installed, so no record above it is ever formatted.
///
/// Returns `false` when another `log` logger already owns the process (a Rust host that
/// installed its own); then records go there and `sink` is not used.
#[uniffi::export]
pub fn set_log_sink(sink: Option<Arc<dyn LogSink>>, max_level: LogLevel) -> bool {
    let forwarder = FORWARDER.get_or_init(|| {
        let leaked: &'static Forwarder = Box::leak(Box::new(Forwarder {
            sink: RwLock::new(None),
        }));
        if log::set_logger(leaked).is_err() {
            log::warn!("another logger is installed; the SDK's log sink is not used");
        }
        leaked
    });
    let installed = std::ptr::eq(
        log::logger() as *const dyn log::Log as *const u8,
        *forwarder as *const Forwarder as *const u8,
    );
    if !installed {
        return false;
    }
    log::set_max_level(if sink.is_some() {
        max_level.filter()
    } else {
        log::LevelFilter::Off
    });
    *forwarder
        .sink
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = sink;
    true
}
