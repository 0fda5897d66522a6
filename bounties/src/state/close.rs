//! Closing a bounty: judge, pay the reward, settle deposits, refund the rest,
//! record the winner's licence, unseal.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::records::{Bounty, BountyStatus, LicenceInfo, Payout, Settlement};
use super::{Ctx, State};
use crate::ids::{AccountId, Amount, BountyId, Hash32, SubmissionId};
use crate::judging::{Candidate, judge};
use crate::rejection::Rejection;

impl State {
    pub(super) fn close_bounty(&mut self, ctx: &Ctx, id: BountyId) -> Result<(), Rejection> {
        let bounty = self.scoring_bounty(id)?.clone();
        let spec = Arc::clone(&bounty.spec);
        let sids: Vec<SubmissionId> = self.submission_ids(id).collect();
        let until = spec
            .deadline_ms
            .saturating_add_ms(self.params.close_grace_ms);
        // Before the grace ends, a close waits for every finding to be final
        // and for every dispute window to pass; after it, nothing holds it.
        if ctx.now < until {
            let pending = sids
                .iter()
                .filter(|s| {
                    self.submissions
                        .get(*s)
                        .is_some_and(|s| s.final_score.is_none())
                })
                .count() as u32;
            if pending > 0 {
                return Err(Rejection::PendingEvaluations {
                    bounty: id,
                    pending,
                    until,
                });
            }
            let window_end = sids
                .iter()
                .filter_map(|s| self.submissions.get(s))
                .filter(|s| s.dispute.is_none())
                .filter_map(|s| s.final_score.as_ref())
                .map(|f| f.final_at.saturating_add_ms(self.params.dispute_window_ms))
                .max();
            if let Some(w) = window_end.filter(|w| ctx.now < *w) {
                return Err(Rejection::DisputeWindowOpen {
                    bounty: id,
                    until: w,
                });
            }
        }

        // Deposits: a file a quorum found unscorable forfeits to the sponsor;
        // every other deposit (scored, or never judged) goes back to its miner.
        let mut deposits_returned = Amount::ZERO;
        let mut deposits_forfeited = Amount::ZERO;
        let mut returns: Vec<(AccountId, Amount)> = Vec::new();
        for sid in &sids {
            let Some(s) = self.submissions.get(sid) else {
                continue;
            };
            let unscorable = s.final_score.as_ref().is_some_and(|f| f.score().is_none());
            let sum = if unscorable {
                &mut deposits_forfeited
            } else {
                returns.push((s.miner, s.deposit));
                &mut deposits_returned
            };
            *sum = sum
                .checked_add(s.deposit)
                .ok_or(Rejection::Overflow { what: "deposits" })?;
        }
        for (miner, amount) in returns {
            self.credit(miner, amount)?;
        }

        // Submissions with a final score, in log order, with their per-example scores.
        let finals: Vec<(SubmissionId, AccountId, crate::ids::Score, Arc<Vec<i64>>)> = sids
            .iter()
            .filter_map(|sid| {
                let s = self.submissions.get(sid)?;
                let score = s.final_score.as_ref()?.score()?;
                let examples = self.final_examples.get(sid).cloned().unwrap_or_default();
                Some((*sid, s.miner, score, examples))
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
            // The draw seed, fixed at EndSubmissions: a closer cannot grind it.
            bounty.draw_seed.unwrap_or(Hash32::ZERO),
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
            .and_then(|r| r.checked_add(deposits_forfeited))
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

        let b = self.scoring_bounty(id)?;
        b.status = BountyStatus::Closed;
        b.closed_at = Some(ctx.now);
        b.reward_escrow = Amount::ZERO;
        b.budget_escrow = Amount::ZERO;
        b.deposit_escrow = Amount::ZERO;
        b.settlement = Some(Arc::new(Settlement {
            records: judgement.records,
            winner,
            payouts,
            reward_refund: Amount(judgement.unpaid),
            budget_refund: bounty.budget_escrow,
            deposits_returned,
            deposits_forfeited,
        }));
        Ok(())
    }

    /// The bounty, if it exists and is scoring (its submissions ended).
    fn scoring_bounty(&mut self, id: BountyId) -> Result<&mut Bounty, Rejection> {
        let bounty = self
            .bounties
            .get_mut(&id)
            .ok_or(Rejection::UnknownBounty(id))?;
        match bounty.status {
            BountyStatus::Scoring => Ok(bounty),
            BountyStatus::Open => Err(Rejection::SubmissionsNotEnded(id)),
            status => Err(Rejection::BountyNotOpen {
                bounty: id,
                status: status.as_str(),
            }),
        }
    }

    /// A bounty's submission ids in log order.
    pub(super) fn submission_ids(&self, id: BountyId) -> impl Iterator<Item = SubmissionId> + '_ {
        self.bounty_submissions
            .range((id, SubmissionId(0))..=(id, SubmissionId(u64::MAX)))
            .map(|(_, s)| *s)
    }
}
