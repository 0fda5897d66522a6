//! The BERT family's tokenizer: WordPiece as a `tokenizer.json` describes it
//! (the Hugging Face format), one implementation for the miner and the
//! evaluator, so that a text has one sequence of ids everywhere.
//!
//! The pipeline, in this order (each step as `BertNormalizer`,
//! `BertPreTokenizer` and `WordPiece` define it):
//! 1. special tokens (`[CLS]`, `[SEP]`, …) written literally in the text are
//!    matched first, leftmost and then longest, and kept as their ids;
//! 2. every other stretch is normalised: NUL, U+FFFD and control characters
//!    dropped, whitespace made a space; CJK ideographs spaced apart; accents
//!    stripped (NFD, then nonspacing marks dropped); lower-cased;
//! 3. split on whitespace, and every punctuation character made a word;
//! 4. each word becomes its longest vocabulary prefix, then the longest
//!    `##`-continuations of the rest, or `[UNK]` alone when no split exists
//!    or the word is longer than `max_input_chars_per_word`.
//!
//! Only that shape of `tokenizer.json` is accepted; anything else (another
//! model type, normaliser or pre-tokeniser, a special token that is
//! normalised) is refused with the field that differs.

use std::collections::BTreeMap;

use serde::Deserialize;
use unicode_categories::UnicodeCategories;
use unicode_normalization::UnicodeNormalization;

/// Why a `tokenizer.json` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenizerError {
    /// Not JSON of the expected shape.
    #[error("{origin}: not a tokenizer.json: {detail}")]
    Json {
        /// The file.
        origin: String,
        /// What the parser said.
        detail: String,
    },
    /// A part of the pipeline this implementation does not follow.
    #[error("{origin}: {field} is {got}; only {expected} is supported")]
    Unsupported {
        /// The file.
        origin: String,
        /// The field.
        field: &'static str,
        /// What the file has.
        got: String,
        /// What is supported.
        expected: &'static str,
    },
    /// A token the pipeline needs is not in the vocabulary.
    #[error("{origin}: the vocabulary has no {token:?}")]
    MissingToken {
        /// The file.
        origin: String,
        /// The token.
        token: String,
    },
    /// Two tokens share an id, or ids leave gaps.
    #[error("{origin}: the vocabulary's ids are not 0..{size} each used once")]
    BadIds {
        /// The file.
        origin: String,
        /// The vocabulary's size.
        size: usize,
    },
}

/// `BertNormalizer`'s switches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Normalizer {
    clean_text: bool,
    chinese_chars: bool,
    strip_accents: bool,
    lowercase: bool,
}

/// A WordPiece tokenizer read from a `tokenizer.json`.
#[derive(Clone, Debug)]
pub struct WordPiece {
    vocab: BTreeMap<String, u32>,
    prefix: String,
    max_chars: usize,
    normalizer: Normalizer,
    /// Special tokens matched in the raw text, by content.
    specials: Vec<(String, u32)>,
    unk: u32,
    cls: u32,
    sep: u32,
    pad: u32,
}

#[derive(Deserialize)]
struct File {
    model: ModelJson,
    normalizer: Option<NormalizerJson>,
    pre_tokenizer: Option<TypeOnly>,
    #[serde(default)]
    added_tokens: Vec<AddedToken>,
}

#[derive(Deserialize)]
struct ModelJson {
    #[serde(rename = "type")]
    kind: String,
    vocab: BTreeMap<String, u32>,
    unk_token: String,
    continuing_subword_prefix: String,
    max_input_chars_per_word: usize,
}

#[derive(Deserialize)]
struct NormalizerJson {
    #[serde(rename = "type")]
    kind: String,
    clean_text: bool,
    handle_chinese_chars: bool,
    strip_accents: Option<bool>,
    lowercase: bool,
}

