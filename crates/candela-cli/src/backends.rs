//! In-process figures of the two threshold ECDSA backends side by side:
//! cait-sith (a presignature among all n nodes, then the t shares and the
//! combine, as the node signs today) and DKLs23 (`candela-dkls`: three
//! rounds among t signers after the digest), every party in this process on
//! one thread, next to plain single-key k256 signing, with the bytes each
//! moves between nodes.
use std::collections::BTreeMap;
use std::time::Instant;

use candela_crypto::derive::{derive_public_key, pkp_tweak};
use candela_crypto::ecdsa::{combine, signature_share, SigningContext};
use candela_crypto::session::{CaitSith, EcdsaBackend};
use k256::ecdsa::signature::hazmat::PrehashSigner;

/// The figures of one backend for one network size.
pub(crate) struct BackendFigures {
    /// Root key generation, all parties, seconds.
    pub(crate) keygen_seconds: f64,
    /// CPU of one signature over all parties, milliseconds.
    pub(crate) per_signature_ms: f64,
    /// Bytes moved per signature by the multi-party sessions (cait-sith:
    /// the presignature; its signature shares go to the client).
    pub(crate) wire_bytes: usize,
}

impl BackendFigures {
    pub(crate) fn json(&self, protocol: &str, k256_us: f64) -> serde_json::Value {
        serde_json::json!({
            "protocol": protocol,
            "keygenSeconds": self.keygen_seconds,
            "perSignatureMs": self.per_signature_ms,
            "signaturesPerSec": 1000.0 / self.per_signature_ms,
            "overK256Sign": self.per_signature_ms * 1000.0 / k256_us,
            "wireBytesPerSignature": self.wire_bytes,
        })
    }
}

/// The name DKLs23 figures are printed under.
pub(crate) use candela_node::config::DKLS23_NAME;

/// Mean microseconds of one single-key k256 signature.
pub(crate) fn k256_sign_us() -> f64 {
    let sk = k256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let digest = [3u8; 32];
    let n = 2000;
    let t0 = Instant::now();
    for _ in 0..n {
        let _: k256::ecdsa::Signature = sk.sign_prehash(&digest).unwrap_or_else(|_| unreachable!());
    }
    t0.elapsed().as_secs_f64() * 1e6 / n as f64
}

/// cait-sith among nodes `0..n`: keygen, then `signatures` times one
/// presignature among all n and a signature from the first t.
pub(crate) fn cait_sith(n: u32, signatures: usize) -> anyhow::Result<BackendFigures> {
    let t = candela_crypto::threshold_for(n as usize);
    let t0 = Instant::now();
    let keys = candela_crypto::sim::keygen::<CaitSith>(n, t)?;
    let keygen_seconds = t0.elapsed().as_secs_f64();
    let all: Vec<u32> = (0..n).collect();
    let signers: Vec<u32> = (0..t as u32).collect();
    let root = keys
        .get(&0)
        .ok_or_else(|| anyhow::anyhow!("no key for node 0"))?
        .public_key;
    let tweak = pkp_tweak(b"bench-backends")?;
    let pk = derive_public_key(&root, b"bench-backends")?;
    let digest = [7u8; 32];
    let t0 = Instant::now();
    let mut wire_bytes = 0;
    for i in 0..signatures {
        // One presignature among all n, as the node's pool makes them,
        // through a runner that counts the bytes.
        let mut sessions = Vec::with_capacity(all.len());
        for &p in &all {
            let key = keys
                .get(&p)
                .ok_or_else(|| anyhow::anyhow!("no key for node {p}"))?;
            sessions.push((p, CaitSith::presign_batch(&all, p, key, 1)?));
        }
        let (out, wire) = candela_dkls::sim::run_crypto(sessions, None);
        wire_bytes = wire.bytes;
        let mut presigs = BTreeMap::new();
        for (p, outcome) in out {
            presigs.insert(p, outcome.map_err(|e| anyhow::anyhow!("node {p}: {e}"))?);
        }
        let request_id = format!("bench-{i}");
        let first = presigs
            .get(&0)
            .and_then(|p| p.first())
            .ok_or_else(|| anyhow::anyhow!("no presignature"))?;
        let ctx = SigningContext {
            big_r: &first.big_r,
            root: &root,
            tweak: &tweak,
            digest: &digest,
            presignature_id: "bench",
            signers: &signers,
            request_id: &request_id,
        };
        let mut shares = Vec::with_capacity(t);
        let mut big_r = first.big_r;
        for &s in &signers {
            let p = presigs
                .get(&s)
                .and_then(|p| p.first())
                .ok_or_else(|| anyhow::anyhow!("no presignature for node {s}"))?;
            let (share, r) = signature_share(p, s, &ctx)?;
            shares.push(share);
            big_r = r;
        }
        combine(&shares, &big_r, &pk, &digest)?;
    }
    Ok(BackendFigures {
        keygen_seconds,
        per_signature_ms: t0.elapsed().as_secs_f64() * 1000.0 / signatures.max(1) as f64,
        wire_bytes,
    })
}

