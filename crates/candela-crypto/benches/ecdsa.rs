//! Share generation, share verification and combine, next to plain k256
//! signing in the same run.
use candela_crypto::derive::pkp_tweak;
use candela_crypto::ecdsa::{combine, signature_share, verify_share, SigningContext};
use candela_crypto::session::CaitSith;
use candela_crypto::sim;
use criterion::{criterion_group, criterion_main, Criterion};
use k256::ecdsa::signature::hazmat::PrehashSigner;
use k256::ecdsa::{Signature, SigningKey};

fn bench(c: &mut Criterion) {
    let n = 5u32;
    let t = candela_crypto::threshold_for(n as usize);
    let keys = sim::keygen::<CaitSith>(n, t).expect("keygen");
    let parts: Vec<u32> = (0..n).collect();
    let presigs = sim::presign::<CaitSith>(&keys, &parts, 1).expect("presign");
    let signers: Vec<u32> = (0..t as u32).collect();
    let tweak = pkp_tweak(b"bench").expect("tweak");
    let pk = candela_crypto::derive::derive_public_key(&keys[&0].public_key, b"bench").expect("pk");
    let digest = [7u8; 32];
    let root = keys[&0].public_key;
    let ctx = SigningContext {
        big_r: &presigs[&0][0].big_r,
        root: &root,
        tweak: &tweak,
        digest: &digest,
        presignature_id: "bench-presignature",
        signers: &signers,
        request_id: "bench-request",
    };
    let rr = ctx.rerandomize().expect("rerandomize");
    let shares: Vec<_> = signers
        .iter()
        .map(|&i| signature_share(&presigs[&i][0], i, &ctx).expect("share").0)
        .collect();
    let sk = SigningKey::random(&mut rand_core::OsRng);

    let mut g = c.benchmark_group("ecdsa_n5");
    g.bench_function("baseline_k256_sign_prehash", |b| {
        b.iter(|| {
            let s: Signature = sk.sign_prehash(&digest).expect("sign");
            s
        })
    });
    g.bench_function("node_share_generation", |b| {
        b.iter(|| signature_share(&presigs[&0][0], 0, &ctx))
    });
    g.bench_function("client_share_verify", |b| {
        let cm = presigs[&0][0].commitments[&0];
        b.iter(|| {
            let rr = ctx.rerandomize().expect("rerandomize");
            verify_share(0, &shares[0], &cm, &ctx, &rr)
        })
    });
    g.bench_function("client_combine_and_verify", |b| {
        b.iter(|| combine(&shares, &rr.big_r, &pk, &digest))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
