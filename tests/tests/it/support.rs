//! Running the real binaries: a coordinator on a fresh chain, and the tools.

#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Once;

use bounties::SecretKey;
use bounties_client::Client;

/// The workspace's debug binaries, built once if a lone `cargo test -p tests` has not.
pub fn bin(name: &str) -> PathBuf {
    static BUILD: Once = Once::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let path = target.join("debug").join(name);
    BUILD.call_once(|| {
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "-p",
                "coordinator",
                "-p",
                "miner",
                "-p",
                "evaluator",
                "-p",
                "bounty-cli",
                "--bins",
            ])
            .current_dir(&root)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the binaries failed");
    });
    path
}

/// A coordinator serving a fresh chain with funded dev accounts.
pub struct Chain {
    pub dir: tempfile::TempDir,
    pub url: String,
    pub listen: String,
    child: Option<Child>,
}

impl Chain {
    pub fn start(devs: &[&str]) -> Chain {
        Chain::start_with(
            devs,
            &["--close-grace-secs", "2", "--dispute-window-secs", "1"],
        )
    }

    /// A chain whose `init` also gets `params` (grace, dispute window, ...).
    pub fn start_with(devs: &[&str], params: &[&str]) -> Chain {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut args = vec!["init", "--data-dir", data.to_str().unwrap()];
        args.extend_from_slice(params);
        args.push("--dev");
        args.extend_from_slice(devs);
        let out = Command::new(bin("coordinator"))
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut chain = Chain {
            dir,
            url: String::new(),
            listen: "127.0.0.1:0".into(),
            child: None,
        };
        chain.serve();
        chain
    }

    /// Start (or restart) `serve` on the same address.
    pub fn serve(&mut self) {
        let data = self.dir.path().join("data");
        let mut child = Command::new(bin("coordinator"))
            .args([
                "serve",
                "--data-dir",
                data.to_str().unwrap(),
                "--listen",
                &self.listen,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        self.url = line
            .trim()
            .strip_prefix("listening on ")
            .expect("listening")
            .to_owned();
        self.listen = self.url.trim_start_matches("http://").to_owned();
        self.child = Some(child);
    }

    /// Kill the server (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn key_path(&self, who: &str) -> String {
        self.data()
            .join("keys/dev")
            .join(format!("{who}.key"))
            .display()
            .to_string()
    }

    pub fn key(&self, who: &str) -> SecretKey {
        bounties_client::read_key_file(Path::new(&self.key_path(who))).unwrap()
    }

    pub fn client(&self) -> Client {
        Client::new(&self.url)
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// A tool with this chain's coordinator and a shared download cache.
    pub fn command(&self, tool: &str) -> Command {
        let mut c = Command::new(bin(tool));
        c.env("BOUNTY_COORDINATOR", &self.url)
            .env("BOUNTY_CACHE", self.dir.path().join("cache"))
            .env_remove("BOUNTY_KEY");
        c
    }

    pub fn run(&self, tool: &str, args: &[&str]) -> Output {
        self.command(tool).args(args).output().unwrap()
    }

    /// Run a tool that must succeed; its stdout.
    pub fn ok(&self, tool: &str, args: &[&str]) -> String {
        let out = self.run(tool, args);
        assert!(
            out.status.success(),
            "{tool} {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn json(&self, tool: &str, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(tool, args)).unwrap()
    }

    /// Open the example digits bounty with a short deadline; its id.
    pub fn open_digits(&self, deadline: &str, extra: &[&str]) -> u64 {
        let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/specs/digits.toml");
        let (key, spec) = (self.key_path("sponsor"), spec.display().to_string());
        let mut args = vec![
            "--json",
            "--key",
            &key,
            "open",
            &spec,
            "--deadline",
            deadline,
        ];
        args.extend_from_slice(extra);
        self.json("bounty", &args)["bounty"].as_u64().unwrap()
    }

    /// Train a small model for a bounty as `who`; the file's path.
    pub fn train(&self, who: &str, bounty: u64, seed: &str, epochs: &str) -> String {
        let out = self.path(&format!("{who}-{seed}.safetensors"));
        let b = bounty.to_string();
        self.ok(
            "miner",
            &[
                "train",
                "--bounty",
                &b,
                "--key",
                &self.key_path(who),
                "--arch",
                "mlp:64,32,10",
                "--epochs",
                epochs,
                "--seed",
                seed,
                "--threads",
                "1",
                "--out",
                &out,
            ],
        );
        out
    }

    /// A bounty as the coordinator serves it.
    pub fn bounty(&self, id: u64) -> bounties_api::BountyPage {
        self.client().bounty(bounties::BountyId(id)).unwrap()
    }

    /// Wait until a bounty's status is `status`.
    pub fn wait_status(&self, id: u64, status: &str) {
        self.wait_for(&format!("bounty {id} {status}"), || {
            self.bounty(id).bounty.status.as_str() == status
        });
    }

    /// The dev account name of an account, among `names`.
    pub fn name_of(&self, account: &str, names: &[&str]) -> String {
        names
            .iter()
            .find(|n| self.key(n).account().to_hex() == account)
            .unwrap_or_else(|| panic!("{account} is none of {names:?}"))
            .to_string()
    }

    pub fn wait_for(&self, what: &str, mut done: impl FnMut() -> bool) {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while !done() {
            assert!(
                std::time::Instant::now() < until,
                "timed out waiting for {what}"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}

impl Drop for Chain {
    fn drop(&mut self) {
        self.kill();
    }
}
