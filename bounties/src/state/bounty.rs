//! Opening, topping up and cancelling bounties, taking submissions, and ending them.

use std::sync::Arc;

use super::records::{ArtifactUse, Bounty, BountyStatus, Model, Origin, Submission};
use super::{Ctx, State};
use crate::encoding::{DOMAIN_DRAW_SEED, DOMAIN_PANEL};
use crate::ids::{AccountId, Amount, BountyId, Hash32, SubmissionId};
use crate::rejection::Rejection;
use crate::spec::{BountySpec, Derivation};

impl State {
    pub(super) fn open_bounty(
        &mut self,
        ctx: &Ctx,
        spec: Box<BountySpec>,
    ) -> Result<(), Rejection> {
        spec.check()?;
        if spec.deadline_ms <= ctx.now {
            return Err(Rejection::DeadlineNotInFuture {
                deadline: spec.deadline_ms,
                now: ctx.now,
            });
        }
        // A judging secret is used once: naming a hash the log already knows
        // as a hidden set would make its readers (or its uploader) readers of
        // someone else's sealed bytes.
        if self.artifact_uses.contains_key(&spec.hidden_dataset) {
            return Err(Rejection::HiddenSetInUse(spec.hidden_dataset));
        }
        if self.is_sealed_artifact(&spec.train_dataset) {
            return Err(Rejection::SealedArtifact(spec.train_dataset));
        }
        if let Some(base) = spec.base_model {
            let model = self
                .models
                .get(&base)
                .ok_or(Rejection::UnknownModel(base))?;
            // A published base is public; a submitted one once its bounty closed.
            let sealed = match model.origin {
                Origin::Published { .. } => false,
                Origin::Submitted { bounty, .. } => {
                    self.bounties.get(&bounty).is_none_or(|b| b.is_sealed())
                }
            };
            if sealed {
                return Err(Rejection::BaseModelSealed(base));
            }
            let forbids = model
                .licence
                .as_ref()
                .is_some_and(|l| l.terms.derivation == Derivation::NotAllowed);
            if forbids {
                return Err(Rejection::DerivationNotAllowed { model: base });
            }
        }
        let escrow =
            spec.reward
                .checked_add(spec.evaluation_budget)
                .ok_or(Rejection::Overflow {
                    what: "reward + evaluation budget",
                })?;
        self.debit(ctx.signer, escrow)?;
        let id = BountyId(ctx.seq);
        let bounty = Bounty {
            id,
            sponsor: ctx.signer,
            reward_escrow: spec.reward,
            budget_escrow: spec.evaluation_budget,
            deposit_escrow: Amount::ZERO,
            spec: Arc::from(spec),
            opened_at: ctx.now,
            status: BountyStatus::Open,
            submissions: 0,
            draw_seed: None,
            closed_at: None,
            settlement: None,
        };
        self.artifact_uses
            .entry(bounty.spec.train_dataset)
            .or_insert(ArtifactUse::TrainSet(id));
        self.artifact_uses
            .insert(bounty.spec.hidden_dataset, ArtifactUse::HiddenSet(id));
        self.bounties.insert(id, bounty);
        Ok(())
    }

    /// Whether the log names `hash` as a hidden set or model of a bounty that
    /// has not closed.
    pub(super) fn is_sealed_artifact(&self, hash: &Hash32) -> bool {
        let bounty = match self.artifact_uses.get(hash) {
            None | Some(ArtifactUse::TrainSet(_) | ArtifactUse::Published(_)) => return false,
            Some(ArtifactUse::HiddenSet(b)) => *b,
            Some(ArtifactUse::ModelFile(s)) => match self.submissions.get(s) {
                Some(s) => s.bounty,
                None => return true,
            },
        };
        self.bounties.get(&bounty).is_none_or(|b| b.is_sealed())
    }

    /// The bounty, if it exists and is open.
    pub(super) fn open_bounty_mut(&mut self, id: BountyId) -> Result<&mut Bounty, Rejection> {
        let bounty = self
            .bounties
            .get_mut(&id)
            .ok_or(Rejection::UnknownBounty(id))?;
        if bounty.status != BountyStatus::Open {
            return Err(Rejection::BountyNotOpen {
                bounty: id,
                status: bounty.status.as_str(),
            });
        }
        Ok(bounty)
    }

    pub(super) fn top_up(
        &mut self,
        ctx: &Ctx,
        id: BountyId,
        amount: Amount,
    ) -> Result<(), Rejection> {
        if amount.is_zero() {
            return Err(Rejection::ZeroAmount);
        }
        let bounty = self.open_bounty_mut(id)?;
        bounty.reward_escrow =
            bounty
                .reward_escrow
                .checked_add(amount)
                .ok_or(Rejection::Overflow {
                    what: "reward escrow",
                })?;
        self.debit(ctx.signer, amount)
    }

    pub(super) fn cancel_bounty(&mut self, ctx: &Ctx, id: BountyId) -> Result<(), Rejection> {
        let bounty = self.open_bounty_mut(id)?;
        if bounty.sponsor != ctx.signer {
            return Err(Rejection::NotSponsor(id));
        }
        if bounty.submissions > 0 {
            return Err(Rejection::HasSubmissions(id));
        }
        let refund = bounty
            .reward_escrow
            .checked_add(bounty.budget_escrow)
            .ok_or(Rejection::Overflow { what: "refund" })?;
        bounty.reward_escrow = Amount::ZERO;
        bounty.budget_escrow = Amount::ZERO;
        bounty.status = BountyStatus::Cancelled;
        bounty.closed_at = Some(ctx.now);
        let sponsor = bounty.sponsor;
        self.credit(sponsor, refund)
    }

