//! Build script: link the bare-metal kernel images with `linker.ld`.
//!
//! The host build (unit tests of the allocator algorithms) links normally, so
//! the linker script is only passed when compiling for the kernel target.

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rerun-if-changed=linker.ld");
    println!("cargo:rerun-if-changed=build.rs");
    if target.starts_with("i686-kernel") {
        println!("cargo:rustc-link-arg=-T{dir}/linker.ld");
        println!("cargo:rustc-link-arg=--gc-sections");
    }
}
