-- imaged's own tables take the names and keys they have in MySQL, so that
-- the two databases run the same SQL text (src/db/shared.rs).
ALTER TABLE jobs RENAME TO imaged_jobs;
ALTER TABLE variants RENAME TO imaged_variants;
ALTER TABLE sent_notices RENAME TO imaged_sent_notices;
ALTER TABLE deletes RENAME TO imaged_deletes;

-- Keyed by the SHA-256 of the key, as in MySQL. SQLite cannot hash: the
-- entries of the old table keep their key's text as a stand-in, and
-- `open_local` hashes them once the migration has run.
CREATE TABLE imaged_blob_journal (
    key_hash BLOB NOT NULL PRIMARY KEY,
    object_key TEXT NOT NULL,
    since TIMESTAMP NOT NULL
);
CREATE INDEX imaged_blob_journal_since ON imaged_blob_journal (since);
INSERT INTO imaged_blob_journal (key_hash, object_key, since)
    SELECT CAST(object_key AS BLOB), object_key, since FROM blob_journal;
DROP TABLE blob_journal;
