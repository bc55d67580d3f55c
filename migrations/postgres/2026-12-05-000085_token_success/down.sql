ALTER TABLE tokens DROP COLUMN success_receipt_id;
ALTER TABLE tokens DROP COLUMN success_at;
ALTER TABLE tokens DROP COLUMN success_binding_pk;
