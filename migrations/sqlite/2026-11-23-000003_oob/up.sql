-- Out-of-band (SMS) validation, jXchange OOBValidate. Portable SQL, times in ms.

-- One row per OOBValidate request or lock fallback (AlrtPkgId). Only a keyed hash of the
-- OTP is stored. state: Pending until it ends as Success, Failed or Expired, exactly once
-- (a conditional UPDATE ... WHERE state = 'Pending'). OneWay rows are notifications only:
-- they stay Pending and never end, verify or expire.
CREATE TABLE oob_sessions (
    id INTEGER PRIMARY KEY NOT NULL,
    alrt_pkg_id TEXT NOT NULL UNIQUE,
    user_pk INTEGER REFERENCES users (id),
    phone_num TEXT NOT NULL,
    mode TEXT NOT NULL,
    origin TEXT NOT NULL,
    otp_kind TEXT NOT NULL,
    otp_hash TEXT NOT NULL,
    sms_template TEXT NOT NULL,
    state TEXT NOT NULL,
    send_stat TEXT NOT NULL,
    resend_count INTEGER NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    ended_at BIGINT
);
-- The sweeper's query: Pending TwoWay sessions past their expiry (OneWay ones stay Pending
-- for ever and must not be scanned each sweep).
CREATE INDEX oob_sessions_by_state ON oob_sessions (state, mode, expires_at);
CREATE INDEX oob_sessions_by_phone ON oob_sessions (phone_num, state);
CREATE INDEX oob_sessions_by_user ON oob_sessions (user_pk, state);

-- Every SMS: the outbox (provider 'outbox': stored is delivered) and the queue of the
-- http provider (Pending until a sender thread delivers it or gives up). The body of an
-- http message is cleared once it is delivered or has failed for good.
CREATE TABLE sms_messages (
    id INTEGER PRIMARY KEY NOT NULL,
    session_pk INTEGER REFERENCES oob_sessions (id),
    user_pk INTEGER REFERENCES users (id),
    phone_num TEXT NOT NULL,
    body TEXT,
    provider TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX sms_messages_due ON sms_messages (state, next_attempt_at);
CREATE INDEX sms_messages_by_phone ON sms_messages (phone_num, created_at);
CREATE INDEX sms_messages_by_user ON sms_messages (user_pk, created_at);
-- The few messages that still hold a text (the sweeper drops those of expired sessions).
CREATE INDEX sms_messages_with_text ON sms_messages (session_pk) WHERE body IS NOT NULL;

-- The result of each delivery attempt.
CREATE TABLE sms_attempts (
    id INTEGER PRIMARY KEY NOT NULL,
    message_pk INTEGER NOT NULL REFERENCES sms_messages (id),
    at BIGINT NOT NULL,
    result TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX sms_attempts_by_message ON sms_attempts (message_pk);

-- jXchange "90040 ENS Publisher Feedback": one per ended session (UNIQUE session_pk),
-- written in the transaction that ends it; also the outbox of the event webhook.
CREATE TABLE oob_events (
    id INTEGER PRIMARY KEY NOT NULL,
    session_pk INTEGER NOT NULL UNIQUE REFERENCES oob_sessions (id),
    alrt_pkg_id TEXT NOT NULL,
    usr_name TEXT,
    result TEXT NOT NULL,
    at BIGINT NOT NULL,
    delivered_at BIGINT,
    attempts INTEGER NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT
);
CREATE INDEX oob_events_undelivered ON oob_events (delivered_at, next_attempt_at);
