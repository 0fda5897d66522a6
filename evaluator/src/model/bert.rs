//! The `bert` family's network: embeddings and their layer norm, post-norm
//! encoder blocks of bidirectional attention and an erf-GELU feed-forward,
//! mean or `[CLS]` pooling, and the classification head. Every sequence runs
//! at its own length (no padding, so no mask), one sequence per thread.

use bounties::arch::{BERT_LAYER_NORM_EPS, BertSpec, Pooling};

use bounties::spec::Metric;
use datasets::Dataset;

use super::{Dense, Network, Weights, check_sequence};
use crate::kernels;
use crate::score::{ScoreError, example_score};

#[derive(Clone, Debug)]
struct Block {
    /// Query, key and value stacked into one `[3d, d]` product (each output
    /// column is its own chain, so stacking changes no bit).
    qkv: Dense,
    attn_out: Dense,
    attn_norm: (Vec<f32>, Vec<f32>),
    ffn_in: Dense,
    ffn_out: Dense,
    out_norm: (Vec<f32>, Vec<f32>),
}

/// A checked bert.
#[derive(Clone, Debug)]
pub(super) struct Bert {
    spec: BertSpec,
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    emb_norm: (Vec<f32>, Vec<f32>),
    blocks: Vec<Block>,
    pooler: Option<Dense>,
    classifier: Dense,
}

impl Bert {
    /// The network of a checked file.
    pub(super) fn load(spec: &BertSpec, w: &Weights<'_>) -> Bert {
        Bert {
            spec: spec.clone(),
            word: w.get("embeddings.word_embeddings.weight"),
            position: w.get("embeddings.position_embeddings.weight"),
            token_type: w.get("embeddings.token_type_embeddings.weight"),
            emb_norm: w.norm("embeddings.LayerNorm"),
            blocks: (0..spec.layers)
                .map(|i| {
                    let p = format!("encoder.layer.{i}");
                    Block {
                        qkv: w.stacked(&[
                            &format!("{p}.attention.self.query"),
                            &format!("{p}.attention.self.key"),
                            &format!("{p}.attention.self.value"),
                        ]),
                        attn_out: w.dense(&format!("{p}.attention.output.dense"), true),
                        attn_norm: w.norm(&format!("{p}.attention.output.LayerNorm")),
                        ffn_in: w.dense(&format!("{p}.intermediate.dense"), true),
                        ffn_out: w.dense(&format!("{p}.output.dense"), true),
                        out_norm: w.norm(&format!("{p}.output.LayerNorm")),
                    }
                })
                .collect(),
            pooler: (spec.pool == Pooling::Cls).then(|| w.dense("pooler.dense", true)),
            classifier: w.dense("classifier", true),
        }
    }

    /// The spec.
    pub(super) fn spec(&self) -> &BertSpec {
        &self.spec
    }

    /// The sentence vector (`[width]`) of one sequence of checked ids
    /// (each below `vocab`, at most `positions` of them, at least one).
    pub(super) fn pooled(&self, ids: &[u32]) -> Vec<f32> {
        let d = self.spec.width as usize;
        let t = ids.len();
        assert!(
            (1..=self.spec.positions as usize).contains(&t),
            "bert: sequence length {t} outside 1..={}",
            self.spec.positions
        );
        let norm = |x: &[f32], (gain, bias): &(Vec<f32>, Vec<f32>)| {
            let mut h = vec![0f32; x.len()];
            kernels::layer_norm(x, gain, bias, d, BERT_LAYER_NORM_EPS, &mut h);
            h
        };
        let mut x = Vec::with_capacity(t * d);
        let token_type = &self.token_type[..d];
        for (p, &id) in ids.iter().enumerate() {
            let word = &self.word[id as usize * d..][..d];
            let position = &self.position[p * d..][..d];
            x.extend(
                word.iter()
                    .zip(token_type)
                    .zip(position)
                    .map(|((w, y), q)| (w + y) + q),
            );
        }
        let mut x = norm(&x, &self.emb_norm);
        for block in &self.blocks {
            let qkv = block.qkv.apply(&x, t, 1);
            let att = kernels::attention(&qkv, t, d, self.spec.heads as usize);
            let mut a = block.attn_out.apply(&att, t, 1);
            kernels::add_in_place(&mut a, &x);
            x = norm(&a, &block.attn_norm);
            let mut h = block.ffn_in.apply(&x, t, 1);
            kernels::gelu_erf(&mut h);
            let mut o = block.ffn_out.apply(&h, t, 1);
            kernels::add_in_place(&mut o, &x);
            x = norm(&o, &block.out_norm);
        }
        match &self.pooler {
            None => {
                // Column sums over the rows in order, then one division.
                let mut sum = vec![0f32; d];
                for row in x.chunks_exact(d) {
                    kernels::add_in_place(&mut sum, row);
                }
                sum.iter().map(|s| s / t as f32).collect()
            }
            Some(pooler) => {
                let mut y = pooler.apply(&x[..d], 1, 1);
                kernels::tanh_in_place(&mut y);
                y
            }
        }
    }

    /// Logits (`[sequences, classes]`); sequences are split across threads,
    /// each computed whole by one (so its bits do not depend on the split).
    pub(super) fn forward(&self, sequences: &[&[u32]], threads: usize) -> Vec<f32> {
        let classes = self.spec.classes as usize;
        let mut out = vec![0f32; sequences.len() * classes];
        let per = sequences.len().div_ceil(threads.max(1)).max(1);
        std::thread::scope(|s| {
            for (seqs, o) in sequences.chunks(per).zip(out.chunks_mut(per * classes)) {
                s.spawn(move || {
                    for (ids, o) in seqs.iter().zip(o.chunks_exact_mut(classes)) {
                        o.copy_from_slice(&self.classifier.apply(&self.pooled(ids), 1, 1));
                    }
                });
            }
        });
        out
    }
}

/// Texts per forward pass (each runs at its own length).
const BERT_SEQUENCES: usize = 256;

/// Per-example scores on a classification dataset of texts.
impl Network for Bert {
    fn score(
        &self,
        dataset: &Dataset,
        metric: Metric,
        threads: usize,
    ) -> Result<Vec<i64>, ScoreError> {
        let spec = &self.spec;
        let sequences = dataset.sequences().ok_or_else(|| {
            ScoreError::Mismatch("a bert reads texts, the dataset holds features".into())
        })?;
        let classes = dataset.classes().unwrap_or(0);
        if u64::from(spec.classes) != classes {
            return Err(ScoreError::Mismatch(format!(
                "the model has {} classes, the dataset {classes}",
                spec.classes
            )));
        }
        if metric == Metric::Mse {
            return Err(ScoreError::Mismatch(
                "MSE does not fit classification".into(),
            ));
        }
        let all: Vec<&[u32]> = sequences.iter().map(Vec::as_slice).collect();
        for (index, ids) in all.iter().enumerate() {
            check_sequence(spec, index, ids).map_err(|e| ScoreError::Mismatch(e.to_string()))?;
        }
        let c = spec.classes as usize;
        let mut out = Vec::with_capacity(sequences.len());
        for (chunk, texts) in all.chunks(BERT_SEQUENCES).enumerate() {
            let logits = self.forward(texts, threads);
            for (r, row) in logits.chunks(c).enumerate() {
                out.push(example_score(
                    metric,
                    row,
                    dataset,
                    chunk * BERT_SEQUENCES + r,
                ));
            }
        }
        Ok(out)
    }
}
