//! What authentication costs a node per request, next to plain k256 signing
//! in the same run: a wallet auth signature (SIWE parse + EIP-191 recovery +
//! domain and nonce checks) and a session signature (ed25519 + the wallet
//! capability inside it + ReCap grants).
use candela_api::auth::{network_nonce, nonce_window, AuthPolicy, AuthSig};
use candela_api::session::{verify_request_auth, Ability, ResourceAbilityRequest, Session};
use criterion::{criterion_group, criterion_main, Criterion};
use k256::ecdsa::signature::hazmat::PrehashSigner;
use k256::ecdsa::SigningKey;
use time::OffsetDateTime;

const NODE: &str = "http://127.0.0.1:7470";
const SEED: &str = "04aa";

fn bench(c: &mut Criterion) {
    let wallet = SigningKey::random(&mut rand_core::OsRng);
    let now = OffsetDateTime::now_utc();
    let nonce = network_nonce(SEED, nonce_window(now));
    let policy = AuthPolicy {
        allowed_domains: vec!["localhost".into()],
        nonce_seed: Some(SEED.into()),
        bls_public_key: None,
        chain_blocks: Vec::new(),
        ..AuthPolicy::default()
    };
    let wallet_sig = AuthSig::create_with_nonce(&wallet, "localhost", "lit:x", 3600, &nonce);
    let session = Session::new(
        &wallet,
        vec![ResourceAbilityRequest::new(Ability::PkpSigning, "*")],
        "localhost",
        &nonce,
        time::Duration::hours(1),
    );
    let session_sig = session.sign_for(NODE);
    let mut g = c.benchmark_group("auth");
    g.bench_function("baseline_k256_sign_prehash", |b| {
        b.iter(|| {
            let s: k256::ecdsa::Signature = wallet.sign_prehash(&[7u8; 32]).expect("sign");
            s
        })
    });
    g.bench_function("wallet_auth_sig", |b| {
        b.iter(|| {
            verify_request_auth(&wallet_sig, Ability::PkpSigning, "01", NODE, &policy, now)
                .expect("valid")
        })
    });
    g.bench_function("session_sig", |b| {
        b.iter(|| {
            verify_request_auth(&session_sig, Ability::PkpSigning, "01", NODE, &policy, now)
                .expect("valid")
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
