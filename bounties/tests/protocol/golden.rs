//! Golden vectors: the wire encoding of every action, and a scripted chain in
//! which every action is accepted with its state roots pinned and every
//! rejection reason is produced once, leaving the root unchanged.
//!
//! A change to the encoding, the hashing or the rules shows up as a diff in
//! these snapshots. If it is intended, update them with `UPDATE_EXPECT=1`
//! and say why in the commit.

use std::collections::BTreeSet;

use bounties::encoding::sha256;
use bounties::log::Entry;
use bounties::spec::*;
use bounties::*;
use expect_test::expect;

use crate::support::*;

fn every_action() -> Vec<Action> {
    let mut spec = spec(T0 + 1000);
    spec.base_model = Some(hash("base"));
    spec.judging.bootstrap = Some(Bootstrap {
        confidence_bps: 9_500,
        resamples: 1_000,
    });
    spec.payout = PayoutRule::TopK {
        shares_bps: vec![6_000, 4_000],
    };
    vec![
        Action::Mint {
            to: key("a").account(),
            amount: Amount(u128::MAX),
        },
        Action::Transfer {
            to: key("b").account(),
            amount: Amount(1),
        },
        Action::OpenBounty {
            spec: Box::new(spec),
        },
        Action::TopUp {
            bounty: BountyId(3),
            amount: Amount(500),
        },
        Action::CancelBounty {
            bounty: BountyId(3),
        },
        Action::Submit {
            bounty: BountyId(3),
            file_hash: hash("file"),
            weights_hash: hash("weights"),
            parent_weights_hash: Some(hash("base")),
        },
        Action::RegisterEvaluator {
            bond: Amount(5_000),
        },
        Action::PostReceipt(receipt(
            SubmissionId(9),
            hash("hidden"),
            hash("weights"),
            vec![1_000_000, 0, -5],
        )),
        Action::CloseBounty {
            bounty: BountyId(3),
        },
        Action::BuyLicense {
            model: hash("weights"),
        },
        Action::EndSubmissions {
            bounty: BountyId(3),
        },
        Action::PostReceipt(unscorable(
            SubmissionId(9),
            hash("hidden"),
            message::Unscorable::WeightsMismatch {
                computed: hash("weights"),
            },
        )),
        publish("file-base", "base", "pypi:a-model 1.0 (Apache-2.0)"),
    ]
}

/// A publication naming `file` (a hash already in the log) as its file.
fn publish_file(file: Hash32) -> Action {
    let mut p = publish("x", "fresh-weights", "pypi:a-model 1.0");
    if let Action::PublishModel(p) = &mut p {
        p.file_hash = file;
    }
    p
}

/// A publication of `weights` in `file` under a fee licence whose derivatives
/// send a fifth of their fees up.
fn publish(file: &str, weights: &str, source: &str) -> Action {
    Action::PublishModel(Box::new(message::Publication {
        file_hash: hash(file),
        weights_hash: hash(weights),
        source: source.into(),
        licence: LicenceTerms {
            name: "Apache-2.0".into(),
            commercial_use: CommercialUse::AllowedWithFee,
            fee: Amount(1_000),
            derivation: Derivation::AllowedWithRevenueShare { share_bps: 2_000 },
            duration_ms: None,
        },
    }))
}

