//! Registry changes sent through the network: an owner signs one change
//! (EIP-191 `personal_sign`, as a wallet would) for one network, with a
//! nonce and an expiry; a node checks it and applies it to a registry it
//! writes itself (the SQLite registry). Clients never write the nodes'
//! registry file. On an EVM registry the chain itself plays this role: the
//! owner sends a transaction.
//!
//! The signed text is readable, so a wallet shows what it signs:
//! ```text
//! Candela registry change
//! network: 04…(root key)
//! nonce: 9f…
//! expires: 1767225600000
//! change: {"kind":"grant",…}
//! ```
use candela_api::auth::eip191_hash;
use candela_crypto::derive;
use k256::ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};

use crate::{AuthMethod, Permission, RegistryError};

/// Longest validity a node accepts for a signed change (10 minutes).
pub const MAX_CHANGE_TTL_MS: u64 = 10 * 60 * 1000;

/// A permission as it travels in a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrantWire {
    /// The auth method type.
    pub auth_method_type: u64,
    /// Its id bytes, hex.
    pub id: String,
    /// Its user public key, hex (may be empty).
    #[serde(default)]
    pub user_pubkey: String,
    /// Scope ids.
    pub scopes: Vec<u64>,
}

impl GrantWire {
    /// The wire form of `p`.
    pub fn from_permission(p: &Permission) -> GrantWire {
        GrantWire {
            auth_method_type: p.method.auth_method_type,
            id: hex::encode(&p.method.id),
            user_pubkey: hex::encode(&p.method.user_pubkey),
            scopes: p.scopes.iter().copied().collect(),
        }
    }

    /// The permission, validated.
    pub fn to_permission(&self) -> Result<Permission, RegistryError> {
        let bytes = |s: &str, what: &str| {
            hex::decode(s.trim_start_matches("0x"))
                .map_err(|_| RegistryError::Invalid(format!("{what} is not hex")))
        };
        let p = Permission::new(
            AuthMethod {
                auth_method_type: self.auth_method_type,
                id: bytes(&self.id, "auth method id")?,
                user_pubkey: bytes(&self.user_pubkey, "user public key")?,
            },
            self.scopes.iter().copied(),
        );
        p.method.validate()?;
        crate::validate_scopes(&p.scopes)?;
        Ok(p)
    }
}

/// One change to the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum RegistryChange {
    /// Mint a PKP owned by the signer, grant, optionally burn.
    #[serde(rename_all = "camelCase")]
    Mint {
        /// Permissions granted in the same change.
        grants: Vec<GrantWire>,
        /// Burn it at once ("mint, grant, burn").
        burn: bool,
        /// The key type's name (`K256` when absent, as before key types).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_type: Option<String>,
    },
    /// Permit an auth method on a PKP the signer owns.
    #[serde(rename_all = "camelCase")]
    Grant {
        /// The PKP's token id, 0x-hex.
        token_id: String,
        /// What is permitted.
        grant: GrantWire,
    },
    /// Remove an auth method from a PKP the signer owns.
    #[serde(rename_all = "camelCase")]
    Revoke {
        /// The PKP's token id, 0x-hex.
        token_id: String,
        /// The auth method type.
        auth_method_type: u64,
        /// Its id bytes, hex.
        id: String,
    },
    /// Give a PKP the signer owns to another address.
    #[serde(rename_all = "camelCase")]
    Transfer {
        /// The PKP's token id, 0x-hex.
        token_id: String,
        /// The new owner, 0x-hex.
        to: String,
    },
    /// Burn a PKP the signer owns.
    #[serde(rename_all = "camelCase")]
    Burn {
        /// The PKP's token id, 0x-hex.
        token_id: String,
    },
}

/// A [`RegistryChange`] signed by its owner for one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignedChange {
    /// The change.
    pub change: RegistryChange,
    /// The network's root ECDSA key (hex): the change is valid there only.
    pub network: String,
    /// 32 random bytes, hex: a change is applied at most once.
    pub nonce: String,
    /// Unix milliseconds after which no node applies it.
    pub expires_at_ms: u64,
    /// EIP-191 signature of [`SignedChange::message`], 0x-hex, 65 bytes.
    pub signature: String,
}

impl SignedChange {
    /// Sign `change` with `owner` for the network whose root key is
    /// `network`, valid for `ttl_ms` from `now_ms`.
    pub fn sign(
        change: RegistryChange,
        owner: &SigningKey,
        network: &str,
        now_ms: u64,
        ttl_ms: u64,
    ) -> SignedChange {
        let mut nonce = [0u8; 32];
        OsRng.fill_bytes(&mut nonce);
        let mut signed = SignedChange {
            change,
            network: network.to_string(),
            nonce: hex::encode(nonce),
            expires_at_ms: now_ms.saturating_add(ttl_ms),
            signature: String::new(),
        };
        let auth = candela_api::auth::AuthSig::sign_message(owner, signed.message());
        signed.signature = auth.sig;
        signed
    }

