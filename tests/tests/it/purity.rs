//! Architecture invariant: the protocol core (and the API types every side
//! links) depends on no runtime, server, database, HTTP client, OS randomness
//! or ML crate. Checked on the resolved graph of normal dependencies with
//! every optional dependency switched on, so no feature can hide IO.

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
    "getrandom",
];

fn normal_dependencies(package: &str) -> Vec<String> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-p",
            package,
            "--all-features",
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
    for package in ["bounties", "bounties-api"] {
        check_pure(package);
    }
}

fn check_pure(package: &str) {
    let deps = normal_dependencies(package);
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
    assert!(found.is_empty(), "{package} depends on {found:?}");
}
