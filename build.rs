//! Rebuilds when a migration is added or changed: they are embedded in the binary
//! (`embed_migrations!` in src/storage/migrate.rs), and cargo watches only the Rust
//! sources unless told.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
