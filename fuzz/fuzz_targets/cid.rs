//! CIDv0 and UnixFS: parsing arbitrary CID text, verifying arbitrary data,
//! and the streaming hasher agreeing with the one-shot CID whatever the
//! chunk boundaries of the input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(mh) = candela_cid::parse_cid_v0(text) {
            assert_eq!(
                candela_cid::multihash_to_cid_v0(&mh).ok().as_deref(),
                Some(text)
            );
        }
        let _ = candela_cid::verify(b"", text);
    }
    let _ = candela_cid::multihash_to_cid_v0(data);
    let cid = candela_cid::cid_v0(data);
    assert!(candela_cid::parse_cid_v0(&cid).is_ok());
    assert!(candela_cid::verify(data, &cid).is_ok());
    // feed the same bytes in pieces whose sizes come from the data itself
    let mut h = candela_cid::Hasher::new();
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() {
        let n = (data[i % data.len()] as usize + 1).min(rest.len());
        h.update(&rest[..n]);
        rest = &rest[n..];
        i += 1;
    }
    assert_eq!(h.finalize(), cid);
    // small chunking, so that inputs build multi-level trees
    if data.len() > 2 {
        let chunk = 1 + data[0] as usize % 64;
        let children = 2 + data[1] as usize % 8;
        if let Ok(mut h) = candela_cid::Hasher::with_chunking(chunk, children) {
            h.update(data);
            let cid = h.finalize();
            assert!(candela_cid::parse_cid_v0(&cid).is_ok());
        }
    }
});
