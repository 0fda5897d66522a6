//! Publishing a whole model outside any bounty: a pretrained base, claimed by
//! its weights hash like a submission, public at once, licensed on the terms
//! its publisher states, and paid what its derivatives' licences send up.

use std::sync::Arc;

use super::records::{ArtifactUse, LicenceInfo, Model, Origin};
use super::{Ctx, State};
use crate::ids::Amount;
use crate::message::{Publication, SOURCE_BYTES_MAX};
use crate::rejection::Rejection;
use crate::spec::{BPS_WHOLE, RoyaltyShares};

impl State {
    pub(super) fn publish_model(&mut self, ctx: &Ctx, p: Publication) -> Result<(), Rejection> {
        let source = p.source.as_str();
        if source.trim().is_empty()
            || source.len() > SOURCE_BYTES_MAX
            || source.chars().any(char::is_control)
        {
            return Err(Rejection::BadSource {
                max: SOURCE_BYTES_MAX,
            });
        }
        p.licence.check().map_err(Rejection::InvalidLicence)?;
        if let Some(first) = self.models.get(&p.weights_hash) {
            // The same first-appearance rule as submissions: a published base
            // cannot take over a submitted model's weights, nor the reverse.
            return Err(Rejection::WeightsClaimed {
                weights: p.weights_hash,
                by: first.miner,
            });
        }
        if self.artifact_uses.contains_key(&p.file_hash) {
            // A hidden set, a training set or a sealed model file published as
            // a base would make it readable by everyone.
            return Err(Rejection::FileClaimed(p.file_hash));
        }
        let Publication {
            file_hash,
            weights_hash,
            source,
            licence,
        } = p;
        // What reaches a published model goes wholly to its publisher.
        let info = LicenceInfo {
            terms: licence,
            royalties: RoyaltyShares {
                contributors_bps: BPS_WHOLE,
                sponsor_bps: 0,
            },
            sponsor: ctx.signer,
            contributors: vec![(ctx.signer, Amount(1))],
        };
        self.models.insert(
            weights_hash,
            Model {
                weights_hash,
                origin: Origin::Published {
                    file_hash,
                    source,
                    published_at: ctx.now,
                },
                miner: ctx.signer,
                parent: None,
                licence: Some(Arc::new(info)),
                royalties_received: Amount::ZERO,
                licences_sold: 0,
            },
        );
        self.artifact_uses
            .insert(file_hash, ArtifactUse::Published(weights_hash));
        Ok(())
    }
}
