-- Schema v7: the head of the consent-receipt hash chain (law No. 94-V, Art. 8), sealed.
-- sealed: JSON {"head_id", "head_sha256", "length", "policy_version", "granted"}: the
-- newest receipt, how many there are, and the consent they leave in force. The consent
-- state is read from here, authenticated; consent_current stays as a clear copy that
-- nothing trusts. One row at most; a store with receipts and no row was tampered with.
CREATE TABLE consent_chain (
    id     TEXT PRIMARY KEY CHECK (id = 'head'),
    sealed BLOB NOT NULL
);
