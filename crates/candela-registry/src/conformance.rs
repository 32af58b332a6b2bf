//! One conformance suite for every [`Registry`] implementation: the SQLite
//! tests and the EVM tests (on a real anvil) both run [`run_all_with`] (or
//! [`run_all`]), and [`node_set_roundtrip`] on a freshly created registry.
//!
//! Every check is relative to what the registry held before it (a registry
//! may be shared by several runs), and every check that a refused mutation
//! changes nothing reads the state back.
use std::collections::BTreeSet;

use candela_crypto::{derive, AffinePoint, ProjectivePoint, Scalar};
use k256::elliptic_curve::Field;
use rand_core::{OsRng, RngCore};

use crate::{
    signer_address, AuthMethod, Permission, PkpKeyType, PkpRecord, RegisteredNode,
    RegisteredNodeSet, Registry, RegistryError, SigningKey, AUTH_METHOD_TYPE_ACTION,
    AUTH_METHOD_TYPE_ADDRESS, BURNED_OWNER, MAX_SCOPE_ID, SCOPE_PERSONAL_SIGN, SCOPE_SIGN_ANYTHING,
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

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    OsRng.fill_bytes(&mut out);
    out
}

/// The keys a suite run uses: `owner` and `other` mint and sign (on a chain
/// they must hold funds); `other` is never the owner of `owner`'s PKPs
/// except where a check transfers one to it.
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

/// The token ids of `recs`.
pub fn token_ids(recs: &[PkpRecord]) -> BTreeSet<[u8; 32]> {
    recs.iter().map(|r| r.token_id).collect()
}

fn hex_id(token_id: &[u8; 32]) -> String {
    format!("0x{}", hex::encode(token_id))
}

fn checksum(address: [u8; 20]) -> String {
    derive::checksum_address(&address)
}

fn action(cid: &str, scopes: &[u64]) -> Permission {
    Permission::new(AuthMethod::action(cid).unwrap(), scopes.iter().copied())
}

fn address(a: [u8; 20], scopes: &[u64]) -> Permission {
    Permission::new(AuthMethod::address(a), scopes.iter().copied())
}

fn custom(auth_method_type: u64, id: &[u8], user_pubkey: &[u8], scopes: &[u64]) -> Permission {
    Permission::new(
        AuthMethod {
            auth_method_type,
            id: id.to_vec(),
            user_pubkey: user_pubkey.to_vec(),
        },
        scopes.iter().copied(),
    )
}

fn multihash(cid: &str) -> Vec<u8> {
    candela_cid::parse_cid_v0(cid).unwrap().to_vec()
}

fn scopes(s: &[u64]) -> Option<BTreeSet<u64>> {
    Some(s.iter().copied().collect())
}

/// `r` is [`RegistryError::NotOwner`] naming the PKP, its real owner and
/// the signer.
#[track_caller]
fn assert_not_owner<T: std::fmt::Debug>(
    r: Result<T, RegistryError>,
    token_id: &[u8; 32],
    owner: [u8; 20],
    signer: &SigningKey,
) {
    match r {
        Err(RegistryError::NotOwner {
            token_id: t,
            owner: o,
            signer: s,
        }) => {
            assert_eq!(t, hex_id(token_id));
            assert_eq!(o, checksum(owner));
            assert_eq!(s, checksum(signer_address(signer)));
        }
        other => panic!("expected NotOwner, got {other:?}"),
    }
}

#[track_caller]
fn assert_burned<T: std::fmt::Debug>(what: &str, r: Result<T, RegistryError>, token_id: &[u8; 32]) {
    match r {
        Err(RegistryError::Burned(t)) => assert_eq!(t, hex_id(token_id), "{what}"),
        other => panic!("{what}: expected Burned, got {other:?}"),
    }
}

#[track_caller]
fn assert_unknown<T: std::fmt::Debug>(
    what: &str,
    r: Result<T, RegistryError>,
    token_id: &[u8; 32],
) {
    match r {
        Err(RegistryError::UnknownPkp(t)) => assert_eq!(t, hex_id(token_id), "{what}"),
        other => panic!("{what}: expected UnknownPkp, got {other:?}"),
    }
}

/// What kind of refusal a malformed input gets.
#[derive(Debug, Clone, Copy)]
enum Bad {
    Invalid,
    Cid,
}

#[track_caller]
fn assert_bad<T: std::fmt::Debug>(what: &str, r: Result<T, RegistryError>, kind: Bad) {
    match (kind, &r) {
        (Bad::Invalid, Err(RegistryError::Invalid(_))) => {}
        (Bad::Cid, Err(RegistryError::InvalidCid(_))) => {}
        _ => panic!("{what}: expected {kind:?}, got {r:?}"),
    }
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
    address_permissions_and_scopes(reg, root, keys);
    custom_auth_methods(reg, root, keys);
    invalid_input_is_refused_and_changes_nothing(reg, root, keys);
    transfer_moves_ownership(reg, root, keys);
    burn_freezes_the_pkp(reg, root, keys);
    mint_with_mixed_grants(reg, root, keys);
    every_key_type_is_minted_recorded_and_burned(reg, root, keys);
}