#[test]
fn message_encodings_are_pinned() {
    let signer = key("golden-signer");
    let mut out = String::new();
    for (nonce, action) in every_action().into_iter().enumerate() {
        let message = Message {
            chain_id: "golden".into(),
            signer: signer.account(),
            nonce: nonce as u64 + 1,
            action,
        };
        let signed = message.sign(&signer);
        let bytes = &signed.message;
        // Round trip, strictly.
        assert_eq!(encoding::decode::<Message>(bytes).unwrap(), message);
        out += &format!(
            "{}: {} bytes sha256 {} sig {}\n",
            message.action.name(),
            bytes.len(),
            sha256(bytes),
            hex::encode(&signed.signature.0[..16]),
        );
        if matches!(message.action, Action::Transfer { .. }) {
            out += &format!("transfer bytes: {}\n", hex::encode(bytes));
        }
    }
    expect![[r#"
        mint: 99 bytes sha256 5fd922b8405e5aeea0075daf2bb9680e10af94265832a145ed2eddf9f318062d sig 0f956c66540d6c5f8ee443855d3ca9d3
        transfer: 99 bytes sha256 39d1235bd8b5f8cfcb5a00ccedf2500a6e309ab26b9b847a1d70a3839e48cd59 sig 3105c4c85820d79b62866c5dd9cda747
        transfer bytes: 06000000676f6c64656e0cd08a3252ae2e3332cc847a717da351c550fde7e85d7bd9320e3ed8897bccfa020000000000000001627f17d893e5697a4ba2208bc80b0292e7f58d8120eb353c1b55429db9c6b19601000000000000000000000000000000
        open_bounty: 350 bytes sha256 7d9314f8eaf3579eae5a0ec2c510214a12c6f7291a2eeefcf1ee2c6cf08824e8 sig 8bb5676c2c2b678ddd311cc3c4ceae2c
        top_up: 75 bytes sha256 815bd8e6a1574f368666fe81bb32b39d04529786fdc5cef1bf82aad44c0a1a02 sig 8c7240fd16ae86fc00c95cc9ebc774bd
        cancel_bounty: 59 bytes sha256 8346c3ae711b7c1f31c6b689cb2886e4708b2ed62b0f398e001ad571b2149cc2 sig 5889549d43a368191c93d141e2624ae8
        submit: 156 bytes sha256 34e2e3f38b115a397136335bdefd78d2360903033c203db0fa8122f4b68da4e3 sig 84f64c38941a7576a45617a4c83f1347
        register_evaluator: 67 bytes sha256 5903f17773ba93dbb54e1710a4b6bb231a21c8ca96db0c947c10f12e212c48c2 sig e28477d7dd359d8944a768550b810fef
        post_receipt: 224 bytes sha256 0645261a429dad07b79fc0101a31a5288cf4b00d0c730fb5bff09131803f5325 sig 7703803bee1131a8a5ec8f62f4afbc64
        close_bounty: 59 bytes sha256 a035f6cc4bebcbf324089710ea8c72f9aaa8cfba756f1af8ac15dbdf6274f7ab sig 4eb0eadd22f1f2f60b697b6a0022eaca
        buy_license: 83 bytes sha256 777161331d9a3e47be9165151acfb3b33ed1f283c5d728030c1d90999909160b sig a038280d63f09ad9b8b754b17d3093fd
        end_submissions: 59 bytes sha256 c5698ed84b61cce74b7a331ea3744719a107fbfc8e1e5f5d0b81e0ca8c8a3651 sig 55f1ea13feb45347b4d53c96c5c6b5b7
        post_receipt: 157 bytes sha256 16f00b5604dfe9c456bf361a433d0217eaf8e5f6e9f6d68c66bd4e87be7baa64 sig 531839a59e365f14913233a0b967b85a
        publish_model: 183 bytes sha256 aee864880a8a56638621d69f7494789ea3708570cb958c01e8799ab3ee2e6200 sig b51ec4023633566d0a1203a677f8730d
    "#]]
    .assert_eq(&out);
}

#[test]
fn genesis_and_entry_encodings_are_pinned() {
    let g = genesis(
        &[("sponsor", 1_000_000), ("licensee", 5)],
        Params::default(),
    );
    let entry = Entry::genesis(&g, &key("operator"), TimestampMs(T0));
    let state = State::from_genesis(&entry, Verify::Signatures).unwrap();
    let out = format!(
        "genesis bytes: {}\nentry hash: {}\nstate root: {}\n",
        hex::encode(&entry.message),
        entry.hash(),
        state.root()
    );
    expect![[r#"
        genesis bytes: 0a000000746573742d636861696ee8030000000000000000000000000000d00780ee36000000000000001000c027090000000000b4372744ffcab80821bd2ae9259c8556ccd4217a68a729fdc82ba5dd6f4e40d1ce721b929f7c89a7d9e6bf636663d820db2d23930c1f8e547652dffc549e79cc020000004dc21aac8658d938f2f37253691ad8462f8e33b7bb0eea4adb7dd5f4cef993a740420f00000000000000000000000000e4b14d6dfe8d9ed90a858ff50237dc84f668dff5ca4e223f9398f87c39ecf38905000000000000000000000000000000
        entry hash: d915a6a8351e16b1d1528eae29aa148c64728a0305883f99e67f27c7dc4f1e5f
        state root: 805f7b7e37fbb2200c992bd92517eac2fca9e8fd3138c220f1363fdda74aecc1
    "#]]
    .assert_eq(&out);
}

/// Registered evaluators of the script other than the miner and the panel of `sid`.
fn outsiders(d: &Driver, sid: SubmissionId) -> Vec<String> {
    let sub = d.state().submission(sid).unwrap();
    let panel = d.panel(sid);
    ["e1", "e2", "e3", "a", "b"]
        .iter()
        .map(|e| e.to_string())
        .filter(|e| !panel.contains(e) && key(e).account() != sub.miner)
        .collect()
}

/// Drives the script: records each step's outcome and the roots around it.
struct Script {
    d: Driver,
    out: String,
    codes: BTreeSet<&'static str>,
}

impl Script {
    fn root(&self) -> String {
        self.d.state().root().to_hex()[..16].to_owned()
    }

    fn check_invariants(&self) {
        self.d.state().check_conservation().unwrap();
    }

    fn ok(&mut self, who: &str, action: Action) -> u64 {
        let before = self.root();
        let name = action.name();
        let seq = self.d.ok(who, action);
        self.check_invariants();
        self.out += &format!(
            "{seq:>3} {who:<9} {name:<18} ok  {before} -> {}\n",
            self.root()
        );
        seq
    }

    fn no(&mut self, who: &str, action: Action, code: &'static str) {
        let before = self.root();
        let name = action.name();
        let err = self
            .d
            .send(who, action)
            .expect_err(&format!("{who} {name} should be rejected"));
        assert_eq!(err.code(), code, "{who} {name}: {err}");
        assert_eq!(self.root(), before, "a rejection changed the state");
        self.codes.insert(code);
        self.out += &format!("    {who:<9} {name:<18} no  {code}: {err}\n");
    }

    /// A hand-made entry that must be rejected.
    fn no_entry(&mut self, label: &str, entry: Entry, code: &'static str) {
        let before = self.root();
        let err = self
            .d
            .state()
            .applied(&entry, Verify::Signatures)
            .expect_err(label);
        assert_eq!(err.code(), code, "{label}: {err}");
        assert_eq!(self.root(), before);
        self.codes.insert(code);
        self.out += &format!("    {label:<28} no  {code}: {err}\n");
    }

    fn next_entry(&mut self, who: &str, action: Action) -> Entry {
        let head = self.d.state().head();
        let signed = self.d.wallet(who).message(action).sign(&key(who));
        Entry::next(head.seq, head.hash, TimestampMs(self.d.now), signed)
    }
}

#[test]
fn scripted_chain_pins_roots_and_every_rejection() {
    let params = Params {
        message_bytes_max: 8_192,
        ..Params::default()
    };
    let g = genesis(&[("sponsor", 1_000_000), ("licensee", 100_000)], params);
    let mut s = Script {
        d: Driver::new(&g),
        out: String::new(),
        codes: BTreeSet::new(),
    };
    let acct = |n: &str| key(n).account();
    let deadline = T0 + 100_000;

    // Tokens.
    for who in ["e1", "e2", "e3", "a", "b"] {
        s.ok(
            "minter",
            Action::Mint {
                to: acct(who),
                amount: Amount(10_000),
            },
        );
    }
    s.no(
        "a",
        Action::Mint {
            to: acct("a"),
            amount: Amount(1),
        },
        "not_minter",
    );
    s.no(
        "minter",
        Action::Mint {
            to: acct("a"),
            amount: Amount(0),
        },
        "zero_amount",
    );
    s.no(
        "minter",
        Action::Mint {
            to: acct("a"),
            amount: Amount(u128::MAX),
        },
        "overflow",
    );
    s.ok(
        "sponsor",
        Action::Transfer {
            to: acct("a"),
            amount: Amount(100),
        },
    );
    s.no(
        "a",
        Action::Transfer {
            to: acct("sponsor"),
            amount: Amount(1_000_000_000),
        },
        "insufficient_balance",
    );

    // Bounties.
    let mut spec1 = spec(deadline);
    spec1.evaluation_budget = Amount(50);
    let hidden = spec1.hidden_dataset;
    let b1 = BountyId(s.ok(
        "sponsor",
        Action::OpenBounty {
            spec: Box::new(spec1),
        },
    ));
    let mut reused = spec(deadline);
    reused.train_dataset = hidden;
    reused.hidden_dataset = hash("another-hidden");
    s.no(
        "sponsor",
        Action::OpenBounty {
            spec: Box::new(reused.clone()),
        },
        "sealed_artifact",
    );
    reused.train_dataset = hash("train");
    reused.hidden_dataset = hidden;
    s.no(
        "sponsor",
        Action::OpenBounty {
            spec: Box::new(reused),
        },
        "hidden_set_in_use",
    );
    let mut bad = spec(deadline);
    bad.quorum = 0;
    s.no(
        "sponsor",
        Action::OpenBounty {
            spec: Box::new(bad),
        },
        "invalid_spec",
    );
    s.no(
        "sponsor",
        Action::OpenBounty {
            spec: Box::new(spec(T0 - 1)),
        },
        "deadline_not_in_future",
    );
    s.ok(
        "licensee",
        Action::TopUp {
            bounty: b1,
            amount: Amount(500),
        },
    );
    s.no(
        "licensee",
        Action::TopUp {
            bounty: BountyId(999),
            amount: Amount(1),
        },
        "unknown_bounty",
    );
    let mut spec2 = spec(deadline);
    spec2.hidden_dataset = hash("hidden-of-b2");
    let b2 = BountyId(s.ok(
        "sponsor",
        Action::OpenBounty {
            spec: Box::new(spec2),
        },
    ));
    s.no("a", Action::CancelBounty { bounty: b2 }, "not_sponsor");
    s.ok("sponsor", Action::CancelBounty { bounty: b2 });
    s.no(
        "sponsor",
        Action::TopUp {
            bounty: b2,
            amount: Amount(1),
        },
        "bounty_not_open",
    );

    // Submissions.
    let submit = |w: &str| Action::Submit {
        bounty: b1,
        file_hash: hash(&format!("file-{w}")),
        weights_hash: hash(w),
        parent_weights_hash: None,
    };
    let sa = SubmissionId(s.ok("a", submit("wa")));
    let refile = |w: &str| Action::Submit {
        bounty: b1,
        file_hash: hash(&format!("another-file-{w}")),
        weights_hash: hash(w),
        parent_weights_hash: None,
    };
    s.no("b", refile("wa"), "weights_claimed");
    s.no("a", refile("wa"), "already_submitted");
    let sb = SubmissionId(s.ok("b", submit("wb")));
    s.ok("a", submit("wa2"));
    s.no("a", submit("wa3"), "submission_limit");
    s.no("sponsor", submit("ws"), "sponsor_cannot_submit");
    s.no(
        "sponsor",
        Action::CancelBounty { bounty: b1 },
        "has_submissions",
    );

    s.no(
        "b",
        Action::Submit {
            bounty: b1,
            file_hash: hash("file-wa"),
            weights_hash: hash("w-other"),
            parent_weights_hash: None,
        },
        "file_claimed",
    );
    let mut derived = spec(deadline + 1);
    derived.base_model = Some(hash("wa"));
    s.no(
        "sponsor",
        Action::OpenBounty {
            spec: Box::new(derived),
        },
        "base_model_sealed",
    );
    // Evaluators and receipts.
    s.no(
        "e1",
        Action::RegisterEvaluator { bond: Amount(500) },
        "bond_too_small",
    );
    for who in ["e1", "e2", "e3", "a", "b"] {
        s.ok(
            who,
            Action::RegisterEvaluator {
                bond: Amount(5_000),
            },
        );
    }
    let scored = |sid: SubmissionId, w: &str, right: usize| {
        Action::PostReceipt(receipt(sid, hidden, hash(w), accuracy(right, 10)))
    };
    s.no("e1", scored(sa, "wa", 9), "not_scoring");
    s.no(
        "operator",
        Action::EndSubmissions { bounty: b1 },
        "before_deadline",
    );
    s.no(
        "e1",
        Action::CloseBounty { bounty: b1 },
        "submissions_not_ended",
    );
    s.d.now = deadline;
    s.no("b", submit("wb2"), "after_deadline");
    s.no("e1", Action::EndSubmissions { bounty: b1 }, "not_operator");
    s.ok("operator", Action::EndSubmissions { bounty: b1 });
    let (pa, oa) = (s.d.panel(sa), outsiders(&s.d, sa));
    let (pb, ob) = (s.d.panel(sb), outsiders(&s.d, sb));
    s.no("licensee", scored(sa, "wa", 9), "not_evaluator");
    s.no(
        "e1",
        scored(SubmissionId(999), "wa", 9),
        "unknown_submission",
    );
    s.no(
        "e1",
        Action::PostReceipt(receipt(sa, hash("train"), hash("wa"), accuracy(9, 10))),
        "wrong_dataset",
    );
    s.no(
        &pa[0],
        Action::PostReceipt(receipt(sa, hidden, hash("wa"), accuracy(9, 11))),
        "wrong_example_count",
    );
    let mut forged = receipt(sa, hidden, hash("wa"), accuracy(9, 10));
    if let message::Verdict::Scored { example_scores, .. } = &mut forged.verdict {
        example_scores[9] = Score::SCALE;
    }
    s.no(&pa[0], Action::PostReceipt(forged), "digest_mismatch");
    s.no(&pa[0], scored(sa, "wb", 9), "weights_mismatch");
    s.no("a", scored(sa, "wa", 9), "self_evaluation");
    s.no(&oa[0], scored(sa, "wa", 9), "not_assigned");
    s.ok(&pa[0], scored(sa, "wa", 9));
    s.no(&pa[0], scored(sa, "wa", 9), "duplicate_receipt");
    s.ok(&pa[1], scored(sa, "wa", 9));
    assert_eq!(
        s.d.state()
            .submission(sa)
            .unwrap()
            .final_score
            .as_ref()
            .unwrap()
            .score(),
        Some(Score(900_000))
    );
    s.no(&oa[0], scored(sa, "wa", 9), "score_already_final");
    s.ok(&pb[0], scored(sb, "wb", 6));
    s.ok(&pb[1], scored(sb, "wb", 6));
    // A challenge from outside the panel, decided against the challenger.
    // The challenger is a competitor ("a"): it may contest, never decide, so
    // the one evaluator left is drawn to decide.
    let challenger = ob.last().unwrap();
    assert_eq!(challenger, "a");
    s.ok(challenger, scored(sb, "wb", 7));
    let jury =
        s.d.state()
            .submission(sb)
            .unwrap()
            .dispute
            .clone()
            .unwrap()
            .panel
            .clone();
    let jury: Vec<String> = jury.iter().map(|a| s.d.name_of(a)).collect();
    for j in &jury {
        s.ok(j, scored(sb, "wb", 6));
    }
    assert!(s.d.state().evaluator(&acct(challenger)).unwrap().forfeited > Amount::ZERO);
    let pa2 = s.d.panel(SubmissionId(sb.0 + 1));
    s.no(
        &pa2[0],
        scored(SubmissionId(sb.0 + 1), "wa2", 5),
        "budget_exhausted",
    );
    // Closing.
    s.no(
        "e1",
        Action::CloseBounty { bounty: b1 },
        "pending_evaluations",
    );
    s.d.now = deadline + Params::default().close_grace_ms;
    s.ok("operator", Action::CloseBounty { bounty: b1 });
    assert_eq!(
        s.d.state()
            .model(&hash("wa"))
            .unwrap()
            .licence
            .as_ref()
            .unwrap()
            .contributors[0]
            .0,
        acct("a")
    );
    // Licences.
    s.no(
        "licensee",
        Action::BuyLicense {
            model: hash("nothing"),
        },
        "unknown_model",
    );
    s.no(
        "licensee",
        Action::BuyLicense { model: hash("wb") },
        "not_a_winner",
    );
    s.ok("licensee", Action::BuyLicense { model: hash("wa") });

    // A bounty fine-tuning the winner, whose own licence forbids everything.
    let deadline3 = s.d.now + 100_000;
    let mut spec3 = spec(deadline3);
    spec3.base_model = Some(hash("wa"));
    spec3.quorum = 3;
    spec3.submission_deposit = Amount(30);
    spec3.licence.commercial_use = CommercialUse::NotAllowed;
    spec3.licence.derivation = Derivation::NotAllowed;
    let hidden3 = spec3.hidden_dataset;
    let b3 = BountyId(s.ok(
        "sponsor",
        Action::OpenBounty {
            spec: Box::new(spec3),
        },
    ));
    let child = |parent: Option<Hash32>| Action::Submit {
        bounty: b3,
        file_hash: hash("file-wc"),
        weights_hash: hash("wc"),
        parent_weights_hash: parent,
    };
    s.no("b", child(None), "parent_mismatch");
    let sc = SubmissionId(s.ok("b", child(Some(hash("wa")))));
    s.d.now = deadline3;
    s.ok("operator", Action::EndSubmissions { bounty: b3 });
    let scored3 =
        |right: usize| Action::PostReceipt(receipt(sc, hidden3, hash("wc"), accuracy(right, 10)));
    for p in s.d.panel(sc) {
        s.ok(&p, scored3(10));
    }
    s.no(
        "e2",
        Action::CloseBounty { bounty: b3 },
        "dispute_window_open",
    );
    // Everyone else is on the panel: nobody is left to hear a challenge.
    let last = outsiders(&s.d, sc)[0].clone();
    s.no(&last, scored3(2), "no_dispute_panel");
    s.d.now += Params::default().dispute_window_ms;
    s.no(&last, scored3(2), "dispute_window_closed");
    s.ok("e2", Action::CloseBounty { bounty: b3 });
    s.no(
        "licensee",
        Action::BuyLicense { model: hash("wc") },
        "commercial_use_not_allowed",
    );
    let mut spec4 = spec(s.d.now + 1);
    spec4.base_model = Some(hash("wc"));
    s.no(
        "sponsor",
        Action::OpenBounty {
            spec: Box::new(spec4),
        },
        "derivation_not_allowed",
    );

    // A published base: claimed by weights like a submission, public at
    // once, licensed on its publisher's terms.
    s.no("a", publish("file-base", "base", " "), "bad_source");
    let mut free = publish("file-base", "base", "pypi:a-model 1.0");
    if let Action::PublishModel(p) = &mut free {
        p.licence.fee = Amount::ZERO;
    }
    s.no("a", free, "invalid_licence");
    s.no(
        "a",
        publish("file-base", "wc", "pypi:a-model 1.0"),
        "weights_claimed",
    );
    s.no("a", publish_file(hidden3), "file_claimed");
    s.ok(
        "a",
        publish("file-base", "base", "pypi:a-model 1.0 (Apache-2.0)"),
    );
    s.no(
        "b",
        publish("file-base-2", "base", "a copy"),
        "weights_claimed",
    );
    let mut spec5 = spec(s.d.now + 1_000);
    spec5.base_model = Some(hash("base"));
    s.ok(
        "sponsor",
        Action::OpenBounty {
            spec: Box::new(spec5),
        },
    );
    s.ok(
        "licensee",
        Action::BuyLicense {
            model: hash("base"),
        },
    );

    // Entries and messages that never reach an action.
    let good = s.next_entry(
        "a",
        Action::Transfer {
            to: acct("b"),
            amount: Amount(1),
        },
    );
    s.no_entry(
        "wrong seq",
        Entry {
            seq: good.seq + 1,
            ..good.clone()
        },
        "wrong_seq",
    );
    s.no_entry(
        "broken chain",
        Entry {
            prev_hash: hash("x"),
            ..good.clone()
        },
        "broken_chain",
    );
    s.no_entry(
        "time went backwards",
        Entry {
            timestamp_ms: TimestampMs(T0),
            ..good.clone()
        },
        "time_went_backwards",
    );
    s.no_entry(
        "message too large",
        Entry {
            message: vec![0; 9_000],
            ..good.clone()
        },
        "message_too_large",
    );
    s.no_entry(
        "malformed message",
        Entry {
            message: vec![1, 2, 3],
            ..good.clone()
        },
        "malformed",
    );
    let mut sig = good.signature;
    sig.0[10] ^= 1;
    s.no_entry(
        "forged signature",
        Entry {
            signature: sig,
            ..good.clone()
        },
        "bad_signature",
    );
    let by_other = key("b").sign(&encoding::signing_payload(
        encoding::DOMAIN_MESSAGE,
        CHAIN,
        &good.message,
    ));
    s.no_entry(
        "signed by another key",
        Entry {
            signature: by_other,
            ..good.clone()
        },
        "bad_signature",
    );
    let mut other_chain = s.d.wallet("a").message(Action::Transfer {
        to: acct("b"),
        amount: Amount(1),
    });
    other_chain.chain_id = "other-chain".into();
    let signed = other_chain.sign(&key("a"));
    s.no_entry(
        "another chain",
        Entry {
            message: signed.message,
            signature: signed.signature,
            ..good.clone()
        },
        "wrong_chain",
    );
    let first_transfer = s.d.chain.entries()[6].clone();
    s.no_entry(
        "replayed message",
        Entry {
            message: first_transfer.message,
            signature: first_transfer.signature,
            ..good.clone()
        },
        "bad_nonce",
    );
    let mut gap = s.d.wallet("a").message(Action::Transfer {
        to: acct("b"),
        amount: Amount(1),
    });
    gap.nonce += 1;
    let signed = gap.sign(&key("a"));
    s.no_entry(
        "nonce gap",
        Entry {
            message: signed.message,
            signature: signed.signature,
            ..good
        },
        "bad_nonce",
    );

    // Every rejection reason the state machine can give is exercised above
    // (invalid genesis is covered in the adversarial tests; split_failed is unreachable).
    let all: BTreeSet<&str> = [
        "wrong_seq",
        "broken_chain",
        "time_went_backwards",
        "message_too_large",
        "malformed",
        "wrong_chain",
        "bad_signature",
        "bad_nonce",
        "not_minter",
        "not_operator",
        "zero_amount",
        "insufficient_balance",
        "overflow",
        "invalid_spec",
        "deadline_not_in_future",
        "derivation_not_allowed",
        "unknown_bounty",
        "bounty_not_open",
        "not_sponsor",
        "has_submissions",
        "after_deadline",
        "submission_limit",
        "weights_claimed",
        "already_submitted",
        "parent_mismatch",
        "bond_too_small",
        "not_evaluator",
        "unknown_submission",
        "wrong_dataset",
        "wrong_example_count",
        "weights_mismatch",
        "not_assigned",
        "not_scoring",
        "submissions_not_ended",
        "dispute_window_open",
        "dispute_window_closed",
        "no_dispute_panel",
        "hidden_set_in_use",
        "sealed_artifact",
        "base_model_sealed",
        "file_claimed",
        "sponsor_cannot_submit",
        "digest_mismatch",
        "self_evaluation",
        "duplicate_receipt",
        "score_already_final",
        "budget_exhausted",
        "before_deadline",
        "pending_evaluations",
        "unknown_model",
        "not_a_winner",
        "commercial_use_not_allowed",
        "bad_source",
        "invalid_licence",
    ]
    .into_iter()
    .collect();
    assert_eq!(s.codes, all);

    // Replaying the log gives the same state root.
    let replayed = replay::replay(s.d.chain.entries(), Verify::Signatures, |_, _| {}).unwrap();
    assert_eq!(replayed.root(), s.d.state().root());
    s.out += &format!("final root {}\n", s.d.state().root());
    expect![[r#"
          1 minter    mint               ok  69408299c88cedbe -> 168cde71dc96668a
          2 minter    mint               ok  168cde71dc96668a -> 36c4dfb85e725e07
          3 minter    mint               ok  36c4dfb85e725e07 -> 74daf77677080667
          4 minter    mint               ok  74daf77677080667 -> a74c7c9021c96f54
          5 minter    mint               ok  a74c7c9021c96f54 -> 75f7974d821ea0af
            a         mint               no  not_minter: only the minter may mint
            minter    mint               no  zero_amount: amount must be positive
            minter    mint               no  overflow: amount overflows: total supply
          6 sponsor   transfer           ok  75f7974d821ea0af -> bbd2f1066936bb36
            a         transfer           no  insufficient_balance: insufficient balance: needs 1000000000, has 10100
          7 sponsor   open_bounty        ok  bbd2f1066936bb36 -> 9c778c32a4f4d096
            sponsor   open_bounty        no  sealed_artifact: artifact 7de2466fb73119c655bfb72326c24af94e97c20fe3e2d85897efbcf6077dc189 is sealed by an open bounty and cannot be a training set
            sponsor   open_bounty        no  hidden_set_in_use: dataset 7de2466fb73119c655bfb72326c24af94e97c20fe3e2d85897efbcf6077dc189 is already named in the log; a hidden set must be new
            sponsor   open_bounty        no  invalid_spec: invalid bounty spec: quorum must be 1 to 16
            sponsor   open_bounty        no  deadline_not_in_future: deadline 1699999999999 ms is not after now 1700000000000 ms
          8 licensee  top_up             ok  9c778c32a4f4d096 -> 53f5a741e0e26fa9
            licensee  top_up             no  unknown_bounty: no bounty 999
          9 sponsor   open_bounty        ok  53f5a741e0e26fa9 -> f695ff884b6e5ea9
            a         cancel_bounty      no  not_sponsor: only the sponsor of bounty 9 may do this
         10 sponsor   cancel_bounty      ok  f695ff884b6e5ea9 -> 03d2d598d7bd8d93
            sponsor   top_up             no  bounty_not_open: bounty 9 is cancelled, not open
         11 a         submit             ok  03d2d598d7bd8d93 -> 67230e807ef4f1f7
            b         submit             no  weights_claimed: weights 87b810070b7c739690268360ea392429368787010a558a1837643058d2437dce were first submitted by eae1c8793b5597c4b3f490e76ac31172c439690f8ee14142bb851a61f9a49f0e; priority belongs to the first appearance
            a         submit             no  already_submitted: weights 87b810070b7c739690268360ea392429368787010a558a1837643058d2437dce are already submitted
         12 b         submit             ok  67230e807ef4f1f7 -> 12718b19a2470817
         13 a         submit             ok  12718b19a2470817 -> f4f6678a806d9a1e
            a         submit             no  submission_limit: submission limit of 2 per miner reached
            sponsor   submit             no  sponsor_cannot_submit: the sponsor of bounty 7 may not submit to it
            sponsor   cancel_bounty      no  has_submissions: bounty 7 has submissions and cannot be cancelled
            b         submit             no  file_claimed: file 883bc2995ad9cf21c3f1164bafc6e9b221e0e4b95583f4334551140b00977152 is already named in the log (a submission or a dataset)
            sponsor   open_bounty        no  base_model_sealed: base model 87b810070b7c739690268360ea392429368787010a558a1837643058d2437dce is not released: its bounty has not closed
            e1        register_evaluator no  bond_too_small: an evaluator's bond must be at least 1000
         14 e1        register_evaluator ok  f4f6678a806d9a1e -> 954dcf53abf1490b
         15 e2        register_evaluator ok  954dcf53abf1490b -> e8f211a1ae0fa324
         16 e3        register_evaluator ok  e8f211a1ae0fa324 -> 5f49bab0cd397e26
         17 a         register_evaluator ok  5f49bab0cd397e26 -> 9783030c8792d22b
         18 b         register_evaluator ok  9783030c8792d22b -> 6f31d2be19277902
            e1        post_receipt       no  not_scoring: bounty 7 is open: receipts are taken only while it is scoring
            operator  end_submissions    no  before_deadline: bounty 7's deadline 1700000100000 ms has not passed
            e1        close_bounty       no  submissions_not_ended: bounty 7 has not ended its submissions (EndSubmissions comes first)
            b         submit             no  after_deadline: bounty 7 stopped taking submissions at 1700000100000 ms
            e1        end_submissions    no  not_operator: only the coordinator's operator may end a bounty's submissions
         19 operator  end_submissions    ok  6f31d2be19277902 -> bd7f8e5c73764931
            licensee  post_receipt       no  not_evaluator: e4b14d6dfe8d9ed90a858ff50237dc84f668dff5ca4e223f9398f87c39ecf389 is not a registered evaluator with the minimum bond
            e1        post_receipt       no  unknown_submission: no submission 999
            e1        post_receipt       no  wrong_dataset: receipt scores dataset 116f54c41d0405dbb10e7b04ebc31e262a5b8c85c1233fcf36eaee344d91ae58; the bounty's hidden set is 7de2466fb73119c655bfb72326c24af94e97c20fe3e2d85897efbcf6077dc189
            e2        post_receipt       no  wrong_example_count: a receipt carries 11 per-example scores; the hidden set has 10
            e2        post_receipt       no  digest_mismatch: example digest does not match the per-example scores
            e2        post_receipt       no  weights_mismatch: receipt scored weights 3b45022ab36728cdae12e709e945bba267c50ee8a91e6e4388539a8e03a3fdcd; the submission claims 87b810070b7c739690268360ea392429368787010a558a1837643058d2437dce
            a         post_receipt       no  self_evaluation: an evaluator may not score their own submission
            e3        post_receipt       no  not_assigned: this evaluator was not drawn to score submission 11
         20 e2        post_receipt       ok  bd7f8e5c73764931 -> 9977c77eb349ee76
            e2        post_receipt       no  duplicate_receipt: this evaluator already posted a receipt for submission 11
         21 e1        post_receipt       ok  9977c77eb349ee76 -> 81d17c3037e2d664
            e3        post_receipt       no  score_already_final: submission 11 already has a final finding that this receipt agrees with
         22 e3        post_receipt       ok  81d17c3037e2d664 -> fdb4b1041149acf7
         23 e2        post_receipt       ok  fdb4b1041149acf7 -> e47d407bbb2a89cf
         24 a         post_receipt       ok  e47d407bbb2a89cf -> 70fe9b2a9493dc3b
         25 e1        post_receipt       ok  70fe9b2a9493dc3b -> 51b06ae2022d9745
            e2        post_receipt       no  budget_exhausted: bounty 7's evaluation budget is spent
            e1        close_bounty       no  pending_evaluations: bounty 7 has 1 submissions without a final score; it can close at 1700003700000 ms
         26 operator  close_bounty       ok  51b06ae2022d9745 -> abc11af7c7f0ddb8
            licensee  buy_license        no  unknown_model: no model has weights hash 1785cfc3bc6ac7738e8b38cdccd1af12563c2b9070e07af336a1bf8c0f772b6a
            licensee  buy_license        no  not_a_winner: model 3b45022ab36728cdae12e709e945bba267c50ee8a91e6e4388539a8e03a3fdcd did not win a closed bounty and has no licence to sell
         27 licensee  buy_license        ok  abc11af7c7f0ddb8 -> 21ee33fc45d3ff12
         28 sponsor   open_bounty        ok  21ee33fc45d3ff12 -> 1e181f9bdbe6839c
            b         submit             no  parent_mismatch: the bounty fine-tunes 87b810070b7c739690268360ea392429368787010a558a1837643058d2437dce; the submission's parent must be that model
         29 b         submit             ok  1e181f9bdbe6839c -> e45475f33fef6fd2
         30 operator  end_submissions    ok  e45475f33fef6fd2 -> 83801d4645aad085
         31 a         post_receipt       ok  83801d4645aad085 -> 337e643511fb7d31
         32 e2        post_receipt       ok  337e643511fb7d31 -> 32a81169ff82b722
         33 e1        post_receipt       ok  32a81169ff82b722 -> 52d9a13544520b7c
            e2        close_bounty       no  dispute_window_open: bounty 28 has a final score whose dispute window is open until 1700004400000 ms
            e3        post_receipt       no  no_dispute_panel: no evaluator outside the panel is left to hear a dispute of submission 29
            e3        post_receipt       no  dispute_window_closed: submission 29's score is final and its dispute window closed at 1700004400000 ms
         34 e2        close_bounty       ok  52d9a13544520b7c -> 099e72644381fa08
            licensee  buy_license        no  commercial_use_not_allowed: model 9c7d3cc1bee7acc045c697d6d56fd8d9a1732f31ccd59c2a56872456e648f72d's licence does not allow commercial use
            sponsor   open_bounty        no  derivation_not_allowed: base model 9c7d3cc1bee7acc045c697d6d56fd8d9a1732f31ccd59c2a56872456e648f72d does not allow derivatives
            a         publish_model      no  bad_source: a published model's source must be 1 to 256 printable bytes
            a         publish_model      no  invalid_licence: invalid licence terms: commercial-use allowed-with-fee needs a positive fee
            a         publish_model      no  weights_claimed: weights 9c7d3cc1bee7acc045c697d6d56fd8d9a1732f31ccd59c2a56872456e648f72d were first submitted by 627f17d893e5697a4ba2208bc80b0292e7f58d8120eb353c1b55429db9c6b196; priority belongs to the first appearance
            a         publish_model      no  file_claimed: file a27a1db1cbf20674858643c6088f2eff917c8b8594c5491378bd3dcb4c6988d8 is already named in the log (a submission or a dataset)
         35 a         publish_model      ok  099e72644381fa08 -> fad120e94ec07799
            b         publish_model      no  weights_claimed: weights cae662172fd450bb0cd710a769079c05bfc5d8e35efa6576edc7d0377afdd4a2 were first submitted by eae1c8793b5597c4b3f490e76ac31172c439690f8ee14142bb851a61f9a49f0e; priority belongs to the first appearance
         36 sponsor   open_bounty        ok  fad120e94ec07799 -> fb43da4d47593702
         37 licensee  buy_license        ok  fb43da4d47593702 -> ca5cc008d1b0797d
            wrong seq                    no  wrong_seq: entry has seq 39, but the next seq is 38
            broken chain                 no  broken_chain: entry's prev_hash 2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881 is not the head's hash a49fae03369a86d13aba66e81ce6f64aeaa2e69129022f73072a7595c5b9f040
            time went backwards          no  time_went_backwards: entry's timestamp 1700000000000 ms is earlier than the previous entry's 1700004400000 ms
            message too large            no  message_too_large: message is 9000 bytes; the most allowed is 8192
            malformed message            no  malformed: message does not decode: malformed encoding: Unexpected length of input
            forged signature             no  bad_signature: signature does not verify for signer eae1c8793b5597c4b3f490e76ac31172c439690f8ee14142bb851a61f9a49f0e
            signed by another key        no  bad_signature: signature does not verify for signer eae1c8793b5597c4b3f490e76ac31172c439690f8ee14142bb851a61f9a49f0e
            another chain                no  wrong_chain: message is for chain "other-chain", this is chain "test-chain"
            replayed message             no  bad_nonce: nonce 1 is not the next nonce 7 for this signer (replayed or out of order)
            nonce gap                    no  bad_nonce: nonce 8 is not the next nonce 7 for this signer (replayed or out of order)
        final root ca5cc008d1b0797d931885117d678be87341b464ba2bd1be50f972247ffed4b9
    "#]]
    .assert_eq(&s.out);
}
