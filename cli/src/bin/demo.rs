//! The whole journey in one command, with the real binaries over real HTTP:
//! a coordinator on a fresh data dir; a sponsor opens a digits bounty; two
//! miners train different models and submit them; two evaluators score them;
//! the deadline passes and the scheduler pays the winner; a second bounty
//! fine-tunes from that winner; a business buys a licence for the new winner
//! and the fee is split as royalties, with a share flowing up to the first
//! winner; the audit replays everything.
//!
//! `cargo build --release && target/release/demo [--keep-serving]`

#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bounties::BountyId;
use bounties::state::records::BountyStatus;
use clap::Parser;
use serde_json::Value;

/// The example spec the sponsor opens (examples/specs/digits.toml).
const DIGITS_SPEC: &str = include_str!("../../../examples/specs/digits.toml");

#[derive(Parser)]
#[command(
    version,
    about = "Run the whole model-bounties journey on a fresh local chain"
)]
struct Args {
    /// Keep the coordinator serving (and its web pages) after the journey, until Ctrl-C.
    #[arg(long)]
    keep_serving: bool,
    /// Where to keep the chain (default: a fresh temporary directory).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address for the coordinator.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Seconds from opening to each bounty's deadline.
    #[arg(long, default_value_t = 30)]
    deadline_secs: u64,
}

struct Demo {
    bin: PathBuf,
    dir: PathBuf,
    url: String,
    started: Instant,
    children: Vec<Child>,
}

/// The services the demo started, for the signal handler: Ctrl-C or a
/// `kill` of the demo stops them too, instead of leaving them running.
static SERVICES: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

fn stop_services(signal: &str) {
    let pids = std::mem::take(&mut *SERVICES.lock().unwrap_or_else(|e| e.into_inner()));
    for pid in pids {
        let _ = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status();
    }
}

