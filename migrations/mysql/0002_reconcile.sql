-- What the reconciler reads: jobs that stopped moving, and originals that
-- may exist without a row (an upload not yet recorded, a delete not yet
-- finished).
ALTER TABLE imaged_jobs
    ADD COLUMN requeues INT UNSIGNED NOT NULL DEFAULT 0,
    -- Whether the upload's notice went out: a job done while the topic was
    -- down sends it on its next delivery. Jobs finished before are taken as sent.
    ADD COLUMN notified BOOLEAN NOT NULL DEFAULT FALSE,
    ADD KEY imaged_jobs_stuck (status, updated_at);

UPDATE imaged_jobs SET notified = TRUE WHERE status IN ('done', 'failed');

CREATE TABLE IF NOT EXISTS imaged_blob_journal (
    key_hash BINARY(32) NOT NULL PRIMARY KEY,
    object_key TEXT NOT NULL,
    since DATETIME(3) NOT NULL,
    KEY imaged_blob_journal_since (since)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
