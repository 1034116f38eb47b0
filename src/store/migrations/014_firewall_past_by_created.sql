-- Schema v14: an index on firewall_past.created_at, so that the check made after every
-- remembered value (is the oldest fingerprint past its retention?) reads one index entry
-- instead of the whole table (src/store/past_values.rs, `prune`). IF NOT EXISTS: a file at
-- an earlier version may already carry it.
CREATE INDEX IF NOT EXISTS firewall_past_by_created ON firewall_past (created_at);
