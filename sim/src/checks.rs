//! The invariants, checked as the run goes: conservation after every step;
//! nothing acknowledged lost; one entry per (signer, nonce), and a client's
//! belief matching the log (in `world`); bounties ended and closed within
//! their rule's bound; at every close, no copy or unscorable file paid and
//! the true best model winning wherever honest evaluators held the majority
//! of the bond drawn for the deciding panel; and replay from the log equal to
//! the live state.

use bounties::message::{Finding, Verdict};
use bounties::replay::replay;
use bounties::spec::PayoutRule;
use bounties::state::records::{BountyStatus, Submission};
use bounties::{AccountId, Score, Verify};

use crate::actors::{Behaviour, Role};
use crate::model;
use crate::world::World;

/// A broken invariant.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Violation(pub String);

impl Violation {
    /// A violation described by `what`.
    pub fn new(what: String) -> Violation {
        Violation(what)
    }
}

/// Balances + escrows + bonds = minted − burned.
pub(crate) fn conserved(w: &mut World) -> Result<(), Violation> {
    w.stats.checks += 1;
    w.state()
        .check_conservation()
        .map_err(|e| Violation::new(format!("conservation: {e}")))
}

/// Every acknowledged entry (since the last look, or `all`) is in the
/// durable log at its seq, unchanged, and the node's state reaches it.
pub(crate) fn acknowledged_kept(w: &mut World, all: bool) -> Result<(), Violation> {
    use coordinator::store::LogStore;
    w.stats.checks += 1;
    let (pending, next) = w.acked_unchecked(all);
    let head = w.state().head().seq;
    for (seq, hash) in pending {
        let found = w
            .store
            .read(seq, 1)
            .map_err(|e| Violation::new(format!("reading the log: {e}")))?;
        if seq > head || found.first().map(|e| e.hash()) != Some(hash) {
            return Err(Violation::new(format!(
                "acknowledged entry {seq} is not in the log as acknowledged (head {head})"
            )));
        }
    }
    w.set_acked_checked(next);
    Ok(())
}

/// After a scheduler tick that no fault touched: no bounty past its
/// deadline is still open, and none past its deadline and grace is unclosed.
pub(crate) fn closes_in_time(w: &mut World) -> Result<(), Violation> {
    w.stats.checks += 1;
    let now = w.now();
    let grace = w.state().params().close_grace_ms;
    let state = w.state();
    for b in w.live.iter().filter_map(|id| state.bounty(*id)) {
        let late_end = b.status == BountyStatus::Open && b.spec.deadline_ms.0 <= now;
        let late_close =
            b.status == BountyStatus::Scoring && b.spec.deadline_ms.0.saturating_add(grace) <= now;
        if late_end || late_close {
            return Err(Violation::new(format!(
                "bounty {} is still {:?} at {now}: deadline {}, grace {grace} ms",
                b.id, b.status, b.spec.deadline_ms.0
            )));
        }
    }
    Ok(())
}

fn is_honest(w: &World, account: &AccountId) -> Option<bool> {
    w.actors
        .iter()
        .find(|a| a.key.account() == *account)
        .map(|a| {
            matches!(
                a.role,
                Role::Evaluator(Behaviour::Honest | Behaviour::Crashing)
            )
        })
}

fn bond_of(w: &World, account: &AccountId) -> u128 {
    w.actors
        .iter()
        .find(|a| a.key.account() == *account)
        .map_or(0, |a| a.bond)
}

/// Whether honest evaluators held more than half the bond of the panel that
/// decides `sub`: its dispute panel (by the bonds recorded at that draw) if
/// it was disputed, else its panel (which must agree unanimously).
fn honest_majority(w: &World, sub: &Submission) -> bool {
    let weighted: Vec<(AccountId, u128)> = match &sub.dispute {
        Some(d) => d
            .panel
            .iter()
            .copied()
            .zip(d.bonds.iter().map(|b| b.0))
            .collect(),
        None => sub.panel.iter().map(|a| (*a, bond_of(w, a))).collect(),
    };
    let total: u128 = weighted.iter().map(|(_, b)| b).sum();
    let honest: u128 = weighted
        .iter()
        .filter(|(a, _)| is_honest(w, a) == Some(true))
        .map(|(_, b)| b)
        .sum();
    total > 0 && honest * 2 > total
}

