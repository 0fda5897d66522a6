//! Evaluation jobs: which submission an evaluator should score next.
//!
//! Jobs exist only for bounties whose submissions have ended. An evaluator
//! is leased a submission it was drawn for (its panel or its dispute panel)
//! and has not yet posted a receipt for; asking again while a lease is in
//! force returns the same lease. With nothing assigned, it may be leased an
//! audit: a final finding still inside its dispute window, which it checks
//! and contests if it disagrees (at most [`AUDITS_PER_SUBMISSION`] audits at
//! once per submission, each evaluator once). A lease is what lets an
//! evaluator read the sealed model and hidden set it names.
//!
//! [`Leases`] is the rule, over leases held in memory; a [`LeaseBook`]
//! keeps them: [`MemoryLeases`] for one front-end, or
//! [`crate::shared::leases::SharedLeases`] in PostgreSQL for several, so
//! that no two front-ends lease one job twice.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use bounties::state::records::BountyStatus;
use bounties::{AccountId, BountyId, Hash32, State, SubmissionId};
pub use bounties_api::{JobKind, Lease};

use crate::artifacts::BoxFuture;
use crate::store::StoreError;

/// Where a front-end keeps the leases it and its peers gave.
pub trait LeaseBook: Send + Sync + 'static {
    /// Lease the oldest job `evaluator` may do in `state` ([`Leases::lease`]),
    /// naming a new lease `token`.
    fn lease(
        &self,
        state: Arc<State>,
        evaluator: AccountId,
        now_ms: u64,
        ttl_ms: u64,
        token: String,
    ) -> BoxFuture<'_, Result<Option<Lease>, StoreError>>;

    /// Whether `reader` holds a lease in force naming `hash` ([`Leases::grants`]).
    fn grants(
        &self,
        reader: AccountId,
        hash: Hash32,
        now_ms: u64,
    ) -> BoxFuture<'_, Result<bool, StoreError>>;

    /// The leases in force at `now_ms`.
    fn active(&self, now_ms: u64) -> BoxFuture<'_, Result<Vec<Lease>, StoreError>>;

    /// A receipt for `submission` by `evaluator` landed: its lease is done.
    fn complete(
        &self,
        evaluator: AccountId,
        submission: SubmissionId,
    ) -> BoxFuture<'_, Result<(), StoreError>>;
}

/// Leases in this front-end's memory.
#[derive(Debug, Default)]
pub struct MemoryLeases(Mutex<Leases>);

impl MemoryLeases {
    fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Leases) -> T,
    ) -> BoxFuture<'_, Result<T, StoreError>> {
        let out = f(&mut self.0.lock().expect("lock"));
        Box::pin(std::future::ready(Ok(out)))
    }
}

impl LeaseBook for MemoryLeases {
    fn lease(
        &self,
        state: Arc<State>,
        evaluator: AccountId,
        now_ms: u64,
        ttl_ms: u64,
        token: String,
    ) -> BoxFuture<'_, Result<Option<Lease>, StoreError>> {
        self.with(|l| l.lease(&state, evaluator, now_ms, ttl_ms, token))
    }

    fn grants(
        &self,
        reader: AccountId,
        hash: Hash32,
        now_ms: u64,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        self.with(|l| l.grants(&reader, &hash, now_ms))
    }

    fn active(&self, now_ms: u64) -> BoxFuture<'_, Result<Vec<Lease>, StoreError>> {
        self.with(|l| {
            l.expire(now_ms);
            l.active().cloned().collect()
        })
    }

    fn complete(
        &self,
        evaluator: AccountId,
        submission: SubmissionId,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        self.with(|l| l.complete(&evaluator, submission))
    }
}

/// Audits of one final finding that may be leased at once.
pub const AUDITS_PER_SUBMISSION: usize = 2;

/// The leases in force, and the audits already given.
#[derive(Debug, Default)]
pub struct Leases {
    active: BTreeMap<String, Lease>,
    audited: BTreeSet<(AccountId, SubmissionId)>,
}

impl Leases {
    /// Leases `active` (by token) and the audits already given, as stored.
    pub fn from_parts(
        active: impl IntoIterator<Item = Lease>,
        audited: impl IntoIterator<Item = (AccountId, SubmissionId)>,
    ) -> Leases {
        Leases {
            active: active.into_iter().map(|l| (l.token.clone(), l)).collect(),
            audited: audited.into_iter().collect(),
        }
    }

