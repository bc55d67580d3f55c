DROP INDEX temp_codes_by_user;
DROP TABLE temp_codes;
