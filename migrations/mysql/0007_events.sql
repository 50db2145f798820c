-- The change feed (GET /api/events): a row for each change of an image's
-- state (pending, processing, done, failed, deleted), numbered in the order
-- the changes were made; written in the transaction that makes the change.
CREATE TABLE IF NOT EXISTS imaged_events (
    seq BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    image_id BIGINT NOT NULL,
    status VARCHAR(16) NOT NULL,
    at DATETIME(3) NOT NULL,
    KEY imaged_events_at (at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
