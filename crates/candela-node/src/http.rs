//! The HTTP API: Lit v7 paths for clients, `/peer/v1/...` for nodes.
use std::sync::Arc;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use candela_api::v7::{
    ActionUploadRequest, ErrorBody, ExecuteRequest, HandshakeRequest, HandshakeResponse,
    PkpSignRequest,
};
use candela_api::{EXCLUDE_HEADER, MAX_WAIT_HEADER, REQUEST_ID_HEADER};
use serde::de::DeserializeOwned;

use crate::config::Misbehaviour;
use crate::error::ApiError;
use crate::liveness::{answer_ping, MAX_PING_BODY};
use crate::node::{now_ms, Node};
use crate::peer::{Authenticated, PeerBody, PeerError, PeerReader, MAX_BODY_BYTES};

/// An error bound to the request it answers.
struct Answer(ApiError, String);

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error_code: self.0.code,
            message: self.0.message,
            correlation_id: self.1,
            logs: self.0.logs,
        };
        (self.0.status, Json(body)).into_response()
    }
}

fn correlation(headers: &HeaderMap) -> String {
    headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(128)
        .collect()
}

/// The request id: required, at most 128 characters of `[A-Za-z0-9_-]`.
fn request_id(headers: &HeaderMap) -> Result<String, ApiError> {
    let id = headers
        .get(REQUEST_ID_HEADER)
        .ok_or_else(|| {
            ApiError::bad_request(
                "NodeMissingRequestId",
                format!("the {REQUEST_ID_HEADER} header is required"),
            )
        })?
        .to_str()
        .map_err(|_| ApiError::bad_request("NodeInvalidRequestId", "request id is not ASCII"))?;
    if id.is_empty()
        || id.len() > 128
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ApiError::bad_request(
            "NodeInvalidRequestId",
            "request id must be 1 to 128 characters of A-Z a-z 0-9 - _",
        ));
    }
    Ok(id.to_string())
}

/// The nodes the client asks to leave out of the signing sets
/// ([`EXCLUDE_HEADER`]); an unreadable header excludes nothing.
fn excluded(headers: &HeaderMap) -> Vec<u32> {
    headers
        .get(EXCLUDE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(',')
                .filter_map(|i| i.trim().parse().ok())
                .take(256)
                .collect()
        })
        .unwrap_or_default()
}

/// How long the client says it waits ([`MAX_WAIT_HEADER`]); an unreadable
/// header says nothing.
fn max_wait(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(MAX_WAIT_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

fn body_bytes(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(format!("request body is larger than {limit} bytes"))
        } else {
            ApiError::bad_request("NodeBadRequest", e.body_text())
        }
    })
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let kind = if e.is_syntax() || e.is_eof() {
            "malformed JSON"
        } else {
            "invalid request"
        };
        ApiError::bad_request("NodeInvalidRequest", format!("{kind}: {e}"))
    })
}

/// A handler's result as a response: JSON on success, the JSON error
/// (with the request's correlation id) otherwise.
fn respond<T: serde::Serialize>(result: Result<T, ApiError>, corr: String) -> Response {
    match result {
        Ok(r) => Json(r).into_response(),
        Err(e) => Answer(e, corr).into_response(),
    }
}

/// A request with a request id and a JSON body of at most `limit` bytes,
/// answered by `handle`.
async fn with_request<Req, Resp, Fut>(
    node: Arc<Node>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    limit: usize,
    handle: impl FnOnce(Arc<Node>, String, Req) -> Fut,
) -> Response
where
    Req: serde::de::DeserializeOwned,
    Resp: serde::Serialize + Send + 'static,
    Fut: std::future::Future<Output = Result<Resp, ApiError>> + Send + 'static,
{
    let corr = correlation(&headers);
    let result = async {
        let bytes = body_bytes(body, limit)?;
        let rid = request_id(&headers)?;
        let req: Req = parse_json(&bytes)?;
        to_completion(handle(node, rid, req)).await
    }
    .await;
    respond(result, corr)
}

