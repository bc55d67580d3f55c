-- Issue 29: institutions registered with `tokend institution create`. A sandbox
-- institution has a test clock (clock_at, ms) that starts at the real time and moves
-- only forwards, when its integrator says (POST /api/v1/sandbox/clock); every time rule
-- of its requests reads it. Institutions not listed here are production ones, as every
-- institution was before; a production institution never becomes a sandbox.
CREATE TABLE institutions (
    inst_rt_id TEXT PRIMARY KEY NOT NULL,
    sandbox BOOLEAN NOT NULL,
    clock_at BIGINT,
    created_at BIGINT NOT NULL
);
