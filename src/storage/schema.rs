// @generated from the migrations by the schema check (src/storage/schema_tests.rs):
// TOKEND_WRITE_SCHEMA=1 cargo test --lib storage::schema_tests

diesel::table! {
    admin_sessions (id_hash) {
        id_hash -> Text,
        admin_id -> Integer,
        issued_at -> BigInt,
        last_seen_at -> BigInt,
        factor_at -> Nullable<BigInt>,
        via -> Text,
        webauthn_state -> Nullable<Text>,
    }
}

diesel::table! {
    admins (id) {
        id -> Integer,
        username -> Text,
        password_hash -> Text,
        must_change -> Bool,
        failure_count -> Integer,
        locked_until -> Nullable<BigInt>,
        last_sign_in_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
        role -> Text,
        inst_rt_id -> Nullable<Text>,
        disabled_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    alert_libraries (inst_rt_id) {
        inst_rt_id -> Text,
        oob_enabled -> Bool,
        created_at -> BigInt,
    }
}

diesel::table! {
    alert_subscriptions (user_pk, alrt_name) {
        user_pk -> Integer,
        alrt_name -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    alert_texts (id) {
        id -> Integer,
        inst_rt_id -> Text,
        alrt_name -> Text,
        pub_ver -> Integer,
        text -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Integer,
        name -> Text,
        key_hash -> Text,
        scopes -> Text,
        created_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        inst_rt_id -> Nullable<Text>,
        consumer_name -> Nullable<Text>,
        consumer_prod -> Nullable<Text>,
        last_used_at -> Nullable<BigInt>,
        digest_secret -> Nullable<Binary>,
    }
}

diesel::table! {
    approvals (id) {
        id -> Integer,
        inst_rt_id -> Text,
        action -> Text,
        target -> Text,
        params -> Text,
        reason -> Text,
        maker_id -> Integer,
        maker -> Text,
        state -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<BigInt>,
        outcome -> Nullable<Text>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Integer,
        at -> BigInt,
        actor -> Text,
        audit_usr_id -> Nullable<Text>,
        audit_ws_id -> Nullable<Text>,
        tracking_id -> Nullable<Text>,
        bus_correl_id -> Nullable<Text>,
        action -> Text,
        token_id -> Nullable<Text>,
        usr_name -> Nullable<Text>,
        result -> Text,
        detail -> Nullable<Text>,
        link -> Nullable<Text>,
        inst_rt_id -> Nullable<Text>,
        chain_pos -> Nullable<BigInt>,
        audit_usr_src -> Nullable<Text>,
    }
}

diesel::table! {
    bindings (id) {
        id -> Integer,
        token_pk -> Integer,
        user_pk -> Integer,
        status -> Text,
        description -> Nullable<Text>,
        failure_count -> Integer,
        last_authen_at -> Nullable<BigInt>,
        last_receipt_id -> Nullable<Text>,
        locked_at -> Nullable<BigInt>,
        lock_reason -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    event_webhook_attempts (id) {
        id -> Integer,
        event_id -> Integer,
        attempt -> Integer,
        at -> BigInt,
        status -> Nullable<Integer>,
        error -> Nullable<Text>,
        duration_ms -> BigInt,
    }
}

diesel::table! {
    failed_codes (id) {
        id -> Integer,
        token_pk -> Integer,
        at -> BigInt,
        code_hash -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    hsm_data_keys (key_id) {
        key_id -> Text,
        fingerprint -> Text,
        hsm_key_label -> Text,
        wrapped -> Binary,
        added_at -> BigInt,
    }
}

diesel::table! {
    idempotency_keys (api_key, idem_key) {
        api_key -> Text,
        idem_key -> Text,
        fingerprint -> Text,
        claimed_at -> BigInt,
        expires_at -> BigInt,
        answer_status -> Nullable<Integer>,
        answer_sealed -> Nullable<Binary>,
    }
}

diesel::table! {
    institutions (inst_rt_id) {
        inst_rt_id -> Text,
        sandbox -> Bool,
        clock_at -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

include!("schema_tables.rs");

diesel::joinable!(admin_sessions -> admins (admin_id));
diesel::joinable!(alert_subscriptions -> users (user_pk));
diesel::joinable!(alert_texts -> alert_libraries (inst_rt_id));
diesel::joinable!(bindings -> tokens (token_pk));
diesel::joinable!(bindings -> users (user_pk));
diesel::joinable!(event_webhook_attempts -> oob_events (event_id));
diesel::joinable!(oob_events -> oob_sessions (session_pk));
diesel::joinable!(oob_sessions -> users (user_pk));
diesel::joinable!(sms_attempts -> sms_messages (message_pk));
diesel::joinable!(sms_messages -> oob_sessions (session_pk));
diesel::joinable!(sms_messages -> users (user_pk));
diesel::joinable!(staff_passkeys -> admins (admin_id));
diesel::joinable!(temp_codes -> users (user_pk));
diesel::joinable!(webhook_attempts -> webhook_deliveries (delivery_id));
diesel::joinable!(webhook_deliveries -> oob_events (event_id));
diesel::joinable!(webhook_deliveries -> webhook_endpoints (endpoint_id));

diesel::allow_tables_to_appear_in_same_query!(
    admin_sessions,
    admins,
    alert_libraries,
    alert_subscriptions,
    alert_texts,
    api_keys,
    approvals,
    audit_events,
    bindings,
    event_webhook_attempts,
    failed_codes,
    hsm_data_keys,
    idempotency_keys,
    institutions,
    master_keys,
    meta,
    oob_events,
    oob_sessions,
    sms_attempts,
    sms_messages,
    soap_nonces,
    staff_passkeys,
    temp_codes,
    tokens,
    users,
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
);
