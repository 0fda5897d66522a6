//! Judging at close: eligibility, the record chain, the bootstrap test, and the payout rules.
//!
//! Pure functions of the candidates (final scores in log order), the spec and
//! a seed taken from the log. The rules:
//!
//! - **Eligible**: improves on the baseline by more than zero and by at least
//!   `min_improvement`.
//! - **Records**: walking eligible submissions in log order, a submission sets
//!   a new record when it improves on the current record (at first, the
//!   baseline) by more than zero and at least `min_improvement`, and, if the
//!   bounty asks for it, passes the paired bootstrap test against the current
//!   record's per-example scores. An equal score never displaces an earlier
//!   one: ties go to the earlier log position.
//! - **Winner-take-all**: the last record holder takes the reward.
//! - **Improvement**: every record holder is paid in proportion to the
//!   improvement it added; the last record is the winning model.
//! - **Top-k**: eligible submissions ranked by score (ties: earlier first),
//!   one place per miner (their best); place `i` gets `shares_bps[i]` of the
//!   reward; unfilled places go back to the sponsor. Rank 1 is the winning model.

use crate::encoding::DOMAIN_BOOTSTRAP;
use crate::ids::{AccountId, BountyId, Hash32, Score, SubmissionId};
use crate::seeded;
use crate::spec::{Bootstrap, Judging, Metric, PayoutRule};
use crate::split::{SplitError, split};
use rand_chacha::ChaCha20Rng;

/// A submission with a final score.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    /// The submission.
    pub submission: SubmissionId,
    /// Its miner.
    pub miner: AccountId,
    /// Its final score.
    pub score: Score,
    /// Its per-example scores.
    pub examples: &'a [i64],
}

/// The outcome of judging.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Judgement {
    /// Record-setting submissions in order, with the improvement each added.
    pub records: Vec<(SubmissionId, u128)>,
    /// The winning submission.
    pub winner: Option<SubmissionId>,
    /// Reward payments (only positive amounts).
    pub payouts: Vec<(SubmissionId, AccountId, u128)>,
    /// Reward left unpaid (returned to the sponsor).
    pub unpaid: u128,
}

