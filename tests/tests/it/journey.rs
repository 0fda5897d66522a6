//! The main job: the one-command demo, run as users run it.

use std::process::Command;

use crate::support::bin;

#[test]
fn the_demo_runs_the_whole_journey() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("chain");
    bin("coordinator"); // builds the tools if needed
    let out = Command::new(bin("demo"))
        // The default deadline (30 s): the miners train in debug builds while
        // the other tests share the cores, and must submit before it passes.
        .args(["--data-dir", data.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "the operator creates a chain",
        "the sponsor opens a bounty",
        "two miners train different models",
        "submissions end, two evaluators are drawn for each model",
        "scheduler closes the bounty and pays the winner",
        "fine-tunes of that winner",
        "a business buys a commercial licence",
        "balances",
        "an auditor replays the whole log",
    ] {
        assert!(text.contains(step), "missing step {step:?}:\n{text}");
    }
    // Two models scored by two evaluators each, the winner paid.
    assert!(text.contains("paid         100000 to"), "{text}");
    // Royalties: the new winner's miner, the sponsor, and upstream the first winner's miner.
    assert_eq!(text.matches("    royalty ").count(), 3, "{text}");
    assert!(text.contains("parent     "), "{text}");
    assert!(text.contains("replay cleanly"), "{text}");
    assert!(text.contains("web pages: http://127.0.0.1:"), "{text}");
}