    /// Drop leases that lapsed by `now`.
    pub fn expire(&mut self, now_ms: u64) {
        self.active.retain(|_, l| l.expires_at_ms > now_ms);
    }

    /// The leases in force.
    pub fn active(&self) -> impl Iterator<Item = &Lease> {
        self.active.values()
    }

    /// Whether `reader` holds a lease in force that names `hash` (as its
    /// model or its dataset). Leases are given only for scoring bounties, and
    /// once a bounty closes its files are public, so no status check is needed.
    pub fn grants(&self, reader: &AccountId, hash: &Hash32, now_ms: u64) -> bool {
        self.active.values().any(|l| {
            l.evaluator == *reader
                && l.expires_at_ms > now_ms
                && (l.model == *hash || l.dataset == *hash)
        })
    }

    /// Lease the oldest job `evaluator` may do, if any.
    pub fn lease(
        &mut self,
        state: &State,
        evaluator: AccountId,
        now_ms: u64,
        ttl_ms: u64,
        token: String,
    ) -> Option<Lease> {
        self.expire(now_ms);
        // Asking again while a drawn job is still to do returns the same lease.
        let still_to_do = |l: &Lease| {
            l.evaluator == evaluator
                && l.kind != JobKind::Audit
                && state
                    .submission(l.submission)
                    .is_some_and(|s| s.final_score.is_none())
                && state
                    .receipts_for(l.submission)
                    .iter()
                    .all(|r| r.evaluator != evaluator)
        };
        if let Some(held) = self.active.values().find(|l| still_to_do(l)) {
            return Some(held.clone());
        }
        let window = state.params().dispute_window_ms;
        let mut audit: Option<(BountyId, SubmissionId)> = None;
        for bounty in state.bounties() {
            if bounty.status != BountyStatus::Scoring {
                continue;
            }
            for s in state.submissions_of(bounty.id) {
                let posted = state
                    .receipts_for(s.id)
                    .iter()
                    .any(|r| r.evaluator == evaluator);
                if posted || s.miner == evaluator {
                    continue;
                }
                let in_dispute = s.dispute.as_ref().filter(|_| s.final_score.is_none());
                let kind = if in_dispute.is_some_and(|d| d.panel.contains(&evaluator)) {
                    JobKind::Dispute
                } else if s.final_score.is_none() && s.panel.contains(&evaluator) {
                    JobKind::Panel
                } else {
                    let auditable = s.dispute.is_none()
                        && !s.panel.contains(&evaluator)
                        && s.final_score
                            .as_ref()
                            .is_some_and(|f| now_ms < f.final_at.0.saturating_add(window));
                    let audits = self
                        .active
                        .values()
                        .filter(|l| l.submission == s.id && l.kind == JobKind::Audit)
                        .count();
                    if audit.is_none()
                        && auditable
                        && audits < AUDITS_PER_SUBMISSION
                        && !self.audited.contains(&(evaluator, s.id))
                    {
                        audit = Some((bounty.id, s.id));
                    }
                    continue;
                };
                return Some(self.give(
                    state, evaluator, kind, bounty.id, s.id, now_ms, ttl_ms, token,
                ));
            }
        }
        let (bounty, sid) = audit?;
        self.audited.insert((evaluator, sid));
        Some(self.give(
            state,
            evaluator,
            JobKind::Audit,
            bounty,
            sid,
            now_ms,
            ttl_ms,
            token,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn give(
        &mut self,
        state: &State,
        evaluator: AccountId,
        kind: JobKind,
        bounty: BountyId,
        sid: SubmissionId,
        now_ms: u64,
        ttl_ms: u64,
        token: String,
    ) -> Lease {
        let s = state.submission(sid).expect("leased from the state");
        let spec = &state.bounty(bounty).expect("leased from the state").spec;
        let lease = Lease {
            token: token.clone(),
            evaluator,
            kind,
            submission: sid,
            bounty,
            model: s.file_hash,
            weights_hash: s.weights_hash,
            dataset: spec.hidden_dataset,
            expires_at_ms: now_ms.saturating_add(ttl_ms),
        };
        self.active.insert(token, lease.clone());
        lease
    }

    /// A receipt for `submission` by `evaluator` landed (or an audit agreed): its lease is done.
    pub fn complete(&mut self, evaluator: &AccountId, submission: SubmissionId) {
        self.active
            .retain(|_, l| !(l.evaluator == *evaluator && l.submission == submission));
    }
}
