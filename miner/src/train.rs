//! The training loop: seeded shuffles, AdamW with warmup and cosine decay,
//! a held-out validation part with early stopping, and exact checkpoints.
//!
//! Determinism: batches come from a ChaCha20 shuffle seeded by (seed, epoch);
//! initialisation is seeded; parameters iterate in name order. With the same
//! seed, data, device and thread count the same bytes come out. A checkpoint
//! holds the weights, the optimizer's moments and the position (epoch, batch),
//! so a resumed run continues exactly where the interrupted one stopped.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use bounties::arch::{ARCHITECTURE_TAG, Architecture};
use bounties::seeded;
use bounties::spec::Task;
use bounties::tensorfile::{self, Dtype, TensorData, TensorFile};
use candle_core::{D, DType, Device, Tensor};
use datasets::Dataset;

use crate::model::{ModelError, NO_TOKEN, Params, family, log_softmax};
use crate::optim::AdamW;

/// How to train.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Passes over the training part.
    pub epochs: u32,
    /// Peak learning rate.
    pub lr: f64,
    /// Linear warmup steps.
    pub warmup_steps: u64,
    /// Cosine decay to 10% of the peak over the run (else constant after warmup).
    pub cosine: bool,
    /// Examples (or sequences) per step.
    pub batch: usize,
    /// Seeds initialisation, the validation split and every shuffle.
    pub seed: String,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f64,
    /// Share of the training data held out for validation, in basis points (0: none).
    pub validation_bps: u16,
    /// Stop after this many epochs without a better validation loss (0: never).
    pub patience: u32,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            lr: 1e-3,
            warmup_steps: 50,
            cosine: true,
            batch: 64,
            seed: "miner".into(),
            weight_decay: 0.01,
            validation_bps: 1_000,
            patience: 3,
        }
    }
}

/// What the loop reports.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// Training starts.
    Start {
        /// Steps in the whole run.
        total_steps: u64,
        /// Steps already done (resume).
        done_steps: u64,
        /// Training examples.
        train_examples: usize,
        /// Validation examples.
        validation_examples: usize,
    },
    /// One optimizer step.
    Step {
        /// The epoch (from 1).
        epoch: u32,
        /// Steps done.
        step: u64,
        /// The batch's loss.
        loss: f32,
        /// Examples (or tokens) in the batch.
        units: usize,
    },
    /// An epoch ended.
    Epoch {
        /// The epoch (from 1).
        epoch: u32,
        /// Mean training loss.
        train_loss: f32,
        /// Validation loss and accuracy (if validating).
        validation: Option<(f32, f32)>,
    },
}

/// Why training stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// All epochs ran.
    Finished,
    /// Early stopping.
    NoImprovement,
    /// Interrupted (Ctrl-C); a checkpoint was taken.
    Interrupted,
}

/// The result of a run.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Why it stopped.
    pub stop: Stop,
    /// The best validation loss (if validating).
    pub best_validation_loss: Option<f32>,
    /// The checkpoint to resume from (when interrupted).
    pub checkpoint: Option<Vec<u8>>,
}

/// Why training could not run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The data does not fit the architecture.
    #[error("{0}")]
    Mismatch(String),
    /// candle or the model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A checkpoint is not usable.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
}

impl From<candle_core::Error> for TrainError {
    fn from(e: candle_core::Error) -> Self {
        TrainError::Model(ModelError::Candle(e))
    }
}

/// Check that `data` fits `arch` before any work starts: the family's task,
/// then what the family's module asks of the data ([`Family::misfit`]).
pub fn check_fit(arch: &Architecture, data: &Dataset) -> Result<(), TrainError> {
    let task = data.task();
    if !arch.fits(task) {
        return Err(TrainError::Mismatch(format!(
            "a {:?} model cannot learn a {task:?} dataset",
            arch.family()
        )));
    }
    match family(arch).misfit(arch, data) {
        Some(why) => Err(TrainError::Mismatch(why)),
        None => Ok(()),
    }
}

/// A classification dataset's labels as u32 class ids (checked `< Classes`).
fn class_ids(d: &Dataset) -> Vec<u32> {
    let labels = d.targets.as_i64().expect("checked");
    labels.iter().map(|&l| l as u32).collect()
}

/// Tensors of a dataset on a device: inputs and targets, row-indexable.
struct Data {
    x: Tensor,
    y: Tensor,
    task: Task,
    /// Units per row for throughput (1, or tokens per sequence).
    units: usize,
    /// Texts: each row's sequence length (a batch is cut to its longest).
    lengths: Option<Vec<usize>>,
}

