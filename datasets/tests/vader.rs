//! The VADER movie-review snippets (fetched from PyPI by
//! `python3 scripts/fetch-vader.py`; scripts/test.sh runs it first) load as
//! labelled texts, and MiniLM's WordPiece covers them: almost no unknown
//! tokens, and the lengths a sentiment bounty's sequence limit must hold.

use std::path::PathBuf;

use datasets::labelled::{LabelledOptions, load_labelled};
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
