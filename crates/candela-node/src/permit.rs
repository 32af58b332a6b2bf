//! Whether a request may make a PKP sign: the registry's permissions read at
//! the moment of the request, cached for the rest of that request.
//!
//! The rules (Lit's, see `PKPPermissions`):
//! - from inside an action, the action's CID must be permitted on the PKP
//!   (any scope), or the authenticated caller must be allowed as below
//!   *and* the caller's credential (session or plain authSig) must grant
//!   `pkp-signing` on that PKP: permission to run an action does not lend
//!   the action every PKP the caller's wallet may sign with (Lit's
//!   abilities: signing needs a signing grant);
//! - outside an action, the authenticated caller must be the PKP itself (a
//!   PKP session), the owner of a live
//!   PKP or a permitted address with scope 1 ("sign anything"): a raw digest
//!   cannot be shown to be an EIP-191 message, so scope 2 ("personal sign")
//!   alone does not let a caller sign one; inside an action,
//!   `ethPersonalSignMessageEcdsa` (the sandbox hashes the message itself)
//!   needs scope 1 or 2, as in Lit.
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use candela_crypto::derive;
use candela_registry::{
    AuthMethod, PkpRecord, Registry, RegistryError, AUTH_METHOD_TYPE_ACTION,
    AUTH_METHOD_TYPE_ADDRESS, BURNED_OWNER, SCOPE_PERSONAL_SIGN, SCOPE_SIGN_ANYTHING,
};

/// Who asks for a signature share.
#[derive(Debug, Clone)]
pub struct Requester {
    /// The address the request's auth signature proves.
    pub caller: [u8; 20],
    /// The CID of the action making the request, if any.
    pub action_cid: Option<String>,
    /// Whether the request's credential grants `pkp-signing` on the PKP
    /// asked for. Outside an action the request was authenticated for
    /// exactly that; inside one, only the action's execution was, and the
    /// caller's wallet counts only when this holds.
    pub may_sign_as_caller: bool,
    /// The digest is the EIP-191 hash of a message the sandbox hashed
    /// itself (`ethPersonalSignMessageEcdsa`): scope 2 ("personal sign")
    /// is enough for it, as in Lit; any other digest needs scope 1.
    pub personal_message: bool,
}

/// Why a request may sign (for logs and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    /// The caller owns the (live) PKP.
    Owner,
    /// The caller is the PKP itself (a session the network authorised for
    /// it through one of its auth methods).
    Itself,
    /// The caller is a permitted address with scope 1.
    PermittedAddress,
    /// The action is permitted on the PKP.
    PermittedAction,
}

/// Why a request may not sign.
#[derive(Debug, thiserror::Error)]
pub enum PermitError {
    /// The registry answered that it may not.
    #[error("{0}")]
    Denied(String),
    /// The registry could not be read.
    #[error("registry: {0}")]
    Registry(#[from] RegistryError),
}

type Key = ([u8; 32], u64, Vec<u8>);

/// Permission reads of one request: each (PKP, auth method) is read from the
/// registry once, however many signatures the request asks for.
pub struct PermissionCache {
    registry: Arc<dyn Registry>,
    answers: Mutex<HashMap<Key, Option<BTreeSet<u64>>>>,
}

impl PermissionCache {
    /// An empty cache over `registry`.
    pub fn new(registry: Arc<dyn Registry>) -> PermissionCache {
        PermissionCache {
            registry,
            answers: Mutex::new(HashMap::new()),
        }
    }

