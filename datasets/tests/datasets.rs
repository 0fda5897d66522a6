//! The datasets crate's tests: bundled data, pinned splits, round trips, and malformed input.

use std::collections::BTreeMap;

use bounties::encoding::sha256;
use bounties::spec::Task;
use datasets::bundled::{self, DEFAULT_SEED};
use datasets::csv::{CsvOptions, LabelColumn, load_csv};
use datasets::format::key;
use datasets::idx::{load_idx, parse_idx};
use datasets::text::{self, BlockMarker, TextOptions, ascii_vocabulary};
use datasets::{Dataset, DatasetError};
use expect_test::expect;

#[test]
fn committed_files_match_their_recorded_hashes() {
    let sums = include_str!("../data/SHA256SUMS");
    let files: [(&str, &[u8]); 5] = [
        ("digits.csv.gz", bundled::raw::DIGITS_CSV_GZ),
        ("mnist-10k-images-idx3-ubyte", bundled::raw::MNIST_IMAGES_GZ),
        ("mnist-10k-labels-idx1-ubyte", bundled::raw::MNIST_LABELS_GZ),
        ("moby-dick.txt", bundled::raw::MOBY_DICK_GZ),
        ("shakespeare.txt", bundled::raw::SHAKESPEARE_GZ),
    ];
    for (name, bytes) in files {
        let expected = sums
            .lines()
            .find(|l| l.ends_with(&format!("  {name}")))
            .expect(name);
        // Files we gzip ourselves are recorded by their content (zlib versions may differ).
        let content = if name.ends_with(".gz") {
            bytes.to_vec()
        } else {
            datasets::gz::maybe_gunzip(bytes, name)
                .unwrap()
                .into_owned()
        };
        assert_eq!(&expected[..64], sha256(&content).to_hex(), "{name}");
    }
}

