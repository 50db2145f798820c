-- The change feed (GET /api/events): a row for each change of an image's
-- state (pending, processing, done, failed, deleted), numbered in the order
-- the changes were made; written in the transaction that makes the change.
CREATE TABLE imaged_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    image_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX imaged_events_at ON imaged_events (at);
