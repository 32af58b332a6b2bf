//! Access-control encryption: encrypt locally to the network's BLS key under
//! Lit conditions; decrypt with decryption shares the nodes give only when
//! the conditions hold for the caller.
use base64::Engine;
use candela_conditions::{data_hash, identity, parse_data_hash, Conditions};
use serde::{Deserialize, Serialize};

use candela_bls::BlsSignature;

use crate::{Client, ClientError, NodeFault, RequestAuth};

/// What `encrypt` produces and `decrypt` takes (the CLI's JSON; the same
/// shape as the Lit JS SDK's `encrypt` result plus its conditions).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Encrypted {
    /// Base64 of either Candela's streamed hybrid container ([`Client::encrypt`])
    /// or Lit's one-piece time-lock ciphertext ([`Client::encrypt_lit`], and
    /// what the Lit JS SDK's `encrypt` writes); `decrypt` takes both.
    pub ciphertext: String,
    /// Hex of sha256 of the plaintext.
    pub data_to_encrypt_hash: String,
    /// The conditions object: one of `accessControlConditions`,
    /// `evmContractConditions`, `unifiedAccessControlConditions`.
    #[serde(flatten)]
    pub conditions: serde_json::Map<String, serde_json::Value>,
}

/// A decryption the network allowed.
#[derive(Debug, Clone)]
pub struct Decrypted {
    /// The plaintext.
    pub plaintext: Vec<u8>,
    /// Nodes left out (down, refusing, or answering a bad share; those that
    /// misbehaved are marked so).
    pub faulty_nodes: Vec<NodeFault>,
}

impl Encrypted {
    /// The identity this ciphertext was encrypted to:
    /// `lit-accesscontrolcondition://<conditions hash>/<data hash>`.
    pub fn identity(&self) -> Result<String, ClientError> {
        self.identity_and_data_hash().map(|(id, _)| id)
    }

    /// [`Encrypted::identity`] and the parsed `dataToEncryptHash` it is made of.
    fn identity_and_data_hash(&self) -> Result<(String, [u8; 32]), ClientError> {
        let parsed = Conditions::from_request(&serde_json::Value::Object(self.conditions.clone()))
            .map_err(|e| ClientError::Input(format!("conditions: {e}")))?;
        let data_hash = parse_data_hash(&self.data_to_encrypt_hash)
            .ok_or_else(|| ClientError::Input("dataToEncryptHash is not 32 bytes of hex".into()))?;
        Ok((identity(&parsed.hash(), &data_hash), data_hash))
    }

    /// The ciphertext's bytes.
    pub fn container(&self) -> Result<Vec<u8>, ClientError> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.ciphertext)
            .map_err(|e| ClientError::Input(format!("ciphertext is not base64: {e}")))
    }
}

impl Client {
    fn bls_key(&self) -> Result<candela_bls::G1Projective, ClientError> {
        Ok(self.bls_public_set()?.public_key)
    }

    /// Encrypt `plaintext` so that the network releases the key only to
    /// callers for whom `conditions` (an object holding one of Lit's three
    /// condition fields) hold: Candela's streamed hybrid container.
    pub fn encrypt(
        &self,
        conditions: &serde_json::Value,
        plaintext: &[u8],
    ) -> Result<Encrypted, ClientError> {
        self.encrypt_as(conditions, plaintext, |key, id| {
            candela_bls::hybrid::encrypt_bytes(key, id, plaintext)
        })
    }

    /// [`Client::encrypt`] in Lit's format: the whole plaintext in one
    /// blsful time-lock ciphertext, byte-compatible with the Lit JS SDK's
    /// `encrypt`, so that the SDK's `decrypt` opens it.
    pub fn encrypt_lit(
        &self,
        conditions: &serde_json::Value,
        plaintext: &[u8],
    ) -> Result<Encrypted, ClientError> {
        self.encrypt_as(conditions, plaintext, |key, id| {
            candela_bls::ibe::encrypt(key, id, plaintext)
        })
    }