/// Run a request's work on its own task, so that it finishes even when the
/// client goes away: once a request id is claimed, dropping the work half
/// way would lose it for good (a retry with the same id is refused as a
/// replay).
async fn to_completion<Resp: Send + 'static>(
    work: impl std::future::Future<Output = Result<Resp, ApiError>> + Send + 'static,
) -> Result<Resp, ApiError> {
    tokio::spawn(work).await.unwrap_or_else(|e| {
        Err(ApiError::internal(format!(
            "the request's task failed: {e}"
        )))
    })
}

/// A `pkp/sign` answer: Lit's ECDSA shape, or a Schnorr share.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum SignAnswer {
    Ecdsa(candela_api::v7::PkpSignResponse),
    Schnorr(candela_api::schnorr::SchnorrSignResponse),
}

async fn pkp_sign(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let limit = node.cfg.max_body_bytes;
    let exclude = excluded(&headers);
    let wait_until = node.wait_until(max_wait(&headers));
    with_request(
        node,
        headers,
        body,
        limit,
        |node, rid, req: PkpSignRequest| async move {
            let _forget = node.exclude_while(&rid, exclude);
            match crate::schnorr::requested_scheme(req.signing_scheme.as_deref())? {
                candela_frost::SigningScheme::EcdsaK256Sha256 => node
                    .pkp_sign(&rid, req, wait_until)
                    .await
                    .map(SignAnswer::Ecdsa),
                scheme => node
                    .pkp_sign_schnorr(&rid, scheme, req)
                    .await
                    .map(SignAnswer::Schnorr),
            }
        },
    )
    .await
}

async fn sign_session_key(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let limit = node.cfg.max_body_bytes;
    with_request(
        node,
        headers,
        body,
        limit,
        |node, rid, req: candela_api::v7::SignSessionKeyRequest| async move {
            node.sign_session_key(&rid, req).await
        },
    )
    .await
}

async fn encryption_sign(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let limit = node.cfg.max_body_bytes;
    with_request(
        node,
        headers,
        body,
        limit,
        |node, rid, req: crate::decrypt::EncryptionSignRequest| async move {
            node.encryption_sign(&rid, req).await
        },
    )
    .await
}

async fn execute(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let corr = correlation(&headers);
    let result = async {
        let bytes = body_bytes(body, crate::actions::body_limit(&node.cfg.actions))?;
        let rid = request_id(&headers)?;
        // measured on the raw JSON, before it becomes values in memory
        crate::actions::check_js_params_size(&bytes)?;
        let req: ExecuteRequest = parse_json(&bytes)?;
        let node = Arc::clone(&node);
        let exclude = excluded(&headers);
        let http_headers = header_pairs(&headers);
        to_completion(async move {
            let _forget = node.exclude_while(&rid, exclude);
            let honest = node.execute_with_headers(&rid, req, http_headers).await?;
            Ok(node.misbehave_execution(honest))
        })
        .await
    }
    .await;
    respond(result, corr)
}

/// The request's headers as (lower-case name, value) pairs in order;
/// values that are not text are left out.
fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(name, value)| {
            value
                .to_str()
                .ok()
                .map(|v| (name.as_str().to_ascii_lowercase(), v.to_string()))
        })
        .collect()
}

/// `GET /candela/v1/runs/{requestId}`: the record of an execution, for its
/// caller only (auth signature in the `X-Candela-Auth-Sig` header).
async fn get_run(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    axum::extract::Path(rid): axum::extract::Path<String>,
) -> Response {
    let corr = correlation(&headers);
    let result = async {
        let auth = headers
            .get(crate::runs::AUTH_SIG_HEADER)
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "NodeMissingAuthSig",
                    format!("the {} header is required", crate::runs::AUTH_SIG_HEADER),
                )
            })?
            .as_bytes()
            .to_vec();
        let auth = parse_json(&auth)?;
        node.read_run(&rid, &auth).await
    }
    .await;
    respond(result, corr)
}

async fn upload_action(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let corr = correlation(&headers);
    let result = async {
        let bytes = body_bytes(body, crate::actions::body_limit(&node.cfg.actions))?;
        let req: ActionUploadRequest = parse_json(&bytes)?;
        node.upload_action(req)
    }
    .await;
    respond(result, corr)
}

