//! FROST key generation and one whole signature (commit + sign + aggregate
//! by all t signers, CPU of every party added up, in one process) for
//! n = 5 and 7, next to single-key Ed25519 (ed25519-dalek) and BIP-340
//! (k256) signing in the same run. After criterion's figures, a plain
//! timing pass prints the FROST/single-key ratios.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use candela_frost::{
    aggregate, make_commitments, sign_share, signing_package, sim, Ed25519Sha512, FrostKeyShare,
    PartyIndex, Secp256K1Sha256TR, Suite, Tweak,
};
use criterion::{criterion_group, criterion_main, Criterion};
use ed25519_dalek::Signer as _;
use rand_core::OsRng;

fn threshold_for(n: u32) -> u16 {
    (2 * n / 3 + 1) as u16
}

/// One signature for a PKP: every signer commits, signs, then aggregate.
fn one_signature<C: Suite>(shares: &BTreeMap<PartyIndex, FrostKeyShare<C>>, t: u16, msg: &[u8]) {
    let tweak = Tweak::<C>::pkp(b"bench pkp").expect("tweak");
    let signers: Vec<PartyIndex> = shares.keys().copied().take(t as usize).collect();
    let mut nonces = BTreeMap::new();
    let mut commitments = BTreeMap::new();
    for p in &signers {
        let (mut n, c) = make_commitments(&shares[p], 0, 1, &mut OsRng);
        nonces.insert(*p, n.remove(0).1);
        commitments.insert(*p, c[0].commitments);
    }
    let package = signing_package(&commitments, msg).expect("package");
    let sig_shares = signers
        .iter()
        .map(|p| {
            let s = sign_share(&shares[p], &tweak, &nonces[p], &package).expect("share");
            (*p, s)
        })
        .collect();
    let any = shares.values().next().expect("share");
    let public = tweak.public_key_package(&any.public_key_package);
    aggregate(&package, &sig_shares, &public).expect("aggregate");
}

fn median(mut f: impl FnMut(), runs: usize) -> Duration {
    let mut v: Vec<Duration> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    v.sort();
    v[runs / 2]
}

fn suite_bench<C: Suite>(c: &mut Criterion, name: &str, msg: &[u8]) {
    let mut g = c.benchmark_group(format!("frost_{name}"));
    g.sample_size(20);
    for n in [5u32, 7] {
        let t = threshold_for(n);
        g.bench_function(format!("dkg_n{n}_t{t}"), |b| {
            b.iter(|| sim::keygen::<C, _>(n, t, &mut OsRng).expect("keygen"))
        });
        let shares = sim::keygen::<C, _>(n, t, &mut OsRng).expect("keygen");
        g.bench_function(format!("sign_n{n}_t{t}"), |b| {
            b.iter(|| one_signature(&shares, t, msg))
        });
    }
    g.finish();
}

fn bench(c: &mut Criterion) {
    let msg32 = [7u8; 32];
    let ed_key = ed25519_dalek::SigningKey::generate(&mut OsRng);
    let tr_key = k256::schnorr::SigningKey::random(&mut OsRng);
    let aux = [1u8; 32];

    let mut g = c.benchmark_group("single_key");
    g.bench_function("ed25519_dalek_sign", |b| b.iter(|| ed_key.sign(&msg32)));
    g.bench_function("k256_bip340_sign", |b| {
        b.iter(|| tr_key.sign_raw(&msg32, &aux).expect("sign"))
    });
    g.finish();
    suite_bench::<Ed25519Sha512>(c, "ed25519", &msg32);
    suite_bench::<Secp256K1Sha256TR>(c, "k256tr", &msg32);

    // Ratios from one plain timing pass (medians).
    let runs = 200;
    let ed_single = median(
        || {
            ed_key.sign(&msg32);
        },
        runs,
    );
    let tr_single = median(
        || {
            tr_key.sign_raw(&msg32, &aux).expect("sign");
        },
        runs,
    );
    println!("\nsingle-key sign: ed25519-dalek {ed_single:?}, k256 BIP-340 {tr_single:?}");
    for n in [5u32, 7] {
        let t = threshold_for(n);
        let ed = sim::keygen::<Ed25519Sha512, _>(n, t, &mut OsRng).expect("keygen");
        let tr = sim::keygen::<Secp256K1Sha256TR, _>(n, t, &mut OsRng).expect("keygen");
        let ed_dkg = median(
            || {
                sim::keygen::<Ed25519Sha512, _>(n, t, &mut OsRng).expect("keygen");
            },
            20,
        );
        let tr_dkg = median(
            || {
                sim::keygen::<Secp256K1Sha256TR, _>(n, t, &mut OsRng).expect("keygen");
            },
            20,
        );
        let ed_sig = median(|| one_signature(&ed, t, &msg32), runs / 4);
        let tr_sig = median(|| one_signature(&tr, t, &msg32), runs / 4);
        println!(
            "n={n} t={t}: Ed25519 DKG {ed_dkg:?}, signature {ed_sig:?} = {:.0}x single-key; \
             taproot DKG {tr_dkg:?}, signature {tr_sig:?} = {:.0}x single-key",
            ed_sig.as_secs_f64() / ed_single.as_secs_f64(),
            tr_sig.as_secs_f64() / tr_single.as_secs_f64(),
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