    fn encrypt_as(
        &self,
        conditions: &serde_json::Value,
        plaintext: &[u8],
        seal: impl FnOnce(&candela_bls::G1Projective, &[u8]) -> Result<Vec<u8>, candela_bls::BlsError>,
    ) -> Result<Encrypted, ClientError> {
        let parsed = Conditions::from_request(conditions)
            .map_err(|e| ClientError::Input(format!("conditions: {e}")))?;
        let hash = data_hash(plaintext);
        let id = identity(&parsed.hash(), &hash);
        let container = seal(&self.bls_key()?, id.as_bytes())
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

    /// The decryption key of `enc`: ask every node for its decryption share
    /// (each evaluates the conditions for the caller), verify each share
    /// against its node's public share, and combine t valid ones.
    pub async fn decryption_key(
        &self,
        enc: &Encrypted,
        auth: &RequestAuth,
    ) -> Result<(BlsSignature, Vec<NodeFault>), ClientError> {
        self.decryption_key_for(enc, &enc.identity()?, auth).await
    }

    /// [`Client::decryption_key`] for `enc`'s identity `id`, already derived.
    async fn decryption_key_for(
        &self,
        enc: &Encrypted,
        id: &str,
        auth: &RequestAuth,
    ) -> Result<(BlsSignature, Vec<NodeFault>), ClientError> {
        let chain = first_chain(&enc.conditions);
        self.combine_bls_shares("/web/encryption/sign/", id.as_bytes(), |n| {
            let mut body = enc.conditions.clone();
            body.insert(
                "dataToEncryptHash".into(),
                enc.data_to_encrypt_hash.clone().into(),
            );
            body.insert("chain".into(), chain.clone().into());
            body.insert(
                "authSig".into(),
                serde_json::to_value(auth.for_node(&n.url)).unwrap_or_default(),
            );
            body.insert("epoch".into(), 1.into());
            serde_json::Value::Object(body)
        })
        .await
    }

    /// Decrypt `enc` into `out`, streaming: check that the ciphertext was
    /// made for these conditions and this data hash, get the decryption
    /// key from the nodes, and decrypt locally (the nodes never see the
    /// data). Returns the nodes left out. On error, discard what was
    /// written: only a successful return vouches for the whole.
    ///
    /// A ciphertext in Lit's format ([`Client::encrypt_lit`], the Lit JS
    /// SDK's `encrypt`) is opened in one piece, and its plaintext must hash
    /// to `dataToEncryptHash`.
    pub async fn decrypt_to(
        &self,
        enc: &Encrypted,
        auth: &RequestAuth,
        mut out: impl std::io::Write,
    ) -> Result<Vec<NodeFault>, ClientError> {
        let (id, data_hash) = enc.identity_and_data_hash()?;
        let container = enc.container()?;
        candela_bls::hybrid::check_identity_before_opening(&container, id.as_bytes()).map_err(
            |e| {
                ClientError::Decryption(format!(
                    "the ciphertext was not made for these conditions and this dataToEncryptHash: {e}"
                ))
            },
        )?;
        let (key, faults) = self.decryption_key_for(enc, &id, auth).await?;
        candela_bls::hybrid::decrypt_either_with_key(
            &self.bls_key()?,
            id.as_bytes(),
            &key,
            &data_hash,
            &container,
            &mut out,
        )
        .map_err(|e| ClientError::Decryption(e.to_string()))?;
        Ok(faults)
    }

    /// [`Client::decrypt_to`] into memory.
    pub async fn decrypt(
        &self,
        enc: &Encrypted,
        auth: &RequestAuth,
    ) -> Result<Decrypted, ClientError> {
        let mut plaintext = Vec::new();
        let faulty_nodes = self.decrypt_to(enc, auth, &mut plaintext).await?;
        Ok(Decrypted {
            plaintext,
            faulty_nodes,
        })
    }
}

/// The chain the first condition names (Lit's `chain` request field).
fn first_chain(conditions: &serde_json::Map<String, serde_json::Value>) -> String {
    conditions
        .values()
        .filter_map(|v| v.as_array())
        .flatten()
        .find_map(|c| c.get("chain").and_then(|c| c.as_str()))
        .unwrap_or("ethereum")
        .to_string()
}
