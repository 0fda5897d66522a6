//! Adversarial input beyond the golden script: amounts at the edge of `u128`,
//! malformed geneses, tampered logs. Each is refused with its own reason and
//! changes nothing.

use bounties::genesis::GenesisError;
use bounties::log::{ChainError, Entry, verify_chain};
use bounties::replay::{ReplayError, replay};
use bounties::*;

use crate::support::*;

#[test]
fn amounts_near_u128_max_are_rejections_not_wraps() {
    let g = genesis(
        &[("sponsor", u128::MAX - 20), ("e1", 10)],
        Params::default(),
    );
    let mut d = Driver::new(&g);
    let acct = |n: &str| key(n).account();
    let huge_spec = |reward: u128, budget: u128, fee: u128| {
        let mut s = spec(T0 + 10);
        s.reward = Amount(reward);
        s.evaluation_budget = Amount(budget);
        s.fee_per_receipt = Amount(fee);
        Action::OpenBounty { spec: Box::new(s) }
    };
    let cases: Vec<(&str, Action, &str)> = vec![
        (
            "minter",
            Action::Mint {
                to: acct("a"),
                amount: Amount(11),
            },
            "overflow",
        ),
        (
            "minter",
            Action::Mint {
                to: acct("a"),
                amount: Amount(u128::MAX),
            },
            "overflow",
        ),
        (
            "e1",
            Action::Transfer {
                to: acct("a"),
                amount: Amount(u128::MAX),
            },
            "insufficient_balance",
        ),
        ("sponsor", huge_spec(u128::MAX - 20, 100, 1), "overflow"),
        ("sponsor", huge_spec(u128::MAX, u128::MAX, 1), "overflow"),
        ("sponsor", huge_spec(1, 100, u128::MAX), "invalid_spec"),
        (
            "sponsor",
            huge_spec(u128::MAX - 10, 1, 0),
            "insufficient_balance",
        ),
        (
            "e1",
            Action::RegisterEvaluator {
                bond: Amount(u128::MAX),
            },
            "insufficient_balance",
        ),
    ];
    for (who, action, code) in cases {
        let before = d.state().root();
        let name = action.name();
        let err = d.send(who, action).expect_err(name);
        assert_eq!(err.code(), code, "{who} {name}: {err}");
        assert_eq!(d.state().root(), before);
    }
    // The largest legal amounts go through and conservation holds exactly.
    d.ok(
        "minter",
        Action::Mint {
            to: acct("a"),
            amount: Amount(10),
        },
    );
    assert_eq!(d.state().supply().minted, Amount(u128::MAX));
    let b = BountyId(d.ok("sponsor", huge_spec(u128::MAX - 60, 40, 10)));
    d.ok(
        "a",
        Action::TopUp {
            bounty: b,
            amount: Amount(10),
        },
    );
    assert_eq!(
        d.state().bounty(b).unwrap().reward_escrow,
        Amount(u128::MAX - 50)
    );
    d.state().check_conservation().unwrap();
    d.now = T0 + 10;
    d.ok("operator", Action::EndSubmissions { bounty: b });
    d.ok("a", Action::CloseBounty { bounty: b });
    assert_eq!(d.balance("sponsor"), u128::MAX - 10);
    d.state().check_conservation().unwrap();
}

#[test]
fn malformed_geneses_are_refused() {
    let op = key("operator");
    let good = genesis(&[("a", 1), ("b", 2)], Params::default());
    let mut unsorted = good.clone();
    unsorted.balances.reverse();
    let mut dup = good.clone();
    dup.balances.push(dup.balances[1]);
    let mut overflow = good.clone();
    overflow.balances[0].1 = Amount(u128::MAX);
    let mut chain = good.clone();
    chain.chain_id = "Bad Chain!".into();
    let mut params = good.clone();
    params.params.slash_bps = 10_001;
    let cases: Vec<(&str, Entry, Rejection)> = vec![
        (
            "unsorted",
            Entry::genesis(&unsorted, &op, TimestampMs(T0)),
            GenesisError::Balances.into(),
        ),
        (
            "duplicate",
            Entry::genesis(&dup, &op, TimestampMs(T0)),
            GenesisError::Balances.into(),
        ),
        (
            "overflow",
            Entry::genesis(&overflow, &op, TimestampMs(T0)),
            GenesisError::Overflow.into(),
        ),
        (
            "chain id",
            Entry::genesis(&chain, &op, TimestampMs(T0)),
            GenesisError::ChainId.into(),
        ),
        (
            "params",
            Entry::genesis(&params, &op, TimestampMs(T0)),
            GenesisError::Params.into(),
        ),
        (
            "signed by another key",
            Entry::genesis(&good, &key("mallory"), TimestampMs(T0)),
            Rejection::BadSignature {
                signer: good.operator,
            },
        ),
        (
            "not at seq 0",
            Entry {
                seq: 1,
                ..Entry::genesis(&good, &op, TimestampMs(T0))
            },
            Rejection::WrongSeq {
                expected: 0,
                got: 1,
            },
        ),
    ];
    for (label, entry, expected) in cases {
        assert_eq!(
            State::from_genesis(&entry, Verify::Signatures).unwrap_err(),
            expected,
            "{label}"
        );
    }
}