    /// The scopes of one auth method on the PKP (`None`: not permitted).
    pub fn scopes(
        &self,
        token_id: &[u8; 32],
        auth_method_type: u64,
        id: &[u8],
    ) -> Result<Option<BTreeSet<u64>>, RegistryError> {
        let key = (*token_id, auth_method_type, id.to_vec());
        if let Some(hit) = self.lock().get(&key) {
            return Ok(hit.clone());
        }
        let answer = self.registry.permission(token_id, auth_method_type, id)?;
        self.lock().insert(key, answer.clone());
        Ok(answer)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Option<BTreeSet<u64>>>> {
        self.answers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Decide whether `who` may make `pkp` sign.
    pub fn authorise(&self, pkp: &PkpRecord, who: &Requester) -> Result<Allowed, PermitError> {
        let Some(cid) = &who.action_cid else {
            return self.authorise_wallet(pkp, &who.caller, None, who.personal_message);
        };
        let action = AuthMethod::action(cid)?;
        if self
            .scopes(&pkp.token_id, AUTH_METHOD_TYPE_ACTION, &action.id)?
            .is_some()
        {
            return Ok(Allowed::PermittedAction);
        }
        if who.may_sign_as_caller {
            return self.authorise_wallet(pkp, &who.caller, Some(cid), who.personal_message);
        }
        let pkp_name = derive::checksum_address(&pkp.eth_address());
        let caller = derive::checksum_address(&who.caller);
        Err(PermitError::Denied(
            match self.authorise_wallet(pkp, &who.caller, Some(cid), who.personal_message) {
                Ok(_) => format!(
                    "action {cid} is not permitted to sign with PKP {pkp_name}, and the caller's credential grants no pkp-signing on lit-pkp://{token}: {caller} may sign with this PKP, but a session or authSig that lets it run actions does not let an action sign with its PKPs; ask for pkp-signing on this PKP (or lit-pkp://*) too",
                    token = hex::encode(pkp.token_id)
                ),
                Err(PermitError::Denied(why)) => why,
                Err(e) => return Err(e),
            },
        ))
    }

    /// Whether `caller`'s wallet may make `pkp` sign: it owns the live PKP,
    /// is the PKP itself, or is a permitted address with scope 1. `cid`
    /// names the action asking, for the refusal.
    fn authorise_wallet(
        &self,
        pkp: &PkpRecord,
        caller: &[u8; 20],
        cid: Option<&str>,
        personal_message: bool,
    ) -> Result<Allowed, PermitError> {
        if pkp.owner == *caller && pkp.owner != BURNED_OWNER {
            return Ok(Allowed::Owner);
        }
        if pkp.eth_address() == *caller {
            return Ok(Allowed::Itself);
        }
        let needed = if personal_message {
            SCOPE_PERSONAL_SIGN
        } else {
            SCOPE_SIGN_ANYTHING
        };
        match self.scopes(&pkp.token_id, AUTH_METHOD_TYPE_ADDRESS, caller)? {
            Some(s)
                if s.contains(&SCOPE_SIGN_ANYTHING)
                    || (personal_message && s.contains(&SCOPE_PERSONAL_SIGN)) =>
            {
                return Ok(Allowed::PermittedAddress)
            }
            Some(_) => {
                return Err(PermitError::Denied(format!(
                    "None of the AuthMethods, AuthSig or Lit Actions meet the required scope [{needed}]: \
                     {} is permitted on PKP {} but without scope 1 (sign anything){}",
                    derive::checksum_address(caller),
                    derive::checksum_address(&pkp.eth_address()),
                    if personal_message {
                        " or scope 2 (personal sign)"
                    } else {
                        ""
                    }
                )))
            }
            None => {}
        }
        let pkp_name = derive::checksum_address(&pkp.eth_address());
        let caller = derive::checksum_address(caller);
        Err(PermitError::Denied(match cid {
            Some(cid) => format!(
                "action {cid} is not permitted to sign with PKP {pkp_name}, and {caller} neither owns it nor is a permitted address"
            ),
            None => format!("{caller} neither owns PKP {pkp_name} nor is a permitted address"),
        }))
    }

    /// Decide whether any of `wallets` (the request's caller first, then the
    /// wallets its auth methods proved) may make `pkp` sign, outside an
    /// action. Refused with the first wallet's reason when none may.
    pub fn authorise_any(
        &self,
        pkp: &PkpRecord,
        wallets: impl IntoIterator<Item = [u8; 20]>,
    ) -> Result<Allowed, PermitError> {
        let mut first_refusal = None;
        for caller in wallets {
            let who = Requester {
                caller,
                action_cid: None,
                may_sign_as_caller: true,
                personal_message: false,
            };
            match self.authorise(pkp, &who) {
                Ok(allowed) => return Ok(allowed),
                Err(PermitError::Denied(why)) => {
                    first_refusal.get_or_insert(why);
                }
                Err(e) => return Err(e),
            }
        }
        Err(PermitError::Denied(
            first_refusal.unwrap_or_else(|| "no wallet asked to sign".to_string()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candela_crypto::{ProjectivePoint, Scalar};
    use candela_registry::{signer_address, Permission, SigningKey, SqliteRegistry};
    use k256::elliptic_curve::Field;
    use rand_core::OsRng;

    const CID: &str = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o";

    struct Fixture {
        _dir: tempfile::TempDir,
        reg: Arc<dyn Registry>,
        owner: SigningKey,
        pkp: PkpRecord,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let reg: Arc<dyn Registry> =
            Arc::new(SqliteRegistry::open(&dir.path().join("r.sqlite")).unwrap());
        let root = (ProjectivePoint::GENERATOR * Scalar::random(&mut OsRng)).to_affine();
        let owner = SigningKey::random(&mut OsRng);
        let pkp = reg.mint(&owner, &root).unwrap();
        Fixture {
            _dir: dir,
            reg,
            owner,
            pkp,
        }
    }

    fn stranger() -> [u8; 20] {
        signer_address(&SigningKey::random(&mut OsRng))
    }

    #[test]
    fn the_owner_may_sign_and_a_stranger_may_not() {
        let f = fixture();
        let cache = PermissionCache::new(f.reg.clone());
        let owner = Requester {
            caller: signer_address(&f.owner),
            action_cid: None,
            may_sign_as_caller: true,
            personal_message: false,
        };
        assert_eq!(cache.authorise(&f.pkp, &owner).unwrap(), Allowed::Owner);
        let other = Requester {
            caller: stranger(),
            action_cid: Some(CID.into()),
            may_sign_as_caller: true,
            personal_message: false,
        };
        let e = cache.authorise(&f.pkp, &other).unwrap_err();
        assert!(e.to_string().contains("is not permitted"), "{e}");
    }

    #[test]
    fn a_permitted_address_needs_scope_one_for_a_digest_and_scope_two_is_enough_for_a_personal_message(
    ) {
        let f = fixture();
        let (personal, anything) = (stranger(), stranger());
        f.reg
            .grant(
                &f.owner,
                &f.pkp.token_id,
                &Permission::new(AuthMethod::address(personal), [2]),
            )
            .unwrap();
        f.reg
            .grant(
                &f.owner,
                &f.pkp.token_id,
                &Permission::new(AuthMethod::address(anything), [1]),
            )
            .unwrap();
        let cache = PermissionCache::new(f.reg.clone());
        let ask = |caller| Requester {
            caller,
            action_cid: None,
            may_sign_as_caller: true,
            personal_message: false,
        };
        assert_eq!(
            cache.authorise(&f.pkp, &ask(anything)).unwrap(),
            Allowed::PermittedAddress
        );
        let e = cache.authorise(&f.pkp, &ask(personal)).unwrap_err();
        assert!(e.to_string().contains("without scope 1"), "{e}");
        assert!(
            e.to_string().contains(
                "None of the AuthMethods, AuthSig or Lit Actions meet the required scope [1]"
            ),
            "Lit's text: {e}"
        );
        // an EIP-191 message the sandbox hashed: scope 2 is enough, scope 1 too
        let personal_ask = |caller| Requester {
            caller,
            action_cid: None,
            may_sign_as_caller: true,
            personal_message: true,
        };
        assert_eq!(
            cache.authorise(&f.pkp, &personal_ask(personal)).unwrap(),
            Allowed::PermittedAddress
        );
        assert_eq!(
            cache.authorise(&f.pkp, &personal_ask(anything)).unwrap(),
            Allowed::PermittedAddress
        );
    }

    #[test]
    fn any_proved_wallet_that_may_sign_authorises_and_the_callers_refusal_is_named() {
        let f = fixture();
        let cache = PermissionCache::new(f.reg.clone());
        let (caller, owner) = (stranger(), signer_address(&f.owner));
        assert_eq!(
            cache.authorise_any(&f.pkp, [caller, owner]).unwrap(),
            Allowed::Owner
        );
        let e = cache
            .authorise_any(&f.pkp, [caller, stranger()])
            .unwrap_err();
        assert!(
            e.to_string().contains(&derive::checksum_address(&caller)),
            "the caller's refusal comes first: {e}"
        );
        assert!(matches!(
            cache.authorise_any(&f.pkp, []),
            Err(PermitError::Denied(_))
        ));
    }

    #[test]
    fn a_bound_action_may_sign_an_unbound_one_may_not() {
        let f = fixture();
        f.reg
            .add_permitted_action(&f.owner, &f.pkp.token_id, CID, 1)
            .unwrap();
        let cache = PermissionCache::new(f.reg.clone());
        let bound = Requester {
            caller: stranger(),
            action_cid: Some(CID.into()),
            may_sign_as_caller: true,
            personal_message: false,
        };
        assert_eq!(
            cache.authorise(&f.pkp, &bound).unwrap(),
            Allowed::PermittedAction
        );
        let unbound = Requester {
            caller: stranger(),
            action_cid: Some(candela_cid::cid_v0(b"another action")),
            may_sign_as_caller: true,
            personal_message: false,
        };
        assert!(matches!(
            cache.authorise(&f.pkp, &unbound),
            Err(PermitError::Denied(_))
        ));
    }

    #[test]
    fn answers_are_read_once_per_request_and_fresh_for_the_next() {
        let f = fixture();
        let cache = PermissionCache::new(f.reg.clone());
        let who = Requester {
            caller: stranger(),
            action_cid: Some(CID.into()),
            may_sign_as_caller: true,
            personal_message: false,
        };
        assert!(cache.authorise(&f.pkp, &who).is_err());
        // Granted after the first read: this request keeps its answer...
        f.reg
            .add_permitted_action(&f.owner, &f.pkp.token_id, CID, 1)
            .unwrap();
        assert!(cache.authorise(&f.pkp, &who).is_err());
        // ...and the next request reads the registry again.
        let next = PermissionCache::new(f.reg.clone());
        assert_eq!(
            next.authorise(&f.pkp, &who).unwrap(),
            Allowed::PermittedAction
        );
    }

    #[test]
    fn a_burned_pkp_has_no_owner_to_sign_for_it() {
        let f = fixture();
        f.reg.burn(&f.owner, &f.pkp.token_id).unwrap();
        let pkp = f.reg.by_token_id(&f.pkp.token_id).unwrap();
        let cache = PermissionCache::new(f.reg.clone());
        let old_owner = Requester {
            caller: signer_address(&f.owner),
            action_cid: None,
            may_sign_as_caller: true,
            personal_message: false,
        };
        assert!(matches!(
            cache.authorise(&pkp, &old_owner),
            Err(PermitError::Denied(_))
        ));
    }

    #[test]
    fn inside_an_action_the_callers_wallet_signs_only_with_a_pkp_signing_grant() {
        let f = fixture();
        let cache = PermissionCache::new(f.reg.clone());
        let owner = signer_address(&f.owner);
        let granted = Requester {
            caller: owner,
            action_cid: Some(CID.into()),
            may_sign_as_caller: true,
            personal_message: false,
        };
        assert_eq!(cache.authorise(&f.pkp, &granted).unwrap(), Allowed::Owner);
        let execute_only = Requester {
            may_sign_as_caller: false,
            ..granted
        };
        let e = cache.authorise(&f.pkp, &execute_only).unwrap_err();
        assert!(
            e.to_string().contains("grants no pkp-signing")
                && e.to_string().contains(&hex::encode(f.pkp.token_id)),
            "the refusal names the missing grant and the PKP: {e}"
        );
        // a stranger without the grant is refused for being a stranger
        let stranger = Requester {
            caller: stranger(),
            action_cid: Some(CID.into()),
            may_sign_as_caller: false,
            personal_message: false,
        };
        let e = cache.authorise(&f.pkp, &stranger).unwrap_err();
        assert!(e.to_string().contains("neither owns"), "{e}");
    }

    #[test]
    fn a_pkp_that_permits_the_action_signs_without_the_callers_grant() {
        let f = fixture();
        f.reg
            .add_permitted_action(&f.owner, &f.pkp.token_id, CID, 1)
            .unwrap();
        let cache = PermissionCache::new(f.reg.clone());
        let execute_only = Requester {
            caller: stranger(),
            action_cid: Some(CID.into()),
            may_sign_as_caller: false,
            personal_message: false,
        };
        assert_eq!(
            cache.authorise(&f.pkp, &execute_only).unwrap(),
            Allowed::PermittedAction
        );
    }
}
