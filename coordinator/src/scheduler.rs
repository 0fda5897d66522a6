//! The scheduler: the coordinator's own cron. When a bounty's deadline has
//! passed it sends `CloseBounty`, signed by the operator, like any message;
//! one still waiting for evaluations is tried again on a later tick.

use std::sync::Arc;

use bounties::state::records::BountyStatus;
use bounties::{Action, BountyId, Rejection, TimestampMs};

use crate::error::ApiError;
use crate::node::Node;

/// Close every open bounty whose deadline has passed and that can close now;
/// returns those closed.
pub async fn tick(node: &Node) -> Vec<BountyId> {
    let now = TimestampMs(node.clock.now_ms());
    let due: Vec<BountyId> = node
        .state()
        .bounties()
        .filter(|b| b.status == BountyStatus::Open && b.spec.deadline_ms <= now)
        .map(|b| b.id)
        .collect();
    let mut closed = Vec::new();
    for bounty in due {
        match node
            .submit_as_operator(Action::CloseBounty { bounty })
            .await
        {
            Ok(_) => {
                node.metrics.closed();
                closed.push(bounty);
            }
            // Waiting for receipts (or a clock between deadline and grace): later.
            Err(ApiError::Rejected(Rejection::PendingEvaluations { .. })) => {}
            Err(e) => eprintln!("scheduler: closing bounty {bounty}: {e}"),
        }
    }
    closed
}

/// Tick forever at the configured interval.
pub async fn run(node: Arc<Node>) {
    let mut interval = tokio::time::interval(node.config.scheduler_tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        tick(&node).await;
    }
}
