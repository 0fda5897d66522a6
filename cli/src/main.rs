//! `bounty`: the command line for sponsors, licensees and anyone.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use bounties::spec::Task;
use bounties::spec::{Derivation, LicenceTerms};
use bounties::state::LeaderboardRow;
use bounties::state::records::Origin;
use bounties::tensorfile::TensorFile;
use bounties::{AccountId, Action, Amount, BountyId, Hash32, SecretKey};
use bounties_client::{Client, random_key, read_key_file, sha256_file, write_key_file};
use bounty_cli::publish::ModelFile;
use bounty_cli::spec_file::{Base, Datasets, Deadline, SpecFile};
use clap::{Args, Parser, Subcommand};
use datasets::Dataset;
use serde::Serialize;
use serde_json::json;

#[derive(Parser)]
#[command(
    version,
    about = "model-bounties: open bounties, buy licences, look things up"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Global {
    /// The coordinator's URL.
    #[arg(
        long,
        global = true,
        env = "BOUNTY_COORDINATOR",
        default_value = "http://127.0.0.1:8080"
    )]
    coordinator: String,
    /// Your key file (64 hex characters; `bounty keys new` makes one).
    #[arg(long, global = true, env = "BOUNTY_KEY")]
    key: Option<PathBuf>,
    /// Print JSON for scripts.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Make or show a key.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// An account's balance (yours by default).
    Balance {
        /// The account (64 hex).
        account: Option<AccountId>,
    },
    /// Send tokens.
    Transfer {
        /// To whom (64 hex).
        to: AccountId,
        /// How many base units.
        amount: Amount,
    },
    /// Open a bounty from a spec file: pack and upload the training set and
    /// the sealed hidden set, commit their hashes, escrow the reward.
    Open {
        /// The spec (TOML; see examples/specs/).
        spec: PathBuf,
        /// Override the spec's deadline: a duration from now (90s, 10m, 2h, 1d).
        #[arg(long)]
        deadline: Option<String>,
        /// Override the spec's base model: `winner-of:BOUNTY`, `file:PATH` or a weights hash.
        #[arg(long)]
        base_model: Option<String>,
    },
    /// Publish a whole model (a pretrained base; `miner import` makes one)
    /// under a licence: upload it and claim its weights hash, so bounties
    /// can fine-tune it and licences of its derivatives pay you their share.
    Publish {
        /// The model file.
        file: PathBuf,
        /// Where it comes from: name, version, upstream licence (default: its Source tag).
        #[arg(long)]
        source: Option<String>,
        /// The licence's name (default: the file's License tag).
        #[arg(long)]
        licence: Option<String>,
        /// Commercial use: allowed, allowed-with-credit, allowed-with-fee, not-allowed.
        #[arg(long, default_value = "allowed-with-credit")]
        commercial_use: String,
        /// The licence fee, with `allowed-with-fee` (base units).
        #[arg(long, default_value_t = Amount(0))]
        fee: Amount,
        /// Derivation: allowed-with-credit, not-allowed, or a revenue share
        /// such as `20%` that flows up from every derivative's licence.
        #[arg(long, default_value = "allowed-with-credit")]
        derivation: String,
    },
    /// List bounties.
    List,
    /// Show a bounty: its spec, submissions and settlement.
    Show {
        /// The bounty.
        id: u64,
    },
    /// A bounty's leaderboard.
    Leaderboard {
        /// The bounty.
        id: u64,
    },
    /// Close a bounty after its deadline (the coordinator's scheduler does it too).
    Close {
        /// The bounty.
        id: u64,
    },
    /// Buy or list commercial licences.
    #[command(subcommand)]
    License(LicenseCmd),
    /// A model's provenance: lineage, bounty, licence terms, licences sold.
    Lookup {
        /// A model file or its weights hash.
        model: String,
    },
    /// Pack or inspect dataset files.
    #[command(subcommand)]
    Dataset(DatasetCmd),
    /// Audit the coordinator: replay its whole log with every signature,
    /// link, rule and balance checked, and compare the state root it serves.
    Audit,
}

