//! The `+standardize` mlp: inputs become `(x − mean) / std` per feature
//! before the first layer, exactly; a file whose deviations are not all
//! positive is refused.

use std::collections::BTreeMap;

use bounties::arch::{ARCHITECTURE_TAG, Architecture, INPUT_MEAN, INPUT_STD};
use bounties::tensorfile::{self, TensorData, TensorFile};
use datasets::bundled::{self, DEFAULT_SEED};
use evaluator::model::{Limits, Model, ModelError};
use evaluator::synthetic;

/// The same file's tensors under another architecture tag, with `drop` left out
/// and `replace` swapped in.
fn retagged(file: &[u8], arch: &str, drop: &[&str], replace: Option<(&str, Vec<f32>)>) -> Vec<u8> {
    let parsed = TensorFile::parse(file).unwrap();
    let replaced: Option<(String, Vec<u8>)> = replace.map(|(name, values)| {
        (
            name.to_string(),
            values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        )
    });
    let tensors: Vec<TensorData<'_>> = parsed
        .tensors
        .iter()
        .filter(|t| !drop.contains(&t.name.as_str()))
        .map(|t| TensorData {
            name: &t.name,
            dtype: t.dtype,
            shape: t.shape.clone(),
            data: match &replaced {
                Some((name, bytes)) if *name == t.name => bytes,
                _ => parsed.data(t),
            },
        })
        .collect();
    let meta = BTreeMap::from([(ARCHITECTURE_TAG.to_owned(), arch.to_owned())]);
    tensorfile::write(&meta, &tensors).unwrap()
}

#[test]
fn a_standardised_mlp_is_the_plain_one_on_standardised_inputs() {
    let arch: Architecture = "mlp:30,16,2+standardize".parse().unwrap();
    let file = synthetic::model_file(&arch, "standardize");
    let standardized = Model::from_bytes(&file, Limits::default()).unwrap();
    let parsed = TensorFile::parse(&file).unwrap();
    let values = |name: &str| parsed.f32_values(parsed.tensor(name).unwrap()).unwrap();
    let (mean, std) = (values(INPUT_MEAN), values(INPUT_STD));
    let plain_file = retagged(&file, "mlp:30,16,2", &[INPUT_MEAN, INPUT_STD], None);
    let plain = Model::from_bytes(&plain_file, Limits::default()).unwrap();

    let data = bundled::split("breast-cancer", DEFAULT_SEED)
        .unwrap()
        .hidden;
    let rows = data.examples() as usize;
    let x = data.inputs_f32();
    let z: Vec<f32> = x
        .chunks(30)
        .flat_map(|row| {
            row.iter()
                .zip(mean.iter().zip(&std))
                .map(|(v, (m, s))| (v - m) / s)
                .collect::<Vec<f32>>()
        })
        .collect();
    let bits = |v: Vec<f32>| v.iter().map(|f| f.to_bits()).collect::<Vec<u32>>();
    assert_eq!(
        bits(standardized.forward_mlp(&x, rows, 2).unwrap()),
        bits(plain.forward_mlp(&z, rows, 2).unwrap())
    );
    // And standardising changes the answer: the raw features differ in scale.
    assert_ne!(
        bits(standardized.forward_mlp(&x, rows, 1).unwrap()),
        bits(plain.forward_mlp(&x, rows, 1).unwrap())
    );
}

#[test]
fn deviations_that_are_not_positive_are_refused() {
    let arch: Architecture = "mlp:4,3,2+standardize".parse().unwrap();
    let file = synthetic::model_file(&arch, "refuse");
    for (bad, index) in [
        (vec![1.0, 0.0, 1.0, 1.0], 1),
        (vec![1.0, 1.0, 1.0, -2.0], 3),
    ] {
        let file = retagged(&file, &arch.to_string(), &[], Some((INPUT_STD, bad)));
        let e = Model::from_bytes(&file, Limits::default()).unwrap_err();
        assert_eq!(e, ModelError::NonPositiveStd { index });
        assert!(e.to_string().contains("input.std"), "{e}");
    }
    // Without its statistics the file is not the architecture it says.
    let file = retagged(&file, &arch.to_string(), &[INPUT_STD], None);
    assert_eq!(
        Model::from_bytes(&file, Limits::default()).unwrap_err(),
        ModelError::MissingTensor(INPUT_STD.into())
    );
}