impl Data {
    fn new(d: &Dataset, device: &Device) -> candle_core::Result<Data> {
        let rows = d.examples() as usize;
        let width = d.inputs.shape[1] as usize;
        let task = d.task();
        if let Some(sequences) = d.sequences() {
            // Texts: the ids, `NO_TOKEN` after each sequence's end.
            let mut ids = Vec::with_capacity(rows * width);
            for seq in &sequences {
                ids.extend(seq.iter().copied());
                ids.resize(ids.len() + width - seq.len(), NO_TOKEN);
            }
            return Ok(Data {
                x: Tensor::from_vec(ids, (rows, width), device)?,
                y: Tensor::from_vec(class_ids(d), rows, device)?,
                task,
                units: 1,
                lengths: Some(sequences.iter().map(Vec::len).collect()),
            });
        }
        let (x, y, units) = match task {
            Task::LanguageModel => {
                let ids = d.inputs.token_ids().expect("validated token ids");
                let tg = d.targets.token_ids().expect("validated token ids");
                (
                    Tensor::from_vec(ids, (rows, width), device)?,
                    Tensor::from_vec(tg, (rows, width), device)?,
                    width,
                )
            }
            Task::Classification => (
                Tensor::from_vec(d.inputs_f32(), (rows, width), device)?,
                Tensor::from_vec(class_ids(d), rows, device)?,
                1,
            ),
            Task::Regression => {
                let t = d.targets.as_f32().expect("checked");
                (
                    Tensor::from_vec(d.inputs_f32(), (rows, width), device)?,
                    Tensor::from_vec(t, (rows, 1), device)?,
                    1,
                )
            }
        };
        Ok(Data {
            x,
            y,
            task,
            units,
            lengths: None,
        })
    }

    fn batch(&self, idx: &[u32]) -> candle_core::Result<(Tensor, Tensor)> {
        let i = Tensor::from_vec(idx.to_vec(), idx.len(), self.x.device())?;
        let x = self.x.index_select(&i, 0)?;
        let x = match &self.lengths {
            // Padding every row shares is work for nothing.
            Some(lengths) => {
                let longest = idx.iter().map(|&r| lengths[r as usize]).max().unwrap_or(1);
                x.narrow(1, 0, longest)?
            }
            None => x,
        };
        Ok((x, self.y.index_select(&i, 0)?))
    }
}

/// One optimizer step on a batch: forward, loss, backward, AdamW. Returns the loss.
/// A gpt on the CPU takes the hand-written step of `fused::gpt_loss_and_grads`;
/// everything else goes through candle's autograd.
pub fn step(
    params: &Params,
    opt: &mut AdamW,
    task: Task,
    x: &Tensor,
    y: &Tensor,
) -> candle_core::Result<f32> {
    if let (Architecture::Gpt(spec), true) = (&params.arch, x.device().is_cpu()) {
        let (l, grads) = crate::fused::gpt_loss_and_grads(params, spec, x, y)?;
        opt.step(&grads)?;
        return Ok(l);
    }
    // Inside the step LoRA dropout draws this step's masks; outside it
    // (validation, evaluation) the inputs are whole.
    params.set_train_step(Some(opt.step));
    let l = loss(params, task, x, y);
    params.set_train_step(None);
    let (l, _) = l?;
    let grads = l.backward()?;
    opt.step(&grads)?;
    l.to_scalar::<f32>()
}

/// The loss and the number right (classification and language models).
fn loss(
    params: &Params,
    task: Task,
    x: &Tensor,
    y: &Tensor,
) -> candle_core::Result<(Tensor, Option<Tensor>)> {
    let out = params.forward(x).map_err(|e| match e {
        ModelError::Candle(c) => c,
        other => candle_core::Error::Msg(other.to_string()),
    })?;
    if task == Task::Regression {
        return Ok(((out - y)?.sqr()?.mean_all()?, None));
    }
    let classes = *out.dims().last().expect("logits");
    let flat = out.reshape(((), classes))?;
    let targets = y.flatten_all()?;
    let logp = log_softmax(&flat)?;
    let nll = logp.gather(&targets.unsqueeze(1)?, 1)?.neg()?.mean_all()?;
    let right = flat
        .argmax(D::Minus1)?
        .eq(&targets)?
        .to_dtype(DType::F32)?
        .sum_all()?;
    Ok((nll, Some(right)))
}

fn learning_rate(cfg: &TrainConfig, step: u64, total: u64) -> f64 {
    if step < cfg.warmup_steps {
        return cfg.lr * (step + 1) as f64 / cfg.warmup_steps as f64;
    }
    if !cfg.cosine || total <= cfg.warmup_steps {
        return cfg.lr;
    }
    let progress = (step - cfg.warmup_steps) as f64 / (total - cfg.warmup_steps) as f64;
    cfg.lr * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos()))
}

const DOMAIN_TRAIN: &[u8] = b"model-bounties/miner-train/v1";

