//! The actors and what each does on its turn: sponsors, honest miners,
//! copiers, spammers and sybils, honest, lazy, colluding and crashing
//! evaluators, and licensees.

use bounties::encoding::sha256;
use bounties::message::Finding;
use bounties::spec::*;
use bounties::state::records::BountyStatus;
use bounties::{Action, Amount, BountyId, Score, SecretKey, SubmissionId, TimestampMs};
use coordinator::jobs::JobKind;

use crate::checks::Violation;
use crate::model;
use crate::world::{Outcome, World};

/// How an evaluator behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Behaviour {
    /// Scores every job truly, and contests false findings it audits.
    Honest,
    /// Posts a made-up score without looking at the model.
    Lazy,
    /// Claims a perfect score for the ring's submissions; truthful otherwise,
    /// and never contests the ring.
    Colluding,
    /// Takes leases and, half the time, dies before posting.
    Crashing,
}

/// What an actor is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Opens bounties and tops them up.
    Sponsor,
    /// Trains new models and submits them; `ring`: the colluders' accomplice.
    Miner {
        /// In the colluding ring.
        ring: bool,
    },
    /// Resubmits others' public weights in new files.
    Copier {
        /// In the colluding ring.
        ring: bool,
    },
    /// Sends messages that must be refused, and floods small transfers.
    Spammer,
    /// Fresh keys with no tokens.
    Sybil,
    /// Scores submissions.
    Evaluator(Behaviour),
    /// Buys licences for winning models.
    Licensee,
}

impl Role {
    /// What genesis gives it.
    pub fn funds(self) -> u128 {
        match self {
            Role::Sponsor => 1_000_000_000,
            Role::Licensee => 100_000_000,
            Role::Sybil => 0,
            _ => 1_000_000,
        }
    }

    fn in_ring(self) -> bool {
        matches!(
            self,
            Role::Miner { ring: true }
                | Role::Copier { ring: true }
                | Role::Evaluator(Behaviour::Colluding)
        )
    }
}

/// One actor.
#[derive(Clone, Debug)]
pub struct Actor {
    /// A name for reports.
    pub name: String,
    /// Its key (drawn from the seed by the world).
    pub key: SecretKey,
    /// What it is.
    pub role: Role,
    /// Its registered bond, as it registered it (forfeits not counted).
    pub bond: u128,
}

/// The cast: `n` of each kind, from `SimConfig`.
pub fn cast(cfg: &crate::SimConfig) -> Vec<Actor> {
    let mut actors = Vec::new();
    let mut add = |role: Role, n: usize, label: &str| {
        for i in 0..n {
            actors.push(Actor {
                name: format!("{label}-{i}"),
                key: SecretKey::from_seed([0; 32]),
                role,
                bond: 0,
            });
        }
    };
    add(Role::Sponsor, 2, "sponsor");
    add(Role::Miner { ring: false }, 4, "miner");
    add(Role::Miner { ring: true }, 1, "ring-miner");
    add(Role::Copier { ring: false }, 1, "copier");
    add(Role::Copier { ring: true }, 1, "ring-copier");
    add(Role::Spammer, 1, "spammer");
    add(Role::Sybil, 2, "sybil");
    add(
        Role::Evaluator(Behaviour::Honest),
        cfg.honest_evaluators,
        "honest",
    );
    add(Role::Evaluator(Behaviour::Lazy), 1, "lazy");
    add(
        Role::Evaluator(Behaviour::Colluding),
        cfg.colluding_evaluators,
        "colluder",
    );
    add(Role::Evaluator(Behaviour::Crashing), 1, "crashing");
    add(Role::Licensee, 2, "licensee");
    actors
}

/// Whether the ring would lie for this submission's miner.
pub(crate) fn ring_member(w: &World, account: &bounties::AccountId) -> bool {
    w.actors
        .iter()
        .any(|a| a.key.account() == *account && a.role.in_ring())
}

/// Actor `who` takes its turn.
pub(crate) fn turn(w: &mut World, who: usize) -> Result<(), Violation> {
    match w.actors[who].role {
        Role::Sponsor => sponsor(w, who),
        Role::Miner { .. } => miner(w, who),
        Role::Copier { .. } => copier(w, who),
        Role::Spammer => spammer(w, who),
        Role::Sybil => sybil(w, who),
        Role::Evaluator(b) => evaluator(w, who, b),
        Role::Licensee => licensee(w, who),
    }
}

fn open_bounties(w: &World) -> Vec<BountyId> {
    w.bounties_in(BountyStatus::Open)
}

fn pick<T: Clone>(w: &mut World, items: &[T]) -> Option<T> {
    if items.is_empty() {
        return None;
    }
    let i = w.below(items.len() as u64) as usize;
    Some(items[i].clone())
}

