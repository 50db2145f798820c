-- Notices that go out once however many messages carry them (a delete's:
-- several requests, retries and redeliveries send the same text), by the
-- SHA-256 of their text. Kept two weeks, as long as SQS keeps a message.
CREATE TABLE sent_notices (
    digest BLOB NOT NULL PRIMARY KEY,
    sent_at TIMESTAMP NOT NULL
);
CREATE INDEX sent_notices_sent_at ON sent_notices (sent_at);
