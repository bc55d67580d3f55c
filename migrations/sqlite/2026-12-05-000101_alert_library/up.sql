-- Issue 28: OOBValidate's recipient/subscription mode. Each institution may deploy a
-- library of named alert texts (jXchange's ENS publisher library: `AlrtName`), each
-- name versioned (`PubVer`: adding a name again adds version n+1; old versions stay, so
-- a consumer pinned to one keeps getting it). A library can be closed to OOB (fault
-- 3155) without losing its texts. Users (the recipients, `ConsmRecipId` = `UsrName`)
-- are subscribed to alert names, all versions of a name at once.
CREATE TABLE alert_libraries (
    inst_rt_id TEXT PRIMARY KEY NOT NULL,
    oob_enabled BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE alert_texts (
    id INTEGER PRIMARY KEY NOT NULL,
    inst_rt_id TEXT NOT NULL REFERENCES alert_libraries (inst_rt_id),
    alrt_name TEXT NOT NULL,
    pub_ver INTEGER NOT NULL,
    text TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (inst_rt_id, alrt_name, pub_ver)
);
CREATE TABLE alert_subscriptions (
    user_pk INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    alrt_name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_pk, alrt_name)
);