/// Judge `candidates` (final scores, in log order) and split `reward`.
/// `seed` is the bounty's draw seed (fixed at `EndSubmissions`) for the bootstrap.
pub fn judge(
    judging: &Judging,
    rule: &PayoutRule,
    bounty: BountyId,
    candidates: &[Candidate<'_>],
    reward: u128,
    seed: Hash32,
) -> Result<Judgement, SplitError> {
    let metric = judging.metric;
    let min = i128::from(judging.min_improvement.0);
    let improves = |new: Score, old: Score| {
        let imp = metric.improvement(new, old);
        (imp > 0 && imp >= min).then_some(imp as u128)
    };
    let eligible: Vec<&Candidate<'_>> = candidates
        .iter()
        .filter(|c| improves(c.score, judging.baseline).is_some())
        .collect();

    let mut records: Vec<(SubmissionId, u128)> = Vec::new();
    let mut current: Option<&Candidate<'_>> = None;
    for c in &eligible {
        let reference = current.map_or(judging.baseline, |r| r.score);
        let Some(imp) = improves(c.score, reference) else {
            continue;
        };
        if let (Some(b), Some(r)) = (&judging.bootstrap, current) {
            let parts: [&[u8]; 4] = [
                seed.as_bytes(),
                &bounty.0.to_le_bytes(),
                &c.submission.0.to_le_bytes(),
                &r.submission.0.to_le_bytes(),
            ];
            let mut rng = seeded::rng(DOMAIN_BOOTSTRAP, &parts);
            if !bootstrap_better(metric, b, c.examples, r.examples, &mut rng) {
                continue;
            }
        }
        records.push((c.submission, imp));
        current = Some(c);
    }

    let miner_of = |sid: SubmissionId| {
        candidates
            .iter()
            .find(|c| c.submission == sid)
            .map(|c| c.miner)
            .expect("a candidate")
    };
    let mut judgement = Judgement {
        records: records.clone(),
        ..Judgement::default()
    };
    match rule {
        PayoutRule::WinnerTakeAll => {
            if let Some(&(sid, _)) = records.last() {
                judgement.winner = Some(sid);
                judgement.payouts.push((sid, miner_of(sid), reward));
            }
        }
        PayoutRule::Improvement => {
            if let Some(&(sid, _)) = records.last() {
                judgement.winner = Some(sid);
                for (sid, amount) in split(reward, &records)? {
                    judgement.payouts.push((sid, miner_of(sid), amount));
                }
            }
        }
        PayoutRule::TopK { shares_bps } => {
            let mut ranked = eligible.clone();
            ranked.sort_by(|a, b| {
                metric
                    .improvement(b.score, a.score)
                    .cmp(&0)
                    .then(a.submission.cmp(&b.submission))
            });
            let mut places: Vec<&Candidate<'_>> = Vec::new();
            for c in ranked {
                if places.len() == shares_bps.len() {
                    break;
                }
                if !places.iter().any(|p| p.miner == c.miner) {
                    places.push(c);
                }
            }
            judgement.winner = places.first().map(|c| c.submission);
            if !places.is_empty() {
                let weights: Vec<(usize, u128)> = shares_bps
                    .iter()
                    .map(|&s| u128::from(s))
                    .enumerate()
                    .collect();
                for (place, amount) in split(reward, &weights)? {
                    if let Some(c) = places.get(place) {
                        judgement.payouts.push((c.submission, c.miner, amount));
                    }
                }
            }
        }
    }
    judgement.payouts.retain(|p| p.2 > 0);
    let paid: u128 = judgement.payouts.iter().map(|p| p.2).sum();
    judgement.unpaid = reward - paid;
    Ok(judgement)
}

/// The paired bootstrap: resample examples with replacement and count how
/// often the new model's summed per-example advantage is positive. Passes
/// when that fraction reaches the confidence. Integer math only; the index
/// draws are [`seeded::index`], so no library's sampler can change the outcome.
pub fn bootstrap_better(
    metric: Metric,
    b: &Bootstrap,
    new: &[i64],
    best: &[i64],
    rng: &mut ChaCha20Rng,
) -> bool {
    if new.len() != best.len() || new.is_empty() {
        return false;
    }
    let diffs: Vec<i128> = new
        .iter()
        .zip(best)
        .map(|(&n, &o)| {
            let d = i128::from(n) - i128::from(o);
            if metric.higher_is_better() { d } else { -d }
        })
        .collect();
    let n = diffs.len() as u64;
    let mut wins: u64 = 0;
    for _ in 0..b.resamples {
        let mut sum: i128 = 0;
        for _ in 0..n {
            sum += diffs[seeded::index(rng, n) as usize];
        }
        if sum > 0 {
            wins += 1;
        }
    }
    u128::from(wins) * 10_000 >= u128::from(b.confidence_bps) * u128::from(b.resamples)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acct(n: u8) -> AccountId {
        AccountId([n; 32])
    }

    fn judging(metric: Metric, baseline: i64, min: i64) -> Judging {
        Judging {
            metric,
            baseline: Score(baseline),
            min_improvement: Score(min),
            bootstrap: None,
        }
    }

    fn c(id: u64, miner: u8, score: i64) -> Candidate<'static> {
        Candidate {
            submission: SubmissionId(id),
            miner: acct(miner),
            score: Score(score),
            examples: &[],
        }
    }

    struct Case {
        name: &'static str,
        judging: Judging,
        rule: PayoutRule,
        candidates: Vec<Candidate<'static>>,
        reward: u128,
        winner: Option<u64>,
        payouts: Vec<(u64, u128)>,
    }

    #[test]
    fn judging_table() {
        let top2 = PayoutRule::TopK {
            shares_bps: vec![7_000, 3_000],
        };
        let cases = vec![
            Case {
                name: "winner-take-all pays the best",
                judging: judging(Metric::Accuracy, 500, 0),
                rule: PayoutRule::WinnerTakeAll,
                candidates: vec![c(1, 1, 600), c(2, 2, 700), c(3, 3, 650)],
                reward: 100,
                winner: Some(2),
                payouts: vec![(2, 100)],
            },
            Case {
                name: "ties go to the earlier submission",
                judging: judging(Metric::Accuracy, 500, 0),
                rule: PayoutRule::WinnerTakeAll,
                candidates: vec![c(1, 1, 700), c(2, 2, 700)],
                reward: 100,
                winner: Some(1),
                payouts: vec![(1, 100)],
            },
            Case {
                name: "nobody beats the baseline",
                judging: judging(Metric::CrossEntropy, 1_000, 0),
                rule: PayoutRule::WinnerTakeAll,
                candidates: vec![c(1, 1, 1_000), c(2, 2, 1_200)],
                reward: 100,
                winner: None,
                payouts: vec![],
            },
            Case {
                name: "min improvement gates records",
                judging: judging(Metric::CrossEntropy, 1_000, 50),
                rule: PayoutRule::WinnerTakeAll,
                candidates: vec![c(1, 1, 960), c(2, 2, 940), c(3, 3, 890)],
                reward: 100,
                winner: Some(3),
                payouts: vec![(3, 100)],
            },
            Case {
                name: "improvement pays each record its share",
                judging: judging(Metric::Accuracy, 500, 0),
                rule: PayoutRule::Improvement,
                candidates: vec![c(1, 1, 600), c(2, 2, 550), c(3, 1, 900)],
                reward: 10,
                winner: Some(3),
                // improvements 100 and 300 -> 2.5 and 7.5 -> remainder tie to account order
                payouts: vec![(1, 3), (3, 7)],
            },
            Case {
                name: "top-k takes each miner's best and refunds empty places",
                judging: judging(Metric::Accuracy, 500, 0),
                rule: top2.clone(),
                candidates: vec![c(1, 1, 600), c(2, 1, 800), c(3, 2, 400)],
                reward: 100,
                winner: Some(2),
                payouts: vec![(2, 70)],
            },
            Case {
                name: "top-k ranks by score",
                judging: judging(Metric::Mse, 500, 0),
                rule: top2,
                candidates: vec![c(1, 1, 300), c(2, 2, 100), c(3, 3, 200)],
                reward: 101,
                winner: Some(2),
                payouts: vec![(2, 71), (3, 30)],
            },
        ];
        for case in cases {
            let j = judge(
                &case.judging,
                &case.rule,
                BountyId(9),
                &case.candidates,
                case.reward,
                Hash32::ZERO,
            )
            .unwrap();
            assert_eq!(j.winner.map(|s| s.0), case.winner, "{}", case.name);
            let payouts: Vec<(u64, u128)> = j.payouts.iter().map(|p| (p.0.0, p.2)).collect();
            assert_eq!(payouts, case.payouts, "{}", case.name);
            assert_eq!(
                j.unpaid + payouts.iter().map(|p| p.1).sum::<u128>(),
                case.reward,
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn bootstrap_separates_real_gains_from_noise() {
        let b = Bootstrap {
            confidence_bps: 9_500,
            resamples: 500,
        };
        let best: Vec<i64> = (0..200).map(|i| i64::from(i % 2 == 0)).collect();
        // Clearly better: right on 30 more examples.
        let better: Vec<i64> = best
            .iter()
            .enumerate()
            .map(|(i, &v)| if i < 60 { 1 } else { v })
            .collect();
        // Noise: one more right, one more wrong.
        let mut noise = best.clone();
        noise[1] = 1;
        noise[0] = 0;
        noise[3] = 1;
        let rng = || seeded::rng(b"test", &[b"seed"]);
        assert!(bootstrap_better(
            Metric::Accuracy,
            &b,
            &better,
            &best,
            &mut rng()
        ));
        assert!(!bootstrap_better(
            Metric::Accuracy,
            &b,
            &noise,
            &best,
            &mut rng()
        ));
        assert!(!bootstrap_better(
            Metric::Accuracy,
            &b,
            &best[..10],
            &best,
            &mut rng()
        ));
        // Lower-is-better flips the sign.
        assert!(!bootstrap_better(
            Metric::CrossEntropy,
            &b,
            &better,
            &best,
            &mut rng()
        ));
    }
}
