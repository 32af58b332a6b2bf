//! The reshare protocol run in-process among many committees, on the three
//! curves Candela's root keys use.
use std::collections::BTreeMap;

use candela_reshare::{
    lagrange_at_zero, x_of, Committee, NodeIndex, OldShare, Outgoing, ReshareError, ReshareOutput,
    ReshareParams, ReshareSession, Step,
};
use ff::Field;
use group::{Group, GroupEncoding};
use rand_core::OsRng;

type K256 = k256::ProjectivePoint;
type BlsG1 = blsful::inner_types::G1Projective;
type Ed25519 = curve25519_dalek::edwards::SubgroupPoint;

/// A key shared among `members` with threshold `t` (test set-up only: the
/// network makes its keys by DKG).
struct Shared<G: Group> {
    secret: G::Scalar,
    shares: BTreeMap<NodeIndex, G::Scalar>,
    public_shares: BTreeMap<NodeIndex, G>,
    group_key: G,
}

fn share<G: Group>(members: &[NodeIndex], t: usize) -> Shared<G> {
    let coefficients: Vec<G::Scalar> = (0..t).map(|_| G::Scalar::random(OsRng)).collect();
    let at = |x: G::Scalar| {
        coefficients
            .iter()
            .rev()
            .fold(G::Scalar::ZERO, |acc, c| acc * x + c)
    };
    let shares: BTreeMap<_, _> = members.iter().map(|&m| (m, at(x_of(m)))).collect();
    Shared {
        secret: coefficients[0],
        public_shares: shares
            .iter()
            .map(|(&m, s)| (m, G::generator() * s))
            .collect(),
        shares,
        group_key: G::generator() * coefficients[0],
    }
}

/// Interpolate the secret from `shares` (test check only).
fn interpolate<G: Group>(shares: &BTreeMap<NodeIndex, G::Scalar>) -> G::Scalar {
    let set: Vec<NodeIndex> = shares.keys().copied().collect();
    shares
        .iter()
        .map(|(&m, s)| lagrange_at_zero::<G::Scalar>(&set, m).unwrap() * s)
        .fold(G::Scalar::ZERO, |a, b| a + b)
}

type Tamper<'a> = dyn FnMut(NodeIndex, NodeIndex, Vec<u8>) -> Vec<u8> + 'a;

/// Run a reshare among every participant until no session can move;
/// `tamper` may change any message in flight. Sessions still waiting at the
/// end (on a party that failed) are left out of the result: a node would
/// give up on them at its deadline.
fn run<G: Group + GroupEncoding>(
    params: &ReshareParams,
    old: &Shared<G>,
    public_shares: BTreeMap<NodeIndex, G>,
    tamper: &mut Tamper<'_>,
) -> BTreeMap<NodeIndex, Result<ReshareOutput<G>, ReshareError>> {
    let participants = params.participants();
    let mut sessions: BTreeMap<NodeIndex, ReshareSession<G>> = participants
        .iter()
        .map(|&p| {
            let old_share = params.dealers.contains(&p).then(|| OldShare {
                me: p,
                secret: old.shares[&p],
            });
            let s = ReshareSession::new(
                params.clone(),
                p,
                old.group_key,
                public_shares.clone(),
                old_share,
                OsRng,
            )
            .unwrap();
            (p, s)
        })
        .collect();
    let mut results = BTreeMap::new();
    loop {
        let mut progressed = false;
        let ids: Vec<NodeIndex> = sessions.keys().copied().collect();
        for id in ids {
            let step = sessions.get_mut(&id).unwrap().poke();
            match step {
                Ok(Step::Send(out)) => {
                    progressed = true;
                    let deliveries: Vec<(NodeIndex, Vec<u8>)> = match out {
                        Outgoing::Broadcast(b) => participants
                            .iter()
                            .filter(|&&p| p != id)
                            .map(|&p| (p, b.clone()))
                            .collect(),
                        Outgoing::Private(to, b) => vec![(to, b)],
                    };
                    for (to, b) in deliveries {
                        let b = tamper(id, to, b);
                        if let Some(s) = sessions.get_mut(&to) {
                            s.receive(id, &b);
                        }
                    }
                }
                Ok(Step::Wait) => {}
                Ok(Step::Done(out)) => {
                    progressed = true;
                    sessions.remove(&id);
                    results.insert(id, Ok(out));
                }
                Err(e) => {
                    progressed = true;
                    sessions.remove(&id);
                    results.insert(id, Err(e));
                }
            }
        }
        if !progressed {
            break;
        }
    }
    results
}