/// Each key type mints, reads back with its type (by public key, token id
/// and owner) and goes through mint-grant-burn; a plain mint is `K256`.
pub fn every_key_type_is_minted_recorded_and_burned(
    reg: &dyn Registry,
    root: &AffinePoint,
    keys: &Keys,
) {
    assert_eq!(
        reg.mint(&keys.owner, root).unwrap().key_type,
        PkpKeyType::K256
    );
    let owner = signer_address(&keys.owner);
    for key_type in PkpKeyType::ALL {
        let rec = reg
            .mint_typed(&keys.owner, root, key_type, &[], false)
            .unwrap();
        assert_eq!(rec.key_type, key_type);
        rec.check_derivation(root).unwrap();
        assert_eq!(reg.by_token_id(&rec.token_id).unwrap().key_type, key_type);
        assert_eq!(reg.by_public_key(&rec.public_key).unwrap(), rec);
        assert!(reg
            .owned_by(owner)
            .unwrap()
            .iter()
            .any(|r| r.token_id == rec.token_id && r.key_type == key_type));
        let grant = Permission::new(AuthMethod::action(CID_A).unwrap(), [SCOPE_SIGN_ANYTHING]);
        let burned = reg
            .mint_typed(&keys.owner, root, key_type, &[grant], true)
            .unwrap();
        assert_eq!(burned.owner, BURNED_OWNER);
        let back = reg.by_token_id(&burned.token_id).unwrap();
        assert_eq!((back.key_type, back.owner), (key_type, BURNED_OWNER));
        assert_eq!(reg.permissions(&burned.token_id).unwrap().len(), 1);
    }
}

pub fn mint_and_lookup(reg: &dyn Registry, root: &AffinePoint, keys: &Keys) {
    let owner = signer_address(&keys.owner);
    let before = token_ids(&reg.owned_by(owner).unwrap());
    let a = reg.mint(&keys.owner, root).unwrap();
    let b = reg.mint(&keys.owner, root).unwrap();
    assert_ne!(a.key_id, b.key_id, "key ids are unique");
    for rec in [&a, &b] {
        rec.check_derivation(root).unwrap();
        assert_eq!(rec.owner, owner);
        assert_eq!(rec.token_id, derive::token_id(&rec.public_key));
        assert_eq!(
            rec.eth_address(),
            derive::eth_address(&rec.public_key),
            "the PKP's address is its key's Ethereum address"
        );
        assert_ne!(
            rec.eth_address()[..],
            rec.token_id[12..],
            "the token id hashes the 65-byte key, the address the 64 bytes"
        );
        assert_eq!(&reg.by_public_key(&rec.public_key).unwrap(), rec);
        assert_eq!(&reg.by_token_id(&rec.token_id).unwrap(), rec);
        assert!(reg.permissions(&rec.token_id).unwrap().is_empty());
    }
    let after = token_ids(&reg.owned_by(owner).unwrap());
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
    assert_eq!(
        reg.permissions(&a.token_id).unwrap(),
        vec![action(CID_A, &[1]), action(&cid_b(), &[2])]
    );
    // Not burned, with actions: the owner keeps it.
    let kept = reg
        .mint_with_actions(&keys.owner, root, &[CID_A], false)
        .unwrap();
    kept.check_derivation(root).unwrap();
    assert_eq!(kept.owner, signer_address(&keys.owner));
    assert_eq!(reg.by_token_id(&kept.token_id).unwrap(), kept);
    assert_eq!(reg.permitted_actions(&kept.token_id).unwrap(), vec![CID_A]);
    assert_eq!(
        reg.permissions(&kept.token_id).unwrap(),
        vec![action(CID_A, &[SCOPE_SIGN_ANYTHING])]
    );
}

/// Every mutation signed by a key that is not the owner's is
/// [`RegistryError::NotOwner`] naming the real owner, and changes nothing.
pub fn non_owner_mutation_is_refused(reg: &dyn Registry, root: &AffinePoint, keys: &Keys) {
    let owner = signer_address(&keys.owner);
    let a = reg
        .mint_with(&keys.owner, root, &[action(CID_A, &[1])], false)
        .unwrap();
    let t = &a.token_id;
    let e = reg
        .add_permitted_action(&keys.other, t, &cid_b(), SCOPE_SIGN_ANYTHING)
        .unwrap_err();
    assert!(e.to_string().contains("not by the signer"), "{e}");
    assert_not_owner(Err::<(), _>(e), t, owner, &keys.other);
    assert_not_owner(
        reg.grant(&keys.other, t, &address(random_bytes(), &[1])),
        t,
        owner,
        &keys.other,
    );
    assert_not_owner(
        reg.revoke(&keys.other, t, AUTH_METHOD_TYPE_ACTION, &multihash(CID_A)),
        t,
        owner,
        &keys.other,
    );
    assert_not_owner(
        reg.transfer(&keys.other, t, signer_address(&keys.other)),
        t,
        owner,
        &keys.other,
    );
    assert_not_owner(reg.burn(&keys.other, t), t, owner, &keys.other);
    assert!(!reg.is_permitted_action(t, &cid_b()).unwrap());
    assert_eq!(reg.permissions(t).unwrap(), vec![action(CID_A, &[1])]);
    assert_eq!(reg.by_token_id(t).unwrap(), a);
}

