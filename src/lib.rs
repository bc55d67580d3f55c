//! tokend — TOTP token management for financial institutions.
//!
//! The library builds the whole service so the binary, the CLI and the tests all run the
//! same thing. Layers, each importing only downward:
//!
//! ```text
//! cli → bootstrap → config, web → domain → storage, sms, crypto, otp → types
//! ```
//!
//! `web` never touches storage, crypto or otp; `domain` never touches Rocket; `config` is
//! data (composition is in `bootstrap::compose`); only `storage` names Diesel; only
//! `crypto` names ring. `tests/layering.rs` reads every `crate::` edge and enforces this.

pub mod bootstrap;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod logging;
pub mod oidc;
pub mod otp;
pub mod sms;
pub mod storage;
pub mod types;
pub mod web;
pub mod worker;

pub use web::build as build_rocket;