fn no_tamper(_: NodeIndex, _: NodeIndex, b: Vec<u8>) -> Vec<u8> {
    b
}

fn threshold_for(n: usize) -> usize {
    2 * n / 3 + 1
}

/// Reshare `old_members` → `new_members` and check everything a reshare
/// promises; returns the new shares.
fn reshare_and_check<G: Group + GroupEncoding>(
    old_members: &[NodeIndex],
    new_members: &[NodeIndex],
    old: &Shared<G>,
    epoch: u64,
) -> BTreeMap<NodeIndex, G::Scalar> {
    let t_old = threshold_for(old_members.len());
    let t_new = threshold_for(new_members.len());
    let dealers: Vec<NodeIndex> = old_members.iter().copied().take(t_old).collect();
    let params = ReshareParams::new(
        "test-root",
        epoch,
        Committee::new(old_members.to_vec(), t_old).unwrap(),
        Committee::new(new_members.to_vec(), t_new).unwrap(),
        dealers,
    )
    .unwrap();
    let results = run(&params, old, old.public_shares.clone(), &mut no_tamper);
    assert_eq!(
        results.len(),
        params.participants().len(),
        "every session finishes"
    );
    let mut digests = results.values().map(|r| r.as_ref().unwrap().digest);
    let first = digests.next().unwrap();
    assert!(
        digests.all(|d| d == first),
        "every participant ends on the same digest"
    );
    let mut new_shares = BTreeMap::new();
    for (&p, r) in &results {
        let out = r.as_ref().unwrap();
        match &out.new_share {
            Some(s) => {
                assert!(new_members.contains(&p));
                assert_eq!(s.public_key, old.group_key, "the key does not change");
                assert_eq!(s.threshold, t_new);
                assert_eq!(s.public_shares[&p], G::generator() * s.secret);
                new_shares.insert(p, s.secret);
            }
            None => assert!(!new_members.contains(&p), "a leaving dealer gets no share"),
        }
    }
    assert_eq!(new_shares.keys().copied().collect::<Vec<_>>(), new_members);
    // Any t' new shares give the old secret; t' − 1 do not.
    let first_t: BTreeMap<_, _> = new_shares
        .iter()
        .take(t_new)
        .map(|(&k, &v)| (k, v))
        .collect();
    let last_t: BTreeMap<_, _> = new_shares
        .iter()
        .rev()
        .take(t_new)
        .map(|(&k, &v)| (k, v))
        .collect();
    assert_eq!(interpolate::<G>(&first_t), old.secret);
    assert_eq!(interpolate::<G>(&last_t), old.secret);
    if t_new > 1 {
        let short: BTreeMap<_, _> = new_shares
            .iter()
            .take(t_new - 1)
            .map(|(&k, &v)| (k, v))
            .collect();
        assert_ne!(interpolate::<G>(&short), old.secret);
    }
    new_shares
}

fn committee_pairs() -> Vec<(Vec<NodeIndex>, Vec<NodeIndex>)> {
    vec![
        // same set (refresh)
        (vec![0, 1, 2, 3, 4], vec![0, 1, 2, 3, 4]),
        // one replaced
        (vec![0, 1, 2, 3, 4], vec![0, 1, 2, 3, 5]),
        // grow
        (vec![0, 1, 2], vec![0, 1, 2, 3, 4, 5, 6]),
        (
            vec![0, 1, 2, 3, 4, 5, 6],
            vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        ),
        // shrink
        (vec![0, 1, 2, 3, 4, 5, 6], vec![2, 4, 6]),
        (vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9], vec![1, 3, 5, 7, 9]),
        // disjoint, different sizes
        (vec![0, 1, 2, 3], vec![10, 11, 12, 13, 14, 15, 16]),
        (vec![0, 1, 2, 3, 4, 5, 6], vec![20, 21, 22, 23]),
        // a single-node network handing over to a real one
        (vec![0], vec![1, 2, 3]),
    ]
}