/// A token id nobody minted: every mutation is
/// [`RegistryError::UnknownPkp`], every read answers "no" or empty.
pub fn unknown_pkp_is_a_clear_error(reg: &dyn Registry, keys: &Keys) {
    let e = reg.by_public_key(&random_root()).unwrap_err();
    assert!(matches!(e, RegistryError::UnknownPkp(_)), "{e}");
    assert!(e.to_string().starts_with("unknown PKP 0x04"), "{e}");
    let unknown: [u8; 32] = random_bytes();
    let t = &unknown;
    let e = reg.by_token_id(t).unwrap_err();
    assert!(e.to_string().contains(&hex::encode(t)), "{e}");
    assert_unknown("by_token_id", Err::<(), _>(e), t);
    let x: [u8; 20] = random_bytes();
    for key in [&keys.owner, &keys.other] {
        assert_unknown(
            "add_permitted_action",
            reg.add_permitted_action(key, t, CID_A, 1),
            t,
        );
        assert_unknown("grant", reg.grant(key, t, &address(x, &[1])), t);
        assert_unknown(
            "revoke",
            reg.revoke(key, t, AUTH_METHOD_TYPE_ADDRESS, &x),
            t,
        );
        assert_unknown(
            "transfer",
            reg.transfer(key, t, signer_address(&keys.other)),
            t,
        );
        assert_unknown("burn", reg.burn(key, t), t);
    }
    assert!(!reg.is_permitted_action(t, CID_A).unwrap());
    assert!(!reg.is_permitted_address(t, x).unwrap());
    assert!(!reg
        .is_permitted_address(t, signer_address(&keys.owner))
        .unwrap());
    assert!(!reg
        .is_permitted_auth_method(t, AUTH_METHOD_TYPE_ADDRESS, &x)
        .unwrap());
    assert_eq!(
        reg.permission(t, AUTH_METHOD_TYPE_ADDRESS, &x).unwrap(),
        None
    );
    assert!(reg.permissions(t).unwrap().is_empty());
    assert!(reg.permitted_actions(t).unwrap().is_empty());
    assert!(reg.permitted_addresses(t).unwrap().is_empty());
    assert!(reg.permitted_auth_methods(t).unwrap().is_empty());
    assert_eq!(
        reg.auth_method_scopes(t, AUTH_METHOD_TYPE_ADDRESS, &x, 4)
            .unwrap(),
        vec![false; 4]
    );
    assert!(reg.by_token_id(t).is_err());
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
    let before = token_ids(&reg.owned_by(owner).unwrap());
    let burned_before = token_ids(&reg.owned_by(BURNED_OWNER).unwrap());
    for burn in [true, false] {
        assert!(matches!(
            reg.mint_with_actions(&keys.owner, root, &[CID_A, "bafynotv0"], burn),
            Err(RegistryError::InvalidCid(_))
        ));
    }
    assert_eq!(token_ids(&reg.owned_by(owner).unwrap()), before);
    assert_eq!(
        token_ids(&reg.owned_by(BURNED_OWNER).unwrap()),
        burned_before
    );
    assert!(reg.permissions(&a.token_id).unwrap().is_empty());
}

/// Every mutation of the burned PKP `token_id`, signed by its former owner
/// or anyone else, is [`RegistryError::Burned`] and changes nothing.
#[track_caller]
fn assert_frozen(reg: &dyn Registry, token_id: &[u8; 32], keys: &Keys) {
    let t = token_id;
    let rec = reg.by_token_id(t).unwrap();
    assert_eq!(rec.owner, BURNED_OWNER);
    let before = reg.permissions(t).unwrap();
    let x: [u8; 20] = random_bytes();
    for key in [&keys.owner, &keys.other] {
        assert_burned("grant", reg.grant(key, t, &action(&cid_b(), &[1])), t);
        assert_burned("grant again", reg.grant(key, t, &action(CID_A, &[2])), t);
        assert_burned("grant address", reg.grant(key, t, &address(x, &[1])), t);
        assert_burned(
            "revoke",
            reg.revoke(key, t, AUTH_METHOD_TYPE_ACTION, &multihash(CID_A)),
            t,
        );
        assert_burned(
            "revoke unpermitted",
            reg.revoke(key, t, AUTH_METHOD_TYPE_ADDRESS, &x),
            t,
        );
        assert_burned(
            "transfer",
            reg.transfer(key, t, signer_address(&keys.other)),
            t,
        );
        assert_burned("burn", reg.burn(key, t), t);
        for (cid, scope) in [(cid_b(), 1), (CID_A.to_string(), 2)] {
            assert_burned(
                "add_permitted_action",
                reg.add_permitted_action(key, t, &cid, scope),
                t,
            );
        }
    }
    assert_eq!(reg.permissions(t).unwrap(), before);
    assert_eq!(reg.by_token_id(t).unwrap(), rec);
    assert!(!reg
        .is_permitted_address(t, signer_address(&keys.owner))
        .unwrap());
    assert!(token_ids(&reg.owned_by(BURNED_OWNER).unwrap()).contains(t));
    assert!(!token_ids(&reg.owned_by(signer_address(&keys.owner)).unwrap()).contains(t));
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
        assert_frozen(reg, &rec.token_id, keys);
        assert_eq!(reg.permitted_actions(&rec.token_id).unwrap(), actions);
    }
}

