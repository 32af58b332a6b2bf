//! Without the bundle, touching `ethers` is a clear error and nothing else breaks.
//! (Own test binary: it points CANDELA_ETHERS_BUNDLE at a missing file first.)

mod common;

use std::sync::Arc;

use candela_actions::ActionError;
use common::*;
use serde_json::json;

#[tokio::test]
async fn touching_ethers_without_the_bundle_names_the_setup_script() {
    std::env::set_var("CANDELA_ETHERS_BUNDLE", "/nonexistent/ethers.bundle.js");
    let h = Arc::new(TestHost::new());
    let out = run(
        &h,
        r#"Lit.Actions.setResponse({response: "fine"})"#,
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(out.response, "fine");
    match run(&h, "ethers.utils.keccak256('0x')", json!({})).await {
        Err(ActionError::Script { message, .. }) => {
            assert!(message.contains("ethers is not available"), "{message}");
            assert!(message.contains("js/setup.sh"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}
