//! The privacy-policy manifest served on `GET /v1/policy`.

use serde_json::Value;

use crate::PURPOSES;

/// Checks that `manifest` has the shape the SDK expects:
/// `{"version": 3, "last_updated": "2026-01-15", "url": "https://...",
///   "text_sha256": "<64 lower-case hex>", "purposes": ["statistics", ...]}`
/// (other fields are allowed). The error names the offending field, never its value.
///
/// The CLI checks `--policy` files with it;
/// [`ReferenceServer::set_policy`](crate::ReferenceServer::set_policy) does not, so tests
/// can publish broken manifests.
pub fn validate_policy_manifest(manifest: &Value) -> Result<(), String> {
    let m = manifest
        .as_object()
        .ok_or("the manifest must be a JSON object")?;
    match m.get("version").and_then(Value::as_u64) {
        Some(v) if v >= 1 => {}
        _ => return Err("version: must be a positive integer".into()),
    }
    let date = m.get("last_updated").and_then(Value::as_str).unwrap_or("");
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    if time::Date::parse(date, &date_format).is_err() {
        return Err("last_updated: must be a date YYYY-MM-DD".into());
    }
    if !m
        .get("url")
        .and_then(Value::as_str)
        .is_some_and(|u| u.starts_with("https://") && u.len() > "https://".len())
    {
        return Err("url: must be an https URL".into());
    }
    if !m
        .get("text_sha256")
        .and_then(Value::as_str)
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
    {
        return Err("text_sha256: must be 64 lower-case hex digits".into());
    }
    let purposes = m
        .get("purposes")
        .and_then(Value::as_array)
        .ok_or("purposes: must be an array")?;
    for (i, p) in purposes.iter().enumerate() {
        if !p.as_str().is_some_and(|p| PURPOSES.contains(&p)) {
            return Err(format!("purposes[{i}]: unknown purpose"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn checks_the_manifest_shape() {
        let mut m = json!({"version": 3, "last_updated": "2026-01-15",
            "url": "https://aparking.kz/privacy", "text_sha256": "ab".repeat(32),
            "purposes": ["statistics", "connection_diagnostics"]});
        assert_eq!(validate_policy_manifest(&m), Ok(()));
        m["purposes"] = json!(["statistics", "selling"]);
        assert_eq!(
            validate_policy_manifest(&m),
            Err("purposes[1]: unknown purpose".into())
        );
        m["purposes"] = json!([]);
        m["last_updated"] = json!("15.01.2026");
        assert!(validate_policy_manifest(&m)
            .unwrap_err()
            .starts_with("last_updated"));
    }
}
