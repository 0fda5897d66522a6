//! State images: what a front-end loads at start-up instead of replaying the
//! whole log. An image reads back as the same state (the parts the root does
//! not cover included), the chain continues from it exactly as from the
//! replayed state, and no altered byte is ever taken.

use bounties::spec::BountySpec;
use bounties::state::ImageError;
use bounties::*;

use crate::lifecycle::{driver, licensed, run_bounty};
use crate::support::*;

/// A chain with a published base, a closed bounty with final scores and
/// per-example scores, and a licence sold.
fn busy() -> Driver {
    let mut d = driver();
    d.ok(
        "c",
        Action::PublishModel(Box::new(message::Publication {
            file_hash: hash("file-base"),
            weights_hash: hash("base"),
            source: "a test".into(),
            licence: spec::LicenceTerms {
                name: "Apache-2.0".into(),
                commercial_use: spec::CommercialUse::AllowedWithFee,
                fee: Amount(5_000),
                derivation: spec::Derivation::AllowedWithRevenueShare { share_bps: 2_500 },
                duration_ms: None,
            },
        })),
    );
    let mut s = licensed(d.now + 1_000, 1_000, 100_000);
    s.base_model = Some(hash("base"));
    run_bounty(
        &mut d,
        "s1",
        s,
        &[("a", "w1", accuracy(9, 10)), ("b", "w2", accuracy(7, 10))],
    );
    d.ok("licensee", Action::BuyLicense { model: hash("w1") });
    d
}

#[test]
fn an_image_reads_back_as_the_same_state_and_the_chain_continues_from_it() {
    let mut d = busy();
    let live = d.state().clone();
    let image = live.to_image();
    let restored = State::from_image(&image, live.root()).unwrap();
    assert_eq!(restored.to_image(), image);
    assert_eq!(restored.root(), live.root());
    assert!(restored.artifact_uses().eq(live.artifact_uses()));
    assert!(
        live.artifact_uses().count() >= 5,
        "the index is not trivial"
    );
    let bounty = live.bounties().next().unwrap().id;
    let scored = live.submissions_of(bounty);
    assert_eq!(scored.len(), 2);
    for sub in scored {
        assert_eq!(
            restored.final_examples(sub.id),
            live.final_examples(sub.id),
            "per-example scores kept"
        );
        assert!(live.final_examples(sub.id).is_some());
    }

    // The next entries apply to the restored state exactly as to the live one.
    let before = d.chain.entries().len();
    let next = BountySpec {
        train_dataset: hash("train"),
        ..licensed(d.now + 1_000, 1_000, 50_000)
    };
    run_bounty(&mut d, "s2", next, &[("c", "w3", accuracy(8, 10))]);
    let mut continued = restored;
    for e in &d.chain.entries()[before..] {
        continued.apply(e, Verify::Signatures).unwrap();
    }
    assert_eq!(continued.root(), d.state().root());
    assert_eq!(continued.to_image(), d.state().to_image());
}

#[test]
fn no_altered_byte_of_an_image_is_taken() {
    let d = busy();
    let state = d.state();
    let root = state.root();
    let image = state.to_image();
    assert_eq!(
        State::from_image(&image, Hash32([1; 32])).unwrap_err(),
        ImageError::Root {
            expected: Hash32([1; 32]),
            got: root
        }
    );
    let mut other = image.clone();
    other[0] = 2;
    assert_eq!(
        State::from_image(&other, root).unwrap_err(),
        ImageError::Version(2)
    );
    assert!(matches!(
        State::from_image(&image[..image.len() - 1], root),
        Err(ImageError::Malformed(_))
    ));
    // Every byte, flipped: refused, whether the root covers it or not (the
    // per-example scores are checked against their digests instead).
    let mut examples_refused = 0;
    for i in 0..image.len() {
        let mut altered = image.clone();
        altered[i] ^= 0x40;
        match State::from_image(&altered, root) {
            Ok(_) => panic!("byte {i} of {} altered, and taken", image.len()),
            Err(ImageError::Examples(_)) => examples_refused += 1,
            Err(_) => {}
        }
    }
    assert!(
        examples_refused > 0,
        "no flip landed in the per-example scores"
    );
}
