//! Party indices (0-based, as in `candela-crypto`) and FROST identifiers
//! (the nonzero scalar `index + 1`).
use frost_core::{Ciphersuite, Identifier};

use crate::{FrostError, PartyIndex};

/// The FROST identifier of a party: `index + 1`.
pub fn identifier<C: Ciphersuite>(party: PartyIndex) -> Result<Identifier<C>, FrostError> {
    let n = u16::try_from(party)
        .ok()
        .and_then(|p| p.checked_add(1))
        .ok_or_else(|| FrostError::BadParameters(format!("party index {party} too large")))?;
    Identifier::try_from(n).map_err(|e| FrostError::Frost(e.to_string()))
}

/// The party of a FROST identifier among `parties`, if any.
pub fn party_of<C: Ciphersuite>(id: &Identifier<C>, parties: &[PartyIndex]) -> Option<PartyIndex> {
    parties
        .iter()
        .copied()
        .find(|p| identifier::<C>(*p).ok().as_ref() == Some(id))
}
