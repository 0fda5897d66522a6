//! The whole protocol over HTTP against a real server and SQLite file: open,
//! upload, submit, lease, receipts, close by the scheduler, payout, licence,
//! provenance, sealing, audit.

mod support;

use bounties::{Action, Amount, BountyId, Params, encoding};
use bounties_client::ClientError;
use coordinator::clock::Clock;
use serde_json::Value;

#[test]
fn a_bounty_runs_from_open_to_royalties_over_http() {
    let params = Params {
        close_grace_ms: 60_000,
        ..Params::default()
    };
    let s = support::serve(
        &["sponsor", "alice", "bob", "eve1", "eve2", "business"],
        params,
    );
    let c = &s.client;
    let (train, hidden) = support::digits();
    let train_hash = s.upload("sponsor", "train", &train);
    let hidden_hash = s.upload("sponsor", "hidden", &hidden);
    assert_eq!(hidden_hash, encoding::sha256(&hidden));

    // The hidden set is private to its uploader until a bounty refers to it.
    let dest = support::tmp_path(&s, "got");
    let err = c
        .download(None, &s.chain_id, &hidden_hash, &dest)
        .unwrap_err();
    assert_eq!(err.code(), Some("unauthorized"), "{err}");
    let err = c
        .download(Some(s.key("alice")), &s.chain_id, &hidden_hash, &dest)
        .unwrap_err();
    assert_eq!(err.code(), Some("forbidden"), "{err}");

    let now = s.clock.now_ms();
    let deadline = now + 60_000;
    let spec = support::digits_spec(train_hash, hidden_hash, deadline, 2);
    let opened = c
        .act(
            s.key("sponsor"),
            Action::OpenBounty {
                spec: Box::new(spec),
            },
        )
        .unwrap();
    let bounty = BountyId(opened.seq().unwrap());

    // Training data is public; the hidden set is sealed (its uploader may read it).
    c.download(None, &s.chain_id, &train_hash, &dest).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), train);
    let err = c
        .download(Some(s.key("alice")), &s.chain_id, &hidden_hash, &dest)
        .unwrap_err();
    assert_eq!(err.code(), Some("forbidden"));

    // Two miners upload and submit different models.
    let mut subs = Vec::new();
    for (miner, seed) in [("alice", "a"), ("bob", "b")] {
        let (sub, file_hash, weights_hash) = support::submit_model(&s, miner, bounty, seed);
        subs.push((miner, sub, file_hash, weights_hash));
    }
    // Bob cannot read Alice's sealed model.
    let err = c
        .download(Some(s.key("bob")), &s.chain_id, &subs[0].2, &dest)
        .unwrap_err();
    assert_eq!(err.code(), Some("forbidden"));

    // An unregistered account gets no job.
    let err = c.lease(s.key("eve1"), &s.chain_id).unwrap_err();
    assert_eq!(err.code(), Some("forbidden"), "{err}");

    // Two evaluators register; nothing is theirs to read until submissions end.
    for eve in ["eve1", "eve2"] {
        c.act(
            s.key(eve),
            Action::RegisterEvaluator {
                bond: Amount(5_000),
            },
        )
        .unwrap();
        assert!(c.lease(s.key(eve), &s.chain_id).unwrap().is_none());
    }
    // The scheduler ends submissions at the deadline, drawing both for each.
    assert!(s.tick().is_empty());
    s.clock.set(deadline + 1);
    assert!(s.tick().is_empty(), "nothing is final yet");
    let b: Value = c.get(&format!("/v1/bounties/{bounty}")).unwrap();
    assert_eq!(b["bounty"]["status"], "scoring");

    // Each leases each submission once, downloads, scores, posts.
    for eve in ["eve1", "eve2"] {
        let mut seen = Vec::new();
        while let Some(job) = c.lease(s.key(eve), &s.chain_id).unwrap() {
            let sid = job.lease.submission.0;
            assert!(!seen.contains(&sid), "{eve} leased {sid} twice");
            seen.push(sid);
            let (model_hash, data_hash) = (job.lease.model, job.lease.dataset);
            let model_path = support::tmp_path(&s, &format!("{eve}-{sid}.safetensors"));
            let data_path = support::tmp_path(&s, &format!("{eve}-{sid}.dataset"));
            c.download(Some(s.key(eve)), &s.chain_id, &model_hash, &model_path)
                .unwrap();
            c.download(Some(s.key(eve)), &s.chain_id, &data_hash, &data_path)
                .unwrap();
            let receipt = support::receipt(&model_path, &data_path, sid);
            c.act(s.key(eve), Action::PostReceipt(receipt)).unwrap();
        }
        seen.sort();
        assert_eq!(seen, vec![subs[0].1, subs[1].1], "{eve} scored both");
    }
    let board: Value = c
        .get(&format!("/v1/bounties/{bounty}/leaderboard"))
        .unwrap();
    let rows = board["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| !r["score"].is_null()), "{board}");

    // A licence cannot be bought before the close.
    let err = c
        .act(s.key("business"), Action::BuyLicense { model: subs[0].3 })
        .unwrap_err();
    assert!(matches!(err, ClientError::Api { status: 422, .. }), "{err}");

    // The scheduler closes it once the dispute window has passed; until
    // then it tries each close on a copy of the state and sends nothing.
    let head = s.node.state().head();
    assert!(s.tick().is_empty(), "the dispute window is open");
    assert_eq!(
        s.node.state().head(),
        head,
        "a close that must wait was sent"
    );
    assert!(!s.node.metrics.render().contains("dispute_window_open"));
    s.clock.advance(Params::default().dispute_window_ms);
    assert_eq!(s.tick(), vec![bounty]);
    let b: Value = c.get(&format!("/v1/bounties/{bounty}")).unwrap();
    assert_eq!(b["bounty"]["status"], "closed");
    let payouts = b["bounty"]["settlement"]["payouts"].as_array().unwrap();
    assert_eq!(payouts.len(), 1, "winner takes all: {b}");
    let winner_miner = payouts[0]["miner"].as_str().unwrap().to_owned();
    let winner = subs
        .iter()
        .find(|(m, ..)| s.key(m).account().to_hex() == winner_miner)
        .unwrap();
    let balance =
        |who: &str| -> u128 { c.account(&s.key(who).account()).unwrap().account.balance.0 };
    assert_eq!(balance(winner.0), 1_000_000 + 100_000);
    // Each evaluator posted two receipts at a fee of 100 and holds a bond of 5000.
    assert_eq!(balance("eve1"), 1_000_000 - 5_000 + 200);

    // After the close, everything is public.
    c.download(None, &s.chain_id, &hidden_hash, &dest).unwrap();
    c.download(None, &s.chain_id, &subs[1].2, &dest).unwrap();

    // A business buys a licence; royalties go to the model's contributors and the sponsor.
    let before = balance(winner.0);
    c.act(s.key("business"), Action::BuyLicense { model: winner.3 })
        .unwrap();
    assert_eq!(balance("business"), 1_000_000 - 5_000);
    assert!(balance(winner.0) > before);
    let model = c.model(&winner.3).unwrap();
    assert_eq!(model.model.licences_sold, 1);
    assert_eq!(model.licences.len(), 1);

    // The pages render the real bounty.
    let page = ureq::get(&format!("{}/bounties/{bounty}", s.url))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    assert!(page.contains("id=\"leaderboard\"") && page.contains("<svg id=\"chart\""));
    assert!(
        page.contains("Classify digits &lt;b&gt;well&lt;/b&gt;."),
        "escaped"
    );

    // The audit replays the served log to the served root, and the stored one too.
    let report = bounties_client::audit::audit(c).unwrap();
    let info = c.info().unwrap();
    assert_eq!(report.state_root, info.state_root);
    assert_eq!(report.head_seq, info.head.seq);
    let store = coordinator::store::sqlite::SqliteLog::open_read_only(&s.data_dir().log()).unwrap();
    assert_eq!(
        coordinator::audit::audit_store(&store).unwrap().state_root,
        info.state_root
    );
}