/// DKLs23 among nodes `0..n`: keygen, then `signatures` signatures by the
/// first t under a PKP key, each verified with plain k256.
pub(crate) fn dkls23(n: u32, signatures: usize) -> anyhow::Result<BackendFigures> {
    let t = candela_crypto::threshold_for(n as usize);
    let t0 = Instant::now();
    let shares = candela_dkls::sim::keygen(n, t, b"candela-bench-backends")?;
    let keygen_seconds = t0.elapsed().as_secs_f64();
    let signers: Vec<u32> = (0..t as u32).collect();
    let tweak = pkp_tweak(b"bench-backends")?;
    let mut wire_bytes = 0;
    let t0 = Instant::now();
    for i in 0..signatures {
        let request_id = format!("bench-{i}");
        let (out, wire) = candela_dkls::sim::sign(
            &shares,
            &signers,
            tweak,
            [7u8; 32],
            request_id.as_bytes(),
            None,
        )?;
        for (node, outcome) in out {
            outcome.map_err(|e| anyhow::anyhow!("node {node}: {e}"))?;
        }
        wire_bytes = wire.bytes;
    }
    Ok(BackendFigures {
        keygen_seconds,
        per_signature_ms: t0.elapsed().as_secs_f64() * 1000.0 / signatures.max(1) as f64,
        wire_bytes,
    })
}

/// Both backends for each size in `nodes`: a JSON summary, and a table on
/// stderr unless `json`.
pub(crate) fn compare(nodes: &[usize], signatures: usize, json: bool) -> anyhow::Result<()> {
    let k256_us = k256_sign_us();
    let mut rows = Vec::new();
    for &n in nodes {
        let n32 = u32::try_from(n)?;
        candela_crypto::check_threshold(n, candela_crypto::threshold_for(n))?;
        let cait = cait_sith(n32, signatures.clamp(1, 5))?;
        let dkls = dkls23(n32, signatures.max(1))?;
        if !json {
            let t = candela_crypto::threshold_for(n);
            for (name, f) in [(CaitSith::NAME, &cait), (DKLS23_NAME, &dkls)] {
                eprintln!(
                    "n = {n:>2}, t = {t:>2}  {name:<22} keygen {:>7.2} s  {:>8.1} ms/signature ({:>5.0}x k256)  {:>9} bytes/signature",
                    f.keygen_seconds,
                    f.per_signature_ms,
                    f.per_signature_ms * 1000.0 / k256_us,
                    f.wire_bytes
                );
            }
        }
        rows.push(serde_json::json!({
            "nodes": n,
            "threshold": candela_crypto::threshold_for(n),
            "backends": [cait.json(CaitSith::NAME, k256_us), dkls.json(DKLS23_NAME, k256_us)],
            "caitSithOverDkls23": cait.per_signature_ms / dkls.per_signature_ms,
        }));
    }
    let summary = serde_json::json!({
        "baselineK256SignUs": k256_us,
        "sizes": rows,
    });
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}
