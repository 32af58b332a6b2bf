//! CPU time of one reshare, every node in one process (so the time is the
//! sum over all nodes), next to one single-key k256 ECDSA signature made in
//! the same run as the baseline.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use candela_reshare::{
    Committee, NodeIndex, OldShare, Outgoing, ReshareParams, ReshareSession, Step,
};
use criterion::{criterion_group, criterion_main, Criterion};
use ff::Field;
use group::{Group, GroupEncoding};
use k256::ecdsa::signature::hazmat::PrehashSigner;
use rand_core::OsRng;

/// A random sharing among `0..n` (set-up only) and one reshare to the same
/// set (a refresh; a move to another set of the same size costs the same).
fn reshare_once<G: Group + GroupEncoding>(n: u32) {
    let members: Vec<NodeIndex> = (0..n).collect();
    let t = 2 * n as usize / 3 + 1;
    let coefficients: Vec<G::Scalar> = (0..t).map(|_| G::Scalar::random(OsRng)).collect();
    let at = |m: NodeIndex| {
        let x = G::Scalar::from(u64::from(m) + 1);
        coefficients
            .iter()
            .rev()
            .fold(G::Scalar::ZERO, |a, c| a * x + c)
    };
    let shares: BTreeMap<NodeIndex, G::Scalar> = members.iter().map(|&m| (m, at(m))).collect();
    let public: BTreeMap<NodeIndex, G> = shares
        .iter()
        .map(|(&m, s)| (m, G::generator() * s))
        .collect();
    let key = G::generator() * coefficients[0];
    let committee = Committee::new(members.clone(), t).unwrap();
    let params = ReshareParams::new(
        "bench",
        1,
        committee.clone(),
        committee,
        members[..t].to_vec(),
    )
    .unwrap();
    let mut sessions: BTreeMap<NodeIndex, ReshareSession<G>> = members
        .iter()
        .map(|&m| {
            let old = params.dealers.contains(&m).then(|| OldShare {
                me: m,
                secret: shares[&m],
            });
            (
                m,
                ReshareSession::new(params.clone(), m, key, public.clone(), old, OsRng).unwrap(),
            )
        })
        .collect();
    while !sessions.is_empty() {
        let ids: Vec<NodeIndex> = sessions.keys().copied().collect();
        for id in ids {
            match sessions.get_mut(&id).unwrap().poke().unwrap() {
                Step::Send(Outgoing::Broadcast(b)) => {
                    for (_, s) in sessions.iter_mut().filter(|(&to, _)| to != id) {
                        s.receive(id, &b);
                    }
                }
                Step::Send(Outgoing::Private(to, b)) => {
                    if let Some(s) = sessions.get_mut(&to) {
                        s.receive(id, &b);
                    }
                }
                Step::Done(_) => {
                    sessions.remove(&id);
                }
                Step::Wait => {}
            }
        }
    }
}

fn bench(c: &mut Criterion) {
    let key = k256::ecdsa::SigningKey::random(&mut OsRng);
    let mut g = c.benchmark_group("reshare");
    g.sample_size(10).measurement_time(Duration::from_secs(4));
    g.bench_function("single-key k256 ecdsa sign (baseline)", |b| {
        b.iter(|| {
            let s: k256::ecdsa::Signature = key.sign_prehash(&[5u8; 32]).unwrap();
            s
        })
    });
    for n in [5u32, 7, 10] {
        g.bench_function(format!("secp256k1 n={n}"), |b| {
            b.iter(|| reshare_once::<k256::ProjectivePoint>(n))
        });
        g.bench_function(format!("bls12-381 g1 n={n}"), |b| {
            b.iter(|| reshare_once::<blsful::inner_types::G1Projective>(n))
        });
        g.bench_function(format!("ed25519 n={n}"), |b| {
            b.iter(|| reshare_once::<curve25519_dalek::edwards::SubgroupPoint>(n))
        });
    }
    g.finish();
    // A summary line per size with the ratio to the baseline, same run.
    let base = {
        let start = Instant::now();
        for _ in 0..200 {
            let _: k256::ecdsa::Signature = key.sign_prehash(&[5u8; 32]).unwrap();
        }
        start.elapsed() / 200
    };
    for n in [5u32, 7, 10] {
        let start = Instant::now();
        for _ in 0..3 {
            reshare_once::<k256::ProjectivePoint>(n);
        }
        let each = start.elapsed() / 3;
        println!(
            "summary: secp256k1 reshare n={n}: {:.1} ms CPU for all nodes = {:.0}x one k256 signature ({:.1} µs)",
            each.as_secs_f64() * 1e3,
            each.as_secs_f64() / base.as_secs_f64(),
            base.as_secs_f64() * 1e6
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
