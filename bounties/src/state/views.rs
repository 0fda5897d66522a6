//! Read models the services serve: accounts, bounties, leaderboards, provenance, licences.

use serde::{Deserialize, Serialize};

use super::State;
use super::records::{
    ArtifactUse, Bounty, BountyStatus, Evaluator, Licence, Model, Origin, ReceiptRecord, Submission,
};
use crate::ids::{AccountId, Amount, BountyId, Hash32, Score, SubmissionId, TimestampMs};
use crate::message::Unscorable;
use crate::spec::LicenceTerms;

/// An account's public state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountView {
    /// The account.
    pub account: AccountId,
    /// Its balance.
    pub balance: Amount,
    /// Its last used nonce (the next message needs this + 1).
    pub nonce: u64,
    /// Its evaluator record, if registered.
    #[serde(deserialize_with = "crate::json::present")]
    pub evaluator: Option<Evaluator>,
}

/// One line of a bounty's leaderboard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaderboardRow {
    /// 1-based rank among final scores (best first, ties to the earlier); `None` while pending.
    #[serde(deserialize_with = "crate::json::present")]
    pub rank: Option<u32>,
    /// The submission.
    pub submission: SubmissionId,
    /// The miner.
    pub miner: AccountId,
    /// The weights hash.
    pub weights_hash: Hash32,
    /// The final score, once the panel agreed.
    #[serde(deserialize_with = "crate::json::present")]
    pub score: Option<Score>,
    /// Why the file is unscorable, when that is the final finding.
    #[serde(deserialize_with = "crate::json::present")]
    pub unscorable: Option<Unscorable>,
    /// Receipts so far.
    pub receipts: u32,
    /// When submitted.
    pub submitted_at: TimestampMs,
    /// Whether it set a new record (known at close).
    pub record: bool,
    /// What it was paid at close.
    pub payout: Amount,
}

/// Everything known about a model.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// The model record (miner, bounty, parent, licence, royalties).
    pub model: Model,
    /// Its file (the first submission's, or the published one).
    pub file_hash: Hash32,
    /// The submission that first named it (none for a published model).
    #[serde(deserialize_with = "crate::json::present")]
    pub submission: Option<Submission>,
    /// The bounty it was submitted to.
    #[serde(deserialize_with = "crate::json::present")]
    pub bounty_title: Option<String>,
    /// The bounty's status.
    #[serde(deserialize_with = "crate::json::present")]
    pub bounty_status: Option<BountyStatus>,
    /// Its receipts.
    pub receipts: Vec<ReceiptRecord>,
    /// The licence terms it is (or, if it wins, will be) released under.
    pub licence_terms: LicenceTerms,
    /// Licences sold for it.
    pub licences: Vec<Licence>,
    /// Models fine-tuned from it.
    pub children: Vec<Hash32>,
}

impl State {
    /// An account's balance.
    pub fn balance(&self, account: &AccountId) -> Amount {
        self.balances.get(account).copied().unwrap_or_default()
    }

    /// An account's last used nonce (0 before its first message).
    pub fn nonce(&self, account: &AccountId) -> u64 {
        self.nonces.get(account).copied().unwrap_or(0)
    }

    /// An account's public state.
    pub fn account(&self, account: &AccountId) -> AccountView {
        AccountView {
            account: *account,
            balance: self.balance(account),
            nonce: self.nonce(account),
            evaluator: self.evaluators.get(account).cloned(),
        }
    }

    /// All accounts with a balance, in account order.
    pub fn balances(&self) -> impl Iterator<Item = (&AccountId, &Amount)> {
        self.balances.iter()
    }

    /// A bounty.
    pub fn bounty(&self, id: BountyId) -> Option<&Bounty> {
        self.bounties.get(&id)
    }

    /// All bounties, oldest first.
    pub fn bounties(&self) -> impl Iterator<Item = &Bounty> {
        self.bounties.values()
    }

    /// A submission.
    pub fn submission(&self, id: SubmissionId) -> Option<&Submission> {
        self.submissions.get(&id)
    }

    /// A bounty's submissions in log order.
    pub fn submissions_of(&self, id: BountyId) -> Vec<&Submission> {
        self.submission_ids(id)
            .filter_map(|s| self.submissions.get(&s))
            .collect()
    }

    /// A submission's receipts, in evaluator order.
    pub fn receipts_for(&self, id: SubmissionId) -> Vec<&ReceiptRecord> {
        self.receipts_of(id).collect()
    }

    /// The per-example scores behind a final score.
    pub fn final_examples(&self, id: SubmissionId) -> Option<&[i64]> {
        self.final_examples.get(&id).map(|v| v.as_slice())
    }