fn spec(w: &mut World) -> BountySpec {
    w.counter += 1;
    let n = w.counter;
    let payout = match w.below(4) {
        0 | 1 => PayoutRule::WinnerTakeAll,
        2 => PayoutRule::TopK {
            shares_bps: vec![6_000, 4_000],
        },
        _ => PayoutRule::Improvement,
    };
    BountySpec {
        title: format!("sim bounty {n}"),
        description: String::new(),
        task: Task::Classification,
        train_dataset: sha256(format!("train {n}").as_bytes()),
        hidden_dataset: sha256(format!("hidden {n}").as_bytes()),
        hidden_examples: model::EXAMPLES as u32,
        architecture: ArchitectureLimits {
            family: bounties::arch::Family::Mlp,
            max_parameters: 1_000,
            adapters: None,
        },
        base_model: None,
        judging: Judging {
            metric: Metric::Accuracy,
            baseline: Score(500_000),
            min_improvement: Score(0),
            bootstrap: None,
        },
        reward: Amount(10_000 + u128::from(w.below(90_000))),
        evaluation_budget: Amount(2_000),
        fee_per_receipt: Amount(10),
        submission_deposit: Amount(50),
        quorum: 1 + w.below(2) as u8,
        max_submissions_per_miner: 2,
        deadline_ms: TimestampMs(w.now() + 20_000 + w.below(60_000)),
        payout,
        licence: LicenceTerms {
            name: "UDL-1.0".into(),
            commercial_use: CommercialUse::AllowedWithFee,
            fee: Amount(1_000),
            derivation: Derivation::AllowedWithRevenueShare { share_bps: 1_000 },
            duration_ms: None,
        },
        royalties: RoyaltyShares {
            contributors_bps: 7_000,
            sponsor_bps: 3_000,
        },
    }
}

fn sponsor(w: &mut World, who: usize) -> Result<(), Violation> {
    let open = open_bounties(w);
    if open.len() < 3 || w.chance(0.05) {
        let spec = spec(w);
        w.act(
            who,
            Action::OpenBounty {
                spec: Box::new(spec),
            },
        )?;
        return Ok(());
    }
    let bounty = pick(w, &open).expect("open bounties");
    if w.chance(0.2) {
        w.act(who, Action::CancelBounty { bounty })?;
    } else {
        let amount = Amount(1 + u128::from(w.below(1_000)));
        w.act(who, Action::TopUp { bounty, amount })?;
    }
    Ok(())
}

fn miner(w: &mut World, who: usize) -> Result<(), Violation> {
    let Some(bounty) = pick(w, &open_bounties(w)) else {
        return Ok(());
    };
    w.counter += 1;
    let seed = w.rng_u64();
    let file = model::model_file(seed, &format!("model {}", w.counter));
    let weights = model::weights_of(&file).expect("a model");
    let file_hash = w.upload(who, file);
    w.act(
        who,
        Action::Submit {
            bounty,
            file_hash,
            weights_hash: weights,
            parent_weights_hash: None,
        },
    )?;
    Ok(())
}

/// A copier takes a closed bounty's public model and submits its weights in
/// a new file elsewhere: under the true weights hash (refused: claimed) or a
/// made-up one (scorable only by a liar).
fn copier(w: &mut World, who: usize) -> Result<(), Violation> {
    let public = std::mem::take(&mut w.public);
    let copied = pick(w, &public);
    w.public = public;
    let (Some((file_hash, weights)), Some(bounty)) = (copied, pick(w, &open_bounties(w))) else {
        return Ok(());
    };
    let Some(original) = w.files.get(&file_hash).cloned() else {
        return Ok(());
    };
    let Some(real) = model::weights_of(&original) else {
        return Ok(());
    };
    // The same tensors under new metadata: a new file, the same weights.
    let copy = recopy(&original, w.rng_u64());
    debug_assert_eq!(model::weights_of(&copy), Some(real));
    let copy_hash = w.upload(who, copy);
    let claimed = if w.chance(0.3) {
        weights
    } else {
        sha256(&w.rng_u64().to_le_bytes())
    };
    w.act(
        who,
        Action::Submit {
            bounty,
            file_hash: copy_hash,
            weights_hash: claimed,
            parent_weights_hash: None,
        },
    )?;
    Ok(())
}

fn recopy(original: &[u8], salt: u64) -> Vec<u8> {
    let file = bounties::tensorfile::TensorFile::parse(original).expect("a model file");
    let mut meta = file.metadata.clone();
    meta.insert("Name".into(), format!("copy {salt}"));
    let tensors: Vec<bounties::tensorfile::TensorData<'_>> = file
        .tensors
        .iter()
        .map(|t| bounties::tensorfile::TensorData {
            name: &t.name,
            dtype: t.dtype,
            shape: t.shape.clone(),
            data: file.data(t),
        })
        .collect();
    bounties::tensorfile::write(&meta, &tensors).expect("a copy")
}

