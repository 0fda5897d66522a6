//! Who may read an artifact: a pure function of the state and the uploaders.
//!
//! A bounty's training set and base model are public. Its hidden set and its
//! submissions are sealed while it is open: only their owner (sponsor or
//! miner) and registered evaluators may read them; after the close, anyone.
//! An artifact nothing refers to yet is readable by its uploaders only.

use bounties::{AccountId, Hash32, State};

/// The read rule for one artifact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// Anyone.
    Public,
    /// These accounts and registered evaluators.
    Sealed(Vec<AccountId>),
    /// Its uploaders only.
    Private,
}

/// The rule for `hash` in `state`.
pub fn visibility(state: &State, hash: &Hash32) -> Visibility {
    let mut sealed_for: Vec<AccountId> = Vec::new();
    let mut public = false;
    for bounty in state.bounties() {
        let spec = &bounty.spec;
        // The base model is named by its weights hash; its file is that model's submission's.
        let base_file = spec
            .base_model
            .and_then(|w| state.model(&w))
            .and_then(|m| state.submission(m.submission))
            .map(|s| s.file_hash);
        if spec.train_dataset == *hash || base_file == Some(*hash) {
            public = true;
        }
        if spec.hidden_dataset == *hash {
            if bounty.is_sealed() {
                sealed_for.push(bounty.sponsor);
            } else {
                public = true;
            }
        }
        for s in state.submissions_of(bounty.id) {
            if s.file_hash == *hash {
                if bounty.is_sealed() {
                    sealed_for.push(s.miner);
                } else {
                    public = true;
                }
            }
        }
    }
    // Sealed anywhere wins: a hidden set reused by a closed and an open bounty stays sealed.
    if !sealed_for.is_empty() {
        sealed_for.sort();
        sealed_for.dedup();
        Visibility::Sealed(sealed_for)
    } else if public {
        Visibility::Public
    } else {
        Visibility::Private
    }
}

/// Whether `reader` may read an artifact with this rule and these uploaders.
pub fn may_read(
    state: &State,
    rule: &Visibility,
    uploaders: &[AccountId],
    reader: Option<&AccountId>,
) -> bool {
    match (rule, reader) {
        (Visibility::Public, _) => true,
        (_, None) => false,
        (Visibility::Sealed(owners), Some(r)) => owners.contains(r) || is_evaluator(state, r),
        (Visibility::Private, Some(r)) => uploaders.contains(r),
    }
}

/// A registered evaluator holding at least the minimum bond.
pub fn is_evaluator(state: &State, account: &AccountId) -> bool {
    state
        .evaluator(account)
        .is_some_and(|e| e.bond >= state.params().min_evaluator_bond)
}
