-- Schema v11: keyed fingerprints of personal values the user no longer has (a changed
-- plate, a removed document, an old phone number or nickname), refused in telemetry like
-- current values (src/store/past_values.rs). sealed: JSON {kind, len, fp} (fp:
-- HMAC-SHA256 of the folded value under the key in the row 'key', sealed too).
-- created_at steers only the retention (180 days, at most 2,000 rows).
CREATE TABLE firewall_past (
    id         TEXT    PRIMARY KEY,
    created_at INTEGER NOT NULL,
    sealed     BLOB    NOT NULL
);
