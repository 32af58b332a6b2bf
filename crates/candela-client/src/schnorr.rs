//! Threshold Schnorr signatures with a PKP (`pkp/sign` with a Schnorr
//! `signingScheme`): collect every node's FROST share, check each against
//! the coordinator's signed assignment and the root key's verifying
//! shares, name the node whose share fails, and return a standard 64-byte
//! signature (Ed25519 `R || s`, BIP-340 `x(R) || s`).
use std::collections::BTreeMap;

use candela_api::schnorr::{
    equivocating_coordinator, SchnorrSignResponse, SignedSchnorrAssignment,
};
use candela_api::v7::PkpSignRequest;
use candela_api::{EXCLUDE_HEADER, REQUEST_ID_HEADER};
use candela_crypto::derive;
use candela_crypto::AffinePoint;
use candela_frost::address::{p2tr_address_of, solana_address_of, BitcoinNetwork};
use candela_frost::frost_core::keys::PublicKeyPackage;
use candela_frost::frost_core::round1::SigningCommitments;
use candela_frost::frost_core::round2::SignatureShare;
use candela_frost::{
    aggregate, signing_package, Ed25519Sha512, FrostError, Secp256K1Sha256TR, SigningScheme, Suite,
    Tweak,
};

use crate::{answer, join_all, new_request_id, Client, ClientError, NodeFault, RequestAuth};

/// A Schnorr signature made by the network with a PKP's key for a curve.
#[derive(Debug, Clone)]
pub struct SchnorrOutcome {
    /// The request id of the attempt that succeeded.
    pub request_id: String,
    /// The scheme.
    pub scheme: SigningScheme,
    /// The 64-byte signature in the chain's encoding.
    pub signature: Vec<u8>,
    /// The PKP's key for the scheme (Ed25519: 32 bytes; taproot: the
    /// 32-byte x-only output key).
    pub public_key: Vec<u8>,
    /// The chain address of that key: Solana (base58) for Ed25519, Bitcoin
    /// mainnet P2TR (`bc1p…`) for taproot.
    pub address: String,
    /// Nodes that failed or misbehaved.
    pub faults: Vec<NodeFault>,
    /// Attempts it took.
    pub attempts: u32,
}

/// The chain address of a scheme's public key.
pub fn schnorr_address(scheme: SigningScheme, public_key: &[u8]) -> Result<String, ClientError> {
    let key: [u8; 32] = public_key
        .try_into()
        .map_err(|_| ClientError::Input("a Schnorr public key is 32 bytes".into()))?;
    match scheme {
        SigningScheme::SchnorrEd25519Sha512 => Ok(solana_address_of(&key)),
        SigningScheme::SchnorrK256Taproot => p2tr_address_of(&key, BitcoinNetwork::Mainnet)
            .map_err(|e| ClientError::Input(e.to_string())),
        other => Err(ClientError::Input(format!(
            "{other} is not a Schnorr scheme"
        ))),
    }
}

/// The most common value and every node that gave another.
fn majority<'a>(
    answers: &'a BTreeMap<u32, SchnorrSignResponse>,
    field: impl Fn(&'a SchnorrSignResponse) -> String,
) -> (String, Vec<u32>) {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for a in answers.values() {
        *counts.entry(field(a)).or_default() += 1;
    }
    let best = counts
        .into_iter()
        .max_by_key(|(_, c)| *c)
        .map(|(v, _)| v)
        .unwrap_or_default();
    let others = answers
        .iter()
        .filter(|(_, a)| field(a) != best)
        .map(|(i, _)| *i)
        .collect();
    (best, others)
}

/// What [`combine`] found wrong: (node, reason, misbehaved).
type Blame = Vec<(u32, String, bool)>;

