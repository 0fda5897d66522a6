//! Evaluators and receipts: bonds, drawn panels, fees, finality, disputes and forfeits.
//!
//! A submission's panel (drawn at `EndSubmissions`) must agree bit for bit
//! for its finding to become final. A panel that disagrees with itself, or
//! any other evaluator who contests a final finding within the dispute
//! window, opens a dispute: a larger panel is drawn from evaluators not yet
//! involved, the members holding more than half of its drawn bond decide (by
//! bond, not by head count: a few heavily bonded honest members outweigh
//! many lightly bonded colluders), and only receipts the decision
//! contradicts forfeit bond. Nobody is slashed for disagreeing before a
//! dispute panel has spoken, so an honest late receipt is never punished.

use std::sync::Arc;

use super::records::{Dispute, Evaluator, FinalScore, ReceiptRecord, ReceiptRole};
use super::{Ctx, State};
use crate::encoding::{DOMAIN_DISPUTE, example_scores_digest};
use crate::ids::{AccountId, Amount, Hash32, SubmissionId};
use crate::message::{Finding, Receipt, Verdict};
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

    /// Whether `account` is an evaluator in good standing (a positive bond of at least the minimum).
    pub fn in_good_standing(&self, account: &AccountId) -> bool {
        self.evaluators
            .get(account)
            .is_some_and(|e| e.bond >= self.params.min_evaluator_bond && !e.bond.is_zero())
    }

    pub(super) fn post_receipt(&mut self, ctx: &Ctx, receipt: Receipt) -> Result<(), Rejection> {
        if !self.in_good_standing(&ctx.signer) {
            return Err(Rejection::NotEvaluator(ctx.signer));
        }
        let sid = receipt.submission;
        let submission = self
            .submissions
            .get(&sid)
            .cloned()
            .ok_or(Rejection::UnknownSubmission(sid))?;
        let bounty = self
            .bounties
            .get(&submission.bounty)
            .ok_or(Rejection::UnknownBounty(submission.bounty))?;
        if bounty.status != super::records::BountyStatus::Scoring {
            return Err(Rejection::NotScoring {
                bounty: bounty.id,
                status: bounty.status.as_str(),
            });
        }
        let spec = Arc::clone(&bounty.spec);
        if receipt.dataset != spec.hidden_dataset {
            return Err(Rejection::WrongDataset {
                expected: spec.hidden_dataset,
                got: receipt.dataset,
            });
        }
        if let Verdict::Scored {
            weights_hash,
            example_scores,
            example_digest,
            ..
        } = &receipt.verdict
        {
            if example_scores.len() != spec.hidden_examples as usize {
                return Err(Rejection::WrongExampleCount {
                    expected: spec.hidden_examples,
                    got: example_scores.len(),
                });
            }
            if example_scores_digest(example_scores) != *example_digest {
                return Err(Rejection::DigestMismatch);
            }
            // The score is bound to the bytes: weights that are not the ones
            // claimed can be found unscorable, never scored.
            if *weights_hash != submission.weights_hash {
                return Err(Rejection::WeightsMismatch {
                    claimed: submission.weights_hash,
                    scored: *weights_hash,
                });
            }
        }
        if submission.miner == ctx.signer {
            return Err(Rejection::SelfEvaluation);
        }
        if self.receipts.contains_key(&(sid, ctx.signer)) {
            return Err(Rejection::DuplicateReceipt(sid));
        }
        let finding = receipt.verdict.finding();
        let in_dispute = submission.dispute.is_some() && submission.final_score.is_none();
        let role = if let Some(fin) = &submission.final_score {
            if fin.finding == finding {
                return Err(Rejection::ScoreAlreadyFinal(sid));
            }
            let until = fin
                .final_at
                .saturating_add_ms(self.params.dispute_window_ms);
            // A finding a dispute panel decided is not heard again.
            if submission.dispute.is_some() || ctx.now >= until {
                return Err(Rejection::DisputeWindowClosed { sid, until });
            }
            ReceiptRole::Challenger
        } else if in_dispute
            && submission
                .dispute
                .as_ref()
                .is_some_and(|d| d.panel.contains(&ctx.signer))
        {
            ReceiptRole::DisputePanel
        } else if submission.panel.contains(&ctx.signer) {
            ReceiptRole::Panel
        } else {
            return Err(Rejection::NotAssigned(sid));
        };

        let mut record = ReceiptRecord {
            seq: ctx.seq,
            evaluator: ctx.signer,
            evaluator_build: receipt.evaluator_build,
            role,
            finding,
            fee: Amount::ZERO,
            forfeited: Amount::ZERO,
        };
        if role != ReceiptRole::Challenger {
            // Drawn evaluators are paid for their work; a challenger is not
            // (it volunteers, and risks bond only if the dispute panel disagrees).
            let fee = spec.fee_per_receipt;
            let bounty = self
                .bounties
                .get_mut(&submission.bounty)
                .ok_or(Rejection::UnknownBounty(submission.bounty))?;
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
        if let Some(sub) = self.submissions.get_mut(&sid) {
            sub.receipts += 1;
        }

        match role {
            ReceiptRole::Challenger => {
                if !self.open_dispute(ctx, sid, Some(ctx.signer))? {
                    return Err(Rejection::NoDisputePanel(sid));
                }
            }
            ReceiptRole::Panel if !in_dispute => {
                let panel = &submission.panel;
                let findings: Vec<Finding> = self
                    .receipts_of(sid)
                    .filter(|r| r.role == ReceiptRole::Panel)
                    .map(|r| r.finding)
                    .collect();
                if findings.iter().any(|f| *f != finding) {
                    // The panel disagrees with itself: nobody is punished yet;
                    // a larger panel decides (if anyone is left to draw).
                    self.open_dispute(ctx, sid, None)?;
                } else if findings.len() == panel.len() && panel.len() >= usize::from(spec.quorum) {
                    self.finalise(ctx, sid, finding, &receipt.verdict)?;
                }
            }
            ReceiptRole::Panel => {}
            ReceiptRole::DisputePanel => {
                let dispute = submission
                    .dispute
                    .as_ref()
                    .ok_or(Rejection::NoDisputePanel(sid))?;
                let bond_of = |a: &AccountId| {
                    dispute
                        .panel
                        .iter()
                        .position(|p| p == a)
                        .map_or(0, |i| dispute.bonds.get(i).map_or(0, |b| b.0))
                };
                // Bonds are token amounts: their sums fit in u128 unless the
                // supply does not, and saturating only makes deciding harder.
                let total = dispute
                    .bonds
                    .iter()
                    .fold(0u128, |t, b| t.saturating_add(b.0));
                let agreeing = self
                    .receipts_of(sid)
                    .filter(|r| r.role == ReceiptRole::DisputePanel && r.finding == finding)
                    .fold(0u128, |t, r| t.saturating_add(bond_of(&r.evaluator)));
                // More than half, exactly, for odd and even sums.
                if agreeing > total / 2 {
                    self.finalise(ctx, sid, finding, &receipt.verdict)?;
                    self.forfeit_contradicting(sid, finding)?;
                }
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

    /// Open a dispute: suspend any final finding and draw `2·quorum + 1`
    /// evaluators not yet involved (never the sponsor or a miner of the
    /// bounty, a panel member or anyone who posted a receipt for it). False
    /// when nobody is left to draw.
    fn open_dispute(
        &mut self,
        ctx: &Ctx,
        sid: SubmissionId,
        challenger: Option<AccountId>,
    ) -> Result<bool, Rejection> {
        let sub = self
            .submissions
            .get(&sid)
            .ok_or(Rejection::UnknownSubmission(sid))?;
        let quorum = self
            .bounties
            .get(&sub.bounty)
            .map_or(1, |b| usize::from(b.spec.quorum));
        let involved: Vec<AccountId> = self.receipts_of(sid).map(|r| r.evaluator).collect();
        let candidates: Vec<(AccountId, u128)> = self
            .impartial_evaluators(sub.bounty)
            .into_iter()
            .filter(|(a, _)| !sub.panel.contains(a) && !involved.contains(a))
            .collect();
        // The bounty's draw seed, not this entry's: whoever posts the receipt
        // that opens a dispute cannot choose its panel by timing the post.
        let seed = self
            .bounties
            .get(&sub.bounty)
            .and_then(|b| b.draw_seed)
            .unwrap_or(Hash32::ZERO);
        let mut rng = crate::seeded::rng(DOMAIN_DISPUTE, &[&seed.0, &sid.0.to_le_bytes()]);
        let panel = crate::panel::draw(&mut rng, &candidates, 2 * quorum + 1);
        if panel.is_empty() {
            return Ok(false);
        }
        let bonds: Vec<Amount> = panel
            .iter()
            .map(|a| {
                Amount(
                    candidates
                        .iter()
                        .find(|(c, _)| c == a)
                        .map_or(0, |(_, w)| *w),
                )
            })
            .collect();
        let sub = self
            .submissions
            .get_mut(&sid)
            .ok_or(Rejection::UnknownSubmission(sid))?;
        let contested = sub.final_score.take();
        if contested.is_some() {
            // The finding is suspended: judging must not use its examples.
            self.final_examples.remove(&sid);
        }
        sub.dispute = Some(Arc::new(Dispute {
            opened_at_seq: ctx.seq,
            challenger,
            panel,
            bonds,
            contested,
        }));
        Ok(true)
    }

    /// Make `finding` final, keeping the per-example scores for the bootstrap.
    fn finalise(
        &mut self,
        ctx: &Ctx,
        sid: SubmissionId,
        finding: Finding,
        verdict: &Verdict,
    ) -> Result<(), Rejection> {
        let sub = self
            .submissions
            .get_mut(&sid)
            .ok_or(Rejection::UnknownSubmission(sid))?;
        sub.final_score = Some(Arc::new(FinalScore {
            finding,
            final_at_seq: ctx.seq,
            final_at: ctx.now,
        }));
        if let Verdict::Scored { example_scores, .. } = verdict {
            self.final_examples
                .insert(sid, Arc::new(example_scores.clone()));
        }
        Ok(())
    }

    /// A dispute panel decided: every receipt it contradicts forfeits.
    fn forfeit_contradicting(
        &mut self,
        sid: SubmissionId,
        decided: Finding,
    ) -> Result<(), Rejection> {
        let wrong: Vec<AccountId> = self
            .receipts_of(sid)
            .filter(|r| r.finding != decided)
            .map(|r| r.evaluator)
            .collect();
        for evaluator in wrong {
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
