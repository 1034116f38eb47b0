//! How the API spells amounts: counts are `i64` (Kotlin `Long`, Swift `Int64`).

/// A count for the API (Kotlin `Long`, Swift `Int64`): counts never come near `i64::MAX`.
pub(crate) fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
