//! Without the jwt bundle, touching `jwt` is a clear error and nothing else breaks.
//! (Own test binary: it points CANDELA_JWT_BUNDLE at a missing file first.)

mod common;

use std::sync::Arc;

use candela_actions::ActionError;
use common::*;
use serde_json::json;

#[tokio::test]
async fn touching_jwt_without_the_bundle_names_the_setup_script() {
    std::env::set_var("CANDELA_JWT_BUNDLE", "/nonexistent/jwt.bundle.js");
    let h = Arc::new(TestHost::new());
    let out = run(
        &h,
        r#"Lit.Actions.setResponse({response: typeof crypto.subtle})"#,
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(out.response, "object");
    match run(&h, "jwt.decode('a.b.c')", json!({})).await {
        Err(ActionError::Script { message, .. }) => {
            assert!(message.contains("jwt is not available"), "{message}");
            assert!(message.contains("js/setup.sh"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}