/// Addresses: the owner is implicitly permitted, granted addresses carry
/// scopes, granting again adds scopes, revoking removes the address with
/// all its scopes.
pub fn address_permissions_and_scopes(reg: &dyn Registry, root: &AffinePoint, keys: &Keys) {
    let owner = signer_address(&keys.owner);
    let a = reg.mint(&keys.owner, root).unwrap();
    let t = &a.token_id;
    let x: [u8; 20] = random_bytes();
    let y: [u8; 20] = random_bytes();
    let z: [u8; 20] = random_bytes();
    assert!(reg.is_permitted_address(t, owner).unwrap());
    assert!(!reg.is_permitted_address(t, x).unwrap());
    assert_eq!(reg.permitted_addresses(t).unwrap(), vec![owner]);
    assert_eq!(
        reg.permission(t, AUTH_METHOD_TYPE_ADDRESS, &x).unwrap(),
        None
    );

    reg.grant(&keys.owner, t, &address(x, &[1, 2])).unwrap();
    assert_eq!(
        reg.permission(t, AUTH_METHOD_TYPE_ADDRESS, &x).unwrap(),
        scopes(&[1, 2])
    );
    assert!(reg.is_permitted_address(t, x).unwrap());
    assert!(reg
        .is_permitted_auth_method(t, AUTH_METHOD_TYPE_ADDRESS, &x)
        .unwrap());
    assert_eq!(reg.permitted_addresses(t).unwrap(), vec![owner, x]);
    assert_eq!(reg.permissions(t).unwrap(), vec![address(x, &[1, 2])]);

    // Granting again adds scopes, never removes one.
    reg.grant(&keys.owner, t, &address(x, &[0])).unwrap();
    assert_eq!(
        reg.permission(t, AUTH_METHOD_TYPE_ADDRESS, &x).unwrap(),
        scopes(&[0, 1, 2])
    );
    assert_eq!(reg.permissions(t).unwrap(), vec![address(x, &[0, 1, 2])]);

    // Revoking removes the address and all its scopes.
    reg.revoke(&keys.owner, t, AUTH_METHOD_TYPE_ADDRESS, &x)
        .unwrap();
    assert_eq!(
        reg.permission(t, AUTH_METHOD_TYPE_ADDRESS, &x).unwrap(),
        None
    );
    assert!(!reg.is_permitted_address(t, x).unwrap());
    assert_eq!(reg.permitted_addresses(t).unwrap(), vec![owner]);
    assert!(reg.permissions(t).unwrap().is_empty());
    assert_eq!(
        reg.auth_method_scopes(t, AUTH_METHOD_TYPE_ADDRESS, &x, 4)
            .unwrap(),
        vec![false; 4]
    );
    reg.grant(&keys.owner, t, &address(x, &[SCOPE_PERSONAL_SIGN]))
        .unwrap();
    assert_eq!(
        reg.permission(t, AUTH_METHOD_TYPE_ADDRESS, &x).unwrap(),
        scopes(&[SCOPE_PERSONAL_SIGN])
    );

    // Revoking what is not permitted is a no-op.
    reg.revoke(&keys.owner, t, AUTH_METHOD_TYPE_ADDRESS, &y)
        .unwrap();
    reg.revoke(&keys.owner, t, AUTH_METHOD_TYPE_ACTION, &multihash(CID_A))
        .unwrap();
    assert_eq!(reg.permissions(t).unwrap(), vec![address(x, &[2])]);

    // The owner permitted explicitly is listed once; an address may be
    // permitted with no scope at all.
    reg.grant(&keys.owner, t, &address(owner, &[1])).unwrap();
    reg.grant(&keys.owner, t, &address(z, &[])).unwrap();
    assert_eq!(reg.permitted_addresses(t).unwrap(), vec![owner, x, z]);
    assert_eq!(
        reg.permission(t, AUTH_METHOD_TYPE_ADDRESS, &z).unwrap(),
        scopes(&[])
    );
    assert!(reg.is_permitted_address(t, z).unwrap());
    assert_eq!(
        reg.permissions(t).unwrap(),
        vec![address(x, &[2]), address(owner, &[1]), address(z, &[])]
    );
}