fn spammer(w: &mut World, who: usize) -> Result<(), Violation> {
    let me = w.actors[who].key.account();
    let i = w.below(w.actors.len() as u64) as usize;
    let other = w.actors[i].key.account();
    let action = match w.below(7) {
        0 => Action::Transfer {
            to: other,
            amount: Amount(u128::MAX / 3),
        },
        1 => Action::Transfer {
            to: other,
            amount: Amount(1),
        },
        2 => {
            // Garbage bytes: refused at upload, so the submission is too.
            let junk = w.rng_u64().to_le_bytes().repeat(5);
            let file_hash = w.upload(who, junk);
            let bounty = pick(w, &open_bounties(w)).unwrap_or(BountyId(1));
            Action::Submit {
                bounty,
                file_hash,
                weights_hash: sha256(b"junk"),
                parent_weights_hash: None,
            }
        }
        3 => {
            let sid = SubmissionId(w.below(w.state().head().seq + 1));
            Action::PostReceipt(model::receipt(
                sid,
                sha256(b"x"),
                model::scored(sha256(b"y"), &[0; model::EXAMPLES]),
            ))
        }
        4 => Action::CloseBounty {
            bounty: pick(w, &open_bounties(w)).unwrap_or(BountyId(1)),
        },
        5 => Action::Mint {
            to: me,
            amount: Amount(1_000_000),
        },
        _ => Action::BuyLicense {
            model: sha256(&w.rng_u64().to_le_bytes()),
        },
    };
    w.act(who, action)?;
    Ok(())
}

fn sybil(w: &mut World, who: usize) -> Result<(), Violation> {
    let other = w.actors[0].key.account();
    let action = match w.below(3) {
        0 => Action::Transfer {
            to: other,
            amount: Amount(1),
        },
        1 => Action::RegisterEvaluator { bond: Amount(100) },
        _ => Action::TopUp {
            bounty: pick(w, &open_bounties(w)).unwrap_or(BountyId(1)),
            amount: Amount(5),
        },
    };
    // Others may have sent it tokens (a spammer's transfers): only an
    // account with nothing may not act.
    let broke = w.state().balance(&w.actors[who].key.account()).is_zero();
    if w.act(who, action)? == Outcome::Applied && broke {
        return Err(Violation::new(format!(
            "an unfunded sybil's message applied: {}",
            w.actors[who].name
        )));
    }
    Ok(())
}

fn evaluator(w: &mut World, who: usize, behaviour: Behaviour) -> Result<(), Violation> {
    // A new evaluator registers; one whose forfeits took it below the
    // minimum bonds again (adversaries stay in the game).
    if w.actors[who].bond == 0 || !w.state().in_good_standing(&w.actors[who].key.account()) {
        let bond = 100 + u128::from(w.below(900));
        if w.act(who, Action::RegisterEvaluator { bond: Amount(bond) })? == Outcome::Applied {
            w.actors[who].bond += bond;
        }
        return Ok(());
    }
    let Some(lease) = w.lease(who) else {
        return Ok(());
    };
    w.stats.leases += 1;
    if behaviour == Behaviour::Crashing && w.chance(0.5) {
        w.stats.jobs_abandoned += 1;
        return Ok(());
    }
    let state = w.state();
    let Some(sub) = state.submission(lease.submission).cloned() else {
        return Err(Violation::new(format!(
            "leased unknown submission {}",
            lease.submission
        )));
    };
    let truth = model::true_verdict(
        w.files.get(&sub.file_hash).map(Vec::as_slice),
        sub.weights_hash,
        lease.dataset,
    );
    let lie = w.cfg.sabotage == Some(crate::Sabotage::LyingHonest) && w.below(4) == 0;
    let verdict = match behaviour {
        Behaviour::Honest if lie => model::scored(sub.weights_hash, &[0; model::EXAMPLES]),
        Behaviour::Honest | Behaviour::Crashing => truth,
        Behaviour::Lazy => model::scored(sub.weights_hash, &[Score::SCALE / 2; model::EXAMPLES]),
        Behaviour::Colluding if ring_member(w, &sub.miner) => {
            model::scored(sub.weights_hash, &[Score::SCALE; model::EXAMPLES])
        }
        Behaviour::Colluding => truth,
    };
    if lease.kind == JobKind::Audit {
        // An audit posts only to contest a final finding.
        let final_finding: Option<Finding> = sub.final_score.as_ref().map(|f| f.finding);
        let contest = final_finding.is_some_and(|f| f != verdict.finding());
        if !contest {
            return Ok(());
        }
        w.stats.contests += 1;
    }
    w.act(
        who,
        Action::PostReceipt(model::receipt(sub.id, lease.dataset, verdict)),
    )?;
    Ok(())
}

fn licensee(w: &mut World, who: usize) -> Result<(), Violation> {
    let winners = std::mem::take(&mut w.winners);
    let model = pick(w, &winners);
    w.winners = winners;
    let Some(model) = model else {
        return Ok(());
    };
    if w.act(who, Action::BuyLicense { model })? == Outcome::Applied {
        w.stats.licences += 1;
    }
    Ok(())
}
