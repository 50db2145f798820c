-- Notices that go out once however many messages carry them (a delete's:
-- several requests, retries and redeliveries send the same text), by the
-- SHA-256 of their text. Kept two weeks, as long as SQS keeps a message.
CREATE TABLE IF NOT EXISTS imaged_sent_notices (
    digest BINARY(32) NOT NULL PRIMARY KEY,
    sent_at DATETIME(3) NOT NULL,
    KEY imaged_sent_notices_sent_at (sent_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
