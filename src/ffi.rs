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

/// The name of the region a plate was registered in, in `language`, for display:
/// `region` is `PlateNumber.region` (a code `01`-`20`, or a 1993 region
/// letter). Nil when it names no region (the 1993 letters `O` and `W` were each used by
/// two regions).
#[uniffi::export]
pub fn plate_region_name(region: String, language: crate::model::Language) -> Option<String> {
    let names = crate::formats::region::region_names(&region)?;
    Some(
        match language {
            crate::model::Language::Kk => names.kk,
            crate::model::Language::Ru => names.ru,
            crate::model::Language::En => names.en,
        }
        .to_string(),
    )
}