fn every_pair_keeps_the_key<G: Group + GroupEncoding>() {
    for (i, (old_members, new_members)) in committee_pairs().into_iter().enumerate() {
        let old = share::<G>(&old_members, threshold_for(old_members.len()));
        reshare_and_check(&old_members, &new_members, &old, i as u64);
    }
}

#[test]
fn every_pair_of_committees_keeps_the_secp256k1_key_and_hands_out_working_shares() {
    every_pair_keeps_the_key::<K256>();
}

#[test]
fn every_pair_of_committees_keeps_the_bls_key_and_hands_out_working_shares() {
    every_pair_keeps_the_key::<BlsG1>();
}

#[test]
fn every_pair_of_committees_keeps_the_ed25519_key_and_hands_out_working_shares() {
    every_pair_keeps_the_key::<Ed25519>();
}

#[test]
fn a_chain_of_epochs_keeps_the_key_through_every_change() {
    let epochs: Vec<Vec<NodeIndex>> = vec![
        vec![0, 1, 2, 3, 4, 5, 6],
        vec![0, 1, 2, 3, 4, 7, 8],
        vec![0, 1, 2, 3, 4, 7, 8],
        vec![1, 2, 3, 7, 8],
        vec![9, 10, 11, 12, 13, 14, 15, 16, 17, 18],
    ];
    let first = share::<K256>(&epochs[0], threshold_for(epochs[0].len()));
    let mut current = Shared {
        secret: first.secret,
        shares: first.shares.clone(),
        public_shares: first.public_shares.clone(),
        group_key: first.group_key,
    };
    for (epoch, pair) in epochs.windows(2).enumerate() {
        let new_shares = reshare_and_check(&pair[0], &pair[1], &current, epoch as u64 + 1);
        current = Shared {
            secret: current.secret,
            public_shares: new_shares
                .iter()
                .map(|(&m, s)| (m, K256::GENERATOR * s))
                .collect(),
            shares: new_shares,
            group_key: current.group_key,
        };
    }
}

#[test]
fn a_share_stolen_before_a_refresh_is_useless_with_shares_stolen_after_it() {
    let members = vec![0, 1, 2, 3, 4];
    let t = threshold_for(5);
    let old = share::<K256>(&members, t);
    let new = reshare_and_check(&members, &members, &old, 1);
    for (&m, s) in &new {
        assert_ne!(*s, old.shares[&m], "a refresh changes every share");
    }
    // The attacker holds node 0's old share and t − 1 new shares of others.
    let mut mixed: BTreeMap<NodeIndex, _> = new
        .iter()
        .skip(1)
        .take(t - 1)
        .map(|(&k, &v)| (k, v))
        .collect();
    mixed.insert(0, old.shares[&0]);
    assert_eq!(mixed.len(), t);
    assert_ne!(interpolate::<K256>(&mixed), old.secret);
}

#[test]
fn a_node_that_lost_its_share_gets_a_new_one_under_its_old_index_from_t_others() {
    let members = vec![0, 1, 2, 3, 4, 5, 6];
    let t = threshold_for(7);
    let old = share::<K256>(&members, t);
    // Node 3 lost its disk: it deals nothing and only receives.
    let dealers: Vec<NodeIndex> = members
        .iter()
        .copied()
        .filter(|&m| m != 3)
        .take(t)
        .collect();
    let params = ReshareParams::new(
        "test-root",
        9,
        Committee::new(members.clone(), t).unwrap(),
        Committee::new(members.clone(), t).unwrap(),
        dealers,
    )
    .unwrap();
    let results = run(&params, &old, old.public_shares.clone(), &mut no_tamper);
    let repaired = results[&3].as_ref().unwrap().new_share.as_ref().unwrap();
    assert_eq!(repaired.public_key, old.group_key);
    let shares: BTreeMap<_, _> = results
        .iter()
        .filter_map(|(&p, r)| {
            r.as_ref()
                .unwrap()
                .new_share
                .as_ref()
                .map(|s| (p, s.secret))
        })
        .filter(|(p, _)| [3, 4, 5, 6, 0].contains(p))
        .collect();
    assert_eq!(interpolate::<K256>(&shares), old.secret);
}

