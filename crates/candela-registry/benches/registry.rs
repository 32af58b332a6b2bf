//! Registry costs next to plain k256 signing in the same run: minting
//! (derivation + one SQLite transaction, or one anvil transaction) and the
//! permission read a node makes on the signing path.
//!
//! The EVM group runs when anvil is installed (`bash contracts/setup.sh`)
//! and the contracts are built; otherwise it says so and is skipped.
use candela_crypto::{ProjectivePoint, Scalar};
use candela_registry::anvil::{self, Anvil};
use candela_registry::{
    AuthMethod, EvmRegistry, Permission, Registry, SigningKey, SqliteRegistry,
    AUTH_METHOD_TYPE_ACTION,
};
use criterion::{criterion_group, criterion_main, Criterion};
use k256::ecdsa::signature::hazmat::PrehashSigner;
use k256::elliptic_curve::Field;
use rand_core::OsRng;

const CID: &str = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o";

fn root() -> candela_crypto::AffinePoint {
    (ProjectivePoint::GENERATOR * Scalar::random(&mut OsRng)).to_affine()
}

fn baseline(c: &mut Criterion) {
    let sk = SigningKey::random(&mut OsRng);
    c.bench_function("baseline_k256_sign_prehash", |b| {
        b.iter(|| {
            let s: k256::ecdsa::Signature = sk.sign_prehash(&[7u8; 32]).expect("sign");
            s
        })
    });
}

/// Mint and permission reads on a registry that already holds `preload`
/// PKPs, each with one permitted action.
fn registry_group(c: &mut Criterion, name: &str, reg: &dyn Registry, preload: usize) {
    let root = root();
    let owner = SigningKey::random(&mut OsRng);
    let mut last = None;
    for _ in 0..preload {
        last = Some(
            reg.mint_with_actions(&owner, &root, &[CID], false)
                .expect("preload"),
        );
    }
    let pkp = last.expect("at least one PKP");
    let action = AuthMethod::action(CID).expect("cid");
    let mut g = c.benchmark_group(name);
    g.bench_function("mint", |b| {
        b.iter(|| reg.mint(&owner, &root).expect("mint"))
    });
    g.bench_function("mint_grant_burn", |b| {
        b.iter(|| {
            reg.mint_with(&owner, &root, &[Permission::new(action.clone(), [1])], true)
                .expect("mint")
        })
    });
    g.bench_function("permission_check", |b| {
        b.iter(|| {
            reg.permission(&pkp.token_id, AUTH_METHOD_TYPE_ACTION, &action.id)
                .expect("read")
        })
    });
    g.bench_function("pkp_lookup", |b| {
        b.iter(|| reg.by_public_key(&pkp.public_key).expect("read"))
    });
    g.finish();
}

fn sqlite(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = SqliteRegistry::open(&dir.path().join("registry.sqlite")).expect("open");
    registry_group(c, "sqlite", &reg, 1000);
}

fn evm(c: &mut Criterion) {
    let anvil = match Anvil::start() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("evm: {e}; skipped");
            return;
        }
    };
    let url = anvil.url.clone();
    let key = anvil::dev_key(0);
    let root = root();
    let (reg, _) = match EvmRegistry::deploy(&url, &key, &root) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("evm: cannot deploy the contracts ({e}); skipped");
            return;
        }
    };
    let pkp = reg
        .mint_with_actions(&key, &root, &[CID], false)
        .expect("mint");
    let action = AuthMethod::action(CID).expect("cid");
    let mut g = c.benchmark_group("evm_anvil");
    g.sample_size(20);
    g.bench_function("mint_one_transaction", |b| {
        b.iter(|| reg.mint(&key, &root).expect("mint"))
    });
    g.bench_function("permission_check", |b| {
        b.iter(|| {
            reg.permission(&pkp.token_id, AUTH_METHOD_TYPE_ACTION, &action.id)
                .expect("read")
        })
    });
    g.bench_function("pkp_lookup", |b| {
        b.iter(|| reg.by_public_key(&pkp.public_key).expect("read"))
    });
    g.finish();
}

criterion_group!(benches, baseline, sqlite, evm);
criterion_main!(benches);