/// Where a run stands, for checkpoints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Position {
    epoch: u32,
    batch: u64,
    bad_epochs: u32,
}

/// Train `params` on `data` in place. `stop` is polled after every step; when
/// set, a checkpoint is returned and the run ends cleanly.
pub fn train(
    params: &mut Params,
    data: &Dataset,
    cfg: &TrainConfig,
    resume: Option<&[u8]>,
    stop: &AtomicBool,
    report: &mut dyn FnMut(&Event),
) -> Result<Outcome, TrainError> {
    check_fit(&params.arch, data)?;
    if cfg.batch == 0 || cfg.epochs == 0 {
        return Err(TrainError::Mismatch(
            "batch and epochs must be positive".into(),
        ));
    }
    let device = params
        .vars()
        .first()
        .map(|v| v.device().clone())
        .unwrap_or(Device::Cpu);
    // Hold out a validation part (seeded, whole examples).
    let all: Vec<u64> = vec![0; data.examples() as usize];
    let held = if cfg.validation_bps > 0 {
        datasets::split::stratified(
            &all,
            cfg.validation_bps,
            &format!("{}/validation", cfg.seed),
        )
    } else {
        vec![false; all.len()]
    };
    let (val_rows, train_rows): (Vec<u32>, Vec<u32>) =
        (0..all.len() as u32).partition(|&i| held[i as usize]);
    let full = Data::new(data, &device)?;
    let per_epoch = train_rows.len().div_ceil(cfg.batch) as u64;
    let total = per_epoch * u64::from(cfg.epochs);
    let mut opt = AdamW::new(params.vars(), cfg.lr, cfg.weight_decay)?;
    let mut pos = Position::default();
    let mut best: Option<(f32, Vec<Tensor>)> = None;
    if let Some(bytes) = resume {
        pos = restore(params, &mut opt, bytes, &device)?;
    }
    report(&Event::Start {
        total_steps: total,
        done_steps: opt.step,
        train_examples: train_rows.len(),
        validation_examples: val_rows.len(),
    });
    while pos.epoch < cfg.epochs {
        let mut order = train_rows.clone();
        let mut rng = seeded::rng(
            DOMAIN_TRAIN,
            &[cfg.seed.as_bytes(), &pos.epoch.to_le_bytes()],
        );
        seeded::shuffle(&mut rng, &mut order);
        let (mut sum, mut count) = (0f64, 0usize);
        for (b, idx) in order.chunks(cfg.batch).enumerate().skip(pos.batch as usize) {
            opt.lr = learning_rate(cfg, opt.step, total);
            let (x, y) = full.batch(idx)?;
            let lv = step(params, &mut opt, full.task, &x, &y)?;
            sum += f64::from(lv);
            count += 1;
            pos.batch = b as u64 + 1;
            report(&Event::Step {
                epoch: pos.epoch + 1,
                step: opt.step,
                loss: lv,
                units: idx.len() * full.units,
            });
            if stop.load(Ordering::SeqCst) {
                let checkpoint = checkpoint(params, &opt, pos)?;
                return Ok(Outcome {
                    stop: Stop::Interrupted,
                    best_validation_loss: best.map(|b| b.0),
                    checkpoint: Some(checkpoint),
                });
            }
        }
        let validation = if val_rows.is_empty() {
            None
        } else {
            Some(evaluate(params, &full, &val_rows)?)
        };
        report(&Event::Epoch {
            epoch: pos.epoch + 1,
            train_loss: (sum / count.max(1) as f64) as f32,
            validation,
        });
        pos.epoch += 1;
        pos.batch = 0;
        if let Some((val_loss, _)) = validation {
            if best.as_ref().is_none_or(|b| val_loss < b.0) {
                best = Some((
                    val_loss,
                    params
                        .vars()
                        .iter()
                        .map(|v| v.as_tensor().copy())
                        .collect::<candle_core::Result<_>>()?,
                ));
                pos.bad_epochs = 0;
            } else {
                pos.bad_epochs += 1;
                if cfg.patience > 0 && pos.bad_epochs >= cfg.patience {
                    restore_best(params, &best)?;
                    return Ok(Outcome {
                        stop: Stop::NoImprovement,
                        best_validation_loss: best.map(|b| b.0),
                        checkpoint: None,
                    });
                }
            }
        }
    }
    restore_best(params, &best)?;
    Ok(Outcome {
        stop: Stop::Finished,
        best_validation_loss: best.map(|b| b.0),
        checkpoint: None,
    })
}

fn restore_best(params: &Params, best: &Option<(f32, Vec<Tensor>)>) -> candle_core::Result<()> {
    if let Some((_, tensors)) = best {
        for (v, t) in params.vars().iter().zip(tensors) {
            v.set(t)?;
        }
    }
    Ok(())
}

