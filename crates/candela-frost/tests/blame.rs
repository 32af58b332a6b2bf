//! A party that cheats in key generation or signing is named.

use std::collections::BTreeMap;

use crate::common::Net;
use candela_frost::frost_core::keys::dkg;
use candela_frost::session::{Outgoing, Session, Step};
use candela_frost::{
    aggregate, identifier, sim, DkgSession, Ed25519Sha512, FrostError, FrostKeyShare, PartyIndex,
    Secp256K1Sha256TR, Suite, Tweak,
};
use rand_core::OsRng;

type Edit = Box<dyn FnMut(&mut Vec<u8>) + Send>;

/// A party whose outgoing messages with a given tag are rewritten.
struct Tamper<C: Suite> {
    inner: DkgSession<C>,
    tag: u8,
    edit: Edit,
}

impl<C: Suite> Session for Tamper<C> {
    type Output = FrostKeyShare<C>;

    fn poke(&mut self) -> Result<Step<FrostKeyShare<C>>, FrostError> {
        let step = self.inner.poke()?;
        Ok(match step {
            Step::Send(Outgoing::Broadcast(mut m)) if m.first() == Some(&self.tag) => {
                (self.edit)(&mut m);
                Step::Send(Outgoing::Broadcast(m))
            }
            Step::Send(Outgoing::Private(to, mut m)) if m.first() == Some(&self.tag) => {
                (self.edit)(&mut m);
                Step::Send(Outgoing::Private(to, m))
            }
            other => other,
        })
    }

    fn receive(&mut self, from: PartyIndex, message: Vec<u8>) {
        self.inner.receive(from, message)
    }
}

type Boxed<C> = Box<dyn Session<Output = FrostKeyShare<C>>>;

/// Key generation among 0..n where `cheater` rewrites its `tag` messages.
fn keygen_with_cheater<C: Suite>(
    n: u32,
    t: u16,
    cheater: PartyIndex,
    tag: u8,
    edit: Edit,
) -> Result<BTreeMap<PartyIndex, FrostKeyShare<C>>, FrostError> {
    let parts: Vec<PartyIndex> = (0..n).collect();
    let mut edit = Some(edit);
    let sessions: Vec<(PartyIndex, Boxed<C>)> = parts
        .iter()
        .map(|&i| {
            let s = DkgSession::<C>::new(&parts, i, t, &mut OsRng).unwrap();
            let b: Boxed<C> = match (i == cheater).then(|| edit.take()).flatten() {
                Some(edit) => Box::new(Tamper {
                    inner: s,
                    tag,
                    edit,
                }),
                None => Box::new(s),
            };
            (i, b)
        })
        .collect();
    sim::run(sessions)
}

/// A valid round-1 package (fresh polynomial, valid proof) for `as_party`.
fn fresh_round1<C: Suite>(as_party: PartyIndex, n: u16, t: u16) -> Vec<u8> {
    let (_, p) = dkg::part1::<C, _>(identifier::<C>(as_party).unwrap(), n, t, OsRng).unwrap();
    let mut m = vec![1u8];
    m.extend(p.serialize().unwrap());
    m
}

fn dkg_cheaters_are_named<C: Suite>() {
    let (n, t) = (5u32, 4u16);
    // A commitment that does not match the shares the party sends.
    let swap = fresh_round1::<C>(2, n as u16, t);
    let err = keygen_with_cheater::<C>(n, t, 2, 1, Box::new(move |m| *m = swap.clone()));
    assert_eq!(err.unwrap_err(), FrostError::BadDkgPackage { party: 2 });

    // A proof of knowledge made for another identifier.
    let stolen = fresh_round1::<C>(4, n as u16, t);
    let err = keygen_with_cheater::<C>(n, t, 2, 1, Box::new(move |m| *m = stolen.clone()));
    assert_eq!(err.unwrap_err(), FrostError::BadDkgPackage { party: 2 });

    // Garbage instead of a share.
    let err = keygen_with_cheater::<C>(n, t, 3, 2, Box::new(|m| m.truncate(3)));
    assert!(
        matches!(err, Err(FrostError::BadMessage { party: 3, .. })),
        "{err:?}"
    );

    // A confirmation of a different public key package.
    let err = keygen_with_cheater::<C>(n, t, 1, 3, Box::new(|m| m[5] ^= 1));
    assert_eq!(err.unwrap_err(), FrostError::InconsistentKey { party: 1 });
}

#[test]
fn ed25519_dkg_cheater_is_named_by_every_check() {
    dkg_cheaters_are_named::<Ed25519Sha512>();
}

#[test]
fn taproot_dkg_cheater_is_named_by_every_check() {
    dkg_cheaters_are_named::<Secp256K1Sha256TR>();
}

fn corrupted_share_is_named<C: Suite>(msg: &[u8]) {
    let mut net = Net::<C>::new(7, 5, 1);
    let signers = [0, 1, 3, 5, 6];
    let tweak = Tweak::<C>::pkp(b"pkp").unwrap();
    let package = net.package(&signers, 0, msg).unwrap();
    let mut shares = net.shares_for(&signers, 0, &tweak, &package).unwrap();
    // Party 5 sends party 1's (valid-looking) share as its own.
    let stolen = shares[&1];
    shares.insert(5, stolen);
    let public = tweak.public_key_package(&net.any_share().public_key_package);
    assert_eq!(
        aggregate(&package, &shares, &public),
        Err(FrostError::BadShare { party: 5 })
    );
    // A share made for the root key does not pass for the PKP either.
    let root_public = Tweak::<C>::root().public_key_package(&net.any_share().public_key_package);
    shares.insert(5, stolen);
    assert!(matches!(
        aggregate(&package, &shares, &root_public),
        Err(FrostError::BadShare { .. })
    ));
}

#[test]
fn ed25519_corrupted_signature_share_names_its_sender() {
    corrupted_share_is_named::<Ed25519Sha512>(b"m");
}

#[test]
fn taproot_corrupted_signature_share_names_its_sender() {
    corrupted_share_is_named::<Secp256K1Sha256TR>(&[1; 32]);
}
