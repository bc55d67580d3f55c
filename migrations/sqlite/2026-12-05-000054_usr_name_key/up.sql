-- Issue 26: user names compare after Unicode NFKC and case folding within an institution
-- (`carol`, `Carol` and `Ｃarol` are one user). SQL cannot fold Unicode, so tokend fills
-- usr_name_key at start (types::usr_name_key) for every row that has none, and reports
-- the names that fold onto an existing user's: those keep no key (found by their exact
-- name only) until an admin renames or deletes one. New names that fold onto an
-- existing one are refused by this unique index.
ALTER TABLE users ADD COLUMN usr_name_key TEXT;
CREATE UNIQUE INDEX users_by_name_key ON users (inst_rt_id, usr_name_key);