/// Mean loss and accuracy over `rows` (in batches; no gradients kept).
pub fn evaluate_rows(
    params: &Params,
    data: &Dataset,
    rows: &[u32],
) -> Result<(f32, f32), TrainError> {
    let device = params
        .vars()
        .first()
        .map(|v| v.device().clone())
        .unwrap_or(Device::Cpu);
    evaluate(params, &Data::new(data, &device)?, rows)
}

fn evaluate(params: &Params, data: &Data, rows: &[u32]) -> Result<(f32, f32), TrainError> {
    let (mut loss_sum, mut right, mut seen) = (0f64, 0f64, 0usize);
    for idx in rows.chunks(256) {
        let (x, y) = data.batch(idx)?;
        let (l, r) = loss(params, data.task, &x, &y)?;
        loss_sum += f64::from(l.to_scalar::<f32>()?) * idx.len() as f64;
        if let Some(r) = r {
            right += f64::from(r.to_scalar::<f32>()?);
        }
        seen += idx.len();
    }
    let units = (seen * data.units).max(1) as f64;
    Ok((
        (loss_sum / seen.max(1) as f64) as f32,
        (right / units) as f32,
    ))
}

fn tensor_bytes(t: &Tensor) -> candle_core::Result<(Vec<u64>, Vec<u8>)> {
    let t = t.to_device(&Device::Cpu)?.to_dtype(DType::F32)?;
    let shape = t.dims().iter().map(|&d| d as u64).collect();
    Ok((
        shape,
        t.flatten_all()?
            .to_vec1::<f32>()?
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
    ))
}

/// A checkpoint: the weights, `optim.m.*` / `optim.v.*` moments, and the position.
fn checkpoint(params: &Params, opt: &AdamW, pos: Position) -> Result<Vec<u8>, TrainError> {
    let mut owned = Vec::new();
    for ((name, var), (m, v)) in params
        .names()
        .into_iter()
        .zip(params.vars())
        .zip(opt.m.iter().zip(&opt.v))
    {
        owned.push((name.to_owned(), tensor_bytes(var.as_tensor())?));
        owned.push((format!("optim.m.{name}"), tensor_bytes(m)?));
        owned.push((format!("optim.v.{name}"), tensor_bytes(v)?));
    }
    let tensors: Vec<TensorData<'_>> = owned
        .iter()
        .map(|(n, (s, b))| TensorData {
            name: n,
            dtype: Dtype::F32,
            shape: s.clone(),
            data: b,
        })
        .collect();
    let meta = BTreeMap::from([
        (ARCHITECTURE_TAG.to_owned(), params.arch.to_string()),
        ("Checkpoint-Epoch".to_owned(), pos.epoch.to_string()),
        ("Checkpoint-Batch".to_owned(), pos.batch.to_string()),
        ("Checkpoint-Step".to_owned(), opt.step.to_string()),
        (
            "Checkpoint-Bad-Epochs".to_owned(),
            pos.bad_epochs.to_string(),
        ),
    ]);
    tensorfile::write(&meta, &tensors).map_err(|e| TrainError::Checkpoint(e.to_string()))
}

fn restore(
    params: &Params,
    opt: &mut AdamW,
    bytes: &[u8],
    device: &Device,
) -> Result<Position, TrainError> {
    let bad = |s: String| TrainError::Checkpoint(s);
    let file = TensorFile::parse(bytes).map_err(|e| bad(e.to_string()))?;
    let meta = |k: &str| -> Result<u64, TrainError> {
        file.metadata
            .get(k)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad(format!("missing {k}")))
    };
    if file.metadata.get(ARCHITECTURE_TAG) != Some(&params.arch.to_string()) {
        return Err(bad(format!("it is not a checkpoint of {}", params.arch)));
    }
    let load = |name: &str| -> Result<Tensor, TrainError> {
        let info = file
            .tensor(name)
            .ok_or_else(|| bad(format!("tensor {name} is missing")))?;
        let values = file
            .f32_values(info)
            .ok_or_else(|| bad(format!("tensor {name} is not F32")))?;
        let shape: Vec<usize> = info.shape.iter().map(|&d| d as usize).collect();
        Ok(Tensor::from_vec(values, shape, device)?)
    };
    for (i, (name, var)) in params.names().into_iter().zip(params.vars()).enumerate() {
        var.set(&load(name)?)?;
        opt.m[i] = load(&format!("optim.m.{name}"))?;
        opt.v[i] = load(&format!("optim.v.{name}"))?;
    }
    opt.step = meta("Checkpoint-Step")?;
    Ok(Position {
        epoch: meta("Checkpoint-Epoch")? as u32,
        batch: meta("Checkpoint-Batch")?,
        bad_epochs: meta("Checkpoint-Bad-Epochs")? as u32,
    })
}