fn main() {
    let args = Args::parse();
    if let Err(e) = ctrlc::set_handler(|| {
        stop_services("-TERM");
        eprintln!("demo: interrupted; its coordinator and evaluators were stopped");
        std::process::exit(130);
    }) {
        eprintln!("warning: no signal handler ({e}); Ctrl-C may leave services running");
    }
    if let Err(e) = run(args) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

impl Demo {
    fn step(&self, what: &str) {
        println!(
            "\n[{:>5.1} s] == {what}",
            self.started.elapsed().as_secs_f64()
        );
    }

    fn key(&self, who: &str) -> PathBuf {
        self.dir.join("data/keys/dev").join(format!("{who}.key"))
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(self.bin.join(program));
        c.env("BOUNTY_COORDINATOR", &self.url)
            .env("BOUNTY_CACHE", self.dir.join("cache"));
        c
    }

    /// Run a tool, echo its command line and output; fail on a non-zero exit.
    fn run(&self, program: &str, args: &[&str], show: bool) -> Result<String> {
        let shown: Vec<String> = args
            .iter()
            .map(|a| a.replace(self.dir.to_str().unwrap_or("?"), "$DEMO"))
            .collect();
        println!("$ {program} {}", shown.join(" "));
        let out = self
            .command(program)
            .args(args)
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("running {program}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!(
                "{program} {} failed:\n{}{}",
                shown.join(" "),
                stdout,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        if show {
            for line in stdout.lines() {
                println!("  {line}");
            }
        }
        Ok(stdout)
    }

    fn json(&self, program: &str, args: &[&str]) -> Result<Value> {
        let out = self.run(program, args, false)?;
        serde_json::from_str(&out).with_context(|| format!("{program}: not JSON: {out}"))
    }

    fn client(&self) -> bounties_client::Client {
        bounties_client::Client::new(&self.url)
    }

    fn wait_for(
        &self,
        what: &str,
        limit: Duration,
        mut done: impl FnMut() -> Result<bool>,
    ) -> Result<()> {
        let until = Instant::now() + limit;
        while !done()? {
            if Instant::now() > until {
                bail!("timed out waiting for {what}");
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        Ok(())
    }

    fn keep(&mut self, child: Child) {
        SERVICES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(child.id());
        self.children.push(child);
    }

    fn stop(&mut self, signal: &str) {
        stop_services(signal);
        for c in &mut self.children {
            let _ = c.wait();
        }
        self.children.clear();
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.stop("-TERM");
    }
}

fn run(args: Args) -> Result<()> {
    let bin = std::env::current_exe()?
        .parent()
        .context("the demo's directory")?
        .to_owned();
    for tool in ["coordinator", "miner", "evaluator", "bounty"] {
        if !bin.join(tool).is_file() {
            bail!(
                "{} is missing: build everything first (`cargo build --release`)",
                bin.join(tool).display()
            );
        }
    }
    let (dir, _temp) = match &args.data_dir {
        Some(d) => (d.clone(), None),
        None => {
            let t =
                std::env::temp_dir().join(format!("model-bounties-demo-{}", std::process::id()));
            (t.clone(), Some(t))
        }
    };
    if dir.join("data").exists() {
        bail!(
            "{} already holds a chain; pick a fresh --data-dir",
            dir.display()
        );
    }
    std::fs::create_dir_all(&dir)?;
    let mut demo = Demo {
        bin,
        dir: dir.clone(),
        url: String::new(),
        started: Instant::now(),
        children: Vec::new(),
    };
    let data = dir.join("data");
    let data_s = data.to_str().context("a UTF-8 data dir")?.to_owned();

    demo.step("the operator creates a chain: genesis, keys, six funded dev accounts");
    demo.run(
        "coordinator",
        &[
            "init",
            "--data-dir",
            &data_s,
            "--close-grace-secs",
            "60",
            // A short window for contesting final scores keeps the demo brisk.
            "--dispute-window-secs",
            "2",
            "--dev",
            "sponsor",
            "alice",
            "bob",
            "eve",
            "frank",
            "business",
        ],
        true,
    )?;
    let mut serve = demo
        .command("coordinator")
        .args(["serve", "--data-dir", &data_s, "--listen", &args.listen])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("coordinator.log"))?)
        .spawn()?;
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(serve.stdout.take().context("stdout")?),
        &mut line,
    )?;
    demo.url = line
        .trim()
        .strip_prefix("listening on ")
        .context("coordinator did not start")?
        .to_owned();
    demo.keep(serve);
    println!("coordinator serving {}", demo.url);

    let spec = dir.join("digits.toml");
    std::fs::write(&spec, DIGITS_SPEC)?;
    let spec_s = spec.to_str().context("utf-8")?.to_owned();
    let deadline = format!("{}s", args.deadline_secs);
    let keys = data.join("keys/dev");
    let key = |who: &str| keys.join(format!("{who}.key")).display().to_string();

    demo.step(
        "two evaluators lock a bond and start working (lease, download, score, post receipts)",
    );
    for eve in ["eve", "frank"] {
        demo.run(
            "evaluator",
            &["register", "--key", &key(eve), "--bond", "2000"],
            true,
        )?;
        let child = demo
            .command("evaluator")
            .args([
                "work",
                "--key",
                &key(eve),
                "--poll",
                "0.5",
                "--threads",
                "1",
            ])
            .stdout(std::fs::File::create(dir.join(format!("{eve}.log")))?)
            .stderr(std::fs::File::create(dir.join(format!("{eve}.err")))?)
            .spawn()?;
        demo.keep(child);
    }

    demo.step("the sponsor opens a bounty: digits, mlp, winner takes all, quorum 2");
    let a = demo.json(
        "bounty",
        &[
            "--json",
            "--key",
            &key("sponsor"),
            "open",
            &spec_s,
            "--deadline",
            &deadline,
        ],
    )?;
    let bounty_a = a["bounty"].as_u64().context("bounty id")?;
    println!(
        "  bounty {bounty_a}: training set {} (public), hidden set {} (sealed)",
        a["train_dataset"].as_str().unwrap_or(""),
        a["hidden_dataset"].as_str().unwrap_or("")
    );

    demo.step("two miners train different models for it and submit them");
    let alice_model = dir.join("alice.safetensors").display().to_string();
    let bob_model = dir.join("bob.safetensors").display().to_string();
    let id_a = bounty_a.to_string();
    demo.run(
        "miner",
        &[
            "train",
            "--bounty",
            &id_a,
            "--key",
            &key("alice"),
            "--out",
            &alice_model,
            "--threads",
            "2",
        ],
        true,
    )?;
    // Each submits as soon as it has trained, well before the deadline.
    demo.run(
        "miner",
        &[
            "submit",
            &alice_model,
            "--bounty",
            &id_a,
            "--key",
            &key("alice"),
        ],
        true,
    )?;
    demo.run(
        "miner",
        &[
            "train",
            "--bounty",
            &id_a,
            "--key",
            &key("bob"),
            "--arch",
            "mlp:64,32,10",
            "--epochs",
            "20",
            "--seed",
            "bob",
            "--out",
            &bob_model,
            "--threads",
            "2",
        ],
        true,
    )?;
    demo.run(
        "miner",
        &[
            "submit",
            &bob_model,
            "--bounty",
            &id_a,
            "--key",
            &key("bob"),
        ],
        true,
    )?;

    let scored = |id: u64| -> Result<bool> {
        let rows = demo.client().leaderboard(BountyId(id))?.rows;
        Ok(!rows.is_empty() && rows.iter().all(|r| r.score.is_some()))
    };
    let closed = |id: u64| -> Result<bool> {
        Ok(demo.client().bounty(BountyId(id))?.bounty.status == BountyStatus::Closed)
    };
    demo.step(
        "the deadline passes: submissions end, two evaluators are drawn for each model, and only then may they read it and the hidden set; two receipts agree bit for bit, so each score is final",
    );
    demo.wait_for(
        "final scores",
        Duration::from_secs(args.deadline_secs + 120),
        || scored(bounty_a),
    )?;
    demo.run("bounty", &["leaderboard", &id_a], true)?;

    demo.step(
        "once the dispute window has passed, the coordinator's scheduler closes the bounty and pays the winner",
    );
    demo.wait_for(
        "the close",
        Duration::from_secs(args.deadline_secs + 120),
        || closed(bounty_a),
    )?;
    demo.run("bounty", &["show", &id_a], true)?;

    demo.step("a second bounty asks for fine-tunes of that winner; a miner fine-tunes and submits");
    let b = demo.json(
        "bounty",
        &[
            "--json",
            "--key",
            &key("sponsor"),
            "open",
            &spec_s,
            "--deadline",
            &deadline,
            "--base-model",
            &format!("winner-of:{bounty_a}"),
        ],
    )?;
    let bounty_b = b["bounty"].as_u64().context("bounty id")?;
    let id_b = bounty_b.to_string();
    let tuned = dir.join("bob-tuned.safetensors").display().to_string();
    demo.run(
        "miner",
        &[
            "train",
            "--bounty",
            &id_b,
            "--key",
            &key("bob"),
            "--epochs",
            "30",
            "--seed",
            "bob-tune",
            "--out",
            &tuned,
            "--threads",
            "2",
        ],
        true,
    )?;
    demo.run(
        "miner",
        &["submit", &tuned, "--bounty", &id_b, "--key", &key("bob")],
        true,
    )?;
    demo.wait_for("final scores", Duration::from_secs(120), || {
        scored(bounty_b)
    })?;
    demo.wait_for(
        "the close",
        Duration::from_secs(args.deadline_secs + 120),
        || closed(bounty_b),
    )?;
    demo.run("bounty", &["show", &id_b], true)?;

    demo.step("a business buys a commercial licence; the fee is split as royalties, a share flowing up the lineage");
    let winner = demo
        .client()
        .bounty(BountyId(bounty_b))?
        .bounty
        .settlement
        .and_then(|s| s.winner)
        .context("the second bounty has a winner")?
        .to_hex();
    demo.run(
        "bounty",
        &["--key", &key("business"), "license", "buy", &winner],
        true,
    )?;
    demo.run("bounty", &["lookup", &winner], true)?;

    demo.step("balances");
    for who in ["sponsor", "alice", "bob", "eve", "frank", "business"] {
        let account = std::fs::read_to_string(demo.key(who))?;
        let account = bounties::SecretKey::from_hex_seed(account.trim())?.account();
        let view = demo.client().account(&account)?.account;
        let bond = view
            .evaluator
            .map_or(String::new(), |e| format!(" (+ bond {})", e.bond));
        println!("  {who:<9} {:>9}{bond}", view.balance);
    }

    demo.step(
        "an auditor replays the whole log: every signature, hash link, rule and the state root",
    );
    demo.run("bounty", &["--coordinator", &demo.url, "audit"], true)?;

    println!(
        "\nweb pages: {}/  (bounty {bounty_a}: {}/bounties/{bounty_a})",
        demo.url, demo.url
    );
    println!("done in {:.0} s", demo.started.elapsed().as_secs_f64());
    if args.keep_serving {
        println!("serving until Ctrl-C; data dir {}", dir.display());
        if let Some(c) = demo.children.first_mut() {
            let _ = c.wait();
        }
    } else {
        demo.stop("-INT");
        if let Some(t) = _temp {
            let _ = std::fs::remove_dir_all(t);
        }
    }
    Ok(())
}
