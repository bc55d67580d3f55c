DROP INDEX users_by_name_key;
ALTER TABLE users DROP COLUMN usr_name_key;
