//! The state the targets run against, built once: a chain with an open
//! bounty, an ended one with drawn panels and receipts, evaluators and funds.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use bounties::chain::{Chain, Wallet};
use bounties::encoding::{example_scores_digest, sha256};
use bounties::spec::*;
use bounties::*;
use datasets::wordpiece::WordPiece;

pub const CHAIN: &str = "fuzz-chain";
pub const T0: u64 = 1_700_000_000_000;
pub const EXAMPLES: usize = 4;

/// The chain, its genesis entry and its keys: sponsor, miner, three
/// evaluators, then the operator and the minter.
pub struct Fixture {
    pub chain: Chain,
    pub genesis: Entry,
    pub keys: Vec<SecretKey>,
}

pub fn key(name: &str) -> SecretKey {
    SecretKey::from_seed(sha256(name.as_bytes()).0)
}

pub fn spec(title: &str, deadline_ms: u64) -> BountySpec {
    BountySpec {
        title: title.into(),
        description: "fuzz".into(),
        task: Task::Classification,
        train_dataset: sha256(format!("{title} train").as_bytes()),
        hidden_dataset: sha256(format!("{title} hidden").as_bytes()),
        hidden_examples: EXAMPLES as u32,
        architecture: ArchitectureLimits {
            family: arch::Family::Mlp,
            max_parameters: 100_000,
            adapters: None,
        },
        base_model: None,
        judging: Judging {
            metric: Metric::Accuracy,
            baseline: Score(100_000),
            min_improvement: Score(0),
            bootstrap: None,
        },
        reward: Amount(10_000),
        evaluation_budget: Amount(100),
        fee_per_receipt: Amount(10),
        submission_deposit: Amount(20),
        quorum: 2,
        max_submissions_per_miner: 2,
        deadline_ms: TimestampMs(deadline_ms),
        payout: PayoutRule::WinnerTakeAll,
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

fn build() -> Fixture {
    let names = ["sponsor", "miner", "eval-1", "eval-2", "eval-3"];
    let mut keys: Vec<SecretKey> = names.iter().map(|n| key(n)).collect();
    let operator = key("operator");
    let minter = key("minter");
    let mut balances: Vec<(AccountId, Amount)> = keys
        .iter()
        .map(|k| (k.account(), Amount(1_000_000)))
        .collect();
    balances.sort();
    let genesis = Genesis {
        chain_id: CHAIN.into(),
        params: Params::default(),
        minter: minter.account(),
        operator: operator.account(),
        balances,
    };
    let mut chain = Chain::new(&genesis, &operator, TimestampMs(T0)).expect("genesis");
    let genesis_entry = chain.entries()[0].clone();
    let mut wallets: BTreeMap<&str, Wallet> = names
        .iter()
        .zip(&keys)
        .map(|(n, k)| (*n, Wallet::new(k.clone(), CHAIN, 0)))
        .collect();
    wallets.insert("operator", Wallet::new(operator.clone(), CHAIN, 0));
    let mut now = T0;
    let mut send = |chain: &mut Chain, who: &str, action: Action, now: u64| {
        let w = wallets.get_mut(who).expect("a wallet");
        let label = action.name();
        chain
            .append(w.sign(action), TimestampMs(now))
            .unwrap_or_else(|e| panic!("fixture: {who} {label}: {e}"));
    };
    let min_bond = Params::default().min_evaluator_bond;
    for e in ["eval-1", "eval-2", "eval-3"] {
        now += 1;
        send(
            &mut chain,
            e,
            Action::RegisterEvaluator { bond: min_bond },
            now,
        );
    }
    // Bounty A ends and is scored; bounty B stays open.
    let deadline_a = T0 + 60_000;
    now += 1;
    send(
        &mut chain,
        "sponsor",
        Action::OpenBounty {
            spec: Box::new(spec("a", deadline_a)),
        },
        now,
    );
    let bounty_a = BountyId(chain.state().head().seq);
    now += 1;
    send(
        &mut chain,
        "sponsor",
        Action::OpenBounty {
            spec: Box::new(spec("b", T0 + 3_600_000_000)),
        },
        now,
    );
    let mut submissions = Vec::new();
    for i in 0..2u8 {
        let weights = sha256(&[b'w', i]);
        now += 1;
        send(
            &mut chain,
            "miner",
            Action::Submit {
                bounty: bounty_a,
                file_hash: sha256(&[b'f', i]),
                weights_hash: weights,
                parent_weights_hash: None,
            },
            now,
        );
        submissions.push((SubmissionId(chain.state().head().seq), weights));
    }
    now = deadline_a + 1;
    send(
        &mut chain,
        "operator",
        Action::EndSubmissions { bounty: bounty_a },
        now,
    );
    // The first submission's panel posts matching receipts.
    let hidden = chain
        .state()
        .bounty(bounty_a)
        .expect("a")
        .spec
        .hidden_dataset;
    let (sid, weights) = submissions[0];
    let panel = chain
        .state()
        .submission(sid)
        .expect("submitted")
        .panel
        .clone();
    for member in panel {
        let name = names
            .iter()
            .zip(&keys)
            .find(|(_, k)| k.account() == member)
            .map(|(n, _)| *n)
            .expect("a drawn evaluator");
        let examples = vec![Score::SCALE, 0, Score::SCALE, Score::SCALE];
        let receipt = Receipt {
            submission: sid,
            dataset: hidden,
            evaluator_build: sha256(b"fuzz build"),
            verdict: message::Verdict::Scored {
                weights_hash: weights,
                score: Score(examples.iter().sum::<i64>() / EXAMPLES as i64),
                example_digest: example_scores_digest(&examples),
                example_scores: examples,
            },
        };
        now += 1;
        send(&mut chain, name, Action::PostReceipt(receipt), now);
    }
    keys.push(operator);
    keys.push(minter);
    Fixture {
        chain,
        genesis: genesis_entry,
        keys,
    }
}

pub fn state() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(build)
}

/// A small WordPiece tokenizer and its file.
pub fn wordpiece() -> &'static (WordPiece, Vec<u8>) {
    static SMALL: OnceLock<(WordPiece, Vec<u8>)> = OnceLock::new();
    SMALL.get_or_init(|| {
        let vocab = [
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "the", "film",
            "##s", "good", "bad", "!", ".", "a", "##b",
        ];
        let vocab: BTreeMap<&str, usize> = vocab.iter().enumerate().map(|(i, t)| (*t, i)).collect();
        let added: Vec<_> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
            .iter()
            .map(|t| serde_json::json!({"id": vocab[t], "content": t, "special": true, "normalized": false}))
            .collect();
        let json = serde_json::json!({
            "added_tokens": added,
            "normalizer": {"type": "BertNormalizer", "clean_text": true,
                "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
            "pre_tokenizer": {"type": "BertPreTokenizer"},
            "model": {"type": "WordPiece", "unk_token": "[UNK]",
                "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": vocab},
        });
        let bytes = json.to_string().into_bytes();
        (WordPiece::from_json(&bytes, "small.json").expect("the small tokenizer"), bytes)
    })
}