#[test]
fn bundled_datasets_have_their_known_shapes_and_classes() {
    let digits = bundled::load("digits").unwrap();
    assert_eq!(digits.inputs.shape, [1797, 64]);
    assert_eq!(digits.get(key::INPUT_MAX), Some("16"));
    assert_eq!(
        digits.class_counts().unwrap(),
        [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    );
    let mnist = bundled::load("mnist").unwrap();
    assert_eq!(mnist.inputs.shape, [10_000, 784]);
    assert_eq!(mnist.get(key::INPUT_MAX), Some("255"));
    assert_eq!(
        mnist.class_counts().unwrap(),
        [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    );
    for (name, chars) in [
        ("moby-dick", 1_190_000..1_200_000),
        ("shakespeare", 940_000..941_000),
    ] {
        let d = bundled::load(name).unwrap();
        let text = bundled::text(name).unwrap();
        assert!(chars.contains(&text.len()), "{name}: {} chars", text.len());
        assert!(text.is_ascii(), "typography folds to ASCII");
        assert_eq!(d.task(), Task::LanguageModel);
        // Non-overlapping windows of 65 symbols that share their edges.
        assert_eq!(d.inputs.shape, [(text.len() as u64 - 1) / 64, 64], "{name}");
        assert_eq!(d.vocabulary().unwrap().len(), 96);
        // Targets are the inputs shifted by one.
        assert_eq!(d.inputs.data[1..64], d.targets.data[..63]);
    }
}

#[test]
fn split_hashes_are_pinned_and_stratified() {
    let mut out = String::new();
    for name in ["digits", "mnist", "moby-dick", "shakespeare"] {
        let s = bundled::split(name, DEFAULT_SEED).unwrap();
        out += &format!(
            "{name}: train {} ({}) hidden {} ({})\n",
            s.train.id().short(),
            s.train.examples(),
            s.hidden.id().short(),
            s.hidden.examples()
        );
        if name == "digits" || name == "mnist" {
            let (t, h) = (
                s.train.class_counts().unwrap(),
                s.hidden.class_counts().unwrap(),
            );
            let full = bundled::load(name).unwrap().class_counts().unwrap();
            for c in 0..10 {
                assert_eq!(t[c] + h[c], full[c]);
                assert_eq!(
                    h[c],
                    (full[c] * 2_000 + 5_000) / 10_000,
                    "class {c} hidden share"
                );
            }
        }
    }
    expect![[r#"
        digits: train c93f5293 (1438) hidden 693f6424 (359)
        mnist: train c7c0411a (8000) hidden 1b03112c (2000)
        moby-dick: train aef30d81 (16767) hidden 0dc11cd5 (1855)
        shakespeare: train 65f02215 (13150) hidden d082b3e5 (1540)
    "#]]
    .assert_eq(&out);
    // Another seed, another split; the same seed, the same split.
    let a = bundled::split("digits", "other").unwrap();
    assert_ne!(
        a.hidden.id(),
        bundled::split("digits", DEFAULT_SEED).unwrap().hidden.id()
    );
    assert_eq!(a, bundled::split("digits", "other").unwrap());
}

#[test]
fn text_splits_move_whole_blocks() {
    let s = bundled::split("moby-dick", DEFAULT_SEED).unwrap();
    // Every hidden window is a substring of the hidden chapters, none of the training ones:
    // check by looking one hidden window's text up in the training text.
    let vocab = ascii_vocabulary().chars().collect::<Vec<_>>();
    let decode = |ids: &[u8]| ids.iter().map(|&i| vocab[i as usize]).collect::<String>();
    let train: String = s.train.inputs.data.chunks(64).map(decode).collect();
    let hidden_window = decode(&s.hidden.inputs.data[64 * 10..64 * 11]);
    assert!(
        !train.contains(&hidden_window),
        "hidden text leaked into training"
    );
}

#[test]
fn dataset_files_round_trip_exactly() {
    for name in ["digits", "shakespeare"] {
        let d = bundled::split(name, DEFAULT_SEED).unwrap().hidden;
        let bytes = d.to_bytes();
        let back = Dataset::from_bytes(&bytes, name).unwrap();
        assert_eq!(back, d);
        assert_eq!(back.id(), d.id());
        assert_eq!(back.to_bytes(), bytes, "same data, same bytes");
        let file = bounties::tensorfile::TensorFile::parse(&bytes).unwrap();
        assert_eq!(
            file.weights_hash(),
            d.id(),
            "dataset id = tensor hash of the file"
        );
    }
    let dir = std::env::temp_dir().join(format!("datasets-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("digits.safetensors");
    let d = bundled::load("digits").unwrap();
    d.write_file(&path).unwrap();
    assert_eq!(Dataset::read_file(&path).unwrap(), d);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fashion_mnist_loads_when_installed_and_says_how_otherwise() {
    match bundled::split("fashion-mnist", DEFAULT_SEED) {
        Ok(s) => {
            assert_eq!(s.train.inputs.shape, [60_000, 784]);
            assert_eq!(s.hidden.inputs.shape, [10_000, 784]);
            assert_eq!(s.hidden.class_counts().unwrap(), [1_000; 10]);
        }
        Err(e) => assert!(
            e.to_string()
                .contains("apt-get install dataset-fashion-mnist"),
            "{e}"
        ),
    }
}

fn csv_opts() -> CsvOptions {
    CsvOptions {
        label: LabelColumn::Last,
        header: None,
        task: Task::Classification,
        name: "t".into(),
        licence: "CC0-1.0".into(),
        source: "test".into(),
    }
}

fn text_opts() -> TextOptions {
    TextOptions {
        context: 4,
        vocabulary: "abc \n".into(),
        name: "t".into(),
        licence: "CC0-1.0".into(),
        source: "test".into(),
    }
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2_encoder();
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn flate2_encoder() -> flate2::write::GzEncoder<Vec<u8>> {
    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default())
}

fn idx_images(n: u32, declared: u32) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 3];
    for d in [declared, 2, 2] {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend(std::iter::repeat_n(7u8, (n * 4) as usize));
    v
}

fn idx_labels(n: u32) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 1];
    v.extend_from_slice(&n.to_be_bytes());
    v.extend((0..n).map(|i| (i % 3) as u8));
    v
}

#[test]
fn malformed_inputs_get_errors_naming_the_place() {
    let truncated = {
        let g = gz(b"1,2,3\n4,5,6\n");
        g[..g.len() - 6].to_vec()
    };
    let good_dataset = load_csv(b"1,2,0\n3,4,1\n", "ok.csv", &csv_opts()).unwrap();
    let mut mismatched = good_dataset.clone();
    mismatched.targets = datasets::Tensor::i64(vec![3], &[0, 1, 1]);
    let mut no_name = good_dataset.clone();
    no_name.meta.remove(key::NAME);
    let mut bad_label = good_dataset.clone();
    bad_label.targets = datasets::Tensor::i64(vec![2], &[0, 5]);
    fn raw_file(d: &Dataset) -> Vec<u8> {
        // Written without the dataset checks, as a hostile file would arrive.
        fn t<'a>(name: &'a str, x: &'a datasets::Tensor) -> bounties::tensorfile::TensorData<'a> {
            bounties::tensorfile::TensorData {
                name,
                dtype: x.dtype,
                shape: x.shape.clone(),
                data: &x.data,
            }
        }
        bounties::tensorfile::write(&d.meta, &[t("inputs", &d.inputs), t("targets", &d.targets)])
            .unwrap()
    }
    let file = raw_file;
    type Case = (
        &'static str,
        Box<dyn Fn() -> Result<Dataset, DatasetError>>,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "truncated gzip",
            Box::new(move || load_csv(&truncated, "t.csv.gz", &csv_opts())),
            "t.csv.gz: corrupt or truncated gzip",
        ),
        (
            "ragged row",
            Box::new(|| load_csv(b"1,2,0\n3,4\n", "r.csv", &csv_opts())),
            "r.csv: line 2: row has 2 cells, earlier rows have 3",
        ),
        (
            "non-numeric cell",
            Box::new(|| load_csv(b"1,2,0\n3,x,1\n", "n.csv", &csv_opts())),
            "n.csv: line 2: column 2 is \"x\", not a finite number",
        ),
        (
            "fractional label",
            Box::new(|| load_csv(b"1,2,0.5\n", "l.csv", &csv_opts())),
            "l.csv: line 1: label \"0.5\" is not a class index",
        ),
        (
            "empty csv",
            Box::new(|| load_csv(b"", "e.csv", &csv_opts())),
            "e.csv: line 1: the file has no rows",
        ),
        (
            "header only",
            Box::new(|| load_csv(b"a,b,label\n", "h.csv", &csv_opts())),
            "h.csv: line 1: no data rows",
        ),
        (
            "unknown label name",
            Box::new(|| {
                load_csv(
                    b"a,b\n1,2\n",
                    "u.csv",
                    &CsvOptions {
                        label: LabelColumn::Name("y".into()),
                        ..csv_opts()
                    },
                )
            }),
            "no column named \"y\"",
        ),
        (
            "idx header larger than data",
            Box::new(|| {
                load_idx(
                    (&idx_images(2, 3), "i.idx"),
                    (&idx_labels(2), "l.idx"),
                    "t",
                    "x",
                    "y",
                )
            }),
            "i.idx: byte 16: header says [3, 2, 2] = 12 bytes of data, but the file has 8",
        ),
        (
            "idx wrong type",
            Box::new(|| {
                let mut i = idx_images(2, 2);
                i[2] = 0x0d;
                load_idx((&i, "i.idx"), (&idx_labels(2), "l.idx"), "t", "x", "y")
            }),
            "i.idx: byte 2: element type 0x0d is not supported",
        ),
        (
            "idx not idx",
            Box::new(|| {
                load_idx(
                    (b"PK\x03\x04zip", "i.idx"),
                    (&idx_labels(2), "l.idx"),
                    "t",
                    "x",
                    "y",
                )
            }),
            "i.idx: byte 0: magic must start with two zero bytes",
        ),
        (
            "idx short",
            Box::new(|| load_idx((&[0, 0], "i.idx"), (&idx_labels(2), "l.idx"), "t", "x", "y")),
            "i.idx: byte 0: file is 2 bytes",
        ),
        (
            "idx counts differ",
            Box::new(|| {
                load_idx(
                    (&idx_images(2, 2), "i.idx"),
                    (&idx_labels(3), "l.idx"),
                    "t",
                    "x",
                    "y",
                )
            }),
            "l.idx: not a valid dataset: 3 labels for 2 images",
        ),
        (
            "text outside vocabulary",
            Box::new(|| text::load_text(b"abc\nab z", "z.txt", &text_opts())),
            "z.txt: line 2, byte 7: character 'z' is not in the vocabulary",
        ),
        (
            "text not utf-8",
            Box::new(|| text::load_text(b"abc\xff", "u.txt", &text_opts())),
            "u.txt: byte 3: not valid UTF-8",
        ),
        (
            "text too short",
            Box::new(|| text::load_text(b"ab", "s.txt", &text_opts())),
            "s.txt: not a valid dataset: text of 2 symbols is too short",
        ),
        (
            "dataset counts differ",
            Box::new(move || Dataset::from_bytes(&file(&mismatched), "m.st")),
            "m.st: not a valid dataset: 2 inputs but 3 targets",
        ),
        (
            "dataset without a name",
            Box::new(move || Dataset::from_bytes(&file(&no_name), "n.st")),
            "n.st: not a valid dataset: metadata lacks Name",
        ),
        (
            "dataset label out of range",
            Box::new(move || Dataset::from_bytes(&file(&bad_label), "b.st")),
            "b.st: not a valid dataset: label 5 is not a class index below 2",
        ),
        (
            "dataset not safetensors",
            Box::new(|| Dataset::from_bytes(b"hello world", "x.st")),
            "x.st: header of",
        ),
        (
            "unknown bundled name",
            Box::new(|| bundled::load("imagenet")),
            "no bundled dataset \"imagenet\"; bundled: digits",
        ),
    ];
    for (label, load, expected) in cases {
        let err = load().expect_err(label).to_string();
        assert!(
            err.contains(expected),
            "{label}: got {err:?}, expected {expected:?}"
        );
    }
}

#[test]
fn csv_reads_headers_label_columns_gzip_and_regression() {
    let with_header = b"x1,label,x2\n1,0,2.5\n3,1,4\n";
    let d = load_csv(
        with_header,
        "h.csv",
        &CsvOptions {
            label: LabelColumn::Name("label".into()),
            ..csv_opts()
        },
    )
    .unwrap();
    assert_eq!(d.inputs.as_f32().unwrap(), [1.0, 2.5, 3.0, 4.0]);
    assert_eq!(d.targets.as_i64().unwrap(), [0, 1]);
    let g = load_csv(&gz(b"1,2,0\n3,4,1\n"), "g.csv.gz", &csv_opts()).unwrap();
    assert_eq!(g.inputs.data, [1, 2, 3, 4]);
    assert_eq!(g.get(key::INPUT_MAX), Some("4"));
    let r = load_csv(
        b"0.5,1.5\n2,3.25\n",
        "r.csv",
        &CsvOptions {
            task: Task::Regression,
            ..csv_opts()
        },
    )
    .unwrap();
    assert_eq!(r.targets.as_f32().unwrap(), [1.5, 3.25]);
    assert_eq!(r.task(), Task::Regression);
}

#[test]
fn blocks_start_at_marker_lines() {
    let t = "intro\nCHAPTER 1\none\nCHAPTER 2\ntwo\n";
    let b = text::blocks(t, &BlockMarker(vec!["chapter ".into()]));
    let parts: Vec<&str> = b.iter().map(|r| &t[r.clone()]).collect();
    assert_eq!(parts, ["intro\n", "CHAPTER 1\none\n", "CHAPTER 2\ntwo\n"]);
    assert_eq!(
        text::fold_typography("\u{201c}Hi\u{201d}\u{2014}it\u{2019}s"),
        "\"Hi\"--it's"
    );
    let meta: BTreeMap<String, String> = bundled::load("shakespeare").unwrap().meta;
    assert_eq!(meta[key::VOCABULARY], ascii_vocabulary());
    let _ = parse_idx(&idx_labels(3), "l").unwrap();
}

/// A vocabulary of more than 256 symbols takes U16 token ids; the format
/// holds one encoding per dataset, so U8 ids for it (or U16 ids for a small
/// one) are refused.
#[test]
fn wide_vocabularies_take_u16_token_ids() {
    use bounties::tensorfile::Dtype;
    let symbols: String = (0x100u32..0x100 + 300).filter_map(char::from_u32).collect();
    let text: String = symbols.chars().cycle().take(2_000).collect();
    let opts = TextOptions {
        context: 8,
        vocabulary: symbols.clone(),
        ..text_opts()
    };
    let d = text::load_text(text.as_bytes(), "wide.txt", &opts).unwrap();
    assert_eq!((d.inputs.dtype, d.targets.dtype), (Dtype::U16, Dtype::U16));
    let ids = d.inputs.token_ids().unwrap();
    assert_eq!(&ids[..3], &[0, 1, 2]);
    assert_eq!(ids[299..302], [299, 0, 1], "ids above 255 survive");
    let back = Dataset::from_bytes(&d.to_bytes(), "wide").unwrap();
    assert_eq!(back, d);

    // U8 ids under a 300-symbol vocabulary, U16 ids under a small one.
    let mut narrowed = d.clone();
    narrowed.inputs = datasets::Tensor::u8(d.inputs.shape.clone(), vec![0; ids.len()]);
    let e = Dataset::from_bytes(&narrowed.to_bytes(), "narrowed").unwrap_err();
    assert!(
        e.to_string().contains("needs inputs and targets of U16"),
        "{e}"
    );
    let small = text::load_text(b"abc abc abc\n", "small.txt", &text_opts()).unwrap();
    let mut widened = small.clone();
    let (a, b) = (
        small.inputs.token_ids().unwrap(),
        small.targets.token_ids().unwrap(),
    );
    let as_u16 = |v: &[u32]| v.iter().map(|&x| x as u16).collect::<Vec<u16>>();
    widened.inputs = datasets::Tensor::tokens(small.inputs.shape.clone(), &as_u16(&a), 300);
    widened.targets = datasets::Tensor::tokens(small.inputs.shape.clone(), &as_u16(&b), 300);
    let e = Dataset::from_bytes(&widened.to_bytes(), "widened").unwrap_err();
    assert!(
        e.to_string().contains("needs inputs and targets of U8"),
        "{e}"
    );
}
