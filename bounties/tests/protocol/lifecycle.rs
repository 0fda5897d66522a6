//! Whole bounty lifecycles with exact balances: payouts, refunds, forfeits,
//! the bootstrap gate, and licence fees flowing up a three-model lineage and
//! up to a published base.

use bounties::spec::*;
use bounties::*;

use crate::support::*;

pub const EVALUATORS: [&str; 8] = ["e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8"];

pub fn driver() -> Driver {
    let mut names = vec!["s1", "s2", "s3", "a", "b", "c", "licensee"];
    names.extend(EVALUATORS);
    let balances: Vec<(&str, u128)> = names.iter().map(|n| (*n, 1_000_000)).collect();
    let mut d = Driver::new(&genesis(&balances, Params::default()));
    for e in EVALUATORS.iter() {
        d.ok(
            e,
            Action::RegisterEvaluator {
                bond: Amount(10_000),
            },
        );
    }
    d
}

/// Open a bounty, submit `(miner, weights, examples)`, end submissions, have
/// each drawn panel score, wait out the dispute window, and close.
pub fn run_bounty(
    d: &mut Driver,
    sponsor: &str,
    mut spec: BountySpec,
    entries: &[(&str, &str, Vec<i64>)],
) -> BountyId {
    let parent = spec.base_model;
    if let Some((_, _, examples)) = entries.first() {
        spec.hidden_examples = examples.len() as u32;
    }
    let b = BountyId(d.ok(
        sponsor,
        Action::OpenBounty {
            spec: Box::new(spec),
        },
    ));
    let mut sids = Vec::new();
    for (miner, weights, examples) in entries {
        let sid = SubmissionId(d.ok(
            miner,
            Action::Submit {
                bounty: b,
                file_hash: hash(&format!("file-{weights}")),
                weights_hash: hash(weights),
                parent_weights_hash: parent,
            },
        ));
        sids.push((sid, examples));
    }
    d.end(b);
    for (sid, examples) in sids {
        d.score(sid, examples);
    }
    d.now += Params::default().dispute_window_ms;
    d.ok("e3", Action::CloseBounty { bounty: b });
    d.state().check_conservation().unwrap();
    b
}

pub fn licensed(deadline: u64, share_bps: u16, fee: u128) -> BountySpec {
    let mut s = spec(deadline);
    s.evaluation_budget = Amount(1_000);
    s.licence.fee = Amount(fee);
    s.licence.derivation = Derivation::AllowedWithRevenueShare { share_bps };
    s
}