fn small_log() -> Vec<Entry> {
    let g = genesis(&[("sponsor", 1_000_000)], Params::default());
    let mut d = Driver::new(&g);
    for i in 1..=5u128 {
        d.ok(
            "sponsor",
            Action::Transfer {
                to: key("a").account(),
                amount: Amount(i),
            },
        );
        d.now += 1;
    }
    d.chain.entries().to_vec()
}

#[test]
fn an_altered_entry_breaks_the_chain_and_the_replay() {
    let log = small_log();
    verify_chain(&log).unwrap();
    // Alter the amount inside entry 3's message: its signature and the next link break.
    let mut altered = log.clone();
    let last = altered[3].message.len() - 16;
    altered[3].message[last] ^= 1;
    assert_eq!(verify_chain(&altered), Err(ChainError::Link { seq: 4 }));
    match replay(&altered, Verify::Signatures, |_, _| {}) {
        Err(ReplayError::Rejected {
            seq: 3,
            rejection: Rejection::BadSignature { .. },
        }) => {}
        other => panic!("expected a bad signature at 3, got {other:?}"),
    }
    // Re-linking the tail does not help: the signature still fails.
    let mut relinked = altered.clone();
    for i in 4..relinked.len() {
        relinked[i].prev_hash = relinked[i - 1].hash();
    }
    verify_chain(&relinked).unwrap();
    assert!(replay(&relinked, Verify::Signatures, |_, _| {}).is_err());
    // Dropped, repeated and reordered entries.
    let mut dropped = log.clone();
    dropped.remove(2);
    assert!(matches!(
        verify_chain(&dropped),
        Err(ChainError::Seq { .. })
    ));
    let mut swapped = log.clone();
    swapped.swap(2, 3);
    assert!(verify_chain(&swapped).is_err());
    assert!(replay(&swapped, Verify::Skip, |_, _| {}).is_err());
    assert!(matches!(
        replay(&[], Verify::Skip, |_, _| {}),
        Err(ReplayError::Empty)
    ));
}

