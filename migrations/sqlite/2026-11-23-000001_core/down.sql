DROP INDEX audit_events_by_token;
DROP TABLE audit_events;
DROP TABLE api_keys;
DROP INDEX bindings_by_user;
DROP TABLE bindings;
DROP TABLE tokens;
DROP TABLE users;
DROP TABLE meta;
