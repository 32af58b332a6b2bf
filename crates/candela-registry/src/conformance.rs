//! One conformance suite for every [`Registry`] implementation: the SQLite
//! tests and the EVM tests (on a real anvil) both run [`run_all`].
use std::collections::BTreeSet;

use candela_crypto::{derive, AffinePoint, ProjectivePoint, Scalar};
use k256::elliptic_curve::Field;
use rand_core::OsRng;

use crate::{
    signer_address, PkpRecord, Registry, RegistryError, SigningKey, BURNED_OWNER,
    SCOPE_SIGN_ANYTHING,
};

pub const CID_A: &str = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o";

pub fn cid_b() -> String {
    candela_cid::cid_v0(b"another action")
}

pub fn random_root() -> AffinePoint {
    (ProjectivePoint::GENERATOR * Scalar::random(&mut OsRng)).to_affine()
}

pub fn random_key() -> SigningKey {
    SigningKey::random(&mut OsRng)
}

/// The keys a suite run uses: `owner` and `other` mint and sign (on a chain
/// they must hold funds); `other` is never the owner of `owner`'s PKPs.
pub struct Keys {
    pub owner: SigningKey,
    pub other: SigningKey,
}

impl Keys {
    pub fn random() -> Keys {
        Keys {
            owner: random_key(),
            other: random_key(),
        }
    }
}

fn ids(recs: &[PkpRecord]) -> BTreeSet<[u8; 32]> {
    recs.iter().map(|r| r.token_id).collect()
}

/// Run every check against `reg`, whose PKPs derive from `root`.
pub fn run_all(reg: &dyn Registry, root: &AffinePoint) {
    run_all_with(reg, root, &Keys::random())
}

/// [`run_all`] with given (funded) keys.
pub fn run_all_with(reg: &dyn Registry, root: &AffinePoint, keys: &Keys) {
    mint_and_lookup(reg, root, keys);
    permitted_actions(reg, root, keys);
    non_owner_mutation_is_refused(reg, root, keys);
    unknown_pkp_is_a_clear_error(reg, keys);
    malformed_cid_is_refused_and_mints_nothing(reg, root, keys);
    mint_grant_burn_freezes_the_pkp(reg, root, keys);
}

pub fn mint_and_lookup(reg: &dyn Registry, root: &AffinePoint, keys: &Keys) {
    let owner = signer_address(&keys.owner);
    let before = ids(&reg.owned_by(owner).unwrap());
    let a = reg.mint(&keys.owner, root).unwrap();
    let b = reg.mint(&keys.owner, root).unwrap();
    assert_ne!(a.key_id, b.key_id, "key ids are unique");
    for rec in [&a, &b] {
        rec.check_derivation(root).unwrap();
        assert_eq!(rec.owner, owner);
        assert_eq!(rec.token_id, derive::token_id(&rec.public_key));
        assert_eq!(
            rec.eth_address()[..],
            rec.token_id[12..],
            "address = low 20 bytes"
        );
        assert_eq!(&reg.by_public_key(&rec.public_key).unwrap(), rec);
        assert_eq!(&reg.by_token_id(&rec.token_id).unwrap(), rec);
    }
    let after = ids(&reg.owned_by(owner).unwrap());
    let expected: BTreeSet<_> = before
        .iter()
        .copied()
        .chain([a.token_id, b.token_id])
        .collect();
    assert_eq!(after, expected);
    assert!(reg
        .owned_by(signer_address(&random_key()))
        .unwrap()
        .is_empty());
    // A record checked against another root is refused.
    assert!(matches!(
        a.check_derivation(&random_root()),
        Err(RegistryError::NotDerived(_))
    ));
}

pub fn permitted_actions(reg: &dyn Registry, root: &AffinePoint, keys: &Keys) {
    let a = reg.mint(&keys.owner, root).unwrap();
    let other = reg.mint(&keys.owner, root).unwrap();
    assert!(!reg.is_permitted_action(&a.token_id, CID_A).unwrap());
    assert!(reg.permitted_actions(&a.token_id).unwrap().is_empty());
    reg.add_permitted_action(&keys.owner, &a.token_id, CID_A, SCOPE_SIGN_ANYTHING)
        .unwrap();
    reg.add_permitted_action(&keys.owner, &a.token_id, CID_A, SCOPE_SIGN_ANYTHING)
        .unwrap();
    reg.add_permitted_action(&keys.owner, &a.token_id, &cid_b(), 2)
        .unwrap();
    assert!(reg.is_permitted_action(&a.token_id, CID_A).unwrap());
    assert!(reg.is_permitted_action(&a.token_id, &cid_b()).unwrap());
    assert!(!reg.is_permitted_action(&other.token_id, CID_A).unwrap());
    assert_eq!(
        reg.permitted_actions(&a.token_id).unwrap(),
        vec![CID_A.to_string(), cid_b()]
    );
    // Not burned, with actions: the owner keeps it.
    let kept = reg
        .mint_with_actions(&keys.owner, root, &[CID_A], false)
        .unwrap();
    kept.check_derivation(root).unwrap();
    assert_eq!(kept.owner, signer_address(&keys.owner));
    assert_eq!(reg.by_token_id(&kept.token_id).unwrap(), kept);
    assert_eq!(reg.permitted_actions(&kept.token_id).unwrap(), vec![CID_A]);
}

