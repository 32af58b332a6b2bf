//! CPU per threshold signature with every party in this process (one
//! thread, so time is CPU time): DKLs23 (`dkls23` via candela-dkls) against
//! cait-sith (candela-crypto: one presignature among all n, then the t
//! signature shares and the combine, as the node does) and plain
//! single-key k256 signing, for n = 5 and 7 with t = floor(2n/3) + 1.
//! After criterion's figures it prints the ratios to single-key k256 and
//! the bytes a DKLs23 signature moves.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use candela_crypto::derive::{derive_public_key, pkp_tweak};
use candela_crypto::ecdsa::{combine, signature_share, SigningContext};
use candela_crypto::session::{CaitSith, KeyShare};
use candela_dkls::{sim as dkls_sim, DklsKeyShare, NodeIndex};
use criterion::Criterion;
use k256::ecdsa::signature::hazmat::PrehashSigner;
use k256::ecdsa::{Signature, SigningKey};

struct Keys {
    n: u32,
    t: usize,
    dkls: BTreeMap<NodeIndex, DklsKeyShare>,
    cait: BTreeMap<NodeIndex, KeyShare>,
}

fn keys(n: u32) -> Keys {
    let t = candela_crypto::threshold_for(n as usize);
    let start = Instant::now();
    let dkls = dkls_sim::keygen(n, t, format!("bench-{n}").as_bytes()).expect("dkls23 keygen");
    println!(
        "dkls23 keygen n = {n}: {:.2} s (all parties), key share {} bytes",
        start.elapsed().as_secs_f64(),
        dkls[&0].to_bytes().expect("share bytes").len()
    );
    let cait = candela_crypto::sim::keygen::<CaitSith>(n, t).expect("cait-sith keygen");
    Keys { n, t, dkls, cait }
}

/// One DKLs23 signature among the first t nodes under a PKP key.
fn dkls_sign(k: &Keys, i: u64) -> usize {
    let signers: Vec<NodeIndex> = (0..k.t as u32).collect();
    let tweak = pkp_tweak(b"bench-pkp").expect("tweak");
    let request = i.to_be_bytes();
    let (out, wire) = dkls_sim::sign(&k.dkls, &signers, tweak, [7u8; 32], &request, None)
        .expect("sessions start");
    assert!(out.values().all(Result::is_ok), "dkls23 signing failed");
    wire.bytes
}

/// One cait-sith signature: a presignature among all n nodes (two triples
/// and presign), then t rerandomized shares and the combine.
fn cait_sith_sign(k: &Keys) {
    let all: Vec<NodeIndex> = (0..k.n).collect();
    let presigs =
        candela_crypto::sim::presign::<CaitSith>(&k.cait, &all, 1).expect("cait-sith presign");
    let signers: Vec<NodeIndex> = (0..k.t as u32).collect();
    let root = k.cait[&0].public_key;
    let tweak = pkp_tweak(b"bench-pkp").expect("tweak");
    let pk = derive_public_key(&root, b"bench-pkp").expect("pk");
    let digest = [7u8; 32];
    let ctx = SigningContext {
        big_r: &presigs[&0][0].big_r,
        root: &root,
        tweak: &tweak,
        digest: &digest,
        presignature_id: "bench",
        signers: &signers,
        request_id: "bench",
    };
    let mut shares = Vec::with_capacity(k.t);
    let mut big_r = None;
    for &i in &signers {
        let (s, r) = signature_share(&presigs[&i][0], i, &ctx).expect("share");
        shares.push(s);
        big_r = Some(r);
    }
    combine(&shares, &big_r.expect("one share"), &pk, &digest).expect("combine");
}

fn bench(c: &mut Criterion, k: &Keys, sk: &SigningKey) {
    let mut g = c.benchmark_group(format!("per_signature_n{}_t{}", k.n, k.t));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.bench_function("k256_single_key", |b| {
        b.iter(|| {
            let s: Signature = sk.sign_prehash(&[7u8; 32]).expect("sign");
            s
        })
    });
    let mut i = 0u64;
    g.bench_function("dkls23_sign", |b| {
        b.iter(|| {
            i += 1;
            dkls_sign(k, i)
        })
    });
    g.measurement_time(Duration::from_secs(12));
    g.bench_function("cait_sith_presign_and_sign", |b| {
        b.iter(|| cait_sith_sign(k))
    });
    g.finish();
}

/// Mean seconds of `f` over `runs` runs.
fn mean(runs: u32, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..runs {
        f();
    }
    start.elapsed().as_secs_f64() / f64::from(runs)
}

fn summary(k: &Keys, sk: &SigningKey) {
    let single = mean(2000, || {
        let _: Signature = sk.sign_prehash(&[7u8; 32]).expect("sign");
    });
    let mut bytes = 0;
    let dkls = mean(20, || bytes = dkls_sign(k, 1_000_000));
    let cait = mean(3, || cait_sith_sign(k));
    println!(
        "n = {}, t = {}: k256 single key {:.1} µs; dkls23 {:.1} ms ({:.0}x k256); \
         cait-sith presign+sign {:.1} ms ({:.0}x k256); cait-sith / dkls23 = {:.1}; \
         dkls23 wire {} bytes per signature",
        k.n,
        k.t,
        single * 1e6,
        dkls * 1e3,
        dkls / single,
        cait * 1e3,
        cait / single,
        cait / dkls,
        bytes
    );
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let sk = SigningKey::random(&mut rand_core::OsRng);
    let all: Vec<Keys> = [5u32, 7].into_iter().map(keys).collect();
    for k in &all {
        bench(&mut c, k, &sk);
    }
    for k in &all {
        summary(k, &sk);
    }
    c.final_summary();
}