#[derive(Deserialize)]
struct TypeOnly {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct AddedToken {
    id: u32,
    content: String,
    special: bool,
    normalized: bool,
}

impl WordPiece {
    /// Read a `tokenizer.json`; `origin` names it in errors.
    pub fn from_json(bytes: &[u8], origin: &str) -> Result<WordPiece, TokenizerError> {
        let origin = origin.to_string();
        let file: File = serde_json::from_slice(bytes).map_err(|e| TokenizerError::Json {
            origin: origin.clone(),
            detail: e.to_string(),
        })?;
        let unsupported = |field, got: &str, expected| TokenizerError::Unsupported {
            origin: origin.clone(),
            field,
            got: got.to_string(),
            expected,
        };
        if file.model.kind != "WordPiece" {
            return Err(unsupported("model.type", &file.model.kind, "WordPiece"));
        }
        let n = file
            .normalizer
            .ok_or_else(|| unsupported("normalizer", "null", "BertNormalizer"))?;
        if n.kind != "BertNormalizer" {
            return Err(unsupported("normalizer.type", &n.kind, "BertNormalizer"));
        }
        let pre = file
            .pre_tokenizer
            .map(|p| p.kind)
            .unwrap_or_else(|| "null".into());
        if pre != "BertPreTokenizer" {
            return Err(unsupported("pre_tokenizer.type", &pre, "BertPreTokenizer"));
        }
        let vocab = file.model.vocab;
        let size = vocab.len();
        let mut seen = vec![false; size];
        for &id in vocab.values() {
            match seen.get_mut(id as usize) {
                Some(s) if !*s => *s = true,
                _ => return Err(TokenizerError::BadIds { origin, size }),
            }
        }
        let mut specials = Vec::new();
        for t in file.added_tokens {
            if !t.special || t.normalized {
                return Err(unsupported(
                    "an added token",
                    &format!(
                        "{:?} (special {}, normalized {})",
                        t.content, t.special, t.normalized
                    ),
                    "special tokens matched before normalisation",
                ));
            }
            if vocab.get(&t.content) != Some(&t.id) {
                return Err(TokenizerError::MissingToken {
                    origin,
                    token: t.content,
                });
            }
            specials.push((t.content, t.id));
        }
        // Longest first: at one position the longest special token wins.
        specials.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        let id = |token: &str| {
            vocab
                .get(token)
                .copied()
                .ok_or_else(|| TokenizerError::MissingToken {
                    origin: origin.clone(),
                    token: token.to_string(),
                })
        };
        Ok(WordPiece {
            unk: id(&file.model.unk_token)?,
            cls: id("[CLS]")?,
            sep: id("[SEP]")?,
            pad: id("[PAD]")?,
            prefix: file.model.continuing_subword_prefix,
            max_chars: file.model.max_input_chars_per_word,
            normalizer: Normalizer {
                clean_text: n.clean_text,
                chinese_chars: n.handle_chinese_chars,
                strip_accents: n.strip_accents.unwrap_or(n.lowercase),
                lowercase: n.lowercase,
            },
            specials,
            vocab,
        })
    }

    /// Tokens in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    /// The id of `token`, if the vocabulary has it.
    pub fn id(&self, token: &str) -> Option<u32> {
        self.vocab.get(token).copied()
    }

    /// The padding id (`[PAD]`).
    pub fn pad_id(&self) -> u32 {
        self.pad
    }

    /// A text's ids, no special tokens added.
    pub fn tokenize(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            match self.next_special(rest) {
                Some((at, content, id)) => {
                    self.tokenize_plain(&rest[..at], &mut ids);
                    ids.push(id);
                    rest = &rest[at + content.len()..];
                }
                None => {
                    self.tokenize_plain(rest, &mut ids);
                    break;
                }
            }
        }
        ids
    }

    /// `[CLS]`, the text's ids cut to fit, `[SEP]`: at most `max_len` ids
    /// (at least the two special ones).
    pub fn encode(&self, text: &str, max_len: usize) -> Vec<u32> {
        let mut ids = self.tokenize(text);
        ids.truncate(max_len.saturating_sub(2));
        let mut out = Vec::with_capacity(ids.len() + 2);
        out.push(self.cls);
        out.extend(ids);
        out.push(self.sep);
        out
    }

    /// The leftmost special token in `text` (the longest at that place).
    fn next_special<'a>(&'a self, text: &str) -> Option<(usize, &'a str, u32)> {
        self.specials
            .iter()
            .filter_map(|(content, id)| {
                text.find(content.as_str())
                    .map(|at| (at, content.as_str(), *id))
            })
            .min_by_key(|&(at, content, _)| (at, std::cmp::Reverse(content.len())))
    }

    fn tokenize_plain(&self, text: &str, ids: &mut Vec<u32>) {
        let normal = self.normalize(text);
        for word in normal.split(char::is_whitespace).filter(|w| !w.is_empty()) {
            let mut start = 0;
            for (at, c) in word.char_indices() {
                if is_punctuation(c) {
                    self.word(&word[start..at], ids);
                    self.word(&word[at..at + c.len_utf8()], ids);
                    start = at + c.len_utf8();
                }
            }
            self.word(&word[start..], ids);
        }
    }

    fn normalize(&self, text: &str) -> String {
        let n = self.normalizer;
        let mut s: String = text
            .chars()
            .filter(|&c| !n.clean_text || !(c == '\0' || c == '\u{fffd}' || is_control(c)))
            .map(|c| {
                if n.clean_text && is_whitespace(c) {
                    ' '
                } else {
                    c
                }
            })
            .collect();
        if n.chinese_chars && s.chars().any(is_chinese_char) {
            let mut spaced = String::with_capacity(s.len() + 8);
            for c in s.chars() {
                if is_chinese_char(c) {
                    spaced.extend([' ', c, ' ']);
                } else {
                    spaced.push(c);
                }
            }
            s = spaced;
        }
        if n.strip_accents {
            s = s.nfd().filter(|c| !c.is_mark_nonspacing()).collect();
        }
        if n.lowercase {
            s = s.chars().flat_map(char::to_lowercase).collect();
        }
        s
    }

    /// One word: greedy longest match from the left, `[UNK]` when stuck.
    fn word(&self, word: &str, ids: &mut Vec<u32>) {
        if word.is_empty() {
            return;
        }
        if word.chars().count() > self.max_chars {
            ids.push(self.unk);
            return;
        }
        let before = ids.len();
        let mut key = String::with_capacity(word.len() + self.prefix.len());
        let mut start = 0;
        while start < word.len() {
            let mut end = word.len();
            let found = loop {
                key.clear();
                if start > 0 {
                    key.push_str(&self.prefix);
                }
                key.push_str(&word[start..end]);
                if let Some(&id) = self.vocab.get(&key) {
                    break Some(id);
                }
                // The previous character boundary.
                end = word[..end]
                    .char_indices()
                    .next_back()
                    .map_or(start, |(at, _)| at);
                if end <= start {
                    break None;
                }
            };
            match found {
                Some(id) => {
                    ids.push(id);
                    start = end;
                }
                None => {
                    ids.truncate(before);
                    ids.push(self.unk);
                    return;
                }
            }
        }
    }
}