#[derive(Subcommand)]
enum KeysCmd {
    /// Make a new key file (readable by you only).
    New {
        /// Where to write it.
        #[arg(long, default_value = "bounty.key")]
        out: PathBuf,
    },
    /// Show the account of --key.
    Show,
}

#[derive(Subcommand)]
enum LicenseCmd {
    /// Buy a licence for a winning model (the fee is split as royalties).
    Buy {
        /// The model's weights hash, or its file.
        model: String,
    },
    /// List licences held by an account (yours by default).
    List {
        /// The licensee.
        #[arg(long)]
        licensee: Option<AccountId>,
    },
}

#[derive(Subcommand)]
enum DatasetCmd {
    /// Split a bundled dataset, a dataset file or a CSV into train and hidden files.
    Pack {
        /// A bundled name (digits, mnist, shakespeare, moby-dick, fashion-mnist), a dataset file, or a CSV with --csv.
        source: String,
        /// Where to write NAME-train.safetensors and NAME-hidden.safetensors.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// The split's seed.
        #[arg(long, default_value = datasets::bundled::DEFAULT_SEED)]
        seed: String,
        /// Read SOURCE as CSV: the label column's name or 0-based index.
        #[arg(long)]
        csv_label: Option<String>,
        /// CSV: regression targets instead of class labels.
        #[arg(long)]
        regression: bool,
        /// CSV or texts: the data's licence.
        #[arg(long, default_value = "unspecified")]
        license: String,
        /// Read SOURCE as labelled texts (TSV, or CSV by its name; columns
        /// `text` and `label`), tokenised with this `tokenizer.json` (WordPiece).
        #[arg(long, value_name = "TOKENIZER_JSON", conflicts_with = "csv_label")]
        texts: Option<PathBuf>,
        /// Texts: the longest sequence, [CLS] and [SEP] included; longer texts are cut.
        #[arg(long, default_value_t = 128, requires = "texts")]
        sequence_length: usize,
        /// Write the whole dataset as NAME.safetensors instead of splitting it
        /// (a second hidden set, such as another domain's texts).
        #[arg(long)]
        whole: bool,
    },
    /// Describe a dataset file or a bundled dataset.
    Inspect {
        /// A file or a bundled name (its public part).
        dataset: String,
    },
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

struct Ctx {
    g: Global,
    client: Client,
}

impl Ctx {
    fn key(&self) -> Result<SecretKey> {
        let path = self.g.key.as_deref().context(
            "this needs your key: pass --key FILE or set BOUNTY_KEY (`bounty keys new` makes one)",
        )?;
        Ok(read_key_file(path)?)
    }

