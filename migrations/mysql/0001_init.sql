-- The CloudX table, with exactly the statement CloudX runs at start-up:
-- on a database CloudX has been writing to, this does nothing.
CREATE TABLE IF NOT EXISTS images (id SERIAL NOT NULL PRIMARY KEY, object_key TEXT NOT NULL,
  object_type TEXT NOT NULL, last_modified timestamp NOT NULL, object_size BIGINT NOT NULL);

-- imaged's own state, in tables of its own (the images table is left as it is),
-- in utf8mb4 whatever the server's default: keys may hold any character.

-- One image per object key: the unique hash is what keeps an object
-- announced twice at once (an S3 event and the API, or two hosts) to one row.
CREATE TABLE IF NOT EXISTS imaged_objects (
    key_hash BINARY(32) NOT NULL PRIMARY KEY,
    image_id BIGINT UNSIGNED NOT NULL,
    KEY imaged_objects_image (image_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS imaged_jobs (
    image_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    status VARCHAR(16) NOT NULL,
    error TEXT NULL,
    content_type VARCHAR(100) NULL,
    updated_at DATETIME(3) NOT NULL,
    KEY imaged_jobs_status (status)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS imaged_variants (
    image_id BIGINT UNSIGNED NOT NULL,
    size BIGINT NOT NULL,
    width BIGINT NOT NULL,
    height BIGINT NOT NULL,
    object_key TEXT NOT NULL,
    object_size BIGINT NOT NULL,
    PRIMARY KEY (image_id, size)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
