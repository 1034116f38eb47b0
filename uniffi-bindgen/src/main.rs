//! `uniffi-bindgen`: generates the Kotlin and Swift bindings from the built library.
//!
//! Usage: `cargo run -p uniffi-bindgen -- generate --library target/debug/libaparking_core.so --language kotlin --out-dir OUT`

fn main() {
    uniffi::uniffi_bindgen_main()
}
