//! The deterministic evaluator: a score is a pure function of (model bytes,
//! dataset bytes, evaluator build), the same bits on every CPU and thread count.
//!
//! [`kernels`] hold the fixed-order arithmetic, [`model`] reads and checks
//! model files and runs the `mlp` and `gpt` families, [`score`] turns outputs
//! into per-example fixed-point scores, and [`receipt`] signs and verifies
//! what an evaluator attests.

pub mod kernels;
pub mod math;
pub mod matmul;
pub mod model;
pub mod receipt;
pub mod score;
pub mod synthetic;
pub mod worker;