    /// What the log names `hash` as, if anything (an index lookup).
    pub fn artifact_use(&self, hash: &Hash32) -> Option<ArtifactUse> {
        self.artifact_uses.get(hash).copied()
    }

    /// Every artifact the log names, with what it names it as, in hash order.
    pub fn artifact_uses(&self) -> impl Iterator<Item = (&Hash32, &ArtifactUse)> {
        self.artifact_uses.iter()
    }

    /// An evaluator.
    pub fn evaluator(&self, account: &AccountId) -> Option<&Evaluator> {
        self.evaluators.get(account)
    }

    /// A model by weights hash.
    pub fn model(&self, weights_hash: &Hash32) -> Option<&Model> {
        self.models.get(weights_hash)
    }

    /// A bounty's leaderboard: final scores best first (ties to the earlier),
    /// then pending submissions in log order.
    pub fn leaderboard(&self, id: BountyId) -> Option<Vec<LeaderboardRow>> {
        let bounty = self.bounties.get(&id)?;
        let metric = bounty.spec.judging.metric;
        let settlement = bounty.settlement.as_deref();
        let mut rows: Vec<LeaderboardRow> = self
            .submissions_of(id)
            .into_iter()
            .map(|s| LeaderboardRow {
                rank: None,
                submission: s.id,
                miner: s.miner,
                weights_hash: s.weights_hash,
                score: s.final_score.as_ref().and_then(|f| f.score()),
                unscorable: s.final_score.as_ref().and_then(|f| match f.finding {
                    crate::message::Finding::Unscorable(why) => Some(why),
                    crate::message::Finding::Scored { .. } => None,
                }),
                receipts: s.receipts,
                submitted_at: s.submitted_at,
                record: settlement.is_some_and(|st| st.records.iter().any(|r| r.0 == s.id)),
                payout: settlement
                    .and_then(|st| st.payouts.iter().find(|p| p.submission == s.id))
                    .map_or(Amount::ZERO, |p| p.amount),
            })
            .collect();
        rows.sort_by(|a, b| match (a.score, b.score) {
            (Some(x), Some(y)) => metric
                .improvement(y, x)
                .cmp(&0)
                .then(a.submission.cmp(&b.submission)),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.submission.cmp(&b.submission),
        });
        for (i, row) in rows.iter_mut().enumerate() {
            if row.score.is_some() {
                row.rank = Some(i as u32 + 1);
            }
        }
        Some(rows)
    }

    /// Everything known about a model: bounty, miner, receipts, scores,
    /// licence terms, licences sold, royalties, parent and children.
    pub fn provenance(&self, weights_hash: &Hash32) -> Option<Provenance> {
        let model = self.models.get(weights_hash)?;
        let (file_hash, submission, bounty, licence_terms) = match &model.origin {
            Origin::Submitted { submission, bounty } => {
                let submission = self.submissions.get(submission)?;
                let bounty = self.bounties.get(bounty)?;
                let terms = bounty.spec.licence.clone();
                (submission.file_hash, Some(submission), Some(bounty), terms)
            }
            Origin::Published { file_hash, .. } => {
                let terms = model.licence.as_ref()?.terms.clone();
                (*file_hash, None, None, terms)
            }
        };
        Some(Provenance {
            model: model.clone(),
            file_hash,
            submission: submission.cloned(),
            bounty_title: bounty.map(|b| b.spec.title.clone()),
            bounty_status: bounty.map(|b| b.status),
            receipts: submission
                .map(|s| self.receipts_of(s.id).cloned().collect())
                .unwrap_or_default(),
            licence_terms,
            licences: self
                .licences_for(weights_hash)
                .into_iter()
                .cloned()
                .collect(),
            children: self
                .children
                .range((*weights_hash, Hash32::ZERO)..=(*weights_hash, Hash32([0xff; 32])))
                .map(|(_, c)| *c)
                .collect(),
        })
    }

    /// A licence by id.
    pub fn licence(&self, id: u64) -> Option<&Licence> {
        self.licences.get(&id)
    }

    /// Licences bought by an account, oldest first.
    pub fn licences_of(&self, licensee: &AccountId) -> Vec<&Licence> {
        self.licences_by_licensee
            .range((*licensee, 0)..=(*licensee, u64::MAX))
            .filter_map(|(_, id)| self.licences.get(id))
            .collect()
    }

    /// Licences sold for a model, oldest first.
    pub fn licences_for(&self, model: &Hash32) -> Vec<&Licence> {
        self.licences_by_model
            .range((*model, 0)..=(*model, u64::MAX))
            .filter_map(|(_, id)| self.licences.get(id))
            .collect()
    }
}