/// Auth methods of any type: listed with actions and addresses in grant
/// order, with their user public keys and scopes.
pub fn custom_auth_methods(reg: &dyn Registry, root: &AffinePoint, keys: &Keys) {
    let owner = signer_address(&keys.owner);
    let a = reg.mint(&keys.owner, root).unwrap();
    let t = &a.token_id;
    let x: [u8; 20] = random_bytes();
    let id: [u8; 32] = random_bytes();
    let pubkey: [u8; 33] = random_bytes();
    let long_id: [u8; 100] = random_bytes();
    let grants = [
        action(CID_A, &[1]),
        address(x, &[2]),
        custom(6, &id, &pubkey, &[1, 3]),
        custom(7, &long_id, &[], &[]),
    ];
    for g in &grants {
        reg.grant(&keys.owner, t, g).unwrap();
    }
    assert_eq!(reg.permissions(t).unwrap(), grants.to_vec());
    assert_eq!(
        reg.permitted_auth_methods(t).unwrap(),
        grants.iter().map(|g| g.method.clone()).collect::<Vec<_>>()
    );
    assert_eq!(
        reg.permitted_auth_methods(t).unwrap()[2].user_pubkey,
        pubkey
    );
    assert_eq!(reg.permission(t, 6, &id).unwrap(), scopes(&[1, 3]));
    assert_eq!(reg.permission(t, 7, &long_id).unwrap(), scopes(&[]));
    assert_eq!(
        reg.auth_method_scopes(t, 6, &id, 4).unwrap(),
        vec![false, true, false, true]
    );
    assert_eq!(
        reg.auth_method_scopes(t, 6, &id, 2).unwrap(),
        vec![false, true]
    );
    assert!(reg.is_permitted_auth_method(t, 6, &id).unwrap());
    // Another id, or the same id under another type, is another method.
    assert!(!reg
        .is_permitted_auth_method(t, 6, &random_bytes::<32>())
        .unwrap());
    assert!(!reg.is_permitted_auth_method(t, 8, &id).unwrap());
    assert_eq!(reg.permission(t, 8, &id).unwrap(), None);
    assert_eq!(reg.permitted_actions(t).unwrap(), vec![CID_A.to_string()]);
    assert_eq!(reg.permitted_addresses(t).unwrap(), vec![owner, x]);
    // Granting again adds scopes to the custom method too.
    reg.grant(&keys.owner, t, &custom(6, &id, &pubkey, &[0]))
        .unwrap();
    assert_eq!(reg.permission(t, 6, &id).unwrap(), scopes(&[0, 1, 3]));
    assert_eq!(reg.permissions(t).unwrap().len(), grants.len());
}

/// Malformed input is refused before anything else is checked (also for a
/// signer who is not the owner, and for an unknown PKP), and changes
/// nothing.
pub fn invalid_input_is_refused_and_changes_nothing(
    reg: &dyn Registry,
    root: &AffinePoint,
    keys: &Keys,
) {
    let owner = signer_address(&keys.owner);
    let a = reg
        .mint_with(&keys.owner, root, &[action(CID_A, &[1])], false)
        .unwrap();
    let unknown: [u8; 32] = random_bytes();
    let rec = reg.by_token_id(&a.token_id).unwrap();
    let perms = reg.permissions(&a.token_id).unwrap();
    let x: [u8; 20] = random_bytes();
    let not_a_multihash = vec![0u8; 34];
    let bad_grants = [
        ("type 0", custom(0, &x, &[], &[1]), Bad::Invalid),
        (
            "19-byte address",
            custom(AUTH_METHOD_TYPE_ADDRESS, &x[..19], &[], &[1]),
            Bad::Invalid,
        ),
        (
            "21-byte address",
            custom(AUTH_METHOD_TYPE_ADDRESS, &[1u8; 21], &[], &[1]),
            Bad::Invalid,
        ),
        (
            "action id not a multihash",
            custom(AUTH_METHOD_TYPE_ACTION, &not_a_multihash, &[], &[1]),
            Bad::Cid,
        ),
        (
            "scope MAX_SCOPE_ID",
            address(x, &[1, MAX_SCOPE_ID]),
            Bad::Invalid,
        ),
        (
            "scope u64::MAX",
            custom(6, &x, &[], &[u64::MAX]),
            Bad::Invalid,
        ),
    ];
    let bad_ids: [(&str, u64, &[u8], Bad); 3] = [
        ("type 0", 0, &x, Bad::Invalid),
        (
            "19-byte address",
            AUTH_METHOD_TYPE_ADDRESS,
            &x[..19],
            Bad::Invalid,
        ),
        (
            "action id not a multihash",
            AUTH_METHOD_TYPE_ACTION,
            &not_a_multihash,
            Bad::Cid,
        ),
    ];
    for t in [&a.token_id, &unknown] {
        for key in [&keys.owner, &keys.other] {
            for (what, g, kind) in &bad_grants {
                assert_bad(&format!("grant {what}"), reg.grant(key, t, g), *kind);
            }
            for (what, ty, id, kind) in &bad_ids {
                assert_bad(
                    &format!("revoke {what}"),
                    reg.revoke(key, t, *ty, id),
                    *kind,
                );
            }
            assert_bad(
                "add_permitted_action scope MAX_SCOPE_ID",
                reg.add_permitted_action(key, t, &cid_b(), MAX_SCOPE_ID),
                Bad::Invalid,
            );
            assert_bad(
                "transfer to the zero address",
                reg.transfer(key, t, BURNED_OWNER),
                Bad::Invalid,
            );
        }
    }
    assert_eq!(reg.by_token_id(&a.token_id).unwrap(), rec);
    assert_eq!(reg.permissions(&a.token_id).unwrap(), perms);
    assert!(reg.by_token_id(&unknown).is_err());

    // mint_with with one bad grant among good ones mints nothing.
    let before = token_ids(&reg.owned_by(owner).unwrap());
    let burned_before = token_ids(&reg.owned_by(BURNED_OWNER).unwrap());
    for (what, g, kind) in &bad_grants {
        for burn in [false, true] {
            let grants = [action(CID_A, &[1]), address(x, &[2]), g.clone()];
            assert_bad(
                &format!("mint_with {what} burn={burn}"),
                reg.mint_with(&keys.owner, root, &grants, burn),
                *kind,
            );
        }
    }
    assert_eq!(token_ids(&reg.owned_by(owner).unwrap()), before);
    assert_eq!(
        token_ids(&reg.owned_by(BURNED_OWNER).unwrap()),
        burned_before
    );
}