/// Where a client sends a registry change its owner signed.
pub const REGISTRY_CHANGE_PATH: &str = "/candela/registry/v1/change";

async fn registry_change(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let corr = correlation(&headers);
    let result = async {
        let bytes = body_bytes(body, node.cfg.max_body_bytes)?;
        let signed: candela_registry::signed_op::SignedChange = parse_json(&bytes)?;
        node.apply_registry_change(signed).await
    }
    .await;
    respond(result, corr)
}

async fn handshake(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let corr = correlation(&headers);
    let result = async {
        let bytes = body_bytes(body, node.cfg.max_body_bytes)?;
        let _req: HandshakeRequest = if bytes.is_empty() {
            HandshakeRequest::default()
        } else {
            parse_json(&bytes)?
        };
        let key = node.key();
        let bls = node.bls_key().map(|k| k.public_key_hex());
        Ok::<_, ApiError>(HandshakeResponse {
            server_public_key: node.identity_key_hex(),
            hd_root_pubkeys: key
                .map(|k| {
                    vec![hex::encode(candela_crypto::derive::point_to_bytes(
                        &k.public_key,
                        false,
                    ))]
                })
                .unwrap_or_default(),
            epoch: node.epoch(),
            latest_blockhash: node.latest_nonce().await?,
            network_public_key: bls.clone(),
            subnet_public_key: bls.clone(),
            network_public_key_set: bls,
            node_index: node.me,
            threshold: node.threshold(),
        })
    }
    .await;
    respond(result, corr)
}

async fn status(State(node): State<Arc<Node>>) -> Response {
    Json(node.status()).into_response()
}

/// A refused peer message as the API answers it: 403 when it does not
/// authenticate, 413 when it is larger than allowed, 503 when the node
/// cannot remember more messages right now.
fn peer_refused(e: PeerError) -> ApiError {
    let status = match e {
        PeerError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        PeerError::Busy => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::FORBIDDEN,
    };
    ApiError::new(status, "PeerMessageRefused", e.to_string())
}

/// Read one peer message (bodies of at most `max_body` bytes) as it
/// arrives: its signed header is checked (member of the node set, addressed
/// here, signature, freshness, not a replay, announced size) before the
/// body is read further, so a stranger cannot make the node buffer a large
/// body.
async fn read_peer_message(
    node: &Node,
    mut body: Body,
    max_body: u64,
) -> Result<(Authenticated, PeerBody), ApiError> {
    let members = node.members();
    let mut reader = PeerReader::new(&members.directory, Some(&node.replay), node.me, now_ms())
        .with_max_body(max_body);
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        let frame =
            frame.map_err(|e| ApiError::bad_request("PeerMessageRefused", e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            reader.push(&data).map_err(peer_refused)?;
        }
    }
    reader.finish().map_err(peer_refused)
}

async fn peer_message(State(node): State<Arc<Node>>, body: Body) -> Response {
    let result = async {
        let (a, body) = read_peer_message(&node, body, MAX_BODY_BYTES).await?;
        if matches!(body, PeerBody::Assign { .. }) && !node.store.reconciled() {
            return Err(ApiError::syncing());
        }
        node.handle_peer(a.from, body).await
    }
    .await;
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => Answer(e, String::new()).into_response(),
    }
}

/// `POST /peer/v1/ping`: a signed [`PeerBody::Ping`] from a member of the
/// node set, answered with a [`PeerBody::Pong`] sealed to it.
async fn peer_ping(State(node): State<Arc<Node>>, body: Body) -> Response {
    let result = async {
        let msg = read_peer_message(&node, body, MAX_PING_BODY).await?;
        answer_ping(
            &node.members().directory,
            &node.identity,
            node.me,
            node.boot_id,
            &node.liveness,
            msg,
            now_ms(),
            std::time::Instant::now(),
        )
        .map_err(peer_refused)
    }
    .await;
    match result {
        Ok(bytes) => ([("content-type", "application/octet-stream")], bytes).into_response(),
        Err(e) => Answer(e, String::new()).into_response(),
    }
}

