//! The real `coordinator` binary in child processes: init, serve on a free
//! port, and a seeded PRNG for the tests that crash it at random moments.

use std::io::{BufRead, BufReader, Read};
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

/// Header + zeros: a valid 1 GiB `mlp:16384,16384` model, generated on the fly.
pub struct BigModel {
    header: Vec<u8>,
    pos: u64,
    len: u64,
}

impl BigModel {
    pub fn new() -> BigModel {
        let n = 16384u64;
        let w = n * n * 4;
        let json = format!(
            r#"{{"__metadata__":{{"Architecture":"mlp:{n},{n}"}},"layers.0.bias":{{"dtype":"F32","shape":[{n}],"data_offsets":[0,{b}]}},"layers.0.weight":{{"dtype":"F32","shape":[{n},{n}],"data_offsets":[{b},{e}]}}}}"#,
            b = n * 4,
            e = n * 4 + w
        );
        let mut header = (json.len() as u64).to_le_bytes().to_vec();
        header.extend_from_slice(json.as_bytes());
        let len = header.len() as u64 + n * 4 + w;
        BigModel {
            header,
            pos: 0,
            len,
        }
    }
}

impl Read for BigModel {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = (self.len - self.pos) as usize;
        let n = buf.len().min(left);
        for (i, b) in buf[..n].iter_mut().enumerate() {
            let at = self.pos as usize + i;
            *b = self.header.get(at).copied().unwrap_or(0);
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// A process's peak resident set (VmHWM), in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Upload a generated 1 GiB model through the coordinator `child` serves
/// at `url`, signed by `key`, and check it streamed in bounded memory (the
/// server's peak RSS under 100 MB): its hash and size.
pub fn upload_1_gb(child: &mut Child, url: &str, key: &SecretKey) -> (bounties::Hash32, u64) {
    let chain_id = bounties_client::Client::new(url).info().unwrap().chain_id;
    let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
    std::io::copy(&mut BigModel::new(), &mut hasher).unwrap();
    let hash = bounties::Hash32(sha2::Digest::finalize(hasher).into());
    let body = BigModel::new();
    let size = body.len;
    let route = format!("/v1/artifacts/{hash}");
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let sig = bounties::auth::sign_request(key, &chain_id, "PUT", &route, ts);
    let started = std::time::Instant::now();
    let mut res = ureq::put(&format!("{url}{route}"))
        .header("content-length", size.to_string())
        .header("x-bounty-account", key.account().to_hex())
        .header("x-bounty-timestamp", ts.to_string())
        .header("x-bounty-signature", sig.to_hex())
        .send(ureq::SendBody::from_owned_reader(body))
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    let answer: serde_json::Value = res.body_mut().read_json().unwrap();
    assert_eq!(answer["stored"], true, "{answer}");
    assert_eq!(answer["size"].as_u64().unwrap(), size);
    let peak = peak_rss_kib(child.id());
    println!(
        "uploaded {} MB in {secs:.1} s; server peak RSS {} MB",
        size >> 20,
        peak >> 10
    );
    assert!(peak < 100 * 1024, "peak RSS {peak} KiB");
    (hash, size)
}
