//! Evaluators and receipts: bonds, fees, quorum, and forfeits for contradicting a final score.

use std::sync::Arc;

use super::records::{Evaluator, FinalScore, ReceiptRecord};
use super::{Ctx, State};
use crate::encoding::example_scores_digest;
use crate::ids::{AccountId, Amount, SubmissionId};
use crate::message::Receipt;
use crate::rejection::Rejection;
use crate::split::bps_of;

impl State {
    pub(super) fn register_evaluator(&mut self, ctx: &Ctx, bond: Amount) -> Result<(), Rejection> {
        if bond.is_zero() {
            return Err(Rejection::ZeroAmount);
        }
        let mut evaluator = self
            .evaluators
            .get(&ctx.signer)
            .cloned()
            .unwrap_or(Evaluator {
                bond: Amount::ZERO,
                receipts: 0,
                forfeited: Amount::ZERO,
            });
        evaluator.bond = evaluator
            .bond
            .checked_add(bond)
            .ok_or(Rejection::Overflow { what: "bond" })?;
        if evaluator.bond < self.params.min_evaluator_bond {
            return Err(Rejection::BondTooSmall {
                min: self.params.min_evaluator_bond,
            });
        }
        self.debit(ctx.signer, bond)?;
        self.evaluators.insert(ctx.signer, evaluator);
        Ok(())
    }

    pub(super) fn post_receipt(&mut self, ctx: &Ctx, receipt: Receipt) -> Result<(), Rejection> {
        let in_good_standing = self
            .evaluators
            .get(&ctx.signer)
            .is_some_and(|e| e.bond >= self.params.min_evaluator_bond && !e.bond.is_zero());
        if !in_good_standing {
            return Err(Rejection::NotEvaluator(ctx.signer));
        }
        let sid = receipt.submission;
        let submission = self
            .submissions
            .get(&sid)
            .cloned()
            .ok_or(Rejection::UnknownSubmission(sid))?;
        let bounty = self.open_bounty_mut(submission.bounty)?;
        let spec = Arc::clone(&bounty.spec);
        if receipt.dataset != spec.hidden_dataset {
            return Err(Rejection::WrongDataset {
                expected: spec.hidden_dataset,
                got: receipt.dataset,
            });
        }
        if receipt.example_scores.is_empty() {
            return Err(Rejection::NoExampleScores);
        }
        if example_scores_digest(&receipt.example_scores) != receipt.example_digest {
            return Err(Rejection::DigestMismatch);
        }
        if submission.miner == ctx.signer {
            return Err(Rejection::SelfEvaluation);
        }
        if self.receipts.contains_key(&(sid, ctx.signer)) {
            return Err(Rejection::DuplicateReceipt(sid));
        }
        let verdict = (receipt.score, receipt.example_digest);
        let mut record = ReceiptRecord {
            seq: ctx.seq,
            evaluator: ctx.signer,
            evaluator_build: receipt.evaluator_build,
            score: receipt.score,
            example_digest: receipt.example_digest,
            fee: Amount::ZERO,
            forfeited: Amount::ZERO,
        };
        if let Some(fin) = &submission.final_score {
            if verdict == (fin.score, fin.example_digest) {
                return Err(Rejection::ScoreAlreadyFinal(sid));
            }
            // A receipt contradicting a final score is accepted so that its
            // evaluator can be held to it: it is paid nothing and forfeits.
            record.forfeited = self.forfeit(ctx.signer)?;
        } else {
            let fee = spec.fee_per_receipt;
            let bounty = self.open_bounty_mut(submission.bounty)?;
            bounty.budget_escrow = bounty
                .budget_escrow
                .checked_sub(fee)
                .ok_or(Rejection::BudgetExhausted(submission.bounty))?;
            self.credit(ctx.signer, fee)?;
            record.fee = fee;
        }
        self.receipts.insert((sid, ctx.signer), record);
        if let Some(e) = self.evaluators.get_mut(&ctx.signer) {
            e.receipts += 1;
        }
        let sub = self
            .submissions
            .get_mut(&sid)
            .ok_or(Rejection::UnknownSubmission(sid))?;
        sub.receipts += 1;
        if sub.final_score.is_none() {
            let agreeing = self
                .receipts_of(sid)
                .filter(|r| (r.score, r.example_digest) == verdict)
                .count();
            if agreeing >= usize::from(spec.quorum) {
                self.finalise(ctx, sid, receipt)?;
            }
        }
        Ok(())
    }

    /// The receipts of a submission, in evaluator order.
    pub(super) fn receipts_of(&self, sid: SubmissionId) -> impl Iterator<Item = &ReceiptRecord> {
        self.receipts
            .range((sid, AccountId([0; 32]))..=(sid, AccountId([0xff; 32])))
            .map(|(_, r)| r)
    }

    /// A quorum agreed: fix the score, and make every earlier receipt that
    /// disagreed forfeit part of its bond.
    fn finalise(
        &mut self,
        ctx: &Ctx,
        sid: SubmissionId,
        receipt: Receipt,
    ) -> Result<(), Rejection> {
        let verdict = (receipt.score, receipt.example_digest);
        if let Some(sub) = self.submissions.get_mut(&sid) {
            sub.final_score = Some(FinalScore {
                score: receipt.score,
                example_digest: receipt.example_digest,
                final_at_seq: ctx.seq,
            });
        }
        self.final_examples
            .insert(sid, Arc::new(receipt.example_scores));
        let dissenters: Vec<AccountId> = self
            .receipts_of(sid)
            .filter(|r| (r.score, r.example_digest) != verdict)
            .map(|r| r.evaluator)
            .collect();
        for evaluator in dissenters {
            let forfeited = self.forfeit(evaluator)?;
            if let Some(r) = self.receipts.get_mut(&(sid, evaluator)) {
                r.forfeited = forfeited;
            }
        }
        Ok(())
    }

    /// Burn `slash_bps` of an evaluator's bond; returns what was burned.
    fn forfeit(&mut self, who: AccountId) -> Result<Amount, Rejection> {
        let slash_bps = self.params.slash_bps;
        let Some(e) = self.evaluators.get_mut(&who) else {
            return Ok(Amount::ZERO);
        };
        let amount = Amount(bps_of(e.bond.0, slash_bps));
        e.bond = Amount(e.bond.0 - amount.0);
        e.forfeited = e
            .forfeited
            .checked_add(amount)
            .ok_or(Rejection::Overflow { what: "forfeits" })?;
        self.supply.burned = self
            .supply
            .burned
            .checked_add(amount)
            .ok_or(Rejection::Overflow { what: "burned" })?;
        Ok(amount)
    }
}