/// Transfer: the new owner holds the PKP and its permissions, the old one
/// can no longer change it.
pub fn transfer_moves_ownership(reg: &dyn Registry, root: &AffinePoint, keys: &Keys) {
    let owner = signer_address(&keys.owner);
    let other = signer_address(&keys.other);
    let a = reg
        .mint_with(&keys.owner, root, &[action(CID_A, &[1])], false)
        .unwrap();
    let t = &a.token_id;
    assert_not_owner(reg.transfer(&keys.other, t, other), t, owner, &keys.other);
    assert_eq!(reg.by_token_id(t).unwrap().owner, owner);

    reg.transfer(&keys.owner, t, other).unwrap();
    let moved = reg.by_token_id(t).unwrap();
    assert_eq!(moved.owner, other);
    assert_eq!(moved.public_key, a.public_key);
    assert_eq!(moved.key_id, a.key_id);
    assert!(!token_ids(&reg.owned_by(owner).unwrap()).contains(t));
    assert!(token_ids(&reg.owned_by(other).unwrap()).contains(t));
    assert!(!reg.is_permitted_address(t, owner).unwrap());
    assert!(reg.is_permitted_address(t, other).unwrap());
    assert_eq!(reg.permitted_addresses(t).unwrap(), vec![other]);
    // The permissions go with the PKP.
    assert_eq!(reg.permissions(t).unwrap(), vec![action(CID_A, &[1])]);

    // The old owner is refused, the new one may change it.
    let x: [u8; 20] = random_bytes();
    assert_not_owner(
        reg.grant(&keys.owner, t, &address(x, &[1])),
        t,
        other,
        &keys.owner,
    );
    assert_not_owner(reg.transfer(&keys.owner, t, owner), t, other, &keys.owner);
    assert_not_owner(reg.burn(&keys.owner, t), t, other, &keys.owner);
    reg.grant(&keys.other, t, &address(x, &[1])).unwrap();
    assert_eq!(
        reg.permissions(t).unwrap(),
        vec![action(CID_A, &[1]), address(x, &[1])]
    );
    assert_eq!(reg.permitted_addresses(t).unwrap(), vec![other, x]);

    // And give it back.
    reg.transfer(&keys.other, t, owner).unwrap();
    assert_eq!(reg.by_token_id(t).unwrap().owner, owner);
    assert!(!token_ids(&reg.owned_by(other).unwrap()).contains(t));
    assert!(reg.is_permitted_address(t, owner).unwrap());
    assert!(!reg.is_permitted_address(t, other).unwrap());
}

