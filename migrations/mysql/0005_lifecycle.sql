-- The tag (S3's ETag, or the file's size and time) of the bytes a job made
-- its variants from: new bytes under the same key are made again.
ALTER TABLE imaged_jobs ADD COLUMN source_tag VARCHAR(255) NULL;

-- Deletes under way: one request deletes an image, however many ask at
-- once; a mark left by a process that died goes stale and is taken over.
CREATE TABLE IF NOT EXISTS imaged_deletes (
    image_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    since DATETIME(3) NOT NULL,
    KEY imaged_deletes_since (since)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