    fn print(&self, value: &impl Serialize, human: impl FnOnce()) {
        if self.g.json {
            println!("{}", serde_json::to_string_pretty(value).expect("json"));
        } else {
            human();
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let client = Client::new(&cli.global.coordinator);
    let ctx = Ctx {
        g: cli.global,
        client,
    };
    match cli.command {
        Command::Keys(KeysCmd::New { out }) => {
            let key = random_key();
            write_key_file(&out, &key)?;
            ctx.print(&json!({"account": key.account(), "file": out}), || {
                println!("account {}", key.account());
                println!(
                    "key written to {} (mode 0600); keep it secret",
                    out.display()
                );
            });
        }
        Command::Keys(KeysCmd::Show) => {
            let key = ctx.key()?;
            ctx.print(&json!({"account": key.account()}), || {
                println!("{}", key.account())
            });
        }
        Command::Balance { account } => {
            let account = match account {
                Some(a) => a,
                None => ctx.key()?.account(),
            };
            let page = ctx.client.account(&account)?;
            ctx.print(&page, || {
                println!("{account}: {}", page.account.balance);
                if let Some(e) = &page.account.evaluator {
                    println!("evaluator bond {}", e.bond);
                }
            });
        }
        Command::Transfer { to, amount } => {
            let at = ctx
                .client
                .act(&ctx.key()?, Action::Transfer { to, amount })?;
            ctx.print(&json!({"seq": at.seq()}), || {
                println!("sent {amount} to {to}")
            });
        }
        Command::Open {
            spec,
            deadline,
            base_model,
        } => open(&ctx, &spec, deadline.as_deref(), base_model.as_deref())?,
        Command::Publish {
            file,
            source,
            licence,
            commercial_use,
            fee,
            derivation,
        } => {
            let model = ModelFile::read(&file)?;
            let name = licence
                .or_else(|| model.tags.get("License").cloned())
                .context("the file has no License tag: name its licence with --licence")?;
            let terms = LicenceTerms {
                name,
                commercial_use: kebab_value(&commercial_use)
                    .context("--commercial-use: allowed, allowed-with-credit, allowed-with-fee or not-allowed")?,
                fee,
                derivation: parse_derivation(&derivation)?,
                duration_ms: None,
            };
            terms.check().context("the licence terms")?;
            let weights = publish(&ctx, &ctx.key()?, &file, &model, source.as_deref(), terms)?;
            ctx.print(
                &json!({"weights_hash": weights, "file_hash": model.file_hash, "architecture": model.arch.to_string()}),
                || {
                    println!("published {}", file.display());
                    println!("weights hash {weights}");
                    println!("file hash    {}", model.file_hash);
                    println!("page         {}/models/{weights}", ctx.client.url());
                },
            );
        }
        Command::List => {
            let list = ctx.client.bounties()?;
            ctx.print(&list, || {
                println!(
                    "{:>4}  {:<9} {:>10} {:>5}  title",
                    "id", "status", "reward", "subs"
                );
                for b in &list.bounties {
                    println!(
                        "{:>4}  {:<9} {:>10} {:>5}  {}",
                        b.id,
                        b.status.as_str(),
                        b.spec.reward,
                        b.submissions,
                        b.spec.title
                    );
                }
            });
        }
        Command::Show { id } => {
            let page = ctx.client.bounty(BountyId(id))?;
            ctx.print(&page, || show(&ctx, &page));
        }
        Command::Leaderboard { id } => {
            let board = ctx.client.leaderboard(BountyId(id))?;
            ctx.print(&board, || print_leaderboard(&board.rows));
        }
        Command::Close { id } => {
            let at = ctx.client.act(
                &ctx.key()?,
                Action::CloseBounty {
                    bounty: BountyId(id),
                },
            )?;
            ctx.print(&json!({"seq": at.seq()}), || println!("closed bounty {id}"));
        }
        Command::License(LicenseCmd::Buy { model }) => {
            let model = weights_hash_of(&model)?;
            let key = ctx.key()?;
            let at = ctx.client.act(&key, Action::BuyLicense { model })?;
            let held = ctx.client.licences_of(&key.account())?;
            let bought = held
                .licences
                .into_iter()
                .rev()
                .find(|l| l.model == model)
                .context(
                    "the licence was bought but is not listed yet; see `bounty license list`",
                )?;
            ctx.print(&json!({"seq": at.seq(), "licence": bought}), || {
                println!(
                    "licence {} for model {model}: fee {}",
                    bought.id, bought.fee
                );
                for (to, amount) in &bought.splits {
                    println!("  royalty {amount} -> {to}");
                }
            });
        }
        Command::License(LicenseCmd::List { licensee }) => {
            let who = match licensee {
                Some(a) => a,
                None => ctx.key()?.account(),
            };
            let list = ctx.client.licences_of(&who)?;
            ctx.print(&list, || {
                for l in &list.licences {
                    println!("licence {:>4}  model {}  fee {}", l.id, l.model, l.fee);
                }
            });
        }
        Command::Lookup { model } => {
            let hash = weights_hash_of(&model)?;
            let p = ctx.client.model(&hash)?;
            ctx.print(&p, || {
                let m = &p.model;
                println!("model      {hash}");
                match (&m.origin, &p.bounty_title, p.bounty_status) {
                    (Origin::Submitted { bounty, .. }, Some(title), Some(status)) => {
                        println!("bounty     {bounty} ({title}, {})", status.as_str());
                        println!("miner      {}", m.miner);
                    }
                    (Origin::Published { source, .. }, _, _) => {
                        println!("published  by {}", m.miner);
                        println!("source     {source}");
                    }
                    _ => {}
                }
                println!("file       {}", p.file_hash);
                match m.parent {
                    Some(parent) => println!("parent     {parent}"),
                    None if p.submission.is_none() => {
                        println!("parent     none (a published base)")
                    }
                    None => println!("parent     none (trained from scratch)"),
                }
                let terms = &p.licence_terms;
                println!(
                    "licence    {} (commercial use {}, derivation {}, fee {})",
                    terms.name, terms.commercial_use, terms.derivation, terms.fee
                );
                println!(
                    "sold       {} licences, royalties received {}",
                    m.licences_sold, m.royalties_received
                );
                println!("page       {}/models/{hash}", ctx.client.url());
            });
        }
        Command::Dataset(DatasetCmd::Pack {
            source,
            out,
            seed,
            csv_label,
            regression,
            license,
            texts,
            sequence_length,
            whole,
        }) => {
            let name_of = |source: &str| {
                Path::new(source)
                    .file_name()
                    .map_or("data".into(), |s| s.to_string_lossy().into_owned())
                    .split('.')
                    .next()
                    .unwrap_or("data")
                    .to_owned()
            };
            let data = match (csv_label, texts) {
                (_, Some(tokenizer)) => {
                    let bytes =
                        std::fs::read(&source).with_context(|| format!("reading {source}"))?;
                    let labelled = datasets::labelled::load_labelled(
                        &bytes,
                        &source,
                        &datasets::labelled::LabelledOptions::for_file(&source),
                    )?;
                    let json = std::fs::read(&tokenizer)
                        .with_context(|| format!("reading {}", tokenizer.display()))?;
                    let wordpiece = datasets::wordpiece::WordPiece::from_json(
                        &json,
                        &tokenizer.display().to_string(),
                    )?;
                    let provenance = datasets::labelled::Provenance {
                        name: name_of(&source),
                        license: license.clone(),
                        source: source.clone(),
                    };
                    Some(datasets::labelled::tokenise(
                        &labelled,
                        &wordpiece,
                        &json,
                        sequence_length,
                        &provenance,
                    )?)
                }
                (Some(label), None) => {
                    let bytes =
                        std::fs::read(&source).with_context(|| format!("reading {source}"))?;
                    let name = Path::new(&source)
                        .file_stem()
                        .map_or("data".into(), |s| s.to_string_lossy().into_owned());
                    let opts = datasets::csv::CsvOptions {
                        label: label.parse().map_or(
                            datasets::csv::LabelColumn::Name(label.clone()),
                            datasets::csv::LabelColumn::Index,
                        ),
                        header: None,
                        task: if regression {
                            Task::Regression
                        } else {
                            Task::Classification
                        },
                        name,
                        licence: license,
                        source: source.clone(),
                    };
                    Some(datasets::csv::load_csv(&bytes, &source, &opts)?)
                }
                (None, None) => None,
            };
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let parts = if whole {
                let d = match data {
                    Some(d) => d,
                    None => datasets::bundled::resolve(&source, datasets::bundled::Part::Train)?,
                };
                let name = d
                    .get(datasets::format::key::NAME)
                    .unwrap_or("data")
                    .to_owned();
                vec![(name, "whole", d)]
            } else {
                let (name, split) = split_source(&source, data, &seed)?;
                vec![
                    (format!("{name}-train"), "train", split.train),
                    (format!("{name}-hidden"), "hidden", split.hidden),
                ]
            };
            let mut files = Vec::new();
            for (file, part, d) in &parts {
                let path = out.join(format!("{file}.safetensors"));
                d.write_file(&path)?;
                files.push(json!({"part": part, "file": path, "sha256": sha256_file(&path)?, "examples": d.examples()}));
            }
            ctx.print(&json!({"files": files}), || {
                for f in &files {
                    println!(
                        "{:<6} {} examples  {}  sha256 {}",
                        f["part"].as_str().unwrap_or(""),
                        f["examples"],
                        f["file"].as_str().unwrap_or(""),
                        f["sha256"].as_str().unwrap_or("")
                    );
                }
            });
        }
        Command::Audit => {
            let report = bounties_client::audit::audit(&ctx.client)
                .with_context(|| format!("auditing {}", ctx.client.url()))?;
            ctx.print(&report, || {
                println!("{report}");
                println!("served root matches (from {})", ctx.client.url());
            });
        }
        Command::Dataset(DatasetCmd::Inspect { dataset }) => {
            let d = datasets::bundled::resolve(&dataset, datasets::bundled::Part::Train)?;
            let s = d.summary();
            ctx.print(
                &json!({"id": s.id, "meta": s.meta, "examples": d.examples()}),
                || println!("{s}"),
            );
        }
    }
    Ok(())
}

/// A bundled dataset by name, or a dataset (file, or already loaded) split by seed.
fn split_source(
    source: &str,
    loaded: Option<Dataset>,
    seed: &str,
) -> Result<(String, datasets::split::Split)> {
    if loaded.is_none() && datasets::bundled::NAMES.contains(&source) {
        return Ok((source.to_owned(), datasets::bundled::split(source, seed)?));
    }
    let data = match loaded {
        Some(d) => d,
        None => Dataset::read_file(Path::new(source))?,
    };
    let name = data
        .get(datasets::format::key::NAME)
        .unwrap_or("data")
        .to_owned();
    let split = datasets::split::split_examples(&data, datasets::bundled::HIDDEN_BPS, seed)?;
    Ok((name, split))
}

/// A weights hash given as hex, or read from a model file.
fn weights_hash_of(model: &str) -> Result<Hash32> {
    if let Ok(h) = model.parse::<Hash32>() {
        return Ok(h);
    }
    let bytes = std::fs::read(model).with_context(|| {
        format!("{model} is neither a weights hash (64 hex) nor a readable model file")
    })?;
    Ok(TensorFile::parse(&bytes)
        .with_context(|| format!("{model} is not a safetensors file"))?
        .weights_hash())
}

fn open(ctx: &Ctx, path: &Path, deadline: Option<&str>, base: Option<&str>) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = SpecFile::parse(&text, dir).with_context(|| format!("{}", path.display()))?;
    if let Some(d) = deadline {
        file.deadline = Some(bounty_cli::spec_file::parse_deadline(d)?);
    }
    if let Some(b) = base {
        file.base = Some(bounty_cli::spec_file::parse_base(b, Path::new("."))?);
    }
    let deadline = file.deadline.with_context(|| {
        format!(
            "{} has no deadline: add `deadline = \"10m\"` or pass --deadline 10m",
            path.display()
        )
    })?;
    let key = ctx.key()?;
    let info = ctx.client.info()?;
    // Resolve the base model first: a bad reference should cost no upload.
    let base = match &file.base {
        None => None,
        Some(Base::File(path)) => {
            let model = ModelFile::read(path)?;
            match ctx.client.model(&model.weights_hash) {
                Ok(_) => Some(model.weights_hash),
                Err(e) if e.code() == Some("not_found") => {
                    let terms = file.base_licence.clone().with_context(|| {
                        format!(
                            "the base {} is not on the ledger: add [base-licence] to the spec to publish it, or `bounty publish` it first",
                            path.display()
                        )
                    })?;
                    let source = file.base_source.as_deref();
                    Some(publish(ctx, &key, path, &model, source, terms)?)
                }
                Err(e) => return Err(e.into()),
            }
        }
        Some(Base::WinnerOf(id)) => {
            let (id, page) = (*id, ctx.client.bounty(*id)?);
            let winner = page.bounty.settlement.and_then(|s| s.winner).with_context(|| {
                format!("bounty {id} has no winning model (is it closed, with an eligible submission?)")
            })?;
            Some(winner)
        }
        Some(Base::Weights(w)) => {
            ctx.client
                .model(w)
                .with_context(|| format!("base model {w} is not on the ledger"))?;
            Some(*w)
        }
    };
    let work = std::env::temp_dir().join(format!(
        "bounty-open-{}",
        hex::encode(random_key().seed()).get(..12).unwrap_or("x")
    ));
    std::fs::create_dir_all(&work)?;
    let (train_path, hidden_path, hidden_examples) = match &file.datasets {
        Datasets::Split { source, seed } => {
            // A fresh random seed unless given: the split itself stays secret.
            let seed = seed
                .clone()
                .unwrap_or_else(|| hex::encode(random_key().seed()));
            let (name, split) = split_source(source, None, &seed)?;
            let train = work.join(format!("{name}-train.safetensors"));
            let hidden = work.join(format!("{name}-hidden.safetensors"));
            split.train.write_file(&train)?;
            split.hidden.write_file(&hidden)?;
            (train, hidden, split.hidden.examples())
        }
        Datasets::Files { train, hidden } => {
            Dataset::read_file(train)?;
            let examples = Dataset::read_file(hidden)?.examples();
            (train.clone(), hidden.clone(), examples)
        }
    };
    let hidden_examples = u32::try_from(hidden_examples)
        .ok()
        .filter(|&n| n <= bounties::spec::HIDDEN_EXAMPLES_MAX)
        .with_context(|| {
            format!(
                "the hidden set has {hidden_examples} examples; a bounty's hidden set may have at most {}",
                bounties::spec::HIDDEN_EXAMPLES_MAX
            )
        })?;
    let train = ctx
        .client
        .upload(&key, &info.chain_id, &train_path)
        .context("uploading the training set")?
        .hash;
    let hidden = ctx
        .client
        .upload(&key, &info.chain_id, &hidden_path)
        .context("uploading the hidden set")?
        .hash;
    let deadline_ms = match deadline {
        Deadline::In(ms) => info.server_time_ms.saturating_add(ms),
        Deadline::At(ms) => ms,
    };
    let spec = file.resolve(train, hidden, hidden_examples, deadline_ms, base)?;
    let at = ctx.client.act(
        &key,
        Action::OpenBounty {
            spec: Box::new(spec.clone()),
        },
    )?;
    let _ = std::fs::remove_dir_all(&work);
    let id = at
        .seq()
        .context("the coordinator did not say where the bounty landed; see `bounty list`")?;
    ctx.print(
        &json!({"bounty": id, "train_dataset": train, "hidden_dataset": hidden, "deadline_ms": deadline_ms, "base_model": base, "url": format!("{}/bounties/{id}", ctx.client.url())}),
        || {
            println!("opened bounty {id}: {}", spec.title);
            println!("training set  {train} (public)");
            println!("hidden set    {hidden} (sealed until the close)");
            if let Some(b) = base {
                println!("base model    {b}");
            }
            println!("reward        {} escrowed, evaluation budget {}", spec.reward, spec.evaluation_budget);
            println!("deadline      in {} s", deadline_ms.saturating_sub(info.server_time_ms) / 1000);
            println!("page          {}/bounties/{id}", ctx.client.url());
        },
    );
    Ok(())
}

/// Upload a whole model and publish it under `terms`; its weights hash.
fn publish(
    ctx: &Ctx,
    key: &SecretKey,
    path: &Path,
    model: &ModelFile,
    source: Option<&str>,
    terms: LicenceTerms,
) -> Result<Hash32> {
    let publication = model.publication(path, source, terms)?;
    // A rerun after a lost answer finds its own publication.
    match ctx.client.model(&model.weights_hash) {
        Ok(p) if p.model.miner == key.account() && p.submission.is_none() => {
            return Ok(model.weights_hash);
        }
        Ok(p) => bail!(
            "the weights of {} are already on the ledger, first named by {}",
            path.display(),
            p.model.miner
        ),
        Err(e) if e.code() == Some("not_found") => {}
        Err(e) => return Err(e.into()),
    }
    let info = ctx.client.info()?;
    ctx.client
        .upload(key, &info.chain_id, path)
        .with_context(|| format!("uploading {}", path.display()))?;
    ctx.client
        .act(key, Action::PublishModel(Box::new(publication)))
        .with_context(|| format!("publishing {}", path.display()))?;
    Ok(model.weights_hash)
}

/// A kebab-case word as the serde enum it names.
fn kebab_value<T: serde::de::DeserializeOwned>(word: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(word.to_owned())).ok()
}

/// `allowed-with-credit`, `not-allowed` or a revenue share (`20%`, `12.5%`).
fn parse_derivation(s: &str) -> Result<Derivation> {
    match s {
        "allowed-with-credit" => Ok(Derivation::AllowedWithCredit),
        "not-allowed" => Ok(Derivation::NotAllowed),
        _ => {
            let bps = s
                .strip_suffix('%')
                .and_then(|p| p.trim().parse::<f64>().ok())
                .filter(|p| (0.0..=100.0).contains(p))
                .map(|p| (p * 100.0).round() as u16)
                .with_context(|| {
                    format!(
                        "--derivation {s:?}: allowed-with-credit, not-allowed, or a share like 20%"
                    )
                })?;
            Ok(Derivation::AllowedWithRevenueShare { share_bps: bps })
        }
    }
}

fn print_leaderboard(rows: &[LeaderboardRow]) {
    println!(
        "{:>4}  {:>5}  {:<12}  {:>10}  {:>8}  {:>10}",
        "rank", "sub", "miner", "score", "receipts", "payout"
    );
    for r in rows {
        let score = match (r.score, r.unscorable) {
            (Some(s), _) => s.to_string(),
            (None, Some(why)) => format!("unscorable ({})", why.as_str()),
            (None, None) => "pending".to_owned(),
        };
        println!(
            "{:>4}  {:>5}  {:<12}  {:>10}  {:>8}  {:>10}",
            r.rank.map_or("-".into(), |k| k.to_string()),
            r.submission,
            r.miner.to_hex().get(..12).unwrap_or(""),
            score,
            r.receipts,
            r.payout,
        );
    }
}

fn show(ctx: &Ctx, page: &bounties_api::BountyPage) {
    let b = &page.bounty;
    let s = &b.spec;
    println!("bounty {}: {}", b.id, s.title);
    println!("status       {}", b.status.as_str());
    println!(
        "task         {} ({} is the metric)",
        s.task, s.judging.metric
    );
    println!("reward       {} ({})", s.reward, s.payout);
    println!("deadline     {}", s.deadline_ms.utc());
    println!(
        "datasets     train {}  hidden {}",
        s.train_dataset, s.hidden_dataset
    );
    if let Some(base) = s.base_model {
        println!("base model   {base}");
    }
    println!("page         {}/bounties/{}", ctx.client.url(), b.id);
    println!();
    print_leaderboard(&page.leaderboard);
    if let Some(st) = &b.settlement {
        println!();
        match st.winner {
            Some(w) => println!("winner       {w}"),
            None => println!("winner       none"),
        }
        for p in &st.payouts {
            println!("paid         {} to {}", p.amount, p.miner);
        }
    }
}