/// Burn: only the owner may; afterwards the PKP has no owner and nothing
/// about it can change, however it was burned.
pub fn burn_freezes_the_pkp(reg: &dyn Registry, root: &AffinePoint, keys: &Keys) {
    let owner = signer_address(&keys.owner);
    let x: [u8; 20] = random_bytes();
    let grants = [action(CID_A, &[1]), address(x, &[2])];
    let a = reg.mint_with(&keys.owner, root, &grants, false).unwrap();
    let t = &a.token_id;
    assert_not_owner(reg.burn(&keys.other, t), t, owner, &keys.other);
    assert_eq!(reg.by_token_id(t).unwrap().owner, owner);

    reg.burn(&keys.owner, t).unwrap();
    let burned = reg.by_token_id(t).unwrap();
    assert_eq!(burned.owner, BURNED_OWNER);
    assert_eq!(
        PkpRecord {
            owner,
            ..burned.clone()
        },
        a
    );
    burned.check_derivation(root).unwrap();
    assert_eq!(reg.by_public_key(&a.public_key).unwrap(), burned);
    assert!(!reg.is_permitted_address(t, owner).unwrap());
    assert!(reg.is_permitted_address(t, x).unwrap());
    assert_eq!(reg.permitted_addresses(t).unwrap(), vec![x]);
    assert_eq!(reg.permissions(t).unwrap(), grants.to_vec());
    assert!(reg.is_permitted_action(t, CID_A).unwrap());
    assert_frozen(reg, t, keys);

    // Burned at mint: with the one action of scope 1, with several grants,
    // and with none.
    for grants in [
        vec![action(CID_A, &[1])],
        vec![action(CID_A, &[1]), address(x, &[1, 2])],
        vec![],
    ] {
        let rec = reg.mint_with(&keys.owner, root, &grants, true).unwrap();
        assert_eq!(rec.owner, BURNED_OWNER);
        assert_eq!(reg.permissions(&rec.token_id).unwrap(), grants);
        assert_frozen(reg, &rec.token_id, keys);
    }
}

/// `mint_with` with actions, an address and a custom auth method, kept or
/// burned: everything granted with its scopes.
pub fn mint_with_mixed_grants(reg: &dyn Registry, root: &AffinePoint, keys: &Keys) {
    let owner = signer_address(&keys.owner);
    for burn in [false, true] {
        let x: [u8; 20] = random_bytes();
        let id: [u8; 32] = random_bytes();
        let pubkey: [u8; 65] = random_bytes();
        let grants = vec![
            action(CID_A, &[1]),
            action(&cid_b(), &[1, 2]),
            address(x, &[2]),
            custom(6, &id, &pubkey, &[0, 5]),
        ];
        let rec = reg.mint_with(&keys.owner, root, &grants, burn).unwrap();
        rec.check_derivation(root).unwrap();
        assert_eq!(rec.owner, if burn { BURNED_OWNER } else { owner });
        assert_eq!(reg.by_token_id(&rec.token_id).unwrap(), rec);
        let t = &rec.token_id;
        assert_eq!(reg.permissions(t).unwrap(), grants);
        assert_eq!(
            reg.permitted_actions(t).unwrap(),
            vec![CID_A.to_string(), cid_b()]
        );
        let mut addresses = if burn { vec![] } else { vec![owner] };
        addresses.push(x);
        assert_eq!(reg.permitted_addresses(t).unwrap(), addresses);
        assert_eq!(reg.permission(t, 6, &id).unwrap(), scopes(&[0, 5]));
        assert_eq!(
            reg.permission(t, AUTH_METHOD_TYPE_ACTION, &multihash(&cid_b()))
                .unwrap(),
            scopes(&[1, 2])
        );
        if burn {
            assert_frozen(reg, t, keys);
        }
    }
}

fn node_set(ports: &[u16], threshold: usize) -> RegisteredNodeSet {
    RegisteredNodeSet {
        nodes: ports
            .iter()
            .map(|p| RegisteredNode {
                url: format!("http://127.0.0.1:{p}"),
                identity_key: random_bytes(),
                encryption_key: random_bytes(),
                wallet_address: random_bytes(),
            })
            .collect(),
        threshold,
        ..Default::default()
    }
}

