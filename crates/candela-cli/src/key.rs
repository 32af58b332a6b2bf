//! `candela key ...`: Ethereum keys for development.
use candela_crypto::derive;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Print a fresh secp256k1 private key (from the OS's random source)
    /// and its Ethereum address. Nothing is stored: keep the key yourself.
    New {
        /// Print `{"privateKey", "address"}` only on stdout.
        #[arg(long)]
        json: bool,
    },
}

/// A fresh key as printed: `(private key hex with 0x, checksummed address)`.
fn fresh_key() -> (String, String) {
    let key = k256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let public = *key.verifying_key().as_affine();
    (
        format!("0x{}", hex::encode(key.to_bytes())),
        derive::checksum_address(&derive::eth_address(&public)),
    )
}

pub fn run(cmd: KeyCommand) -> anyhow::Result<()> {
    match cmd {
        KeyCommand::New { json } => {
            let (private_key, address) = fresh_key();
            if json {
                let out = serde_json::json!({"privateKey": private_key, "address": address});
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                println!("private key: {private_key}");
                println!("address:     {address}");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_key_is_new_each_time_and_its_address_is_its_own() {
        let (k1, a1) = fresh_key();
        let (k2, _) = fresh_key();
        assert_ne!(k1, k2);
        let bytes = hex::decode(&k1[2..]).expect("hex");
        let key = k256::ecdsa::SigningKey::from_slice(&bytes).expect("key");
        let addr = derive::eth_address(key.verifying_key().as_affine());
        assert_eq!(a1, derive::checksum_address(&addr));
        assert_eq!(a1.len(), 42);
    }
}
