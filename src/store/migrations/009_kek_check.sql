-- Schema v9: the key-encryption key's check tag (HMAC of a constant under a key derived
-- from the KEK), so that a wrong KEK (`WrongKey`) is told from a damaged wrapped data key
-- (`StoreCorrupted`). Filled in for older stores on their first open with the right key.
ALTER TABLE key_check ADD COLUMN kek_check BLOB;
