//! Real root keys made by each of Candela's DKGs, reshared to a new
//! committee, then used by the real signing code: the signatures verify
//! under the root public key from before the reshare, with independent
//! verifiers where the scheme has one.
use std::collections::BTreeMap;

use candela_crypto::derive::{derive_public_key, pkp_tweak};
use candela_crypto::ecdsa::{combine, signature_share, SigningContext};
use candela_crypto::session::CaitSith;
use candela_frost::{
    aggregate, make_commitments, sign_share, signing_package, Ed25519Sha512, FrostKeyShare,
    Secp256K1Sha256TR, Tweak,
};
use candela_reshare::roots::{
    bls_input, bls_share, ecdsa_input, ecdsa_share, frost_input, frost_share, FrostGroup, RootInput,
};
use candela_reshare::{
    Committee, NewShare, NodeIndex, OldShare, Outgoing, ReshareParams, ReshareSession, Step,
};
use group::{Group, GroupEncoding};
use rand_core::OsRng;

/// Run a reshare from the inputs of the dealers to `new_members`.
fn reshare<G: Group + GroupEncoding>(
    label: &str,
    inputs: BTreeMap<NodeIndex, RootInput<G>>,
    old: Committee,
    new_members: Vec<NodeIndex>,
    new_threshold: usize,
) -> BTreeMap<NodeIndex, NewShare<G>> {
    let dealers: Vec<NodeIndex> = inputs.keys().copied().take(old.threshold).collect();
    let params = ReshareParams::new(
        label,
        1,
        old,
        Committee::new(new_members, new_threshold).unwrap(),
        dealers,
    )
    .unwrap();
    let any = inputs.values().next().unwrap();
    let (group_key, public_shares) = (any.group_key, any.public_shares.clone());
    let participants = params.participants();
    let mut sessions: BTreeMap<NodeIndex, ReshareSession<G>> = participants
        .iter()
        .map(|&p| {
            let old_share = params.dealers.contains(&p).then(|| OldShare {
                me: p,
                secret: inputs[&p].old_share.secret,
            });
            (
                p,
                ReshareSession::new(
                    params.clone(),
                    p,
                    group_key,
                    public_shares.clone(),
                    old_share,
                    OsRng,
                )
                .unwrap(),
            )
        })
        .collect();
    let mut out = BTreeMap::new();
    while !sessions.is_empty() {
        let ids: Vec<NodeIndex> = sessions.keys().copied().collect();
        let mut progressed = false;
        for id in ids {
            match sessions.get_mut(&id).unwrap().poke().unwrap() {
                Step::Send(Outgoing::Broadcast(b)) => {
                    progressed = true;
                    for (_, s) in sessions.iter_mut().filter(|(&to, _)| to != id) {
                        s.receive(id, &b);
                    }
                }
                Step::Send(Outgoing::Private(to, b)) => {
                    progressed = true;
                    if let Some(s) = sessions.get_mut(&to) {
                        s.receive(id, &b);
                    }
                }
                Step::Done(o) => {
                    progressed = true;
                    sessions.remove(&id);
                    if let Some(share) = o.new_share {
                        out.insert(id, share);
                    }
                }
                Step::Wait => {}
            }
        }
        assert!(progressed, "reshare stalled");
    }
    out
}

#[test]
fn a_reshared_ecdsa_root_presigns_and_signs_a_pkp_signature_under_the_same_address() {
    let keys = candela_crypto::sim::keygen::<CaitSith>(4, 3).unwrap();
    let root = keys[&0].public_key;
    let inputs = keys.iter().map(|(&i, k)| (i, ecdsa_input(k))).collect();
    // Nodes 2 and 3 leave, 4, 5 and 6 join: five nodes, threshold 4.
    let new = reshare(
        "ecdsa-root",
        inputs,
        Committee::new(vec![0, 1, 2, 3], 3).unwrap(),
        vec![0, 1, 4, 5, 6],
        4,
    );
    let new_keys: BTreeMap<_, _> = new.iter().map(|(&i, s)| (i, ecdsa_share(s))).collect();
    assert!(new_keys.values().all(|k| k.public_key == root));
    let signers: Vec<NodeIndex> = vec![1, 4, 5, 6];
    let presigs = candela_crypto::sim::presign::<CaitSith>(&new_keys, &signers, 1).unwrap();
    let key_id = b"a pkp minted before the epoch change";
    let tweak = pkp_tweak(key_id).unwrap();
    let pkp = derive_public_key(&root, key_id).unwrap();
    let digest = [7u8; 32];
    let big_r = presigs[&signers[0]][0].big_r;
    let ctx = SigningContext {
        big_r: &big_r,
        root: &root,
        tweak: &tweak,
        digest: &digest,
        presignature_id: "presign-after-reshare",
        signers: &signers,
        request_id: "request-1",
    };
    let rr = ctx.rerandomize().unwrap();
    let shares: Vec<_> = signers
        .iter()
        .map(|&i| signature_share(&presigs[&i][0], i, &ctx).unwrap().0)
        .collect();
    let sig = combine(&shares, &rr.big_r, &pkp, &digest).unwrap();
    // An independent check with k256's own verifier.
    let vk = k256::ecdsa::VerifyingKey::from_affine(pkp).unwrap();
    let der = k256::ecdsa::Signature::from_scalars(sig.r, sig.s).unwrap();
    use k256::ecdsa::signature::hazmat::PrehashVerifier;
    vk.verify_prehash(&digest, &der).unwrap();
}

