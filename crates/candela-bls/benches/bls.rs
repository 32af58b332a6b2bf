//! Threshold BLS: DKG, share sign / verify, combine + verify, IBE encrypt and
//! decrypt, hybrid (IBE + XChaCha20-Poly1305 STREAM) encrypt and decrypt
//! throughput on 16 MiB, each next to plain single-key k256 ECDSA signing in
//! the same run.
use std::time::Duration;

use candela_bls::{
    combine, decrypt_stream_with_shares, decrypt_with_shares, decryption_share, encrypt,
    encrypt_bytes, encrypt_stream, sim, threshold_for, verify, verify_share,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use k256::ecdsa::signature::hazmat::PrehashSigner;
use k256::ecdsa::{Signature, SigningKey};

fn bench(c: &mut Criterion) {
    let n = 5u32;
    let t = threshold_for(n as usize);
    let keys = sim::dkg(n, t).expect("dkg");
    let public = keys[&0].public_set();
    let msg = b"candela bench message";
    let shares: Vec<_> = (0..t as u32)
        .map(|i| keys[&i].sign_share(msg).expect("share"))
        .collect();
    let sk = SigningKey::random(&mut rand_core::OsRng);
    let digest = [7u8; 32];

    let mut g = c.benchmark_group("bls_n5");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(4));
    g.bench_function("baseline_k256_ecdsa_sign_prehash", |b| {
        b.iter(|| {
            let s: Signature = sk.sign_prehash(&digest).expect("sign");
            s
        })
    });
    g.bench_function("share_sign", |b| b.iter(|| keys[&0].sign_share(msg)));
    g.bench_function("share_verify", |b| {
        b.iter(|| verify_share(&public.public_shares[&0], msg, &shares[0]))
    });
    g.bench_function("combine_4_and_verify", |b| {
        b.iter(|| {
            let sig = combine(&shares).expect("combine");
            verify(&public.public_key, msg, &sig)
        })
    });
    let identity = b"lit-accesscontrolcondition://bench";
    for (name, len) in [("1KiB", 1usize << 10), ("1MiB", 1 << 20)] {
        let pt = vec![0x5au8; len];
        g.bench_function(format!("ibe_encrypt_{name}"), |b| {
            b.iter(|| encrypt(&public.public_key, identity, &pt))
        });
        let ct = encrypt(&public.public_key, identity, &pt).expect("encrypt");
        let dshares: Vec<_> = (0..t as u32)
            .map(|i| decryption_share(&keys[&i], identity).expect("share"))
            .collect();
        g.bench_function(format!("ibe_combine_verify_decrypt_{name}"), |b| {
            b.iter(|| decrypt_with_shares(&public, identity, &ct, &dshares))
        });
    }
    g.finish();

    // Hybrid encryption of a 16 MiB file, streamed from memory to a sink;
    // decryption includes combining and verifying the t shares.
    let len = 16usize << 20;
    let pt: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31)).collect();
    let ct = encrypt_bytes(&public.public_key, identity, &pt).expect("hybrid encrypt");
    let dshares: Vec<_> = (0..t as u32)
        .map(|i| decryption_share(&keys[&i], identity).expect("share"))
        .collect();
    let mut g = c.benchmark_group("hybrid_16MiB");
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(6));
    g.bench_function("baseline_k256_ecdsa_sign_prehash", |b| {
        b.iter(|| {
            let s: Signature = sk.sign_prehash(&digest).expect("sign");
            s
        })
    });
    g.throughput(Throughput::Bytes(len as u64));
    g.bench_function("hybrid_encrypt", |b| {
        b.iter(|| encrypt_stream(&public.public_key, identity, &pt[..], std::io::sink()))
    });
    g.bench_function("hybrid_combine_verify_decrypt", |b| {
        b.iter(|| decrypt_stream_with_shares(&public, identity, &dshares, &ct[..], std::io::sink()))
    });
    g.finish();

    let mut g = c.benchmark_group("bls_dkg");
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("baseline_k256_ecdsa_sign_prehash", |b| {
        b.iter(|| {
            let s: Signature = sk.sign_prehash(&digest).expect("sign");
            s
        })
    });
    g.bench_function("dkg_n5_t4_in_process", |b| b.iter(|| sim::dkg(n, t)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
