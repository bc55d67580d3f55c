-- Issue 30: the state a validation's success changes, on one row. A success already
-- writes the token (the replay guard: last_step, drift, version); it now also writes
-- there which binding succeeded last and that success's LastAuthenTimeDt and
-- LastTrnRcptId, instead of writing the binding row too: one random page less per
-- success. A binding's own last_authen_at/last_receipt_id hold its values from before
-- the token's last success moved to another binding (rare: a token shared by users);
-- readers take the token's columns for the binding they name (storage::bindings).
ALTER TABLE tokens ADD COLUMN success_binding_pk INTEGER;
ALTER TABLE tokens ADD COLUMN success_at BIGINT;
ALTER TABLE tokens ADD COLUMN success_receipt_id TEXT;