    pub(super) fn submit(
        &mut self,
        ctx: &Ctx,
        id: BountyId,
        file_hash: Hash32,
        weights_hash: Hash32,
        parent: Option<Hash32>,
    ) -> Result<(), Rejection> {
        let count_key = (id, ctx.signer);
        let count = self.submission_counts.get(&count_key).copied().unwrap_or(0);
        let bounty = self.open_bounty_mut(id)?;
        if bounty.sponsor == ctx.signer {
            // The sponsor may hold the hidden set's bytes: it may not compete.
            return Err(Rejection::SponsorCannotSubmit(id));
        }
        let spec = Arc::clone(&bounty.spec);
        if ctx.now >= spec.deadline_ms {
            return Err(Rejection::AfterDeadline {
                bounty: id,
                deadline: spec.deadline_ms,
            });
        }
        if count >= spec.max_submissions_per_miner {
            return Err(Rejection::SubmissionLimit {
                limit: spec.max_submissions_per_miner,
            });
        }
        if let Some(base) = spec.base_model
            && parent != Some(base)
        {
            return Err(Rejection::ParentMismatch { expected: base });
        }
        if self.artifact_uses.contains_key(&file_hash) {
            // One file, one submission: a copy's only way in is a new file.
            return Err(Rejection::FileClaimed(file_hash));
        }
        if let Some(first) = self.models.get(&weights_hash) {
            // Priority belongs to the first appearance of a weights hash, in any bounty.
            return Err(if first.miner == ctx.signer {
                Rejection::AlreadySubmitted(weights_hash)
            } else {
                Rejection::WeightsClaimed {
                    weights: weights_hash,
                    by: first.miner,
                }
            });
        }
        let deposit = spec.submission_deposit;
        self.debit(ctx.signer, deposit)?;
        let bounty = self.open_bounty_mut(id)?;
        bounty.submissions += 1;
        bounty.deposit_escrow =
            bounty
                .deposit_escrow
                .checked_add(deposit)
                .ok_or(Rejection::Overflow {
                    what: "deposit escrow",
                })?;
        let sid = SubmissionId(ctx.seq);
        self.artifact_uses
            .insert(file_hash, ArtifactUse::ModelFile(sid));
        self.submission_counts.insert(count_key, count + 1);
        self.bounty_submissions.insert((id, sid));
        self.submissions.insert(
            sid,
            Submission {
                id: sid,
                bounty: id,
                miner: ctx.signer,
                file_hash,
                weights_hash,
                parent,
                submitted_at: ctx.now,
                deposit,
                panel: Vec::new(),
                receipts: 0,
                final_score: None,
                dispute: None,
            },
        );
        self.models.insert(
            weights_hash,
            Model {
                weights_hash,
                origin: Origin::Submitted {
                    submission: sid,
                    bounty: id,
                },
                miner: ctx.signer,
                parent,
                licence: None,
                royalties_received: Amount::ZERO,
                licences_sold: 0,
            },
        );
        if let Some(p) = parent {
            self.children.insert((p, weights_hash));
        }
        Ok(())
    }

    /// Stop taking submissions and draw each submission's panel: `quorum`
    /// evaluators in good standing, weighted by bond, never one with a stake
    /// in the outcome (the sponsor or any miner of the bounty).
    ///
    /// The draws are seeded by the hash of this entry's signature. Only the
    /// operator may send it, so nobody else can know the seed before it is in
    /// the log, and nobody can grind it by appending messages first (a seed
    /// from `prev_hash` could be ground that way by anyone).
    pub(super) fn end_submissions(&mut self, ctx: &Ctx, id: BountyId) -> Result<(), Rejection> {
        if ctx.signer != self.operator {
            return Err(Rejection::NotOperator);
        }
        let seed = crate::encoding::tagged_hash(DOMAIN_DRAW_SEED, &[&ctx.signature.0]);
        let bounty = self.open_bounty_mut(id)?;
        if ctx.now < bounty.spec.deadline_ms {
            return Err(Rejection::BeforeDeadline {
                bounty: id,
                deadline: bounty.spec.deadline_ms,
            });
        }
        bounty.status = BountyStatus::Scoring;
        bounty.draw_seed = Some(seed);
        let seats = usize::from(bounty.spec.quorum);
        let candidates = self.impartial_evaluators(id);
        let sids: Vec<SubmissionId> = self.submission_ids(id).collect();
        for sid in sids {
            let mut rng = crate::seeded::rng(DOMAIN_PANEL, &[&seed.0, &sid.0.to_le_bytes()]);
            let panel = crate::panel::draw(&mut rng, &candidates, seats);
            if let Some(sub) = self.submissions.get_mut(&sid) {
                sub.panel = panel;
            }
        }
        Ok(())
    }

    /// Evaluators in good standing (in account order, with their bonds) with
    /// no stake in bounty `id`: neither its sponsor nor any of its miners.
    pub(super) fn impartial_evaluators(&self, id: BountyId) -> Vec<(AccountId, u128)> {
        let sponsor = self.bounties.get(&id).map(|b| b.sponsor);
        let miners: std::collections::BTreeSet<AccountId> = self
            .submission_ids(id)
            .filter_map(|s| self.submissions.get(&s).map(|s| s.miner))
            .collect();
        self.evaluators
            .iter()
            .filter(|(a, _)| {
                self.in_good_standing(a) && Some(**a) != sponsor && !miners.contains(a)
            })
            .map(|(a, e)| (*a, e.bond.0))
            .collect()
    }
}
