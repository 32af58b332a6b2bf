//! Address encodings against published vectors.
use candela_frost::address::{
    bip86_output_key, p2tr_address_of, solana_address_of, BitcoinNetwork,
};

fn hex32(s: &str) -> [u8; 32] {
    hex::decode(s).unwrap().try_into().unwrap()
}

#[test]
fn solana_address_of_known_keys_matches_solana() {
    // The system program id is the all-zero key.
    assert_eq!(
        solana_address_of(&[0u8; 32]),
        "11111111111111111111111111111111"
    );
    // The SPL token program id.
    assert_eq!(
        solana_address_of(&hex32(
            "06ddf6e1d765a193d9cbe146ceeb79ac1cb485ed5f5b37913a8cf5857eff00a9"
        )),
        "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
    );
}

#[test]
fn bip86_first_receive_address_matches_published_vector() {
    // BIP-86 test vector, m/86'/0'/0'/0/0.
    let internal = hex32("cc8a4bc64d897bddc5fbc2f670f7a8ba0b386779106cf1223c6fc5d7cd6fc115");
    let output = bip86_output_key(&internal).unwrap();
    assert_eq!(
        hex::encode(output),
        "a60869f0dbcf1dc659c9cecbaf8050135ea9e8cdc487053f1dc6880949dc684c"
    );
    assert_eq!(
        p2tr_address_of(&output, BitcoinNetwork::Mainnet).unwrap(),
        "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr"
    );
}

#[test]
fn p2tr_bech32m_encoding_matches_bip350_vector() {
    // BIP-350: witness v1 program 79be667e…1798 (the generator's x).
    let program = hex32("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798");
    assert_eq!(
        p2tr_address_of(&program, BitcoinNetwork::Mainnet).unwrap(),
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0"
    );
    assert!(p2tr_address_of(&program, BitcoinNetwork::Regtest)
        .unwrap()
        .starts_with("bcrt1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq"));
}