/// Refuse signing requests (503 `NodeSyncing`) until the node has
/// reconciled its presignatures with its peers.
async fn require_reconciled(
    State(node): State<Arc<Node>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if !node.store.reconciled() {
        return Answer(ApiError::syncing(), correlation(req.headers())).into_response();
    }
    next.run(req).await
}

async fn not_found(headers: HeaderMap) -> Response {
    Answer(
        ApiError::not_found("NodeNotFound", "no such endpoint"),
        correlation(&headers),
    )
    .into_response()
}

async fn method_not_allowed(headers: HeaderMap) -> Response {
    Answer(
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "NodeMethodNotAllowed",
            "this endpoint does not take this HTTP method (POST for /web/ requests, GET for status)",
        ),
        correlation(&headers),
    )
    .into_response()
}

async fn openapi() -> Response {
    (
        [("content-type", "application/json")],
        include_str!("../openapi.json"),
    )
        .into_response()
}

/// How much of an oversize body is read and discarded before answering 413,
/// so that a client still sending gets the JSON error instead of a reset.
const DRAIN_CAP: usize = 32 * 1024 * 1024;

/// Refuse a body whose declared length is over `limit` with a JSON 413,
/// after reading it off the connection (up to [`DRAIN_CAP`]).
async fn reject_oversize(
    State(limit): State<usize>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    match declared {
        Some(len) if len > limit => {
            let corr = correlation(req.headers());
            if len <= DRAIN_CAP {
                let _ = axum::body::to_bytes(req.into_body(), DRAIN_CAP).await;
            }
            Answer(
                ApiError::too_large(format!("request body is larger than {limit} bytes")),
                corr,
            )
            .into_response()
        }
        _ => next.run(req).await,
    }
}

/// Tests only ([`Misbehaviour::SlowLinks`]): delay every answer.
async fn slow_links(
    State(slow): State<bool>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let resp = next.run(req).await;
    if slow {
        tokio::time::sleep(Misbehaviour::SLOW_LINK_DELAY).await;
    }
    resp
}

/// The node's router.
pub fn router(node: Arc<Node>) -> Router {
    let limit = node.cfg.max_body_bytes;
    let slow = node.cfg.misbehave == Some(Misbehaviour::SlowLinks);
    let gate = axum::middleware::from_fn_with_state(Arc::clone(&node), require_reconciled);
    let client = Router::new()
        .route("/web/handshake", post(handshake))
        .route("/web/handshake/", post(handshake))
        .route("/web/pkp/sign/v1", post(pkp_sign).route_layer(gate.clone()))
        .route(
            "/web/pkp/sign/v1/",
            post(pkp_sign).route_layer(gate.clone()),
        )
        .route("/web/sign_session_key/v1", post(sign_session_key))
        .route("/web/encryption/sign", post(encryption_sign))
        .route("/web/encryption/sign/", post(encryption_sign))
        .route("/web/sign_session_key/v1/", post(sign_session_key))
        .route("/web/status", get(status))
        .route("/candela/v1/runs/{request_id}", get(get_run))
        .route(REGISTRY_CHANGE_PATH, post(registry_change))
        .route("/openapi.json", get(openapi))
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(limit, reject_oversize));
    let actions = Router::new()
        .route("/web/execute/v1", post(execute).route_layer(gate.clone()))
        .route("/web/execute/v1/", post(execute).route_layer(gate))
        .route("/web/action/upload/v1", post(upload_action))
        .route("/web/action/upload/v1/", post(upload_action))
        .layer(DefaultBodyLimit::max(crate::actions::body_limit(
            &node.cfg.actions,
        )))
        .layer(axum::middleware::from_fn_with_state(
            crate::actions::body_limit(&node.cfg.actions),
            reject_oversize,
        ));
    let peer = Router::new()
        .route("/peer/v1/message", post(peer_message))
        .route("/peer/v1/ping", post(peer_ping));
    client
        .merge(actions)
        .merge(peer)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(slow, slow_links))
        .with_state(node)
}

/// Serve until `shutdown` resolves.
pub async fn serve(
    node: Arc<Node>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&node.cfg.listen).await?;
    tracing::info!(index = node.me, listen = %node.cfg.listen, "node listening");
    axum::serve(listener, router(node))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
