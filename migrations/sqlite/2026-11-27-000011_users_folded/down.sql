DROP INDEX users_by_folded_name;
