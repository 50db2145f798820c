-- The tag (S3's ETag, or the file's size and time) of the bytes a job made
-- its variants from: new bytes under the same key are made again.
ALTER TABLE jobs ADD COLUMN source_tag TEXT;

-- Deletes under way: one request deletes an image, however many ask at
-- once; a mark left by a process that died goes stale and is taken over.
CREATE TABLE deletes (
    image_id INTEGER PRIMARY KEY,
    since TIMESTAMP NOT NULL
);
CREATE INDEX deletes_since ON deletes (since);
