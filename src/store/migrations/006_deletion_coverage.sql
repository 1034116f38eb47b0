-- Which purposes a delivered-or-queued deletion request already named each installation id
-- for (a purpose bit mask). An ended id collects nothing more, so it needs naming once per
-- purpose: deletion requests stay small however often consent changes.
ALTER TABLE telemetry_installations ADD COLUMN deleted_purposes INTEGER NOT NULL DEFAULT 0;
