//! The VADER movie-review snippets (fetched from PyPI by
//! `python3 scripts/fetch-vader.py`; scripts/test.sh runs it first) load as
//! labelled texts, and MiniLM's WordPiece covers them: almost no unknown
//! tokens, and the lengths a sentiment bounty's sequence limit must hold.

use std::path::PathBuf;

use bounties::encoding::sha256;
use datasets::format::key;
use datasets::labelled::{LabelledOptions, Provenance, load_labelled, tokenise};
use datasets::wordpiece::WordPiece;

fn fetched(relative: &str, script: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target")
        .join(relative);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: run `python3 scripts/{script}` (scripts/test.sh does)",
            path.display()
        )
    })
}

#[test]
fn the_movie_snippets_load_and_tokenize() {
    let movies = load_labelled(
        &fetched("data/vader/movies.tsv", "fetch-vader.py"),
        "movies.tsv",
        &LabelledOptions::for_file("movies.tsv"),
    )
    .unwrap();
    assert_eq!(movies.classes, ["negative", "positive"]);
    let positive = movies.labels.iter().filter(|&&l| l == 1).count();
    assert_eq!((movies.texts.len(), positive), (10_043, 4_982));

    let json = fetched("models/all-minilm-l6-v2/tokenizer.json", "fetch-minilm.py");
    let wordpiece = WordPiece::from_json(&json, "tokenizer.json").unwrap();
    let unk = wordpiece.id("[UNK]").unwrap();
    let (mut tokens, mut unknown, mut longest) = (0usize, 0usize, 0usize);
    for text in &movies.texts {
        let ids = wordpiece.tokenize(text);
        tokens += ids.len();
        unknown += ids.iter().filter(|&&i| i == unk).count();
        longest = longest.max(ids.len() + 2);
    }
    assert!(
        unknown * 1000 < tokens,
        "{unknown} of {tokens} tokens unknown"
    );
    // [CLS] + the longest snippet + [SEP] fits a 128-token limit.
    assert!(longest <= 128, "the longest snippet is {longest} tokens");
}

#[test]
fn labelled_texts_become_a_text_dataset_cut_to_the_sequence_length() {
    let fixture = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sentiment.tsv"),
    )
    .unwrap();
    let texts = load_labelled(
        &fixture,
        "sentiment.tsv",
        &LabelledOptions::for_file("sentiment.tsv"),
    )
    .unwrap();
    let json = fetched("models/all-minilm-l6-v2/tokenizer.json", "fetch-minilm.py");
    let wordpiece = WordPiece::from_json(&json, "tokenizer.json").unwrap();
    let provenance = Provenance {
        name: "sentiment".into(),
        license: "MIT OR Apache-2.0".into(),
        source: "datasets/tests/fixtures/sentiment.tsv".into(),
    };
    let d = tokenise(&texts, &wordpiece, &json, 12, &provenance).unwrap();
    assert_eq!(d.inputs.shape, [32, 12]);
    assert_eq!(d.get(key::TOKENIZER), Some(sha256(&json).to_hex().as_str()));
    assert_eq!(d.class_counts(), Some(vec![16, 16]));
    let sequences = d.sequences().unwrap();
    for (text, seq) in texts.texts.iter().zip(&sequences) {
        // Each row is the text's encoding, cut to 12 with [SEP] kept last.
        assert_eq!(seq, &wordpiece.encode(text, 12), "{text:?}");
    }
    assert!(sequences.iter().any(|s| s.len() == 12) && sequences.iter().any(|s| s.len() < 12));
    // The file round-trips, and its id is the tensors'.
    let back = datasets::Dataset::from_bytes(&d.to_bytes(), "round trip").unwrap();
    assert_eq!((back.id(), back.sequences()), (d.id(), Some(sequences)));
    for bad in [0, 2, 70_000] {
        let e = tokenise(&texts, &wordpiece, &json, bad, &provenance).unwrap_err();
        assert!(e.to_string().contains("sequence length"), "{e}");
    }
}
