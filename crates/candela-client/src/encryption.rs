//! Access-control encryption: encrypt locally to the network's BLS key under
//! Lit conditions; decrypt with decryption shares the nodes give only when
//! the conditions hold for the caller.
use base64::Engine;
use candela_conditions::{data_hash, identity, Conditions};
use serde::{Deserialize, Serialize};

use crate::{Client, ClientError, RequestAuth};

/// What `encrypt` produces and `decrypt` takes (the CLI's JSON).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Encrypted {
    /// The hybrid container, base64.
    pub ciphertext: String,
    /// Hex of sha256 of the plaintext.
    pub data_to_encrypt_hash: String,
    /// The conditions object: one of `accessControlConditions`,
    /// `evmContractConditions`, `unifiedAccessControlConditions`.
    #[serde(flatten)]
    pub conditions: serde_json::Map<String, serde_json::Value>,
}

impl Client {
    fn bls_key(&self) -> Result<candela_bls::G1Projective, ClientError> {
        let hex_key = self
            .network()
            .bls_public_key
            .clone()
            .ok_or_else(|| ClientError::Network("network.json has no BLS public key".into()))?;
        candela_bls::encoding::public_key_from_hex(&hex_key)
            .map_err(|e| ClientError::Network(format!("BLS public key: {e}")))
    }

    /// Encrypt `plaintext` so that the network releases the key only to
    /// callers for whom `conditions` (an object holding one of Lit's three
    /// condition fields) hold.
    pub fn encrypt(
        &self,
        conditions: &serde_json::Value,
        plaintext: &[u8],
    ) -> Result<Encrypted, ClientError> {
        let parsed = Conditions::from_request(conditions)
            .map_err(|e| ClientError::Input(format!("conditions: {e}")))?;
        let hash = data_hash(plaintext);
        let id = identity(&parsed.hash(), &hash);
        let container =
            candela_bls::hybrid::encrypt_bytes(&self.bls_key()?, id.as_bytes(), plaintext)
                .map_err(|e| ClientError::Input(format!("encrypt: {e}")))?;
        let conditions = conditions
            .as_object()
            .cloned()
            .ok_or_else(|| ClientError::Input("conditions must be an object".into()))?;
        Ok(Encrypted {
            ciphertext: base64::engine::general_purpose::STANDARD.encode(container),
            data_to_encrypt_hash: hex::encode(hash),
            conditions,
        })
    }

    /// Ask every node for its decryption share, combine t that verify, and
    /// decrypt locally.
    pub async fn decrypt(
        &self,
        enc: &Encrypted,
        auth: &RequestAuth,
    ) -> Result<Vec<u8>, ClientError> {
        let parsed = Conditions::from_request(&serde_json::Value::Object(enc.conditions.clone()))
            .map_err(|e| ClientError::Input(format!("conditions: {e}")))?;
        let data_hash: [u8; 32] = hex::decode(&enc.data_to_encrypt_hash)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| ClientError::Input("dataToEncryptHash is not 32 bytes of hex".into()))?;
        let id = identity(&parsed.hash(), &data_hash);
        let container = base64::engine::general_purpose::STANDARD
            .decode(&enc.ciphertext)
            .map_err(|e| ClientError::Input(format!("ciphertext is not base64: {e}")))?;
        let (shares, faults) = self
            .collect_bls_shares("/web/encryption/sign/", |n| {
                let mut body = enc.conditions.clone();
                body.insert(
                    "dataToEncryptHash".into(),
                    enc.data_to_encrypt_hash.clone().into(),
                );
                body.insert("chain".into(), "".into());
                body.insert(
                    "authSig".into(),
                    serde_json::to_value(auth.for_node(&n.url)).unwrap_or_default(),
                );
                body.insert("epoch".into(), 1.into());
                serde_json::Value::Object(body)
            })
            .await;
        let key = self.bls_key()?;
        let t = self.network().threshold;
        // Find t shares whose combination verifies under the network key
        // (a bad share is left out, not yet named).
        let n = shares.len();
        if n >= t {
            for skip in subsets_to_skip(n, t) {
                let chosen: Vec<_> = shares
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !skip.contains(i))
                    .map(|(_, s)| *s)
                    .collect();
                let Ok(sig) = candela_bls::combine(&chosen) else {
                    continue;
                };
                if candela_bls::verify(&key, id.as_bytes(), &sig).is_ok() {
                    let mut out = Vec::new();
                    candela_bls::hybrid::decrypt_stream_with_key(
                        &key,
                        id.as_bytes(),
                        &sig,
                        container.as_slice(),
                        &mut out,
                    )
                    .map_err(|e| ClientError::Combine(format!("decrypt: {e}")))?;
                    return Ok(out);
                }
            }
        }
        Err(ClientError::NotEnoughShares {
            needed: t,
            valid: 0,
            faults,
        })
    }
}

/// Index sets to leave out so that exactly `t` of `n` remain, smallest first.
fn subsets_to_skip(n: usize, t: usize) -> Vec<Vec<usize>> {
    let k = n - t;
    let mut out = Vec::new();
    let mut cur = Vec::new();
    fn rec(start: usize, n: usize, k: usize, cur: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if cur.len() == k {
            out.push(cur.clone());
            return;
        }
        for i in start..n {
            cur.push(i);
            rec(i + 1, n, k, cur, out);
            cur.pop();
        }
    }
    rec(0, n, k, &mut cur, &mut out);
    out
}
