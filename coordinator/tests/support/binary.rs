//! The real `coordinator` binary in child processes: init, serve on a free
//! port, and a seeded PRNG for the tests that crash it at random moments.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use bounties::SecretKey;

pub const BIN: &str = env!("CARGO_BIN_EXE_coordinator");

/// Run the binary with `args` and return its output; it must succeed.
pub fn coordinator(args: &[&str]) -> std::process::Output {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "coordinator {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Start `serve` on a free port; returns the child and its URL.
pub fn serve(dir: &Path, extra: &[&str]) -> (Child, String) {
    serve_logging_to(dir, extra, Stdio::null())
}

/// Start `serve` on a free port with its logs (stderr) going to `stderr`.
pub fn serve_logging_to(dir: &Path, extra: &[&str], stderr: Stdio) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--data-dir",
            dir.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (child, url)
}

/// A fresh data dir with one funded dev account, alice: the dir, the data
/// path and alice's key.
pub fn chain_with_alice() -> (tempfile::TempDir, std::path::PathBuf, SecretKey) {
    chain_with_alice_in(&[])
}

/// [`chain_with_alice`] with `store` (`--store URL`, or none: SQLite).
pub fn chain_with_alice_in(store: &[&str]) -> (tempfile::TempDir, std::path::PathBuf, SecretKey) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut args = vec![
        "init",
        "--data-dir",
        data.to_str().unwrap(),
        "--dev",
        "alice",
    ];
    args.extend(store);
    coordinator(&args);
    let alice = coordinator::datadir::DataDir::read_key(&data.join("keys/dev/alice.key")).unwrap();
    (dir, data, alice)
}

/// The seed in `var`, or one from the clock (print it, so a run can be repeated).
pub fn seed(var: &str) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

/// splitmix64: a test-local PRNG so each round's timing follows from the printed seed.
pub fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Every entry the coordinator at `client` serves, read page by page up to
/// the head it reports now.
pub fn whole_log(client: &bounties_client::Client) -> Vec<bounties::Entry> {
    let head = client.info().unwrap().head.seq;
    let mut log = Vec::new();
    while log.len() as u64 <= head {
        let page = client.log(log.len() as u64, 1000).unwrap();
        assert!(
            !page.entries.is_empty(),
            "the log ends before its head {head}"
        );
        log.extend(page.entries);
    }
    log
}
