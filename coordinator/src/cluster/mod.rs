//! Several front-ends on one PostgreSQL log: each either leads (holds the
//! writer lock and runs the sequencer) or follows (applies what the
//! database holds, and passes writes to the leader). A follower tries for
//! the lock every [`TRY_LEAD_EVERY`], so when the leader dies (its
//! connection, and so its lock, goes with it) one of them takes over within
//! about that long.
//!
//! Taking over: the lock, then a new epoch (which fences out any batch the
//! old leader still has in flight), then every entry the database holds
//! applied, and only then the sequencer. Losing the lock, or being deposed,
//! turns the leader back into a follower.

pub mod forward;

use std::sync::Arc;
use std::time::Duration;

use bounties::State;
use bounties::replay::Replayer;

use crate::node::{Node, Parts, Start};
use crate::sequencer::{RecoverError, catch_up};
use crate::shared::leases::SharedLeases;
use crate::shared::seen::SharedSeen;
use crate::store::LogStore;
use crate::store::postgres::PostgresLog;
use forward::ToLeader;

/// How often a follower tries for the writer lock, and a leader checks it
/// still holds it.
pub const TRY_LEAD_EVERY: Duration = Duration::from_millis(500);

/// A front-end on `log`, made of `parts` (whose store is `log`): it starts
/// as a follower, serving the state replayed from the log, and a task
/// leads or follows from then on. Signed requests and evaluation leases are
/// kept in the database, for every front-end. `url` is where this front-end serves
/// (what the others pass writes to while it leads).
pub fn join(
    mut parts: Parts,
    log: Arc<PostgresLog>,
    url: String,
) -> Result<Arc<Node>, RecoverError> {
    let forward = ToLeader::new(log.database(), &url);
    parts.replay_guard = Arc::new(SharedSeen::new(log.database()));
    parts.leases = Arc::new(SharedLeases::new(log.database()));
    let node = Node::open(parts, Start::Follow(forward.clone()))?;
    tokio::spawn(run(Arc::clone(&node), log, url, forward));
    Ok(node)
}

/// Lead or follow `log` for `node` until the process ends.
async fn run(node: Arc<Node>, log: Arc<PostgresLog>, url: String, forward: Arc<ToLeader>) {
    let wake = log.wakeups();
    loop {
        // Follow until the lock is ours.
        let epoch = loop {
            match try_lead(&log, &url).await {
                Ok(Some(epoch)) => break epoch,
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "could not try for the writer lock"),
            }
            let next_try = tokio::time::Instant::now() + TRY_LEAD_EVERY;
            loop {
                follow(&node).await;
                tokio::select! {
                    () = wake.notified() => {}
                    () = tokio::time::sleep_until(next_try) => break,
                }
                if tokio::time::Instant::now() >= next_try {
                    break;
                }
            }
        };
        // Nothing more can commit under the old epoch: apply all there is.
        let store = Arc::clone(&node.store);
        let from = State::clone(&node.state());
        let caught = tokio::task::spawn_blocking(move || apply_tail(store.as_ref(), from)).await;
        let state = match caught {
            Ok(Ok(state)) => state,
            failed => {
                tracing::error!(?failed, "cannot apply the log to take over; resigning");
                log.resign();
                tokio::time::sleep(TRY_LEAD_EVERY).await;
                continue;
            }
        };
        tracing::info!(epoch, head = state.head().seq, "leading the log");
        node.metrics.leader_changed(epoch, true);
        let sequencer = node.lead(state);
        // Lead while the sequencer runs and the lock holds.
        loop {
            tokio::time::sleep(TRY_LEAD_EVERY).await;
            if sequencer.is_finished() || !log.leads() {
                break;
            }
        }
        tracing::warn!(epoch, "no longer the writer; following");
        node.follow(forward.clone());
        log.resign();
        node.metrics.leader_changed(epoch, false);
        let _ = tokio::task::spawn_blocking(move || sequencer.join()).await;
    }
}

async fn try_lead(log: &Arc<PostgresLog>, url: &str) -> Result<Option<u64>, String> {
    let (log, url) = (Arc::clone(log), url.to_owned());
    match tokio::task::spawn_blocking(move || log.try_lead(Some(&url))).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// Apply what the store holds past this follower's head, and serve it (the
/// entries applied are the backlog it found: its lag when it looked).
async fn follow(node: &Arc<Node>) {
    let store = Arc::clone(&node.store);
    let from = State::clone(&node.state());
    let before = from.head().seq;
    match tokio::task::spawn_blocking(move || apply_tail(store.as_ref(), from)).await {
        Ok(Ok(state)) => {
            let applied = state.head().seq - before;
            node.metrics.followed(applied, applied);
            node.publish(state);
        }
        Ok(Err(e)) => tracing::error!(error = %e, "cannot apply the log's next entries"),
        Err(e) => tracing::error!(error = %e, "the follower's replay failed"),
    }
}

/// `state` with the store's entries after its head applied: every link,
/// rule and balance checked; signatures trusted (the leader verified each
/// before committing it, and the database is the operator's own, like the
/// leader; `coordinator audit` checks them all).
fn apply_tail(store: &dyn LogStore, state: State) -> Result<State, RecoverError> {
    catch_up(
        store,
        Replayer::from_state(state).trusting_through(u64::MAX),
    )
}