#[test]
fn licence_fees_flow_up_a_three_model_lineage() {
    let mut d = driver();
    // Generation 1: a wins alone; 20% of derivatives' fees flow here.
    let g1 = licensed(d.now + 1_000, 2_000, 5_000);
    run_bounty(&mut d, "s1", g1, &[("a", "w1", accuracy(8, 10))]);
    // Generation 2 fine-tunes w1: top-2 of b (60%) and c (40%); 10% flows up.
    let mut g2 = licensed(d.now + 1_000, 1_000, 5_000);
    g2.base_model = Some(hash("w1"));
    g2.payout = PayoutRule::TopK {
        shares_bps: vec![6_000, 4_000],
    };
    run_bounty(
        &mut d,
        "s2",
        g2,
        &[("b", "w2", accuracy(9, 10)), ("c", "w2c", accuracy(7, 10))],
    );
    // Generation 3 fine-tunes w2: a wins; its licence costs 100 000.
    let mut g3 = licensed(d.now + 1_000, 0, 100_000);
    g3.base_model = Some(hash("w2"));
    run_bounty(&mut d, "s3", g3, &[("a", "w3", accuracy(10, 10))]);

    let names = ["s1", "s2", "s3", "a", "b", "c", "licensee"];
    let before: Vec<u128> = names.iter().map(|n| d.balance(n)).collect();
    d.ok("licensee", Action::BuyLicense { model: hash("w3") });
    let delta: Vec<i128> = names
        .iter()
        .zip(&before)
        .map(|(n, b)| d.balance(n) as i128 - *b as i128)
        .collect();
    // 100 000: 10% (10 000) up to w2, of which 20% (2 000) up to w1.
    // w3 keeps 90 000: s3 30% = 27 000, a 70% = 63 000.
    // w2 keeps 8 000: s2 2 400, miners 5 600 split 60:40 = b 3 360, c 2 240.
    // w1 keeps 2 000: s1 600, a 1 400.
    assert_eq!(
        delta,
        vec![600, 2_400, 27_000, 63_000 + 1_400, 3_360, 2_240, -100_000]
    );
    let st = d.state();
    assert_eq!(
        st.model(&hash("w3")).unwrap().royalties_received,
        Amount(90_000)
    );
    assert_eq!(
        st.model(&hash("w2")).unwrap().royalties_received,
        Amount(8_000)
    );
    assert_eq!(
        st.model(&hash("w1")).unwrap().royalties_received,
        Amount(2_000)
    );
    let licence = &st.licences_of(&key("licensee").account())[0];
    assert_eq!(licence.fee, Amount(100_000));
    assert_eq!(licence.splits.iter().map(|s| s.1.0).sum::<u128>(), 100_000);
    assert_eq!(
        licence.expires_at,
        Some(TimestampMs(d.now + 365 * 24 * 3600 * 1000))
    );

    // Provenance links the lineage both ways.
    let p = st.provenance(&hash("w2")).unwrap();
    assert_eq!(p.model.parent, Some(hash("w1")));
    assert_eq!(p.children, vec![hash("w3")]);
    assert_eq!(p.receipts.len(), 2);
    assert_eq!(
        p.submission
            .as_ref()
            .unwrap()
            .final_score
            .as_ref()
            .unwrap()
            .score(),
        Some(Score(900_000))
    );
    assert_eq!(st.provenance(&hash("w1")).unwrap().children.len(), 2);
}

#[test]
fn a_published_base_is_paid_its_share_of_its_fine_tunes_licences() {
    let mut d = driver();
    // "c" publishes a pretrained base: a fee licence, and a quarter of
    // every derivative's fee flows up to it.
    d.ok(
        "c",
        Action::PublishModel(Box::new(message::Publication {
            file_hash: hash("file-base"),
            weights_hash: hash("base"),
            source: "pypi:a-model 1.0 (Apache-2.0)".into(),
            licence: LicenceTerms {
                name: "Apache-2.0".into(),
                commercial_use: CommercialUse::AllowedWithFee,
                fee: Amount(5_000),
                derivation: Derivation::AllowedWithRevenueShare { share_bps: 2_500 },
                duration_ms: None,
            },
        })),
    );
    let st = d.state();
    let base = st.provenance(&hash("base")).unwrap();
    assert_eq!(base.file_hash, hash("file-base"));
    assert!(base.submission.is_none() && base.bounty_title.is_none());
    assert_eq!(base.licence_terms.fee, Amount(5_000));
    assert_eq!(
        st.artifact_use(&hash("file-base")),
        Some(state::records::ArtifactUse::Published(hash("base")))
    );

    // A bounty fine-tunes it; "a" wins with an adapter whose parent is the base.
    let mut s = licensed(d.now + 1_000, 1_000, 100_000);
    s.base_model = Some(hash("base"));
    run_bounty(&mut d, "s1", s, &[("a", "adapter", accuracy(9, 10))]);
    let st = d.state();
    assert_eq!(
        st.model(&hash("adapter")).unwrap().parent,
        Some(hash("base"))
    );
    assert_eq!(
        st.provenance(&hash("base")).unwrap().children,
        vec![hash("adapter")]
    );

    let names = ["s1", "a", "c", "licensee"];
    let before: Vec<u128> = names.iter().map(|n| d.balance(n)).collect();
    d.ok(
        "licensee",
        Action::BuyLicense {
            model: hash("adapter"),
        },
    );
    let delta: Vec<i128> = names
        .iter()
        .zip(&before)
        .map(|(n, b)| d.balance(n) as i128 - *b as i128)
        .collect();
    // 100 000: 25% (25 000) up to the base, wholly its publisher's. The
    // adapter keeps 75 000: s1 30% = 22 500, a 70% = 52 500.
    assert_eq!(delta, vec![22_500, 52_500, 25_000, -100_000]);
    // The base licensed directly pays its publisher alone.
    let c = d.balance("c");
    d.ok(
        "licensee",
        Action::BuyLicense {
            model: hash("base"),
        },
    );
    assert_eq!(d.balance("c") - c, 5_000);
    let st = d.state();
    assert_eq!(
        st.model(&hash("base")).unwrap().royalties_received,
        Amount(30_000)
    );
    st.check_conservation().unwrap();
}

