//! `miner`: train a model with candle and write it as a licensed safetensors file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bounties::arch::{Architecture, TOKENIZER_TAG};
use bounties::encoding::sha256;
use bounties::keys::SecretKey;
use bounties::tensorfile::TensorFile;
use candle_core::Device;
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use miner::model::{Params, Trainable};
use miner::train::{self, Event, Stop, TrainConfig};

/// Train models for bounties and write them as licensed safetensors files.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a model: for a bounty (--bounty) or offline (--dataset, --arch).
    Train(Box<TrainArgs>),
    /// Upload a model and submit it to a bounty (safe to retry).
    Submit(SubmitArgs),
    /// Your balance and your submissions: scores, ranks, payouts.
    Status(StatusArgs),
    /// Turn a pretrained BERT-family folder (config.json, model.safetensors,
    /// tokenizer.json) into a licensed `bert` model file with a fresh head.
    Import(ImportArgs),
}

#[derive(Parser, Debug)]
struct ImportArgs {
    /// The folder with config.json, model.safetensors and tokenizer.json
    /// (e.g. target/models/all-minilm-l6-v2 from scripts/fetch-minilm.py).
    dir: PathBuf,
    /// Classes of the new classification head (its weights start at zero).
    #[arg(long)]
    classes: u32,
    /// How the head reads a sequence: the mean of its tokens, or [CLS] through the pooler.
    #[arg(long, value_enum, default_value = "mean")]
    pool: PoolArg,
    /// The weights' licence (all-MiniLM-L6-v2: Apache-2.0, per its model card).
    #[arg(long)]
    license: String,
    /// Where the weights came from.
    #[arg(long)]
    source: String,
    /// Commercial-Use tag.
    #[arg(long, default_value = "allowed")]
    commercial_use: String,
    /// Derivation tag.
    #[arg(long, default_value = "allowed")]
    derivation: String,
    /// Where to write the model file.
    #[arg(long, default_value = "base.safetensors")]
    out: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum PoolArg {
    Mean,
    Cls,
}

/// Where the coordinator is and who you are.
#[derive(Parser, Debug, Clone)]
struct Remote {
    /// The coordinator's URL.
    #[arg(
        long,
        env = "BOUNTY_COORDINATOR",
        default_value = "http://127.0.0.1:8080"
    )]
    coordinator: String,
}

#[derive(Parser, Debug)]
struct SubmitArgs {
    /// The model file.
    file: PathBuf,
    /// The bounty.
    #[arg(long)]
    bounty: u64,
    #[command(flatten)]
    remote: Remote,
    /// Your key file.
    #[arg(long, env = "BOUNTY_KEY")]
    key: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Parser, Debug)]