/// Offset of the first commitment in a dealing message: tag, context, count.
const FIRST_COMMITMENT: usize = 1 + 32 + 4;

#[test]
fn a_dealer_that_deals_a_different_secret_is_named_by_every_receiver() {
    let members = vec![0, 1, 2, 3, 4];
    let old = share::<K256>(&members, 4);
    let params = ReshareParams::new(
        "test-root",
        1,
        Committee::new(members.clone(), 4).unwrap(),
        Committee::new(members.clone(), 4).unwrap(),
        vec![0, 1, 2, 3, 4],
    )
    .unwrap();
    // Node 2 commits to another constant term (the generator: a secret of
    // one) instead of its weighted public share.
    let g = K256::GENERATOR.to_bytes();
    let mut tamper = |from: NodeIndex, _to: NodeIndex, mut b: Vec<u8>| {
        if from == 2 && b[0] == 1 {
            b[FIRST_COMMITMENT..FIRST_COMMITMENT + g.len()].copy_from_slice(&g);
        }
        b
    };
    let results = run(&params, &old, old.public_shares.clone(), &mut tamper);
    for p in [0, 1, 3, 4] {
        let e = results[&p].as_ref().unwrap_err();
        assert!(
            matches!(e, ReshareError::BadDealing { dealer: 2, .. }),
            "node {p}: {e}"
        );
        assert!(e.to_string().contains("constant term"), "{e}");
        assert_eq!(e.culprit(), Some(2));
    }
}

#[test]
fn a_dealer_whose_own_share_is_corrupt_stops_before_sending_anything() {
    let members = vec![0, 1, 2];
    let mut old = share::<K256>(&members, 2);
    let real = old.public_shares.clone();
    *old.shares.get_mut(&1).unwrap() += k256::Scalar::ONE;
    let params = ReshareParams::new(
        "test-root",
        1,
        Committee::new(members.clone(), 2).unwrap(),
        Committee::new(members.clone(), 2).unwrap(),
        vec![0, 1],
    )
    .unwrap();
    let results = run(&params, &old, real, &mut no_tamper);
    assert!(matches!(
        results[&1],
        Err(ReshareError::BadDealing { dealer: 1, .. })
    ));
    assert!(
        !results.contains_key(&0) && !results.contains_key(&2),
        "the others wait: nothing was sent"
    );
}

#[test]
fn without_public_shares_a_wrong_dealing_is_still_caught_by_the_sum() {
    let members = vec![0, 1, 2, 3];
    let old = share::<BlsG1>(&members, 3);
    let mut lying = Shared {
        secret: old.secret,
        shares: old.shares.clone(),
        public_shares: old.public_shares.clone(),
        group_key: old.group_key,
    };
    *lying.shares.get_mut(&1).unwrap() += blsful::inner_types::Scalar::ONE;
    let params = ReshareParams::new(
        "test-root",
        1,
        Committee::new(members.clone(), 3).unwrap(),
        Committee::new(vec![5, 6, 7, 8], 3).unwrap(),
        vec![0, 1, 2],
    )
    .unwrap();
    let results = run(&params, &lying, BTreeMap::new(), &mut no_tamper);
    assert!(results
        .values()
        .all(|r| matches!(r, Err(ReshareError::WrongSum))));
}

