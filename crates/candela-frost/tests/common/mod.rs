//! Shared test helpers: a whole signing run in memory, and verification
//! with independent libraries (ed25519-dalek, k256's BIP-340 verifier).
#![allow(dead_code)]
use std::collections::BTreeMap;

use candela_frost::frost_core::round2::SignatureShare;
use candela_frost::frost_core::SigningPackage;
use candela_frost::{
    aggregate, sign_share, signing_package, sim, CommitmentPool, Ed25519Sha512, FrostError,
    FrostKeyShare, PartyIndex, Secp256K1Sha256TR, Suite, Tweak,
};
use rand_core::{OsRng, RngCore};

/// Verification of a chain-format signature by a library other than frost.
pub trait ExternalVerify: Suite {
    /// Whether `sig` (64 bytes) verifies for `msg` under `pk` (the chain's
    /// public key encoding).
    fn verify(pk: &[u8], msg: &[u8], sig: &[u8]) -> bool;
}

impl ExternalVerify for Ed25519Sha512 {
    fn verify(pk: &[u8], msg: &[u8], sig: &[u8]) -> bool {
        let Ok(pk) = <[u8; 32]>::try_from(pk) else {
            return false;
        };
        let Ok(sig) = <[u8; 64]>::try_from(sig) else {
            return false;
        };
        let Ok(vk) = ed25519_dalek::VerifyingKey::from_bytes(&pk) else {
            return false;
        };
        vk.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&sig))
            .is_ok()
    }
}

impl ExternalVerify for Secp256K1Sha256TR {
    fn verify(pk: &[u8], msg: &[u8], sig: &[u8]) -> bool {
        let Ok(vk) = k256::schnorr::VerifyingKey::from_bytes(pk) else {
            return false;
        };
        let Ok(sig) = k256::schnorr::Signature::try_from(sig) else {
            return false;
        };
        vk.verify_raw(msg, &sig).is_ok()
    }
}

/// `t = floor(2n/3) + 1`.
pub fn threshold_for(n: u32) -> u16 {
    (2 * n / 3 + 1) as u16
}

/// A random `t`-subset of `0..n`, ascending.
pub fn random_subset(n: u32, t: u16) -> Vec<PartyIndex> {
    let mut all: Vec<PartyIndex> = (0..n).collect();
    for i in (1..all.len()).rev() {
        let j = (OsRng.next_u32() as usize) % (i + 1);
        all.swap(i, j);
    }
    let mut s = all[..t as usize].to_vec();
    s.sort_unstable();
    s
}

/// A network in memory: every party's root share and commitment pool.
pub struct Net<C: Suite> {
    pub shares: BTreeMap<PartyIndex, FrostKeyShare<C>>,
    pub pools: BTreeMap<PartyIndex, CommitmentPool<C>>,
    /// The published commitments: party -> id -> commitments.
    pub published: BTreeMap<PartyIndex, Vec<candela_frost::PublicCommitment<C>>>,
}

impl<C: Suite> Net<C> {
    /// Key generation among `0..n`, then `per_party` commitments each,
    /// made before any PKP or message is chosen.
    pub fn new(n: u32, t: u16, per_party: usize) -> Self {
        let shares = sim::keygen::<C, _>(n, t, &mut OsRng).expect("keygen");
        let mut pools = BTreeMap::new();
        let mut published = BTreeMap::new();
        for (&p, share) in &shares {
            let mut pool = CommitmentPool::new();
            published.insert(p, pool.refill(share, per_party, &mut OsRng));
            pools.insert(p, pool);
        }
        Net {
            shares,
            pools,
            published,
        }
    }

    /// The signing package for `signers`, each using its next published
    /// commitment (`round` selects which).
    pub fn package(
        &self,
        signers: &[PartyIndex],
        round: usize,
        msg: &[u8],
    ) -> Result<SigningPackage<C>, FrostError> {
        let commitments = signers
            .iter()
            .map(|p| (*p, self.published[p][round].commitments))
            .collect();
        signing_package(&commitments, msg)
    }

    /// Every signer's share for `tweak`, taking its nonces from its pool.
    pub fn shares_for(
        &mut self,
        signers: &[PartyIndex],
        round: usize,
        tweak: &Tweak<C>,
        package: &SigningPackage<C>,
    ) -> Result<BTreeMap<PartyIndex, SignatureShare<C>>, FrostError> {
        let mut out = BTreeMap::new();
        for p in signers {
            let id = self.published[p][round].id;
            let nonces = self.pools.get_mut(p).expect("pool").take(id)?;
            out.insert(*p, sign_share(&self.shares[p], tweak, &nonces, package)?);
        }
        Ok(out)
    }

    /// A whole signature by `signers` for the key `tweak` derives.
    pub fn sign(
        &mut self,
        signers: &[PartyIndex],
        round: usize,
        tweak: &Tweak<C>,
        msg: &[u8],
    ) -> Result<Vec<u8>, FrostError> {
        let package = self.package(signers, round, msg)?;
        let shares = self.shares_for(signers, round, tweak, &package)?;
        let public = tweak.public_key_package(&self.any_share().public_key_package);
        aggregate(&package, &shares, &public)
    }

    /// Any party's share (all hold the same public package).
    pub fn any_share(&self) -> &FrostKeyShare<C> {
        self.shares.values().next().expect("a share")
    }

    /// The chain-format public key of the key `tweak` derives.
    pub fn public_key(&self, tweak: &Tweak<C>) -> Vec<u8> {
        tweak
            .public_key_bytes(&self.any_share().public_key_package)
            .expect("public key")
    }
}
