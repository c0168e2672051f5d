//! `sqlx::migrate!` embeds the migrations at compile time, but stable Rust cannot tell Cargo
//! which directory a macro read, so without this a new migration file is silently left out of
//! an incremental build.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
