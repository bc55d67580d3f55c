//! One integration test binary (as crates.io does): every file drives the real `tokend`
//! binary over HTTP, each test on its own server and database, so they run in parallel.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is the failure report"
)]

mod admin_browser;
mod admin_hardware;
mod admin_pages;
mod admin_tokens;
mod admin_views;
mod api_audit;
mod api_faults;
mod api_inquiry;
mod api_lifecycle;
mod api_oob;
mod api_openapi;
mod api_openapi_lint;
mod api_tokens;
mod api_validate;
mod audit_archive;
mod cli;
mod cluster;
mod console_words;
mod crash;
mod failover;
mod hardening;
mod hsm;
mod idempotency;
mod institutions;
mod log_secrets;
mod oob_recipient;
mod operator;
mod ops;
mod phones;
mod phones_browser;
mod postgres;
mod pskc_import;
mod rate_limits;
mod readiness;
mod readme;
mod rekey;
mod restart;
mod sandbox;
mod secrets_at_rest;
mod sink;
mod sms_fraud;
mod soap;
mod soap_digest;
mod soap_faults;
mod soap_users;
mod soap_wire;
mod soap_xsdata;
mod soap_zeep;
mod staff;
mod staff_browser;
mod staff_factor;
mod staff_oidc;
mod support;
mod systemd_user;
mod transport;
mod webhook_endpoints;
mod webhooks;
