//! The scheduler: the coordinator's own cron. When a bounty's deadline has
//! passed it sends `EndSubmissions` (which draws the evaluators), then
//! `CloseBounty` once the findings are final and their dispute windows have
//! passed, each signed by the operator like any message; a bounty that cannot
//! close yet is tried again on a later tick. Each close is first tried on a
//! copy of the state, so the operator signs and queues only closes that apply:
//! a bounty waiting for receipts costs the sequencer nothing each tick.

use std::sync::Arc;

use bounties::state::records::BountyStatus;
use bounties::{
    Action, BountyId, Entry, Message, Rejection, Signature, SignedMessage, State, TimestampMs,
    Verify, encoding,
};

use crate::node::{Node, NodeError};

/// End the submissions of every open bounty whose deadline has passed, and
/// close every scoring bounty that can close now; returns those closed.
pub async fn tick(node: &Node) -> Vec<BountyId> {
    let now = TimestampMs(node.clock.now_ms());
    let ending: Vec<BountyId> = node
        .state()
        .bounties()
        .filter(|b| b.status == BountyStatus::Open && b.spec.deadline_ms <= now)
        .map(|b| b.id)
        .collect();
    for bounty in ending {
        match node
            .append_as_operator(Action::EndSubmissions { bounty })
            .await
        {
            Ok(_) | Err(NodeError::Rejected(Rejection::BeforeDeadline { .. })) => {}
            Err(e) => tracing::warn!(%bounty, error = %e, "scheduler: ending submissions failed"),
        }
    }
    let state = node.state();
    let due: Vec<BountyId> = state
        .bounties()
        .filter(|b| b.status == BountyStatus::Scoring)
        .map(|b| b.id)
        .filter(|&bounty| !waits(&state, Action::CloseBounty { bounty }, now))
        .collect();
    let mut closed = Vec::new();
    for bounty in due {
        match node
            .append_as_operator(Action::CloseBounty { bounty })
            .await
        {
            Ok(_) => {
                node.metrics.closed();
                closed.push(bounty);
            }
            // Waiting for receipts, a dispute, or a dispute window: later.
            Err(NodeError::Rejected(
                Rejection::PendingEvaluations { .. } | Rejection::DisputeWindowOpen { .. },
            )) => {}
            Err(e) => tracing::warn!(%bounty, error = %e, "scheduler: closing failed"),
        }
    }
    closed
}

/// Whether `action`, sent by the operator at `now`, would be refused only for
/// waiting (receipts, a dispute, a dispute window): a dry run on a copy of the
/// state with the signature unchecked. Any other outcome is left to the real
/// append, so a failure is reported where it happens.
fn waits(state: &State, action: Action, now: TimestampMs) -> bool {
    let operator = state.operator();
    let message = Message {
        chain_id: state.chain_id().to_owned(),
        signer: operator,
        nonce: state.nonce(&operator) + 1,
        action,
    };
    let head = state.head();
    let unsigned = SignedMessage {
        message: encoding::encode(&message),
        signature: Signature([0; 64]),
    };
    let entry = Entry::next(head.seq, head.hash, now.max(head.timestamp), unsigned);
    matches!(
        state.applied(&entry, Verify::Skip),
        Err(Rejection::PendingEvaluations { .. } | Rejection::DisputeWindowOpen { .. })
    )
}

/// Tick forever at the configured interval, while this node writes the log
/// (a follower's would only pass the writer's own closes to it).
pub async fn run(node: Arc<Node>) {
    let mut interval = tokio::time::interval(node.config.scheduler_tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if node.leads() {
            tick(&node).await;
        }
    }
}
