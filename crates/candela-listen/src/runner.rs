//! Running an action: the [`ActionRunner`] trait the engine calls, and
//! [`ClientRunner`], its implementation over the Candela network through
//! `candela_client::Client`.
use async_trait::async_trait;
use candela_client::{ActionSource, Client, ClientError, RequestAuth};
use k256::ecdsa::SigningKey;
use serde_json::Value;

/// One run of an action for one attempt of an event.
#[derive(Debug, Clone)]
pub struct ActionRun {
    /// The trigger.
    pub trigger: String,
    /// The request id every node sees; the same for a resend of the same
    /// attempt.
    pub request_id: String,
    /// The action.
    pub action: ActionSource,
    /// Its `jsParams`.
    pub params: Value,
    /// The wallet that authenticates the run.
    pub key: SigningKey,
}

/// The outcome of a run the network agreed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutput {
    /// The response at least a threshold of nodes agree on.
    pub response: String,
}

/// Why a run did not give an agreed response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// Nodes had already seen this request id: the attempt reached the
    /// network before (the listener stopped before it could record the
    /// answer). It must not be sent again. The text says what each node
    /// answered to the resend.
    #[error("the attempt had already reached the nodes: {0}")]
    AlreadyRun(String),
    /// Anything else: the action threw, too few nodes agreed, the network
    /// was unreachable.
    #[error("{0}")]
    Failed(String),
}

/// Runs actions. The engine is generic over it so its logic can be driven
/// without a network; the listener uses [`ClientRunner`].
#[async_trait]
pub trait ActionRunner: Send + Sync + 'static {
    /// Run `run.action` once with `run.request_id`.
    async fn run(&self, run: &ActionRun) -> Result<RunOutput, RunError>;
}

/// An [`ActionRunner`] over a Candela network.
pub struct ClientRunner {
    client: Client,
}

impl ClientRunner {
    /// Run actions on the network `client` talks to.
    pub fn new(client: Client) -> ClientRunner {
        ClientRunner { client }
    }
}

/// The error code a node answers for a request id it has already seen.
const REPLAYED: &str = "NodeRequestReplayed";

/// True when any node refused the run as a replay of a request id it had
/// already seen: this attempt reached the network before (a resend after a
/// stop). Nodes that had not received it ran it just now, so every node has
/// run it at most once, and sending it again would break that.
fn replayed(err: &ClientError) -> bool {
    match err {
        ClientError::ActionFailed { faults, .. } => {
            faults.iter().any(|f| f.reason.contains(REPLAYED))
        }
        _ => false,
    }
}

#[async_trait]
impl ActionRunner for ClientRunner {
    async fn run(&self, run: &ActionRun) -> Result<RunOutput, RunError> {
        let auth = RequestAuth::Session(self.client.session(&run.key));
        match self
            .client
            .execute_once(
                &run.request_id,
                &run.action,
                Some(run.params.clone()),
                &auth,
            )
            .await
        {
            Ok(out) => Ok(RunOutput {
                response: out.response,
            }),
            Err(e) if replayed(&e) => Err(RunError::AlreadyRun(e.to_string())),
            Err(e) => Err(RunError::Failed(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candela_client::NodeFault;

    fn fault(node: u32, reason: &str) -> NodeFault {
        NodeFault {
            node,
            url: format!("http://n{node}"),
            reason: reason.into(),
            misbehaved: false,
        }
    }

    #[test]
    fn a_replay_refused_by_any_node_means_the_attempt_reached_the_network() {
        let replay = "409 NodeRequestReplayed: request id x was already used";
        let err = |faults| ClientError::ActionFailed {
            needed: 3,
            agreed: 1,
            faults,
        };
        // Two nodes had it; the third ran it on the resend.
        assert!(replayed(&err(vec![
            fault(0, replay),
            fault(1, "response not agreed by enough nodes"),
            fault(2, replay)
        ])));
        assert!(!replayed(&err(vec![
            fault(0, "500 boom"),
            fault(2, "timed out")
        ])));
        assert!(!replayed(&ClientError::Input("x".into())));
    }
}
