//! Presignature commitments are checked at every batch size: each maker
//! proves that `Q_i = k_i·R` and `T_i = sigma_i·R` share their logarithms
//! with its commitments `K_i`, `S_i`, and the `Q_i`, `T_i` must interpolate
//! to `G` and to the root key. A maker that lies with valid-looking proofs
//! is named when the batch has more than `t` makers, and at exactly `t` the
//! batch is refused everywhere without naming anyone (the data cannot say
//! who lied); an honest maker is never named.
use std::collections::BTreeMap;

use candela_crypto::session::{CaitSith, EcdsaBackend, KeyShare, Presignature};
use candela_crypto::sim;
use candela_crypto::{threshold_for, CryptoError, NodeIndex, Scalar};

type Outcomes = BTreeMap<NodeIndex, Result<Vec<Presignature>, CryptoError>>;

fn batch_with_liar(
    keys: &BTreeMap<NodeIndex, KeyShare>,
    makers: &[NodeIndex],
    liar: NodeIndex,
) -> Outcomes {
    let sessions = makers
        .iter()
        .map(|&i| {
            let s = if i == liar {
                CaitSith::dishonest_presign_batch(makers, i, &keys[&i], 2, Scalar::ONE)
            } else {
                CaitSith::presign_batch(makers, i, &keys[&i], 2)
            };
            (i, s.unwrap())
        })
        .collect();
    sim::run_with(sessions, None)
}

#[test]
fn a_lying_maker_among_more_than_t_is_named_and_no_honest_maker_is() {
    for n in [5u32, 7] {
        let t = threshold_for(n as usize);
        let keys = sim::keygen::<CaitSith>(n, t).unwrap();
        let makers: Vec<NodeIndex> = (0..n).collect();
        // the first node is inside every "first t" basis; the last is not
        for liar in [0, n - 1] {
            let out = batch_with_liar(&keys, &makers, liar);
            for (i, r) in &out {
                if *i == liar {
                    continue;
                }
                match r {
                    Err(e) => assert_eq!(e.culprit(), Some(liar), "n={n} node {i}: {e}"),
                    Ok(_) => panic!("n={n}: node {i} kept a batch with a lying maker"),
                }
            }
        }
    }
}

#[test]
fn a_lying_maker_at_exactly_t_is_caught_and_no_honest_maker_is_named() {
    for n in [4u32, 5] {
        let t = threshold_for(n as usize);
        let keys = sim::keygen::<CaitSith>(n, t).unwrap();
        let makers: Vec<NodeIndex> = (1..=t as u32).collect();
        let liar = makers[0];
        let out = batch_with_liar(&keys, &makers, liar);
        for (i, r) in &out {
            if *i == liar {
                continue;
            }
            match r {
                Err(CryptoError::UnattributableCommitments { makers: m }) => {
                    assert_eq!(m, &makers)
                }
                other => panic!("n={n}: node {i}: {other:?}"),
            }
        }
    }
}

#[test]
fn an_honest_batch_of_exactly_t_passes_and_its_commitments_verify_shares() {
    let n = 5u32;
    let t = threshold_for(n as usize);
    let keys = sim::keygen::<CaitSith>(n, t).unwrap();
    let makers: Vec<NodeIndex> = vec![0, 2, 3, 4];
    assert_eq!(makers.len(), t);
    let presigs = sim::presign::<CaitSith>(&keys, &makers, 2).unwrap();
    let tweak = candela_crypto::derive::pkp_tweak(b"k").unwrap();
    let digest = [3u8; 32];
    let root = keys[&0].public_key;
    for &i in &makers {
        let p = &presigs[&i][1];
        let ctx = candela_crypto::ecdsa::SigningContext {
            big_r: &p.big_r,
            root: &root,
            tweak: &tweak,
            digest: &digest,
            presignature_id: "p",
            signers: &makers,
            request_id: "r",
        };
        let (s, _) = candela_crypto::ecdsa::signature_share(p, i, &ctx).unwrap();
        let cm = presigs[&makers[0]][1].commitments[&i];
        let rr = ctx.rerandomize().unwrap();
        candela_crypto::ecdsa::verify_share(i, &s, &cm, &ctx, &rr).unwrap();
    }
}