/// The node set on a freshly created registry: unset at first, set and
/// replaced by `admin`, invalid sets and other signers refused without
/// changing it. `admin` is the registry's administrator (on SQLite the
/// first key to set the node set, on the EVM the `Staking` owner); `other`
/// is not.
pub fn node_set_roundtrip(reg: &dyn Registry, admin: &SigningKey, other: &SigningKey) {
    assert_eq!(reg.node_set().unwrap(), None);
    let before = reg.epoch().unwrap();
    let four = node_set(&[7101, 7102, 7103, 7104], 3);
    reg.set_node_set(admin, &four).unwrap();
    assert_eq!(reg.node_set().unwrap(), Some(four.clone()));
    let first = reg.epoch().unwrap();
    assert_eq!(first, before + 1, "a node set starts a new epoch");

    let three = node_set(&[7201, 7202, 7203], 2);
    let mut invalid = Vec::new();
    for threshold in [0, 4] {
        invalid.push((
            format!("threshold {threshold} of 3"),
            RegisteredNodeSet {
                threshold,
                ..three.clone()
            },
        ));
    }
    let mut dup = three.clone();
    dup.nodes[2].identity_key = dup.nodes[0].identity_key;
    invalid.push(("duplicate identity key".into(), dup));
    let mut zero = three.clone();
    zero.nodes[1].identity_key = [0u8; 32];
    invalid.push(("zero identity key".into(), zero));
    let mut dup_url = three.clone();
    dup_url.nodes[1].url = dup_url.nodes[0].url.clone();
    invalid.push(("duplicate URL".into(), dup_url));
    for url in ["ftp://127.0.0.1:7201", "127.0.0.1:7201"] {
        let mut s = three.clone();
        s.nodes[0].url = url.into();
        invalid.push((format!("URL {url}"), s));
    }
    invalid.push((
        "empty".into(),
        RegisteredNodeSet {
            nodes: vec![],
            threshold: 0,
            ..Default::default()
        },
    ));
    // Validated before the administrator check.
    for key in [admin, other] {
        for (what, set) in &invalid {
            assert_bad(what, reg.set_node_set(key, set), Bad::Invalid);
        }
    }
    assert_eq!(reg.node_set().unwrap(), Some(four.clone()));

    match reg.set_node_set(other, &three) {
        Err(RegistryError::NotAdmin { admin: a, signer }) => {
            assert_eq!(a, checksum(signer_address(admin)));
            assert_eq!(signer, checksum(signer_address(other)));
        }
        r => panic!("expected NotAdmin, got {r:?}"),
    }
    assert_eq!(reg.node_set().unwrap(), Some(four));
    assert_eq!(
        reg.epoch().unwrap(),
        first,
        "refused node sets start no epoch"
    );

    reg.set_node_set(admin, &three).unwrap();
    assert_eq!(reg.node_set().unwrap(), Some(three));
    assert_eq!(reg.epoch().unwrap(), first + 1, "each change is an epoch");
}

/// Kick votes on a freshly created registry: five members whose node
/// wallets are `wallets` (on the EVM they pay for their votes), threshold
/// 4. Strangers, votes for oneself, targets out of the set and second
/// votes are refused; the fourth vote against member 2 kicks it: a new
/// epoch, member 2 listed in its place but out of the committee, threshold
/// 3 of the four left, and the votes on record.
pub fn kick_votes(reg: &dyn Registry, admin: &SigningKey, wallets: &[SigningKey]) {
    let set = RegisteredNodeSet {
        nodes: wallets
            .iter()
            .enumerate()
            .map(|(i, w)| RegisteredNode {
                url: format!("http://127.0.0.1:{}", 7300 + i),
                identity_key: random_bytes(),
                encryption_key: random_bytes(),
                wallet_address: signer_address(w),
            })
            .collect(),
        threshold: 4,
        ..Default::default()
    };
    reg.set_node_set(admin, &set).unwrap();
    let epoch = reg.epoch().unwrap();
    let refused = [
        ("a stranger", reg.vote_to_kick(&random_key(), 2)),
        ("a vote for oneself", reg.vote_to_kick(&wallets[2], 2)),
        ("a target out of the set", reg.vote_to_kick(&wallets[0], 9)),
    ];
    for (what, r) in refused {
        assert_bad(what, r, Bad::Invalid);
    }
    // the threshold, four votes, is needed
    for (voter, votes) in [(0, 1), (1, 2), (3, 3)] {
        let tally = reg.vote_to_kick(&wallets[voter], 2).unwrap();
        assert_eq!((tally.votes, tally.needed, tally.kicked), (votes, 4, false));
    }
    assert_bad(
        "a second vote",
        reg.vote_to_kick(&wallets[1], 2),
        Bad::Invalid,
    );
    assert_eq!(reg.kick_votes().unwrap().len(), 3);
    assert_eq!(reg.epoch().unwrap(), epoch, "votes alone start no epoch");
    let tally = reg.vote_to_kick(&wallets[4], 2).unwrap();
    assert!(tally.kicked);
    // a new epoch: member 2 keeps its place, out of the committee of four,
    // whose threshold is more than two thirds of four
    let after = reg.node_set().unwrap().unwrap();
    assert_eq!(reg.epoch().unwrap(), epoch + 1);
    assert_eq!(after.nodes, set.nodes);
    assert_eq!(after.committee(), vec![0, 1, 3, 4]);
    assert_eq!(after.threshold, 3);
    // the votes stay on record, in the epoch they were cast in
    let votes: Vec<(u64, u32, u32)> = reg
        .kick_votes()
        .unwrap()
        .into_iter()
        .map(|v| (v.epoch, v.voter, v.target))
        .collect();
    assert_eq!(votes, [0, 1, 3, 4].map(|voter| (epoch, voter, 2)).to_vec());
    // the kicked member votes no more, and is not voted on again
    assert_bad(
        "a kicked voter",
        reg.vote_to_kick(&wallets[2], 0),
        Bad::Invalid,
    );
    assert_bad(
        "a kicked target",
        reg.vote_to_kick(&wallets[0], 2),
        Bad::Invalid,
    );
    // the administrator may set a committee with a hole directly
    let mut hole = set.clone();
    hole.kicked.insert(1);
    hole.threshold = 3;
    reg.set_node_set(admin, &hole).unwrap();
    assert_eq!(reg.node_set().unwrap(), Some(hole));
}