/// Who was drawn for `sub`, how they behave, their bond and what they posted.
fn describe(w: &World, sub: &Submission, truth: &Verdict) -> String {
    let state = w.state();
    let receipts = state.receipts_for(sub.id);
    let who = |a: &AccountId| {
        let actor = w.actors.iter().find(|x| x.key.account() == *a);
        let posted = receipts
            .iter()
            .find(|r| r.evaluator == *a)
            .map_or("nothing", |r| {
                if r.finding == truth.finding() {
                    "the truth"
                } else {
                    "a falsehood"
                }
            });
        actor.map_or_else(
            || format!("{a} (unknown)"),
            |x| format!("{} (bond {}) posted {posted}", x.name, x.bond),
        )
    };
    let panel: Vec<String> = sub.panel.iter().map(who).collect();
    let dispute: Vec<String> = sub
        .dispute
        .iter()
        .flat_map(|d| d.panel.iter().map(who))
        .collect();
    let others: Vec<String> = receipts
        .iter()
        .filter(|r| {
            !sub.panel.contains(&r.evaluator)
                && !sub
                    .dispute
                    .as_ref()
                    .is_some_and(|d| d.panel.contains(&r.evaluator))
        })
        .map(|r| who(&r.evaluator))
        .collect();
    format!(
        "panel [{}], dispute panel [{}], challengers [{}]",
        panel.join("; "),
        dispute.join("; "),
        others.join("; ")
    )
}

fn truth(w: &World, sub: &Submission, hidden: bounties::Hash32) -> Verdict {
    model::true_verdict(
        w.files.get(&sub.file_hash).map(Vec::as_slice),
        sub.weights_hash,
        hidden,
    )
}

/// Every bounty that closed since the last look: where honest evaluators
/// held the majority of a submission's drawn bond its final finding is the
/// truth, no copy or unscorable file is paid, and under winner-take-all the
/// winner is the true best eligible model.
pub(crate) fn closed_bounties(w: &mut World) -> Result<(), Violation> {
    let state = w.state();
    let done: Vec<_> = w
        .live
        .iter()
        .filter_map(|id| state.bounty(*id))
        .filter(|b| matches!(b.status, BountyStatus::Closed | BountyStatus::Cancelled))
        .cloned()
        .collect();
    for b in done {
        w.live.remove(&b.id);
        if b.status == BountyStatus::Cancelled {
            continue;
        }
        w.stats.bounties_closed += 1;
        w.stats.checks += 1;
        let hidden = b.spec.hidden_dataset;
        let subs: Vec<Submission> = state.submissions_of(b.id).into_iter().cloned().collect();
        let mut all_honest = true;
        for s in &subs {
            w.stats.submissions_judged += 1;
            let majority = honest_majority(w, s);
            all_honest &= majority;
            if !majority {
                w.stats.without_honest_majority += 1;
                continue;
            }
            let truth = truth(w, s, hidden);
            if let Some(f) = &s.final_score
                && f.finding != truth.finding()
            {
                return Err(Violation::new(format!(
                    "bounty {}: submission {}'s final finding is false though honest evaluators held the majority of its drawn bond; {}",
                    b.id,
                    s.id,
                    describe(w, s, &truth)
                )));
            }
        }
        w.public
            .extend(subs.iter().map(|s| (s.file_hash, s.weights_hash)));
        let settlement = b.settlement.clone().expect("a closed bounty is settled");
        w.winners.extend(settlement.winner);
        for p in &settlement.payouts {
            let s = subs
                .iter()
                .find(|s| s.id == p.submission)
                .expect("paid submissions are the bounty's");
            if !honest_majority(w, s) {
                w.stats.payouts_without_honest_majority += 1;
                continue;
            }
            w.stats.payouts_checked += 1;
            if !matches!(truth(w, s, hidden), Verdict::Scored { .. }) {
                return Err(Violation::new(format!(
                    "bounty {}: submission {} was paid {} but its file is a copy or unscorable",
                    b.id, s.id, p.amount
                )));
            }
        }
        if all_honest && b.spec.payout == PayoutRule::WinnerTakeAll {
            let best = subs
                .iter()
                .filter_map(|s| match s.final_score.as_ref()?.finding {
                    Finding::Scored { score, .. } => Some((score, s)),
                    Finding::Unscorable(_) => None,
                })
                .filter(|(score, _)| *score > b.spec.judging.baseline)
                // The earliest of the best: ties go to the earlier submission.
                .fold(
                    None::<(Score, &Submission)>,
                    |best, (score, s)| match best {
                        Some((top, _)) if top >= score => best,
                        _ => Some((score, s)),
                    },
                );
            let expected = best.map(|(_, s)| s.weights_hash);
            if settlement.winner != expected {
                return Err(Violation::new(format!(
                    "bounty {}: winner {:?}, but the true best eligible model is {:?}",
                    b.id, settlement.winner, expected
                )));
            }
            w.stats.winners_checked += 1;
        }
    }
    Ok(())
}

/// Replaying the whole log, every signature checked, gives the live state.
pub(crate) fn replay_equals_live(w: &mut World) -> Result<(), Violation> {
    w.stats.checks += 1;
    let entries = w.entries()?;
    let replayed = replay(&entries, Verify::Signatures, |_, _| {})
        .map_err(|e| Violation::new(format!("the log does not replay: {e}")))?;
    let live = w.state();
    if replayed.head() != live.head() || replayed.root() != live.root() {
        return Err(Violation::new(format!(
            "replay reaches seq {} root {}, the live state seq {} root {}",
            replayed.head().seq,
            replayed.root(),
            live.head().seq,
            live.root()
        )));
    }
    Ok(())
}
