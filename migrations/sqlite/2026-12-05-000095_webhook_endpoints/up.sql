-- Issue 29: webhook endpoints managed by tokend (`tokend webhook add|list|remove|secret
-- rotate`), each with its own Standard Webhooks secret sealed under the master key like a
-- seed (never hashed: tokend signs with it), bound to its row. During a rotation the
-- previous secret also signs until previous_until. A removed endpoint keeps its row (its
-- deliveries stay listed) with its secrets wiped.
CREATE TABLE webhook_endpoints (
    id INTEGER PRIMARY KEY NOT NULL,
    url TEXT NOT NULL,
    inst_rt_id TEXT,
    secret_sealed BLOB NOT NULL,
    previous_sealed BLOB,
    previous_until BIGINT,
    created_at BIGINT NOT NULL,
    rotated_at BIGINT,
    removed_at BIGINT
);
-- One row per (endpoint, event): its state and the next attempt's time.
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY NOT NULL,
    endpoint_id INTEGER NOT NULL REFERENCES webhook_endpoints (id),
    event_id INTEGER NOT NULL REFERENCES oob_events (id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT,
    last_error TEXT,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
-- Every attempt: when, how long, and the HTTP status or the error.
CREATE TABLE webhook_attempts (
    id INTEGER PRIMARY KEY NOT NULL,
    delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    at BIGINT NOT NULL,
    status INTEGER,
    error TEXT,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX webhook_attempts_of ON webhook_attempts (delivery_id);
