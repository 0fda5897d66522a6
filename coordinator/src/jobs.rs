//! Evaluation jobs: which submission a registered evaluator should score next.
//!
//! A job is a submission of an open bounty without a final score. A lease
//! gives it to one evaluator for a while; an expired lease returns it to the
//! queue; an evaluator never gets the same submission twice (its receipt is
//! in the state once posted, and its leases are remembered until then).

use std::collections::{BTreeMap, BTreeSet};

use bounties::state::records::BountyStatus;
use bounties::{AccountId, BountyId, Hash32, State, SubmissionId};
use serde::Serialize;

/// One lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Lease {
    /// The token naming it.
    pub token: String,
    /// Who holds it.
    pub evaluator: AccountId,
    /// The submission to score.
    pub submission: SubmissionId,
    /// Its bounty.
    pub bounty: BountyId,
    /// The model file to download.
    pub model: Hash32,
    /// The hidden set to score it on.
    pub dataset: Hash32,
    /// When the lease lapses.
    pub expires_at_ms: u64,
}

/// The leases in force and the history that keeps jobs from repeating.
#[derive(Debug, Default)]
pub struct Leases {
    active: BTreeMap<String, Lease>,
    given: BTreeSet<(AccountId, SubmissionId)>,
}

impl Leases {
    /// Drop leases that lapsed by `now`.
    pub fn expire(&mut self, now_ms: u64) {
        self.active.retain(|_, l| l.expires_at_ms > now_ms);
    }

    /// The leases in force.
    pub fn active(&self) -> impl Iterator<Item = &Lease> {
        self.active.values()
    }

    /// Lease the oldest submission that `evaluator` may score, if any.
    pub fn lease(
        &mut self,
        state: &State,
        evaluator: AccountId,
        now_ms: u64,
        ttl_ms: u64,
        token: String,
    ) -> Option<Lease> {
        self.expire(now_ms);
        for bounty in state.bounties() {
            if bounty.status != BountyStatus::Open {
                continue;
            }
            let quorum = u32::from(bounty.spec.quorum.max(1));
            for s in state.submissions_of(bounty.id) {
                if s.final_score.is_some() || self.given.contains(&(evaluator, s.id)) {
                    continue;
                }
                let receipts = state.receipts_for(s.id);
                if receipts.iter().any(|r| r.evaluator == evaluator) {
                    continue;
                }
                // Lease no more at once than the receipts still needed.
                let leased = self
                    .active
                    .values()
                    .filter(|l| l.submission == s.id)
                    .count() as u32;
                let needed = quorum.saturating_sub(receipts.len() as u32).max(1);
                if leased >= needed {
                    continue;
                }
                let lease = Lease {
                    token: token.clone(),
                    evaluator,
                    submission: s.id,
                    bounty: bounty.id,
                    model: s.file_hash,
                    dataset: bounty.spec.hidden_dataset,
                    expires_at_ms: now_ms.saturating_add(ttl_ms),
                };
                self.given.insert((evaluator, s.id));
                self.active.insert(token, lease.clone());
                return Some(lease);
            }
        }
        None
    }

    /// A receipt for `submission` by `evaluator` landed: its lease is done.
    pub fn complete(&mut self, evaluator: &AccountId, submission: SubmissionId) {
        self.active
            .retain(|_, l| !(l.evaluator == *evaluator && l.submission == submission));
    }
}