/// Check every answer for one request and combine the shares of the
/// signing set into a signature, in suite `C`. `root` is the network's
/// ECDSA root (the key id each node reports must derive `pkp` from it).
pub fn combine<C: Suite>(
    answers: &BTreeMap<u32, SchnorrSignResponse>,
    identity_keys: &[String],
    threshold: usize,
    root: &AffinePoint,
    pkp: &AffinePoint,
    message: &[u8],
) -> Result<(Vec<u8>, Vec<u8>, Blame), Blame> {
    let mut blame: Blame = Vec::new();
    // Two different assignments signed by one coordinator for this request
    // prove it lied; the retry leaves it out.
    for a in answers.values() {
        for b in answers.values() {
            if let Some(liar) =
                equivocating_coordinator(&a.assignment, &b.assignment, identity_keys, threshold)
            {
                return Err(vec![(
                    liar,
                    "coordinator signed two different assignments for this request".into(),
                    true,
                )]);
            }
        }
    }
    // The assignment most nodes followed, checked.
    let (chosen, strays) = majority(answers, |a| {
        serde_json::to_string(&a.assignment).unwrap_or_default()
    });
    for i in strays {
        blame.push((
            i,
            "followed another assignment than the other nodes".into(),
            false,
        ));
    }
    let assignment: SignedSchnorrAssignment = serde_json::from_str(&chosen)
        .map_err(|_| vec![(u32::MAX, "no assignment in the answers".into(), false)])?;
    if let Err(e) = assignment.verify(identity_keys, threshold) {
        return Err(vec![(
            assignment.coordinator,
            format!("bad assignment: {e}"),
            true,
        )]);
    }
    if assignment.signing_scheme != C::SCHEME.as_str() {
        return Err(vec![(
            assignment.coordinator,
            "assignment for another scheme".into(),
            true,
        )]);
    }
    // The key: root verifying shares and key id as most nodes report them;
    // the key id must derive the PKP the client asked for.
    let (package_hex, odd) = majority(answers, |a| {
        a.signature_share.root_public_key_package.clone()
    });
    for i in odd {
        blame.push((i, "reported another root key package".into(), true));
    }
    let (key_id_hex, odd) = majority(answers, |a| a.signature_share.key_id.clone());
    for i in odd {
        blame.push((i, "reported another key id".into(), true));
    }
    let fail = |why: String| vec![(u32::MAX, why, false)];
    let key_id = hex::decode(&key_id_hex).map_err(|e| fail(e.to_string()))?;
    match derive::derive_public_key(root, &key_id) {
        Ok(pk) if pk == *pkp => {}
        _ => return Err(fail("the nodes' key id does not derive this PKP".into())),
    }
    let root_package = hex::decode(&package_hex)
        .ok()
        .and_then(|b| PublicKeyPackage::<C>::deserialize(&b).ok())
        .ok_or_else(|| fail("the root key package does not decode".into()))?;
    let tweak = Tweak::<C>::pkp(&key_id).map_err(|e| fail(e.to_string()))?;
    let public = tweak.public_key_package(&root_package);
    let public_key =
        C::public_key_bytes(public.verifying_key()).map_err(|e| fail(e.to_string()))?;
    // The signing package every signer used, from the signed commitments.
    let mut commitments = BTreeMap::new();
    for c in &assignment.commitments {
        let sc = hex::decode(&c.commitments)
            .ok()
            .and_then(|b| SigningCommitments::<C>::deserialize(&b).ok())
            .ok_or_else(|| {
                vec![(
                    assignment.coordinator,
                    "a commitment does not decode".into(),
                    true,
                )]
            })?;
        commitments.insert(c.node, sc);
    }
    let package = signing_package(&commitments, message).map_err(|e| fail(e.to_string()))?;
    let mut shares = BTreeMap::new();
    for signer in assignment.signers() {
        let Some(a) = answers.get(&signer) else {
            blame.push((signer, "signer did not answer".into(), false));
            continue;
        };
        match hex::decode(&a.signature_share.signature_share)
            .ok()
            .and_then(|b| SignatureShare::<C>::deserialize(&b).ok())
        {
            Some(s) => {
                shares.insert(signer, s);
            }
            None => blame.push((signer, "signer sent no readable share".into(), true)),
        }
    }
    match aggregate(&package, &shares, &public) {
        Ok(sig) => Ok((sig, public_key, blame)),
        Err(FrostError::BadShare { party }) => {
            blame.push((party, "invalid Schnorr signature share".into(), true));
            Err(blame)
        }
        Err(e) => {
            blame.push((u32::MAX, e.to_string(), false));
            Err(blame)
        }
    }
}

