//! Closing a bounty: judge, pay the reward, refund the rest, record the winner's licence, unseal.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::records::{BountyStatus, LicenceInfo, Payout, Settlement};
use super::{Ctx, State};
use crate::ids::{AccountId, Amount, BountyId, SubmissionId};
use crate::judging::{Candidate, judge};
use crate::rejection::Rejection;

impl State {
    pub(super) fn close_bounty(&mut self, ctx: &Ctx, id: BountyId) -> Result<(), Rejection> {
        let bounty = self.open_bounty_mut(id)?.clone();
        let spec = Arc::clone(&bounty.spec);
        if ctx.now < spec.deadline_ms {
            return Err(Rejection::BeforeDeadline {
                bounty: id,
                deadline: spec.deadline_ms,
            });
        }
        let sids: Vec<SubmissionId> = self.submission_ids(id).collect();
        let pending = sids
            .iter()
            .filter(|s| {
                self.submissions
                    .get(*s)
                    .is_some_and(|s| s.final_score.is_none())
            })
            .count() as u32;
        let until = spec
            .deadline_ms
            .saturating_add_ms(self.params.close_grace_ms);
        if pending > 0 && ctx.now < until {
            return Err(Rejection::PendingEvaluations {
                bounty: id,
                pending,
                until,
            });
        }

        // Submissions with a final score, in log order, with their per-example scores.
        let finals: Vec<(SubmissionId, AccountId, crate::ids::Score, Arc<Vec<i64>>)> = sids
            .iter()
            .filter_map(|sid| {
                let s = self.submissions.get(sid)?;
                let fin = s.final_score.as_ref()?;
                let examples = self.final_examples.get(sid).cloned().unwrap_or_default();
                Some((*sid, s.miner, fin.score, examples))
            })
            .collect();
        let candidates: Vec<Candidate<'_>> = finals
            .iter()
            .map(|(sid, miner, score, ex)| Candidate {
                submission: *sid,
                miner: *miner,
                score: *score,
                examples: ex,
            })
            .collect();
        let judgement = judge(
            &spec.judging,
            &spec.payout,
            id,
            &candidates,
            bounty.reward_escrow.0,
            ctx.prev_hash,
        )?;

        let mut contributors: BTreeMap<AccountId, u128> = BTreeMap::new();
        let mut payouts = Vec::with_capacity(judgement.payouts.len());
        for &(submission, miner, amount) in &judgement.payouts {
            self.credit(miner, Amount(amount))?;
            *contributors.entry(miner).or_default() += amount;
            payouts.push(Payout {
                submission,
                miner,
                amount: Amount(amount),
            });
        }
        let refund = Amount(judgement.unpaid)
            .checked_add(bounty.budget_escrow)
            .ok_or(Rejection::Overflow { what: "refund" })?;
        self.credit(bounty.sponsor, refund)?;

        let winner = judgement
            .winner
            .and_then(|sid| self.submissions.get(&sid))
            .map(|s| s.weights_hash);
        if let Some(model) = winner.and_then(|w| self.models.get_mut(&w)) {
            model.licence = Some(Arc::new(LicenceInfo {
                terms: spec.licence.clone(),
                royalties: spec.royalties.clone(),
                sponsor: bounty.sponsor,
                contributors: contributors
                    .into_iter()
                    .map(|(a, v)| (a, Amount(v)))
                    .collect(),
            }));
        }

        let b = self.open_bounty_mut(id)?;
        b.status = BountyStatus::Closed;
        b.closed_at = Some(ctx.now);
        b.reward_escrow = Amount::ZERO;
        b.budget_escrow = Amount::ZERO;
        b.settlement = Some(Arc::new(Settlement {
            records: judgement.records,
            winner,
            payouts,
            reward_refund: Amount(judgement.unpaid),
            budget_refund: bounty.budget_escrow,
        }));
        Ok(())
    }

    /// A bounty's submission ids in log order.
    pub(super) fn submission_ids(&self, id: BountyId) -> impl Iterator<Item = SubmissionId> + '_ {
        self.bounty_submissions
            .range((id, SubmissionId(0))..=(id, SubmissionId(u64::MAX)))
            .map(|(_, s)| *s)
    }
}
