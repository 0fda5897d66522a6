//! Buying a licence and splitting its fee as royalties, up the model's lineage.
//!
//! The fee reaches the licensed model first. If the model's parent is itself
//! a bounty winner whose terms ask a revenue share of derivatives, that share
//! of the amount flows up to the parent, which applies the same rule to its own
//! parent, and so on: every ancestor keeps its cut. At each model the part it
//! keeps is split between the sponsor and the paid miners by the bounty's
//! royalty shares, the miners' part in proportion to their rewards. A visited
//! set stops the walk should a lineage ever loop.

use std::collections::{BTreeMap, BTreeSet};

use super::records::Licence;
use super::{Ctx, State};
use crate::ids::{AccountId, Amount, Hash32};
use crate::rejection::Rejection;
use crate::spec::{CommercialUse, Derivation};
use crate::split::{bps_of, split};

impl State {
    pub(super) fn buy_licence(&mut self, ctx: &Ctx, model: Hash32) -> Result<(), Rejection> {
        let record = self
            .models
            .get(&model)
            .ok_or(Rejection::UnknownModel(model))?;
        let info = record.licence.clone().ok_or(Rejection::NotAWinner(model))?;
        let fee = match info.terms.commercial_use {
            CommercialUse::NotAllowed => return Err(Rejection::CommercialUseNotAllowed(model)),
            CommercialUse::AllowedWithFee => info.terms.fee,
            CommercialUse::Allowed | CommercialUse::AllowedWithCredit => Amount::ZERO,
        };
        self.debit(ctx.signer, fee)?;
        let splits = self.royalty_splits(model, fee.0)?;
        for (&account, &amount) in &splits {
            self.credit(account, Amount(amount))?;
        }
        let licence = Licence {
            id: ctx.seq,
            licensee: ctx.signer,
            model,
            fee,
            bought_at: ctx.now,
            expires_at: info.terms.duration_ms.map(|d| ctx.now.saturating_add_ms(d)),
            splits: splits.into_iter().map(|(a, v)| (a, Amount(v))).collect(),
        };
        self.licences.insert(ctx.seq, licence);
        self.licences_by_licensee.insert((ctx.signer, ctx.seq));
        self.licences_by_model.insert((model, ctx.seq));
        if let Some(m) = self.models.get_mut(&model) {
            m.licences_sold += 1;
        }
        Ok(())
    }

    /// Where `fee` paid for `model` goes, by account; records what each model's holders received.
    fn royalty_splits(
        &mut self,
        mut model: Hash32,
        mut amount: u128,
    ) -> Result<BTreeMap<AccountId, u128>, Rejection> {
        let mut splits: BTreeMap<AccountId, u128> = BTreeMap::new();
        let mut visited = BTreeSet::new();
        while amount > 0 && visited.insert(model) {
            let record = self
                .models
                .get(&model)
                .ok_or(Rejection::UnknownModel(model))?;
            let info = record.licence.clone().ok_or(Rejection::NotAWinner(model))?;
            let upstream = record
                .parent
                .filter(|p| !visited.contains(p))
                .and_then(|p| self.models.get(&p))
                .and_then(|p| Some((p.weights_hash, p.licence.as_ref()?.terms.derivation.clone())));
            let (up, cut) = match upstream {
                Some((hash, Derivation::AllowedWithRevenueShare { share_bps })) => {
                    (Some(hash), bps_of(amount, share_bps))
                }
                _ => (None, 0),
            };
            let kept = amount - cut;
            if kept > 0 {
                let roles = [
                    (0u8, u128::from(info.royalties.sponsor_bps)),
                    (1u8, u128::from(info.royalties.contributors_bps)),
                ];
                let parts = split(kept, &roles)?;
                let (mut to_sponsor, to_miners) = (parts[0].1, parts[1].1);
                let weights: Vec<(AccountId, u128)> = info
                    .contributors
                    .iter()
                    .map(|(a, v)| (*a, v.0))
                    .filter(|(_, v)| *v > 0)
                    .collect();
                if weights.is_empty() {
                    to_sponsor += to_miners;
                } else if to_miners > 0 {
                    for (account, share) in split(to_miners, &weights)? {
                        *splits.entry(account).or_default() += share;
                    }
                }
                *splits.entry(info.sponsor).or_default() += to_sponsor;
            }
            if let Some(m) = self.models.get_mut(&model) {
                m.royalties_received = m
                    .royalties_received
                    .checked_add(Amount(kept))
                    .ok_or(Rejection::Overflow { what: "royalties" })?;
            }
            match up {
                Some(parent) => {
                    model = parent;
                    amount = cut;
                }
                None => break,
            }
        }
        splits.retain(|_, v| *v > 0);
        Ok(splits)
    }
}