#[test]
fn a_share_that_does_not_match_its_commitments_names_its_dealer() {
    let members = vec![0, 1, 2, 3, 4];
    let old = share::<Ed25519>(&members, 4);
    let params = ReshareParams::new(
        "test-root",
        1,
        Committee::new(members.clone(), 4).unwrap(),
        Committee::new(members.clone(), 4).unwrap(),
        vec![0, 1, 2, 3],
    )
    .unwrap();
    // Dealer 1 sends node 4 a share off its polynomial (the last byte of a
    // little-endian scalar is its most significant: change the lowest).
    let mut tamper = |from: NodeIndex, to: NodeIndex, mut b: Vec<u8>| {
        if from == 1 && to == 4 && b[0] == 2 {
            b[33] ^= 1;
        }
        b
    };
    let results = run(&params, &old, old.public_shares.clone(), &mut tamper);
    match &results[&4] {
        Err(ReshareError::BadDealing { dealer: 1, reason }) => {
            assert!(reason.contains("node 4"), "{reason}")
        }
        other => panic!("node 4 should name dealer 1, got {other:?}"),
    }
    assert!(
        results.values().all(|r| r.is_err()),
        "no one finishes without node 4's confirmation"
    );
}

#[test]
fn a_message_made_for_another_epoch_is_refused_and_its_sender_named() {
    let members = vec![0, 1, 2, 3];
    let old = share::<K256>(&members, 3);
    let params = ReshareParams::new(
        "test-root",
        7,
        Committee::new(members.clone(), 3).unwrap(),
        Committee::new(members.clone(), 3).unwrap(),
        vec![0, 1, 2],
    )
    .unwrap();
    let other = ReshareParams::new(
        "test-root",
        6,
        Committee::new(members.clone(), 3).unwrap(),
        Committee::new(members.clone(), 3).unwrap(),
        vec![0, 1, 2],
    )
    .unwrap();
    assert_ne!(params.context, other.context);
    let mut tamper = |from: NodeIndex, _to: NodeIndex, mut b: Vec<u8>| {
        if from == 0 {
            b[1..33].copy_from_slice(&other.context);
        }
        b
    };
    let results = run(&params, &old, old.public_shares.clone(), &mut tamper);
    for (&p, r) in &results {
        if p != 0 {
            assert_eq!(
                r.as_ref().unwrap_err(),
                &ReshareError::WrongContext { party: 0 }
            );
        }
    }
}

#[test]
fn a_member_that_confirms_a_different_result_is_named_and_no_one_erases_old_shares() {
    let members = vec![0, 1, 2, 3, 4];
    let old = share::<K256>(&members, 4);
    let params = ReshareParams::new(
        "test-root",
        2,
        Committee::new(members.clone(), 4).unwrap(),
        Committee::new(vec![0, 1, 2, 3, 5], 4).unwrap(),
        vec![1, 2, 3, 4],
    )
    .unwrap();
    let mut tamper = |from: NodeIndex, _to: NodeIndex, mut b: Vec<u8>| {
        if from == 5 && b[0] == 3 {
            b[40] ^= 0xff;
        }
        b
    };
    let results = run(&params, &old, old.public_shares.clone(), &mut tamper);
    for (&p, r) in &results {
        if p != 5 {
            assert_eq!(
                r.as_ref().unwrap_err(),
                &ReshareError::Disagreement { party: 5 }
            );
        }
    }
    // Node 4 leaves: it never got an output that would let it erase its
    // old share.
    assert!(results[&4].is_err());
}

#[test]
fn a_commitment_that_is_not_a_curve_point_is_a_clear_error_naming_the_sender() {
    let members = vec![0, 1, 2];
    let old = share::<K256>(&members, 2);
    let params = ReshareParams::new(
        "test-root",
        1,
        Committee::new(members.clone(), 2).unwrap(),
        Committee::new(members.clone(), 2).unwrap(),
        vec![0, 1],
    )
    .unwrap();
    let mut tamper = |from: NodeIndex, _to: NodeIndex, mut b: Vec<u8>| {
        if from == 1 && b[0] == 1 {
            b[FIRST_COMMITMENT] = 0x07;
        }
        b
    };
    let results = run(&params, &old, old.public_shares.clone(), &mut tamper);
    assert!(matches!(
        results[&2].as_ref().unwrap_err(),
        ReshareError::BadMessage { party: 1, .. }
    ));
}