struct StatusArgs {
    /// Only this bounty.
    #[arg(long)]
    bounty: Option<u64>,
    #[command(flatten)]
    remote: Remote,
    /// Your key file.
    #[arg(long, env = "BOUNTY_KEY")]
    key: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum DeviceArg {
    Cpu,
    Cuda,
    Auto,
}

#[derive(Parser, Debug)]
struct TrainArgs {
    /// A dataset file, or a bundled name (`digits`, `mnist`, `shakespeare`, `moby-dick`,
    /// `fashion-mnist`): its public training part.
    #[arg(long, required_unless_present = "bounty", conflicts_with = "bounty")]
    dataset: Option<String>,
    /// Train for this bounty: its training set, base model and licence terms
    /// come from the coordinator (hashes checked); needs --key.
    #[arg(long)]
    bounty: Option<u64>,
    #[command(flatten)]
    remote: Remote,
    /// Where downloaded datasets and base models are kept.
    #[arg(long, env = "BOUNTY_CACHE")]
    cache: Option<PathBuf>,
    /// The architecture, e.g. `mlp:64,128,10` or `gpt:vocab=96,context=64,layers=4,width=128,heads=4`,
    /// or a family alone (`mlp`, `gpt`) for a bundled dataset's default widths;
    /// defaults to a good one for a bundled dataset.
    #[arg(long)]
    arch: Option<String>,
    /// Standardise an mlp's inputs: each feature's mean and standard deviation
    /// over the training part, stored in the model file (`+standardize`) and
    /// applied by the evaluator. `auto` does for tabular data (F32 features)
    /// and not for pixels (U8, already scaled to 0..1).
    #[arg(long, value_enum, default_value = "auto")]
    standardize: StandardizeArg,
    /// Fine-tune from this model file (its architecture is used).
    #[arg(long)]
    base: Option<PathBuf>,
    /// What trains: every tensor; (a bert) its head alone on the frozen
    /// encoder; or LoRA adapters and the head, written as an adapter file.
    #[arg(long, value_enum, default_value = "all")]
    train: TrainArg,
    /// LoRA: the adapters' rank.
    #[arg(long, default_value_t = 8)]
    lora_rank: u32,
    /// LoRA: alpha (the update is scaled by alpha / rank).
    #[arg(long, default_value_t = 16)]
    lora_alpha: u32,
    /// LoRA: the adapted attention projections, comma-separated (query, key, value).
    #[arg(long, default_value = "query,value", value_delimiter = ',')]
    lora_targets: Vec<String>,
    /// LoRA: dropout on each adapted projection's input while training
    /// (PEFT's lora_dropout), in [0, 1); its masks are seeded by --seed.
    #[arg(long, default_value_t = 0.0)]
    lora_dropout: f32,
    /// Passes over the data.
    #[arg(long)]
    epochs: Option<u32>,
    /// Peak learning rate.
    #[arg(long)]
    lr: Option<f64>,
    /// Learning-rate schedule after warmup.
    #[arg(long, value_enum, default_value = "cosine")]
    schedule: Schedule,
    /// Warmup steps.
    #[arg(long, default_value_t = 50)]
    warmup: u64,
    /// Batch size.
    #[arg(long)]
    batch: Option<usize>,
    /// Seed for initialisation, validation split and shuffles.
    #[arg(long, default_value = "miner")]
    seed: String,
    /// AdamW weight decay (default: per dataset).
    #[arg(long)]
    weight_decay: Option<f64>,
    /// Share of the training data held out for validation and early stopping,
    /// 0 to 0.5 (default: per dataset).
    #[arg(long)]
    validation: Option<f64>,
    /// Epochs without a better validation loss before stopping (0: never).
    #[arg(long, default_value_t = 3)]
    patience: u32,
    /// cpu, cuda, or auto (cuda when built with it and a GPU is present).
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
    /// Worker threads (CPU).
    #[arg(long)]
    threads: Option<usize>,
    /// Where to write the model.
    #[arg(long, default_value = "model.safetensors")]
    out: PathBuf,
    /// Resume from a checkpoint written by an interrupted run.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Where Ctrl-C writes the checkpoint.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Key file (64 hex characters) of the miner: its account goes in the Miner tag.
    #[arg(long, env = "BOUNTY_KEY")]
    key: Option<PathBuf>,
    /// Licence tags (a bounty's terms replace them once submitted to one).
    #[arg(long, default_value = "UDL-1.0")]
    license: String,
    /// Commercial-Use tag.
    #[arg(long, default_value = "allowed-with-credit")]
    commercial_use: String,
    /// Derivation tag.
    #[arg(long, default_value = "allowed-with-credit")]
    derivation: String,
    /// Print one JSON object per event instead of a progress bar.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum TrainArg {
    All,
    Head,
    Lora,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum StandardizeArg {
    Auto,
    On,
    Off,
}

/// `arch` with `+standardize` set as `--standardize` asks (an mlp only).
fn with_standardize(
    arch: Architecture,
    arg: StandardizeArg,
    data: &datasets::Dataset,
) -> Result<Architecture> {
    let Architecture::Mlp(mut m) = arch else {
        if arg == StandardizeArg::On {
            bail!("--standardize on is for the mlp family; {arch} is not one");
        }
        return Ok(arch);
    };
    m.standardize = match arg {
        StandardizeArg::On => true,
        StandardizeArg::Off => false,
        StandardizeArg::Auto => {
            m.standardize || data.inputs.dtype == bounties::tensorfile::Dtype::F32
        }
    };
    Ok(Architecture::Mlp(m))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Schedule {
    Cosine,
    Constant,
}

/// Per-dataset defaults that reach the README's figures on 2 cores.
struct Defaults {
    arch: Option<&'static str>,
    epochs: u32,
    lr: f64,
    batch: usize,
    weight_decay: f64,
    validation: f64,
}

fn defaults(dataset: &str) -> Defaults {
    let d = |arch, epochs, lr, batch, weight_decay, validation| Defaults {
        arch,
        epochs,
        lr,
        batch,
        weight_decay,
        validation,
    };
    match dataset {
        // Small data: every example is worth more in training than in a hold-out.
        "digits" => d(Some("mlp:64,256,10"), 100, 2e-3, 32, 0.1, 0.0),
        "mnist" => d(Some("mlp:784,512,256,10"), 30, 1e-3, 64, 0.1, 0.0),
        "fashion-mnist" => d(Some("mlp:784,512,256,10"), 10, 1e-3, 64, 0.1, 0.05),
        "shakespeare" | "moby-dick" => d(
            Some("gpt:vocab=96,context=64,layers=4,width=128,heads=4"),
            2,
            2e-3,
            32,
            0.01,
            0.05,
        ),
        _ => d(None, 10, 1e-3, 64, 0.01, 0.1),
    }
}

/// `mlp` or `gpt` alone: a family whose widths the dataset's defaults give.
fn family_only(arch: &str) -> Option<bounties::arch::Family> {
    match arch {
        "mlp" => Some(bounties::arch::Family::Mlp),
        "gpt" => Some(bounties::arch::Family::Gpt),
        _ => None,
    }
}

/// The architecture to initialise: `--arch` in full, a family name alone
/// (the dataset's default widths for it), or the dataset's default.
fn chosen_arch(arg: Option<&str>, def: &Defaults) -> Result<Architecture> {
    let default: Option<Architecture> = def.arch.map(str::parse).transpose()?;
    match arg {
        None => default.context("--arch is required for this dataset (e.g. mlp:IN,256,CLASSES)"),
        Some(a) => match family_only(a) {
            Some(family) => default.filter(|d| d.family() == family).with_context(|| {
                format!("this dataset has no default {a} widths: give them, e.g. --arch mlp:IN,256,CLASSES")
            }),
            None => Ok(a.parse()?),
        },
    }
}

fn device(arg: DeviceArg) -> Result<Device> {
    match arg {
        DeviceArg::Cpu => Ok(Device::Cpu),
        DeviceArg::Cuda if !cfg!(feature = "cuda") => {
            bail!(
                "this miner was built without CUDA: rebuild with `--features cuda` (see README) or use --device cpu"
            )
        }
        DeviceArg::Cuda => Device::new_cuda(0).context("no usable CUDA device"),
        // candle's cuda_if_available only checks the build; try the GPU itself.
        DeviceArg::Auto if cfg!(feature = "cuda") => Ok(Device::new_cuda(0).unwrap_or_else(|e| {
            eprintln!("note: no usable CUDA device ({e}); training on the CPU");
            Device::Cpu
        })),
        DeviceArg::Auto => Ok(Device::Cpu),
    }
}

/// Large training temporaries come and go every step; mimalloc keeps them in
/// its own segments where glibc maps and unmaps each one (page faults and TLB
/// shootdowns were a tenth of a GPT step).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    miner::runtime::configure_cpu();
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(args) => train_command(*args),
        Command::Submit(args) => submit_command(args),
        Command::Status(args) => status_command(args),
        Command::Import(args) => import_command(args),
    }
}

fn import_command(a: ImportArgs) -> Result<()> {
    use bounties::arch::Pooling;
    let opts = miner::import::ImportOptions {
        classes: a.classes,
        pool: match a.pool {
            PoolArg::Mean => Pooling::Mean,
            PoolArg::Cls => Pooling::Cls,
        },
        tags: BTreeMap::from([
            ("License".to_owned(), a.license),
            ("Source".to_owned(), a.source),
            ("Commercial-Use".to_owned(), a.commercial_use),
            ("Derivation".to_owned(), a.derivation),
        ]),
    };
    let imported = miner::import::import_dir(&a.dir, &opts)
        .with_context(|| format!("importing {}", a.dir.display()))?;
    let tmp = a.out.with_extension("partial");
    std::fs::write(&tmp, &imported.bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &a.out).with_context(|| format!("writing {}", a.out.display()))?;
    println!("wrote {}", a.out.display());
    println!("architecture {}", imported.arch);
    println!("parameters   {}", imported.arch.parameter_count());
    println!("tokenizer    {}", imported.tokenizer);
    println!("weights hash {}", imported.weights_hash);
    println!("file hash    {}", sha256(&imported.bytes));
    Ok(())
}

fn train_command(mut a: TrainArgs) -> Result<()> {
    // Our own arguments first: a mistake costs no download.
    if let Some(v) = a.validation
        && !(0.0..=0.5).contains(&v)
    {
        bail!("--validation must be between 0 and 0.5");
    }
    if !(0.0..1.0).contains(&a.lora_dropout) {
        bail!("--lora-dropout must be at least 0 and below 1");
    }
    if let Some(arch) = a.arch.as_deref()
        && family_only(arch).is_none()
    {
        arch.parse::<Architecture>()
            .with_context(|| format!("--arch {arch}"))?;
    }
    let dev = device(a.device)?;
    // For a bounty: fetch (and check) its materials, then train as offline.
    let bounty = match a.bounty {
        Some(id) => {
            if a.key.is_none() {
                bail!(
                    "training for a bounty needs your key (--key or BOUNTY_KEY): it goes in the Miner tag"
                );
            }
            let client = bounties_client::Client::new(&a.remote.coordinator);
            let m = miner::bounty::fetch(
                &client,
                bounties::BountyId(id),
                &bounties_client::cache_dir(a.cache.clone()),
            )?;
            a.dataset = Some(m.train.display().to_string());
            if let Some((path, _)) = &m.base {
                if a.base.is_some() {
                    bail!("bounty {id} names its base model; drop --base");
                }
                a.base = Some(path.clone());
            }
            Some(m)
        }
        None => None,
    };
    let dataset = a
        .dataset
        .clone()
        .expect("clap requires --dataset or --bounty");
    let data = datasets::bundled::resolve(&dataset, datasets::bundled::Part::Train)?;
    // Defaults follow the data: a bundled name, or the Name a dataset file carries.
    let def = defaults(data.get(datasets::format::key::NAME).unwrap_or(&dataset));
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .context("starting the thread pool")?;
    // The base model, read once: its parameters and its weights hash (the lineage).
    let mut base_tokenizer = None;
    let base = match &a.base {
        Some(p) => {
            let bytes =
                std::fs::read(p).with_context(|| format!("reading base model {}", p.display()))?;
            let params = Params::from_file(&bytes, &dev)
                .with_context(|| format!("{} is not an acceptable base model", p.display()))?;
            let file = TensorFile::parse(&bytes)?;
            // A model that reads texts reads them in its tokenizer's ids only.
            let tokenizer = file.metadata.get(TOKENIZER_TAG).cloned();
            let data_tokenizer = data.get(datasets::format::key::TOKENIZER);
            if data_tokenizer.is_some() && data_tokenizer != tokenizer.as_deref() {
                bail!(
                    "the dataset was tokenised with tokenizer {}, the base model reads {}",
                    data_tokenizer.unwrap_or("-"),
                    tokenizer.as_deref().unwrap_or("no tokenizer")
                );
            }
            base_tokenizer = tokenizer;
            Some((params, file.weights_hash()))
        }
        None => None,
    };
    let parent_hash = base.as_ref().map(|(_, hash)| *hash);
    let mut params = match (base, &a.arch) {
        (Some((p, _)), arch) => {
            let same = |arch: &str| -> Result<bool> {
                Ok(match family_only(arch) {
                    Some(family) => p.arch.family() == family,
                    None => arch.parse::<Architecture>()? == p.arch,
                })
            };
            if let Some(arch) = arch
                && !same(arch)?
            {
                bail!("the base model is {}, not {arch}", p.arch);
            }
            if a.standardize == StandardizeArg::On
                && !matches!(&p.arch, Architecture::Mlp(m) if m.standardize)
            {
                bail!(
                    "the base model {} does not standardise its inputs, and fine-tuning keeps its architecture",
                    p.arch
                );
            }
            p
        }
        (None, arch) => {
            let arch = with_standardize(chosen_arch(arch.as_deref(), &def)?, a.standardize, &data)?;
            Params::init(&arch, &a.seed, &dev)?
        }
    };
    train::check_fit(&params.arch, &data)?;
    match a.train {
        TrainArg::All => params.set_trainable(Trainable::All)?,
        TrainArg::Head => params.set_trainable(Trainable::Head)?,
        TrainArg::Lora => {
            let Architecture::Bert(spec) = &params.arch else {
                bail!(
                    "--train lora is for the bert family; {} is not one",
                    params.arch
                );
            };
            if parent_hash.is_none() {
                bail!("--train lora adapts a base model: give --base (or a bounty with one)");
            }
            let mut targets: Vec<&str> = a.lora_targets.iter().map(String::as_str).collect();
            targets.sort_by_key(|t| bounties::arch::lora::Target::from_name(t));
            targets.dedup();
            let text = format!(
                "rank={},alpha={},targets={}",
                a.lora_rank,
                a.lora_alpha,
                targets.join("+")
            );
            let lora = bounties::arch::lora::LoraSpec::parse(&text, spec)
                .with_context(|| format!("--lora-rank/--lora-alpha/--lora-targets: lora:{text}"))?;
            params.add_lora_with_dropout(lora, &a.seed, a.lora_dropout)?;
        }
    }
    // Fine-tuning a pretrained encoder wants small steps and few passes.
    // A fresh head on a frozen encoder (and LoRA's small matrices) want
    // larger steps and more passes.
    let head_only = a.train != TrainArg::All;
    let def = if params.arch.family() == bounties::arch::Family::Bert {
        Defaults {
            arch: None,
            epochs: if head_only { 5 } else { 3 },
            lr: if head_only { 1e-3 } else { 5e-5 },
            batch: 32,
            weight_decay: 0.01,
            validation: 0.1,
        }
    } else {
        def
    };
    let validation = a.validation.unwrap_or(def.validation);
    if let (Architecture::Mlp(m), None) = (&params.arch, parent_hash)
        && m.standardize
    {
        params.standardize_from(&data.inputs_f32(), m.widths[0] as usize)?;
    }
    if let Some(m) = &bounty {
        miner::bounty::check_limits(&params.arch, &m.spec)?;
        if let (Some(lora), Architecture::Bert(base)) = (params.lora(), &params.arch) {
            miner::bounty::check_adapter(lora, base, &m.spec)?;
        }
    }
    let writable = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&a.out);
    writable.with_context(|| format!("{} is not writable", a.out.display()))?;
    let resume = a
        .resume
        .as_ref()
        .map(std::fs::read)
        .transpose()
        .context("reading the checkpoint")?;
    let key = a.key.as_deref().map(read_key).transpose()?;
    let cfg = TrainConfig {
        epochs: a.epochs.unwrap_or(def.epochs),
        lr: a.lr.unwrap_or(def.lr),
        warmup_steps: a.warmup,
        cosine: a.schedule == Schedule::Cosine,
        batch: a.batch.unwrap_or(def.batch),
        seed: a.seed.clone(),
        weight_decay: a.weight_decay.unwrap_or(def.weight_decay),
        validation_bps: (validation * 10_000.0).round() as u16,
        patience: a.patience,
    };

    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .context("installing the Ctrl-C handler")?;
    if !a.json {
        eprintln!(
            "training {} on {} ({} examples), {threads} threads, device {:?}",
            params.arch,
            dataset,
            data.examples(),
            dev
        );
    }
    let bar = ProgressBar::hidden();
    let started = std::time::Instant::now();
    let mut units = 0usize;
    let json = a.json;
    let outcome = train::train(
        &mut params,
        &data,
        &cfg,
        resume.as_deref(),
        &stop,
        &mut |e| match e {
            Event::Start {
                total_steps,
                done_steps,
                train_examples,
                validation_examples,
            } => {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"event": "start", "total_steps": total_steps, "done_steps": done_steps, "train_examples": train_examples, "validation_examples": validation_examples})
                    );
                } else {
                    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                    bar.set_length(*total_steps);
                    bar.set_position(*done_steps);
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{spinner} epoch {prefix} [{bar:30}] {pos}/{len} {msg} ETA {eta}",
                        )
                        .expect("template")
                        .progress_chars("=> "),
                    );
                    bar.enable_steady_tick(Duration::from_millis(200));
                }
            }
            Event::Step {
                epoch,
                step,
                loss,
                units: u,
            } => {
                units += u;
                let rate = units as f64 / started.elapsed().as_secs_f64().max(1e-9);
                if !json {
                    bar.set_prefix(epoch.to_string());
                    bar.set_position(*step);
                    bar.set_message(format!("loss {loss:.4}  {rate:.0}/s"));
                }
            }
            Event::Epoch {
                epoch,
                train_loss,
                validation,
            } => {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"event": "epoch", "epoch": epoch, "train_loss": train_loss, "validation_loss": validation.map(|v| v.0), "validation_accuracy": validation.map(|v| v.1)})
                    );
                } else {
                    let val = validation.map_or(String::new(), |(l, acc)| {
                        format!(", validation loss {l:.4} accuracy {:.2}%", acc * 100.0)
                    });
                    let line = format!("epoch {epoch}: train loss {train_loss:.4}{val}");
                    // indicatif draws nothing when stderr is not a terminal; say it plainly then.
                    if bar.is_hidden() {
                        eprintln!("{line}")
                    } else {
                        bar.println(line)
                    }
                }
            }
        },
    )?;
    bar.finish_and_clear();
    if outcome.stop == Stop::Interrupted {
        let path = a
            .checkpoint
            .clone()
            .unwrap_or_else(|| a.out.with_extension("checkpoint.safetensors"));
        std::fs::write(&path, outcome.checkpoint.unwrap_or_default())
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!(
            "interrupted: checkpoint written to {}; continue with --resume {}",
            path.display(),
            path.display()
        );
        return Ok(());
    }

    let mut meta = BTreeMap::from([
        ("License".to_owned(), a.license.clone()),
        ("Commercial-Use".to_owned(), a.commercial_use.clone()),
        ("Derivation".to_owned(), a.derivation.clone()),
    ]);
    if let Some(k) = &key {
        meta.insert("Miner".into(), k.account().to_hex());
        meta.insert("Payment-Address".into(), k.account().to_hex());
    }
    if let (Some(m), Some(k)) = (&bounty, &key) {
        // The bounty's terms replace the command line's.
        meta.extend(miner::bounty::licence_tags(m, k.account()));
    }
    if let Some(parent) = parent_hash {
        meta.insert("Parent-Weights-Hash".into(), parent.to_hex());
    }
    // A text model keeps the tokenizer it reads: its base's, or (trained
    // from scratch) its dataset's.
    let data_tokenizer = data
        .get(datasets::format::key::TOKENIZER)
        .map(str::to_owned);
    if let Some(tokenizer) = base_tokenizer.or(data_tokenizer) {
        meta.insert(TOKENIZER_TAG.into(), tokenizer);
    }
    let bytes = match parent_hash {
        Some(base) if a.train == TrainArg::Lora => params.to_adapter_file(&meta, base)?,
        _ => params.to_file(&meta)?,
    };
    let tmp = a.out.with_extension("partial");
    std::fs::write(&tmp, &bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &a.out).with_context(|| format!("writing {}", a.out.display()))?;
    let weights = bounties::arch::lora::model_identity(&TensorFile::parse(&bytes)?)
        .context("the adapter names no base")?;
    let elapsed = started.elapsed().as_secs_f64();
    if json {
        println!(
            "{}",
            serde_json::json!({"event": "done", "out": a.out, "weights_hash": weights.to_hex(), "file_hash": sha256(&bytes).to_hex(), "seconds": elapsed, "stop": format!("{:?}", outcome.stop)})
        );
    } else {
        eprintln!("done in {elapsed:.0} s ({:?})", outcome.stop);
        println!("wrote {}", a.out.display());
        println!("weights hash {weights}");
        println!("file hash    {}", sha256(&bytes));
    }
    Ok(())
}

