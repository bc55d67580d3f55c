-- The console's user search is case-insensitive (a help desk types `jane` for `Jane Doe`):
-- a range on the ASCII-folded name, kept in this index so it stays a range at 100,000
-- users. Ties (names that differ only in case) sort by the exact name.
CREATE INDEX users_by_folded_name ON users (inst_rt_id, lower(usr_name), usr_name);