#[test]
fn a_reshared_bls_root_signs_and_decrypts_under_the_same_public_key() {
    let keys = candela_bls::sim::dkg(4, 3).unwrap();
    let public_key = keys[&0].public_key;
    let inputs = keys.iter().map(|(&i, k)| (i, bls_input(k))).collect();
    let new = reshare(
        "bls-root",
        inputs,
        Committee::new(vec![0, 1, 2, 3], 3).unwrap(),
        vec![2, 3, 7, 8, 9],
        4,
    );
    let new_keys: BTreeMap<_, _> = new.iter().map(|(&i, s)| (i, bls_share(s))).collect();
    let msg = b"identity of an encrypted item";
    let shares: Vec<_> = [3, 7, 8, 9]
        .iter()
        .map(|i| candela_bls::sign_share(&new_keys[i], msg).unwrap())
        .collect();
    let set = new_keys[&7].public_set();
    assert_eq!(set.public_key, public_key);
    let sig = candela_bls::combine_verified(&set, msg, &shares).unwrap();
    candela_bls::verify(&public_key, msg, &sig).unwrap();
    // Three shares are below the new threshold.
    assert!(candela_bls::combine_verified(&set, msg, &shares[..3]).is_err());
}

fn frost_reshare_then_sign<C: FrostGroup + candela_frost::Suite>(
    label: &str,
    msg: &[u8],
    verify: impl Fn(&[u8], &[u8]) -> bool,
) {
    let keys = candela_frost::sim::keygen::<C, _>(5, 4, &mut OsRng).unwrap();
    let before = Tweak::<C>::root()
        .public_key_bytes(&keys[&0].public_key_package)
        .unwrap();
    let inputs = keys
        .iter()
        .map(|(&i, k)| (i, frost_input(k).unwrap()))
        .collect();
    let new = reshare(
        label,
        inputs,
        Committee::new(vec![0, 1, 2, 3, 4], 4).unwrap(),
        vec![0, 5, 6],
        3,
    );
    let new_keys: BTreeMap<NodeIndex, FrostKeyShare<C>> = new
        .iter()
        .map(|(&i, s)| (i, frost_share::<C>(s).unwrap()))
        .collect();
    let public = &new_keys[&5].public_key_package;
    assert_eq!(Tweak::<C>::root().public_key_bytes(public).unwrap(), before);
    for tweak in [
        Tweak::<C>::root(),
        Tweak::<C>::pkp(b"a pkp key id").unwrap(),
    ] {
        let mut nonces = BTreeMap::new();
        let mut commitments = BTreeMap::new();
        for (&i, k) in &new_keys {
            let (mut n, c) = make_commitments(k, 0, 1, &mut OsRng);
            nonces.insert(i, n.remove(0).1);
            commitments.insert(i, c[0].commitments);
        }
        let package = signing_package::<C>(&commitments, msg).unwrap();
        let shares = new_keys
            .iter()
            .map(|(&i, k)| (i, sign_share(k, &tweak, &nonces[&i], &package).unwrap()))
            .collect();
        let sig = aggregate(&package, &shares, &tweak.public_key_package(public)).unwrap();
        let pk = tweak.public_key_bytes(public).unwrap();
        assert!(
            verify(&pk, &sig),
            "{label}: signature verifies independently"
        );
    }
}

#[test]
fn a_reshared_ed25519_root_signs_for_its_pkps_verified_by_ed25519_dalek() {
    frost_reshare_then_sign::<Ed25519Sha512>("ed25519-root", b"a solana message", |pk, sig| {
        let vk = ed25519_dalek::VerifyingKey::from_bytes(pk.try_into().unwrap()).unwrap();
        vk.verify_strict(
            b"a solana message",
            &ed25519_dalek::Signature::from_bytes(sig.try_into().unwrap()),
        )
        .is_ok()
    });
}

#[test]
fn a_reshared_taproot_root_signs_for_its_pkps_verified_by_bip340() {
    let msg = [9u8; 32];
    frost_reshare_then_sign::<Secp256K1Sha256TR>("taproot-root", &msg, |pk, sig| {
        let vk = k256::schnorr::VerifyingKey::from_bytes(pk).unwrap();
        vk.verify_raw(&msg, &k256::schnorr::Signature::try_from(sig).unwrap())
            .is_ok()
    });
}
