//! The `jwt` global (jsonwebtoken 8.5.1, as in Lit's runtime): decoding,
//! HS256 signing and verifying with its native HMAC, and clear catchable
//! errors for malformed tokens and for the public-key algorithms it does not offer.

use std::sync::Arc;

use crate::common::*;
use serde_json::json;

fn host() -> Arc<TestHost> {
    Arc::new(TestHost::new())
}

async fn response(code: &str) -> serde_json::Value {
    let out = run(&host(), code, json!({}))
        .await
        .unwrap_or_else(|e| panic!("the action failed: {e}"));
    serde_json::from_str(&out.response).expect("JSON response")
}

#[tokio::test]
async fn decode_complete_gives_header_payload_and_signature() {
    let v = response(
        r#"
        const token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJsb2dnZWRJbkFzIjoiYWRtaW4iLCJpYXQiOjE0MjI3Nzk2Mzh9.gzSraSYS8EXBxLN_oWnFSRgCzcmJmMjLiuyu5CSpyHI";
        Lit.Actions.setResponse({response: JSON.stringify({complete: jwt.decode(token, {complete: true}), plain: jwt.decode(token)})});
        "#,
    )
    .await;
    assert_eq!(
        v["complete"],
        json!({
            "header": {"alg": "HS256", "typ": "JWT"},
            "payload": {"loggedInAs": "admin", "iat": 1422779638},
            "signature": "gzSraSYS8EXBxLN_oWnFSRgCzcmJmMjLiuyu5CSpyHI"
        })
    );
    assert_eq!(
        v["plain"],
        json!({"loggedInAs": "admin", "iat": 1422779638})
    );
}

#[tokio::test]
async fn a_malformed_token_decodes_to_null_and_fails_verify_with_a_catchable_error() {
    let v = response(
        r#"
        const errors = [];
        for (const t of ["not a jwt", "a.b.c", ""]) {
            try { jwt.verify(t, "secret") } catch (e) { errors.push([e instanceof jwt.JsonWebTokenError, e.name, e.message]) }
        }
        Lit.Actions.setResponse({response: JSON.stringify({decoded: jwt.decode("not a jwt"), errors})});
        "#,
    )
    .await;
    assert_eq!(v["decoded"], serde_json::Value::Null);
    assert_eq!(
        v["errors"],
        json!([
            [true, "JsonWebTokenError", "jwt malformed"],
            [true, "JsonWebTokenError", "invalid token"],
            [true, "JsonWebTokenError", "jwt must be provided"]
        ])
    );
}

#[tokio::test]
async fn hs256_tokens_sign_and_verify_and_a_wrong_secret_is_refused() {
    // The token of Lit's jwt_decode test is signed with the secret "secretkey"
    // (checked with node's crypto.createHmac); verifying it checks the native HMAC end to end.
    let v = response(
        r#"
        const lit = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJsb2dnZWRJbkFzIjoiYWRtaW4iLCJpYXQiOjE0MjI3Nzk2Mzh9.gzSraSYS8EXBxLN_oWnFSRgCzcmJmMjLiuyu5CSpyHI";
        const mine = jwt.sign({sub: "alice"}, "s3cret", {noTimestamp: true});
        let wrong;
        try { jwt.verify(mine, "other") } catch (e) { wrong = e.message }
        let rs;
        try { jwt.sign({a: 1}, "-----BEGIN PRIVATE KEY-----", {algorithm: "RS256"}) } catch (e) { rs = e.message }
        Lit.Actions.setResponse({response: JSON.stringify({lit: jwt.verify(lit, "secretkey"), mine, verified: jwt.verify(mine, "s3cret"), wrong, rs})});
        "#,
    )
    .await;
    assert_eq!(v["lit"], json!({"loggedInAs": "admin", "iat": 1422779638}));
    assert_eq!(v["verified"], json!({"sub": "alice"}));
    assert_eq!(v["wrong"], "invalid signature");
    assert!(
        v["rs"].as_str().unwrap_or("").contains("not supported"),
        "{}",
        v["rs"]
    );
    // The HS256 token node makes for this header, payload and secret (node -e with crypto.createHmac).
    assert_eq!(
        v["mine"],
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSJ9.iG4X-JVfvYJy3rzsCErGO9LGFikv8Egjz-G6NhqV50k"
    );
}
