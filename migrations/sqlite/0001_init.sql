-- The CloudX table, with exactly its columns.
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    object_key TEXT NOT NULL,
    object_type TEXT NOT NULL,
    last_modified TIMESTAMP NOT NULL,
    object_size BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS images_object_key ON images (object_key);

-- imaged's processing state, one row per image.
CREATE TABLE jobs (
    image_id INTEGER PRIMARY KEY,
    status TEXT NOT NULL,
    error TEXT,
    content_type TEXT,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE variants (
    image_id INTEGER NOT NULL,
    size INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    object_key TEXT NOT NULL,
    object_size BIGINT NOT NULL,
    PRIMARY KEY (image_id, size)
);

-- The embedded queue: SQS semantics in a table.
CREATE TABLE queue_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    body TEXT NOT NULL,
    sent_at INTEGER NOT NULL,       -- unix ms
    visible_at INTEGER NOT NULL,    -- unix ms
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT
);
CREATE INDEX queue_messages_visible ON queue_messages (visible_at, id);
CREATE UNIQUE INDEX queue_messages_receipt ON queue_messages (receipt);

CREATE TABLE queue_dead_letters (
    id INTEGER PRIMARY KEY,
    body TEXT NOT NULL,
    sent_at INTEGER NOT NULL,
    receive_count INTEGER NOT NULL,
    dead_at INTEGER NOT NULL
);

-- The embedded notifier's e-mail subscriptions.
CREATE TABLE subscriptions (
    endpoint TEXT PRIMARY KEY,
    subscription_arn TEXT NOT NULL,
    protocol TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
