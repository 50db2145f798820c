-- What the reconciler reads: jobs that stopped moving, and originals that
-- may exist without a row (an upload not yet recorded, a delete not yet
-- finished).
ALTER TABLE jobs ADD COLUMN requeues INTEGER NOT NULL DEFAULT 0;
-- Whether the upload's notice went out: a job done while the topic was
-- down sends it on its next delivery. Jobs finished before are taken as sent.
ALTER TABLE jobs ADD COLUMN notified INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET notified = 1 WHERE status IN ('done', 'failed');
CREATE INDEX jobs_status_updated ON jobs (status, updated_at);

CREATE TABLE blob_journal (
    object_key TEXT PRIMARY KEY,
    since TIMESTAMP NOT NULL
);
CREATE INDEX blob_journal_since ON blob_journal (since);