pub fn non_owner_mutation_is_refused(reg: &dyn Registry, root: &AffinePoint, keys: &Keys) {
    let a = reg.mint(&keys.owner, root).unwrap();
    let e = reg
        .add_permitted_action(&keys.other, &a.token_id, CID_A, SCOPE_SIGN_ANYTHING)
        .unwrap_err();
    match &e {
        RegistryError::NotOwner { signer, .. } => assert_eq!(
            signer,
            &derive::checksum_address(&signer_address(&keys.other))
        ),
        other => panic!("expected NotOwner, got {other}"),
    }
    assert!(e.to_string().contains("not by the signer"), "{e}");
    assert!(!reg.is_permitted_action(&a.token_id, CID_A).unwrap());
    assert_eq!(reg.by_token_id(&a.token_id).unwrap(), a);
}

pub fn unknown_pkp_is_a_clear_error(reg: &dyn Registry, keys: &Keys) {
    let e = reg.by_public_key(&random_root()).unwrap_err();
    assert!(matches!(e, RegistryError::UnknownPkp(_)), "{e}");
    assert!(e.to_string().starts_with("unknown PKP 0x04"), "{e}");
    let e = reg.by_token_id(&[9u8; 32]).unwrap_err();
    assert!(matches!(e, RegistryError::UnknownPkp(_)), "{e}");
    assert!(e.to_string().contains(&hex::encode([9u8; 32])), "{e}");
    let e = reg
        .add_permitted_action(&keys.owner, &[9u8; 32], CID_A, 1)
        .unwrap_err();
    assert!(matches!(e, RegistryError::UnknownPkp(_)), "{e}");
    assert!(!reg.is_permitted_action(&[9u8; 32], CID_A).unwrap());
    assert!(reg.permitted_actions(&[9u8; 32]).unwrap().is_empty());
}

pub fn malformed_cid_is_refused_and_mints_nothing(
    reg: &dyn Registry,
    root: &AffinePoint,
    keys: &Keys,
) {
    let owner = signer_address(&keys.owner);
    let a = reg.mint(&keys.owner, root).unwrap();
    assert!(matches!(
        reg.add_permitted_action(&keys.owner, &a.token_id, "QmNotACid", 1),
        Err(RegistryError::InvalidCid(_))
    ));
    assert!(matches!(
        reg.is_permitted_action(&a.token_id, "bafynotv0"),
        Err(RegistryError::InvalidCid(_))
    ));
    let before = ids(&reg.owned_by(owner).unwrap());
    let burned_before = ids(&reg.owned_by(BURNED_OWNER).unwrap());
    for burn in [true, false] {
        assert!(matches!(
            reg.mint_with_actions(&keys.owner, root, &[CID_A, "bafynotv0"], burn),
            Err(RegistryError::InvalidCid(_))
        ));
    }
    assert_eq!(ids(&reg.owned_by(owner).unwrap()), before);
    assert_eq!(ids(&reg.owned_by(BURNED_OWNER).unwrap()), burned_before);
}

pub fn mint_grant_burn_freezes_the_pkp(reg: &dyn Registry, root: &AffinePoint, keys: &Keys) {
    for actions in [vec![CID_A.to_string()], vec![CID_A.to_string(), cid_b()]] {
        let refs: Vec<&str> = actions.iter().map(String::as_str).collect();
        let rec = reg
            .mint_with_actions(&keys.owner, root, &refs, true)
            .unwrap();
        assert_eq!(rec.owner, BURNED_OWNER);
        rec.check_derivation(root).unwrap();
        assert_eq!(reg.by_token_id(&rec.token_id).unwrap(), rec);
        assert_eq!(reg.by_public_key(&rec.public_key).unwrap(), rec);
        assert_eq!(reg.permitted_actions(&rec.token_id).unwrap(), actions);
        for cid in &refs {
            assert!(reg.is_permitted_action(&rec.token_id, cid).unwrap());
        }
        assert!(ids(&reg.owned_by(BURNED_OWNER).unwrap()).contains(&rec.token_id));
        assert!(!ids(&reg.owned_by(signer_address(&keys.owner)).unwrap()).contains(&rec.token_id));
        // Every mutation is refused, whoever signs it.
        for key in [&keys.owner, &keys.other] {
            for (cid, scope) in [(cid_b(), 1), (CID_A.to_string(), 2)] {
                let e = reg
                    .add_permitted_action(key, &rec.token_id, &cid, scope)
                    .unwrap_err();
                assert!(matches!(e, RegistryError::Burned(_)), "{e}");
            }
        }
        assert_eq!(reg.permitted_actions(&rec.token_id).unwrap(), actions);
    }
}
