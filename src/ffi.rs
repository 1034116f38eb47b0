//! FFI-only entry points: items that exist for the Kotlin and Swift bindings and carry no
//! logic of their own. The rest of the FFI surface is exported where it is defined
//! (`#[uniffi::export]` on [`crate::Store`], the records in [`crate::model`], ...).

/// The SDK version (the crate's SemVer version).
#[uniffi::export]
pub fn sdk_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// The store schema version this SDK writes.
#[uniffi::export]
pub fn store_schema_version() -> i32 {
    crate::store::SCHEMA_VERSION as i32
}