#[test]
fn specs_are_checked_before_anything_is_escrowed() {
    let base = spec(T0 + 10);
    let mut cases: Vec<(&str, BountySpec, SpecError)> = Vec::new();
    let mut push = |label, f: &dyn Fn(&mut BountySpec), e| {
        let mut s = base.clone();
        f(&mut s);
        cases.push((label, s, e));
    };
    use bounties::spec::*;
    push("empty title", &|s| s.title = " ".into(), SpecError::Title);
    push(
        "long description",
        &|s| s.description = "x".repeat(9_000),
        SpecError::Description,
    );
    push(
        "mse for classification",
        &|s| s.judging.metric = Metric::Mse,
        SpecError::MetricForTask {
            metric: Metric::Mse,
            task: Task::Classification,
        },
    );
    push(
        "gpt for classification",
        &|s| s.architecture.family = arch::Family::Gpt,
        SpecError::FamilyForTask {
            family: arch::Family::Gpt,
            task: Task::Classification,
        },
    );
    push(
        "zero params",
        &|s| s.architecture.max_parameters = 0,
        SpecError::MaxParameters,
    );
    let adapters = |max_rank, max_trainable_parameters| {
        Some(AdapterLimits {
            max_rank,
            max_trainable_parameters,
        })
    };
    push(
        "adapters on an mlp",
        &|s| {
            s.base_model = Some(Hash32([7; 32]));
            s.architecture.adapters = adapters(8, 100_000);
        },
        SpecError::Adapters,
    );
    let bert = |s: &mut BountySpec| {
        s.architecture.family = arch::Family::Bert;
        s.base_model = Some(Hash32([7; 32]));
    };
    push(
        "adapters without a base",
        &|s| {
            bert(s);
            s.base_model = None;
            s.architecture.adapters = adapters(8, 100_000);
        },
        SpecError::Adapters,
    );
    push(
        "adapter rank 0",
        &|s| {
            bert(s);
            s.architecture.adapters = adapters(0, 100_000);
        },
        SpecError::Adapters,
    );
    push(
        "adapter rank over the cap",
        &|s| {
            bert(s);
            s.architecture.adapters = adapters(arch::lora::RANK_MAX + 1, 100_000);
        },
        SpecError::Adapters,
    );
    push(
        "no trainable parameters",
        &|s| {
            bert(s);
            s.architecture.adapters = adapters(8, 0);
        },
        SpecError::Adapters,
    );
    push(
        "zero reward",
        &|s| s.reward = Amount(0),
        SpecError::ZeroReward,
    );
    push("quorum 17", &|s| s.quorum = 17, SpecError::Quorum);
    push(
        "budget below a quorum",
        &|s| s.evaluation_budget = Amount(19),
        SpecError::Budget,
    );
    push(
        "no submissions",
        &|s| s.max_submissions_per_miner = 0,
        SpecError::SubmissionLimit,
    );
    push(
        "negative min improvement",
        &|s| s.judging.min_improvement = Score(-1),
        SpecError::MinImprovement,
    );
    push(
        "bootstrap confidence",
        &|s| {
            s.judging.bootstrap = Some(Bootstrap {
                confidence_bps: 10_000,
                resamples: 1_000,
            })
        },
        SpecError::Bootstrap,
    );
    push(
        "bootstrap resamples",
        &|s| {
            s.judging.bootstrap = Some(Bootstrap {
                confidence_bps: 9_000,
                resamples: 10,
            })
        },
        SpecError::Bootstrap,
    );
    push(
        "top-k sum",
        &|s| {
            s.payout = PayoutRule::TopK {
                shares_bps: vec![5_000, 4_000],
            }
        },
        SpecError::TopKShares,
    );
    push(
        "top-k zero",
        &|s| {
            s.payout = PayoutRule::TopK {
                shares_bps: vec![10_000, 0],
            }
        },
        SpecError::TopKShares,
    );
    push(
        "licence name",
        &|s| s.licence.name = "a\nb".into(),
        SpecError::LicenceName,
    );
    push(
        "fee licence without fee",
        &|s| s.licence.fee = Amount(0),
        SpecError::LicenceFee,
    );
    push(
        "revenue share",
        &|s| s.licence.derivation = Derivation::AllowedWithRevenueShare { share_bps: 10_001 },
        SpecError::RevenueShare,
    );
    push(
        "royalties",
        &|s| s.royalties.sponsor_bps = 1,
        SpecError::RoyaltyShares,
    );
    let g = genesis(&[("sponsor", 1_000_000)], Params::default());
    let mut d = Driver::new(&g);
    for (label, spec, expected) in cases {
        let before = d.state().root();
        let err = d
            .send(
                "sponsor",
                Action::OpenBounty {
                    spec: Box::new(spec),
                },
            )
            .unwrap_err();
        assert_eq!(err, Rejection::InvalidSpec(expected), "{label}");
        assert_eq!(d.state().root(), before);
    }
}

#[test]
fn a_bounty_spec_reads_from_toml() {
    let text = include_str!("../data/bounty-spec.toml");
    let spec: BountySpec = toml::from_str(text).unwrap();
    spec.check().unwrap();
    assert_eq!(spec.quorum, 2);
    let unknown = format!("{text}\nsurprise = 1\n");
    assert!(toml::from_str::<BountySpec>(&unknown).is_err());
}

#[test]
fn adapter_limits_on_a_bert_base_are_a_well_formed_spec() {
    let mut s = spec(T0 + 10);
    s.architecture.family = arch::Family::Bert;
    s.base_model = Some(Hash32([7; 32]));
    s.architecture.adapters = Some(spec::AdapterLimits {
        max_rank: 16,
        max_trainable_parameters: 200_000,
    });
    assert_eq!(s.check(), Ok(()));
}
