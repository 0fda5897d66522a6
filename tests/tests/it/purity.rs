//! Architecture invariant: the protocol core depends on no runtime, server,
//! database or ML crate. Checked on the resolved graph of normal dependencies.

use std::process::Command;

const FORBIDDEN: &[&str] = &[
    "tokio",
    "axum",
    "hyper",
    "candle-core",
    "candle-nn",
    "sqlx",
    "rusqlite",
    "reqwest",
    "ureq",
];

fn normal_dependencies(package: &str) -> Vec<String> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-p",
            package,
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(root)
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

#[test]
fn the_protocol_core_stays_pure() {
    let deps = normal_dependencies("bounties");
    // The graph was really read: the core's own crypto is in it.
    for expected in ["bounties", "ed25519-dalek", "sha2", "borsh"] {
        assert!(
            deps.iter().any(|d| d == expected),
            "{expected} missing from {deps:?}"
        );
    }
    let found: Vec<&String> = deps
        .iter()
        .filter(|d| FORBIDDEN.contains(&d.as_str()))
        .collect();
    assert!(found.is_empty(), "bounties depends on {found:?}");
}
