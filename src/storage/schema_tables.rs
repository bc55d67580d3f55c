// @generated from the migrations by the schema check (src/storage/schema_tests.rs):
// TOKEND_WRITE_SCHEMA=1 cargo test --lib storage::schema_tests

diesel::table! {
    master_keys (key_id) {
        key_id -> Text,
        fingerprint -> Text,
        state -> Text,
        added_at -> BigInt,
        retired_at -> Nullable<BigInt>,
        wrapped_by -> Nullable<Text>,
        wrapped_keys -> Nullable<Binary>,
    }
}

diesel::table! {
    meta (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    oob_events (id) {
        id -> Integer,
        session_pk -> Integer,
        alrt_pkg_id -> Text,
        usr_name -> Nullable<Text>,
        result -> Text,
        at -> BigInt,
        delivered_at -> Nullable<BigInt>,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        last_error -> Nullable<Text>,
        refused_at -> Nullable<BigInt>,
        reason -> Nullable<Text>,
    }
}

diesel::table! {
    oob_sessions (id) {
        id -> Integer,
        alrt_pkg_id -> Text,
        user_pk -> Nullable<Integer>,
        phone_num -> Text,
        mode -> Text,
        origin -> Text,
        otp_kind -> Text,
        otp_hash -> Text,
        sms_template -> Text,
        state -> Text,
        send_stat -> Text,
        resend_count -> Integer,
        expires_at -> BigInt,
        created_at -> BigInt,
        ended_at -> Nullable<BigInt>,
        inst_rt_id -> Text,
    }
}

diesel::table! {
    sms_attempts (id) {
        id -> Integer,
        message_pk -> Integer,
        at -> BigInt,
        result -> Text,
        detail -> Nullable<Text>,
    }
}

diesel::table! {
    sms_messages (id) {
        id -> Integer,
        session_pk -> Nullable<Integer>,
        user_pk -> Nullable<Integer>,
        phone_num -> Text,
        body -> Nullable<Text>,
        provider -> Text,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        last_error -> Nullable<Text>,
        created_at -> BigInt,
        sent_at -> Nullable<BigInt>,
        inst_rt_id -> Nullable<Text>,
        sent_by -> Nullable<Text>,
        body_sealed -> Nullable<Binary>,
    }
}

diesel::table! {
    soap_nonces (nonce_key) {
        nonce_key -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    staff_passkeys (id) {
        id -> Integer,
        admin_id -> Integer,
        name -> Text,
        credential -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    temp_codes (id) {
        id -> Integer,
        user_pk -> Integer,
        code_hash -> Text,
        one_time -> Bool,
        failure_count -> Integer,
        expires_at -> BigInt,
        created_at -> BigInt,
        used_at -> Nullable<BigInt>,
        ended_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    tokens (id) {
        id -> Integer,
        token_id -> Text,
        token_type -> Text,
        algorithm -> Text,
        digits -> Integer,
        period -> Integer,
        seed_key_id -> Text,
        seed_nonce -> Binary,
        seed_ciphertext -> Binary,
        status -> Text,
        last_step -> BigInt,
        drift -> Integer,
        version -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
        inst_rt_id -> Text,
        success_binding_pk -> Nullable<Integer>,
        success_at -> Nullable<BigInt>,
        success_receipt_id -> Nullable<Text>,
    }
}

diesel::table! {
    users (id) {
        id -> Integer,
        inst_rt_id -> Text,
        usr_name -> Text,
        phone_num -> Nullable<Text>,
        created_at -> BigInt,
        oob_failed_sessions -> Integer,
        phone_changed_at -> Nullable<BigInt>,
        hold_lifted_at -> Nullable<BigInt>,
        usr_name_key -> Nullable<Text>,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> Integer,
        delivery_id -> Integer,
        attempt -> Integer,
        at -> BigInt,
        status -> Nullable<Integer>,
        error -> Nullable<Text>,
        duration_ms -> BigInt,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Integer,
        endpoint_id -> Integer,
        event_id -> Integer,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        created_at -> BigInt,
        delivered_at -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Integer,
        url -> Text,
        inst_rt_id -> Nullable<Text>,
        secret_sealed -> Binary,
        previous_sealed -> Nullable<Binary>,
        previous_until -> Nullable<BigInt>,
        created_at -> BigInt,
        rotated_at -> Nullable<BigInt>,
        removed_at -> Nullable<BigInt>,
    }
}
