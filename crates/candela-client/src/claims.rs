//! Keys claimed by actions (`Lit.Actions.claimKey`, Lit's v7 claim flow):
//! read the claims from an execution's answers, then mint the claimed PKP
//! in the registry. The minted PKP's key id is the claim's derived key id
//! (`keccak256("{actionCid}_{keyId}")`), so its public key is the one the
//! network derives for that id; the registry mints it only on the
//! signatures of at least the threshold of nodes of its node set.
use std::collections::BTreeMap;

use candela_api::v7::ExecuteResponse;
use candela_registry::claim::{claim_signer, KeyClaim};
use candela_registry::{Permission, PkpRecord, Registry};
use k256::ecdsa::SigningKey;

use crate::{Client, ClientError};

/// Node signatures by node index.
type Signatures = BTreeMap<u32, [u8; 65]>;

/// Decode `N` bytes of hex (with or without `0x`).
fn fixed_hex<const N: usize>(v: &serde_json::Value) -> Option<[u8; N]> {
    hex::decode(v.as_str()?.trim_start_matches("0x"))
        .ok()?
        .try_into()
        .ok()
}

impl Client {
    /// The key claims in one execution's answers, by the key id the action
    /// passed to `claimKey`: for each, the derived key id most nodes report
    /// (`claimData[keyId].derivedKeyId`) and the signatures
    /// (`claimData[keyId].signature`) of the nodes whose wallet address in
    /// `network.json` signed it. A node's malformed or invalid claim is left
    /// out; whether enough remain is the registry's check.
    pub fn key_claims(
        &self,
        answers: &BTreeMap<u32, Result<ExecuteResponse, String>>,
    ) -> BTreeMap<String, KeyClaim> {
        // key id -> derived id -> node -> signature
        let mut seen: BTreeMap<String, BTreeMap<[u8; 32], Signatures>> = BTreeMap::new();
        for (node, answer) in answers {
            let Ok(answer) = answer else { continue };
            let Some(wallet) = self
                .net
                .nodes
                .iter()
                .find(|n| n.index == *node)
                .and_then(|n| n.wallet_address.clone())
                .and_then(|w| fixed_hex::<20>(&serde_json::Value::String(w)))
            else {
                continue;
            };
            for (key_id, claim) in &answer.claim_data {
                let (Some(derived), Some(sig)) = (
                    fixed_hex::<32>(&claim["derivedKeyId"]),
                    fixed_hex::<65>(&claim["signature"]),
                ) else {
                    continue;
                };
                if claim_signer(&derived, &sig) == Some(wallet) {
                    seen.entry(key_id.clone())
                        .or_default()
                        .entry(derived)
                        .or_default()
                        .insert(*node, sig);
                }
            }
        }
        seen.into_iter()
            .filter_map(|(key_id, by_derived)| {
                let (derived, signatures) = by_derived.into_iter().max_by_key(|(_, s)| s.len())?;
                Some((
                    key_id,
                    KeyClaim {
                        derived_key_id: derived,
                        signatures,
                    },
                ))
            })
            .collect()
    }

    /// Mint the PKP `claim` names in `registry` (the network's, see
    /// [`candela_registry::open`]), owned by `owner`, granted `grants` and
    /// burned when `burn` is set: Lit's v7 mint of a claimed key. The
    /// client first checks that at least the threshold of this network's
    /// nodes signed the claim, then the registry checks the signatures
    /// against its own node set and mints the key id once. The record's
    /// public key is the network's derivation of the claimed key id from
    /// the root key.
    pub fn mint_claimed(
        &self,
        registry: &dyn Registry,
        owner: &SigningKey,
        claim: &KeyClaim,
        grants: &[Permission],
        burn: bool,
    ) -> Result<PkpRecord, ClientError> {
        let needed = self.net.threshold;
        if claim.signatures.len() < needed {
            return Err(ClientError::Input(format!(
                "the claim of key id 0x{} has {} node signatures, {needed} needed: run the claiming action on more nodes",
                hex::encode(claim.derived_key_id),
                claim.signatures.len()
            )));
        }
        let rec = registry
            .mint_claimed(owner, self.root_public_key(), claim, grants, burn)
            .map_err(|e| ClientError::Input(format!("minting the claimed key: {e}")))?;
        Ok(rec)
    }
}
