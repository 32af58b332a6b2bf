//! End-to-end: data encrypted to the network's BLS key under access-control
//! conditions decrypts only for a caller for whom every node finds the
//! conditions hold.
mod common;

use candela_client::RequestAuth;
use candela_crypto::derive;
use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_decrypts_for_the_wallet_the_conditions_name_and_not_for_another() {
    let net = TestNet::start(3, &[]);
    let client = net.client();
    let (reader, stranger) = (owner(), owner());
    let address =
        derive::checksum_address(&derive::eth_address(reader.verifying_key().as_affine()));
    let conditions = json!({"accessControlConditions": [{
        "contractAddress": "", "standardContractType": "", "chain": "ethereum", "method": "",
        "parameters": [":userAddress"],
        "returnValueTest": {"comparator": "=", "value": address}
    }]});
    let secret = b"the plans for the heist".repeat(1000);
    let enc = client.encrypt(&conditions, &secret).expect("encrypt");
    let plain = client
        .decrypt(&enc, &RequestAuth::Session(client.session(&reader)))
        .await
        .expect("the named wallet decrypts");
    assert_eq!(plain, secret);
    let err = client
        .decrypt(&enc, &RequestAuth::Session(client.session(&stranger)))
        .await
        .expect_err("another wallet does not");
    assert!(
        err.to_string()
            .contains("NodeAccessControlConditionsReturnedNotAuthorized"),
        "{err}"
    );
}