fn is_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

fn is_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r') && c.is_other()
}

fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || c.is_punctuation()
}

/// The CJK Unified Ideograph blocks BERT spaces apart.
fn is_chinese_char(c: char) -> bool {
    matches!(
        c as u32,
        0x4E00..=0x9FFF
            | 0x3400..=0x4DBF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2B73F
            | 0x2B740..=0x2B81F
            | 0x2B920..=0x2CEAF
            | 0xF900..=0xFAFF
            | 0x2F800..=0x2FA1F
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tokenizer.json of our own with a small vocabulary.
    fn small() -> WordPiece {
        let vocab = [
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "the", "cafe",
            "!", ".", "中", "film", "##s", "a", "##b",
        ];
        let vocab: BTreeMap<&str, usize> = vocab.iter().enumerate().map(|(i, t)| (*t, i)).collect();
        let added: Vec<_> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
            .iter()
            .map(|t| {
                serde_json::json!({"id": vocab[t], "content": t, "special": true, "normalized": false})
            })
            .collect();
        let json = serde_json::json!({
            "added_tokens": added,
            "normalizer": {"type": "BertNormalizer", "clean_text": true,
                "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
            "pre_tokenizer": {"type": "BertPreTokenizer"},
            "model": {"type": "WordPiece", "unk_token": "[UNK]",
                "continuing_subword_prefix": "##", "max_input_chars_per_word": 10, "vocab": vocab},
        });
        WordPiece::from_json(json.to_string().as_bytes(), "small").unwrap()
    }

    fn tokens(w: &WordPiece, text: &str) -> Vec<String> {
        let names: BTreeMap<u32, &String> = w.vocab.iter().map(|(t, i)| (*i, t)).collect();
        w.tokenize(text)
            .iter()
            .map(|i| names[i].to_string())
            .collect()
    }

    #[test]
    fn words_split_into_the_longest_pieces() {
        let w = small();
        assert_eq!(
            tokens(&w, "Unaffable films!"),
            ["un", "##aff", "##able", "film", "##s", "!"]
        );
        // No split covers "unx": the whole word is one [UNK], nothing partial.
        assert_eq!(tokens(&w, "the unx."), ["the", "[UNK]", "."]);
        // Longer than max_input_chars_per_word (10).
        assert_eq!(tokens(&w, "unaffableab"), ["[UNK]"]);
    }

    #[test]
    fn text_is_normalised_first() {
        let w = small();
        assert_eq!(tokens(&w, "CAFÉ\u{0}\u{7}\tthe"), ["cafe", "the"]);
        assert_eq!(tokens(&w, "the中the"), ["the", "中", "the"]);
        assert_eq!(tokens(&w, "a\u{fffd}b ab"), ["a", "##b", "a", "##b"]);
    }

    #[test]
    fn special_tokens_in_the_text_are_kept_and_encode_truncates() {
        let w = small();
        assert_eq!(
            tokens(&w, "the[SEP]film [MASK]"),
            ["the", "[SEP]", "film", "[MASK]"]
        );
        assert_eq!(w.encode("the film!", 4), vec![2, 8, 13, 3]);
        assert_eq!(w.encode("", 16), vec![2, 3]);
    }

    #[test]
    fn other_pipelines_are_refused() {
        let bad = br#"{"model": {"type": "BPE", "vocab": {}, "unk_token": "x",
            "continuing_subword_prefix": "", "max_input_chars_per_word": 1},
            "normalizer": null, "pre_tokenizer": null}"#;
        let e = WordPiece::from_json(bad, "bpe.json").unwrap_err();
        assert!(
            matches!(
                e,
                TokenizerError::Unsupported {
                    field: "model.type",
                    ..
                }
            ),
            "{e}"
        );
        assert!(matches!(
            WordPiece::from_json(b"{", "x").unwrap_err(),
            TokenizerError::Json { .. }
        ));
    }
}