impl Client {
    /// Sign `message` with the PKP `pkp`'s key for `scheme`
    /// (`SchnorrEd25519Sha512`: any message up to 64 KiB;
    /// `SchnorrK256Taproot`: a 32-byte sighash). A node whose share fails
    /// is named and left out of the next attempt.
    pub async fn pkp_sign_schnorr(
        &self,
        auth: &RequestAuth,
        pkp: &AffinePoint,
        scheme: SigningScheme,
        message: &[u8],
    ) -> Result<SchnorrOutcome, ClientError> {
        scheme
            .check_message(message)
            .map_err(|e| ClientError::Input(e.to_string()))?;
        if !scheme.is_frost() {
            return Err(ClientError::Input(format!(
                "{scheme} is not a Schnorr scheme"
            )));
        }
        let mut last = None;
        for attempt in 1..=self.attempts.max(1) {
            let rid = new_request_id();
            match self
                .pkp_sign_schnorr_once(&rid, auth, pkp, scheme, message)
                .await
            {
                Ok(mut o) => {
                    o.attempts = attempt;
                    self.learn(&o.faults);
                    self.name_liars(&mut o.faults);
                    return Ok(o);
                }
                Err(e) => {
                    let retry = match &e {
                        ClientError::NotEnoughShares { faults, .. } => {
                            self.learn(faults);
                            faults.iter().all(|f| {
                                !f.reason.contains("NodeUnknownPkp")
                                    && !f.reason.contains("NodeUnauthorized")
                                    && !f.reason.contains("NodeInvalid")
                                    && !f.reason.contains("NodeUnsupported")
                            })
                        }
                        _ => false,
                    };
                    last = Some(e);
                    if !retry {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(attempt)))
                        .await;
                }
            }
        }
        let mut last = last.unwrap_or_else(|| ClientError::Input("no attempt made".into()));
        if let ClientError::NotEnoughShares { faults, .. } = &mut last {
            self.name_liars(faults);
        }
        Err(last)
    }

    /// One attempt of [`Client::pkp_sign_schnorr`] with a given request id.
    pub async fn pkp_sign_schnorr_once(
        &self,
        request_id: &str,
        auth: &RequestAuth,
        pkp: &AffinePoint,
        scheme: SigningScheme,
        message: &[u8],
    ) -> Result<SchnorrOutcome, ClientError> {
        let exclude = self.exclude_header();
        let calls = self.net.nodes.iter().map(|n| {
            let body = PkpSignRequest {
                to_sign: message.to_vec(),
                pubkey: derive::public_key_hex(pkp),
                auth_sig: auth.for_node(&n.url),
                auth_methods: None,
                epoch: 1,
                signing_scheme: Some(scheme.as_str().to_string()),
            };
            let req = self
                .http
                .post(format!("{}/web/pkp/sign/v1", n.url))
                .header(REQUEST_ID_HEADER, request_id)
                .header(EXCLUDE_HEADER, &exclude)
                .timeout(self.timeout)
                .json(&body);
            let index = n.index;
            async move { (index, answer::<SchnorrSignResponse>(req).await) }
        });
        let mut faults = Vec::new();
        let mut ok = BTreeMap::new();
        for (i, a) in join_all(calls).await {
            match a {
                Ok(r) => {
                    ok.insert(i, r);
                }
                Err(reason) => faults.push(self.fault(i, reason, false)),
            }
        }
        let keys = self.identity_keys();
        let t = self.net.threshold;
        let combined = match scheme {
            SigningScheme::SchnorrEd25519Sha512 => {
                combine::<Ed25519Sha512>(&ok, &keys, t, &self.root, pkp, message)
            }
            _ => combine::<Secp256K1Sha256TR>(&ok, &keys, t, &self.root, pkp, message),
        };
        match combined {
            Ok((signature, public_key, blame)) => {
                faults.extend(blame.into_iter().map(|(i, r, m)| self.fault(i, r, m)));
                Ok(SchnorrOutcome {
                    request_id: request_id.to_string(),
                    scheme,
                    address: schnorr_address(scheme, &public_key)?,
                    signature,
                    public_key,
                    faults,
                    attempts: 1,
                })
            }
            Err(blame) => {
                faults.extend(blame.into_iter().map(|(i, r, m)| self.fault(i, r, m)));
                Err(ClientError::NotEnoughShares {
                    needed: t,
                    valid: 0,
                    faults,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candela_api::schnorr::{schnorr_binding, SchnorrCommitmentWire, SchnorrShareWire};
    use candela_frost::{make_commitments, sign_share};

    /// Three nodes, t = 2; nodes 0 and 1 sign; `liar` (if any) signs
    /// another message. Returns the answers and what the client checks
    /// them against.
    fn answers(
        liar: Option<u32>,
    ) -> (
        BTreeMap<u32, SchnorrSignResponse>,
        Vec<String>,
        AffinePoint,
        AffinePoint,
    ) {
        let mut rng = rand_core::OsRng;
        let shares = candela_frost::sim::keygen::<Ed25519Sha512, _>(3, 2, &mut rng).unwrap();
        let ids: Vec<ed25519_dalek::SigningKey> = (0..3)
            .map(|_| ed25519_dalek::SigningKey::generate(&mut rng))
            .collect();
        let id_hex: Vec<String> = ids
            .iter()
            .map(|k| hex::encode(k.verifying_key().to_bytes()))
            .collect();
        let root = *k256::ecdsa::SigningKey::random(&mut rng)
            .verifying_key()
            .as_affine();
        let key_id = [5u8; 32];
        let pkp = derive::derive_public_key(&root, &key_id).unwrap();
        let tweak = Tweak::<Ed25519Sha512>::pkp(&key_id).unwrap();
        let message = b"transfer".to_vec();
        let public = tweak
            .public_key_bytes(&shares[&0].public_key_package)
            .unwrap();
        let mut nonces = BTreeMap::new();
        let mut wires = Vec::new();
        let mut commitments = BTreeMap::new();
        for p in [0u32, 1] {
            let (mut n, c) = make_commitments(&shares[&p], 0, 1, &mut rng);
            nonces.insert(p, n.remove(0).1);
            commitments.insert(p, c[0].commitments);
            wires.push(SchnorrCommitmentWire {
                node: p,
                id: 0,
                commitments: hex::encode(c[0].commitments.serialize().unwrap()),
            });
        }
        let binding = schnorr_binding("SchnorrEd25519Sha512", &public, &message);
        let a =
            SignedSchnorrAssignment::sign("r", "SchnorrEd25519Sha512", wires, &binding, 0, &ids[0]);
        let mut out = BTreeMap::new();
        for p in 0u32..3 {
            let share = if let Some(n) = nonces.get(&p) {
                let signed = if Some(p) == liar {
                    b"other".to_vec()
                } else {
                    message.clone()
                };
                let package = signing_package(&commitments, &signed).unwrap();
                let s = sign_share(&shares[&p], &tweak, n, &package).unwrap();
                hex::encode(s.serialize())
            } else {
                String::new()
            };
            out.insert(
                p,
                SchnorrSignResponse {
                    success: true,
                    signature_share: SchnorrShareWire {
                        signing_scheme: "SchnorrEd25519Sha512".into(),
                        share_index: p,
                        signature_share: share,
                        public_key: hex::encode(&public),
                        message: hex::encode(&message),
                        key_id: hex::encode(key_id),
                        root_public_key_package: hex::encode(
                            shares[&p].public_key_package.serialize().unwrap(),
                        ),
                    },
                    assignment: a.clone(),
                },
            );
        }
        (out, id_hex, root, pkp)
    }

    #[test]
    fn honest_schnorr_shares_combine_into_a_signature_ed25519_dalek_accepts() {
        let (answers, ids, root, pkp) = answers(None);
        let (sig, pk, blame) =
            combine::<Ed25519Sha512>(&answers, &ids, 2, &root, &pkp, b"transfer").unwrap();
        assert!(blame.is_empty(), "{blame:?}");
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&pk.try_into().unwrap()).unwrap();
        let sig = ed25519_dalek::Signature::from_slice(&sig).unwrap();
        vk.verify_strict(b"transfer", &sig).unwrap();
    }

    #[test]
    fn a_bad_schnorr_share_is_named_as_misbehaviour_of_its_node() {
        let (answers, ids, root, pkp) = answers(Some(1));
        let blame =
            combine::<Ed25519Sha512>(&answers, &ids, 2, &root, &pkp, b"transfer").unwrap_err();
        let named: Vec<u32> = blame.iter().filter(|b| b.2).map(|b| b.0).collect();
        assert_eq!(named, vec![1], "{blame:?}");
    }

    #[test]
    fn a_key_id_that_does_not_derive_the_requested_pkp_is_refused() {
        let (answers, ids, root, _) = answers(None);
        let other = derive::derive_public_key(&root, &[6u8; 32]).unwrap();
        let blame =
            combine::<Ed25519Sha512>(&answers, &ids, 2, &root, &other, b"transfer").unwrap_err();
        assert!(blame[0].1.contains("does not derive this PKP"), "{blame:?}");
    }

    #[test]
    fn a_forged_assignment_is_refused_naming_its_coordinator() {
        let (mut answers, ids, root, pkp) = answers(None);
        for a in answers.values_mut() {
            a.assignment.commitments[0].id = 9;
        }
        let blame =
            combine::<Ed25519Sha512>(&answers, &ids, 2, &root, &pkp, b"transfer").unwrap_err();
        assert_eq!(blame[0].0, 0);
        assert!(blame[0].2);
    }
}

/// A PKP's key for its key type, as the client derives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedKey {
    /// The key type.
    pub key_type: candela_frost::KeyType,
    /// The public key in the chain's encoding: K256 65 bytes uncompressed,
    /// Ed25519 32 bytes, taproot the 32-byte x-only output key, BLS the
    /// 48-byte compressed G1 key.
    pub public_key: Vec<u8>,
    /// The chain address, where the chain has one: Ethereum (checksummed),
    /// Solana (base58), Bitcoin P2TR (bech32m, mainnet); none for BLS.
    pub address: Option<String>,
}

/// The value at least `t` of `values` report identically.
fn agreed(values: impl IntoIterator<Item = String>, t: usize) -> Option<String> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for v in values {
        *counts.entry(v).or_default() += 1;
    }
    counts.into_iter().find(|(_, c)| *c >= t).map(|(v, _)| v)
}

impl Client {
    /// The public key and address that the key id `key_id` derives for
    /// `key_type`, from root keys reported identically by at least `t`
    /// nodes (one node cannot make the client show another key).
    pub async fn typed_public_key(
        &self,
        key_type: candela_frost::KeyType,
        key_id: &[u8],
    ) -> Result<TypedKey, ClientError> {
        use candela_frost::KeyType;
        let fail = |why: String| ClientError::Input(format!("{key_type} key: {why}"));
        let t = self.net.threshold;
        let statuses = self.statuses().await;
        let root_of = |name: &str| {
            agreed(
                statuses
                    .iter()
                    .flatten()
                    .filter_map(|s| s.frost_root_keys.get(name).cloned()),
                t,
            )
            .and_then(|h| hex::decode(h).ok())
            .ok_or_else(|| fail(format!("fewer than {t} nodes report the same {name} root")))
        };
        let (public_key, address) = match key_type {
            KeyType::K256 => {
                let pk = derive::derive_public_key(self.root_public_key(), key_id)
                    .map_err(|e| fail(e.to_string()))?;
                (
                    derive::point_to_bytes(&pk, false).to_vec(),
                    Some(derive::checksum_address(&derive::eth_address(&pk))),
                )
            }
            KeyType::Ed25519 => {
                let root = root_of("Ed25519")?;
                let pk = candela_frost::pkp_public_key_from_root::<candela_frost::Ed25519Sha512>(
                    &root, key_id,
                )
                .map_err(|e| fail(e.to_string()))?;
                let address = schnorr_address(SigningScheme::SchnorrEd25519Sha512, &pk)?;
                (pk, Some(address))
            }
            KeyType::K256Taproot => {
                let root = root_of("K256Taproot")?;
                let pk =
                    candela_frost::pkp_public_key_from_root::<candela_frost::Secp256K1Sha256TR>(
                        &root, key_id,
                    )
                    .map_err(|e| fail(e.to_string()))?;
                let address = schnorr_address(SigningScheme::SchnorrK256Taproot, &pk)?;
                (pk, Some(address))
            }
            KeyType::Bls12381G1 => {
                let root = agreed(
                    statuses
                        .iter()
                        .flatten()
                        .filter_map(|s| s.bls_public_key.clone()),
                    t,
                )
                .ok_or_else(|| fail(format!("fewer than {t} nodes report the same BLS root")))?;
                let root = candela_bls::encoding::public_key_from_hex(&root)
                    .map_err(|e| fail(e.to_string()))?;
                let pk = candela_bls::derived::BlsTweak::pkp(key_id).public_key_bytes(&root);
                (pk.to_vec(), None)
            }
        };
        Ok(TypedKey {
            key_type,
            public_key,
            address,
        })
    }
}