fn read_key(path: &Path) -> Result<SecretKey> {
    Ok(bounties_client::read_key_file(path)?)
}

/// Upload and submit; a rerun after a dropped connection finds the first
/// submission and reports it instead of failing or submitting twice.
fn submit_command(a: SubmitArgs) -> Result<()> {
    use bounties_client::Client;
    use serde_json::json;
    let key = read_key(&a.key)?;
    let client = Client::new(&a.remote.coordinator);
    let bounty = bounties::BountyId(a.bounty);
    let bytes = std::fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
    let file = TensorFile::parse(&bytes)
        .with_context(|| format!("{} is not a safetensors file", a.file.display()))?;
    let weights = bounties::arch::lora::model_identity(&file)
        .with_context(|| format!("{} is an adapter naming no base", a.file.display()))?;
    let arch: Architecture = file
        .metadata
        .get(bounties::arch::ARCHITECTURE_TAG)
        .with_context(|| format!("{} has no Architecture tag", a.file.display()))?
        .parse()?;
    // An adapter holds its adapter's tensors, a whole model its architecture's.
    let adapter = match (file.metadata.get(bounties::arch::lora::ADAPTER_TAG), &arch) {
        (None, _) => {
            arch.check_tensors(&file.tensors)?;
            None
        }
        (Some(tag), Architecture::Bert(base)) => {
            let lora = bounties::arch::lora::LoraSpec::from_tag(tag, base)?;
            lora.check_tensors(base, &file.tensors)?;
            Some((lora, base.clone()))
        }
        (Some(_), _) => bail!(
            "{}: LoRA adapters apply to a bert, not {arch}",
            a.file.display()
        ),
    };
    let parent: Option<bounties::Hash32> = file
        .metadata
        .get("Parent-Weights-Hash")
        .map(|p| p.parse())
        .transpose()
        .context("Parent-Weights-Hash is not a hash")?;
    let report = |sub: u64, again: bool| {
        let url = format!("{}/bounties/{bounty}", client.url());
        if a.json {
            println!(
                "{}",
                json!({"bounty": bounty, "submission": sub, "weights_hash": weights, "already_submitted": again, "url": url})
            );
        } else if again {
            println!("already submitted: submission {sub} to bounty {bounty} ({url})");
        } else {
            println!(
                "submitted {} as submission {sub} to bounty {bounty}",
                a.file.display()
            );
            println!("weights hash {weights}");
            println!("page         {url}");
        }
    };
    // Already on the ledger? Then this is a retry (ours) or a copy (refused).
    match client.model(&weights) {
        Ok(m) => {
            let miner = m.model.miner;
            let Some(sub) = m.submission.map(|s| s.id.0) else {
                bail!(
                    "these weights are a model {miner} published; a bounty takes each model once"
                );
            };
            if miner == key.account() && m.model.bounty() == Some(bounty) {
                report(sub, true);
                return Ok(());
            }
            bail!(
                "these weights were already submitted by {miner} (submission {sub}); a bounty takes each model once"
            );
        }
        Err(e) if e.code() == Some("not_found") => {}
        Err(e) => return Err(e.into()),
    }
    let (spec, status) = miner::bounty::fetch_spec(&client, bounty)?;
    if status != bounties::state::records::BountyStatus::Open {
        bail!(
            "bounty {bounty} is {}: it takes no more submissions",
            status.as_str()
        );
    }
    miner::bounty::check_limits(&arch, &spec)?;
    if let Some((lora, base)) = &adapter {
        miner::bounty::check_adapter(lora, base, &spec)?;
    }
    if let Some(base) = spec.base_model
        && parent != Some(base)
    {
        bail!(
            "bounty {bounty} asks for fine-tunes of {base}; this model's Parent-Weights-Hash is {}",
            parent.map_or("absent".into(), |p| p.to_hex())
        );
    }
    let chain_id = client.info()?.chain_id;
    let file_hash = client
        .upload(&key, &chain_id, &a.file)
        .context("uploading the model")?
        .hash;
    let at = client.act(
        &key,
        bounties::Action::Submit {
            bounty,
            file_hash,
            weights_hash: weights,
            parent_weights_hash: parent,
        },
    )?;
    let sub = match at.seq() {
        Some(seq) => seq,
        // The answer was lost but the message applied: find it.
        None => {
            client
                .model(&weights)
                .context("submitted, but the coordinator does not show it yet")?
                .submission
                .context("submitted, but the ledger shows these weights as a published model")?
                .id
                .0
        }
    };
    report(sub, false);
    Ok(())
}

