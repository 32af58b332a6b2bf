//! Embeds the npm bundles (js/dist/ethers.bundle.js, js/dist/jwt.bundle.js)
//! when `js/setup.sh` has produced them. Never touches the network: without
//! a bundle the crate still builds, and the sandbox looks for the file at run
//! time instead (see src/ethers.rs and src/jwt.rs).
use std::path::PathBuf;

fn embed(dir: &std::path::Path, out_dir: &std::path::Path, file: &str, rs: &str, what: &str) {
    let bundle = dir.join("js").join("dist").join(file);
    println!("cargo:rerun-if-changed=js/dist/{file}");
    let code = if bundle.is_file() {
        format!(
            "/// The {what} bundle, embedded at build time.\npub(crate) const EMBEDDED: Option<&str> = Some(include_str!({:?}));\n",
            bundle.display().to_string()
        )
    } else {
        println!(
            "cargo:warning=js/dist/{file} is missing: this build's actions cannot use `{what}` (run `bash crates/candela-actions/js/setup.sh`, then build again)"
        );
        format!("/// No {what} bundle was built before this crate.\npub(crate) const EMBEDDED: Option<&str> = None;\n")
    };
    std::fs::write(out_dir.join(rs), code).expect("write OUT_DIR bundle file");
}

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    // js/dist is kept in git (with a .gitkeep), so cargo can watch it.
    println!("cargo:rerun-if-changed=js/dist");
    embed(&dir, &out, "ethers.bundle.js", "ethers_bundle.rs", "ethers");
    embed(&dir, &out, "jwt.bundle.js", "jwt_bundle.rs", "jwt");
}
