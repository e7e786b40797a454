// `sqlx::migrate!` embeds the migrations when this crate compiles; on stable Rust it cannot
// tell cargo to watch them, so a new or changed migration alone would leave a stale build.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
