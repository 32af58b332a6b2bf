//! Embed the compiled registry contracts (`contracts/out/*.json`, made by
//! `bash contracts/setup.sh`) into the library when they exist at build
//! time, so that an installed `candela` deploys them without a source tree.
use std::path::PathBuf;

const CONTRACTS: [&str; 4] = ["Staking", "Secp256k1KeyDeriver", "PKPNFT", "PKPPermissions"];

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let out_dir = manifest.join("../../contracts/out");
    let mut code = String::from(
        "/// The compiled registry contracts embedded at build time, by name.\n\
         pub const EMBEDDED_ARTIFACTS: &[(&str, &str)] = &[\n",
    );
    let all_there = CONTRACTS
        .iter()
        .all(|name| out_dir.join(format!("{name}.json")).is_file());
    if all_there {
        for name in CONTRACTS {
            let path = out_dir.join(format!("{name}.json"));
            println!("cargo:rerun-if-changed={}", path.display());
            code.push_str(&format!(
                "    ({name:?}, include_str!({:?})),\n",
                path.display().to_string()
            ));
        }
    } else {
        // Built before the contracts: the binary reads them at run time
        // (CANDELA_CONTRACTS_OUT or a checkout's contracts/out).
        println!(
            "cargo:rerun-if-changed={}",
            manifest.join("../../contracts/package.json").display()
        );
    }
    code.push_str("];\n");
    let dest = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("embedded.rs");
    if let Err(e) = std::fs::write(&dest, code) {
        panic!("writing {}: {e}", dest.display());
    }
}
