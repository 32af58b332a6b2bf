//! Chain addresses of derived keys.
//!
//! - Solana: the base58 (Bitcoin alphabet) text of the 32-byte Ed25519
//!   public key.
//! - Bitcoin P2TR (BIP-341/BIP-350): segwit v1, witness program = the
//!   32-byte x-only OUTPUT key, bech32m with hrp `bc` (mainnet), `tb`
//!   (testnet/signet) or `bcrt` (regtest). The output key is the FROST key
//!   after the BIP-86 key-path tweak (no script tree), which is exactly the
//!   key this crate's taproot signatures verify under
//!   ([`crate::Suite::finish_public_package`]), so an address made here is
//!   spendable by key path with a signature made here.
use bech32::{segwit, Hrp};
use frost_core::keys::PublicKeyPackage;
use frost_core::VerifyingKey;
use frost_ed25519::Ed25519Sha512;
use frost_secp256k1_tr::Secp256K1Sha256TR;

use crate::{FrostError, Suite, Tweak};

/// A Bitcoin network, for the address prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitcoinNetwork {
    /// `bc1p…`
    Mainnet,
    /// `tb1p…` (testnet and signet)
    Testnet,
    /// `bcrt1p…`
    Regtest,
}

impl BitcoinNetwork {
    fn hrp(self) -> Hrp {
        match self {
            Self::Mainnet => bech32::hrp::BC,
            Self::Testnet => bech32::hrp::TB,
            Self::Regtest => bech32::hrp::BCRT,
        }
    }
}

/// The Solana address of a 32-byte Ed25519 public key.
pub fn solana_address_of(public_key: &[u8; 32]) -> String {
    bs58::encode(public_key).into_string()
}

/// The Solana address of a FROST Ed25519 key.
pub fn solana_address(key: &VerifyingKey<Ed25519Sha512>) -> Result<String, FrostError> {
    let bytes = Ed25519Sha512::public_key_bytes(key)?;
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| FrostError::Encoding("Ed25519 key is not 32 bytes".into()))?;
    Ok(solana_address_of(&arr))
}

/// The P2TR address of a 32-byte x-only output key.
pub fn p2tr_address_of(
    output_key: &[u8; 32],
    network: BitcoinNetwork,
) -> Result<String, FrostError> {
    segwit::encode(network.hrp(), segwit::VERSION_1, output_key)
        .map_err(|e| FrostError::Encoding(e.to_string()))
}

/// The P2TR address of a FROST taproot key as this crate finishes it (the
/// key that verifies, i.e. already the output key).
pub fn p2tr_address(
    output_key: &VerifyingKey<Secp256K1Sha256TR>,
    network: BitcoinNetwork,
) -> Result<String, FrostError> {
    let bytes = Secp256K1Sha256TR::public_key_bytes(output_key)?;
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| FrostError::Encoding("x-only key is not 32 bytes".into()))?;
    p2tr_address_of(&arr, network)
}

/// The BIP-86 output key of a bare internal key (x-only, 32 bytes), through
/// frost-secp256k1-tr's BIP-341 tweak. For checking against published
/// vectors and for wallets that hold the internal key.
pub fn bip86_output_key(internal_xonly: &[u8; 32]) -> Result<[u8; 32], FrostError> {
    let mut sec1 = [0u8; 33];
    sec1[0] = 0x02;
    sec1[1..].copy_from_slice(internal_xonly);
    let internal = VerifyingKey::<Secp256K1Sha256TR>::deserialize(&sec1)
        .map_err(|e| FrostError::Encoding(e.to_string()))?;
    let package = PublicKeyPackage::new(Default::default(), internal, None);
    let out = Tweak::<Secp256K1Sha256TR>::root().verifying_key(&package);
    Secp256K1Sha256TR::public_key_bytes(&out)?
        .try_into()
        .map_err(|_| FrostError::Encoding("x-only key is not 32 bytes".into()))
}
