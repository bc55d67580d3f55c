//! The tables `copy-to` copies, parents before children (the foreign keys' order), each
//! with every column of `schema` read by position: a column added to the schema and not
//! here fails to compile. The `tables!` macro (in the parent) makes the copy from this list.

use diesel::connection::SimpleConnection as _;
use diesel::prelude::*;
use diesel::{PgConnection, SqliteConnection};

use super::{Copied, CHUNK};
use crate::storage::{schema, Error};

tables! {
    whole meta MetaRow (name) {
        name: String,
        value: String,
    };
    whole master_keys MasterKeysRow (key_id) {
        key_id: String,
        fingerprint: String,
        state: String,
        added_at: i64,
        retired_at: Option<i64>,
        wrapped_by: Option<String>,
        wrapped_keys: Option<Vec<u8>>,
    };
    whole institutions InstitutionsRow (inst_rt_id) {
        inst_rt_id: String,
        sandbox: bool,
        clock_at: Option<i64>,
        created_at: i64,
    };
    whole hsm_data_keys HsmDataKeysRow (key_id) {
        key_id: String,
        fingerprint: String,
        hsm_key_label: String,
        wrapped: Vec<u8>,
        added_at: i64,
    };
    paged users UsersRow (id) {
        id: i32,
        inst_rt_id: String,
        usr_name: String,
        phone_num: Option<String>,
        created_at: i64,
        oob_failed_sessions: i32,
        phone_changed_at: Option<i64>,
        hold_lifted_at: Option<i64>,
        usr_name_key: Option<String>,
    };
    paged tokens TokensRow (id) {
        id: i32,
        token_id: String,
        token_type: String,
        algorithm: String,
        digits: i32,
        period: i32,
        seed_key_id: String,
        seed_nonce: Vec<u8>,
        seed_ciphertext: Vec<u8>,
        status: String,
        last_step: i64,
        drift: i32,
        version: i64,
        created_at: i64,
        updated_at: i64,
        inst_rt_id: String,
        success_binding_pk: Option<i32>,
        success_at: Option<i64>,
        success_receipt_id: Option<String>,
    };
    paged bindings BindingsRow (id) {
        id: i32,
        token_pk: i32,
        user_pk: i32,
        status: String,
        description: Option<String>,
        failure_count: i32,
        last_authen_at: Option<i64>,
        last_receipt_id: Option<String>,
        locked_at: Option<i64>,
        lock_reason: Option<String>,
        created_at: i64,
    };
    whole alert_libraries AlertLibrariesRow (inst_rt_id) {
        inst_rt_id: String,
        oob_enabled: bool,
        created_at: i64,
    };
    paged alert_texts AlertTextsRow (id) {
        id: i32,
        inst_rt_id: String,
        alrt_name: String,
        pub_ver: i32,
        text: String,
        created_at: i64,
    };
    whole alert_subscriptions AlertSubscriptionsRow (user_pk) {
        user_pk: i32,
        alrt_name: String,
        created_at: i64,
    };
    paged api_keys ApiKeysRow (id) {
        id: i32,
        name: String,
        key_hash: String,
        scopes: String,
        created_at: i64,
        revoked_at: Option<i64>,
        inst_rt_id: Option<String>,
        consumer_name: Option<String>,
        consumer_prod: Option<String>,
        last_used_at: Option<i64>,
        digest_secret: Option<Vec<u8>>,
    };
    paged admins AdminsRow (id) {
        id: i32,
        username: String,
        password_hash: String,
        must_change: bool,
        failure_count: i32,
        locked_until: Option<i64>,
        last_sign_in_at: Option<i64>,
        created_at: i64,
        updated_at: i64,
        role: String,
        inst_rt_id: Option<String>,
        disabled_at: Option<i64>,
    };
    paged approvals ApprovalsRow (id) {
        id: i32,
        inst_rt_id: String,
        action: String,
        target: String,
        params: String,
        reason: String,
        maker_id: i32,
        maker: String,
        state: String,
        created_at: i64,
        expires_at: i64,
        decided_by: Option<String>,
        decided_at: Option<i64>,
        outcome: Option<String>,
    };
    whole admin_sessions AdminSessionsRow (id_hash) {
        id_hash: String,
        admin_id: i32,
        issued_at: i64,
        last_seen_at: i64,
        factor_at: Option<i64>,
        via: String,
        webauthn_state: Option<String>,
    };
    paged staff_passkeys StaffPasskeysRow (id) {
        id: i32,
        admin_id: i32,
        name: String,
        credential: String,
        created_at: i64,
        last_used_at: Option<i64>,
    };
    paged temp_codes TempCodesRow (id) {
        id: i32,
        user_pk: i32,
        code_hash: String,
        one_time: bool,
        failure_count: i32,
        expires_at: i64,
        created_at: i64,
        used_at: Option<i64>,
        ended_at: Option<i64>,
    };
    paged oob_sessions OobSessionsRow (id) {
        id: i32,
        alrt_pkg_id: String,
        user_pk: Option<i32>,
        phone_num: String,
        mode: String,
        origin: String,
        otp_kind: String,
        otp_hash: String,
        sms_template: String,
        state: String,
        send_stat: String,
        resend_count: i32,
        expires_at: i64,
        created_at: i64,
        ended_at: Option<i64>,
        inst_rt_id: String,
    };
    paged sms_messages SmsMessagesRow (id) {
        id: i32,
        session_pk: Option<i32>,
        user_pk: Option<i32>,
        phone_num: String,
        body: Option<String>,
        provider: String,
        state: String,
        attempts: i32,
        next_attempt_at: i64,
        last_error: Option<String>,
        created_at: i64,
        sent_at: Option<i64>,
        inst_rt_id: Option<String>,
        sent_by: Option<String>,
        body_sealed: Option<Vec<u8>>,
    };
    paged sms_attempts SmsAttemptsRow (id) {
        id: i32,
        message_pk: i32,
        at: i64,
        result: String,
        detail: Option<String>,
    };
    paged oob_events OobEventsRow (id) {
        id: i32,
        session_pk: i32,
        alrt_pkg_id: String,
        usr_name: Option<String>,
        result: String,
        at: i64,
        delivered_at: Option<i64>,
        attempts: i32,
        next_attempt_at: i64,
        last_error: Option<String>,
        refused_at: Option<i64>,
        reason: Option<String>,
    };
    paged webhook_endpoints WebhookEndpointsRow (id) {
        id: i32,
        url: String,
        inst_rt_id: Option<String>,
        secret_sealed: Vec<u8>,
        previous_sealed: Option<Vec<u8>>,
        previous_until: Option<i64>,
        created_at: i64,
        rotated_at: Option<i64>,
        removed_at: Option<i64>,
    };
    paged webhook_deliveries WebhookDeliveriesRow (id) {
        id: i32,
        endpoint_id: i32,
        event_id: i32,
        state: String,
        attempts: i32,
        next_attempt_at: i64,
        created_at: i64,
        delivered_at: Option<i64>,
        last_error: Option<String>,
    };
    paged webhook_attempts WebhookAttemptsRow (id) {
        id: i32,
        delivery_id: i32,
        attempt: i32,
        at: i64,
        status: Option<i32>,
        error: Option<String>,
        duration_ms: i64,
    };
    paged event_webhook_attempts EventWebhookAttemptsRow (id) {
        id: i32,
        event_id: i32,
        attempt: i32,
        at: i64,
        status: Option<i32>,
        error: Option<String>,
        duration_ms: i64,
    };
    paged failed_codes FailedCodesRow (id) {
        id: i32,
        token_pk: i32,
        at: i64,
        code_hash: String,
        expires_at: i64,
    };
    paged audit_events AuditEventsRow (id) {
        id: i32,
        at: i64,
        actor: String,
        audit_usr_id: Option<String>,
        audit_ws_id: Option<String>,
        tracking_id: Option<String>,
        bus_correl_id: Option<String>,
        action: String,
        token_id: Option<String>,
        usr_name: Option<String>,
        result: String,
        detail: Option<String>,
        link: Option<String>,
        inst_rt_id: Option<String>,
        chain_pos: Option<i64>,
        audit_usr_src: Option<String>,
    };
}