/// One of this account's submissions, as `miner status` shows it.
#[derive(serde::Serialize)]
struct StatusRow {
    bounty: bounties::BountyId,
    title: String,
    status: bounties::state::records::BountyStatus,
    #[serde(flatten)]
    row: bounties::state::LeaderboardRow,
}

/// Balance and submissions of this key's account.
fn status_command(a: StatusArgs) -> Result<()> {
    let key = read_key(&a.key)?;
    let me = key.account();
    let client = bounties_client::Client::new(&a.remote.coordinator);
    let account = client.account(&me)?.account;
    let mut rows = Vec::new();
    for b in client.bounties()?.bounties {
        if a.bounty.is_some_and(|want| want != b.id.0) {
            continue;
        }
        for row in client.leaderboard(b.id)?.rows {
            if row.miner == me {
                rows.push(StatusRow {
                    bounty: b.id,
                    title: b.spec.title.clone(),
                    status: b.status,
                    row,
                });
            }
        }
    }
    if a.json {
        println!(
            "{}",
            serde_json::json!({"account": me, "balance": account.balance, "submissions": rows})
        );
        return Ok(());
    }
    println!("account  {me}");
    println!("balance  {}", account.balance);
    if rows.is_empty() {
        println!("no submissions yet");
    }
    for r in &rows {
        let score = match (r.row.score, r.row.unscorable) {
            (Some(s), _) => s.to_string(),
            (None, Some(why)) => format!("unscorable ({})", why.as_str()),
            (None, None) => "pending".to_owned(),
        };
        println!(
            "bounty {:>3} ({:<9}) submission {:>4}  score {:>10}  rank {:>3}  receipts {}  paid {}",
            r.bounty,
            r.status.as_str(),
            r.row.submission,
            score,
            r.row.rank.map_or("-".into(), |k| k.to_string()),
            r.row.receipts,
            r.row.payout
        );
    }
    Ok(())
}
