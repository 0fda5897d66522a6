//! The web pages of a real bounty, loaded in headless Chromium: the DOM has
//! the leaderboard rows and the chart; a screenshot is kept under target/.

#![allow(clippy::disallowed_methods)]

mod support;

use std::process::Command;

use bounties::Params;

fn chromium() -> String {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return name.to_owned();
        }
    }
    panic!(
        "this test needs headless Chromium: `apt-get install chromium` (Debian); scripts/test.sh installs it"
    );
}

fn headless(browser: &str, args: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{browser}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_bounty_page_shows_its_leaderboard_and_chart_in_a_browser() {
    let browser = chromium();
    let s = support::serve(
        &["sponsor", "alice", "bob", "eve", "business"],
        Params::default(),
    );
    let bounty = support::closed_bounty(&s);

    let dom = headless(
        &browser,
        &["--dump-dom", &format!("{}/bounties/{bounty}", s.url)],
    );
    assert_eq!(dom.matches("<tr class=\"row\">").count(), 2, "{dom}");
    assert!(dom.contains("<svg id=\"chart\""), "{dom}");
    assert_eq!(dom.matches("class=\"point\"").count(), 2);
    assert!(dom.contains("<path class=\"best\""));
    assert!(dom.contains("id=\"status\">closed<"));
    assert!(dom.contains("id=\"payouts\""));
    // Both miners' deposits (one quorum of fees, 100) came back.
    assert!(dom.contains("Deposits returned to miners: 200."), "{dom}");

    // The winner's model page: provenance, licence terms, a licence sold.
    let winner = s
        .node
        .state()
        .bounty(bounty)
        .unwrap()
        .settlement
        .as_ref()
        .unwrap()
        .winner
        .unwrap();
    s.client
        .act(
            s.key("business"),
            bounties::Action::BuyLicense { model: winner },
        )
        .unwrap();
    let model = headless(
        &browser,
        &["--dump-dom", &format!("{}/models/{winner}", s.url)],
    );
    assert!(model.contains(&winner.to_hex()), "{model}");
    assert!(model.contains("UDL-1.0"));
    assert_eq!(
        model.matches("<tr><td>").count(),
        1,
        "one licence row: {model}"
    );
    assert!(
        !model.contains("id=\"royalties\">0<"),
        "royalties were paid"
    );

    let index = headless(&browser, &["--dump-dom", &format!("{}/", s.url)]);
    assert_eq!(index.matches("<tr class=\"bounty\">").count(), 1, "{index}");

    let shots = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/web");
    std::fs::create_dir_all(shots).unwrap();
    let png = format!("{shots}/bounty.png");
    let _ = std::fs::remove_file(&png);
    headless(
        &browser,
        &[
            &format!("--screenshot={png}"),
            "--window-size=1100,1500",
            &format!("{}/bounties/{bounty}", s.url),
        ],
    );
    let bytes = std::fs::read(&png).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
        "a real screenshot"
    );
}
