-- Issue 29: every attempt to push an event to the configured webhook (event_webhook_url),
-- logged like the managed endpoints' attempts (webhook_attempts): when, which attempt,
-- how long, and the HTTP status or the error. The event row keeps its own counters
-- (attempts, last_error, delivered_at); this table is the history the console lists.
-- Its own table rather than webhook_attempts: those hang off a delivery to a managed
-- endpoint, and the configured webhook has neither an endpoint row nor deliveries.
CREATE TABLE event_webhook_attempts (
    id SERIAL PRIMARY KEY,
    event_id INTEGER NOT NULL REFERENCES oob_events (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    at BIGINT NOT NULL,
    status INTEGER,
    error TEXT,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX event_webhook_attempts_of ON event_webhook_attempts (event_id);
