//! Text for character language models: vocabulary, blocks, and fixed-length windows.
//!
//! A text is cut into blocks at marker lines (chapters, scenes); a split
//! assigns whole blocks to the public or the hidden part, so no hidden text
//! leaks into training through overlapping windows. Each part's blocks are
//! joined in order and cut into non-overlapping windows of `context + 1`
//! characters: `inputs` are the first `context`, `targets` the last.

use std::collections::BTreeMap;

use crate::error::DatasetError;
use crate::format::{Dataset, Tensor, VOCABULARY_MAX, key};

/// `'\n'` and the printable ASCII characters: the bundled texts' shared
/// vocabulary, so a model pre-trained on one can be fine-tuned on another.
pub fn ascii_vocabulary() -> String {
    std::iter::once('\n').chain(' '..='~').collect()
}

/// Replace typographic punctuation by its ASCII spelling (curly quotes,
/// dashes, ellipsis), so texts fit [`ascii_vocabulary`]. Anything else is left as is.
pub fn fold_typography(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{2018}' | '\u{2019}' | '\u{201b}' | '\u{2032}' => out.push('\''),
            '\u{201c}' | '\u{201d}' | '\u{201f}' | '\u{2033}' => out.push('"'),
            '\u{2014}' | '\u{2015}' => out.push_str("--"),
            '\u{2013}' | '\u{2010}' | '\u{2011}' => out.push('-'),
            '\u{2026}' => out.push_str("..."),
            '\u{00a0}' => out.push(' '),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Where blocks start: lines that begin with one of these prefixes (case-insensitive).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockMarker(pub Vec<String>);

impl BlockMarker {
    fn matches(&self, line: &str) -> bool {
        let line = line.trim_start().to_ascii_lowercase();
        self.0
            .iter()
            .any(|p| line.starts_with(&p.to_ascii_lowercase()))
    }
}

/// The blocks of `text` as byte ranges: a new block starts at every marker
/// line; text before the first marker joins the first block.
pub fn blocks(text: &str, marker: &BlockMarker) -> Vec<std::ops::Range<usize>> {
    let mut starts = vec![0usize];
    let mut offset = 0usize;
    for line in text.split_inclusive('\n') {
        if offset > 0 && marker.matches(line) {
            starts.push(offset);
        }
        offset += line.len();
    }
    starts.dedup();
    let mut out: Vec<std::ops::Range<usize>> = starts.windows(2).map(|w| w[0]..w[1]).collect();
    if let Some(&last) = starts.last() {
        out.push(last..text.len());
    }
    out.retain(|r| !r.is_empty());
    out
}

/// Token ids of `text` under `vocabulary` (at most
/// [`VOCABULARY_MAX`] symbols); a character outside it is an error naming
/// its line and byte offset.
pub fn encode(text: &str, vocabulary: &[char], origin: &str) -> Result<Vec<u16>, DatasetError> {
    if vocabulary.is_empty() || vocabulary.len() > VOCABULARY_MAX {
        return Err(DatasetError::Options(format!(
            "a vocabulary has 1 to {VOCABULARY_MAX} symbols"
        )));
    }
    let lookup: BTreeMap<char, u16> = vocabulary
        .iter()
        .enumerate()
        .map(|(i, &c)| (c, i as u16))
        .collect();
    let mut line = 1u64;
    let mut out = Vec::with_capacity(text.len());
    for (offset, c) in text.char_indices() {
        let id = *lookup.get(&c).ok_or(DatasetError::OutOfVocabulary {
            origin: origin.to_owned(),
            line,
            offset: offset as u64,
            ch: c,
        })?;
        if c == '\n' {
            line += 1;
        }
        out.push(id);
    }
    Ok(out)
}

/// Decode UTF-8 with an error naming the offset of the first bad byte.
pub fn utf8<'a>(bytes: &'a [u8], origin: &str) -> Result<&'a str, DatasetError> {
    std::str::from_utf8(bytes).map_err(|e| DatasetError::Utf8 {
        origin: origin.to_owned(),
        offset: e.valid_up_to() as u64,
    })
}

/// How a text becomes a language-model dataset.
#[derive(Clone, Debug)]
pub struct TextOptions {
    /// Sequence length.
    pub context: u32,
    /// The symbols, in token-id order.
    pub vocabulary: String,
    /// Name, licence, source for the metadata.
    pub name: String,
    /// The data's licence.
    pub licence: String,
    /// Where the data came from.
    pub source: String,
}

/// Non-overlapping windows of `context + 1` tokens as a language-model dataset.
pub fn windows(tokens: &[u16], opts: &TextOptions, origin: &str) -> Result<Dataset, DatasetError> {
    let t = opts.context as usize;
    if t == 0 {
        return Err(DatasetError::Options("context must be positive".into()));
    }
    let n = if tokens.len() > t {
        (tokens.len() - 1) / t
    } else {
        0
    };
    if n == 0 {
        return Err(DatasetError::invalid(
            origin,
            format!(
                "text of {} symbols is too short for one window of {}",
                tokens.len(),
                t + 1
            ),
        ));
    }
    let mut inputs = Vec::with_capacity(n * t);
    let mut targets = Vec::with_capacity(n * t);
    for w in 0..n {
        inputs.extend_from_slice(&tokens[w * t..w * t + t]);
        targets.extend_from_slice(&tokens[w * t + 1..w * t + t + 1]);
    }
    let meta = BTreeMap::from([
        (key::NAME.to_owned(), opts.name.clone()),
        (key::TASK.to_owned(), "language-model".to_owned()),
        (key::LICENSE.to_owned(), opts.licence.clone()),
        (key::SOURCE.to_owned(), opts.source.clone()),
        (key::VOCABULARY.to_owned(), opts.vocabulary.clone()),
        (key::CONTEXT.to_owned(), t.to_string()),
    ]);
    let shape = vec![n as u64, t as u64];
    let symbols = opts.vocabulary.chars().count();
    let dataset = Dataset {
        meta,
        inputs: Tensor::tokens(shape.clone(), &inputs, symbols),
        targets: Tensor::tokens(shape, &targets, symbols),
    };
    dataset
        .check()
        .map_err(|d| DatasetError::invalid(origin, d))?;
    Ok(dataset)
}

/// A whole text (no split) as a language-model dataset.
pub fn load_text(bytes: &[u8], origin: &str, opts: &TextOptions) -> Result<Dataset, DatasetError> {
    let text = utf8(bytes, origin)?;
    let vocab: Vec<char> = opts.vocabulary.chars().collect();
    windows(&encode(text, &vocab, origin)?, opts, origin)
}
