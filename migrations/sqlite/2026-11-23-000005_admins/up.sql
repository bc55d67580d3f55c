-- Admin accounts of the web console. The password is only ever stored as an argon2id
-- PHC string. failure_count and locked_until implement the sign-in back-off;
-- must_change forces a new password at the next sign-in (the bootstrap admin's one-time
-- password, generated passwords of `tokend admin create`).
CREATE TABLE admins (
    id INTEGER PRIMARY KEY NOT NULL,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    must_change BOOLEAN NOT NULL,
    failure_count INTEGER NOT NULL,
    locked_until BIGINT,
    last_sign_in_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