#[test]
fn parameters_that_cannot_keep_the_key_are_refused() {
    let old = Committee::new(vec![0, 1, 2, 3, 4], 4).unwrap();
    let new = Committee::new(vec![0, 1, 2], 3).unwrap();
    let few = ReshareParams::new("k", 1, old.clone(), new.clone(), vec![0, 1, 2]).unwrap_err();
    assert!(
        few.to_string()
            .contains("3 dealers, the old committee's threshold is 4"),
        "{few}"
    );
    let outsider =
        ReshareParams::new("k", 1, old.clone(), new.clone(), vec![0, 1, 2, 9]).unwrap_err();
    assert!(
        outsider
            .to_string()
            .contains("dealer 9 is not in the old committee"),
        "{outsider}"
    );
    assert!(Committee::new(vec![2, 1], 1).is_err());
    assert!(Committee::new(vec![1, 2], 3).is_err());
    assert!(Committee::new(vec![], 0).is_err());
    // A dealer must bring its share.
    let params = ReshareParams::new("k", 1, old, new, vec![0, 1, 2, 3]).unwrap();
    let e = ReshareSession::<K256>::new(params, 1, K256::GENERATOR, BTreeMap::new(), None, OsRng)
        .err()
        .unwrap();
    assert!(e.to_string().contains("deals but has no old share"), "{e}");
}

#[test]
fn a_member_stores_its_new_share_before_confirming_and_a_failed_store_confirms_nothing() {
    use std::sync::{Arc, Mutex};
    let members = vec![0, 1, 2];
    let old = share::<K256>(&members, 2);
    let params = ReshareParams::new(
        "test-root",
        3,
        Committee::new(members.clone(), 2).unwrap(),
        Committee::new(members.clone(), 2).unwrap(),
        vec![0, 1],
    )
    .unwrap();
    let stored: Arc<Mutex<BTreeMap<NodeIndex, [u8; 32]>>> = Arc::default();
    let mut sessions: BTreeMap<NodeIndex, ReshareSession<K256>> = members
        .iter()
        .map(|&p| {
            let old_share = params.dealers.contains(&p).then(|| OldShare {
                me: p,
                secret: old.shares[&p],
            });
            let log = Arc::clone(&stored);
            let s = ReshareSession::new(
                params.clone(),
                p,
                old.group_key,
                old.public_shares.clone(),
                old_share,
                OsRng,
            )
            .unwrap()
            .before_confirm(move |share, digest| {
                if share.me == 2 {
                    return Err("disk full".into());
                }
                log.lock().unwrap().insert(share.me, *digest);
                Ok(())
            });
            (p, s)
        })
        .collect();
    let mut confirms_from = Vec::new();
    let mut errors = BTreeMap::new();
    for _ in 0..20 {
        for id in members.clone() {
            let Some(session) = sessions.get_mut(&id) else {
                continue;
            };
            match session.poke() {
                Ok(Step::Send(out)) => {
                    let (targets, bytes) = match out {
                        Outgoing::Broadcast(b) => (
                            members
                                .iter()
                                .copied()
                                .filter(|&p| p != id)
                                .collect::<Vec<_>>(),
                            b,
                        ),
                        Outgoing::Private(to, b) => (vec![to], b),
                    };
                    if bytes[0] == 3 {
                        // a confirmation: its sender must have stored first
                        assert!(
                            stored.lock().unwrap().contains_key(&id),
                            "node {id} confirmed before storing"
                        );
                        confirms_from.push(id);
                    }
                    for to in targets {
                        if let Some(s) = sessions.get_mut(&to) {
                            s.receive(id, &bytes);
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    errors.insert(id, e);
                    sessions.remove(&id);
                }
            }
        }
    }
    assert!(matches!(&errors[&2], ReshareError::Storage(m) if m == "disk full"));
    assert!(
        !confirms_from.contains(&2),
        "a node that could not store never confirms"
    );
    assert!(stored.lock().unwrap().contains_key(&0) && stored.lock().unwrap().contains_key(&1));
}