    /// The text the owner signs.
    pub fn message(&self) -> String {
        let change = serde_json::to_string(&self.change).unwrap_or_default();
        format!(
            "Candela registry change\nnetwork: {}\nnonce: {}\nexpires: {}\nchange: {change}",
            self.network, self.nonce, self.expires_at_ms
        )
    }

    /// The signer's address, once the change is checked: for `network`,
    /// not expired, not valid for longer than [`MAX_CHANGE_TTL_MS`], a
    /// 32-byte nonce, and a valid signature.
    pub fn verify(&self, network: &str, now_ms: u64) -> Result<[u8; 20], RegistryError> {
        let refuse =
            |why: String| RegistryError::Invalid(format!("registry change refused: {why}"));
        if !self.network.eq_ignore_ascii_case(network) {
            return Err(refuse(
                "it was signed for another network (root key differs)".into(),
            ));
        }
        if self.expires_at_ms <= now_ms {
            return Err(refuse(format!(
                "it expired at {} (now {now_ms})",
                self.expires_at_ms
            )));
        }
        if self.expires_at_ms - now_ms > MAX_CHANGE_TTL_MS {
            return Err(refuse(format!(
                "it is valid for more than {} s",
                MAX_CHANGE_TTL_MS / 1000
            )));
        }
        if hex::decode(&self.nonce).map(|n| n.len()) != Ok(32) {
            return Err(refuse("the nonce must be 32 bytes of hex".into()));
        }
        let raw = hex::decode(self.signature.trim_start_matches("0x"))
            .map_err(|_| refuse("the signature is not hex".into()))?;
        if raw.len() != 65 {
            return Err(refuse("the signature must be 65 bytes".into()));
        }
        let sig = Signature::from_slice(&raw[..64])
            .map_err(|_| refuse("the signature is malformed".into()))?;
        let v = if raw[64] >= 27 { raw[64] - 27 } else { raw[64] };
        let recid = RecoveryId::from_byte(v).ok_or_else(|| refuse("bad recovery id".into()))?;
        let vk = VerifyingKey::recover_from_prehash(
            &eip191_hash(self.message().as_bytes()),
            &sig,
            recid,
        )
        .map_err(|_| refuse("the signature does not verify".into()))?;
        Ok(derive::eth_address(vk.as_affine()))
    }
}

/// Parse a 0x-hex 32-byte token id of a change.
pub fn token_id_of(text: &str) -> Result<[u8; 32], RegistryError> {
    hex::decode(text.trim_start_matches("0x"))
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        .ok_or_else(|| RegistryError::Invalid(format!("token id {text} is not 32 bytes of hex")))
}

/// Parse a 0x-hex address of a change.
pub fn address_of(text: &str) -> Result<[u8; 20], RegistryError> {
    hex::decode(text.trim_start_matches("0x"))
        .ok()
        .and_then(|b| <[u8; 20]>::try_from(b.as_slice()).ok())
        .ok_or_else(|| RegistryError::Invalid(format!("address {text} is not 20 bytes of hex")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NET: &str = "04aa";

    fn change() -> RegistryChange {
        RegistryChange::Mint {
            grants: vec![],
            burn: false,
            key_type: None,
        }
    }

    #[test]
    fn a_signed_change_verifies_to_its_signer_on_its_network_only() {
        let k = SigningKey::random(&mut OsRng);
        let s = SignedChange::sign(change(), &k, NET, 1_000, 60_000);
        assert_eq!(
            s.verify(NET, 2_000).unwrap(),
            derive::eth_address(k.verifying_key().as_affine())
        );
        assert!(s.verify("04bb", 2_000).is_err(), "another network");
        assert!(s.verify(NET, 61_000).is_err(), "expired");
    }

    #[test]
    fn an_altered_change_or_a_too_long_validity_is_refused() {
        let k = SigningKey::random(&mut OsRng);
        let mut s = SignedChange::sign(change(), &k, NET, 1_000, 60_000);
        s.change = RegistryChange::Mint {
            grants: vec![],
            burn: true,
            key_type: None,
        };
        // the signature recovers to some other address, never the owner's
        let owner = derive::eth_address(k.verifying_key().as_affine());
        assert_ne!(s.verify(NET, 2_000).ok(), Some(owner));
        let long = SignedChange::sign(change(), &k, NET, 1_000, MAX_CHANGE_TTL_MS + 1);
        assert!(long.verify(NET, 1_000).is_err());
    }
}
