//! Embeds js/dist/ethers.bundle.js when `js/setup.sh` has produced it. Never
//! touches the network: without the bundle the crate still builds, and the
//! sandbox looks for the file at run time instead (see src/ethers.rs).
use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let bundle = dir.join("js").join("dist").join("ethers.bundle.js");
    // js/dist is kept in git (with a .gitkeep), so cargo can watch it.
    println!("cargo:rerun-if-changed=js/dist");
    println!("cargo:rerun-if-changed=js/dist/ethers.bundle.js");
    let out =
        PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("ethers_bundle.rs");
    let code = if bundle.is_file() {
        format!(
            "/// The ethers bundle, embedded at build time.\npub(crate) const EMBEDDED: Option<&str> = Some(include_str!({:?}));\n",
            bundle.display().to_string()
        )
    } else {
        "/// No ethers bundle was built before this crate.\npub(crate) const EMBEDDED: Option<&str> = None;\n".to_string()
    };
    std::fs::write(out, code).expect("write OUT_DIR/ethers_bundle.rs");
}