#[test]
fn improvement_payout_pays_each_record_for_what_it_added() {
    let mut d = driver();
    let mut s = spec(d.now + 1_000);
    s.evaluation_budget = Amount(1_000);
    s.payout = PayoutRule::Improvement;
    s.reward = Amount(9_000);
    let before = (d.balance("a"), d.balance("b"), d.balance("c"));
    let b = run_bounty(
        &mut d,
        "s1",
        s,
        &[
            ("a", "wa", accuracy(6, 10)), // +100 000 over the 0.5 baseline
            ("b", "wb", accuracy(6, 10)), // a tie: the earlier keeps it
            ("c", "wc", accuracy(8, 10)), // +200 000
        ],
    );
    assert_eq!(d.balance("a") - before.0, 3_000);
    assert_eq!(d.balance("b"), before.1);
    assert_eq!(d.balance("c") - before.2, 6_000);
    let board = d.state().leaderboard(b).unwrap();
    let order: Vec<(Option<u32>, bool, u128)> = board
        .iter()
        .map(|r| (r.rank, r.record, r.payout.0))
        .collect();
    assert_eq!(
        order,
        vec![
            (Some(1), true, 6_000),
            (Some(2), true, 3_000),
            (Some(3), false, 0)
        ]
    );
}

#[test]
fn nobody_beating_the_baseline_refunds_the_sponsor() {
    let mut d = driver();
    let start = d.balance("s1");
    let mut s = spec(d.now + 1_000);
    s.evaluation_budget = Amount(100);
    let b = run_bounty(&mut d, "s1", s, &[("a", "wa", accuracy(5, 10))]);
    // Reward back in full; budget back less the two receipt fees.
    assert_eq!(start - d.balance("s1"), 20);
    let settlement = d.state().bounty(b).unwrap().settlement.clone().unwrap();
    assert_eq!(settlement.winner, None);
    assert_eq!(settlement.reward_refund, Amount(10_000));
    assert_eq!(settlement.budget_refund, Amount(80));
    let err = d
        .send("licensee", Action::BuyLicense { model: hash("wa") })
        .unwrap_err();
    assert_eq!(err.code(), "not_a_winner");
}

#[test]
fn the_bootstrap_gate_keeps_noise_from_taking_the_record() {
    let mut d = driver();
    let mut s = spec(d.now + 1_000);
    s.evaluation_budget = Amount(1_000);
    s.judging.bootstrap = Some(Bootstrap {
        confidence_bps: 9_500,
        resamples: 400,
    });
    let n = 200;
    let first = accuracy(150, n);
    let mut noise = first.clone();
    noise[150] = Score::SCALE; // one more right: better on the mean, not significantly
    let mut clear = first.clone();
    for v in clear.iter_mut().skip(150).take(30) {
        *v = Score::SCALE;
    }
    let b = run_bounty(
        &mut d,
        "s1",
        s.clone(),
        &[("a", "w1", first.clone()), ("b", "w2", noise.clone())],
    );
    let st = d.state().bounty(b).unwrap().settlement.clone().unwrap();
    assert_eq!(
        st.winner,
        Some(hash("w1")),
        "noise must not displace the record"
    );
    s.deadline_ms = TimestampMs(d.now + 1_000);
    s.train_dataset = hash("other-train");
    s.hidden_dataset = hash("other-hidden");
    let b2 = run_bounty(
        &mut d,
        "s2",
        s,
        &[("a", "x1", first), ("b", "x2", noise), ("c", "x3", clear)],
    );
    let st = d.state().bounty(b2).unwrap().settlement.clone().unwrap();
    assert_eq!(st.winner, Some(hash("x3")));
    assert_eq!(st.records.len(), 2);
}
