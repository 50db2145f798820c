-- Each variant in each of processing.formats: a row per size and format.
-- Those made before were JPEG.
ALTER TABLE imaged_variants
    ADD COLUMN format VARCHAR(8) NOT NULL DEFAULT 'jpeg' AFTER size,
    DROP PRIMARY KEY,
    ADD PRIMARY KEY (image_id, size, format);
