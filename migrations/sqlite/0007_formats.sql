-- Each variant in each of processing.formats: a row per size and format.
-- Those made before were JPEG. SQLite changes a key by copying the table.
CREATE TABLE imaged_variants_by_format (
    image_id INTEGER NOT NULL,
    size INTEGER NOT NULL,
    format TEXT NOT NULL DEFAULT 'jpeg',
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    object_key TEXT NOT NULL,
    object_size BIGINT NOT NULL,
    PRIMARY KEY (image_id, size, format)
);
INSERT INTO imaged_variants_by_format (image_id, size, width, height, object_key, object_size)
    SELECT image_id, size, width, height, object_key, object_size FROM imaged_variants;
DROP TABLE imaged_variants;
ALTER TABLE imaged_variants_by_format RENAME TO imaged_variants;
